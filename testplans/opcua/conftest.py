"""What the OPC-UA plans share: the PCS site, reached through the bench's envelope server.

Either the PCS is a site (a client) of the envelope server, or, when the bench
file names it under [signals.opcua.devices], the bench writes the site's
limits in force into the PCS's own OPC-UA server; the plans drive the
envelope server alike, and on the device path the device's measurements are
recorded as channels `<device>.<name>`.
"""

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
        self.device = opcua.device_for_site(self.name)  # None: the PCS is a client of the envelope server


@pytest.fixture(scope="module")
def site(bench, requirements, recorder, clock, opcua) -> OpcuaSite:
    s = OpcuaSite(bench, requirements, recorder, clock, opcua)
    if s.device is not None:
        opcua.add_measurement_listener(recorder.record)
    s.energize()
    s.program("unrestricted")  # the PCS's own settings out of the way: the utility's limits govern
    return s
