"""Operating envelopes from the feeder twin, sent to the site: what every file of this plan shares.

The twin computes the operating envelope of the DUT's location on a feeder
(flexbench.lab.envelope_plan), once per run, on the main thread; it is mapped
to the site on the bench and sent over each transport the profile lists and
the bench has a server for (IEEE 2030.5, OPC-UA): every plan runs once per
transport. The site is judged at its PCC by the bench's analyzer.
"""

from __future__ import annotations

import pytest

from flexbench.lab.envelope_plan import EnvelopeParams, EnvelopePlan, SiteEnvelope, Transport, transports_on_bench
from flexbench.lab.envelope_plan import transport as open_transport
from flexbench.lab.plan import Plan, RequirementParams, Site


class Accuracy(RequirementParams):
    meter_accuracy_w: float


class Followed(Accuracy):
    """OE-FOLLOW"""

    response_window_s: float
    """Device seconds: each interval's limits may be exceeded this long after it starts."""
    end_guard_s: float
    """Checks stop this long before an interval ends (server and DUT clocks agree to the second)."""


class NearRealTime(Accuracy):
    """OE-NRT"""

    typical_response_s: float
    """Envelope time: the median update is obeyed within this."""
    max_response_s: float
    """Envelope time: every update is obeyed within this."""
    settled_hold_s: float
    """Device seconds: an update counts as obeyed once the site stayed within it this long."""


class AbnormalImport(Accuracy):
    """ABN-IMP"""

    response_time_s: float
    end_guard_s: float


class CachedThenFirm(Accuracy):
    """CSIP-LOSS"""

    response_window_s: float
    """Device seconds, after the cached schedule ends."""
    cached_band_w: float
    """Export within this of a cached interval's limit: the schedule is kept, not dropped."""
    end_guard_s: float


class FirmOnHeartbeatLoss(Accuracy):
    """OPC-LOSS"""

    response_window_s: float
    """Device seconds, after the site's heartbeat timeout (the bench's comm_loss_s)."""


PLAN = Plan(
    "envelopes",
    EnvelopeParams,
    profile="envelopes",
    requirements={
        "OE-FOLLOW": Followed,
        "OE-NRT": NearRealTime,
        "ABN-IMP": AbnormalImport,
        "CSIP-LOSS": CachedThenFirm,
        "OPC-LOSS": FirmOnHeartbeatLoss,
    },
)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "requirement_by_transport(**ids): the requirement ID a test checks, by transport"
    )


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """One test per transport the profile lists and the bench has a server for."""
    if "transport" not in metafunc.fixturenames:
        return
    names = transports_on_bench(PLAN.params(metafunc.config), metafunc.config.getoption("--bench"))
    by_transport = metafunc.definition.get_closest_marker("requirement_by_transport")
    params = []
    for name in names:
        marks = [pytest.mark.requirement(by_transport.kwargs[name])] if by_transport else []
        params.append(pytest.param(name, id=name, marks=marks))
    metafunc.parametrize("transport", params)


@pytest.fixture(scope="module")
def twin_plan(parameters, flexbench_run) -> EnvelopePlan:
    """The twin's envelopes for the DUT's location, cached in the run folder."""
    return EnvelopePlan(parameters.plan, parameters.profile, flexbench_run.run_dir)


@pytest.fixture(scope="module")
def envelope(twin_plan, recorder) -> SiteEnvelope:
    """The location's variable envelope on the site's scale (computed once per run)."""
    env = twin_plan.variable()
    recorder.event(
        "envelope",
        feeder=env.feeder,
        site_id=env.site_id,
        file=str(env.file),
        intervals=len(env.intervals),
        import_scale=env.import_scale,
        export_scale=env.export_scale,
        firm_import_w=env.firm.import_limit_w,
        firm_export_w=env.firm.export_limit_w,
    )
    return env


@pytest.fixture(scope="module")
def site(bench, recorder, clock, parameters) -> Site:
    """The PCS site at nominal grid, its own settings out of the way: the utility's limits govern."""
    s = Site(bench, recorder, clock, parameters.plan, phases=parameters.plan.phases)
    s.energize()
    s.program("unrestricted")
    return s


@pytest.fixture
def link(transport, bench, envelope, site, recorder) -> Transport:
    """The transport, governing: its firm limits are the envelope's; put back as found afterwards."""
    t = open_transport(transport, bench)
    t.claim(envelope.firm)
    recorder.event("transport", name=transport, **{f"firm_{k}": v for k, v in envelope.firm.as_dict().items()})
    try:
        yield t
    finally:
        t.release()
        site.show_limit(None)
