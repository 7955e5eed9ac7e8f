"""Several homes behind one shared service transformer, for an aggregator under test.

Each home is an emulated controller site (controller_site.ControllerSiteBench):
its own PCC meter (SunSpec 201, single phase) and PV, battery and EV charger
inverters (SunSpec 7xx; the EV charger is a storage DER whose own request is
a charge, never a discharge), each a Modbus server on a loopback port chosen
at run time. The homes are the aggregator's, not the bench's: the bench never
talks to them. The bench measures each home's PCC and the transformer (the sum
of the homes) with its power analyzer: `measures = { transformer = 1, home1 = 2, ... }`.

The utility side (utility.py, in the run): the bench's 2030.5 server
registers the aggregator's certificate as an aggregator and every home as a
site it manages (one EndDevice each, an LFDI of its own), and the plans
publish each home's envelope: its share of the transformer's rating
(transformer.allocate_capacity, equal, proportional or max-total as
[virtual.transformer] allocation says).
The bench writes `aggregator-site.toml` into the run folder (site_file.py):
where each home's devices answer, each home's LFDI and own limits, the
2030.5 server and the aggregator's certificate, the bench clock.

Conditions and faults the plans set (operator actions): ``load:HOME:W`` (the
home's uncontrolled load), ``ev:HOME:W`` (what its EV asks to charge),
``battery:HOME:W`` (its battery's own request, + discharge),
``irradiance:HOME:PU``, ``home-silent:HOME`` / ``home-restore:HOME`` (every
device of the home stops answering the aggregator: its communication lost).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from flexbench.instruments.emulators import EMULATORS
from flexbench.lab.bench_config import BenchConfig, BenchError, InstrumentConfig
from flexbench.lab.clock import Clock
from flexbench.lab.virtual.aggregator_site import aggregator_fault_names
from flexbench.lab.virtual.aggregator_site.config import HomeSpec, parse_homes, parse_transformer, plain_error
from flexbench.lab.virtual.aggregator_site.site_file import write_aggregator_site_file
from flexbench.lab.virtual.controller_site.site import ControllerSiteBench
from flexbench.lab.virtual.controller_site.wire_log import WireLog
from flexbench.lab.virtual.pcs_bench import element_reading

TRANSFORMER = "transformer"
SITE_ACTIONS = (
    "load:HOME:W",
    "ev:HOME:W",
    "battery:HOME:W",
    "irradiance:HOME:PU",
    "home-silent:HOME",
    "home-restore:HOME",
)
_PLANT_KEYS = {"nominal_voltage_v", "nominal_frequency_hz", "inverter_efficiency", "device_time_constant_s"}
_PLANT_KEYS |= {"battery_soc_pct", "irradiance_pu"}


def _home_devices(home: HomeSpec) -> dict[str, dict[str, Any]]:
    devices: dict[str, dict[str, Any]] = {
        f"{home.name}-meter": {
            "kind": "meter",
            "family": "sunspec",
            "model": 201,
            "rated_w": home.service_import_limit_w,
        }
    }
    for kind, rated_w in (("pv", home.pv_w), ("battery", home.battery_w), ("ev", home.ev_w)):
        if rated_w > 0:  # the EV charger: a storage DER (charge caps and setpoints as a battery's)
            devices[f"{home.name}-{kind}"] = {"kind": "pv" if kind == "pv" else "battery", "rated_w": rated_w}
    return devices


class AggregatorSiteBench:
    """The virtual lab's site kind "aggregator"."""

    report_sections = ("flexbench.lab.virtual.controller_site.wire_log:summary_html",)

    def __init__(
        self,
        config: BenchConfig,
        virtual: dict[str, Any],
        clock: Clock,
        dut_profile: str,
        csip: Any = None,
        work_dir: Path | None = None,
    ) -> None:
        unknown = set(virtual) - {"plant", "transformer", "homes"}
        if unknown:
            raise BenchError(
                f"{config.path} [virtual]: unknown table(s) {', '.join(sorted(unknown))} "
                '(known for site = "aggregator": plant, transformer, homes)'
            )
        known_profiles = aggregator_fault_names()
        if dut_profile not in known_profiles:
            raise BenchError(
                f"{config.path}: unknown DUT profile {dut_profile!r} for an aggregator site "
                f"(known: {', '.join(known_profiles)})"
            )
        if config.controller is None or config.controller.csip_device is None or csip is None:
            raise BenchError(
                f"{config.path}: the aggregator site needs [signals.csip] and a [controller] with csip_device "
                "(the aggregator's identity on the bench's 2030.5 server)"
            )
        plant = dict(virtual.get("plant", {}))
        bad = set(plant) - _PLANT_KEYS
        if bad:
            raise BenchError(
                f"{config.path} [virtual.plant]: unknown key(s) {', '.join(sorted(bad))} "
                f"(known for an aggregator site: {', '.join(sorted(_PLANT_KEYS))}; homes are single phase)"
            )
        self.config = config
        self.clock = clock
        self.dut_profile = dut_profile
        self.csip = csip
        self.work_dir = work_dir
        error = plain_error(config.path)  # the bench file's reader has named any mistake with its line already
        self.transformer = parse_transformer(error, virtual.get("transformer"))
        self.specs = {h.name: h for h in parse_homes(error, virtual.get("homes"))}
        self.wire_log = WireLog(work_dir)
        self.homes: dict[str, ControllerSiteBench] = {}
        for name, home in self.specs.items():
            table = {"plant": {**plant, "phases": 1, "load_w": home.load_w}, "site_devices": _home_devices(home)}
            site = ControllerSiteBench(config, table, clock, "healthy", None)
            site.wire_log = self.wire_log  # one wire log for the run: device names carry the home
            self.homes[name] = site
        self.lfdis: dict[str, str] = {}
        self.emulators: dict[str, Any] = {}
        self._started = False

    # -- the bench's instruments ----------------------------------------------------------------
    def make_emulator(self, inst: InstrumentConfig) -> Any:
        if inst.role != "power_analyzer":
            raise BenchError(
                f"{self.config.path} [instruments.{inst.name}]: the aggregator site has no virtual {inst.role}: "
                "its homes' devices are the aggregator's; the bench measures with a power analyzer"
            )
        measures = dict(inst.measures or {})
        points = set(self.homes) | {TRANSFORMER}
        if not measures or set(measures) - points:
            raise BenchError(
                f"{self.config.path} [instruments.{inst.name}]: measures must name the points it is wired to: "
                f"{TRANSFORMER} and the homes ({', '.join(self.homes)}), got {', '.join(measures) or 'none'}"
            )
        emu = EMULATORS[inst.driver](elements=tuple(sorted(measures.values())), clock=self.clock)
        emu.source = lambda: {e: self._element(point) for point, e in measures.items()}
        self.emulators[inst.role] = emu
        return emu

    def _element(self, point: str) -> Any:
        v = next(iter(self.homes.values())).params.nominal_voltage_v
        f = next(iter(self.homes.values())).params.nominal_frequency_hz
        return element_reading(v, self.pcc_import_w(point), f, 1)

    def pcc_import_w(self, point: str) -> float:
        """A home's PCC import, or the transformer's (the sum of the homes'), W."""
        if point == TRANSFORMER:
            return sum(home.pcc_import_w() for home in self.homes.values())
        return self.homes[point].pcc_import_w()

    # -- physics -----------------------------------------------------------------------------------
    def step(self, now_s: float, dt_s: float) -> None:
        for home in self.homes.values():
            home.step(now_s, dt_s)

    # -- the homes on their addresses, the aggregator's identity and site file ---------------------------
    def start_links(self) -> None:
        """Serve every home's devices and write the aggregator's site file: after the bench's instruments and
        2030.5 server, before the aggregator starts. Each home gets an LFDI of its own from the bench's test PKI;
        the run registers them on the server (utility.register_group)."""
        for home in self.homes.values():
            home.start_links()
        for name in self.specs:
            try:
                ident = self.csip.pki.device_identity(f"site-{name}")
            except FileNotFoundError:
                ident = self.csip.pki.device(f"site-{name}")
            self.lfdis[name] = ident.lfdi
        if self.work_dir is not None:
            write_aggregator_site_file(Path(self.work_dir), self, self._utility())

    def _utility(self) -> dict[str, Any]:
        ctl = self.config.controller
        assert ctl is not None and ctl.csip_device is not None
        utility: dict[str, Any] = {
            "url": self.csip.url,
            "ca": str(self.csip.pki.ca_cert_path),
            "ciphers": ctl.ciphers,
            "lfdi": self.csip.lfdis[ctl.csip_device],
            "poll_rate_s": float(self.csip.config.poll_rate_s),
        }
        try:
            ident = self.csip.identity(ctl.csip_device)
            utility.update(cert=str(ident.cert_path), key=str(ident.key_path))
        except FileNotFoundError:
            pass  # a real aggregator holds its own certificate and key
        return utility

    def stop_links(self) -> None:
        for home in self.homes.values():
            home.stop_links()
        self._started = False

    def site_map(self) -> dict[str, Any]:
        """The transformer and each home (LFDI, own limits, devices), valid once the lab started. No single
        meter or inverters: a site controller's site file has none here (the aggregator's is aggregator-site.toml)."""
        t = self.transformer
        return {
            "meter": None,
            "inverters": [],
            "transformer": {"name": t.name, "rating_w": t.rating_w, "allocation": t.allocation},
            "homes": {
                name: {
                    "lfdi": self.lfdis.get(name),
                    "service_import_limit_w": spec.service_import_limit_w,
                    "service_export_limit_w": spec.service_export_limit_w,
                    **self.homes[name].site_map(),
                }
                for name, spec in self.specs.items()
            },
        }

    # -- for the bench and the plans -----------------------------------------------------------------
    def truth(self) -> dict[str, Any]:
        """The plant's present values: the transformer's import (as the PCC), each home's and each device's."""
        devices: dict[str, Any] = {}
        homes = {}
        for name, home in self.homes.items():
            t = home.truth()
            homes[name] = t["pcc_p_w"]
            devices.update(t["devices"])
        return {
            "t_s": self.clock.now(),
            "pcc_p_w": sum(homes.values()),
            "homes_p_w": homes,
            "devices": devices,
        }

    def write_findings(self, start_s: float, end_s: float) -> list[str]:
        return [line for home in self.homes.values() for line in home.write_findings(start_s, end_s)]

    def operator_action(self, action: str) -> None:
        verb, _, rest = action.partition(":")
        name, _, value_text = rest.partition(":")
        home = self.homes.get(name)
        try:
            value = float(value_text) if value_text else math.nan
        except ValueError:
            value = math.nan
        if home is not None and verb in ("home-silent", "home-restore") and not value_text:
            responding = verb == "home-restore"
            for emu in home._site_emulators().values():
                emu.responding = responding
            return
        if home is not None and math.isfinite(value):
            inverters = home.inverters
            if verb == "load" and value >= 0:
                home.params.load_w = value
                return
            if verb == "irradiance" and value >= 0:
                home.params.irradiance_pu = value
                return
            if verb == "ev" and value >= 0 and f"{name}-ev" in inverters:
                inverters[f"{name}-ev"].own_request_w = -value  # a charge
                return
            if verb == "battery" and f"{name}-battery" in inverters:
                inverters[f"{name}-battery"].own_request_w = value
                return
        raise BenchError(
            f"the aggregator site has no operator action {action!r} (actions: {', '.join(SITE_ACTIONS)}; "
            f"homes: {', '.join(self.homes)})"
        )

    def final_state(self) -> dict[str, Any]:
        return {
            "transformer_import_w": self.pcc_import_w(TRANSFORMER),
            "homes": {name: home.final_state() for name, home in self.homes.items()},
        }


__all__ = ["TRANSFORMER", "AggregatorSiteBench"]
