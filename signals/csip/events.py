"""Client-side event rules of IEEE 2030.5 for DERControls: what applies now, and which Responses to send.

Pure logic over snapshots of the server's programs, so it is tested without a
network and keeps working on the cached schedule when the server is gone:

- an event runs from its effective start (start plus its randomized offset) to its
  effective end; EventStatus 2/3 cancels it, 4 supersedes it;
- within one program, a newer event that overlaps an older one with the same
  control elements supersedes it from the newer event's effective start;
- across programs, each control element is taken from the running event with the
  lowest primacy number (then the newest); elements no event sets fall back to the
  DefaultDERControl of the lowest-primacy program that has one;
- Responses: 1 received, 2 started, 3 completed, 6 cancelled, 7 superseded,
  253 invalid, 254 received after it ended (as responseRequired asks).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

from flexbench.core import SiteLimits
from flexbench.signals.csip.controls import ControlValues
from flexbench.signals.csip.defaults import DefaultSettings

RECEIVED, STARTED, COMPLETED, CANCELLED, SUPERSEDED, INVALID, LATE = 1, 2, 3, 6, 7, 253, 254
# Server and client clocks agree only to about a second (Time is whole seconds): an event that leaves the
# list within this long of its end has ended, not been withdrawn.
VANISH_TOLERANCE_S = 2.0
STATUS_SCHEDULED, STATUS_ACTIVE, STATUS_CANCELLED, STATUS_CANCELLED_RANDOM, STATUS_SUPERSEDED = 0, 1, 2, 3, 4


@dataclass(frozen=True)
class EventInfo:
    """A DERControl as the client read it."""

    mrid: str
    program: str  # DERProgram href
    primacy: int
    creation_s: int
    start_s: int
    duration_s: int
    status: int
    values: ControlValues
    randomize_start_s: int = 0
    randomize_duration_s: int = 0
    reply_to: str | None = None
    response_required: int = 0

    @property
    def valid(self) -> bool:
        return self.duration_s > 0 and not self.values.is_empty()


@dataclass(frozen=True)
class ProgramSnapshot:
    href: str
    primacy: int
    events: tuple[EventInfo, ...]
    default: ControlValues | None = None
    default_settings: DefaultSettings | None = None  # its DefaultDERControl's ramp and enter-service settings


@dataclass(frozen=True)
class PendingResponse:
    reply_to: str
    subject: str
    status: int
    time_s: int


@dataclass(frozen=True)
class ActiveControl:
    """What the DER must apply now: merged values and where they came from."""

    values: ControlValues
    source: str  # "event", "default", "mixed" or "none"
    event_mrids: tuple[str, ...] = ()
    default_elements: tuple[str, ...] = ()
    ramp_rate_pct_per_s: float | None = None  # setGradW of the DefaultDERControl that ranks first, if any

    @property
    def limits(self) -> SiteLimits:
        """The site's import and export limits in force (CSIP-AUS opModImpLimW / opModExpLimW)."""
        return self.values.limits


@dataclass
class _Tracked:
    info: EventInfo
    start_offset_s: float
    end_offset_s: float
    state: str = "new"  # new, scheduled, running, done
    sent: set[int] = field(default_factory=set)
    superseded_at_s: float | None = None
    cancel_at_s: float | None = None

    @property
    def effective_start_s(self) -> float:
        return self.info.start_s + self.start_offset_s

    @property
    def effective_end_s(self) -> float:
        return self.info.start_s + self.info.duration_s + self.end_offset_s


def _random_offset(rng: random.Random, bound_s: int) -> float:
    if not bound_s:
        return 0.0
    return rng.uniform(min(0, bound_s), max(0, bound_s))


class EventScheduler:
    """Tracks every event the client has seen and decides what applies at a given time."""

    def __init__(self, rng: random.Random | None = None) -> None:
        self.rng = rng or random.Random()
        self.events: dict[str, _Tracked] = {}
        self.programs: dict[str, ProgramSnapshot] = {}
        self._pending: list[PendingResponse] = []

    # Input -----------------------------------------------------------------------
    def update(self, programs: list[ProgramSnapshot], now_s: float) -> None:
        """A fresh read of the server's programs."""
        self.programs = {p.href: p for p in programs}
        seen: set[str] = set()
        for prog in programs:
            for info in prog.events:
                seen.add(info.mrid)
                tracked = self.events.get(info.mrid)
                if tracked is None:
                    self._new(info, now_s)
                else:
                    tracked.info = info
        for mrid, tracked in self.events.items():
            nominal_end_s = tracked.info.start_s + tracked.info.duration_s
            if (
                mrid not in seen
                and tracked.state != "done"
                and tracked.cancel_at_s is None
                and now_s < nominal_end_s - VANISH_TOLERANCE_S
            ):
                # Removed from the server before its end: treat as cancelled. (Ended events leave the list.)
                tracked.cancel_at_s = now_s
        self._apply_server_status(now_s)

    def _new(self, info: EventInfo, now_s: float) -> None:
        tracked = _Tracked(
            info, _random_offset(self.rng, info.randomize_start_s), _random_offset(self.rng, info.randomize_duration_s)
        )
        self.events[info.mrid] = tracked
        if info.status in (STATUS_CANCELLED, STATUS_CANCELLED_RANDOM, STATUS_SUPERSEDED):
            tracked.state = "done"  # first seen already withdrawn: nothing to do or say
            return
        if not info.valid:
            tracked.state = "done"
            self._respond(tracked, INVALID, now_s)
            return
        if tracked.effective_end_s <= now_s:
            tracked.state = "done"
            self._respond(tracked, LATE, now_s)
            return
        tracked.state = "scheduled"
        self._respond(tracked, RECEIVED, now_s)

    def _apply_server_status(self, now_s: float) -> None:
        for tracked in self.events.values():
            if tracked.state == "done":
                continue
            status = tracked.info.status
            if status == STATUS_CANCELLED and tracked.cancel_at_s is None:
                tracked.cancel_at_s = now_s
            elif status == STATUS_CANCELLED_RANDOM and tracked.cancel_at_s is None:
                bound = max(abs(tracked.info.randomize_start_s), abs(tracked.info.randomize_duration_s))
                tracked.cancel_at_s = now_s + self.rng.uniform(0, bound) if tracked.state == "running" else now_s
            elif status == STATUS_SUPERSEDED and tracked.superseded_at_s is None:
                tracked.superseded_at_s = now_s

    # Decisions ----------------------------------------------------------------------
    def _superseded_locally(self, now_s: float) -> None:
        """Within a program: a newer overlapping event with the same elements supersedes an older one."""
        by_program: dict[str, list[_Tracked]] = {}
        for tracked in self.events.values():
            if tracked.state != "done" and tracked.cancel_at_s is None:
                by_program.setdefault(tracked.info.program, []).append(tracked)
        for group in by_program.values():
            for old in group:
                for new in group:
                    if new is old or new.info.creation_s < old.info.creation_s:
                        continue
                    if new.info.creation_s == old.info.creation_s and new.info.mrid <= old.info.mrid:
                        continue
                    if new.info.values.elements() != old.info.values.elements():
                        continue
                    if not (
                        new.effective_start_s < old.effective_end_s and old.effective_start_s < new.effective_end_s
                    ):
                        continue
                    at = max(new.effective_start_s, old.effective_start_s)
                    if old.superseded_at_s is None or at < old.superseded_at_s:
                        old.superseded_at_s = at

    def step(self, now_s: float) -> ActiveControl:
        """Advance every event to time now_s (queuing Responses) and return what applies."""
        self._superseded_locally(now_s)
        running: list[_Tracked] = []
        for tracked in sorted(self.events.values(), key=lambda t: t.effective_start_s):
            if tracked.state == "done":
                continue
            end_s = tracked.effective_end_s
            if tracked.cancel_at_s is not None and now_s >= tracked.cancel_at_s and tracked.cancel_at_s < end_s:
                tracked.state = "done"
                self._respond(tracked, CANCELLED, now_s)
                continue
            if (
                tracked.superseded_at_s is not None
                and now_s >= tracked.superseded_at_s
                and tracked.superseded_at_s < end_s
            ):
                tracked.state = "done"
                self._respond(tracked, SUPERSEDED, now_s)
                continue
            if now_s >= tracked.effective_end_s:
                if tracked.state == "running":
                    self._respond(tracked, COMPLETED, now_s)
                elif tracked.state == "scheduled":
                    self._respond(tracked, STARTED, now_s)
                    self._respond(tracked, COMPLETED, now_s)
                tracked.state = "done"
                continue
            if now_s >= tracked.effective_start_s:
                if tracked.state != "running":
                    tracked.state = "running"
                    self._respond(tracked, STARTED, now_s)
                running.append(tracked)
        return self._merge(running)

    def _merge(self, running: list[_Tracked]) -> ActiveControl:
        chosen: dict[str, Any] = {}
        winners: set[str] = set()
        ranked = sorted(running, key=lambda t: (t.info.primacy, -t.info.creation_s, t.info.mrid))
        for tracked in ranked:
            for name, value in tracked.info.values.as_dict().items():
                if name not in chosen:
                    chosen[name] = value
                    winners.add(tracked.info.mrid)
        default_used: list[str] = []
        ramp_rate_pct_per_s = None
        for prog in sorted(self.programs.values(), key=lambda p: (p.primacy, p.href)):
            if ramp_rate_pct_per_s is None and prog.default_settings is not None:
                ramp_rate_pct_per_s = prog.default_settings.ramp_rate_pct_per_s
            if prog.default is None:
                continue
            for name, value in prog.default.as_dict().items():
                if name not in chosen:
                    chosen[name] = value
                    default_used.append(name)
        if winners and default_used:
            source = "mixed"
        elif winners:
            source = "event"
        elif default_used:
            source = "default"
        else:
            source = "none"
        return ActiveControl(
            ControlValues.from_dict(chosen),
            source,
            tuple(sorted(winners)),
            tuple(default_used),
            ramp_rate_pct_per_s,
        )

    def default_only(self) -> ActiveControl:
        """What applies when the schedule is no longer trusted (communication lost too long)."""
        merged = self._merge([])
        return ActiveControl(merged.values, "default", (), (), merged.ramp_rate_pct_per_s)

    def next_transition_s(self, now_s: float) -> float | None:
        """Earliest future time at which step() would change something."""
        times: list[float] = []
        for tracked in self.events.values():
            if tracked.state == "done":
                continue
            for t in (tracked.effective_start_s, tracked.effective_end_s, tracked.superseded_at_s, tracked.cancel_at_s):
                if t is not None and t > now_s:
                    times.append(t)
        return min(times) if times else None

    # Responses -----------------------------------------------------------------------
    def _respond(self, tracked: _Tracked, status: int, now_s: float) -> None:
        info = tracked.info
        if info.reply_to is None or status in tracked.sent:
            return
        wanted = info.response_required & 0x01 if status == RECEIVED else info.response_required & 0x02
        if status in (INVALID, LATE):
            wanted = info.response_required & 0x03
        if not wanted:
            return
        tracked.sent.add(status)
        self._pending.append(PendingResponse(info.reply_to, info.mrid, status, int(now_s)))

    def take_responses(self) -> list[PendingResponse]:
        out, self._pending = self._pending, []
        return out

    def requeue(self, responses: list[PendingResponse]) -> None:
        """Put back responses that could not be delivered (server unreachable)."""
        self._pending = list(responses) + self._pending
