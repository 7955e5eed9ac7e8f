"""Prices beside envelopes (CPUC R.21-06-017 ruling, Q28): what every file of this plan shares.

The PCS site under the utility's control: the bench's 2030.5 head-end publishes
a price schedule (the Pricing function set: TariffProfile, RateComponent,
TimeTariffInterval, ConsumptionTariffInterval) and site limits (DERControls)
to the DUT's EndDevice; the PCS's own settings are out of the way. A site may
schedule its battery and EV by price, but only within its envelope; it is
judged at its PCC within meter accuracy.
"""

from __future__ import annotations

import pytest

from flexbench.lab.plan import Csip, Plan, RequirementParams, Site, SiteParams
from flexbench.signals.csip.prices import PriceInterval


class PricesPlan(SiteParams):
    """[plans.prices]"""

    site_rating_w: float
    """Site rating for the accuracy rule (PV rating of the virtual site)."""
    phases: int
    """The AC loads are per-phase units programmed alike."""
    start_delay_s: float
    """A price interval or a control starts this long after it is published."""
    window_s: float
    """Length of each price window (bench time)."""
    end_guard_s: float
    """Checks stop this long before a window ends: server and DUT clocks agree to the second."""
    cheap_price_per_kwh: float
    expensive_price_per_kwh: float
    load_w: float
    """The site's own load (uncontrolled), no PV: every watt of charging is imported."""
    ev_w: float
    """What the EV behind the PCS's charger asks for."""
    import_limit_w: float
    """The utility's import cap over the cheap window (PRICE-ENV)."""

    def window(self, start_s: float, k: int, price_per_kwh: float) -> PriceInterval:
        """The k-th price window from start_s."""
        return PriceInterval(
            start_s=int(start_s + k * self.window_s), duration_s=int(self.window_s), import_price_per_kwh=price_per_kwh
        )


class MeterAccuracy(RequirementParams):
    meter_accuracy_max_w: float
    meter_accuracy_pct_of_rating: float

    def accuracy_w(self, site_rating_w: float) -> float:
        """The lower of a share of the site rating and a fixed figure."""
        return min(self.meter_accuracy_max_w, self.meter_accuracy_pct_of_rating / 100.0 * site_rating_w)


class EnvelopeWins(MeterAccuracy):
    response_window_s: float
    """The site may exceed the import cap for this long after it starts."""


class FollowsPrice(MeterAccuracy):
    response_window_s: float
    """The site may take this long after a price window starts to follow it."""
    min_charge_w: float
    """Declared: in a cheap window the site charges at least this much besides its load and the EV."""
    import_tolerance_w: float
    """Declared: in an expensive window the site imports at most this (besides meter accuracy)."""


PLAN = Plan(
    "prices",
    PricesPlan,
    profile="prices",
    requirements={"PRICE-ENV": EnvelopeWins, "PRICE-FOLLOW": FollowsPrice},
)


@pytest.fixture(scope="module")
def site(bench, recorder, clock, parameters) -> Site:
    """The PCS site under the utility's limits and prices."""
    return Site(bench, recorder, clock, parameters.plan, phases=parameters.plan.phases).under_utility()


@pytest.fixture(scope="module")
def headend(csip, recorder) -> Csip:
    """The bench's 2030.5 head-end, addressing the DUT: limits and prices."""
    return Csip(csip, recorder)
