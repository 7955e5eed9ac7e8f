"""`flexbench ARGS` as a user types it, in a process forked from one that has already imported the lab.

A plan run started as a new interpreter spends about 2 s of CPU importing
pytest, the lab, its servers and its plots before it does anything; the suite
makes over a hundred such runs. A forkserver per test worker imports them once,
and each run is a fork of it: a process of its own, with its own pid, working
folder, standard output and exit code, that runs the command line's `main`.
Tests of how the interpreter itself starts, or of signals sent to a run, start
it with `subprocess` as before.
"""

from __future__ import annotations

import multiprocessing
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# what every run imports before its first test; the forkserver imports them once
PRELOAD = [
    __name__,
    "pytest",
    "flexbench.lab.cli",
    "flexbench.lab.commands.run",
    "flexbench.lab.pytest_plugin",
    "flexbench.lab.bench",
    "flexbench.lab.recorder",
    "flexbench.lab.report",
    "flexbench.lab.plots",
    "flexbench.lab.csip_bench",
    "flexbench.lab.opcua_bench",
    "flexbench.lab.virtual.hosted",
    # the virtual lab's process, forked from the run (lab.virtual.prestart)
    "flexbench.lab.virtual.host",
    "flexbench.lab.virtual.pcs_bench",
    "flexbench.lab.virtual.csip_link",
    "flexbench.lab.virtual.opcua_link",
    "flexbench.instruments.emulators",
    "pymodbus.server",
]

_context = multiprocessing.get_context("forkserver")
_context.set_forkserver_preload(PRELOAD)


def _main(args: list[str], cwd: str, stdout_path: str, stderr_path: str) -> None:
    """In the forked process: the command line's main, its output to the two files, its code as exit code."""
    os.chdir(cwd)
    for fd, path in ((1, stdout_path), (2, stderr_path)):
        opened = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.dup2(opened, fd)
        os.close(opened)
    sys.argv = ["flexbench", *args]
    from flexbench.lab.cli import main

    try:
        code = main(args)
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
    sys.exit(code)


def flexbench(*args: str, timeout_s: float = 300, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    """Run `flexbench ARGS` to its end; its output and exit code as `subprocess.run(..., text=True)` gives them."""
    argv = [str(a) for a in args]
    with tempfile.TemporaryDirectory(prefix="flexbench-cli-") as folder:
        stdout_path, stderr_path = Path(folder, "stdout"), Path(folder, "stderr")
        process = _context.Process(target=_main, args=(argv, str(cwd), str(stdout_path), str(stderr_path)))
        process.start()
        process.join(timeout_s)
        if process.exitcode is None:
            process.kill()
            process.join()
            raise subprocess.TimeoutExpired(["flexbench", *argv], timeout_s)
        return subprocess.CompletedProcess(
            ["flexbench", *argv],
            process.exitcode,
            stdout_path.read_text(errors="replace") if stdout_path.exists() else "",
            stderr_path.read_text(errors="replace") if stderr_path.exists() else "",
        )
