"""The virtual lab's own process: `python -m flexbench.lab.virtual.host`.

A guarded bench (lab.bench) runs its virtual lab here, apart from the run, as
real instruments run apart from the computer that drives them: when the run
process dies, the emulated grid simulator keeps its output on until someone
(the guardian, lab.guardian) turns it off over its own wire protocol.

The run side (lab.virtual.hosted) writes one JSON line with the lab's spec on
stdin, then requests, one JSON line each; this process answers on stdout with
a "ready" line (addresses, emulators, snapshot), one reply per request and
event lines as they happen. Log output goes to stderr. On SIGTERM (the
guardian) it stops and appends its final state to the run's events.jsonl;
when stdin closes without a stop (the run died), it waits ORPHAN_GRACE_S for
the guardian before stopping by itself.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from flexbench.lab.bench_config import load_bench
from flexbench.lab.clock import ScaledClock
from flexbench.lab.priority import raise_priority
from flexbench.lab.station import keep_servers_responsive
from flexbench.lab.virtual.bench_faults import BenchFault
from flexbench.lab.virtual.lab import VirtualLab

log = logging.getLogger(__name__)
ORPHAN_GRACE_S = 30.0  # wall seconds an orphaned lab waits for the guardian before it stops itself
WATCH_PERIOD_S = 0.005  # wall seconds between looks at the emulated outputs
# what the run may ask of the site, when it has them
SITE_CALLS = ("site_map", "truth", "opcua_endpoints", "write_findings")


@dataclass
class CsipView:
    """What the virtual DUT's 2030.5 client needs of the bench's server (lab.csip_bench.BenchCsip)."""

    config: Any
    url: str
    pki: Any
    lfdis: dict[str, str]

    def identity(self, name: str) -> Any:
        return self.pki.device_identity(name)


@dataclass
class OpcuaView:
    """What the virtual site's OPC-UA links need of the bench's server (lab.opcua_bench.BenchOpcua)."""

    config: Any
    pki_dir: Path
    endpoint: str

    def device_server_security(self, name: str) -> Any:
        from flexbench.lab.opcua_bench import device_server_security

        return device_server_security(self.config, self.pki_dir, name)


class OutputWatch:
    """When each emulated source's output last changed, in wall time: the guardian's evidence."""

    def __init__(self, lab: VirtualLab) -> None:
        self.lab = lab
        self.states: dict[str, dict[str, Any]] = {
            name: {"output_on": on, "changed_wall_s": None} for name, on in lab.outputs().items()
        }
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="output-watch", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(WATCH_PERIOD_S):
            self.look()

    def look(self) -> None:
        now_s = time.time()
        for name, on in self.lab.outputs().items():
            state = self.states.setdefault(name, {"output_on": on, "changed_wall_s": None})
            if state["output_on"] != on:
                state.update(output_on=on, changed_wall_s=now_s)

    def stop(self) -> dict[str, dict[str, Any]]:
        self._stop.set()
        self._thread.join(timeout=1)
        self.look()
        return {name: dict(state) for name, state in self.states.items()}


class Host:
    """One virtual lab served to the run over a pipe."""

    def __init__(self, spec: dict[str, Any], out: TextIO) -> None:
        self.spec = spec
        self.out = out
        self._out_lock = threading.Lock()
        self.stopping = threading.Event()
        self.stopped = threading.Event()  # set once the lab has stopped and its final state is written
        config = load_bench(spec["bench_file"])
        self.clock = ScaledClock.resume(spec["clock"])
        self.events_path = Path(spec["events_path"]) if spec.get("events_path") else None
        csip = opcua = None
        if spec.get("csip"):
            from flexbench.signals.pki import TestPKI

            c = spec["csip"]
            csip = CsipView(config.csip, c["url"], TestPKI(c["pki_dir"]), dict(c["lfdis"]))
        if spec.get("opcua"):
            o = spec["opcua"]
            opcua = OpcuaView(config.opcua, Path(o["pki_dir"]), o["endpoint"])
        work_dir = Path(spec["work_dir"]) if spec.get("work_dir") else None
        self.lab = VirtualLab(
            config, self.clock, spec["dut_profile"], csip=csip, opcua=opcua, work_dir=work_dir, on_event=self.event
        )
        self.watch: OutputWatch | None = None

    def send(self, message: dict[str, Any]) -> None:
        line = json.dumps(message, default=str)
        with self._out_lock:
            try:
                self.out.write(line + "\n")
                self.out.flush()
            except (OSError, ValueError):  # the run is gone: there is no one to tell
                log.debug("not sent (the run is gone): %s", line[:200])

    def event(self, kind: str, data: dict[str, Any]) -> None:
        self.send({"event": kind, "data": data})

    def start(self) -> None:
        self.lab.start()
        self.watch = OutputWatch(self.lab)
        site = self.lab.site
        self.send(
            {
                "ready": {
                    "pid": os.getpid(),
                    "addresses": self.lab.addresses,
                    "emulators": sorted(self.lab.emulators),
                    "site_calls": [name for name in SITE_CALLS if callable(getattr(site, name, None))],
                    "snapshot": self.lab.snapshot(),
                }
            }
        )

    def handle(self, request: dict[str, Any]) -> Any:
        op, args = request["op"], request.get("args", [])
        if op == "operator_action":
            return self.lab.operator_action(*args)
        if op == "site" and args and args[0] in SITE_CALLS:
            return getattr(self.lab.site, args[0])(*args[1:])
        if op == "inject_fault":
            return self.lab.inject_fault(BenchFault(*args))
        if op == "stop":
            return self.stop("the run")
        raise ValueError(f"unknown request {op!r}")

    def serve(self, requests: TextIO) -> None:
        """Answer the run's requests until it stops the lab or goes away."""
        for line in requests:
            request = json.loads(line)
            try:
                reply: dict[str, Any] = {"id": request["id"], "ok": self.handle(request)}
            except Exception as exc:  # the run gets the error as the in-process lab would raise it
                reply = {"id": request["id"], "error": str(exc), "type": type(exc).__name__}
            self.send(reply)
            if request["op"] == "stop":
                return
        log.warning("the run process went away without stopping the virtual lab; waiting for the guardian")
        if not self.stopping.wait(ORPHAN_GRACE_S):
            self.stop(f"no guardian within {ORPHAN_GRACE_S:g} s of the run's end")

    def stop(self, by: str) -> dict[str, Any]:
        """Stop the lab once; its final state and its outputs' last changes, also in events.jsonl when not the run."""
        if self.stopping.is_set():
            self.stopped.wait(30)
            return {}
        self.stopping.set()
        try:
            self.lab.stop()
            state = {**self.lab.final_state(), "outputs": self.watch.stop() if self.watch else {}}
            if by != "the run" and self.events_path is not None:
                line = {"t_s": self.clock.now(), "kind": "virtual_lab_stopped", "by": by, **state}
                with open(self.events_path, "a", encoding="utf-8") as events:
                    events.write(json.dumps(line, default=str) + "\n")
            return state
        finally:
            self.stopped.set()


def main() -> int:
    out = os.fdopen(os.dup(sys.stdout.fileno()), "w", encoding="utf-8")  # the protocol's own channel
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())  # anything printed goes to the log, not the protocol
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    spec = sys.stdin.readline()
    if not spec:  # forked ahead of a bench that never opened (lab.virtual.prestart)
        log.info("the run ended before its bench opened: nothing to serve")
        return 0
    _, _, priority = raise_priority()  # before the lab starts its threads (lab.priority)
    log.info("virtual lab at %s", priority)
    host = Host(json.loads(spec), out)
    done = threading.Event()

    def stop_and_end(by: str) -> None:
        host.stop(by)
        done.set()

    def serve_and_end() -> None:
        host.serve(sys.stdin)
        done.set()

    def terminate(signum: int, _frame: Any) -> None:
        threading.Thread(target=stop_and_end, args=("the guardian",), daemon=True).start()

    signal.signal(signal.SIGTERM, terminate)
    try:
        host.start()
        keep_servers_responsive()  # the lab's emulators and its DUT answer from threads of this process
    except Exception as exc:
        log.exception("the virtual lab did not start")
        host.send({"failed": f"{type(exc).__name__}: {exc}"})
        return 1
    server = threading.Thread(target=serve_and_end, name="host-requests", daemon=True)
    server.start()
    while not done.wait(0.5):
        pass
    if host.stopping.is_set():
        host.stopped.wait(30)
    return 0


if __name__ == "__main__":
    sys.exit(main())
