"""The utility's side on its own thread: the schedule read at the server's pollRate, Responses posted.

The limits in force are worked out from the last schedule read, at the time
asked (events.py), so when the server is away the cached schedule keeps
running and then the DefaultDERControl applies, as CSIP-AUS has it. Responses
are due by the event times, so they are looked at every second, not only at polls.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from .config import ServerConfig
from .csip import Refused, Schedule, Server, ServerError
from .events import Limits, ResponseBook, in_force, limits_now, superseded

TICK_S = 1.0
RETRY_S = 5.0
HTTP_TIMEOUT_S = 5.0
MIRROR_PERIOD_S = 5.0  # the site's power mirrored this often ...
FRESH_S = 2.0  # ... when the meter was read this recently


class Utility:
    def __init__(self, config: ServerConfig, firm: Limits, keeps_superseded: bool, say: Callable[[str], None]) -> None:
        self.server = Server(
            config.url, config.ca_file, config.cert_file, config.key_file, config.ciphers, config.lfdi, HTTP_TIMEOUT_S
        )
        self.firm = firm
        self.keeps_superseded = keeps_superseded
        self.say = say
        self._schedule = Schedule([], [], RETRY_S)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._book = ResponseBook()
        self._thread = threading.Thread(target=self._run, name="utility", daemon=True)
        self._reached = False
        self._reading: tuple[float, float] | None = None  # (import W, own clock when measured)
        self._next_mirror = 0.0
        self._mirror_failing = False

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2 * HTTP_TIMEOUT_S)
        self.server.close()

    def limits(self) -> Limits:
        with self._lock:
            schedule = self._schedule
        winners = in_force(schedule.controls, self.server.now(), self.keeps_superseded)
        return limits_now(winners, schedule.defaults, self.firm)

    def report(self, import_w: float) -> None:
        """A meter reading just taken, to mirror to the server."""
        with self._lock:
            self._reading = (import_w, time.time())

    def _run(self) -> None:
        next_poll = 0.0
        while not self._stop.is_set():
            if time.monotonic() >= next_poll:
                next_poll = time.monotonic() + self._poll()
            self._respond()
            self._mirror()
            self._stop.wait(TICK_S)

    def _mirror(self) -> None:
        with self._lock:
            reading = self._reading
        if not self._reached or reading is None or time.monotonic() < self._next_mirror:
            return
        if time.time() - reading[1] > FRESH_S:
            return  # nothing measured lately: nothing to mirror
        self._next_mirror = time.monotonic() + MIRROR_PERIOD_S
        try:
            self.server.mirror(reading[0], reading[1] + self.server.clock_offset_s)
        except ServerError as exc:
            if not self._mirror_failing:
                self.say(f"site power not mirrored: {exc}")
            self._mirror_failing = True
            return
        self._mirror_failing = False

    def _poll(self) -> float:
        """Read the schedule; the time to the next read (the pollRate, or a retry after a failure)."""
        try:
            schedule = self.server.schedule()
        except ServerError as exc:
            if self._reached:
                self.say(f"2030.5 server lost ({exc}): the cached schedule, then the default control")
            self._reached = False
            return RETRY_S
        if not self._reached:
            self.say(f"2030.5 server reached: {len(schedule.controls)} controls, pollRate {schedule.poll_rate_s:g} s")
        self._reached = True
        with self._lock:
            self._schedule = schedule
        return schedule.poll_rate_s

    def _respond(self) -> None:
        with self._lock:
            controls = self._schedule.controls
        now_s = self.server.now()
        winners = in_force(controls, now_s, self.keeps_superseded)
        replaced = [] if self.keeps_superseded else superseded(controls, now_s, winners)
        for control, status in self._book.due(controls, now_s, winners, replaced):
            try:
                self.server.respond(control, status)
            except Refused as exc:
                self.say(f"Response {status} for {control.mrid} refused: {exc}")
            except ServerError:
                return  # due again next time
            self._book.mark(control, status)
