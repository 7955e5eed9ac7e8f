"""The bench's threads and processes ahead of other work on the host while the bench is open.

At a compressed time scale a second of bench time is tens of milliseconds of wall time:
a DUT's poll, a controller's control period of Modbus requests, a step of the virtual
plant. On a host doing other work (another run, a build, an envelope computation) they
wait for a core and land late in bench time. So the thread that opens a bench, and with
it every thread and process the bench starts (they inherit it), runs at nice BENCH_NICE
while the bench is open (lab.bench), where the host allows it (root, CAP_SYS_NICE or RLIMIT_NICE).
Elsewhere it keeps its priority, and the run's events say which it was.
"""

from __future__ import annotations

import os
import threading

BENCH_NICE = -10  # CFS gives a nice -10 thread about nine times the share of a nice 0 one


def raise_priority() -> tuple[int, int, str]:
    """Run the calling thread, and what it starts from now on, at BENCH_NICE if allowed.

    Returns the thread's id and the nice value to restore (`restore`), and what happened, for
    the run's record.
    """
    thread_id = threading.get_native_id()
    previous = os.getpriority(os.PRIO_PROCESS, thread_id)
    if previous <= BENCH_NICE:
        return thread_id, previous, f"nice {previous}"
    try:
        os.setpriority(os.PRIO_PROCESS, thread_id, BENCH_NICE)
    except OSError:
        return (
            thread_id,
            previous,
            f"nice {previous}: raising it to {BENCH_NICE} needs root, CAP_SYS_NICE or RLIMIT_NICE",
        )
    return thread_id, previous, f"nice {BENCH_NICE}"


def restore(thread_id: int, previous: int) -> None:
    """That thread back at `previous`, from whichever thread closes the bench (lowering is always allowed)."""
    try:
        os.setpriority(os.PRIO_PROCESS, thread_id, previous)
    except OSError:  # the thread has ended
        pass
