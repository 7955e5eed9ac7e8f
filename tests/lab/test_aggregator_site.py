"""The aggregator bench: homes on a shared IEEE 8500 transformer, the utility's shares, the reference aggregator's law.

The bench test opens lab/benches/virtual-aggregator.toml as a run does (the
reference aggregator started as its own process), reads a home's meter over
SunSpec Modbus as the aggregator does, and checks that the analyzer's
transformer is the sum of the homes and that the aggregator's site file names
every home's devices and LFDI.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from flexbench.lab.bench import Bench
from flexbench.lab.bench_config import BenchError, load_bench
from flexbench.lab.clock import ScaledClock
from flexbench.lab.virtual.aggregator_site.config import parse_homes, plain_error
from flexbench.lab.virtual.aggregator_site.transformer import allocate_capacity, service_transformer_kva
from flexbench.lab.virtual.aggregator_site.utility import register_group
from flexbench.lab.virtual.reference_aggregator.group import HomeView, home_commands, reallocate
from flexbench.lab.virtual.reference_aggregator.site_file import load_aggregator_site_file
from flexbench.lab.virtual.reference_controller.devices import SiteMeter

ROOT = Path(__file__).resolve().parents[2]
BENCH = ROOT / "lab/benches/virtual-aggregator.toml"


# -- the transformer and its shares ------------------------------------------------------------------
def test_service_transformer_rating_comes_from_ieee8500() -> None:
    assert service_transformer_kva("T5321859B") == 25.0  # XfmrCode CT25
    assert service_transformer_kva("t21396254a") == 15.0  # CT15, any case
    with pytest.raises(KeyError, match="no service transformer 'T0' on IEEE 8500"):
        service_transformer_kva("T0")


@pytest.mark.parametrize("method", ["equal", "proportional", "max-total"])
def test_shares_fill_the_capacity_within_each_own_limit(method: str) -> None:
    own = [12000.0, 12000.0, 8000.0, 12000.0]
    shares = allocate_capacity(25000.0, own, method)
    assert sum(shares) == pytest.approx(25000.0, abs=4.0) and sum(shares) <= 25000.0
    assert all(0.0 <= s <= o for s, o in zip(shares, own))


def test_equal_and_proportional_shares_differ_as_their_names_say() -> None:
    own = [12000.0, 12000.0, 8000.0, 12000.0]
    assert allocate_capacity(25000.0, own, "equal") == [6250.0] * 4
    proportional = allocate_capacity(25000.0, own, "proportional")
    assert proportional[2] / proportional[0] == pytest.approx(8000.0 / 12000.0, rel=1e-3)
    assert allocate_capacity(40000.0, own, "equal") == [10666.0, 10666.0, 8000.0, 10666.0]  # max-min fair
    assert allocate_capacity(50000.0, own, "equal") == own  # room for all: each gets its own limit
    with pytest.raises(ValueError, match="unknown allocation 'fair'"):
        allocate_capacity(25000.0, own, "fair")


# -- the reference aggregator's law -------------------------------------------------------------------
def _home(name: str, demand_w: float | None, limit_w: float | None = 6250.0) -> HomeView:
    return HomeView(name, limit_w, demand_w, 12000.0)


def test_unused_shares_are_lent_and_taken_back_within_the_group() -> None:
    lent = reallocate([_home("a", 1500.0), _home("b", 1500.0), _home("c", 1500.0), _home("d", 11200.0)])
    assert lent["d"] == pytest.approx(11700.0)  # its demand and the lender's buffer, within its own limit
    assert sum(v or 0.0 for v in lent.values()) <= 25000.0
    reclaimed = reallocate([_home("a", 1500.0), _home("b", 11200.0), _home("c", 11200.0), _home("d", 11200.0)])
    assert sum(v or 0.0 for v in reclaimed.values()) == pytest.approx(25000.0, abs=2.0)
    assert reclaimed["b"] == reclaimed["d"] < lent["d"]  # the borrower gives back what the lenders want


def test_a_lost_home_is_counted_at_its_worst_case_unless_the_fault_says_otherwise() -> None:
    homes = [_home("a", 11200.0), _home("b", 11200.0), _home("c", 11200.0), _home("d", None)]
    safe = reallocate(homes)
    assert sum(safe[n] or 0.0 for n in "abc") + 12000.0 == pytest.approx(25000.0, abs=2.0)
    unsafe = reallocate(homes, lost_at_worst=False)
    assert all(unsafe[n] == 6250.0 for n in "abc")


def test_homes_without_a_published_limit_keep_none() -> None:
    assert reallocate([_home("a", 5000.0, None), _home("b", 1000.0, None)]) == {"a": None, "b": None}


def test_a_home_over_its_limit_discharges_its_battery_first_then_caps_its_ev() -> None:
    # load 4 kW, EV charging 7.2 kW, battery idle, no PV: 11.2 kW import against 6.25 kW
    c = home_commands(11200.0, 0.0, 0.0, -7200.0, (5000.0, 5000.0, 7200.0), 6250.0, None, 150.0)
    assert c.battery_min_w == 5000.0  # the battery's whole rating forced out
    assert c.ev_charge_max_w == pytest.approx(7100.0)  # 4 + 7.1 - 5 = 6.1 kW: the limit less the margin
    free = home_commands(2000.0, 0.0, 0.0, 0.0, (5000.0, 5000.0, 7200.0), None, None, 150.0)
    assert (free.ev_charge_max_w, free.battery_min_w, free.pv_cap_w) == (7200.0, -5000.0, None)


# -- the bench file --------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("old", "new", "at", "key", "reason"),
    [
        ('allocation = "equal"', 'allocation = "fair"', 'allocation = "fair"', "virtual.transformer.allocation", "must be one of equal, proportional, max-total"),
        ('name = "T5321859B"', 'name = "T0"', 'name = "T0"', "virtual.transformer.name", "no service transformer 'T0' on IEEE 8500"),
        ("ev_w = 7200.0", "evw = 7200.0", "evw = 7200.0", "virtual.homes.evw", "unknown key"),
        ("load_w = 1500.0", "load_w = -1.0", "load_w = -1.0", "virtual.homes.load_w", "must be a non-negative number"),
        ("service_export_limit_w = 8000.0", "service_export_limit_w = 8000.0\n[virtual.homes.home9]\nev_w = 0.0", "[virtual.homes.home9]", "[virtual.homes.home9]", "not one of the homes"),
    ],
)  # fmt: skip
def test_bench_file_mistakes_name_file_line_and_key(
    tmp_path: Path, old: str, new: str, at: str, key: str, reason: str
) -> None:
    text = BENCH.read_text()
    assert old in text
    text = text.replace(old, new, 1)
    path = tmp_path / "bench.toml"
    path.write_text(text)
    line = text[: text.index(at)].count("\n") + 1
    with pytest.raises(BenchError) as err:
        load_bench(path)
    message = str(err.value)
    assert message.startswith(f"{path}:{line}: {key}") and reason in message and "\n" not in message, message


def test_homes_share_values_and_change_one_by_its_own_table() -> None:
    homes = parse_homes(
        plain_error("b.toml"), {"names": ["a", "b"], "ev_w": 0.0, "b": {"service_import_limit_w": 8000.0}}
    )
    assert [(h.name, h.ev_w, h.service_import_limit_w) for h in homes] == [("a", 0.0, 12000.0), ("b", 0.0, 8000.0)]
    with pytest.raises(BenchError, match=r"^b.toml \[virtual.homes.a\]: a home needs a device"):
        parse_homes(plain_error("b.toml"), {"names": ["a"], "pv_w": 0.0, "battery_w": 0.0, "ev_w": 0.0})


def test_the_bench_serves_every_home_and_measures_the_transformer(tmp_path: Path) -> None:
    clock = ScaledClock(10.0)
    with Bench.open(BENCH, clock, "healthy", work_dir=tmp_path) as bench:
        group = register_group(bench)
        assert set(group.homes) == {"home1", "home2", "home3", "home4"}
        assert group.rating_w == 25000.0 and group.shares() == dict.fromkeys(group.homes, 6250.0)
        site = load_aggregator_site_file(tmp_path / "aggregator-site.toml")
        assert [h.lfdi for h in site.homes] == [group.homes[h.name].lfdi for h in site.homes]
        assert all(set(h.devices) == {"pv", "battery", "ev"} for h in site.homes)
        raw = tomllib.loads((tmp_path / "aggregator-site.toml").read_text())
        assert raw["utility"]["lfdi"] == group.aggregator_lfdi
        headend = bench.csip.headend
        assert {d.kind for d in headend.devices() if d.lfdi == group.aggregator_lfdi} == {"aggregator"}
        bench.operator_action("load:home2:3000", "Set home2's load to 3000 W.")
        meter = SiteMeter(site.homes[1].meter, timeout_s=2.0)  # home2's meter, as the aggregator reads it
        try:
            deadline_s = clock.now() + 60.0
            reading_w = meter.read_import_w()
            while abs(reading_w - 3000.0) > 50.0 and clock.now() < deadline_s:
                clock.sleep(1.0)
                reading_w = meter.read_import_w()
        finally:
            meter.close()
        assert reading_w == pytest.approx(3000.0, abs=50.0)
        elements = bench.analyzer.read().elements
        homes_w = sum(elements[bench.element(name)].power_w for name in group.homes)
        assert elements[bench.element("transformer")].power_w == pytest.approx(homes_w, abs=50.0)
        with pytest.raises(BenchError, match="no operator action 'load:home9:1'"):
            bench.operator_action("load:home9:1", "Set home9's load.")


def test_the_aggregator_site_file_says_what_is_missing(tmp_path: Path) -> None:
    from flexbench.lab.virtual.reference_controller.site_file import SiteFileError

    path = tmp_path / "aggregator-site.toml"
    path.write_text('[utility]\nurl = "https://127.0.0.1:1"\nca = "ca.pem"\ncert = "c.pem"\nkey = "k.pem"\n')
    with pytest.raises(SiteFileError, match=r"no \[\[sites\]\]: an aggregator needs sites"):
        load_aggregator_site_file(path)
    path.write_text('[clock]\ntime_scale = 10.0\n[[sites]]\nname = "home1"\nlfdi = "AB"\n')
    with pytest.raises(SiteFileError, match=r"\[utility\] needs|utility: expected a table"):
        load_aggregator_site_file(path)


@pytest.mark.parametrize("allocation", ["proportional", "max-total"])
def test_the_bench_files_allocation_decides_the_shares(tmp_path: Path, allocation: str) -> None:
    from flexbench.lab.virtual.aggregator_site.site import AggregatorSiteBench
    from flexbench.lab.virtual.aggregator_site.utility import Group, Home

    text = BENCH.read_text().replace('allocation = "equal"', f'allocation = "{allocation}"')
    text += "\n[virtual.homes.home3]\nservice_import_limit_w = 8000.0\n"
    path = tmp_path / "bench.toml"
    path.write_text(text)
    config = load_bench(path)
    virtual = {k: v for k, v in (config.virtual or {}).items() if k != "site"}
    site = AggregatorSiteBench(config, virtual, ScaledClock(1.0), "healthy", csip=object())
    t, homes = site.site_map()["transformer"], site.site_map()["homes"]
    group = Group(
        "AGG",
        t["name"],
        t["rating_w"],
        t["allocation"],
        {n: Home(n, "", h["service_import_limit_w"], h["service_export_limit_w"]) for n, h in homes.items()},
    )
    shares = group.shares()
    assert sum(shares.values()) == pytest.approx(25000.0, abs=4.0)
    assert shares == dict(zip(homes, allocate_capacity(25000.0, [12000.0, 12000.0, 8000.0, 12000.0], allocation)))
    assert shares["home3"] < shares["home1"] if allocation == "proportional" else max(shares.values()) == 12000.0
