"""What the OPC-UA plans share: the PCS site as an OPC-UA site of the bench's envelope server."""
from __future__ import annotations

import pytest

from flexbench.lab.site_control import SiteControl

PLAN = "opcua"


class OpcuaSite(SiteControl):
    def __init__(self, bench, requirements, recorder, clock, opcua) -> None:
        plan = requirements.plan(PLAN)
        super().__init__(bench, plan, recorder, clock, plan.integer("phases"), 0.0)
        self.requirements = requirements
        self.opcua = opcua
        self.name = next(iter(opcua.config.sites))
        self.rated = opcua.config.sites[self.name]


@pytest.fixture(scope="module")
def site(bench, requirements, recorder, clock, opcua) -> OpcuaSite:
    s = OpcuaSite(bench, requirements, recorder, clock, opcua)
    s.energize()
    s.program("unrestricted")  # the PCS's own settings out of the way: the utility's limits govern
    return s
