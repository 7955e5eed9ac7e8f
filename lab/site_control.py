"""Driving a PCS site through the bench: conditions, PCS settings, steps and evidence.

Test plans for power control systems (UL 3141) and for site limits sent over
2030.5 share this: the bench sets the site's uncontrolled conditions with its
instruments (PV simulator, AC loads, the battery's own request) and programs
the PCS through its interface; the power analyzer at the PCC and on the
busbar is the reference the site is judged by.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pytest

from flexbench.instruments.roles import IVCurve
from flexbench.lab import evaluate
from flexbench.lab.clock import Clock
from flexbench.lab.profile import Section

if TYPE_CHECKING:
    from flexbench.lab.recorder import SampleLog


@dataclass
class Step:
    """Times of one step of a plan, bench seconds."""

    start_s: float
    t_step_s: float
    end_s: float


class SiteControl:
    """The site around a PCS, driven through the bench's instruments by role and name.

    The plan table gives nominal_voltage_v, nominal_frequency_hz, precondition_s, hold_s,
    pv_mpp_voltage_v and pv_fill_factor. AC loads are per-phase units programmed alike.
    """

    def __init__(
        self, bench: Any, plan: Section, recorder: SampleLog, clock: Clock, phases: int, response_time_s: float
    ) -> None:
        self.bench = bench
        self.plan = plan
        self.phases = phases
        self.response_time_s = response_time_s  # the window shaded on evidence plots
        self.recorder = recorder
        self.clock = clock
        self.pcs = bench.one("pcs")
        self.pv = bench.one("pv_simulator")
        self.load = bench.named("load")
        # a controller site has neither: its battery is commanded by the controller, it has no EV charger
        self.ev = bench.named("ev") if "ev" in bench.instruments else None
        self.battery = bench.named("battery") if "battery" in bench.instruments else None

    def energize(self) -> None:
        grid = self.bench.grid
        grid.set_voltage(self.plan.number("nominal_voltage_v"))
        grid.set_frequency(self.plan.number("nominal_frequency_hz"))
        grid.set_output(True)

    def program(
        self,
        mode: str = "unrestricted",
        *,
        export_limit_w: float | None = None,
        import_limit_w: float | None = None,
        current_limit_a: float | None = None,
    ) -> None:
        """Settings of the PCS; the limits are recorded as PCC power bounds (import positive)."""
        self.pcs.set_mode(mode)
        self.pcs.set_export_limit_w(export_limit_w)
        self.pcs.set_import_limit_w(import_limit_w)
        self.pcs.set_current_limit_a(current_limit_a)
        t = self.clock.now()
        export_bound = 0.0 if mode in ("import-only", "no-exchange") else export_limit_w
        import_bound = 0.0 if mode == "no-exchange" else import_limit_w
        nan = float("nan")
        self.recorder.record("limit.pcc_min_w", -export_bound if export_bound is not None else nan, t)
        self.recorder.record("limit.pcc_max_w", import_bound if import_bound is not None else nan, t)
        self.recorder.record("limit.busbar_a", current_limit_a if current_limit_a is not None else nan, t)
        self.recorder.event(
            "pcs_settings",
            mode=mode,
            export_limit_w=export_limit_w,
            import_limit_w=import_limit_w,
            current_limit_a=current_limit_a,
        )

    def _curve(self, power_w: float) -> IVCurve:
        vmp = self.plan.number("pv_mpp_voltage_v")
        ff = self.plan.number("pv_fill_factor")
        voc = vmp * 1.18
        imp = power_w / vmp
        return IVCurve(
            open_circuit_voltage_v=voc,
            short_circuit_current_a=power_w / (ff * voc),
            max_power_voltage_v=vmp,
            max_power_current_a=imp,
        )

    def _set_load(self, load, total_w: float) -> None:
        load.set_power_w(total_w / self.phases)  # three units programmed alike, one per phase
        load.set_input(total_w > 0)

    def conditions(self, *, pv_dc_w: float, load_w: float, ev_w: float = 0.0, battery_w: float = 0.0) -> None:
        """Uncontrolled conditions: PV available (DC), load, EV demand, battery request (+ discharge).

        On a site without an EV load or a battery with a request of its own (a controller
        site: its controller commands the battery) a test that needs one is skipped, saying why.
        """
        for what, value, inst in (
            ("EV charger load (instrument 'ev')", ev_w, self.ev),
            ("battery with a request of its own (instrument 'battery')", battery_w, self.battery),
        ):
            if value and inst is None:
                pytest.skip(f"bench {self.bench.config.name!r} has no {what}: this step cannot be made here")
        if pv_dc_w > 0:
            self.pv.set_curve(self._curve(pv_dc_w))
        self.pv.set_output(pv_dc_w > 0)
        self._set_load(self.load, load_w)
        if self.ev is not None:
            self._set_load(self.ev, ev_w)
        if self.battery is not None:
            self.battery.set_active_power_w(battery_w)
        t = self.clock.now()
        self.recorder.record_many(
            {"cond.pv_dc_w": pv_dc_w, "cond.load_w": load_w, "cond.ev_w": ev_w, "cond.battery_w": battery_w}, t
        )
        self.recorder.event("conditions", pv_dc_w=pv_dc_w, load_w=load_w, ev_w=ev_w, battery_w=battery_w)

    def _optional(self, key: str) -> float:
        """A stress key a site may do without (EV load, the battery's own request): 0 when absent."""
        return self.plan.number(key) if key in self.plan.data else 0.0

    def stress(self, side: str) -> None:
        """Conditions that take the site far past an export (import) limit, from the plan's
        `<side>_stress_pv_dc_w`, `_load_w` and, where the site has them, `_ev_w` and `_battery_w`."""
        self.conditions(
            pv_dc_w=self.plan.number(f"{side}_stress_pv_dc_w"),
            load_w=self.plan.number(f"{side}_stress_load_w"),
            ev_w=self._optional(f"{side}_stress_ev_w"),
            battery_w=self._optional(f"{side}_stress_battery_w"),
        )

    def settle(self) -> float:
        """Let the PCS settle under the current conditions; returns the start of the record."""
        start_s = self.clock.now()
        self.clock.sleep(self.plan.number("precondition_s"))
        return start_s

    def hold(self, start_s: float, t_step_s: float, hold_s: float | None = None) -> Step:
        self.clock.sleep(self.plan.number("hold_s") if hold_s is None else hold_s)
        return Step(start_s, t_step_s, self.clock.now())

    def series(self, channel: str, step: Step, scale: float = 1.0):
        t, v = self.recorder.series(channel, step.start_s, step.end_s)
        return t, v * scale

    def evidence(self, verdicts, step: Step, title: str, *, current: bool = False) -> None:
        """Evidence plot against the PCS's bounds, declared response window shaded."""
        response_time_s = self.response_time_s
        if current:
            channels = {"busbar.i_a": "busbar current (analyzer)"}
            steps = {"limit.busbar_a": "current setting"}
            units = {"unit_scale": 1.0, "ylabel": "current (A)"}
        else:
            channels = {"pcc.p_w": "PCC import (analyzer)", "busbar.p_w": "sources on the busbar (analyzer)"}
            steps = {"limit.pcc_min_w": "-export setting", "limit.pcc_max_w": "import setting"}
            units = {}
        verdicts.evidence(
            title=title,
            t_cmd_s=step.t_step_s,
            start_s=step.start_s,
            end_s=step.end_s,
            channels=channels,
            steps=steps,
            xlabel="time from the step (s, bench time)",
            windows=[
                {
                    "start_s": step.t_step_s,
                    "end_s": step.t_step_s + response_time_s,
                    "label": f"response window {response_time_s:g} s",
                }
            ],
            **units,
        )

    def record_limit(self, export_limit_w: float | None = None, import_limit_w: float | None = None) -> None:
        """A limit sent to the site, recorded as PCC bounds (import positive) for the evidence plot."""
        t = self.clock.now()
        nan = float("nan")
        self.recorder.record("limit.pcc_min_w", -export_limit_w if export_limit_w is not None else nan, t)
        self.recorder.record("limit.pcc_max_w", import_limit_w if import_limit_w is not None else nan, t)

    def held(
        self,
        verdicts,
        requirement_id: str,
        step: Step,
        *,
        start_s: float,
        end_s: float,
        limit_w: float,
        export: bool,
        label: str,
    ) -> None:
        """Check PCC export (or import) at or below a limit over [start_s, end_s]."""
        t, y = self.series("pcc.p_w", step, scale=-1.0 if export else 1.0)
        verdicts.check(
            evaluate.stays_at_or_below(
                requirement_id, t, y, start_s=start_s, end_s=end_s, limit=limit_w, t_cmd_s=step.t_step_s, label=label
            )
        )
