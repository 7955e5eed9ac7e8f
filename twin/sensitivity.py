"""Linear sensitivities of node voltages to site power, from the network's Y matrix.

The network without its loads is linear: a change of current injected at the site
terminals changes node voltages by Z = Y^-1 times that current. Z columns of the
site terminals are computed once (sparse LU). Regulator taps and capacitor steps
change Y between intervals only at a few nodes, so each interval corrects Z with
a low-rank (Woodbury) update instead of refactoring. Other loads are held at
constant current; the nonlinearity that remains is removed later by full power
flows (verification and correction).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla

from flexbench.twin.model import FeederModel
from flexbench.twin.threads import single_blas_thread


class LinearModel:
    """Z columns for a set of sites at a reference control state."""

    def __init__(self, twin, sites: np.ndarray, q_ratio: np.ndarray | None = None) -> None:
        """q_ratio: var per W of each site's extra import (all sites; None: unity power factor).

        Export is at unity power factor either way; see IntervalSensitivity.import_factor.
        """
        self.twin = twin
        m: FeederModel = twin.model
        self.model = m
        self.sites = np.asarray(sites, dtype=int)
        dss = twin.engine.dss
        n = len(m.node_names)

        data, indices, indptr = dss.YMatrix.getYsparse()
        y = sp.csc_matrix((data, indices, indptr), shape=(n, n)).tolil()
        i = dss.Loads.First()
        while i:
            idx, prim = self._element_prim(f"Load.{dss.Loads.Name()}")
            for a, ia in enumerate(idx):
                if ia is None:
                    continue
                for b, ib in enumerate(idx):
                    if ib is not None and prim[a, b] != 0:
                        y[ia, ib] -= prim[a, b]
            i = dss.Loads.Next()
        y = y.tocsc()
        # Isolated nodes (open switches) have no admittance left: tie them weakly to ground.
        diag = np.abs(y.diagonal())
        weak = diag < 1e-12
        if weak.any():
            y = y + sp.diags(np.where(weak, 1e-6, 0.0)).astype(complex)
        lu = spla.splu(y.tocsc(), permc_spec="COLAMD")
        self.lu = lu  # one solve gives the voltage change of a whole injection pattern

        mask = np.isin(m.term_site, self.sites)
        self.term_site = m.term_site[mask]
        self.term_from = m.term_from[mask]
        self.term_to = m.term_to[mask]
        self.term_weight = m.term_weight[mask]
        nodes = np.unique(np.concatenate([self.term_from, self.term_to[self.term_to >= 0]]))
        self.nodes = nodes
        col_of = {int(k): c for c, k in enumerate(nodes)}
        self.term_col_from = np.array([col_of[int(k)] for k in self.term_from], dtype=int)
        self.term_col_to = np.array([col_of.get(int(k), -1) for k in self.term_to], dtype=int)
        pos_of = {int(s): p for p, s in enumerate(self.sites)}
        self.term_pos = np.array([pos_of[int(s)] for s in self.term_site], dtype=int)
        # an import of 1 + jq VA per W draws (1 - jq) times the current of a unity one
        self.import_factor = None if q_ratio is None else 1.0 - 1j * np.asarray(q_ratio, dtype=float)[self.sites]

        self.zs = _solve_columns(lu, n, nodes, np.complex64)
        self.ctrl_nodes = m.control_nodes
        self.zr = _solve_columns(lu, n, self.ctrl_nodes, np.complex128)
        self.zr_rr = self.zr[self.ctrl_nodes, :]
        self.zs_r = self.zs[self.ctrl_nodes, :].astype(np.complex128)
        self.ref_prims = {el: self._element_prim(el) for el in m.control_elements}
        self.ctrl_pos = {int(k): p for p, k in enumerate(self.ctrl_nodes)}

    def _element_prim(self, element: str) -> tuple[list[int | None], np.ndarray]:
        dss = self.twin.engine.dss
        m = self.model
        dss.Circuit.SetActiveElement(element)
        raw = np.asarray(dss.CktElement.YPrim(), dtype=float)
        size = int(round(np.sqrt(len(raw) // 2)))
        prim = (raw[0::2] + 1j * raw[1::2]).reshape(size, size)
        buses = dss.CktElement.BusNames()
        order = [int(k) for k in dss.CktElement.NodeOrder()]
        ncond = int(dss.CktElement.NumConductors())
        idx: list[int | None] = []
        for c, node in enumerate(order):
            bus = buses[c // ncond].split(".")[0].lower()
            idx.append(None if node == 0 else m.node_index.get(f"{bus}.{node}"))
        return idx, prim

    def _delta_y(self) -> np.ndarray:
        """Change of admittance at the control nodes since the reference state."""
        r = len(self.ctrl_nodes)
        dy = np.zeros((r, r), dtype=complex)
        for el, (_idx0, prim0) in self.ref_prims.items():
            idx, prim = self._element_prim(el)
            diff = prim - prim0
            if not np.any(np.abs(diff) > 1e-12):
                continue
            for a, ia in enumerate(idx):
                if ia is None:
                    continue
                for b, ib in enumerate(idx):
                    if ib is not None:
                        dy[self.ctrl_pos[ia], self.ctrl_pos[ib]] += diff[a, b]
        return dy

    def at(self, voltages: np.ndarray) -> IntervalSensitivity:
        """Sensitivities at a solved operating point (complex node voltages)."""
        vf = voltages[self.term_from]
        vt = np.where(self.term_to >= 0, voltages[np.maximum(self.term_to, 0)], 0.0)
        # injection per W of extra import: the site draws w/conj(V_phase) from 'from' to 'to'
        coef = -np.conj(self.term_weight / (vf - vt))
        ncol = len(self.nodes)
        nsite = len(self.sites)
        has_to = self.term_col_to >= 0
        rows = np.concatenate([self.term_col_from, self.term_col_to[has_to]])
        cols = np.concatenate([self.term_pos, self.term_pos[has_to]])
        vals = np.concatenate([coef, -coef[has_to]])
        a = sp.csc_matrix((vals, (rows, cols)), shape=(ncol, nsite))
        a.sum_duplicates()
        zu = wv = None
        r = len(self.ctrl_nodes)
        if r:
            dy = self._delta_y()
            if np.any(np.abs(dy) > 0):
                k = np.linalg.solve(np.eye(r) + dy @ self.zr_rr, dy)
                u, sv, vh = np.linalg.svd(k)
                keep = sv > 1e-9 * max(sv[0], 1e-300)
                zu = self.zr @ (u[:, keep] * sv[keep])
                wv = vh[keep] @ np.asarray((a.T @ self.zs_r.T).T)
        return IntervalSensitivity(self, a, zu, wv, voltages, self._control_branch_rows())

    def _control_branch_rows(self) -> tuple[np.ndarray, sp.csr_matrix] | None:
        """Branch-matrix rows of regulated transformers with their present taps."""
        m = self.model
        if not m.control_thermal:
            return None
        rows_out: list[int] = []
        r_idx, c_idx, vals = [], [], []
        for element, rows in m.control_thermal:
            idx, prim = self._element_prim(element)
            for _k, r in enumerate(rows):
                cond = m.thermal[r].conductor - 1
                for j, col in enumerate(idx):
                    if col is not None and prim[cond, j] != 0:
                        r_idx.append(len(rows_out))
                        c_idx.append(col)
                        vals.append(prim[cond, j])
                rows_out.append(r)
        mat = sp.csr_matrix(
            (np.array(vals, dtype=complex), (np.array(r_idx), np.array(c_idx))),
            shape=(len(rows_out), len(m.node_names)),
        )
        return np.array(rows_out, dtype=int), mat


@dataclass
class IntervalSensitivity:
    """dV/dP of nodes for sites (V per W of extra import) at one operating point.

    dv = Zs A - zu wv: Zs are the reference Z columns of the site terminals, A the
    injection per W at this operating point, zu wv the low-rank tap correction.
    """

    linear: LinearModel
    a: sp.csc_matrix
    zu: np.ndarray | None
    wv: np.ndarray | None
    voltages: np.ndarray
    control_rows: tuple[np.ndarray, sp.csr_matrix] | None = None
    _bnow: sp.csr_matrix | None = None
    _at64: sp.csr_matrix | None = None

    def import_factor(self, positions: np.ndarray, direction: str) -> np.ndarray | float:
        """What multiplies the unity-power-factor change per W of these sites in a direction:
        (1 - jq) for an import at the load's power factor, 1 otherwise."""
        factor = self.linear.import_factor
        if factor is None or direction != "import":
            return 1.0
        return factor[np.asarray(positions, dtype=int)]

    def dv(self, positions: np.ndarray) -> np.ndarray:
        """Node-voltage change per W for the given site positions (all nodes x B)."""
        a = self.a[:, positions].toarray()
        out = self.linear.zs @ a.astype(np.complex64)
        out = out.astype(np.complex128)
        if self.zu is not None and self.wv is not None:
            out -= self.zu @ self.wv[:, positions]
        return out

    def dv_rows(self, nodes: np.ndarray) -> np.ndarray:
        """Node-voltage change per W for some nodes and every site (len(nodes) x sites)."""
        if self._at64 is None:
            self._at64 = self.a.T.astype(np.complex64).tocsr()
        prod = self._at64 @ self.linear.zs[np.asarray(nodes), :].T
        out = np.ascontiguousarray(np.asarray(prod).T, dtype=np.complex128)
        if self.zu is not None:
            out -= self.zu[nodes] @ self.wv
        return out

    def dv_total(self, weights_w: np.ndarray) -> np.ndarray:
        """Node-voltage change (V) when every site adds weights_w (W, import positive)."""
        weights_w = np.asarray(weights_w)  # complex weights carry a power factor
        inj = self.a @ weights_w
        rhs = np.zeros(self.linear.zs.shape[0], dtype=complex)
        np.add.at(rhs, self.linear.nodes, inj)
        out = self.linear.lu.solve(rhs)
        if self.zu is not None:
            out -= self.zu @ (self.wv @ weights_w)
        return out

    def gather(self, nodes: np.ndarray, positions: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The Z entries behind (node, site position) pairs: fixed for a linear model, so a
        caller with fixed pairs fetches them once and reuses them every interval."""
        a = self.a
        counts = np.diff(a.indptr)[positions]
        pair = np.repeat(np.arange(len(nodes)), counts)
        first = np.repeat(a.indptr[positions], counts)
        offset = np.arange(len(pair)) - np.repeat(np.cumsum(counts) - counts, counts)
        entry = first + offset
        return pair, entry, self.linear.zs[nodes[pair], a.indices[entry]]

    def dv_gathered(self, gathered: tuple[np.ndarray, np.ndarray, np.ndarray], npairs: int) -> np.ndarray:
        """dv_pairs(..., exact=False) from a gather() of the same pairs."""
        pair, entry, z = gathered
        vals = z * self.a.data[entry]
        return np.bincount(pair, weights=vals.real, minlength=npairs) + 1j * np.bincount(
            pair, weights=vals.imag, minlength=npairs
        )

    def dv_pairs(self, nodes: np.ndarray, positions: np.ndarray, exact: bool = True) -> np.ndarray:
        """Node-voltage change per W for (node, site position) pairs.

        exact=False leaves out the tap correction: good enough to rank candidates.
        """
        out = self.dv_gathered(self.gather(nodes, positions), len(nodes))
        if exact and self.zu is not None and self.wv is not None:
            out -= np.einsum("ij,ji->i", self.zu[nodes], self.wv[:, positions])
        return out

    def vrow_pairs(self, rows: np.ndarray, positions: np.ndarray, exact: bool = True) -> np.ndarray:
        """Change (pu per W) of voltage rows for (row, site position) pairs: a node's voltage,
        or on line-to-line rows the difference of its two nodes'."""
        m = self.linear.model
        rows = np.asarray(rows, dtype=int)
        positions = np.asarray(positions, dtype=int)
        out = self.dv_pairs(m.vnode_index[rows], positions, exact)
        ref = m.vnode_ref[rows]
        ll = ref >= 0
        if ll.any():
            out[ll] -= self.dv_pairs(ref[ll], positions[ll], exact)
        return out / m.vbase_v[rows]

    def vrow_rows(self, rows: np.ndarray) -> np.ndarray:
        """Change (pu per W) of some voltage rows for every site (len(rows) x sites)."""
        m = self.linear.model
        rows = np.asarray(rows, dtype=int)
        out = self.dv_rows(m.vnode_index[rows])
        ref = m.vnode_ref[rows]
        ll = ref >= 0
        if ll.any():
            out[ll] -= self.dv_rows(ref[ll])
        return out / m.vbase_v[rows][:, None]

    def branch_dv(self, dv: np.ndarray) -> np.ndarray:
        """Conductor-current change of every monitored conductor for node-voltage changes dv."""
        g = np.asarray(self.linear.model.branch_matrix @ dv)
        if self.control_rows is not None:
            rows, mat = self.control_rows
            g[rows] = mat @ dv
        return g

    def branch_pairs(self, rows: np.ndarray, positions: np.ndarray) -> np.ndarray:
        """Exact conductor-current change per W for (thermal row, site position) pairs."""
        b = self.branch_matrix_now()
        counts = np.diff(b.indptr)[rows]
        pair = np.repeat(np.arange(len(rows)), counts)
        first = np.repeat(b.indptr[rows], counts)
        offset = np.arange(len(pair)) - np.repeat(np.cumsum(counts) - counts, counts)
        entry = first + offset
        dv = self.dv_pairs(b.indices[entry], positions[pair])
        out = np.zeros(len(rows), dtype=complex)
        np.add.at(out, pair, b.data[entry] * dv)
        return out

    def branch_matrix_now(self) -> sp.csr_matrix:
        """The branch matrix with regulator rows at their present taps."""
        if self._bnow is None:
            b = self.linear.model.branch_matrix
            if self.control_rows is not None:
                rows, mat = self.control_rows
                b = _replace_rows(b, rows, mat)
            self._bnow = b
        return self._bnow


def _replace_rows(b: sp.csr_matrix, rows: np.ndarray, mat: sp.csr_matrix) -> sp.csr_matrix:
    """b with the given rows replaced by the rows of mat."""
    coo = b.tocoo()
    keep = ~np.isin(coo.row, rows)
    m2 = mat.tocoo()
    r = np.concatenate([coo.row[keep], rows[m2.row]])
    c = np.concatenate([coo.col[keep], m2.col])
    d = np.concatenate([coo.data[keep], m2.data])
    return sp.csr_matrix((d, (r, c)), shape=b.shape)


# Right-hand sides per triangular solve. The factors are sparse (a radial feeder fills in
# little), so the solve streams the dense block through memory: 32 columns of IEEE 8500
# (8531 nodes, 4 MB) stay in cache. Measured there, all 2354 site columns on one BLAS
# thread: 0.8 s in blocks of 16 or 32, 1.0 s in blocks of 64; in blocks of 512 with the
# default threads it took 20 s.
_SOLVE_BLOCK = 32


def _solve_columns(lu, n: int, nodes: np.ndarray, dtype) -> np.ndarray:
    """Columns of Y^-1 for the given nodes, in blocks small enough to stay in cache."""
    out = np.empty((n, len(nodes)), dtype=dtype)
    with single_blas_thread():
        for start in range(0, len(nodes), _SOLVE_BLOCK):
            part = nodes[start : start + _SOLVE_BLOCK]
            rhs = np.zeros((n, len(part)), dtype=complex, order="F")
            rhs[part, np.arange(len(part))] = 1.0
            out[:, start : start + len(part)] = lu.solve(rhs)
    return out
