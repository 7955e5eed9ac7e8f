"""What the CSIP plans share: the PCS site under 2030.5 control, and the checks on its PCC."""

from __future__ import annotations

import pytest

from flexbench.lab import evaluate
from flexbench.lab.site_control import SiteControl

PLAN = "csip"


class CsipSite(SiteControl):
    def __init__(self, bench, requirements, recorder, clock, csip) -> None:
        plan = requirements.plan(PLAN)
        super().__init__(bench, plan, recorder, clock, plan.integer("phases"), 0.0)
        self.requirements = requirements
        self.csip = csip
        self.lfdi = next(iter(csip.lfdis.values()))
        self.headend = csip.headend

    def accuracy_w(self, requirement_id: str) -> float:
        """Meter accuracy: the lower of a share of the site rating and a fixed watts figure."""
        r = self.requirements.requirement(requirement_id)
        max_w = r.number("meter_accuracy_max_w")
        if "meter_accuracy_pct_of_rating" in r.data:
            return min(max_w, r.number("meter_accuracy_pct_of_rating") / 100.0 * self.plan.number("site_rating_w"))
        return max_w

    def response_check(self, mrid: str) -> evaluate.Result:
        """CSIP-RSP: the control's Responses, in order, are exactly the profile's statuses."""
        expected = [int(s) for s in self.requirements.requirement("CSIP-RSP").numbers("statuses")]
        got = self.responses(mrid)
        ok = got == expected
        return evaluate.Result(
            requirement_id="CSIP-RSP",
            criterion=f"Responses {', '.join(map(str, expected))} posted for the control",
            measured=None,
            limit=None,
            unit="",
            margin=None,
            verdict=evaluate.PASS if ok else evaluate.FAIL,
            message=f"Responses {got or 'none'} posted for control {mrid}" + ("" if ok else f", expected {expected}"),
        )

    def responses(self, mrid: str) -> list[int]:
        return [
            r["status"]
            for r in sorted(self.headend.responses(self.lfdi, subject=mrid), key=lambda r: r.get("created_s") or 0)
        ]


@pytest.fixture(scope="module")
def site(bench, requirements, recorder, clock, csip) -> CsipSite:
    s = CsipSite(bench, requirements, recorder, clock, csip)
    s.energize()
    s.program("unrestricted")  # the PCS's own settings out of the way: the utility's limits govern
    return s
