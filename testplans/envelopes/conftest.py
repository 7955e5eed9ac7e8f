"""What the envelope plans share: the twin's envelope for the DUT's location, the site, and the transport.

Each plan runs once per transport the profile lists and the bench has a
server for (2030.5, OPC-UA). The envelope is computed here, on the main
thread, once per run (cached in the run folder).
"""

from __future__ import annotations

import pytest

from flexbench.lab.envelope_plan import PLAN, EnvelopePlan, EnvelopeSite, SiteEnvelope, transports_on_bench
from flexbench.lab.envelope_plan import transport as open_transport
from flexbench.lab.profile import profile_for


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "requirement_by_transport(**ids): the requirement ID a test checks, by transport"
    )


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "transport" not in metafunc.fixturenames:
        return
    profile = profile_for(metafunc.config, metafunc.module.__file__, getattr(metafunc.module, "PROFILE", None))
    names = transports_on_bench(profile.plan(PLAN), metafunc.config.getoption("--bench"))
    by_transport = metafunc.definition.get_closest_marker("requirement_by_transport")
    params = []
    for name in names:
        marks = [pytest.mark.requirement(by_transport.kwargs[name])] if by_transport else []
        params.append(pytest.param(name, id=name, marks=marks))
    metafunc.parametrize("transport", params)


@pytest.fixture(scope="module")
def plan(requirements, flexbench_run) -> EnvelopePlan:
    return EnvelopePlan(requirements.plan(PLAN), flexbench_run.run_dir)


@pytest.fixture(scope="module")
def envelope(plan, recorder) -> SiteEnvelope:
    """The location's variable envelope on the site's scale (computed once per run)."""
    env = plan.variable()
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
def site(bench, requirements, recorder, clock) -> EnvelopeSite:
    s = EnvelopeSite(bench, requirements, recorder, clock)
    s.energize()
    s.program("unrestricted")  # the PCS's own settings out of the way: the utility's limits govern
    return s


@pytest.fixture
def link(transport, bench, envelope, site, recorder):
    """The transport, governing: its firm limits are the envelope's; put back as found afterwards."""
    t = open_transport(transport, bench)
    t.claim(envelope.firm)
    recorder.event("transport", name=transport, **{f"firm_{k}": v for k, v in envelope.firm.as_dict().items()})
    try:
        yield t
    finally:
        t.release()
        site.record_limit()
