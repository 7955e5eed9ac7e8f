"""Group envelopes: the limit of several sites behind one IEEE 8500 service transformer, and its split.

The reference is plain OpenDSS (plain_opendss.py, none of the twin's code): the
feeder compiled afresh, and the group headroom found by bisection with the
group's whole headroom put on each site in turn and split equally, every other
site at its forecast, controls frozen at the forecast's. The twin's group limit
must be safe by that reference and close to it; the published allocation, every
site at its limit at once, must be safe; and a group given more than its limit
must be found unsafe by the twin's check and by the reference.
"""

from __future__ import annotations

import collections
import dataclasses

import numpy as np
import pytest

from flexbench.core import read_envelope_file
from flexbench.lab.cli import main
from flexbench.twin import EnvelopeSet, Twin, synthetic_profiles
from flexbench.twin.group import check_group, group_envelope, group_sites, read_group, shared_equipment
from flexbench.twin.synthetic import write_customer_feeder

from .plain_opendss import PlainFeeder, forecast_state, frozen_excess

START = "2025-07-14T17:00:00Z"  # a summer evening
HOURS = 2
CHECK_TOL = 1e-5  # pu, or fraction of a rating: well above the solver tolerance
DIRECTIONS = ("import", "export")


@pytest.fixture(scope="module")
def customers(tmp_path_factory) -> Twin:
    """IEEE 8500 with two or three customers behind each service transformer, each on its own drop."""
    return Twin.from_file(write_customer_feeder("ieee8500", 2400, tmp_path_factory.mktemp("customers")))


@pytest.fixture(scope="module")
def secondary(customers) -> str:
    """The smallest service transformer (by name among equals) feeding three customers."""
    count = collections.Counter(s.service_transformer for s in customers.sites)
    kva = {s.service_transformer: s.rating_w for s in customers.sites}
    return min((kva[name], name) for name, n in count.items() if name and n == 3)[1].partition(".")[2]


@pytest.fixture(scope="module")
def computed(customers, secondary):
    sites = group_sites(customers, f"transformer:{secondary}")
    prof = synthetic_profiles(customers.sites, START, HOURS, "1h", seed=3, pv_share=0.6)
    group = group_envelope(customers, sites, profiles=prof, start=START, horizon=f"{HOURS}h")
    return group, prof


@pytest.fixture(scope="module")
def plain(customers) -> PlainFeeder:
    return PlainFeeder(customers.source)


def _points(prof, t: int) -> tuple[dict, dict]:
    load = dict(zip(prof.load_w.columns, prof.load_w.to_numpy()[t]))
    pv = dict(zip(prof.pv_w.columns, prof.pv_w.to_numpy()[t]))
    return load, pv


def _place(plain: PlainFeeder, sites, load, pv, direction: str, extra_w) -> None:
    """Extra import on each site's own load, extra export as more generation (as the envelope states)."""
    if direction == "import":
        plain.set_loads({s: load[s] + x for s, x in zip(sites, extra_w)}, {})
    else:
        plain.set_loads({}, {s: pv[s] + x for s, x in zip(sites, extra_w)})


def _group_excess(plain, base, sites, load, pv, direction, headroom_w) -> tuple[float, str]:
    """The worst excess with the group headroom on each site in turn and split equally."""
    n = len(sites)
    worst = (-np.inf, "")
    for extra in [*(headroom_w * np.eye(n)), np.full(n, headroom_w / n)]:
        _place(plain, sites, load, pv, direction, extra)
        worst = max(worst, frozen_excess(plain, base, direction))
    _place(plain, sites, load, pv, direction, np.zeros(n))
    return worst


def _reference_headroom(plain, sites, load, pv, direction, guess_w: float) -> tuple[float, float]:
    """Bisection of the largest group headroom (W) no split of which breaks a limit, from a bracket
    around guess_w (widened until it holds); also the worst excess at guess_w."""
    base = forecast_state(plain, load, pv)

    def excess(h: float) -> float:
        return _group_excess(plain, base, sites, load, pv, direction, h)[0]

    at_guess = excess(guess_w)
    lo, hi = 0.9 * guess_w, 1.1 * guess_w + 100.0
    while lo > 0 and excess(lo) > CHECK_TOL:
        lo, hi = 0.5 * lo if lo > 50 else 0.0, lo
    while excess(hi) <= CHECK_TOL:
        lo, hi = hi, 2 * hi
        assert hi < 5e6, "nothing bounds the group"
    while hi - lo > max(5.0, 2e-3 * guess_w):
        mid = 0.5 * (lo + hi)
        if excess(mid) <= CHECK_TOL:
            lo = mid
        else:
            hi = mid
    return lo, at_guess


def _headroom(group, t: int, direction: str) -> float:
    forecast = group.forecast_import_w[t]
    return group.import_limit_w[t] - forecast if direction == "import" else group.export_limit_w[t] + forecast


def test_the_transformer_names_its_customers(customers, secondary):
    sites = group_sites(customers, f"transformer:{secondary}")
    expected = [s.site_id for s in customers.sites if s.service_transformer == f"Transformer.{secondary}"]
    assert sites == expected and len(sites) == 3
    assert shared_equipment(customers, sites)[0] == f"Transformer.{secondary}"


@pytest.mark.parametrize("direction", DIRECTIONS)
def test_group_limit_matches_a_plain_opendss_bisection(computed, plain, direction):
    group, prof = computed
    assert group.verified
    for t in range(HOURS):
        load, pv = _points(prof, t)
        twin = _headroom(group, t, direction)
        reference, at_twin = _reference_headroom(plain, group.site_ids, load, pv, direction, twin)
        binding = (group.binding_import if direction == "import" else group.binding_export)[t]
        assert binding != "cap"
        # safe: never above what the reference allows
        assert twin <= reference + 10.0, (t, twin, reference, binding)
        # tight: within 2 % (or 60 W) of it, or some split of it already within 2e-5 pu (or of a rating)
        # of a limit (a far node at its limit, which the group's power moves little)
        assert twin >= 0.98 * reference - 60.0 or at_twin >= -2e-5, (t, twin, reference, at_twin, binding)


def test_allocation_fits_the_group_and_is_safe_all_at_once(computed, plain):
    group, prof = computed
    env = group.sites
    assert np.all(group.allocated_import_w <= group.import_limit_w + 1e-6)
    assert np.all(group.allocated_export_w <= group.export_limit_w + 1e-6)
    for t in range(HOURS):
        load, pv = _points(prof, t)
        base = forecast_state(plain, load, pv)
        forecast = env.forecast_import_w[:, t]
        for direction in DIRECTIONS:
            extra = (
                env.import_limit_w[:, t] - forecast if direction == "import" else env.export_limit_w[:, t] + forecast
            )
            _place(plain, env.site_ids, load, pv, direction, extra)
            worst, where = frozen_excess(plain, base, direction)
            _place(plain, env.site_ids, load, pv, direction, np.zeros(len(extra)))
            assert worst <= CHECK_TOL, (t, direction, where)
    # the binding constraint is named: the transformer's rating binds the evening import
    assert list(group.binding_import) == [f"thermal:{group.shared_equipment}/1"] * HOURS
    assert all(text.startswith("rating ") for text in group.binding_import_limit)


def test_an_over_allocated_group_is_found_unsafe(customers, computed, plain):
    group, prof = computed
    loads, pvs = prof.load_w.to_numpy(), prof.pv_w.to_numpy()
    assert check_group(customers, group, loads, pvs).ok
    # the group limit raised by a quarter of its headroom beyond the forecast
    forecast = group.forecast_import_w
    more = dataclasses.replace(group, import_limit_w=forecast + 1.25 * (group.import_limit_w - forecast) + 200.0)
    report = check_group(customers, more, loads, pvs)
    assert not report.ok and report.worst_import.max() > CHECK_TOL, report.summary()
    load, pv = _points(prof, 0)
    base = forecast_state(plain, load, pv)
    worst, _ = _group_excess(plain, base, group.site_ids, load, pv, "import", _headroom(more, 0, "import"))
    assert worst > CHECK_TOL
    # per-site limits whose sum is above the group limit: flagged, and they break a limit at once
    env = group.sites
    bigger = dataclasses.replace(
        env, import_limit_w=env.forecast_import_w + 1.5 * (env.import_limit_w - env.forecast_import_w)
    )
    report = check_group(customers, dataclasses.replace(group, sites=bigger), loads, pvs)
    assert report.over_allocated and report.worst_import.max() > CHECK_TOL, report.summary()


# -- the command line ---------------------------------------------------------------------
@pytest.mark.parametrize("suffix", [".json", ".csv", ".parquet"])
def test_cli_writes_the_per_site_file_and_the_group_file(tmp_path, suffix):
    out = tmp_path / f"env{suffix}"
    assert (
        main(["envelope", "--feeder", "ieee13", "--group", "transformer:xfm1", "--horizon", "2h", "--out", str(out)])
        == 0
    )
    assert len(EnvelopeSet.read(out).envelope("634a").intervals) == 2
    if suffix != ".parquet":  # what `csip publish` / `opcua publish` read
        assert len(read_envelope_file(out, "634a").intervals) == 2
    meta, frame = read_group(tmp_path / f"env.group{suffix}")
    assert meta["sites"] == "634a,634b,634c" and meta["shared_equipment"] == "Transformer.xfm1"
    assert (frame["allocated_import_w"] <= frame["import_limit_w"] + 1e-3).all()
    assert meta["allocation"] == "equal" and meta["guarantee"].startswith("any split of the group total")


@pytest.mark.parametrize(
    "group, message",
    [
        ("611,646", "sites 611, 646 share no equipment: their paths to the source meet at Line.650632"),
        ("611", "a group needs at least two sites, got 611"),
        ("611,6520", "site '6520' is not on feeder ieee13 (did you mean 652?)"),
        ("transformer:xfm2", "transformer 'xfm2' is not on feeder ieee13 (did you mean xfm1?)"),
        ("transformer:sub", "sites 671, 634a, 634b, 634c, 645 and 10 more share no equipment"),
        ("FILE", "sites.txt:3: site 'x652' is not on feeder ieee13"),
    ],
)
def test_group_errors_are_one_line(tmp_path, capsys, group, message):
    listing = tmp_path / "sites.txt"
    listing.write_text("# the 684 lateral\n611\nx652\n")
    spec = str(listing) if group == "FILE" else group
    code = main(["envelope", "--feeder", "ieee13", "--group", spec, "--out", str(tmp_path / "e.csv")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2
    assert err[-1].startswith("flexbench envelope: ") and message in err[-1]
