"""The virtual lab's process, forked by `flexbench run` before the run has started a thread.

Started as `python -m flexbench.lab.virtual.host` when the bench opens, the
lab's process imports its servers' clients, emulators and plant (about a second
of CPU) while the run waits for it. Forked at the run's start, it imports them
while pytest starts, and starts with whatever the run had imported by then (all
of it where the run is itself a fork of a pre-imported process, as in the
project's tests). It waits on its stdin for the spec the bench sends when it
opens (lab.virtual.hosted). A fork of a process with threads could inherit a
lock another thread held, so the fork happens only here, before the run has any;
a run that never opens its bench ends the waiting process by closing its stdin.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import traceback
from pathlib import Path
from typing import IO

WAIT_STEP_S = 0.01

_waiting: ForkedLab | None = None


class ForkedLab:
    """The forked lab's process as `subprocess.Popen` gives a child: pid, stdin, stdout, poll, wait, kill."""

    def __init__(self, pid: int, stdin: IO[str], stdout: IO[str], work_dir: Path) -> None:
        self.pid = pid
        self.stdin: IO[str] | None = stdin
        self.stdout: IO[str] | None = stdout
        self.work_dir = work_dir
        self.returncode: int | None = None

    def poll(self) -> int | None:
        if self.returncode is None:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid == self.pid:
                self.returncode = os.waitstatus_to_exitcode(status)
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        deadline = None if timeout is None else time.monotonic() + timeout
        while self.poll() is None:
            if deadline is not None and time.monotonic() >= deadline:
                raise subprocess.TimeoutExpired(f"virtual lab (pid {self.pid})", timeout or 0.0)
            time.sleep(WAIT_STEP_S)
        assert self.returncode is not None
        return self.returncode

    def kill(self) -> None:
        if self.poll() is None:
            os.kill(self.pid, signal.SIGKILL)


def prestart(work_dir: Path, log_name: str) -> None:
    """Fork the lab's process now; it logs to `log_name` in `work_dir` and waits for its spec."""
    global _waiting
    requests_r, requests_w = os.pipe()
    replies_r, replies_w = os.pipe()
    log_fd = os.open(Path(work_dir) / log_name, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    sys.stdout.flush()
    sys.stderr.flush()
    try:
        pid = os.fork()
    except OSError:  # no process to spare now: the bench starts the lab's process when it opens
        for fd in (requests_r, requests_w, replies_r, replies_w, log_fd):
            os.close(fd)
        return
    if pid == 0:  # the lab's process: never returns into the run's code
        code = 1
        try:
            os.setsid()  # a Ctrl-C at the run's terminal is the run's, not the lab's
            os.dup2(requests_r, 0)
            os.dup2(replies_w, 1)
            os.dup2(log_fd, 2)
            for fd in (requests_r, requests_w, replies_r, replies_w, log_fd):
                os.close(fd)
            sys.stdin = open(0, encoding="utf-8", closefd=False)
            sys.stdout = open(1, "w", encoding="utf-8", closefd=False)
            sys.stderr = open(2, "w", encoding="utf-8", buffering=1, closefd=False)
            from flexbench.lab.virtual.host import main

            code = main()
        except BaseException:
            traceback.print_exc()
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(code)
    for fd in (requests_r, replies_w, log_fd):
        os.close(fd)
    _waiting = ForkedLab(
        pid,
        os.fdopen(requests_w, "w", encoding="utf-8", buffering=1),
        os.fdopen(replies_r, "r", encoding="utf-8"),
        Path(work_dir),
    )


def take(work_dir: Path) -> ForkedLab | None:
    """The waiting lab's process for a bench whose run folder is `work_dir`, once; None when there is none."""
    global _waiting
    lab, _waiting = _waiting, None
    if lab is not None and lab.work_dir != Path(work_dir):
        _end(lab)
        return None
    return lab


def discard() -> None:
    """End a lab's process the run never used (its bench did not open)."""
    global _waiting
    lab, _waiting = _waiting, None
    if lab is not None:
        _end(lab)


def _end(lab: ForkedLab) -> None:
    for stream in (lab.stdin, lab.stdout):
        if stream is not None:
            stream.close()
    try:
        lab.wait(timeout=5)
    except Exception:
        lab.kill()
        lab.wait(timeout=5)
