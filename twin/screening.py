"""Which constraints can bind a site, on a radial feeder, without testing all of them.

On a radial feeder a site's extra power flows only through the conductors on its
path to the source, and a node off that path sees the voltage change of the
point where its branch leaves the path. So the constraints that can bind site s
are: the nodes and conductors on its path, and, for every branch leaving the
path, the node of that branch with the least margin (per phase, per side). That
is a few hundred candidates per site instead of every node of the feeder.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from flexbench.twin.model import FeederModel


def is_radial(model: FeederModel) -> bool:
    """True when the energized network is a tree (no loops, no parallel elements)."""
    return model.radial


class TreeIndex:
    """Static radial structure of a feeder for a set of sites."""

    def __init__(self, model: FeederModel, sites: np.ndarray) -> None:
        self.model = model
        self.sites = np.asarray(sites, dtype=int)
        names = [model.source_bus] + sorted(model.bus_parent)
        bid = {b: i for i, b in enumerate(names)}
        nb = len(names)
        self.nbus = nb
        parent = np.full(nb, -1, dtype=int)
        joining: list[list[str]] = [[] for _ in range(nb)]
        for bus, (p, el) in model.bus_parent.items():
            parent[bid[bus]] = bid[p]
            joining[bid[bus]] = model.bus_elements.get(bus, [el])
        depth = np.zeros(nb, dtype=int)
        for i in range(1, nb):
            chain = []
            j = i
            while j > 0 and depth[j] == 0:
                chain.append(j)
                j = parent[j]
            d = depth[j]
            for k in reversed(chain):
                d += 1
                depth[k] = d
        self.parent = parent
        self.depth = depth
        self.levels = [np.flatnonzero(depth == d) for d in range(depth.max(), 0, -1)]
        children: list[list[int]] = [[] for _ in range(nb)]
        for i in range(1, nb):
            children[parent[i]].append(i)

        n = len(model.node_names)
        node_bus = np.full(n, -1, dtype=int)
        bus_nodes: list[list[int]] = [[] for _ in range(nb)]
        for idx, name in enumerate(model.node_names):
            b = bid.get(name.split(".")[0])
            if b is not None:
                node_bus[idx] = b
                bus_nodes[b].append(idx)
        self.node_phase = _mapped_phases(model, depth, parent, joining, bus_nodes)
        vrow = np.full(n, -1, dtype=int)
        vrow[model.vnode_index] = np.arange(len(model.vnode_index))
        self.vrow_of_node = vrow
        self.node_bus = node_bus

        rows_of_element: dict[str, list[int]] = {}
        for r, row in enumerate(model.thermal):
            rows_of_element.setdefault(row.element.lower(), []).append(r)

        # every site's path to the source, site by site, bus by bus from the site up:
        # its nodes, its conductors (the elements joining each bus to its parent) and
        # the branches leaving it (children of a path bus other than the path's own)
        rows_of_bus = [[r for el in joining[b] for r in rows_of_element.get(el.lower(), [])] for b in range(nb)]
        step_bus, step_prev, step_pos = _paths(parent, np.array([bid[model.sites[s].bus] for s in self.sites]))
        self.pn_node, self.pn_pos, _ = _expand(bus_nodes, step_bus, step_pos)
        self.pt_row, self.pt_pos, _ = _expand(rows_of_bus, step_bus, step_pos)
        oc_bus, oc_pos, step = _expand(children, step_bus, step_pos)
        off = oc_bus != step_prev[step]
        self.oc_bus, self.oc_pos = oc_bus[off], oc_pos[off]
        pv = self.vrow_of_node[self.pn_node] >= 0
        self.pv_pair = np.flatnonzero(pv)
        self.pv_ref = self._ref_pairs(n)
        self._build_branch_map()

    def _ref_pairs(self, n: int) -> np.ndarray:
        """For each voltage pair of a path, where the pair of its row's second node (line-to-line
        rows; on the same bus, so on the same path) is in the path lists; -1 on line-to-neutral rows."""
        ref = self.model.vnode_ref[self.vrow_of_node[self.pn_node[self.pv_pair]]]
        out = np.full(len(self.pv_pair), -1, dtype=int)
        ll = np.flatnonzero(ref >= 0)
        if len(ll):
            key = self.pn_pos.astype(np.int64) * n + self.pn_node
            order = np.argsort(key)
            want = self.pn_pos[self.pv_pair[ll]].astype(np.int64) * n + ref[ll]
            out[ll] = order[np.searchsorted(key[order], want)]
        return out

    def _build_branch_map(self) -> None:
        """Sparse map from path-node voltage changes to path-conductor current changes.

        Built once; only the entries of regulator rows are refreshed per interval.
        """
        m = self.model
        b = m.branch_matrix.tocsr()
        n = b.shape[1]
        key = self.pn_pos.astype(np.int64) * n + self.pn_node
        order = np.argsort(key)
        sorted_key = key[order]
        counts = np.diff(b.indptr)[self.pt_row]
        pair = np.repeat(np.arange(len(self.pt_row)), counts)
        first = np.repeat(b.indptr[self.pt_row], counts)
        offset = np.arange(len(pair)) - np.repeat(np.cumsum(counts) - counts, counts)
        entry = first + offset
        nodes = b.indices[entry]
        want = self.pt_pos[pair].astype(np.int64) * n + nodes
        loc = np.minimum(np.searchsorted(sorted_key, want), len(sorted_key) - 1)
        found = sorted_key[loc] == want
        rows, cols, vals = pair[found], order[loc[found]], b.data[entry[found]]
        srt = np.lexsort((cols, rows))
        rows, cols, vals = rows[srt], cols[srt], vals[srt]
        indptr = np.zeros(len(self.pt_row) + 1, dtype=np.int64)
        np.add.at(indptr, rows + 1, 1)
        self._bmap = sp.csr_matrix(
            (vals.astype(complex), cols, np.cumsum(indptr)), shape=(len(self.pt_row), len(self.pn_node))
        )
        ctrl_rows = np.concatenate([r for _, r in m.control_thermal]) if m.control_thermal else np.zeros(0, int)
        is_ctrl = np.isin(self.pt_row[rows], ctrl_rows)
        self._ctrl_entry = np.flatnonzero(is_ctrl)
        self._ctrl_trow = self.pt_row[rows[is_ctrl]]
        self._ctrl_node = nodes[found][srt][is_ctrl]

    def branch_map(self, bnow: sp.csr_matrix) -> sp.csr_matrix:
        """The path-conductor map with regulator coefficients at their present taps."""
        if len(self._ctrl_entry):
            self._bmap.data[self._ctrl_entry] = np.asarray(bnow[self._ctrl_trow, self._ctrl_node]).ravel()
        return self._bmap

    def offpath_candidates(self, margin_low: np.ndarray, margin_high: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(node, site position) pairs: least-margin node of each branch leaving a path."""
        vn = self.model.vnode_index
        phase = self.node_phase[vn]
        bus = self.node_bus[vn]
        ok = (phase >= 0) & (bus >= 0)
        val = np.full((self.nbus, 6), np.inf)
        node = np.full((self.nbus, 6), -1, dtype=int)
        for kind, margin in ((0, margin_low), (1, margin_high)):
            col = phase[ok] + 3 * kind
            np.minimum.at(val, (bus[ok], col), margin[ok])
            hit = margin[ok] == val[bus[ok], col]
            node[bus[ok][hit], col[hit]] = vn[ok][hit]
        for level in self.levels:
            par = self.parent[level]
            np.minimum.at(val, par, val[level])
            hit = val[level] == val[par]
            r, c = np.nonzero(hit & np.isfinite(val[level]))
            node[par[r], c] = node[level[r], c]
        cand = node[self.oc_bus]
        pos = np.repeat(self.oc_pos, 6)
        flat = cand.ravel()
        keep = flat >= 0
        return flat[keep], pos[keep]


def _paths(parent: np.ndarray, site_bus: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(bus, previous bus or -1, site position) of every step of every site's walk to the
    source, ordered site by site and, within a site, from the site up."""
    buses, prevs, poss, steps = [], [], [], []
    cur, prev, pos = site_bus, np.full(len(site_bus), -1), np.arange(len(site_bus))
    k = 0
    while len(cur):
        buses.append(cur)
        prevs.append(prev)
        poss.append(pos)
        steps.append(np.full(len(cur), k))
        up = parent[cur]
        keep = up >= 0
        cur, prev, pos = up[keep], cur[keep], pos[keep]
        k += 1
    if not buses:
        empty = np.zeros(0, dtype=int)
        return empty, empty, empty
    pos_all, step_all = np.concatenate(poss), np.concatenate(steps)
    order = np.lexsort((step_all, pos_all))
    return np.concatenate(buses)[order], np.concatenate(prevs)[order], pos_all[order]


def _expand(lists: list[list[int]], buses: np.ndarray, pos: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The items of lists[b] for every step's bus b, in order: (item, site position, step)."""
    counts_of = np.array([len(x) for x in lists], dtype=int)
    ptr = np.concatenate([[0], np.cumsum(counts_of)])
    flat = np.array([x for items in lists for x in items], dtype=int)
    counts = counts_of[buses]
    total = int(counts.sum())
    step = np.repeat(np.arange(len(buses)), counts)
    offset = np.arange(total) - np.repeat(np.cumsum(counts) - counts, counts)
    return flat[ptr[buses][step] + offset], pos[step], step


def _mapped_phases(model, depth, parent, joining, bus_nodes) -> np.ndarray:
    """Primary phase (0..2) each node follows: secondaries of a single-phase step-down
    transformer follow its primary phase; other nodes keep their own number."""
    n = len(model.node_names)
    phase = np.full(n, -1, dtype=int)
    node_num = np.array([int(x.split(".")[1]) if x.split(".")[1].isdigit() else 0 for x in model.node_names])
    forced_by = _single_phase_transformers(model)
    bus_map: dict[int, dict[int, int]] = {}
    for b in np.argsort(depth, kind="stable"):
        mapping: dict[int, int] = {}
        up = bus_map.get(int(parent[b]), {}) if parent[b] >= 0 else {}
        forced = None
        if len(joining[b]) == 1 and bus_nodes[b]:
            info = forced_by.get(joining[b][0].lower())
            if info is not None and info[1] > 1.5 * max(model.base_v[bus_nodes[b]]):
                forced = info[0]
        for idx in bus_nodes[b]:
            k = int(node_num[idx])
            if forced is not None:
                mapping[k] = forced
            elif k in up:
                mapping[k] = up[k]
            elif 1 <= k <= 3:
                mapping[k] = k - 1
            if k in mapping:
                phase[idx] = mapping[k]
        bus_map[int(b)] = mapping
    return phase


def _single_phase_transformers(model: FeederModel) -> dict[str, tuple[int, float]]:
    """Primary phase (0..2) and primary base voltage of every single-phase transformer."""
    b = model.branch_matrix.tocsr()
    count: dict[str, int] = {}
    first: dict[str, int] = {}
    for r, row in enumerate(model.thermal):
        el = row.element.lower()
        if el.startswith("transformer."):
            count[el] = count.get(el, 0) + 1
            first.setdefault(el, r)
    out: dict[str, tuple[int, float]] = {}
    for el, c in count.items():
        if c != 1:
            continue
        cols = b.indices[b.indptr[first[el]] : b.indptr[first[el] + 1]]
        if not len(cols):
            continue
        primary = max(cols, key=lambda k: model.base_v[k])
        num = model.node_names[primary].split(".")[1]
        if num.isdigit() and 1 <= int(num) <= 3:
            out[el] = (int(num) - 1, float(model.base_v[primary]))
    return out
