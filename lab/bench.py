"""A bench assembled from its file: a station of components, with a safe state for every exit.

The bench holds its parts as lab.station components (instruments, servers,
the virtual lab, a controller under test) and treats them alike: start in
order, safe state, close in reverse, snapshot, channels. Whatever ends a run
(a failed check, an instrument that stops answering, Ctrl-C), `close` drives
every component to its safe state before closing; each step is attempted even
when an earlier one fails.
"""

from __future__ import annotations

import logging
import platform
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal, overload

from flexbench.instruments.roles import (
    DER,
    ACLoad,
    GridSimulator,
    Instrument,
    Meter,
    PowerAnalyzer,
    PowerControlSystem,
    PVSimulator,
)
from flexbench.lab import station
from flexbench.lab.bench_config import BenchConfig, BenchError, load_bench
from flexbench.lab.clock import Clock
from flexbench.lab.priority import raise_priority
from flexbench.lab.priority import restore as restore_priority
from flexbench.lab.station import Channels, Component, InstrumentComponent

log = logging.getLogger(__name__)


class Bench:
    """The components of one bench (lab.station), started in order; instruments reachable by name and role."""

    def __init__(
        self,
        config: BenchConfig,
        clock: Clock,
        dut_profile: str = "healthy",
        on_event: Callable[[str, dict[str, Any]], None] | None = None,
        work_dir: Path | None = None,
        guarded: bool = False,
    ) -> None:
        self.config = config
        # a guardian process watches the run, and a virtual lab runs in a process of its own (lab.guardian)
        self.guarded = guarded
        self.work_dir = work_dir  # where bench state (2030.5 database, test PKI) is kept: the run folder
        self.clock = clock
        self.dut_profile = dut_profile
        self.components: list[Component] = []  # in start order
        self._on_event = on_event or (lambda kind, data: None)
        self._closed = False
        self._priority: tuple[int, int] | None = None  # the opening thread's id and own nice value (lab.priority)
        self.unconfirmed: dict[str, str] = {}  # component -> why its last safe state failed (it may be energized)
        self.unreachable: dict[str, str] = {}  # instrument -> why it could not be connected (connect's unreachable_ok)

    @classmethod
    def open(
        cls,
        path: str | Path | None,
        clock: Clock,
        dut_profile: str = "healthy",
        on_event: Callable[[str, dict[str, Any]], None] | None = None,
        work_dir: Path | None = None,
        guarded: bool = False,
    ) -> Bench:
        bench = cls(load_bench(path), clock, dut_profile, on_event, work_dir, guarded)
        bench.connect()
        return bench

    def connect(self, *, unreachable_ok: bool = False) -> None:
        """Build and start every component, kind by kind in the registry's order.

        With `unreachable_ok` an instrument that cannot be connected is kept in
        `unreachable` (name -> why) and the others still connect: a probe of the
        bench reports them all.
        """
        # before the components start their threads and processes: they inherit it (lab.priority)
        if self._priority is None:
            thread_id, nice, priority = raise_priority()
            self._priority = (thread_id, nice)
            self._on_event("bench_priority", {"priority": priority})
        try:
            if self.config.virtual is None and self.dut_profile != "healthy":
                raise BenchError(
                    f"{self.config.path}: --dut-profile {self.dut_profile!r} selects a fault of the virtual DUT; "
                    "this bench is a real one"
                )
            for _kind, factory in station.factories():
                for component in factory(self):
                    try:
                        component.start()
                    except BenchError as exc:
                        if not (unreachable_ok and isinstance(component, InstrumentComponent)):
                            raise
                        self.unreachable[component.name] = str(exc)
                        continue
                    self.components.append(component)
        except BaseException:
            self.close()
            raise

    def on_event(self, kind: str, data: dict[str, Any]) -> None:
        """Where components report what they did (the run's events.jsonl)."""
        self._on_event(kind, data)

    # -- components -------------------------------------------------------------

    def component(self, kind: str) -> Any:
        """The one component of a kind (csip, opcua, virtual_lab, controller), or None."""
        return next((c for c in self.components if c.kind == kind), None)

    @property
    def csip(self) -> Any:
        """The bench's 2030.5 server (lab.csip_bench.BenchCsip), or None."""
        return self.component("csip")

    @property
    def opcua(self) -> Any:
        """The bench's OPC-UA envelope server (lab.opcua_bench.BenchOpcua), or None."""
        return self.component("opcua")

    @property
    def virtual_lab(self) -> Any:
        """The virtual lab (lab.virtual.lab.VirtualLab) on a virtual bench, else None."""
        return self.component("virtual_lab")

    @property
    def controller(self) -> Any:
        """The controller under test (lab.controller.supervisor.ControllerSupervisor), or None."""
        return self.component("controller")

    @property
    def instruments(self) -> dict[str, Instrument]:
        """Connected drivers by the bench file's names."""
        return {c.name: c.driver for c in self.components if isinstance(c, InstrumentComponent)}

    def channels(self) -> list[Channels]:
        """What the recorder polls: every component's channels."""
        return [group for c in self.components for group in c.channels()]

    # -- roles ------------------------------------------------------------------

    @overload
    def one(self, role: Literal["grid_simulator"]) -> GridSimulator: ...
    @overload
    def one(self, role: Literal["power_analyzer"]) -> PowerAnalyzer: ...
    @overload
    def one(self, role: Literal["der"]) -> DER: ...
    @overload
    def one(self, role: Literal["pv_simulator"]) -> PVSimulator: ...
    @overload
    def one(self, role: Literal["ac_load"]) -> ACLoad: ...
    @overload
    def one(self, role: Literal["meter"]) -> Meter: ...
    @overload
    def one(self, role: Literal["pcs"]) -> PowerControlSystem: ...
    @overload
    def one(self, role: str) -> Instrument: ...
    def one(self, role: str) -> Instrument:
        """The one instrument with this role, typed by its role's interface."""
        instruments = self.instruments
        found = [instruments[n] for n, c in self.config.instruments.items() if c.role == role and n in instruments]
        if not found:
            raise BenchError(
                f"{self.config.path}: the bench has no {role} (add an [instruments.NAME] with role = {role!r})"
            )
        if len(found) > 1:
            names = [n for n, c in self.config.instruments.items() if c.role == role]
            raise BenchError(
                f"{self.config.path}: several instruments with role {role!r} ({', '.join(names)}): ask by name"
            )
        return found[0]

    def named(self, name: str) -> Any:
        """The instrument the bench file calls `name`."""
        instruments = self.instruments
        if name not in instruments:
            raise BenchError(
                f"{self.config.path}: no instrument named {name!r} (instruments: {', '.join(instruments) or 'none'})"
            )
        return instruments[name]

    @property
    def grid(self) -> GridSimulator:
        return self.one("grid_simulator")

    @property
    def analyzer(self) -> PowerAnalyzer:
        return self.one("power_analyzer")

    @property
    def der(self) -> DER:
        return self.one("der")

    def element(self, point: str) -> int:
        """Analyzer element number that measures a named point ("dut", "pcc")."""
        for inst in self.config.by_role("power_analyzer"):
            if point in inst.measures:
                return inst.measures[point]
        raise BenchError(
            f"{self.config.path}: no analyzer element measures {point!r} (set measures = {{ {point} = N }})"
        )

    def operator_action(self, action: str, instruction: str) -> None:
        """A manual step of a test plan: the virtual lab carries it out; on a real bench the operator does.

        On a real bench the instruction is shown and the run waits for Enter, so a
        plan that needs a person (unplugging a sensor) still runs unattended nowhere.
        """
        self._on_event("operator_action", {"action": action, "instruction": instruction})
        if self.virtual_lab is not None:
            self.virtual_lab.operator_action(action)
            return
        try:  # the controlling terminal, not stdin: pytest captures stdin
            with open("/dev/tty", "r+", encoding="utf-8") as tty:
                tty.write(f"\n>>> {instruction}\n>>> press Enter when done ")
                tty.flush()
                tty.readline()
        except OSError:
            raise BenchError(f"operator action needed ({instruction}) but there is no terminal to ask at") from None

    # -- records ----------------------------------------------------------------

    def snapshot(self) -> dict[str, Any]:
        """The station snapshot saved with a run: every component's identity and settings."""
        station: dict[str, Any] = {
            "bench": {"name": self.config.name, "file": str(self.config.path), "description": self.config.description},
            "dut_profile": self.dut_profile if self.virtual_lab else None,
            "time_scale": self.clock.time_scale,
            "host": {"python": platform.python_version(), "platform": platform.platform()},
            "instruments": {},
            "components": {},
        }
        for c in self.components:
            try:
                entry = c.snapshot()
            except Exception as exc:  # a snapshot never stops a run: the error is the entry
                entry = {"error": str(exc)}
            group = "instruments" if c.kind == "instrument" else "components"
            station[group][c.name] = entry if group == "instruments" else {"kind": c.kind, **entry}
        return station

    # -- ending -----------------------------------------------------------------

    def safe_state(self, reason: str = "") -> list[str]:
        """Make every component safe, the controller first, then grid simulators; returns the failures."""
        failures: list[str] = []
        for c in sorted(self.components, key=lambda c: c.safe_rank):
            try:
                c.safe_state()
                self.unconfirmed.pop(c.name, None)
                self._on_event("safe_state", {"instrument": c.name, "ok": True, "reason": reason})
            except Exception as exc:  # every component gets its chance, whatever the others do
                self.unconfirmed[c.name] = str(exc)
                failures.append(f"{c.name}: {exc}")
                self._on_event("safe_state", {"instrument": c.name, "ok": False, "error": str(exc), "reason": reason})
                log.error("safe state of %s failed: %s", c.name, exc)
        return failures

    def close(self) -> None:
        """Safe state first, then every component closes in reverse start order, each whatever the others do."""
        if self._closed:
            return
        self._closed = True
        try:
            self.safe_state("bench closed")
        finally:
            for c in reversed(self.components):
                try:
                    c.close()
                except Exception as exc:
                    log.warning("closing %s failed: %s", c.name, exc)
            if self._priority is not None:
                restore_priority(*self._priority)

    def __enter__(self) -> Bench:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
