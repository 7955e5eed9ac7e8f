"""Sharing headroom among sites that use the same constraints at the same time.

Single-site headroom assumes every other site stays at its forecast. When every
site may use its envelope at once, constraints they share (a service
transformer, a lateral, a feeder-end voltage) must hold for the sum. The joint
problem is linearized: usage_c(x) = u0_c + sum_s S_cs x_s <= 0, 0 <= x_s <= h_s.

- equal: max-min fair (water-filling): everyone rises at the same rate; a site
  stops at its own headroom or when a constraint it loads becomes tight.
- proportional: the same, with each site rising in proportion to its rating.
- max-total: the largest sum of headroom (linear program).

Full power flows then check the result (see compute.py).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from flexbench.twin.limits import IMPORT
from flexbench.twin.sensitivity import IntervalSensitivity
from flexbench.twin.twin import EffectiveLimits, State

ALLOCATIONS = ("equal", "proportional", "max-total")
# A site shares a constraint when its usage per W is at least this fraction of the
# largest user's. Weaker couplings (a phase-A site and a phase-B conductor, a far
# site and a neighbour's service voltage) are left out of the fair sharing; the
# full power flow check catches what they add and scales the users back.
SHARE_THRESHOLD = 0.02


@dataclass
class JointRows:
    """Linearized constraints of one direction: codes, usage per W (rows x sites), margins.

    s_share: s with weak couplings cut (see shared()), kept to avoid recomputing.
    """

    codes: np.ndarray
    s: np.ndarray
    margin: np.ndarray
    s_share: np.ndarray | None = None


def constraint_rows(
    model,
    sens: IntervalSensitivity,
    base: State,
    eff: EffectiveLimits,
    codes: np.ndarray,
    direction: str,
    conservative: bool = False,
) -> np.ndarray:
    """First-order usage change per W of the direction, for constraint codes (rows x sites).

    conservative=True bounds the change by the magnitude of the phasor change
    (|dV|, |dI|): never below the first-order value, and right when a current
    reverses or a voltage turns. Used for constraints a power flow found broken.
    """
    vn = model.vnode_index
    nv = len(vn)
    codes = np.asarray(codes, dtype=int)
    out = np.zeros((len(codes), len(sens.linear.sites)))
    sign = 1.0 if direction == IMPORT else -1.0
    isv = codes < 2 * nv
    if isv.any():
        vrow = np.where(codes[isv] < nv, codes[isv], codes[isv] - nv)
        dv = sens.vrow_rows(vrow) * sens.import_factor(np.arange(out.shape[1]), direction)
        a = model.row_voltages(base.voltages, vrow)
        u = np.conj(a / np.abs(a))
        dmag = (u[:, None] * dv).real
        low = codes[isv] < nv
        out[isv] = np.where(low[:, None], -dmag, dmag) * sign
        if conservative:
            out[isv] = np.maximum(out[isv], np.abs(dv))
    ith = ~isv
    if ith.any():
        trow = codes[ith] - 2 * nv
        b = sens.branch_matrix_now()[trow]
        cols = np.unique(b.indices)
        dv = sens.dv_rows(cols) * sens.import_factor(np.arange(out.shape[1]), direction)
        g = b[:, cols] @ dv
        i0 = base.currents[trow]
        im = np.abs(i0)
        rating = np.maximum(eff.imax_a[trow], 1e-9)
        small = im < 0.2 * rating
        first = (np.conj(i0 / np.maximum(im, 1e-12))[:, None] * g).real * sign
        if conservative:
            first = np.abs(g)
        out[ith] = np.where(small[:, None], np.abs(g), first) / rating[:, None]
    return out


def linear_usage(
    model,
    sens: IntervalSensitivity,
    base: State,
    eff: EffectiveLimits,
    u0: np.ndarray,
    x_w: np.ndarray,
    direction: str,
) -> np.ndarray:
    """First-order usage of every constraint with every site x_w beyond its forecast."""
    sign = 1.0 if direction == IMPORT else -1.0
    x_w = np.asarray(x_w, dtype=float)
    dv = sens.dv_total(sign * x_w * sens.import_factor(np.arange(len(x_w)), direction))
    a = model.row_voltages(base.voltages)
    u = np.conj(a / np.abs(a))
    dmag = (u * model.row_voltages(dv)).real
    di = sens.branch_matrix_now() @ dv
    im = base.im_a
    rating = np.maximum(eff.imax_a, 1e-9)
    first = (np.conj(base.currents / np.maximum(im, 1e-12)) * di).real
    dth = np.where(im < 0.2 * rating, np.abs(di), first) / rating
    return u0 + np.concatenate([-dmag, dmag, dth])


def allocate_joint(
    model,
    sens: IntervalSensitivity,
    base: State,
    eff: EffectiveLimits,
    u0: np.ndarray,
    headroom_w: np.ndarray,
    weights: np.ndarray,
    method: str,
    direction: str,
    rounds: int = 8,
    batch: int = 512,
    start: JointRows | None = None,
    bias: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, JointRows]:
    """Allocation with constraints added as they bind (cutting planes).

    Starts from each site's own headroom alone (or from start's rows); after
    each allocation, one linearized evaluation of every constraint finds those
    the allocation breaks, and only those join the problem. bias (one value per
    constraint code) is what full power flows showed the linear model misses;
    it is taken off the margins. Returns (headroom W, stopping code, rows).
    """
    h = np.where(np.isfinite(headroom_w), headroom_w, 0.0)
    n = len(h)
    bias = np.zeros(len(u0)) if bias is None else bias
    codes = np.zeros(0, dtype=int) if start is None else start.codes
    s = np.zeros((0, n)) if start is None else start.s
    if start is None or start.s_share is None:
        s_share = shared(s, np.maximum(-u0[codes] - bias[codes], 0.0), h)
    else:
        s_share = start.s_share
    x, stop = h.copy(), np.full(n, -1, dtype=int)
    for _ in range(rounds):
        rows = JointRows(codes, s, np.maximum(-u0[codes] - bias[codes], 0.0), s_share)
        x, stop = allocate(rows, h, weights, method)
        u = linear_usage(model, sens, base, eff, u0, x, direction) + bias
        u[codes] = -np.inf
        new = np.flatnonzero(u > 0.0)
        if not len(new):
            break
        new = new[np.argsort(-u[new])][:batch]
        s_new = constraint_rows(model, sens, base, eff, new, direction)
        codes = np.concatenate([codes, new])
        s = np.vstack([s, s_new])
        s_share = np.vstack([s_share, shared(s_new, np.maximum(-u0[new] - bias[new], 0.0), h)])
    rows = JointRows(codes, s, np.maximum(-u0[codes] - bias[codes], 0.0), s_share)
    code = np.where(stop >= 0, codes[np.maximum(stop, 0)], -1) if len(codes) else np.full(n, -1)
    return x, code, rows


def allocate(
    rows: JointRows, headroom_w: np.ndarray, weights: np.ndarray, method: str
) -> tuple[np.ndarray, np.ndarray]:
    """Allocated headroom (W) per site and the row index that stopped each site (-1: own)."""
    h = np.where(np.isfinite(headroom_w), headroom_w, 0.0)
    if method == "max-total":
        return _max_total(rows, h)
    if method == "equal":
        w = np.ones_like(h)
    elif method == "proportional":
        w = np.asarray(weights, dtype=float)
        w = w / max(w.max(), 1e-12)
    else:
        raise ValueError(f"unknown allocation {method!r}; use one of {', '.join(ALLOCATIONS)}")
    return _waterfill(rows, h, w)


def shared(s: np.ndarray, margin: np.ndarray | None = None, h: np.ndarray | None = None) -> np.ndarray:
    """Usage per W with couplings below SHARE_THRESHOLD of each row's largest user cut.

    A row keeps all its users when the cut couplings together could use a
    quarter of its margin (many weak users: a feeder-wide constraint).
    """
    if not len(s):
        return s
    rowmax = np.maximum(np.abs(s).max(axis=1), 1e-300)
    strong = np.abs(s) >= SHARE_THRESHOLD * rowmax[:, None]
    if margin is not None and h is not None:
        weak_load = np.where(strong, 0.0, np.maximum(s, 0.0)) @ h
        strong |= (weak_load > 0.25 * np.maximum(margin, 1e-12))[:, None]
    return np.where(strong, s, 0.0).astype(np.float32)


def _waterfill(rows: JointRows, h: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    margin = rows.margin
    n = len(h)
    x = np.zeros(n)
    stopped_by = np.full(n, -1, dtype=int)
    active = (h > 0) & (w > 0)
    if not len(margin):
        return h.copy(), stopped_by
    s = rows.s_share if rows.s_share is not None else shared(rows.s, margin, h)
    share = s > 0
    # a constraint only one site loads is that site's own cap: no sharing to do
    users = share.sum(axis=1)
    single = np.flatnonzero(users == 1)
    h = h.copy()
    own_row = np.full(n, -1, dtype=int)
    if len(single):
        site = share[single].argmax(axis=1)
        cap = margin[single] / s[single, site]
        order = np.argsort(cap)[::-1]  # smallest cap written last
        for r, j, c in zip(single[order], site[order], cap[order]):
            if c < h[j]:
                h[j] = max(c, 0.0)
                own_row[j] = r
        keep = users != 1
        s, share, margin = s[keep], share[keep], margin[keep]
        row_index = np.flatnonzero(keep)
    else:
        row_index = np.arange(len(margin))
    active &= h > 0
    if not len(margin):
        stopped_by[:] = own_row
        return h, stopped_by
    limit = margin * (1 + 1e-9) + 1e-12
    for _ in range(4 * len(margin) + 4):
        if not active.any():
            break
        h_act, w_act = h[active], w[active]
        xa0 = x[active]

        def load(t: float) -> np.ndarray:
            trial = x.copy()
            trial[active] = np.minimum(xa0 + t * w_act, h_act)  # noqa: B023 (called only inside this iteration)
            return s @ trial.astype(s.dtype)

        t_hi = float(((h_act - xa0) / w_act).max())
        load_hi = load(t_hi)
        if np.all(load_hi <= limit):
            x[active] = h_act
            break
        # Illinois false position on the worst excess of the rows the active sites
        # load (piecewise linear in t); rows they do not load cannot stop them
        load_0 = load(0.0)
        rising = load_hi > load_0 + 1e-15
        if not rising.any():
            x[active] = h_act
            break
        limit_r = limit[rising]
        t_lo, f_lo = 0.0, float((load_0[rising] - limit_r).max())
        f_hi = float((load_hi[rising] - limit_r).max())
        side = 0
        for _ in range(60):
            t_new = t_lo - f_lo * (t_hi - t_lo) / (f_hi - f_lo) if f_hi != f_lo else 0.5 * (t_lo + t_hi)
            span = t_hi - t_lo
            t_new = min(max(t_new, t_lo + 1e-6 * span), t_hi - 1e-6 * span)
            load_new = load(t_new)
            f_new = float((load_new[rising] - limit_r).max())
            if f_new <= 0:
                t_lo, f_lo = t_new, f_new
                if side == -1:
                    f_hi *= 0.5
                side = -1
            else:
                t_hi, f_hi, load_hi = t_new, f_new, load_new
                if side == 1:
                    f_lo *= 0.5
                side = 1
            if t_hi - t_lo <= 1e-4 * max(t_hi, 1e-9):
                break
        x[active] = np.minimum(xa0 + t_lo * w_act, h_act)
        tight = np.flatnonzero(load_hi > limit)
        idx = np.flatnonzero(active)
        capped = x[idx] >= h[idx] * (1 - 1e-9)
        stop = np.zeros(n, dtype=bool)
        stop[idx[capped]] = True
        for r in tight:
            hit = active & share[r] & ~stop
            stopped_by[hit] = r
            stop |= hit
        if not stop.any():
            # numerical stall: stop the sites loading the most-used constraint
            r = int(np.argmax(load_hi - margin))
            hit = active & (s[r] > 0)
            stopped_by[hit] = r
            stop |= hit
            if not stop.any():
                break
        active &= ~stop
    stopped_by = np.where(stopped_by >= 0, row_index[np.maximum(stopped_by, 0)], -1)
    at_own = (stopped_by < 0) & (own_row >= 0) & (x >= h * (1 - 1e-9))
    stopped_by[at_own] = own_row[at_own]
    return x, stopped_by


def _max_total(rows: JointRows, h: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    from scipy.optimize import linprog

    n = len(h)
    if not len(rows.margin):
        return h.copy(), np.full(n, -1, dtype=int)
    s = rows.s
    keep = np.any(s > 0, axis=1)
    res = linprog(
        -np.ones(n),
        A_ub=s[keep],
        b_ub=rows.margin[keep],
        bounds=list(zip(np.zeros(n), h)),
        method="highs",
    )
    if res.status != 0:
        return np.zeros(n), np.full(n, -1, dtype=int)
    x = np.clip(res.x, 0.0, h)
    load = s @ x
    tight = np.flatnonzero(load >= rows.margin * (1 - 1e-6) - 1e-12)
    stopped_by = np.full(n, -1, dtype=int)
    below = x < h * (1 - 1e-6)
    for r in tight:
        stopped_by[below & (s[r] > 0) & (stopped_by < 0)] = r
    return x, stopped_by
