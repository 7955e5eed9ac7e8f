"""A bench assembled from its file: drivers by role, connected, with a safe state for every exit.

Whatever ends a run (a failed check, an instrument that stops answering,
Ctrl-C), `close` drives every instrument to its safe state before
disconnecting; each step is attempted even when an earlier one fails.
"""

from __future__ import annotations

import logging
import platform
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

from flexbench.instruments.registry import DRIVERS
from flexbench.instruments.roles import DER, GridSimulator, Instrument, InstrumentError, PowerAnalyzer
from flexbench.lab.bench_config import VIRTUAL_ADDRESS, BenchConfig, BenchError, load_bench
from flexbench.lab.clock import ScaledClock

log = logging.getLogger(__name__)


class Bench:
    """Connected instruments of one bench, reachable by name and by role."""

    def __init__(
        self,
        config: BenchConfig,
        clock: ScaledClock,
        dut_profile: str = "healthy",
        on_event: Callable[[str, dict[str, Any]], None] | None = None,
        work_dir: Path | None = None,
    ) -> None:
        self.config = config
        self.work_dir = work_dir  # where bench state (2030.5 database, test PKI) is kept: the run folder
        self.csip: Any = None
        self.opcua: Any = None
        self.controller: Any = None  # lab.controller.supervisor.ControllerSupervisor: the controller under test
        self.clock = clock
        self.dut_profile = dut_profile
        self.instruments: dict[str, Instrument] = {}
        self.virtual_lab: Any = None
        self._on_event = on_event or (lambda kind, data: None)
        self._closed = False

    @classmethod
    def open(
        cls,
        path: str | Path | None,
        clock: ScaledClock,
        dut_profile: str = "healthy",
        on_event: Callable[[str, dict[str, Any]], None] | None = None,
        work_dir: Path | None = None,
    ) -> Bench:
        bench = cls(load_bench(path), clock, dut_profile, on_event, work_dir)
        bench.connect()
        return bench

    def connect(self) -> None:
        addresses: dict[str, str] = {}
        try:
            if self.config.csip is not None:
                from flexbench.lab.csip_bench import BenchCsip

                if self.work_dir is None:
                    raise BenchError(f"{self.config.path}: [signals.csip] needs a run folder for its state")
                ctl = self.config.controller
                if ctl is not None:
                    from flexbench.lab.controller.bench import csip_config_for

                    self.csip = BenchCsip(csip_config_for(self.config), self.work_dir, self.clock, ciphers=ctl.ciphers)
                else:
                    self.csip = BenchCsip(self.config.csip, self.work_dir, self.clock)
                self._on_event("csip_server", {"url": self.csip.start(), "devices": self.csip.lfdis})
            if self.config.opcua is not None:
                from flexbench.lab.opcua_bench import BenchOpcua

                if self.work_dir is None:
                    raise BenchError(f"{self.config.path}: [signals.opcua] needs a run folder for its state")
                self.opcua = BenchOpcua(self.config.opcua, self.work_dir, self.clock)
                self._on_event("opcua_server", {"endpoint": self.opcua.start(), "sites": list(self.config.opcua.sites)})
            if self.config.virtual is not None:
                from flexbench.lab.virtual.lab import VirtualLab

                self.virtual_lab = VirtualLab(
                    self.config, self.clock, self.dut_profile, csip=self.csip, opcua=self.opcua, work_dir=self.work_dir
                )
                addresses = self.virtual_lab.start()
            elif self.dut_profile != "healthy":
                raise BenchError(
                    f"{self.config.path}: --dut-profile {self.dut_profile!r} selects a fault of the virtual DUT; "
                    "this bench is a real one"
                )
            if self.config.controller is not None:  # after the site serves its devices, before the bench connects
                from flexbench.lab.controller.bench import start_controller

                self.controller = start_controller(self, addresses)
            for name, inst in self.config.instruments.items():
                address = addresses[name] if inst.address in (VIRTUAL_ADDRESS, "controller") else inst.address
                driver = DRIVERS[inst.driver](
                    address, safety=inst.safety, options=self._driver_options(inst), timeout_s=inst.timeout_s
                )
                try:
                    driver.connect()
                except InstrumentError as exc:
                    raise BenchError(f"{self.config.path} [instruments.{name}]: cannot connect: {exc}") from None
                self.instruments[name] = driver
            if self.opcua is not None and self.config.opcua.devices:  # devices reached through their own server
                served = getattr(getattr(self.virtual_lab, "site", None), "opcua_endpoints", dict)()
                self.opcua.connect_devices(served, self._on_event, self.config.path)
        except BaseException:
            self.close()
            raise

    @staticmethod
    def _driver_options(inst: Any) -> dict[str, Any]:
        options = dict(inst.options)
        if inst.role == "power_analyzer" and inst.measures and "elements" not in options:
            options["elements"] = sorted(inst.measures.values())
        return options

    # -- roles ------------------------------------------------------------------

    def one(self, role: str) -> Any:
        found = [
            self.instruments[n] for n, c in self.config.instruments.items() if c.role == role and n in self.instruments
        ]
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
        if name not in self.instruments:
            raise BenchError(
                f"{self.config.path}: no instrument named {name!r} "
                f"(instruments: {', '.join(self.instruments) or 'none'})"
            )
        return self.instruments[name]

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
        """The station snapshot saved with a run: identity and settings of every instrument."""
        station: dict[str, Any] = {
            "bench": {"name": self.config.name, "file": str(self.config.path), "description": self.config.description},
            "dut_profile": self.dut_profile if self.virtual_lab else None,
            "time_scale": self.clock.time_scale,
            "host": {"python": platform.python_version(), "platform": platform.platform()},
            "instruments": {},
        }
        for name, driver in self.instruments.items():
            conf = self.config.instruments[name]
            entry: dict[str, Any] = {
                "role": conf.role,
                "driver": conf.driver,
                "address": driver.address,
                "safety": {k: v for k, v in asdict(conf.safety).items() if v is not None},
            }
            try:
                entry["identity"] = asdict(driver.identity())
                entry["settings"] = driver.snapshot()
            except InstrumentError as exc:
                entry["error"] = str(exc)
            station["instruments"][name] = entry
        return station

    # -- ending -----------------------------------------------------------------

    def safe_state(self, reason: str = "") -> list[str]:
        """Drive every instrument to its safe state, grid simulators first; returns the failures."""
        failures: list[str] = []
        order = sorted(self.instruments.items(), key=lambda kv: kv[1].role != "grid_simulator")
        for name, driver in order:
            try:
                driver.safe_state()
                self._on_event("safe_state", {"instrument": name, "ok": True, "reason": reason})
            except Exception as exc:  # every instrument gets its chance, whatever the others do
                failures.append(f"{name}: {exc}")
                self._on_event("safe_state", {"instrument": name, "ok": False, "error": str(exc), "reason": reason})
                log.error("safe state of %s failed: %s", name, exc)
        return failures

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            if self.controller is not None:  # the controller stops first: nothing writes to the site while it shuts
                try:
                    self.controller.stop()
                except Exception as exc:  # the instruments still go to their safe state
                    log.warning("stopping the controller failed: %s", exc)
            self.safe_state("bench closed")
        finally:
            for driver in self.instruments.values():
                try:
                    driver.close()
                except Exception as exc:
                    log.warning("closing %s failed: %s", driver.address, exc)
            if self.opcua is not None:
                self.opcua.close_devices()  # the bench's writes stop before the devices do
            if self.virtual_lab is not None:
                self.virtual_lab.stop()
                self._on_event("virtual_lab_stopped", self.virtual_lab.final_state())
            if self.csip is not None:
                self.csip.close()
            if self.opcua is not None:
                self.opcua.close()

    def __enter__(self) -> Bench:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
