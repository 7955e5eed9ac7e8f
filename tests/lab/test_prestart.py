"""The virtual lab's process `flexbench run` forks at its start (lab.virtual.prestart).

A run that opens its bench hands the waiting process its spec (every plan run
in the suite goes that way); one that never opens it must not leave the process
waiting behind it: it ends it, and the process says why in the lab's log.
"""

from __future__ import annotations

from pathlib import Path

from flexbench_cli import flexbench

from flexbench.lab.virtual.hosted import LOG_FILE


def test_a_run_that_never_opens_its_bench_ends_the_forked_lab(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    proc = flexbench(
        "run",
        "testplans/csip/test_poll_rate.py",
        "--bench",
        "lab/benches/virtual-pcs.toml",
        "--time-scale",
        "20",
        "--out",
        str(run_dir),
        "-k",
        "no_test_has_this_name",
        timeout_s=60,
    )
    assert proc.returncode == 3, proc.stdout + proc.stderr  # INCOMPLETE: no test ran
    assert "the run ended before its bench opened" in (run_dir / LOG_FILE).read_text()
