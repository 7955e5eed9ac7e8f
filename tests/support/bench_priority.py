"""What a run started by the suite records of its bench's priority on this host (lab.priority)."""

from __future__ import annotations

import os
import resource

from flexbench.lab.priority import BENCH_NICE


def allowed() -> bool:
    """Whether this host lets the suite raise a priority: root, or an RLIMIT_NICE that reaches BENCH_NICE."""
    soft, _hard = resource.getrlimit(resource.RLIMIT_NICE)
    return os.geteuid() == 0 or soft == resource.RLIM_INFINITY or 20 - soft <= BENCH_NICE


def expected_priority() -> str:
    """The bench_priority event of a run started from a thread at nice 0."""
    return (
        f"nice {BENCH_NICE}"
        if allowed()
        else f"nice 0: raising it to {BENCH_NICE} needs root, CAP_SYS_NICE or RLIMIT_NICE"
    )
