"""The bench's threads and processes ahead of other work on the host while the bench is open.

At a compressed time scale a second of bench time is tens of milliseconds of wall time:
a DUT's poll, a controller's control period of Modbus requests, a step of the virtual
plant. On a host doing other work (another run, a build, an envelope computation) they
wait for a core and land late in bench time. So the thread that opens a bench, and with
it every thread and process the bench starts (they inherit it), runs at nice BENCH_NICE
while the bench is open, where the host allows it (root, CAP_SYS_NICE or RLIMIT_NICE).
Elsewhere it keeps its priority, and the run's events say which it was.
"""

from __future__ import annotations

import os

BENCH_NICE = -10  # CFS gives a nice -10 thread about nine times the share of a nice 0 one


def raise_priority() -> tuple[int, str]:
    """Run the calling thread, and what it starts from now on, at BENCH_NICE if allowed.

    Returns the nice value to restore and what happened, for the run's record.
    """
    previous = os.getpriority(os.PRIO_PROCESS, 0)  # on Linux: the calling thread's
    if previous <= BENCH_NICE:
        return previous, f"nice {previous}"
    try:
        os.setpriority(os.PRIO_PROCESS, 0, BENCH_NICE)
    except OSError:
        return previous, f"nice {previous}: raising it to {BENCH_NICE} needs root, CAP_SYS_NICE or RLIMIT_NICE"
    return previous, f"nice {BENCH_NICE}"


def restore(previous: int) -> None:
    """The calling thread back at `previous` (lowering a priority is always allowed)."""
    try:
        os.setpriority(os.PRIO_PROCESS, 0, previous)
    except OSError:
        pass
