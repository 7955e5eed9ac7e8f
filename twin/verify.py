"""Independent check of published envelopes: every site at its limit at once, full power flow.

This does not reuse the computation's internals: for each interval it solves the
forecast with controls, freezes them, puts every site at its import limit (then
every site at its export limit) and reports the worst constraint usage. A usage
above CHECK_TOL_PU (pu, or fraction of a rating) is a violation.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from flexbench.twin.envelope import EnvelopeSet
from flexbench.twin.limits import CHECK_TOL_PU, binding_name, usage
from flexbench.twin.operating_envelopes import BLOCK_INTERVALS
from flexbench.twin.twin import EffectiveLimits, Limits, Twin


@dataclass
class CheckReport:
    """Worst usage per interval when all sites sit at their import / export limits."""

    worst_import: np.ndarray
    worst_export: np.ndarray
    worst_import_constraint: list[str] = field(default_factory=list)
    worst_export_constraint: list[str] = field(default_factory=list)
    converged: bool = True

    @property
    def ok(self) -> bool:
        return self.converged and bool(
            np.all(self.worst_import <= CHECK_TOL_PU) and np.all(self.worst_export <= CHECK_TOL_PU)
        )

    def summary(self) -> str:
        k_i = int(np.argmax(self.worst_import))
        k_e = int(np.argmax(self.worst_export))
        return (
            f"import: worst usage {self.worst_import[k_i]:+.2e} at interval {k_i} "
            f"({self.worst_import_constraint[k_i]}); export: worst usage "
            f"{self.worst_export[k_e]:+.2e} at interval {k_e} ({self.worst_export_constraint[k_e]})"
        )


def check_envelope(
    twin: Twin,
    env: EnvelopeSet,
    load_w: np.ndarray,
    pv_w: np.ndarray,
    export_load_w: np.ndarray | None = None,
    export_pv_w: np.ndarray | None = None,
    limits: Limits | None = None,
    block: int = BLOCK_INTERVALS,
) -> CheckReport:
    """Apply every site's limits at once per interval and measure the worst usage.

    load_w/pv_w: (intervals x all sites) operating points the envelope was made
    for; static envelopes pass their export worst case separately.
    """
    limits = limits or limits_of(env)
    # envelopes from before the injection model was recorded used unity power factor
    twin.set_injection_model(env.injection_model or "unity")
    sites = twin.site_numbers(env.site_ids)
    export_load_w = load_w if export_load_w is None else export_load_w
    export_pv_w = pv_w if export_pv_w is None else export_pv_w
    nt = env.shape[1]
    worst = {"import": np.zeros(nt), "export": np.zeros(nt)}
    names: dict[str, list[str]] = {"import": [], "export": []}
    converged = True
    for direction, loads, pvs in (("import", load_w, pv_w), ("export", export_load_w, export_pv_w)):
        for t in range(nt):
            # the same control sequence as the computation: warm within a block
            if t % block == 0:
                twin.reset_controls()
            eff = forecast_limits(twin, limits, loads[t], pvs[t])
            forecast = twin.net_forecast_w[sites]
            if direction == "import":
                delta = env.import_limit_w[:, t] - forecast
            else:
                delta = -env.export_limit_w[:, t] - forecast
            twin.set_site_delta(sites, delta)
            state = twin.solve_frozen()
            converged &= state.converged
            u = usage(state, eff, direction)
            k = int(np.argmax(u))
            worst[direction][t] = u[k]
            names[direction].append(binding_name(twin.model, k))
            twin.clear_deltas()
    return CheckReport(worst["import"], worst["export"], names["import"], names["export"], converged)


def forecast_limits(twin: Twin, limits: Limits, load_w: np.ndarray, pv_w: np.ndarray) -> EffectiveLimits:
    """Solve an interval's forecast with controls acting (from where they stand) and give its limits."""
    twin.set_operating_point(load_w, pv_w)
    base = twin.solve_forecast()
    return EffectiveLimits.from_state(limits, base, twin.model.thermal_rating_a, twin.model.vrow_ll)


def limits_of(env: EnvelopeSet) -> Limits:
    """The feeder limits an envelope records that it was computed under (defaults where it predates them)."""
    default = Limits()
    tol_pu, tol_fraction = env.base_violation_tolerance_pu, env.base_violation_tolerance_fraction
    return Limits(
        vmin_pu=env.vmin_pu,
        vmax_pu=env.vmax_pu,
        vmin_ll_pu=env.vmin_ll_pu if np.isfinite(env.vmin_ll_pu) else None,
        vmax_ll_pu=env.vmax_ll_pu if np.isfinite(env.vmax_ll_pu) else None,
        base_violation_rule=env.base_violation_rule or default.base_violation_rule,
        base_violation_tolerance_pu=tol_pu if np.isfinite(tol_pu) else default.base_violation_tolerance_pu,
        base_violation_tolerance_fraction=(
            tol_fraction if np.isfinite(tol_fraction) else default.base_violation_tolerance_fraction
        ),
    )
