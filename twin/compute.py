"""Envelope computation for one interval: forecast point, headroom, allocation, checks.

Per interval: the forecast operating point is solved with regulators and
capacitors acting, then frozen (a site's change within the interval is faster
than the controls). Headroom per site comes from the fast method (sensitivities)
or the reference method (bisection with full power flows). Allocation shares
constraints among sites; a full power flow with every allocated limit applied at
once then checks the result and shrinks the sites that load a violated
constraint until nothing is violated. Nothing unchecked is returned.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

import numpy as np

from flexbench.twin.allocation import (
    ALLOCATIONS,
    JointRows,
    allocate,
    allocate_joint,
    constraint_rows,
    shared,
)
from flexbench.twin.controls import ControlState
from flexbench.twin.limits import (
    ACCEPT_TOL_PU,
    CAP,
    EXPORT,
    IMPORT,
    TARGET_INSIDE,
    Headroom,
    fast_headroom,
    held_limits,
    reference_headroom,
    usage,
    verify_single,
    violated,
)
from flexbench.twin.screening import TreeIndex
from flexbench.twin.sensitivity import LinearModel
from flexbench.twin.twin import INJECTION_MODELS, EffectiveLimits, Limits, State, Twin

METHODS = ("fast", "reference")
# Dense constraint testing up to this many (node x site) pairs; beyond, a radial
# feeder uses path screening (screening.py).
DENSE_LIMIT = 400_000


@dataclass(frozen=True)
class EnvelopeSettings:
    """How envelopes are computed (every number is a parameter)."""

    limits: Limits = field(default_factory=Limits)
    method: str = "fast"
    allocation: str = "equal"
    injection_model: str = INJECTION_MODELS[0]
    controls: ControlState = field(default_factory=ControlState)
    cap_factor: float = 20.0
    max_corrections: int = 8

    def __post_init__(self) -> None:
        if self.injection_model not in INJECTION_MODELS:
            raise ValueError(f"injection model {self.injection_model!r}: use one of {', '.join(INJECTION_MODELS)}")
        if self.method not in METHODS:
            raise ValueError(f"method {self.method!r}: use one of {', '.join(METHODS)}")
        if self.allocation not in (*ALLOCATIONS, "none"):
            raise ValueError(f"allocation {self.allocation!r}: use one of {', '.join(ALLOCATIONS)} (or none)")


@dataclass
class IntervalResult:
    """Headroom (W beyond forecast, >= 0) of the sites of one interval, and what binds."""

    import_headroom_w: np.ndarray
    export_headroom_w: np.ndarray
    binding_import: np.ndarray
    binding_export: np.ndarray
    forecast_net_w: np.ndarray
    verified: bool
    power_flows: int
    # the limit each binding constraint held (pu or A, nan for the cap), and whether
    # the base-violation rule set it (see limits.held_limits)
    limit_import: np.ndarray | None = None
    limit_export: np.ndarray | None = None
    rule_import: np.ndarray | None = None
    rule_export: np.ndarray | None = None


class IntervalEngine:
    """Computes envelopes interval by interval for one twin and one set of sites."""

    def __init__(self, twin: Twin, sites: np.ndarray, settings: EnvelopeSettings) -> None:
        self.twin = twin
        self.sites = np.asarray(sites, dtype=int)
        self.settings = settings
        m = twin.model
        rating = np.array([s.rating_w for s in m.sites])
        self.cap_w = settings.cap_factor * np.maximum(rating, 1000.0)
        self.weights = rating[self.sites]
        self.linear: LinearModel | None = None
        self.tree: TreeIndex | None = None
        # constraints that bound the last interval (and the linear model's miss on
        # them): the next interval of the same block starts from them
        self._carry: dict[str, tuple[np.ndarray, np.ndarray]] = {}

    def prepare(self, load_w: np.ndarray, pv_w: np.ndarray) -> None:
        """Build the sensitivities now (before worker processes fork from this one), at the
        forecast the first interval would build them at, so that the envelope is the same."""
        if self.linear is None:
            # the screening index is the feeder's static structure: built in a thread beside the
            # settle and the Z columns (the sparse solves release the GIL), it costs no wall time
            built: list[TreeIndex | BaseException] = []

            def build() -> None:
                try:
                    built.append(TreeIndex(self.twin.model, self.sites))
                except BaseException as exc:  # raised in the caller's thread below
                    built.append(exc)

            builder = threading.Thread(target=build, name="screening-index") if self._needs_tree() else None
            if builder is not None:
                builder.start()
            try:
                self._settle(load_w, pv_w)
                self._linear_model(build_tree=False)
            finally:
                if builder is not None:
                    builder.join()
            if builder is not None:
                if isinstance(built[0], BaseException):
                    raise built[0]
                self.tree = built[0]

    def _settle(
        self, load_w: np.ndarray, pv_w: np.ndarray, source_pu: float | None = None, reset: bool = True
    ) -> State:
        """The forecast solved with the controls acting: where an interval starts."""
        tw = self.twin
        tw.set_injection_model(self.settings.injection_model)
        tw.use_controls(self.settings.controls)
        if reset:
            tw.reset_controls()
            self._carry = {}
        if source_pu is not None:
            tw.set_source_pu(source_pu)
        tw.set_operating_point(load_w, pv_w)
        if reset:
            tw.start_from_direct_solution()
        return tw.solve_forecast()

    def _needs_tree(self) -> bool:
        """A radial feeder too large for dense constraint rows is screened along site paths."""
        m = self.twin.model
        return bool(m.radial and len(m.vnode_index) * len(self.sites) > DENSE_LIMIT)

    def _linear_model(self, build_tree: bool = True) -> LinearModel:
        if self.linear is None:
            q = self.twin.model.load_q_ratio if self.settings.injection_model == "load-pf" else None
            self.linear = LinearModel(self.twin, self.sites, q)
            if build_tree and self._needs_tree():
                self.tree = TreeIndex(self.twin.model, self.sites)
        return self.linear

    def interval(
        self,
        load_w: np.ndarray,
        pv_w: np.ndarray,
        source_pu: float | None = None,
        directions: tuple[str, ...] = (IMPORT, EXPORT),
        reset: bool = True,
    ) -> IntervalResult:
        """Envelope headroom of the engine's sites at one forecast (arrays over all sites).

        reset=False lets regulators and capacitors start from the previous
        interval's settled state (a quasi-static time series).
        """
        tw = self.twin
        st = self.settings
        base = self._settle(load_w, pv_w, source_pu, reset)
        eff = EffectiveLimits.from_state(st.limits, base, tw.model.thermal_rating_a, tw.model.vrow_ll)
        u0s = {d: usage(base, eff, d) for d in (IMPORT, EXPORT)}
        flows = 1
        sens = None
        if st.method == "fast":
            sens = self._linear_model().at(base.voltages)
            head = fast_headroom(tw, sens, base, eff, self.cap_w, tree=self.tree)
        else:
            head, k = self._reference(eff, directions)
            flows += k
        n = len(self.sites)
        out = {d: (np.zeros(n), np.full(n, CAP)) for d in (IMPORT, EXPORT)}
        verified = True
        for direction in directions:
            h = head.import_w if direction == IMPORT else head.export_w
            b = head.binding_import if direction == IMPORT else head.binding_export
            u0 = u0s[direction]
            if st.allocation == "none":
                x, b, ok, k = self._single(direction, h, b, u0, eff)
            else:
                x, b, ok, k = self._joint(direction, h, b, u0, eff, base, sens)
            verified &= ok
            flows += k
            out[direction] = (x, b)
        tw.clear_deltas()
        rating = tw.model.thermal_rating_a
        held = {d: held_limits(eff, st.limits, rating, out[d][1], d) for d in (IMPORT, EXPORT)}
        return IntervalResult(
            out[IMPORT][0],
            out[EXPORT][0],
            out[IMPORT][1],
            out[EXPORT][1],
            tw.net_forecast_w[self.sites].copy(),
            verified,
            flows,
            held[IMPORT][0],
            held[EXPORT][0],
            held[IMPORT][1],
            held[EXPORT][1],
        )

    # -- single-site envelopes --------------------------------------------------------
    def _reference(self, eff: EffectiveLimits, directions) -> tuple[Headroom, int]:
        n = len(self.sites)
        head = Headroom(np.zeros(n), np.zeros(n), np.full(n, CAP), np.full(n, CAP))
        flows = 0
        rating = np.array([self.twin.model.sites[s].rating_w for s in self.sites])
        for p, s in enumerate(self.sites):
            for direction in directions:
                x, code, k = reference_headroom(
                    self.twin, s, direction, eff, start_w=max(rating[p] / 4, 1000.0), cap_w=self.cap_w[s]
                )
                flows += k
                if direction == IMPORT:
                    head.import_w[p], head.binding_import[p] = x, code
                else:
                    head.export_w[p], head.binding_export[p] = x, code
        return head, flows

    def _single(self, direction, h, binding, u0, eff):
        """Per-site check (and correction) of single-site headroom by full power flow."""
        x = h.copy()
        codes = binding.copy()
        flows = 0
        if self.settings.method == "reference":
            return x, codes, True, flows  # bisection only returns checked values
        for p, s in enumerate(self.sites):
            val, code, k = verify_single(self.twin, s, direction, h[p], u0, eff, cap_w=self.cap_w[s])
            # at the cap nothing bound below it; a power flow may still find what does
            codes[p] = CAP if h[p] >= self.cap_w[s] and val >= h[p] else code
            flows += k
            x[p] = val
        return x, codes, True, flows

    # -- allocation and joint check ------------------------------------------------------

    def _finite_difference_rows(self, direction, h, u0, eff) -> JointRows:
        """Usage per W from one full power flow per site (the reference's linear model)."""
        tw = self.twin
        sign = 1.0 if direction == IMPORT else -1.0
        cols = []
        for p, s in enumerate(self.sites):
            step = float(min(max(h[p], 1.0), max(1000.0, 0.05 * h[p])))
            tw.set_site_delta(np.array([s]), np.array([sign * step]))
            st = tw.solve_frozen()
            tw.set_site_delta(np.array([s]), np.array([0.0]))
            with np.errstate(invalid="ignore"):
                cols.append(np.nan_to_num((usage(st, eff, direction) - u0) / step, nan=0.0))
        full = np.array(cols).T
        risky = np.flatnonzero(u0 + np.clip(full, 0, None) @ np.where(np.isfinite(h), h, 0.0) > 0.5 * u0)
        self._fd_full = full
        return JointRows(risky, full[risky], np.maximum(-u0[risky], 0.0))

    def _rows_for(self, codes, direction, eff, base, sens, x=None, u=None, u0=None) -> np.ndarray:
        """Usage per W of constraints a power flow found broken.

        First-order where it explains at least half of what the power flow saw;
        otherwise (a current reversing, a voltage turning) bounded from above by
        the magnitude of the phasor change.
        """
        if sens is not None:
            first = constraint_rows(self.twin.model, sens, base, eff, codes, direction)
            bound = constraint_rows(self.twin.model, sens, base, eff, codes, direction, conservative=True)
        else:
            first = self._fd_full[codes]
            bound = np.abs(first)
        if x is None:
            return bound
        seen = u[codes] - u0[codes]
        explained = first @ x >= 0.5 * seen
        return np.where(explained[:, None], first, bound)

    def _joint(self, direction, h, binding, u0, eff, base, sens):
        """Allocate, check by full power flow, correct; never returns an unchecked value.

        Correction first re-allocates with the linear model's error (measured by
        the power flow on the violated constraints) taken off their margins, which
        keeps the allocation's shape (equal stays equal); if that does not settle,
        the users of violated constraints are scaled back.
        """
        st = self.settings
        tw = self.twin
        bias = np.zeros(len(u0))
        rows = None
        if sens is None:
            rows = self._finite_difference_rows(direction, h, u0, eff)
        elif direction in self._carry:
            prev_codes, prev_bias = self._carry[direction]
            bias[prev_codes] = 0.5 * prev_bias
            prev_s = constraint_rows(tw.model, sens, base, eff, prev_codes, direction)
            rows = JointRows(
                prev_codes,
                prev_s,
                np.zeros(len(prev_codes)),
                shared(prev_s, np.maximum(-u0[prev_codes] - bias[prev_codes], 0.0), h),
            )
        sign = 1.0 if direction == IMPORT else -1.0
        flows = 0
        verified = False
        x = np.zeros(len(h))
        codes = binding.copy()
        reallocations = max(st.max_corrections // 2, 1)
        for attempt in range(st.max_corrections + 1):
            if attempt < reallocations:
                if sens is not None:
                    x, stop_code, rows = allocate_joint(
                        tw.model,
                        sens,
                        base,
                        eff,
                        u0,
                        h,
                        self.weights,
                        st.allocation,
                        direction,
                        start=rows,
                        bias=bias,
                    )
                else:
                    adj = JointRows(rows.codes, rows.s, np.maximum(rows.margin - bias[rows.codes], 0.0))
                    x, stop = allocate(adj, h, self.weights, st.allocation)
                    stop_code = (
                        np.where(stop >= 0, rows.codes[np.maximum(stop, 0)], -1)
                        if len(rows.codes)
                        else np.full(len(x), -1)
                    )
                codes = np.where(stop_code >= 0, stop_code, binding)
            tw.set_site_delta(self.sites, sign * x)
            state = tw.solve_frozen()
            flows += 1
            u = usage(state, eff, direction)
            if not violated(u, state.converged):
                verified = True
                break
            if not x.any():
                break
            if not state.converged:
                x *= 0.5
                continue
            bad = np.flatnonzero(u > ACCEPT_TOL_PU)
            bad = bad[np.argsort(-u[bad])][:64]
            s = self._rows_for(bad, direction, eff, base, sens, x, u, u0)
            if attempt + 1 < reallocations:
                # the linear model's miss on each violated constraint, taken off its margin
                predicted = u0[bad] + s @ x
                bias[bad] += np.maximum(u[bad] - predicted, 0.0) + TARGET_INSIDE
                if rows is not None:
                    # broken constraints enter (or replace theirs) with the bounded usage
                    keep = ~np.isin(rows.codes, bad)
                    rows = JointRows(
                        np.concatenate([rows.codes[keep], bad]),
                        np.vstack([rows.s[keep], s]),
                        np.concatenate([rows.margin[keep], np.maximum(-u0[bad], 0.0)]),
                        None
                        if rows.s_share is None
                        else np.vstack([rows.s_share[keep], shared(s, np.maximum(-u0[bad], 0.0), h)]),
                    )
                continue
            factor = np.ones(len(x))
            for j, c in enumerate(bad):
                users = s[j] > 0
                load = float(s[j] @ x)
                excess = u[c] + TARGET_INSIDE
                f = 0.0 if load <= 1e-15 else max(0.0, 1.0 - 1.1 * excess / load)
                lower = users & (factor > f)
                factor[lower] = f
                codes[lower] = c
            if not (factor < 1).any():
                # no site loads the violated constraint in the linear model: shrink all
                factor[:] = 0.5
            if attempt >= st.max_corrections - 2:
                factor = np.where(factor < 1, 0.0, 1.0)
            x = x * factor
        if sens is not None and rows is not None and len(rows.codes):
            used = (rows.s_share if rows.s_share is not None else rows.s) @ x
            hot = rows.codes[used >= 0.5 * np.maximum(-u0[rows.codes] - bias[rows.codes], 0.0)]
            self._carry[direction] = (hot, bias[hot])
        if not verified:
            # the forecast point itself is within limits by construction
            x = np.zeros(len(x))
            tw.set_site_delta(self.sites, x)
            state = tw.solve_frozen()
            flows += 1
            verified = not violated(usage(state, eff, direction), state.converged)
        tw.clear_deltas()
        return x, codes, verified, flows
