"""What the twin extracts from an OpenDSS model: customer locations and constraints.

Sites are the model's loads (one load = one customer location). Constraints are
node voltages (every energized distribution node) and conductor currents (line
normal amps, transformer kVA). Everything is turned into index arrays in the
engine's node order once, so per-interval work is plain numpy.

A voltage constraint is a node's voltage to ground where the system is grounded,
and the voltage between two phases where it is not: on a 3-wire section with no
ground reference (fed by a delta or ungrounded-wye winding) the voltages to
ground are set by stray capacitance and the transformers' anti-floating
admittance, not by anything a customer sees. Which sections are grounded is read
from the model (see _ungrounded_buses).
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp

from flexbench.twin.engine import Engine
from flexbench.twin.errors import FeederError

FLEX_PREFIX = "flex_"
# Nodes above this line-to-line voltage are transmission (source side): not monitored.
MAX_DISTRIBUTION_KV_LL = 35.0
# A service transformer steps down to utilization voltage (below 1 kV).
SERVICE_SECONDARY_MAX_KV = 1.0


@dataclass(frozen=True)
class Site:
    """A customer location: one load of the model and where it connects."""

    site_id: str
    bus: str
    nodes: tuple[int, ...]
    phases: int
    kv: float
    conn: str
    polyphase: bool
    service_transformer: str | None
    nominal_w: float
    nominal_var: float
    rating_w: float
    x: float | None = None
    y: float | None = None


@dataclass(frozen=True)
class ThermalRow:
    """One monitored conductor: element, conductor number, rating."""

    element: str
    conductor: int
    rating_a: float


@dataclass
class FeederModel:
    """Index arrays of one compiled feeder (engine node order)."""

    node_names: list[str]
    node_index: dict[str, int]
    base_v: np.ndarray  # line-to-neutral base voltage per node (V)
    source_bus: str
    sites: list[Site]
    site_index: dict[str, int]
    load_numbers: np.ndarray  # 1-based engine index of each site's own load
    flex_numbers: np.ndarray  # 1-based engine index of each site's flex load
    load_q_ratio: np.ndarray  # kvar/kW of each site's load (kept when scaling)
    # site terminals: one entry per (site, phase): from-node, to-node (-1 = ground), weight
    term_site: np.ndarray
    term_from: np.ndarray
    term_to: np.ndarray
    term_weight: np.ndarray
    # monitored voltages
    vnode_index: np.ndarray  # node indices of voltage constraints (the first node of line-to-line ones)
    vnode_ref: np.ndarray  # their second node on line-to-line rows, -1 (ground) on line-to-neutral rows
    vbase_v: np.ndarray  # their base voltage (V): line-to-neutral, or line-to-line
    # monitored currents
    thermal: list[ThermalRow]
    thermal_rating_a: np.ndarray
    branch_matrix: sp.csr_matrix  # conductor current = branch_matrix @ node voltages
    # elements whose admittance changes with controls (regulators, capacitors)
    control_elements: list[str]
    control_nodes: np.ndarray
    # thermal rows of controlled transformers: their admittance moves with the taps
    control_thermal: list[tuple[str, np.ndarray]] = field(default_factory=list)
    bus_xy: dict[str, tuple[float, float]] = field(default_factory=dict)
    bus_parent: dict[str, tuple[str, str]] = field(default_factory=dict)
    # every element joining a bus to its parent (single-phase regulators come in threes)
    bus_elements: dict[str, list[str]] = field(default_factory=dict)
    radial: bool = True

    @property
    def vrow_ll(self) -> np.ndarray:
        """Which voltage rows are line-to-line."""
        return self.vnode_ref >= 0

    def voltage_name(self, row: int) -> str:
        """Name of voltage constraint row: 'bus.node', or 'bus.node-node' line to line."""
        name = self.node_names[int(self.vnode_index[row])]
        ref = int(self.vnode_ref[row])
        return name if ref < 0 else f"{name}-{self.node_names[ref].partition('.')[2]}"

    def row_voltages(self, v: np.ndarray, rows: np.ndarray | None = None) -> np.ndarray:
        """Voltage rows (pu phasors) from node voltages or node-voltage changes (nodes first).

        rows: which voltage rows (default all).
        """
        rows = np.arange(len(self.vnode_index)) if rows is None else np.asarray(rows, dtype=int)
        out = v[self.vnode_index[rows]]
        ref = self.vnode_ref[rows]
        ll = ref >= 0
        if ll.any():
            out = out.copy()
            out[ll] -= v[ref[ll]]
        base = self.vbase_v[rows]
        return out / (base if out.ndim == 1 else base[:, None])

    def thermal_name(self, row: int) -> str:
        """Name of thermal constraint row: 'Element.name/conductor'."""
        t = self.thermal[row]
        return f"{t.element}/{t.conductor}"


def _bus_of(spec: str) -> str:
    return spec.split(".")[0].lower()


def _nodes_of(spec: str) -> list[int]:
    parts = spec.split(".")[1:]
    return [int(p) for p in parts if p.strip().isdigit()]


def extract(engine: Engine) -> FeederModel:
    """Add one flex load per site and build the index arrays of the feeder."""
    raw_loads = _read_loads(engine)
    if not raw_loads:
        name = engine.source.master if engine.source else "feeder"
        raise FeederError(f"{name}: has no loads, so no customer locations")
    existing = {r["name"] for r in raw_loads}
    for r in raw_loads:
        flex = FLEX_PREFIX + r["name"]
        if flex in existing:
            raise FeederError(f"load name {flex!r} clashes with the twin's flex loads")
        engine.command(
            f"New Load.{flex} bus1={r['bus_spec']} phases={r['phases']} kv={r['kv']} "
            f"conn={r['conn']} model=1 pf=1 kW=0 vminpu=0.5 vmaxpu=1.5 vlowpu=0.05"
        )
    engine.solve_or_raise("at the model's nominal loads")

    node_names = engine.node_names()
    node_index = {n: i for i, n in enumerate(node_names)}
    source_bus = _source_bus(engine)
    base_v, bus_xy = _bus_bases(engine, node_names, node_index)

    load_numbers, flex_numbers = _load_numbers(engine, [r["name"] for r in raw_loads])

    parent, bus_elements, radial = _bus_tree(engine, source_bus)
    xfmr_info = _transformers(engine)
    sites, terms = [], []
    service_of: dict[str, str | None] = {}
    for r in raw_loads:
        service_of[r["name"]] = _service_transformer(r["bus"], parent, xfmr_info)
    sharing: dict[str, int] = {}
    for t in service_of.values():
        if t:
            sharing[t] = sharing.get(t, 0) + 1
    for k, r in enumerate(raw_loads):
        st = service_of[r["name"]]
        nominal_va = math.hypot(r["kw"], r["kvar"]) * 1000.0
        if st:
            info = xfmr_info[st.lower()]
            rating_w = info["kva"] * 1000.0 / sharing[st]
            polyphase = r["phases"] >= 2 and info["phases"] >= 2
        else:
            rating_w = nominal_va
            polyphase = r["phases"] >= 2
        xy = bus_xy.get(r["bus"])
        sites.append(
            Site(
                site_id=r["name"],
                bus=r["bus"],
                nodes=tuple(r["nodes"]),
                phases=r["phases"],
                kv=r["kv"],
                conn=r["conn"],
                polyphase=polyphase,
                service_transformer=st,
                nominal_w=r["kw"] * 1000.0,
                nominal_var=r["kvar"] * 1000.0,
                rating_w=max(rating_w, 1.0),
                x=xy[0] if xy else None,
                y=xy[1] if xy else None,
            )
        )
        for frm, to, w in _terminals(r):
            fi = node_index.get(f"{r['bus']}.{frm}")
            ti = -1 if to == 0 else node_index.get(f"{r['bus']}.{to}", -1)
            if fi is None:
                raise FeederError(f"Load.{r['name']}: node {r['bus']}.{frm} is not in the circuit")
            terms.append((k, fi, ti, w))
    term = np.array(terms, dtype=float)

    vnode, vref, vbase = _voltage_rows(engine, node_names, base_v, source_bus)
    thermal, rating, bmat = _thermal_rows(engine, node_index)
    control_elements, control_nodes = _control_nodes(engine, node_index)
    by_element: dict[str, list[int]] = {}
    for k, row in enumerate(thermal):
        if row.element.lower() in control_elements:
            by_element.setdefault(row.element, []).append(k)
    control_thermal = [(el, np.array(rows, dtype=int)) for el, rows in by_element.items()]

    q_ratio = np.array([r["kvar"] / r["kw"] if r["kw"] else 0.0 for r in raw_loads])
    return FeederModel(
        node_names=node_names,
        node_index=node_index,
        base_v=base_v,
        source_bus=source_bus,
        sites=sites,
        site_index={s.site_id: i for i, s in enumerate(sites)},
        load_numbers=load_numbers,
        flex_numbers=flex_numbers,
        load_q_ratio=q_ratio,
        term_site=term[:, 0].astype(int),
        term_from=term[:, 1].astype(int),
        term_to=term[:, 2].astype(int),
        term_weight=term[:, 3],
        vnode_index=vnode,
        vnode_ref=vref,
        vbase_v=vbase,
        thermal=thermal,
        thermal_rating_a=rating,
        branch_matrix=bmat,
        control_elements=control_elements,
        control_nodes=control_nodes,
        control_thermal=control_thermal,
        bus_xy=bus_xy,
        bus_parent=parent,
        bus_elements=bus_elements,
        radial=radial,
    )


def _voltage_rows(
    engine: Engine, node_names: list[str], base_v: np.ndarray, source_bus: str
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Monitored voltages: (node, reference node or -1, base V) per row.

    Every energized phase node (1-3) of a distribution bus (not the source bus,
    not above MAX_DISTRIBUTION_KV_LL): to ground on grounded buses; on
    ungrounded ones the voltages between its phases (1-2, 2-3, 3-1 on a
    three-phase bus, the one pair on a two-phase bus; a lone phase node there is
    not monitored), on the line-to-line base.
    """
    v = engine.node_voltages()
    ungrounded = _ungrounded_buses(engine)
    phases: dict[str, list[int]] = {}
    for i, name in enumerate(node_names):
        bus, _, node = name.partition(".")
        if bus == source_bus or not node.isdigit() or not 1 <= int(node) <= 3:
            continue
        kv_ll = base_v[i] * math.sqrt(3) / 1000.0
        if base_v[i] <= 0 or kv_ll > MAX_DISTRIBUTION_KV_LL:
            continue
        phases.setdefault(bus, []).append(i)
    number = {i: int(node_names[i].partition(".")[2]) for nodes in phases.values() for i in nodes}
    rows: list[tuple[int, int, float]] = []
    for bus, nodes in phases.items():
        if bus not in ungrounded:
            rows.extend((i, -1, float(base_v[i])) for i in nodes if abs(v[i]) > 0.5 * base_v[i])
            continue
        nodes = sorted(nodes, key=number.__getitem__)
        pairs = list(zip(nodes, nodes[1:] + nodes[:1])) if len(nodes) == 3 else [tuple(nodes)] * (len(nodes) == 2)
        for i, j in pairs:
            base_ll = float(base_v[i]) * math.sqrt(3)
            if abs(v[i] - v[j]) > 0.5 * base_ll:
                rows.append((i, j, base_ll))
    rows.sort()
    if not rows:
        return np.zeros(0, dtype=int), np.zeros(0, dtype=int), np.zeros(0)
    arr = np.array(rows, dtype=float)
    return arr[:, 0].astype(int), arr[:, 1].astype(int), arr[:, 2]


def _ungrounded_buses(engine: Engine) -> set[str]:
    """Buses of sections with no ground reference.

    Sections are the buses joined by lines, switches, reactors and other
    conductive elements; transformers separate them. A section is grounded when
    it holds a voltage source, a transformer winding connected to ground (a wye
    winding whose neutral or a terminal is node 0 or has a neutral impedance
    (rneut >= 0); a corner-grounded delta), or a shunt reactor to ground. Loads,
    capacitors and line capacitance do not count: they are no grounding.
    """
    dss = engine.dss
    parent: dict[str, str] = {}

    def root(b: str) -> str:
        parent.setdefault(b, b)
        while parent[b] != b:
            parent[b] = parent[parent[b]]
            b = parent[b]
        return b

    grounded: list[str] = []
    for name, buses, nodes, _nterm, ncond, _nph in _pd_elements(engine):
        kind = name.split(".")[0].lower()
        names = [_bus_of(b) for b in buses]
        for b in names:
            root(b)
        if kind == "transformer":
            continue
        if kind == "reactor" and all(n == 0 for n in nodes[ncond:]) and names[0] == names[-1]:
            grounded.append(names[0])  # a shunt reactor to ground (a grounding bank)
        for b in names[1:]:
            parent[root(b)] = root(names[0])
    i = dss.Transformers.First()
    while i:
        buses = [_bus_of(b) for b in dss.CktElement.BusNames()]
        nodes = [int(n) for n in dss.CktElement.NodeOrder()]
        ncond = int(dss.CktElement.NumConductors())
        nph = int(dss.CktElement.NumPhases())
        for w, bus in enumerate(buses, start=1):
            dss.Transformers.Wdg(w)
            wdg = nodes[(w - 1) * ncond : w * ncond]
            if dss.Transformers.IsDelta():
                earthed = 0 in wdg[: max(nph, 2)]  # the last conductor of a delta winding is unused
            else:
                earthed = 0 in wdg or float(dss.Transformers.Rneut()) >= 0
            if earthed:
                grounded.append(bus)
        i = dss.Transformers.Next()
    i = dss.Vsources.First()
    while i:
        grounded.append(_bus_of(dss.CktElement.BusNames()[0]))
        i = dss.Vsources.Next()
    earthed_roots = {root(b) for b in grounded}
    return {b for b in list(parent) if root(b) not in earthed_roots}


def _read_loads(engine: Engine) -> list[dict]:
    dss = engine.dss
    out = []
    i = dss.Loads.First()
    while i:
        name = dss.Loads.Name().lower()
        spec = dss.CktElement.BusNames()[0]
        phases = int(dss.CktElement.NumPhases())
        nodes = [int(n) for n in dss.CktElement.NodeOrder()]
        out.append(
            {
                "name": name,
                "bus_spec": spec,
                "bus": _bus_of(spec),
                "phases": phases,
                "nodes": [n for n in nodes[:phases] if n != 0] or [1],
                "all_nodes": nodes,
                "kv": float(dss.Loads.kV()),
                "conn": "delta" if dss.Loads.IsDelta() else "wye",
                "kw": float(dss.Loads.kW()),
                "kvar": float(dss.Loads.kvar()),
            }
        )
        i = dss.Loads.Next()
    return out


def _terminals(r: dict) -> list[tuple[int, int, float]]:
    """(from node, to node (0 = ground), share of the site's power) per phase."""
    nodes = r["all_nodes"]
    phases = r["phases"]
    if r["conn"] == "delta":
        if phases == 1:
            return [(nodes[0], nodes[1] if len(nodes) > 1 else 0, 1.0)]
        ph = nodes[:phases]
        if phases == 2:
            return [(ph[0], ph[1], 1.0)]
        return [(ph[k], ph[(k + 1) % phases], 1.0 / phases) for k in range(phases)]
    neutral = nodes[phases] if len(nodes) > phases else 0
    return [(n, neutral, 1.0 / phases) for n in nodes[:phases]]


def _load_numbers(engine: Engine, names: list[str]) -> tuple[np.ndarray, np.ndarray]:
    dss = engine.dss
    number: dict[str, int] = {}
    i = dss.Loads.First()
    k = 1
    while i:
        number[dss.Loads.Name().lower()] = k
        k += 1
        i = dss.Loads.Next()
    return (
        np.array([number[n] for n in names], dtype=int),
        np.array([number[FLEX_PREFIX + n] for n in names], dtype=int),
    )


def _source_bus(engine: Engine) -> str:
    dss = engine.dss
    dss.Vsources.First()
    return _bus_of(dss.CktElement.BusNames()[0])


def _bus_bases(engine: Engine, node_names: list[str], node_index: dict[str, int]):
    dss = engine.dss
    base = np.zeros(len(node_names))
    xy: dict[str, tuple[float, float]] = {}
    for b in dss.Circuit.AllBusNames():
        dss.Circuit.SetActiveBus(b)
        kvb = float(dss.Bus.kVBase()) * 1000.0
        bl = b.lower()
        for nd in dss.Bus.Nodes():
            i = node_index.get(f"{bl}.{nd}")
            if i is not None:
                base[i] = kvb
        if dss.Bus.Coorddefined():
            xy[bl] = (float(dss.Bus.X()), float(dss.Bus.Y()))
    return base, xy


def _pd_elements(engine: Engine):
    """Yield (full name, bus specs, node order, terminals, conductors) of every PD element."""
    dss = engine.dss
    i = dss.PDElements.First()
    while i:
        yield (
            dss.CktElement.Name(),
            list(dss.CktElement.BusNames()),
            [int(n) for n in dss.CktElement.NodeOrder()],
            int(dss.CktElement.NumTerminals()),
            int(dss.CktElement.NumConductors()),
            int(dss.CktElement.NumPhases()),
        )
        i = dss.PDElements.Next()


def _bus_tree(engine: Engine, source_bus: str):
    """Parent (bus, element) of every bus reachable from the source, the elements joining
    each bus to its parent, and whether the buses form a tree."""
    adj: dict[str, list[tuple[str, str]]] = {}
    edges: list[set[str]] = []
    joining: dict[frozenset, list[str]] = {}
    for name, buses, *_ in _pd_elements(engine):
        if name.lower().startswith("capacitor."):
            continue
        bs = list(dict.fromkeys(_bus_of(b) for b in buses))
        edges.append(set(bs))
        for a in bs:
            for b in bs:
                if a < b:
                    joining.setdefault(frozenset((a, b)), []).append(name)
        for a in bs:
            for b in bs:
                if a != b:
                    adj.setdefault(a, []).append((b, name))
    parent: dict[str, tuple[str, str]] = {}
    seen = {source_bus}
    queue = deque([source_bus])
    while queue:
        a = queue.popleft()
        for b, el in adj.get(a, []):
            if b not in seen:
                seen.add(b)
                parent[b] = (a, el)
                queue.append(b)
    reach = seen
    pairs = {frozenset((a, b)) for e in edges if e <= reach for a in e for b in e if a != b}
    tree = all(len(e) <= 2 for e in edges if e <= reach) and len(pairs) == len(reach) - 1
    elements = {b: joining[frozenset((b, p))] for b, (p, _) in parent.items()}
    return parent, elements, tree


def _transformers(engine: Engine) -> dict[str, dict]:
    dss = engine.dss
    info: dict[str, dict] = {}
    i = dss.Transformers.First()
    while i:
        name = "Transformer." + dss.Transformers.Name()
        nw = int(dss.Transformers.NumWindings())
        kvs, kvas = [], []
        for w in range(1, nw + 1):
            dss.Transformers.Wdg(w)
            kvs.append(float(dss.Transformers.kV()))
            kvas.append(float(dss.Transformers.kVA()))
        info[name.lower()] = {
            "name": name,
            "kv": kvs,
            "kva": kvas[0],
            "phases": int(dss.CktElement.NumPhases()),
        }
        i = dss.Transformers.Next()
    return info


def _service_transformer(bus: str, parent, xfmrs) -> str | None:
    """Nearest upstream transformer whose low side is below 1 kV, if any."""
    seen = 0
    while bus in parent and seen < 100000:
        up, el = parent[bus]
        info = xfmrs.get(el.lower())
        if info is not None and min(info["kv"]) < SERVICE_SECONDARY_MAX_KV:
            return info["name"]
        bus = up
        seen += 1
    return None


def _thermal_rows(engine: Engine, node_index: dict[str, int]):
    """Monitored conductors (line and transformer terminal 1 phases) and their branch matrix."""
    dss = engine.dss
    rows: list[ThermalRow] = []
    rating: list[float] = []
    b_rows, b_cols, b_vals = [], [], []
    for name, buses, nodes, nterm, ncond, nph in _pd_elements(engine):
        size = nterm * ncond
        kind = name.split(".")[0].lower()
        rated = 0.0
        if kind == "line":
            rated = float(dss.CktElement.NormalAmps())
        elif kind == "transformer":
            dss.Transformers.Name(name.split(".", 1)[1])
            dss.Transformers.Wdg(1)
            kva, kv = float(dss.Transformers.kVA()), float(dss.Transformers.kV())
            if kv > 0:
                rated = kva / kv if nph == 1 else kva / (math.sqrt(3) * kv)
        if rated > 0 and dss.CktElement.Enabled():
            y = np.asarray(dss.CktElement.YPrim(), dtype=float)
            y = (y[0::2] + 1j * y[1::2]).reshape(size, size)
            cols = []
            for c in range(size):
                term = c // ncond
                node = nodes[c]
                idx = None if node == 0 else node_index.get(f"{_bus_of(buses[term])}.{node}")
                cols.append(idx)
            for c in range(nph):
                r = len(rows)
                rows.append(ThermalRow(name, c + 1, rated))
                rating.append(rated)
                for j, idx in enumerate(cols):
                    if idx is not None and y[c, j] != 0:
                        b_rows.append(r)
                        b_cols.append(idx)
                        b_vals.append(y[c, j])
    bmat = sp.csr_matrix(
        (np.array(b_vals, dtype=complex), (np.array(b_rows, dtype=int), np.array(b_cols, dtype=int))),
        shape=(len(rows), len(node_index)),
    )
    return rows, np.array(rating), bmat


def _control_nodes(engine: Engine, node_index: dict[str, int]) -> tuple[list[str], np.ndarray]:
    """Elements whose admittance changes with controls (regulated transformers, capacitors)."""
    dss = engine.dss
    names: list[str] = []
    i = dss.RegControls.First()
    while i:
        names.append("Transformer." + dss.RegControls.Transformer())
        i = dss.RegControls.Next()
    i = dss.Capacitors.First()
    while i:
        names.append("Capacitor." + dss.Capacitors.Name())
        i = dss.Capacitors.Next()
    names = sorted(set(n.lower() for n in names))
    nodes: set[int] = set()
    for name in names:
        dss.Circuit.SetActiveElement(name)
        buses = dss.CktElement.BusNames()
        order = [int(n) for n in dss.CktElement.NodeOrder()]
        ncond = int(dss.CktElement.NumConductors())
        for c, node in enumerate(order):
            if node:
                idx = node_index.get(f"{_bus_of(buses[c // ncond])}.{node}")
                if idx is not None:
                    nodes.add(idx)
    return names, np.array(sorted(nodes), dtype=int)
