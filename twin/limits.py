"""Single-site limits: how much more one site may import or export, others at forecast.

Constraint rows are numbered in one code space so that a limit can name what
binds it: voltage-low rows 0..nv-1, voltage-high rows nv..2nv-1, thermal rows
2nv.., and negative codes for the site cap and non-convergence.

The fast method solves, for every (constraint, site) pair, where the linearized
phasor |a + b x| crosses its limit (an exact quadratic in x, so the magnitude is
not linearized), then refines the best candidates for the site's own current
rising as its voltage sags. The reference method bisects with full power flows.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from flexbench.twin.model import FeederModel
from flexbench.twin.sensitivity import IntervalSensitivity
from flexbench.twin.twin import EffectiveLimits, Limits, State, Twin

CAP = -1
NO_CONVERGENCE = -2
IMPORT = "import"
EXPORT = "export"
# An independent check counts a usage above this (pu, or fraction of a rating) as a
# violation: well above the solver tolerance, far below anything measurable.
CHECK_TOL_PU = 1e-5
# What the computation itself accepts before publishing: stricter, so that an
# independent check starting the solver elsewhere still passes.
ACCEPT_TOL_PU = 1e-6
# Corrections aim this far inside a limit (pu, or fraction of a rating).
TARGET_INSIDE = 2e-6


@dataclass
class Headroom:
    """Extra import and export (W, >= 0) of each site beyond its forecast, and what binds."""

    import_w: np.ndarray
    export_w: np.ndarray
    binding_import: np.ndarray
    binding_export: np.ndarray


def binding_name(model: FeederModel, code: int) -> str:
    """Readable name of a constraint code."""
    nv = len(model.vnode_index)
    code = int(code)
    if code == CAP:
        return "cap"
    if code == NO_CONVERGENCE:
        return "no_convergence"
    if code < nv:
        return f"voltage_low:{model.voltage_name(code)}"
    if code < 2 * nv:
        return f"voltage_high:{model.voltage_name(code - nv)}"
    return f"thermal:{model.thermal_name(code - 2 * nv)}"


def held_limits(
    eff: EffectiveLimits, limits: Limits, rating_a: np.ndarray, codes: np.ndarray, direction: str
) -> tuple[np.ndarray, np.ndarray]:
    """The limit each constraint code held (pu for voltages, A for conductors, nan for the cap) and
    whether the base-violation rule set it rather than the voltage band or the rating."""
    nv = len(eff.vmin_pu)
    codes = np.asarray(codes, dtype=int)
    vmin, vmax = eff.for_direction(direction)
    band_min = eff.band_min_pu if eff.band_min_pu is not None else np.full(nv, limits.vmin_pu)
    band_max = eff.band_max_pu if eff.band_max_pu is not None else np.full(nv, limits.vmax_pu)
    value = np.full(len(codes), np.nan)
    rule = np.zeros(len(codes), dtype=bool)
    low = (codes >= 0) & (codes < nv)
    high = (codes >= nv) & (codes < 2 * nv)
    th = codes >= 2 * nv
    value[low] = vmin[codes[low]]
    rule[low] = value[low] < band_min[codes[low]] - 1e-9
    value[high] = vmax[codes[high] - nv]
    rule[high] = value[high] > band_max[codes[high] - nv] + 1e-9
    value[th] = eff.imax_a[codes[th] - 2 * nv]
    rule[th] = value[th] > (1 + 1e-9) * limits.thermal_fraction * rating_a[codes[th] - 2 * nv]
    return value, rule


def limit_text(nv: int, code: int, value: float, rule: bool, line_to_line: bool = False) -> str:
    """Which limit a constraint held: 'vmin 0.9500 pu line-to-neutral', 'vmax 1.0500 pu line-to-line',
    'rating 400.0 A', 'base violation rule 0.9390 pu line-to-neutral', 'cap'."""
    code = int(code)
    if code == CAP:
        return "cap"
    if code == NO_CONVERGENCE:
        return "no convergence"
    kind = " line-to-line" if line_to_line else " line-to-neutral"
    unit = f"{value:.4f} pu{kind}" if code < 2 * nv else f"{value:.1f} A"
    if rule:
        return f"base violation rule {unit}"
    return f"{'vmin' if code < nv else 'vmax' if code < 2 * nv else 'rating'} {unit}"


# -- full power flow checks ------------------------------------------------------------
def usage(state: State, eff: EffectiveLimits, direction: str | None = None) -> np.ndarray:
    """How far each constraint is beyond its limit (<= 0 is fine), in one code space.

    With a direction, its own voltage limits apply (see EffectiveLimits).
    """
    vmin, vmax = eff.for_direction(direction)
    low = vmin - state.vm_pu
    high = state.vm_pu - vmax
    therm = (state.im_a - eff.imax_a) / np.maximum(eff.imax_a, 1e-9)
    return np.concatenate([low, high, therm])


def violated(u: np.ndarray, converged: bool = True, tol: float = ACCEPT_TOL_PU) -> bool:
    """True when a full power flow breaks a limit (beyond tol) or diverged."""
    return (not converged) or bool(np.any(u > tol))


# -- fast method ------------------------------------------------------------------------
def _upper_root(a2, pr, q, lim, direction: str):
    """Where |a + b x| first reaches an upper limit, x > 0 along the direction.

    Closed forms chosen so that nothing cancels: with c0 = |a|^2 - lim^2 <= 0
    and s = sqrt(pr^2 - q c0) >= |pr|, the import root is (s - pr)/q =
    -c0/(s + pr), the export root (s + pr)/q = -c0/(s - pr).
    """
    c0 = np.minimum(a2 - lim * lim, 0.0)
    s = np.sqrt(pr * pr - q * c0)
    sign = 1.0 if direction == IMPORT else -1.0
    p = sign * pr
    with np.errstate(divide="ignore", invalid="ignore"):
        root = np.where(p >= 0, -c0 / (s + p), (s - p) / q)
    return np.where((q > 0) & np.isfinite(root), root, np.inf)


def _lower_root(a2, pr, q, lim, direction: str):
    """Where |a + b x| first reaches a lower limit, x > 0 along the direction (inf: never).

    With c0 >= 0 both crossings lie on the side where the direction lowers the
    magnitude (sign * pr < 0); the first is c0 / (s - sign * pr).
    """
    c0 = np.maximum(a2 - lim * lim, 0.0)
    disc = pr * pr - q * c0
    sign = 1.0 if direction == IMPORT else -1.0
    p = sign * pr
    ok = (disc >= 0) & (q > 0) & (p < 0)
    s = np.sqrt(np.where(ok, disc, 0.0))
    with np.errstate(divide="ignore", invalid="ignore"):
        root = c0 / (s - p)
    return np.where(ok, root, np.inf)


def _roots_for(code, a, b, eff: EffectiveLimits, nv: int, direction: str) -> np.ndarray:
    """Root for given constraint codes and complex (a, b) pairs, one direction."""
    a2 = (a * np.conj(a)).real
    pr = (np.conj(a) * b).real
    q = (b * np.conj(b)).real
    out = np.full(len(code), np.inf)
    low = code < nv
    high = (code >= nv) & (code < 2 * nv)
    th = code >= 2 * nv
    vmin, vmax = eff.for_direction(direction)
    if low.any():
        out[low] = _lower_root(a2[low], pr[low], q[low], vmin[code[low]], direction)
    if high.any():
        out[high] = _upper_root(a2[high], pr[high], q[high], vmax[code[high] - nv], direction)
    if th.any():
        out[th] = _upper_root(a2[th], pr[th], q[th], eff.imax_a[code[th] - 2 * nv], direction)
    return out


def _voltage_roots(a, b, eff: EffectiveLimits, vrow, dtype=np.float64):
    """Both sides of voltage rows for pairs: (import root, code, export root, code).

    dtype=float32 halves the memory traffic where only a ranking is needed. The
    same values as _lower_root and _upper_root per direction, with what both
    directions share computed once.
    """
    nv = len(eff.vmin_pu)
    ar, ai = a.real.astype(dtype), a.imag.astype(dtype)
    br, bi = b.real.astype(dtype), b.imag.astype(dtype)
    a2 = ar * ar + ai * ai
    pr = ar * br + ai * bi
    q = br * br + bi * bi
    vmin_i, vmax_i = eff.for_direction(IMPORT)
    vmin_e, vmax_e = eff.for_direction(EXPORT)
    pr2 = pr * pr
    qpos = q > 0
    il, el = _lower_roots(a2, pr, pr2, q, qpos, vmin_i, vmin_e, vrow, dtype)
    ih, eh = _upper_roots(a2, pr, pr2, q, qpos, vmax_i, vmax_e, vrow, dtype)
    imp = np.minimum(il, ih)
    exp = np.minimum(el, eh)
    return imp, np.where(il <= ih, vrow, nv + vrow), exp, np.where(el <= eh, vrow, nv + vrow)


def _lower_roots(a2, pr, pr2, q, qpos, lim_i, lim_e, vrow, dtype):
    """_lower_root for import and export (lim_i, lim_e over rows, indexed by vrow)."""
    out = []
    same = np.array_equal(lim_i, lim_e)
    c0 = real = s = None
    for lim, sign in ((lim_i, 1.0), (lim_e, -1.0)):
        if c0 is None or not same:
            lim = lim.astype(dtype)[vrow]
            c0 = np.maximum(a2 - lim * lim, 0.0)
            disc = pr2 - q * c0
            real = (disc >= 0) & qpos
            s = np.sqrt(np.where(real, disc, 0.0))
        # p = sign * pr must be < 0; s - p is s - pr (import) or s + pr (export)
        ok = real & (pr < 0 if sign > 0 else pr > 0)
        with np.errstate(divide="ignore", invalid="ignore"):
            root = c0 / (s - pr if sign > 0 else s + pr)
        out.append(np.where(ok, root, np.inf))
    return out[0], out[1]


def _upper_roots(a2, pr, pr2, q, qpos, lim_i, lim_e, vrow, dtype):
    """_upper_root for import and export (lim_i, lim_e over rows, indexed by vrow)."""
    out = []
    same = np.array_equal(lim_i, lim_e)
    c0 = s = None
    for lim, sign in ((lim_i, 1.0), (lim_e, -1.0)):
        if c0 is None or not same:
            lim = lim.astype(dtype)[vrow]
            c0 = np.minimum(a2 - lim * lim, 0.0)
            s = np.sqrt(pr2 - q * c0)
        # p = sign * pr; where p >= 0 the root is -c0 / (s + p), else (s - p) / q
        p = pr if sign > 0 else -pr
        up = p >= 0
        with np.errstate(divide="ignore", invalid="ignore"):
            root = np.where(up, -c0, s - p) / np.where(up, s + p, q)
        out.append(np.where(qpos & np.isfinite(root), root, np.inf))
    return out[0], out[1]


def _thermal_roots(a, g, eff: EffectiveLimits, trow, dtype=np.float64):
    nv = len(eff.vmin_pu)
    ar, ai = a.real.astype(dtype), a.imag.astype(dtype)
    gr, gi = g.real.astype(dtype), g.imag.astype(dtype)
    a2 = ar * ar + ai * ai
    pr = ar * gr + ai * gi
    q = gr * gr + gi * gi
    imp, exp = _upper_roots(a2, pr, pr * pr, q, q > 0, eff.imax_a, eff.imax_a, trow, dtype)
    code = 2 * nv + trow
    return imp, code, exp, code


def _segment_topk(values: np.ndarray, seg: np.ndarray, nseg: int, k: int) -> np.ndarray:
    """Indices of the k smallest finite values of each segment (-1 where fewer).

    seg must be sorted (pairs are generated site by site), which lets the
    minimum of every segment come from one reduceat pass per rank.
    """
    out = np.full((nseg, k), -1, dtype=int)
    if not len(values):
        return out
    starts = np.flatnonzero(np.r_[True, seg[1:] != seg[:-1]])
    present = seg[starts]
    vals = values.copy()
    seg_of = np.repeat(np.arange(len(starts)), np.diff(np.append(starts, len(vals))))
    for j in range(k):
        mins = np.minimum.reduceat(vals, starts)
        hit = np.flatnonzero(vals == mins[seg_of])
        owner = seg_of[hit]
        first_mask = np.r_[True, owner[1:] != owner[:-1]]
        first = hit[first_mask]
        owner = owner[first_mask]
        ok = np.isfinite(vals[first])
        out[present[owner[ok]], j] = first[ok]
        vals[first] = np.inf
    return out


def fast_headroom(
    twin: Twin,
    sens: IntervalSensitivity,
    base: State,
    eff: EffectiveLimits,
    cap_w: np.ndarray,
    tree=None,
    candidates: int = 3,
) -> Headroom:
    """Single-site headroom of every site of the sensitivity model, both directions.

    With a TreeIndex (radial feeders) only the constraints that can bind each site
    are tested; without one every constraint is (dense, for small feeders).
    """
    lm = sens.linear
    nsite = len(lm.sites)
    if tree is None:
        cand = _dense_candidates(twin, sens, base, eff, candidates)
    else:
        cand = _tree_candidates(twin, sens, base, eff, tree, candidates)
    head = Headroom(np.zeros(nsite), np.zeros(nsite), np.full(nsite, CAP), np.full(nsite, CAP))
    own = _own_terminals(sens, base)
    for direction, codes in cand.items():
        pos = np.repeat(np.arange(nsite), codes.shape[1])
        flat = codes.ravel()
        roots = np.full(len(flat), np.inf)
        valid = flat >= 0
        roots[valid] = _exact_roots(twin, sens, base, eff, pos[valid], flat[valid], direction, own)
        roots = roots.reshape(codes.shape)
        best = np.argmin(roots, axis=1)
        val = roots[np.arange(nsite), best]
        code = codes[np.arange(nsite), best]
        cap = cap_w[lm.sites]
        capped = ~(val < cap)
        val = np.where(capped, cap, val)
        code = np.where(capped, CAP, code)
        if direction == IMPORT:
            head.import_w, head.binding_import = val, code
        else:
            head.export_w, head.binding_export = val, code
    return head


def _dense_candidates(twin, sens, base, eff, k):
    """Test every constraint for every site; keep the k best per site and direction."""
    m = twin.model
    lm = sens.linear
    nsite = len(lm.sites)
    nv = len(m.vnode_index)
    av = m.row_voltages(base.voltages)
    out = {IMPORT: np.full((nsite, k), -1, dtype=int), EXPORT: np.full((nsite, k), -1, dtype=int)}
    block = 256
    vrow = np.arange(nv)[:, None]
    for start in range(0, nsite, block):
        pos = np.arange(start, min(start + block, nsite))
        dv = sens.dv(pos)
        bv = m.row_voltages(dv)
        vi, vic, ve, vec = _voltage_roots(av[:, None], bv, eff, vrow)
        g = sens.branch_matrix_now() @ dv
        trow = np.arange(len(m.thermal))[:, None]
        ti, tic, te, tec = _thermal_roots(base.currents[:, None], g, eff, trow)
        for direction, vals, codes in (
            (IMPORT, np.vstack([vi, ti]), np.vstack([vic, np.broadcast_to(tic, ti.shape)])),
            (EXPORT, np.vstack([ve, te]), np.vstack([vec, np.broadcast_to(tec, te.shape)])),
        ):
            order = np.argsort(vals, axis=0)[:k]
            cols = np.broadcast_to(np.arange(len(pos)), order.shape)
            picked = codes[order, cols]
            finite = np.isfinite(vals[order, cols])
            out[direction][pos, : order.shape[0]] = np.where(finite, picked, -1).T
    return out


def _tree_candidates(twin, sens, base, eff, tree, k):
    """Candidates of a radial feeder: path nodes, path conductors, off-path minima."""
    m = twin.model
    nsite = len(sens.linear.sites)
    # path nodes (all of them: thermal needs both ends), approximate sensitivities
    if getattr(tree, "_gathered_for", None) is not sens.linear:
        tree._gathered = sens.gather(tree.pn_node, tree.pn_pos)
        tree._gathered_for = sens.linear
    dv_path = sens.dv_gathered(tree._gathered, len(tree.pn_node))
    groups = []
    pv = tree.pv_pair
    vrow = tree.vrow_of_node[tree.pn_node[pv]]
    rows_v = m.row_voltages(base.voltages)  # every row once, then gathered per pair
    a = rows_v[vrow]
    b = dv_path[pv]
    ll = tree.pv_ref >= 0
    if ll.any():  # line-to-line rows: the other node of the pair is on the same bus, so on the path
        b = b.copy()
        b[ll] -= dv_path[tree.pv_ref[ll]]
    f32 = np.float32  # ranking only: exact values are recomputed for the winners
    groups.append((tree.pn_pos[pv], *_voltage_roots(a, b / m.vbase_v[vrow], eff, vrow, f32)))
    bmap = tree.branch_map(sens.branch_matrix_now())
    g = bmap @ dv_path
    groups.append((tree.pt_pos, *_thermal_roots(base.currents[tree.pt_row], g, eff, tree.pt_row, f32)))
    margin_low = base.vm_pu - eff.vmin_pu
    margin_high = eff.vmax_pu - base.vm_pu
    onode, opos = tree.offpath_candidates(margin_low, margin_high)
    if len(onode):
        orow = tree.vrow_of_node[onode]
        a = rows_v[orow]
        groups.append((opos, *_voltage_roots(a, sens.vrow_pairs(orow, opos, exact=False), eff, orow, f32)))
    out = {}
    for direction, col in ((IMPORT, 1), (EXPORT, 3)):
        picks = []
        for grp in groups:
            pos, vals, codes = grp[0], grp[col], grp[col + 1]
            top = _segment_topk(vals, pos, nsite, k)
            picks.append(np.where(top >= 0, codes[np.maximum(top, 0)], -1))
        out[direction] = np.hstack(picks)
    return out


def _own_terminals(sens, base):
    """Phase voltages of each site's terminals and their exact change per W."""
    lm = sens.linear
    v = base.voltages
    frm, to = lm.term_from, lm.term_to
    vph0 = v[frm] - np.where(to >= 0, v[np.maximum(to, 0)], 0.0)
    dph = sens.dv_pairs(frm, lm.term_pos)
    has_to = to >= 0
    if has_to.any():
        dph[has_to] -= sens.dv_pairs(to[has_to], lm.term_pos[has_to])
    return vph0, dph


def _exact_roots(twin, sens, base, eff, pos, code, direction, own):
    """Exact-sensitivity roots for (site position, code) pairs, with the site's own
    current following its sagging (or rising) terminal voltage."""
    m = twin.model
    lm = sens.linear
    vn = m.vnode_index
    nv = len(vn)
    a = np.empty(len(pos), dtype=complex)
    b = np.empty(len(pos), dtype=complex)
    isv = code < 2 * nv
    vrow = np.where(code < nv, code, code - nv)[isv]
    a[isv] = m.row_voltages(base.voltages, vrow)
    b[isv] = sens.vrow_pairs(vrow, pos[isv])
    ith = ~isv
    trow = code[ith] - 2 * nv
    a[ith] = base.currents[trow]
    b[ith] = sens.branch_pairs(trow, pos[ith])
    factor = sens.import_factor(pos, direction)
    b *= factor
    # the site's terminals for each pair
    vph0, dph = own
    tpos = lm.term_pos
    order = np.argsort(tpos, kind="stable")
    starts = np.searchsorted(tpos[order], pos)
    ends = np.searchsorted(tpos[order], pos, side="right")
    counts = ends - starts
    pair = np.repeat(np.arange(len(pos)), counts)
    term = order[np.repeat(starts, counts) + (np.arange(len(pair)) - np.repeat(np.cumsum(counts) - counts, counts))]
    w = lm.term_weight[term]
    wsum = np.bincount(pair, weights=w, minlength=len(pos))
    sign = 1.0 if direction == IMPORT else -1.0
    x = _roots_for(code, a, b, eff, nv, direction)
    kappa = np.ones(len(pos), dtype=complex)
    for _ in range(3):
        xs = np.where(np.isfinite(x), x, 0.0)
        vph = vph0[term] + dph[term] * (np.broadcast_to(factor, pos.shape)[pair] * kappa[pair] * sign * xs[pair])
        ratio = np.conj(vph0[term] / vph) * w
        kappa = (
            np.bincount(pair, weights=ratio.real, minlength=len(pos))
            + 1j * np.bincount(pair, weights=ratio.imag, minlength=len(pos))
        ) / np.maximum(wsum, 1e-12)
        x = _roots_for(code, a, b * kappa, eff, nv, direction)
    return x


# -- full power flow: per-site verification and the reference method -------------------
def _evaluate(twin: Twin, pos_site: int, delta_w: float, eff: EffectiveLimits):
    twin.set_site_delta(np.array([pos_site]), np.array([delta_w]))
    st = twin.solve_frozen()
    twin.set_site_delta(np.array([pos_site]), np.array([0.0]))
    return usage(st, eff, IMPORT if delta_w >= 0 else EXPORT), st.converged


def verify_single(
    twin: Twin,
    site: int,
    direction: str,
    x_w: float,
    u0: np.ndarray,
    eff: EffectiveLimits,
    max_solves: int = 5,
    rel_tol: float = 0.004,
    abs_tol_w: float = 50.0,
    cap_w: float = np.inf,
) -> tuple[float, int, int]:
    """Check one site's headroom by full power flow; correct it (secant) until safe and tight.

    Returns (headroom W, binding code, power flows used). Never returns an
    unchecked value: the result is 0 or a value whose power flow passed.
    """
    sign = 1.0 if direction == IMPORT else -1.0
    safe_x, safe_u = 0.0, u0
    bad_x, bad_u = np.inf, None
    x = float(x_w)
    binding = int(np.argmax(u0))
    solves = 0
    while solves < max_solves and x > 0:
        u, ok = _evaluate(twin, site, sign * x, eff)
        solves += 1
        if violated(u, ok):
            bad_x, bad_u = x, (u if ok else None)
            if bad_u is None:
                x = 0.5 * (safe_x + bad_x)
                continue
            rows = np.flatnonzero(u > ACCEPT_TOL_PU)
            binding = int(rows[np.argmax(u[rows])])
            x = _secant(safe_x, safe_u[rows], bad_x, u[rows]).min()
            x = min(max(x, safe_x), safe_x + 0.98 * (bad_x - safe_x))
        else:
            safe_x, safe_u = x, u
            binding = int(np.argmax(u))
            if safe_x >= cap_w:
                break
            if np.isfinite(bad_x) and bad_x - safe_x <= max(rel_tol * safe_x, abs_tol_w):
                break
            ref_x, ref_u = (0.0, u0) if bad_u is None else (bad_x, bad_u)
            if ref_x == safe_x:
                break
            guess = _secant(ref_x, ref_u, safe_x, u)
            guess = guess[guess > safe_x]
            if not len(guess):
                break
            nxt = min(float(guess.min()), cap_w)
            if np.isfinite(bad_x):
                nxt = min(nxt, safe_x + 0.98 * (bad_x - safe_x))
            if nxt - safe_x <= max(rel_tol * safe_x, abs_tol_w):
                break
            x = nxt
    return safe_x, binding, solves


def _secant(x0: float, u0: np.ndarray, x1: float, u1: np.ndarray) -> np.ndarray:
    """Where each usage, linear through two points, reaches just inside its limit."""
    with np.errstate(divide="ignore", invalid="ignore"):
        slope = (u1 - u0) / (x1 - x0)
        x = x1 + (-TARGET_INSIDE - u1) / slope
    return np.where((slope > 0) & np.isfinite(x), x, np.inf)


def reference_headroom(
    twin: Twin,
    site: int,
    direction: str,
    eff: EffectiveLimits,
    start_w: float,
    cap_w: float,
    tol_w: float = 10.0,
    tol_rel: float = 5e-4,
) -> tuple[float, int, int]:
    """Bisection with full power flows: (headroom W, binding code, power flows used)."""
    sign = 1.0 if direction == IMPORT else -1.0
    lo, hi = 0.0, max(float(start_w), 100.0)
    worst = CAP
    solves = 0
    while True:
        u, ok = _evaluate(twin, site, sign * hi, eff)
        solves += 1
        if violated(u, ok):
            worst = int(np.argmax(u)) if ok else NO_CONVERGENCE
            break
        lo = hi
        if hi >= cap_w:
            return cap_w, CAP, solves
        hi = min(2.0 * hi, cap_w)
    while hi - lo > max(tol_w, tol_rel * lo):
        mid = 0.5 * (lo + hi)
        u, ok = _evaluate(twin, site, sign * mid, eff)
        solves += 1
        if violated(u, ok):
            hi = mid
            worst = int(np.argmax(u)) if ok else NO_CONVERGENCE
        else:
            lo = mid
    return lo, worst, solves
