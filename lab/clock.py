"""One clock for the plant, the emulators, the recorder and the test plans.

At time scale X, one second of bench time passes in 1/X seconds of wall time,
so the virtual bench can run a 30 s response window in a fraction of that.
Real benches run at scale 1. Bench time starts at the wall time the clock was
made, so samples carry meaningful timestamps.

Components, plans and the recorder take a `Clock` (the protocol), so a test
can hand them a clock of its own; ScaledClock is the bench's.
"""

from __future__ import annotations

import threading
import time
from typing import Protocol

from flexbench.core import TimeSource


class Clock(TimeSource, Protocol):
    """Bench time as the lab's parts use it: read it, sleep in it, wait on an event in it."""

    time_scale: float  # bench seconds per wall second

    def now(self) -> float:
        """Bench time in seconds since the Unix epoch."""
        ...

    def elapsed(self) -> float:
        """Bench seconds since the clock started."""
        ...

    def sleep(self, duration_s: float) -> None:
        """Sleep for `duration_s` of bench time (not at all when it is not positive)."""
        ...

    def sleep_until(self, t_s: float) -> None:
        """Sleep until bench time `t_s` (at once when it has passed)."""
        ...

    def wait(self, event: threading.Event, timeout_s: float) -> bool:
        """Wait on `event` for at most `timeout_s` of bench time; True when it was set."""
        ...


class ScaledClock:
    """Monotonic bench time, running `time_scale` times faster than the wall clock."""

    def __init__(self, time_scale: float = 1.0) -> None:
        if not time_scale > 0:
            raise ValueError(f"time scale must be positive, got {time_scale}")
        self.time_scale = float(time_scale)
        self._epoch_s = time.time()
        self._start_mono = time.monotonic()

    def state(self) -> dict[str, float]:
        """What another process on this host needs to keep the same bench time (`resume`)."""
        return {"time_scale": self.time_scale, "epoch_s": self._epoch_s, "start_mono": self._start_mono}

    @classmethod
    def resume(cls, state: dict[str, float]) -> ScaledClock:
        """The clock `state()` describes: the monotonic clock is one per host, so both processes agree."""
        clock = cls(state["time_scale"])
        clock._epoch_s = float(state["epoch_s"])
        clock._start_mono = float(state["start_mono"])
        return clock

    def now(self) -> float:
        """Bench time in seconds since the Unix epoch."""
        return self._epoch_s + (time.monotonic() - self._start_mono) * self.time_scale

    def elapsed(self) -> float:
        """Bench seconds since the clock started."""
        return (time.monotonic() - self._start_mono) * self.time_scale

    def sleep(self, duration_s: float) -> None:
        """Sleep for `duration_s` of bench time."""
        if duration_s > 0:
            time.sleep(duration_s / self.time_scale)

    def sleep_until(self, t_s: float) -> None:
        self.sleep(t_s - self.now())

    def wait(self, event: threading.Event, timeout_s: float) -> bool:
        """Wait on a threading event for at most `timeout_s` of bench time."""
        return event.wait(max(timeout_s, 0.0) / self.time_scale)
