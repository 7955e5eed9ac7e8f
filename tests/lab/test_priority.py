"""A bench's threads and processes run ahead of other work on the host, where the host allows it."""

from __future__ import annotations

import os
import subprocess
import sys
import threading

from bench_priority import allowed

from flexbench.lab.priority import BENCH_NICE, raise_priority, restore


def test_a_thread_raised_for_a_bench_passes_it_on_and_gets_its_own_back() -> None:
    seen: dict[str, object] = {}

    def body() -> None:  # in a thread of its own: the test worker's main thread is left as it is
        before = os.getpriority(os.PRIO_PROCESS, 0)
        previous, text = raise_priority()
        started: list[int] = []
        thread = threading.Thread(target=lambda: started.append(os.getpriority(os.PRIO_PROCESS, 0)))
        thread.start()
        thread.join()
        child = subprocess.run(
            [sys.executable, "-c", "import os; print(os.getpriority(os.PRIO_PROCESS, 0))"],
            capture_output=True,
            text=True,
            check=True,
        )
        restore(previous)
        seen.update(
            before=before,
            previous=previous,
            text=text,
            thread=started[0],
            process=int(child.stdout),
            after=os.getpriority(os.PRIO_PROCESS, 0),
        )

    runner = threading.Thread(target=body)
    runner.start()
    runner.join()
    assert seen["previous"] == seen["before"] and seen["after"] == seen["before"]
    if allowed():
        assert seen["text"] == f"nice {BENCH_NICE}"
        assert seen["thread"] == seen["process"] == BENCH_NICE
    else:
        assert "needs root, CAP_SYS_NICE or RLIMIT_NICE" in str(seen["text"])
        assert seen["thread"] == seen["process"] == seen["before"]
