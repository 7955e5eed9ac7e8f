"""Operating envelopes over OPC-UA: what the plan's files share.

The PCS site, reached through the bench's OPC-UA envelope server. Either the
PCS is a site (a client) of the envelope server, or, when the bench file names
it under [signals.opcua.devices], the bench writes the site's limits in force
into the PCS's own OPC-UA server; the plan drives the envelope server alike,
and on the device path the device's measurements are recorded as channels
`<device>.<name>`.
"""

from __future__ import annotations

import pytest

from flexbench.lab.plan import Opcua, Plan, RequirementParams, Site, StressParams


class OpcuaPlan(StressParams):
    """[plans.opcua]"""

    phases: int
    limit_step_export_w: float
    """OE-NRT: the new export limit."""


class NearRealTime(RequirementParams):
    response_time_s: float
    settled_hold_s: float
    """The plan stops watching once the site has been within the limit this long."""
    meter_accuracy_w: float


class ScheduleFollowed(RequirementParams):
    response_window_s: float
    meter_accuracy_w: float
    interval_s: float
    export_limits_w: list[float]


class HeartbeatLoss(RequirementParams):
    response_window_s: float
    """After the site's heartbeat timeout."""
    meter_accuracy_w: float
    non_firm_export_w: float
    """The operator's limit before the loss (above the firm limit)."""


class AbnormalImport(RequirementParams):
    response_time_s: float
    meter_accuracy_w: float
    max_import_w: float
    duration_s: float


PLAN = Plan(
    "opcua",
    OpcuaPlan,
    profile="opcua",
    requirements={
        "OE-NRT": NearRealTime,
        "OE-FOLLOW": ScheduleFollowed,
        "OPC-LOSS": HeartbeatLoss,
        "ABN-IMP": AbnormalImport,
    },
)


@pytest.fixture(scope="module")
def envelope_server(opcua, recorder) -> Opcua:
    """The bench's OPC-UA envelope server, for the site of the PCS."""
    server = Opcua(opcua, recorder)
    if server.device is not None:
        opcua.add_measurement_listener(recorder.record)
    return server


@pytest.fixture(scope="module")
def site(bench, recorder, clock, parameters, envelope_server) -> Site:
    """The PCS site at nominal grid, its own settings out of the way: the utility's limits govern."""
    s = Site(bench, recorder, clock, parameters.plan, phases=parameters.plan.phases)
    s.energize()
    s.program("unrestricted")
    return s
