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
        thread_id, previous, text = raise_priority()
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
        restore(thread_id, previous)
        seen.update(
            thread_id=thread_id,
            own_id=threading.get_native_id(),
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
    assert seen["thread_id"] == seen["own_id"]  # restore() needs the raised thread's id, not the closer's
    assert seen["previous"] == seen["before"] and seen["after"] == seen["before"]
    if allowed():
        assert seen["text"] == f"nice {BENCH_NICE}"
        assert seen["thread"] == seen["process"] == BENCH_NICE
    else:
        assert "needs root, CAP_SYS_NICE or RLIMIT_NICE" in str(seen["text"])
        assert seen["thread"] == seen["process"] == seen["before"]


def test_a_bench_runs_its_opening_thread_raised_while_open_and_records_it(tmp_path) -> None:
    from bench_priority import expected_priority

    from flexbench.lab.bench import Bench
    from flexbench.lab.clock import ScaledClock

    seen: dict[str, object] = {}

    def body() -> None:
        events: list[tuple[str, dict]] = []
        before = os.getpriority(os.PRIO_PROCESS, 0)
        with Bench.open(
            None, ScaledClock(20.0), on_event=lambda kind, data: events.append((kind, data)), work_dir=tmp_path
        ):
            seen["open"] = os.getpriority(os.PRIO_PROCESS, 0)
        seen.update(before=before, after=os.getpriority(os.PRIO_PROCESS, 0))
        seen["recorded"] = [data["priority"] for kind, data in events if kind == "bench_priority"]

    runner = threading.Thread(target=body)
    runner.start()
    runner.join()
    assert seen["recorded"] == [expected_priority()]
    assert seen["open"] == (BENCH_NICE if allowed() else seen["before"]) and seen["after"] == seen["before"]
