"""The guardian: a process apart from the run that makes the bench safe when the run dies.

A guarded bench (lab.bench) starts it last, once every instrument is connected,
with what it needs to reach the energy sources on its own: driver, address,
options and safety limits of every grid simulator, PV simulator and load. The
run sends a heartbeat on the guardian's stdin every HEARTBEAT_PERIOD_S. When
stdin closes without "stop" (the run process was killed or crashed) or no beat
comes for HEARTBEAT_TIMEOUT_S while the run's process is suspended or makes
no progress (a hang), or for HEARTBEAT_LIMIT_S whatever it does (its process is
then killed, so no verdict comes from a bench made safe under it), the
guardian connects to each source, drives it to its safe state, stops the
virtual lab's process if there is one, and appends what it did to the run's
events.jsonl (events `guardian_*`). A clean end of the run sends "stop".

`python -m flexbench.lab.guardian` is the process; `Guardian` is its component.
"""

from __future__ import annotations

import json
import logging
import os
import select
import signal
import subprocess
import sys
import threading
import time
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

from flexbench.lab.station import SAFE_LAST, Channels, InstrumentComponent

if TYPE_CHECKING:
    from flexbench.lab.bench import Bench

log = logging.getLogger(__name__)
HEARTBEAT_PERIOD_S = 0.25  # wall seconds between the run's beats
HEARTBEAT_TIMEOUT_S = 1.5  # wall seconds without a beat that mean a suspended or stalled run hangs
# A run still using CPU or waiting for one is slow, not hung (a loaded machine delays its beats):
# it is given this long before it counts as hung all the same.
HEARTBEAT_LIMIT_S = 10.0
LAB_STOP_TIMEOUT_S = 10.0
LOG_FILE = "guardian.log"


def components(bench: Bench) -> list[Guardian]:
    """The guardian of a guarded bench (started after the instruments it watches)."""
    return [Guardian(bench)] if bench.guarded else []


def watched_sources(bench: Bench) -> list[dict[str, Any]]:
    """The energy sources of the bench, as the guardian reaches them on its own."""
    from flexbench.lab.bench_config import ENERGY_SOURCES

    sources = []
    for c in bench.components:
        if isinstance(c, InstrumentComponent) and c.config.role in ENERGY_SOURCES:
            sources.append(
                {
                    "name": c.name,
                    "role": c.config.role,
                    "driver": c.config.driver,
                    "address": c.driver.address,
                    "options": dict(c.config.options),
                    "safety": asdict(c.config.safety),
                    "timeout_s": c.config.timeout_s,
                    "config_dir": str(bench.config.path.parent),
                }
            )
    return sources


class Guardian:
    """The guardian's process and the run's heartbeat to it."""

    name = kind = "guardian"
    safe_rank = SAFE_LAST

    def __init__(self, bench: Bench) -> None:
        from flexbench.lab.results import EVENTS_FILE

        if bench.work_dir is None:
            raise ValueError("a guarded bench needs a run folder")
        self.work_dir = Path(bench.work_dir)
        lab = bench.virtual_lab
        clock_state = getattr(bench.clock, "state", None)
        self.sources = watched_sources(bench)
        self.spec: dict[str, Any] = {
            "run_pid": os.getpid(),
            "lab_pid": getattr(lab, "pid", None),
            "events_path": str(self.work_dir / EVENTS_FILE),
            "clock": clock_state() if clock_state is not None else None,
            "sources": self.sources,
        }
        self._process: subprocess.Popen[bytes] | None = None
        self._stop = threading.Event()
        self._beats: threading.Thread | None = None
        self.on_event = bench.on_event

    def start(self) -> None:
        log_file = open(self.work_dir / LOG_FILE, "a", encoding="utf-8")
        self._process = subprocess.Popen(
            [sys.executable, "-m", "flexbench.lab.guardian"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=log_file,
            start_new_session=True,  # Ctrl-C at the run's terminal stops the run, which then stops the guardian
        )
        log_file.close()
        assert self._process.stdin is not None and self._process.stdout is not None
        self._process.stdin.write(json.dumps(self.spec).encode() + b"\n")
        self._process.stdin.flush()
        if self._process.stdout.readline().strip() != b"watching":
            self._process.kill()
            raise RuntimeError(f"the guardian did not start (see {self.work_dir / LOG_FILE})")
        self._beats = threading.Thread(target=self._beat, name="guardian-heartbeat", daemon=True)
        self._beats.start()
        self.on_event("guardian_started", {"pid": self._process.pid, "sources": [s["name"] for s in self.sources]})

    def _beat(self) -> None:
        assert self._process is not None and self._process.stdin is not None
        while not self._stop.wait(HEARTBEAT_PERIOD_S):
            try:
                self._process.stdin.write(b"beat\n")
                self._process.stdin.flush()
            except OSError as exc:
                self.on_event("guardian_lost", {"error": str(exc)})
                log.error("the guardian is gone (%s): the bench is no longer watched", exc)
                return

    def close(self) -> None:
        """A clean end: the guardian stands down."""
        self._stop.set()
        if self._beats is not None:
            self._beats.join(timeout=2)
        if self._process is None:
            return
        try:
            assert self._process.stdin is not None
            self._process.stdin.write(b"stop\n")
            self._process.stdin.close()
            self._process.wait(timeout=5)
        except (OSError, subprocess.TimeoutExpired):
            self._process.kill()

    def safe_state(self) -> None:
        """The bench's own safe state covers the sources; the guardian is for when the run cannot."""

    def snapshot(self) -> dict[str, Any]:
        return {
            "pid": self._process.pid if self._process else None,
            "sources": [s["name"] for s in self.sources],
            "heartbeat_timeout_s": HEARTBEAT_TIMEOUT_S,
        }

    def channels(self) -> list[Channels]:
        return []


# -- the guardian's process ---------------------------------------------------------------


class Watch:
    """What the guardian does when the run stops beating."""

    def __init__(self, spec: dict[str, Any]) -> None:
        self.spec = spec
        self.events_path = Path(spec["events_path"])
        self.clock: Any = None
        if spec.get("clock"):
            from flexbench.lab.clock import ScaledClock

            self.clock = ScaledClock.resume(spec["clock"])
        self.drivers = [self._driver(source) for source in spec["sources"]]  # imported now: no delay later

    def _driver(self, source: dict[str, Any]) -> Any:
        from flexbench.instruments.registry import driver_class
        from flexbench.instruments.roles import SafetyLimits

        cls = driver_class(source["driver"], Path(source["config_dir"]))
        return cls(
            source["address"],
            safety=SafetyLimits(**source["safety"]),
            options=source["options"],
            timeout_s=source["timeout_s"],
        )

    def event(self, kind: str, **data: Any) -> None:
        t_s = self.clock.now() if self.clock is not None else time.time()
        line = json.dumps({"t_s": t_s, "kind": kind, "wall_s": time.time(), **data}, default=str)
        with open(self.events_path, "a", encoding="utf-8") as events:
            events.write(line + "\n")
        log.info("%s %s", kind, data)

    def act(self, reason: str, hung: bool) -> None:
        self.event("guardian_triggered", reason=reason)
        if hung:
            _kill(self.spec["run_pid"])
            self.event("guardian_killed_run", pid=self.spec["run_pid"])
        for source, driver in zip(self.spec["sources"], self.drivers, strict=True):
            start_s = time.monotonic()
            try:
                driver.connect()
                try:
                    driver.safe_state()
                finally:
                    driver.close()
                self.event("guardian_safe_state", instrument=source["name"], ok=True, took_s=time.monotonic() - start_s)
            except Exception as exc:  # every source gets its chance
                self.event("guardian_safe_state", instrument=source["name"], ok=False, error=str(exc))
        lab_pid = self.spec.get("lab_pid")
        if lab_pid:
            self.event("guardian_lab_stopped", pid=lab_pid, stopped=_stop_process(lab_pid))


def _kill(pid: int) -> None:
    if pid <= 0:  # 0 and negatives name process groups: never the guardian's own
        return
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _stop_process(pid: int) -> bool:
    """SIGTERM, then SIGKILL after LAB_STOP_TIMEOUT_S; True when it stopped on the first."""
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return True
    deadline = time.monotonic() + LAB_STOP_TIMEOUT_S
    while time.monotonic() < deadline:
        if not _alive(pid):
            return True
        time.sleep(0.02)
    _kill(pid)
    return False


def _progress(pid: int) -> tuple[str, int] | None:
    """The process's scheduler state letter and CPU ticks used, from /proc; None where it cannot be read."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
        return fields[0], int(fields[11]) + int(fields[12])
    except (OSError, IndexError, ValueError):
        return None


def hangs(silent_s: float, before: tuple[str, int] | None, now: tuple[str, int] | None) -> bool:
    """Whether a run silent this long hangs: suspended, or neither running nor waiting to run
    while it used no CPU, after HEARTBEAT_TIMEOUT_S; after HEARTBEAT_LIMIT_S in any case."""
    if silent_s > HEARTBEAT_LIMIT_S:
        return True
    if silent_s <= HEARTBEAT_TIMEOUT_S:
        return False
    if before is None or now is None:  # nothing to tell a slow run from a hung one
        return True
    state, ticks = now
    return state in ("T", "t") or (state != "R" and ticks == before[1])


def watch(spec: dict[str, Any], stdin_fd: int) -> int:
    """Read beats until "stop"; act when they end, or pause while the run makes no progress."""
    guard = Watch(spec)
    sys.stdout.write("watching\n")
    sys.stdout.flush()
    buffer = b""
    last_beat_s = time.monotonic()
    at_beat = _progress(spec["run_pid"])
    while True:
        ready, _, _ = select.select([stdin_fd], [], [], 0.05)
        if ready:
            chunk = os.read(stdin_fd, 4096)
            if not chunk:
                guard.act("the run process ended without stopping the bench", hung=False)
                return 1
            buffer += chunk
            *lines, buffer = buffer.split(b"\n")
            if b"stop" in lines:
                return 0
            last_beat_s = time.monotonic()
            at_beat = _progress(spec["run_pid"])
            continue
        silent_s = time.monotonic() - last_beat_s
        if silent_s > HEARTBEAT_TIMEOUT_S:
            now = _progress(spec["run_pid"])
            if hangs(silent_s, at_beat, now):
                guard.act(f"no heartbeat from the run for {silent_s:.1f} s, and no progress", hung=True)
                return 1


def main() -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s guardian %(levelname)s %(message)s")
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a terminal's Ctrl-C is for the run
    stdin_fd = sys.stdin.fileno()
    line = b""
    while not line.endswith(b"\n"):
        chunk = os.read(stdin_fd, 1)
        if not chunk:
            return 1
        line += chunk
    return watch(json.loads(line), stdin_fd)


if __name__ == "__main__":
    sys.exit(main())
