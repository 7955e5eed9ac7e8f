"""Serving the head-end from several processes over one store, so that every core answers devices.

Each worker is a forked process with its own `CsipServer` (its own SQLite connection, caches and notifier)
listening on the same port with SO_REUSEPORT: the kernel spreads connections across them. What one worker
changes, the others take in before their next request (`HeadEnd.sync`: the store's changes log), and a
change is notified once, by the worker that made it. The parent only starts, watches and stops them.
"""

from __future__ import annotations

import asyncio
import os
import select
import signal
import socket
import sys
import time
from collections.abc import Callable

from flexbench.signals.csip.runner import CsipServer

START_TIMEOUT_S = 60.0
PARENT_CHECK_S = 1.0


class Workers:
    """`count` forked processes, each serving `make_server(port)` (a CsipServer with shared_store) on one port."""

    def __init__(self, count: int, host: str, port: int, make_server: Callable[[int], CsipServer]) -> None:
        if count < 1:
            raise ValueError(f"workers must be at least 1, got {count}")
        self.count, self.host, self.make_server = count, host, make_server
        # bound, not listening: fixes the port (0: a free one) for the workers to share, and holds it
        self._reserved = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
        self._reserved.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._reserved.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        self._reserved.bind((host, port))
        self.port: int = self._reserved.getsockname()[1]
        self.pids: list[int] = []
        self._stopping = False

    @property
    def url(self) -> str:
        return f"https://{f'[{self.host}]' if ':' in self.host else self.host}:{self.port}"

    def start(self) -> str:
        """Fork the workers; returns the URL once every one of them serves."""
        ready_r, ready_w = os.pipe()
        parent = os.getpid()
        for _ in range(self.count):
            pid = os.fork()
            if pid == 0:
                os.close(ready_r)
                self._reserved.close()
                self._run_worker(ready_w, parent)
            self.pids.append(pid)
        os.close(ready_w)
        try:
            started, deadline = 0, time.monotonic() + START_TIMEOUT_S
            while started < self.count:
                readable, _, _ = select.select([ready_r], [], [], max(0.0, deadline - time.monotonic()))
                data = os.read(ready_r, 64) if readable else b""
                if not data:  # a worker died before serving, or the time ran out
                    self.stop()
                    raise RuntimeError(f"{self.count - started} of {self.count} server workers did not start")
                started += len(data)
        finally:
            os.close(ready_r)
        return self.url

    def _run_worker(self, ready_w: int, parent: int) -> None:
        code = 1
        try:
            code = asyncio.run(self._serve(ready_w, parent))
        except BaseException as exc:  # one line to the log; the parent stops the others
            print(f"server worker {os.getpid()}: {exc}", file=sys.stderr, flush=True)
        finally:
            os._exit(code)

    async def _serve(self, ready_w: int, parent: int) -> int:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        server = self.make_server(self.port)
        await server.start()
        os.write(ready_w, b"1")
        os.close(ready_w)
        orphaned = loop.create_task(self._watch_parent(parent, stop))
        try:
            await stop.wait()
        finally:
            orphaned.cancel()
            await server.stop()
        return 0

    @staticmethod
    async def _watch_parent(parent: int, stop: asyncio.Event) -> None:
        """A parent killed outright (SIGKILL) cannot stop its workers: each stops itself when its parent is gone."""
        while os.getppid() == parent:
            await asyncio.sleep(PARENT_CHECK_S)
        stop.set()

    def wait(self) -> int:
        """Until SIGTERM or SIGINT, or a worker ends by itself (the others are then stopped too): 0 if stopped
        by a signal and every worker ended cleanly."""
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda signum, frame: self._signal_all())
        failed = False
        while self.pids:
            try:
                pid, status = os.wait()
            except ChildProcessError:
                break
            if pid not in self.pids:
                continue
            self.pids.remove(pid)
            if os.waitstatus_to_exitcode(status) != 0 or not self._stopping:
                failed = True
                if not self._stopping:
                    print(f"server worker {pid} ended: stopping the others", file=sys.stderr, flush=True)
                    self._signal_all()
        self._reserved.close()
        return 1 if failed else 0

    def stop(self) -> None:
        """Stop every worker and wait for it."""
        self._signal_all()
        for pid in self.pids:
            try:
                os.waitpid(pid, 0)
            except ChildProcessError:
                pass
        self.pids.clear()
        self._reserved.close()

    def _signal_all(self) -> None:
        self._stopping = True
        for pid in self.pids:
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
