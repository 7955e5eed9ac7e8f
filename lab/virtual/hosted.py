"""The virtual lab in a process of its own, as the run sees it: a bench component (lab.station).

A guarded bench (lab.bench) takes the lab's process `flexbench run` forked at its start
(lab.virtual.prestart), or starts one with `python -m flexbench.lab.virtual.host`, and
talks to it over its stdin and stdout (JSON lines). The instruments are reached
as ever, over their wire protocols at the addresses the lab reports; the few calls a
plan makes of the lab itself (operator actions, a controller site's map and truth, a
bench fault) are requests. The lab's log is `virtual-lab.log` in the run folder.
"""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
import threading
from concurrent.futures import Future
from pathlib import Path
from typing import TYPE_CHECKING, Any

from flexbench.lab.bench_config import BenchError
from flexbench.lab.errors import UserError
from flexbench.lab.station import SAFE_LAST, Channels
from flexbench.lab.virtual import prestart
from flexbench.lab.virtual.bench_faults import BenchFault

if TYPE_CHECKING:
    from flexbench.lab.bench import Bench

LOG_FILE = "virtual-lab.log"
START_TIMEOUT_S = 120.0  # wall seconds for the lab's process to serve its instruments
REQUEST_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 15.0


class RemoteSite:
    """The calls a plan or the controller bench makes of the virtual site (site_map, truth, opcua_endpoints,
    write_findings)."""

    def __init__(self, lab: HostedLab, calls: list[str]) -> None:
        self._lab = lab
        self._calls = set(calls)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_") or name not in self._calls:
            raise AttributeError(name)
        return lambda *args: self._lab.request("site", name, *args)


class HostedLab:
    """The virtual lab's process, started and stopped with the bench."""

    name = kind = "virtual_lab"
    safe_rank = SAFE_LAST

    def __init__(self, bench: Bench) -> None:
        if bench.work_dir is None:
            raise BenchError(f"{bench.config.path}: a guarded virtual bench needs a run folder")
        self.work_dir = bench.work_dir
        self.on_event = bench.on_event
        self.spec = _spec(bench)
        self.addresses: dict[str, str] = {}
        self.emulators: list[str] = []
        self.site: RemoteSite | None = None
        self.pid: int | None = None
        self._snapshot: dict[str, Any] = {}
        self._final: dict[str, Any] | None = None
        self._process: subprocess.Popen[str] | prestart.ForkedLab | None = None
        self._ids = itertools.count(1)
        self._pending: dict[int, Future[Any]] = {}
        self._ready: Future[dict[str, Any]] = Future()
        self._write_lock = threading.Lock()

    def start(self) -> None:
        self._process = prestart.take(self.work_dir)
        if self._process is None:
            log = open(Path(self.work_dir) / LOG_FILE, "a", encoding="utf-8")
            self._process = subprocess.Popen(
                [sys.executable, "-m", "flexbench.lab.virtual.host"],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=log,
                text=True,
                bufsize=1,
                start_new_session=True,  # a Ctrl-C at the run's terminal is the run's, not the lab's
            )
            log.close()
        threading.Thread(target=self._read, name="virtual-lab-replies", daemon=True).start()
        self._write(self.spec)
        try:
            ready = self._ready.result(timeout=START_TIMEOUT_S)
        except Exception as exc:
            self._kill()
            raise BenchError(f"the virtual lab did not start: {exc} (see {Path(self.work_dir) / LOG_FILE})") from None
        self.pid = int(ready["pid"])
        self.addresses = dict(ready["addresses"])
        self.emulators = list(ready["emulators"])
        self.site = RemoteSite(self, ready["site_calls"])
        self._snapshot = {**ready["snapshot"], "pid": self.pid, "process": "own"}

    def _write(self, message: dict[str, Any]) -> None:
        assert self._process is not None and self._process.stdin is not None
        with self._write_lock:
            self._process.stdin.write(json.dumps(message) + "\n")
            self._process.stdin.flush()

    def _read(self) -> None:
        """Replies, events and the ready line, until the lab's process closes its side."""
        assert self._process is not None and self._process.stdout is not None
        for line in self._process.stdout:
            message = json.loads(line)
            if "event" in message:
                self.on_event(message["event"], message["data"])
            elif "ready" in message:
                self._ready.set_result(message["ready"])
            elif "failed" in message:
                self._ready.set_exception(RuntimeError(message["failed"]))
            else:
                future = self._pending.pop(message["id"], None)
                if future is None:
                    continue
                if "error" in message:
                    cls = UserError if message.get("type") in ("UserError", "BenchError") else RuntimeError
                    future.set_exception(cls(message["error"]))
                else:
                    future.set_result(message["ok"])
        gone = RuntimeError("the virtual lab's process ended")
        if not self._ready.done():
            self._ready.set_exception(gone)
        for future in list(self._pending.values()):
            if not future.done():
                future.set_exception(gone)

    def request(self, op: str, *args: Any, timeout_s: float = REQUEST_TIMEOUT_S) -> Any:
        request_id = next(self._ids)
        future: Future[Any] = Future()
        self._pending[request_id] = future
        try:
            self._write({"id": request_id, "op": op, "args": list(args)})
        except (OSError, ValueError):
            self._pending.pop(request_id, None)
            raise RuntimeError("the virtual lab's process has ended") from None
        return future.result(timeout=timeout_s)

    # -- what the bench and the plans ask ----------------------------------------------------

    def operator_action(self, action: str) -> None:
        self.request("operator_action", action)

    def inject_fault(self, fault: BenchFault) -> None:
        if fault.instrument not in self.emulators:
            known = ", ".join(self.emulators) or "none"
            raise UserError(f"--bench-fault {fault.instrument}: no emulated instrument of that name ({known})")
        self.request("inject_fault", fault.instrument, fault.mode, fault.after_s)

    def final_state(self) -> dict[str, Any]:
        return dict(self._final or {})

    # -- component ---------------------------------------------------------------------------

    def safe_state(self) -> None:
        """The plant follows the instruments: making them safe makes it safe."""

    def snapshot(self) -> dict[str, Any]:
        return dict(self._snapshot)

    def channels(self) -> list[Channels]:
        return []

    def close(self) -> None:
        if self._process is None:
            return
        try:
            if self._process.poll() is None:
                self._final = self.request("stop", timeout_s=STOP_TIMEOUT_S)
                self.on_event("virtual_lab_stopped", self.final_state())
        except Exception as exc:
            self.on_event("virtual_lab_stopped", {"error": str(exc)})
        finally:
            try:
                if self._process.stdin is not None:
                    self._process.stdin.close()
                self._process.wait(timeout=STOP_TIMEOUT_S)
            except (OSError, subprocess.TimeoutExpired):
                self._kill()

    def _kill(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.kill()
            self._process.wait(timeout=5)


def _spec(bench: Bench) -> dict[str, Any]:
    """What the lab's process needs to build the same lab: files, bench time, the servers its DUT reaches."""
    from flexbench.lab.results import EVENTS_FILE

    clock_state = getattr(bench.clock, "state", None)
    if clock_state is None:
        raise BenchError("a guarded virtual bench needs the bench's ScaledClock")
    spec: dict[str, Any] = {
        "bench_file": str(bench.config.path),
        "dut_profile": bench.dut_profile,
        "clock": clock_state(),
        "work_dir": str(bench.work_dir),
        "events_path": str(Path(str(bench.work_dir)) / EVENTS_FILE),
    }
    csip = bench.csip
    if csip is not None:
        spec["csip"] = {"url": csip.url, "pki_dir": str(csip.pki.directory), "lfdis": csip.lfdis}
    opcua = bench.opcua
    if opcua is not None:
        spec["opcua"] = {"pki_dir": str(opcua.pki_dir), "endpoint": opcua.endpoint}
    return spec
