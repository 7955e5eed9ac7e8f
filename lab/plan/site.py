"""The site around a device under test, set through the bench's instruments: the conditions of a plan.

The grid simulator sets voltage and frequency; the PV simulator, the AC
loads (per-phase units programmed alike), the EV charger load and the
battery's own request set what the site would do uncontrolled; the PCS is
programmed through its own interface. Each setting is recorded as a channel
(`cond.*`, `limit.*`) and an event, so the evidence shows what the site was
asked to do.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from typing import Any

import pytest

from flexbench.core import SiteLimits, channels
from flexbench.instruments.roles import IVCurve, SettingNotTaken
from flexbench.lab.plan.params import PlanParams

log = logging.getLogger("flexbench.plan")
NAN = float("nan")


class SiteParams(PlanParams):
    """What every plan on a PCS site sets: the grid at nominal, the PV simulator's curve, the settling time."""

    nominal_voltage_v: float
    nominal_frequency_hz: float
    precondition_s: float
    """Conditions set, before each step: the site settles."""
    pv_mpp_voltage_v: float
    """PV simulator curve: Vmp fixed, Imp scaled to the wanted power."""
    pv_fill_factor: float
    """Vmp x Imp / (Voc x Isc) of the simulated array."""


@dataclass(frozen=True, kw_only=True)
class Conditions:
    """What the site would do uncontrolled: PV available (DC), load, EV demand, battery request (+ discharge)."""

    pv_dc_w: float = 0.0
    load_w: float = 0.0
    ev_w: float = 0.0
    battery_w: float = 0.0


class StressParams(SiteParams):
    """Conditions that take the site far past an export (import) limit; EV and battery optional (0)."""

    export_stress_pv_dc_w: float
    export_stress_load_w: float
    export_stress_ev_w: float = 0.0
    export_stress_battery_w: float = 0.0
    import_stress_pv_dc_w: float
    import_stress_load_w: float
    import_stress_ev_w: float = 0.0
    import_stress_battery_w: float = 0.0

    def stress(self, side: str) -> Conditions:
        if side == "export":
            return Conditions(
                pv_dc_w=self.export_stress_pv_dc_w,
                load_w=self.export_stress_load_w,
                ev_w=self.export_stress_ev_w,
                battery_w=self.export_stress_battery_w,
            )
        if side == "import":
            return Conditions(
                pv_dc_w=self.import_stress_pv_dc_w,
                load_w=self.import_stress_load_w,
                ev_w=self.import_stress_ev_w,
                battery_w=self.import_stress_battery_w,
            )
        raise ValueError(f"side must be 'import' or 'export', got {side!r}")


class Site:
    """The site around a PCS, driven through the bench's instruments by role and name."""

    def __init__(self, bench: Any, recorder: Any, clock: Any, params: SiteParams, *, phases: int) -> None:
        self.bench = bench
        self.recorder = recorder
        self.clock = clock
        self.params = params
        self.phases = phases
        self.pcs = bench.one("pcs")
        self.pv = bench.one("pv_simulator")
        self.load = bench.named("load")
        # a controller site has neither: its battery is commanded by the controller, it has no EV charger
        self.ev = bench.named("ev") if "ev" in bench.instruments else None
        self.battery = bench.named("battery") if "battery" in bench.instruments else None

    # -- conditions --------------------------------------------------------------------

    def set_grid(self, *, voltage_v: float, frequency_hz: float) -> None:
        """Grid simulator output at this voltage and frequency."""
        grid = self.bench.grid
        grid.set_voltage(voltage_v)
        grid.set_frequency(frequency_hz)
        grid.set_output(True)
        self.recorder.event("grid", voltage_v=voltage_v, frequency_hz=frequency_hz)

    def energize(self) -> None:
        """The grid at nominal, from the plan's values."""
        self.set_grid(voltage_v=self.params.nominal_voltage_v, frequency_hz=self.params.nominal_frequency_hz)

    def under_utility(self) -> Site:
        """The grid at nominal and the PCS's own settings out of the way: the utility's signals govern."""
        self.energize()
        self.program("unrestricted")
        return self

    def set_conditions(self, conditions: Conditions) -> None:
        """Uncontrolled conditions of the site.

        On a site without an EV load or a battery with a request of its own (a controller
        site: its controller commands the battery) a test that needs one is skipped, saying why.
        """
        c = conditions
        for what, value, inst in (
            ("EV charger load (instrument 'ev')", c.ev_w, self.ev),
            ("battery with a request of its own (instrument 'battery')", c.battery_w, self.battery),
        ):
            if value and inst is None:
                pytest.skip(f"bench {self.bench.config.name!r} has no {what}: this step cannot be made here")
        if c.pv_dc_w > 0:
            self.pv.set_curve(self._curve(c.pv_dc_w))
        self.pv.set_output(c.pv_dc_w > 0)
        self._set_load(self.load, c.load_w)
        if self.ev is not None:
            self._set_load(self.ev, c.ev_w)
        if self.battery is not None:
            self.battery.set_active_power_w(c.battery_w)
        t = self.clock.now()
        self.recorder.record_many(
            {
                channels.COND_PV_DC_W: c.pv_dc_w,
                channels.COND_LOAD_W: c.load_w,
                channels.COND_EV_W: c.ev_w,
                channels.COND_BATTERY_W: c.battery_w,
            },
            t,
        )
        self.recorder.event("conditions", **asdict(c))

    def stress(self, side: str) -> None:
        """Conditions that take the site far past an export (import) limit, from the plan's stress values."""
        if not isinstance(self.params, StressParams):
            raise TypeError(f"{type(self.params).__name__} has no stress conditions: derive it from StressParams")
        self.set_conditions(self.params.stress(side))

    def _curve(self, power_w: float) -> IVCurve:
        vmp = self.params.pv_mpp_voltage_v
        voc = vmp * 1.18
        return IVCurve(
            open_circuit_voltage_v=voc,
            short_circuit_current_a=power_w / (self.params.pv_fill_factor * voc),
            max_power_voltage_v=vmp,
            max_power_current_a=power_w / vmp,
        )

    def _set_load(self, load: Any, total_w: float) -> None:
        load.set_power_w(total_w / self.phases)  # units programmed alike, one per phase
        load.set_input(total_w > 0)

    # -- limits ------------------------------------------------------------------------

    def program(
        self, mode: str = "unrestricted", limits: SiteLimits | None = None, *, current_limit_a: float | None = None
    ) -> None:
        """Settings of the PCS (its own transport for limits); recorded as PCC bounds (import positive)."""
        limits = limits or SiteLimits()
        try:
            self.pcs.program(mode, limits.export_limit_w, limits.import_limit_w, current_limit_a)
        except SettingNotTaken as exc:
            pytest.skip(f"not applicable: {exc}")
        export_bound = 0.0 if mode in ("import-only", "no-exchange") else limits.export_limit_w
        import_bound = 0.0 if mode == "no-exchange" else limits.import_limit_w
        self.show_limit(SiteLimits(import_limit_w=import_bound, export_limit_w=export_bound))
        self.recorder.record(
            channels.LIMIT_BUSBAR_A, current_limit_a if current_limit_a is not None else NAN, self.clock.now()
        )
        self.recorder.event(
            "pcs_settings",
            mode=mode,
            export_limit_w=limits.export_limit_w,
            import_limit_w=limits.import_limit_w,
            current_limit_a=current_limit_a,
        )

    def show_limit(self, limits: SiteLimits | None = None) -> None:
        """The limits in force at the PCC from now on, recorded for the evidence plot (None: no limit)."""
        limits = limits or SiteLimits()
        t = self.clock.now()
        self.recorder.record(
            channels.LIMIT_PCC_MIN_W, -limits.export_limit_w if limits.export_limit_w is not None else NAN, t
        )
        self.recorder.record(
            channels.LIMIT_PCC_MAX_W, limits.import_limit_w if limits.import_limit_w is not None else NAN, t
        )
