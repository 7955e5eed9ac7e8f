"""The virtual PCS schedules its battery and EV by the 2030.5 price in force, within the utility's limits."""

from __future__ import annotations

import pytest

from flexbench.lab.virtual.pcs_site import PCS_FAULTS, PCSSite, PCSSiteParameters
from flexbench.signals.csip.price_schedule import PricePeriod, PriceSchedule

LOAD_W, EV_W = 1_500.0, 4_500.0


def _prices(*windows: tuple[int, int, float]) -> PriceSchedule:
    return PriceSchedule(
        tuple(
            PricePeriod(
                "import", start, end, ((0.0, price),), primacy=1, creation_s=0, tou_tier=0, currency=840, mrid=f"{k}"
            )
            for k, (start, end, price) in enumerate(windows)
        )
    )


def _pcc_after(site: PCSSite, t0_s: float, seconds: float) -> float:
    """Step the site from t0_s for `seconds` at 0.05 s and return its PCC import."""
    steps = round(seconds / 0.05)
    for k in range(steps):
        site.step(t0_s + (k + 1) * 0.05, 0.05)
    return site.pcc_import_w()


def _site(fault: str = "healthy", prices: PriceSchedule | None = None, import_limit_w: float | None = None) -> PCSSite:
    site = PCSSite(PCSSiteParameters(battery_rated_power_w=5_000.0, ev_rated_power_w=4_500.0), PCS_FAULTS[fault])
    site.conditions.grid_on = True
    site.conditions.load_w = LOAD_W
    site.conditions.ev_demand_w = EV_W
    site.controller.prices = prices
    if import_limit_w is not None:
        site.controller.set_utility_limits("csip", import_limit_w, None)
    return site


def test_without_prices_the_site_serves_its_load_and_ev():
    assert _pcc_after(_site(), 0.0, 10.0) == pytest.approx(LOAD_W + EV_W, abs=5.0)


def test_a_cheap_price_charges_the_battery_and_an_expensive_one_imports_nothing():
    prices = _prices((0, 100, 0.05), (100, 200, 0.50))
    site = _site(prices=prices)
    assert _pcc_after(site, 0.0, 20.0) == pytest.approx(LOAD_W + EV_W + 5_000.0, abs=5.0)
    assert site.battery.value == pytest.approx(-5_000.0, abs=5.0)
    assert _pcc_after(site, 100.0, 20.0) == pytest.approx(0.0, abs=5.0)  # EV deferred, the battery covers the load
    assert site.ev.value == pytest.approx(0.0, abs=5.0)
    assert site.battery.value == pytest.approx(LOAD_W, abs=5.0)


@pytest.mark.parametrize(("fault", "within_cap"), [("healthy", True), ("price-over-envelope", False)])
def test_the_import_cap_wins_over_a_cheap_price_unless_the_site_is_faulty(fault: str, within_cap: bool):
    site = _site(fault, _prices((0, 100, 0.05)), import_limit_w=3_000.0)
    pcc_w = _pcc_after(site, 0.0, 20.0)
    assert (pcc_w <= 3_000.0) is within_cap, pcc_w
    if within_cap:
        assert site.battery.value < -1_000.0  # it still charges with what the cap leaves
