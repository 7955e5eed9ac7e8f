"""The radial screening index: each site's path to the source, its conductors and the branches leaving it."""

from __future__ import annotations

import numpy as np
import pytest

from flexbench.twin.screening import TreeIndex


def _walk(model, bus: str) -> list[str]:
    """Buses from a site's bus up to the source, by the model's parent links."""
    path = [bus]
    while path[-1] in model.bus_parent:
        path.append(model.bus_parent[path[-1]][0])
    return path


@pytest.mark.parametrize("feeder, count", [("ieee123", None), ("ieee8500", 60)])
def test_paths_hold_each_sites_buses_in_order_from_the_site_up(request, feeder, count) -> None:
    model = request.getfixturevalue(feeder).model
    assert model.radial
    sites = np.arange(len(model.sites))
    if count:
        sites = np.sort(np.random.default_rng(4).choice(sites, count, replace=False))
    tree = TreeIndex(model, sites)
    bus_of = np.array([name.split(".")[0] for name in model.node_names])
    assert np.all(np.diff(tree.pn_pos) >= 0) and np.all(np.diff(tree.pt_pos) >= 0)
    for pos, s in enumerate(sites):
        path = _walk(model, model.sites[s].bus)
        nodes = tree.pn_node[tree.pn_pos == pos]
        # every node of every path bus, bus by bus in walking order
        seen = list(dict.fromkeys(bus_of[nodes]))
        assert seen == [b for b in path if (bus_of == b).any()]
        assert sorted(nodes.tolist()) == sorted(np.flatnonzero(np.isin(bus_of, path)).tolist())
        # the conductors of the elements joining each path bus to its parent
        rows = tree.pt_row[tree.pt_pos == pos]
        joining = {e.lower() for b in path[:-1] for e in model.bus_elements.get(b, [model.bus_parent[b][1]])}
        want = [r for r, t in enumerate(model.thermal) if t.element.lower() in joining]
        assert sorted(rows.tolist()) == want
        # branches leaving the path: children of path buses that are not on it
        names = [model.source_bus] + sorted(model.bus_parent)
        off = {names[b] for b in tree.oc_bus[tree.oc_pos == pos]}
        on = set(path)
        assert off == {b for b, (p, _) in model.bus_parent.items() if p in on and b not in on}


def test_the_index_built_beside_the_sensitivities_is_the_one_built_in_line(ieee123, monkeypatch) -> None:
    """prepare() builds the screening index in a thread while it settles and solves the Z columns."""
    from flexbench.twin import compute
    from flexbench.twin.compute import EnvelopeSettings, IntervalEngine

    monkeypatch.setattr(compute, "DENSE_LIMIT", 0)  # screen IEEE 123 as a large feeder would be
    sites = np.arange(len(ieee123.sites))
    load_w = np.array([0.6 * s.nominal_w for s in ieee123.sites])
    engine = IntervalEngine(ieee123, sites, EnvelopeSettings(method="fast"))
    engine.prepare(load_w, np.zeros(len(sites)))
    assert engine.linear is not None and engine.tree is not None
    in_line = TreeIndex(ieee123.model, sites)
    for name in ("pn_node", "pn_pos", "pt_row", "pt_pos", "oc_bus", "oc_pos", "pv_ref"):
        assert np.array_equal(getattr(engine.tree, name), getattr(in_line, name)), name
    assert (engine.tree._bmap != in_line._bmap).nnz == 0


def test_a_failure_building_the_index_reaches_the_caller(ieee123, monkeypatch) -> None:
    from flexbench.twin import compute
    from flexbench.twin.compute import EnvelopeSettings, IntervalEngine

    def broken(model, sites):
        raise ValueError("broken index")

    monkeypatch.setattr(compute, "DENSE_LIMIT", 0)
    monkeypatch.setattr(compute, "TreeIndex", broken)
    sites = np.arange(len(ieee123.sites))
    engine = IntervalEngine(ieee123, sites, EnvelopeSettings(method="fast"))
    with pytest.raises(ValueError, match="broken index"):
        engine.prepare(np.full(len(sites), 1000.0), np.zeros(len(sites)))
