"""What a part of flexbench takes as a clock: anything that tells bench time.

The lab's scaled clock (flexbench.lab.clock) runs faster than the wall clock on
the virtual bench; the servers, clients and emulators below the lab take any
TimeSource, so they run on it without knowing the lab. Times are Unix seconds.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable


@runtime_checkable
class TimeSource(Protocol):
    """Bench time: now() in Unix seconds. A scaled clock also has `time_scale` (bench s per wall s)."""

    def now(self) -> float: ...
