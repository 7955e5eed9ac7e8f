"""CSIP / CSIP-AUS site limits over IEEE 2030.5: what every file of this plan shares.

The PCS site under the utility's control: the bench's 2030.5 head-end sends
the limits (DERControls to the DUT's EndDevice), the PCS's own settings are
out of the way, and the site is judged at its PCC within meter accuracy.
"""

from __future__ import annotations

import pytest

from flexbench.lab.plan import Csip, Plan, RequirementParams, Site, StressParams


class CsipPlan(StressParams):
    """[plans.csip]"""

    site_rating_w: float
    """Site rating for the accuracy rule (PV rating of the virtual site)."""
    phases: int
    """The AC loads are per-phase units programmed alike."""
    start_delay_s: float
    """A control starts this long after it is published."""
    control_duration_s: float
    end_guard_s: float
    """Checks stop this long before a control ends: server and DUT clocks agree to the second."""
    export_limit_w: float
    import_limit_w: float
    abnormal_import_w: float
    default_export_limit_w: float
    """Firm (DefaultDERControl) export limit."""
    control_ramp_s: float | None = None
    """Ramp time (rampTms) sent with every DERControl: the DUT may take this long to reach a new limit and is
    judged once it is over. None: no ramp sent."""


class MeterAccuracy(RequirementParams):
    """Accuracy of the site meter: the lower of a share of the site rating (when given) and a fixed figure."""

    meter_accuracy_max_w: float
    meter_accuracy_pct_of_rating: float | None = None

    def accuracy_w(self, site_rating_w: float) -> float:
        if self.meter_accuracy_pct_of_rating is None:
            return self.meter_accuracy_max_w
        return min(self.meter_accuracy_max_w, self.meter_accuracy_pct_of_rating / 100.0 * site_rating_w)


class SoftLimit(MeterAccuracy):
    soft_limit_window_s: float
    """The site may exceed a new limit for this long after the control starts."""


class Responses(RequirementParams):
    statuses: list[int]


class LossOfComms(SoftLimit):
    default_band_w: float
    """Export within this of the default limit shows the default is applied."""
    default_ramp_pct_per_s: float = 0.0
    """setGradW sent with the DefaultDERControl (percent of setMaxW per second; 0: no ramp limit)."""

    def ramp_s(self, change_w: float, rating_w: float) -> float:
        """How long a DUT ramping at the sent rate takes for this change of limit (0 with no ramp)."""
        if self.default_ramp_pct_per_s <= 0:
            return 0.0
        return abs(change_w) / (self.default_ramp_pct_per_s / 100.0 * rating_w)


class Polling(RequirementParams):
    polls_observed: int
    interval_tolerance_pct: float


class EnvelopeFollowed(MeterAccuracy):
    response_window_s: float
    interval_s: float
    export_limits_w: list[float]


class AbnormalImport(MeterAccuracy):
    response_time_s: float


PLAN = Plan(
    "csip",
    CsipPlan,
    profile="csip-aus",
    requirements={
        "CSIP-GEN-01": SoftLimit,
        "CSIP-LOA-01": SoftLimit,
        "CSIP-RSP": Responses,
        "CSIP-LOSS": LossOfComms,
        "CSIP-SUP": SoftLimit,
        "CSIP-POLL": Polling,
        "OE-FOLLOW": EnvelopeFollowed,
        "ABN-IMP": AbnormalImport,
    },
)


@pytest.fixture(scope="module")
def site(bench, recorder, clock, parameters) -> Site:
    """The PCS site at nominal grid, its own settings out of the way: the utility's limits govern."""
    s = Site(bench, recorder, clock, parameters.plan, phases=parameters.plan.phases)
    s.energize()
    s.program("unrestricted")
    return s


@pytest.fixture(scope="module")
def headend(csip, recorder) -> Csip:
    """The bench's 2030.5 head-end, addressing the DUT."""
    return Csip(csip, recorder)
