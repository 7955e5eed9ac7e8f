"""The virtual lab: a virtual site, its emulated instruments, on loopback, stepped in bench time.

Started by the bench when the bench file has a [virtual] table. `site` in that
table chooses the plant: "inverter" (a PV inverter under test behind a PCC,
the default), "pcs" (a power control system governing a whole site) or
"controller" (an emulated site of inverters and a meter for a site
controller under test, lab/virtual/controller_site) or "aggregator" (several
such homes behind one service transformer, lab/virtual/aggregator_site). Every
instrument whose address is "virtual" gets the emulator of its driver on a
port chosen at run time; a plant thread steps the physics and copies state
between the plant and the emulators, so the instruments measure what the DUT
does and the DUT obeys what reaches it over its own interface.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import fields
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from flexbench.lab.bench_config import (
    VIRTUAL_ADDRESS,
    VIRTUAL_PLANT_STEP_S,
    BenchConfig,
    BenchError,
    InstrumentConfig,
)
from flexbench.lab.clock import Clock
from flexbench.lab.errors import UserError
from flexbench.lab.station import SAFE_LAST, Channels
from flexbench.lab.virtual.bench_faults import BenchFault, inject

if TYPE_CHECKING:
    from flexbench.lab.bench import Bench

log = logging.getLogger(__name__)


class VirtualSite(Protocol):
    """The physics of one kind of virtual site and its wiring to the emulators."""

    def make_emulator(self, inst: InstrumentConfig) -> Any: ...

    def step(self, now_s: float, dt_s: float) -> None:
        """Read the emulators' setpoints, advance the physics, publish measurements."""

    def final_state(self) -> dict[str, Any]: ...

    def operator_action(self, action: str) -> None:
        """Carry out a manual step of a test plan (e.g. disconnect a sensor)."""


def site_parameters(cls: type, table: dict[str, Any], where: str) -> Any:
    """A parameters dataclass from a [virtual.*] table; unknown keys are named."""
    known = {f.name for f in fields(cls)}
    unknown = set(table) - known
    if unknown:
        raise BenchError(f"{where}: unknown key(s) {', '.join(sorted(unknown))} (known: {', '.join(sorted(known))})")
    return cls(**table)


def fault_names() -> list[str]:
    """Every DUT profile of every virtual site kind."""
    from flexbench.lab.virtual.aggregator_site import aggregator_fault_names
    from flexbench.lab.virtual.controller_site import controller_fault_names
    from flexbench.lab.virtual.faults import FAULT_PROFILES
    from flexbench.lab.virtual.pcs_site import PCS_FAULTS

    return sorted(set(FAULT_PROFILES) | set(PCS_FAULTS) | set(controller_fault_names()) | set(aggregator_fault_names()))


def make_site(
    config: BenchConfig,
    clock: Clock,
    dut_profile: str,
    csip: Any = None,
    opcua: Any = None,
    work_dir: Path | None = None,
) -> VirtualSite:
    virtual = dict(config.virtual or {})
    kind = virtual.pop("site", "inverter")
    if kind == "inverter":
        from flexbench.lab.virtual.inverter_bench import InverterBench

        return InverterBench(config, virtual, clock, dut_profile)
    if kind == "pcs":
        from flexbench.lab.virtual.pcs_bench import PCSBench

        return PCSBench(config, virtual, clock, dut_profile, csip, opcua)
    if kind == "controller":
        from flexbench.lab.virtual.controller_site.site import ControllerSiteBench

        return ControllerSiteBench(config, virtual, clock, dut_profile, work_dir)
    if kind == "aggregator":
        from flexbench.lab.virtual.aggregator_site.site import AggregatorSiteBench

        return AggregatorSiteBench(config, virtual, clock, dut_profile, csip, work_dir)
    raise BenchError(
        f"{config.path}: virtual.site: unknown site {kind!r} (sites: inverter, pcs, controller, aggregator)"
    )


def components(bench: Bench) -> list[Any]:
    """The virtual lab when the bench file has a [virtual] table (after the servers its DUT talks to).

    On a guarded bench it runs in a process of its own (lab.virtual.hosted), as
    hardware runs outside the run, so the guardian can make it safe when the run dies.
    """
    if bench.config.virtual is None:
        return []
    if bench.guarded:
        from flexbench.lab.virtual.hosted import HostedLab

        return [HostedLab(bench)]
    return [
        VirtualLab(
            bench.config,
            bench.clock,
            bench.dut_profile,
            csip=bench.csip,
            opcua=bench.opcua,
            work_dir=bench.work_dir,
            on_event=bench.on_event,
        )
    ]


class VirtualLab:
    """The virtual site and its emulators, as a component of the bench (lab.station).

    `addresses` tells the bench where each emulated instrument listens.
    """

    name = kind = "virtual_lab"
    safe_rank = SAFE_LAST

    def __init__(
        self,
        config: BenchConfig,
        clock: Clock,
        dut_profile: str = "healthy",
        csip: Any = None,
        opcua: Any = None,
        work_dir: Path | None = None,
        on_event: Callable[[str, dict[str, Any]], None] | None = None,
    ) -> None:
        self.config = config
        self.clock = clock
        self.dut_profile = dut_profile
        self.on_event = on_event or (lambda kind, data: None)
        self.site = make_site(config, clock, dut_profile, csip, opcua, work_dir)
        self.emulators: dict[str, Any] = {}
        self.addresses: dict[str, str] = {}
        self.lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Start every emulator and the plant thread; `addresses` then holds instrument name -> address."""
        try:
            for name, inst in self.config.instruments.items():
                if inst.address != VIRTUAL_ADDRESS:
                    continue
                emu = self.site.make_emulator(inst)
                emu.start()
                self.emulators[name] = emu
                self.addresses[name] = emu.address
            self._thread = threading.Thread(target=self._run, name="virtual-plant", daemon=True)
            self._thread.start()
            start_links = getattr(self.site, "start_links", None)
            if start_links is not None:  # the DUT's own clients (2030.5) once its instruments are up
                start_links()
        except BaseException:
            self.stop()
            raise

    def _run(self) -> None:
        last_s = self.clock.now()
        while not self._stop.is_set():
            time.sleep(VIRTUAL_PLANT_STEP_S)
            now_s = self.clock.now()
            try:
                self.site.step(now_s, now_s - last_s)
            except Exception:  # keep the plant alive: a bad step must not hang the bench
                log.exception("virtual plant step failed")
            last_s = now_s

    def operator_action(self, action: str) -> None:
        self.site.operator_action(action)

    def inject_fault(self, fault: BenchFault) -> None:
        """Make one emulated instrument fail as `fault` says (lab.virtual.bench_faults)."""
        emulator = self.emulators.get(fault.instrument)
        if emulator is None:
            known = ", ".join(self.emulators) or "none"
            raise UserError(f"--bench-fault {fault.instrument}: no emulated instrument of that name ({known})")
        inject(fault, emulator, self.clock, self.on_event)

    def outputs(self) -> dict[str, bool]:
        """Whether each emulated source's output (a load's input) is on: the energy the bench holds."""
        states: dict[str, bool] = {}
        for name, emu in self.emulators.items():
            value = getattr(emu, "output_on", getattr(emu, "input_on", None))
            if isinstance(value, bool):
                states[name] = value
            elif isinstance(value, list):  # one per channel
                states[name] = any(bool(v) for v in value)
        return states

    def stop(self) -> None:
        stop_links = getattr(self.site, "stop_links", None)
        if stop_links is not None:
            stop_links()
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        for emu in self.emulators.values():
            try:
                emu.stop()
            except Exception:
                log.exception("stopping emulator failed")

    def close(self) -> None:
        self.stop()
        self.on_event("virtual_lab_stopped", self.final_state())

    def safe_state(self) -> None:
        """The plant follows the instruments: making them safe makes it safe."""

    def snapshot(self) -> dict[str, Any]:
        virtual = dict(self.config.virtual or {})
        return {
            "site": virtual.pop("site", "inverter"),
            "dut_profile": self.dut_profile,
            "parameters": virtual,
            "emulators": dict(self.addresses),
            "report_sections": list(getattr(self.site, "report_sections", ())),
        }

    def channels(self) -> list[Channels]:
        return []

    def final_state(self) -> dict[str, Any]:
        """What the plant ended in: evidence that the bench was left safe."""
        return self.site.final_state()

    def emulator(self, role: str) -> Any:
        """The emulator of the one virtual instrument with this role (for tests)."""
        found = [
            self.emulators[n] for n, c in self.config.instruments.items() if c.role == role and n in self.emulators
        ]
        if len(found) != 1:
            raise KeyError(f"{len(found)} virtual instruments with role {role!r}")
        return found[0]
