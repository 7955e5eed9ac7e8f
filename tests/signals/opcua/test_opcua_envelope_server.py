"""The envelope server's behaviour as a site sees it: envelope, limits in force, heartbeat, write-back."""

from __future__ import annotations

import asyncio
import datetime as dt
import queue
import time

import pytest
from asyncua import ua

from flexbench.core import Envelope
from flexbench.signals.opcua import OperatingMode, OperatorClient, SiteClient
from flexbench.signals.opcua.envelope import EnvelopeError
from flexbench.signals.opcua.model import NAMESPACE_URI

SITE_A, SITE_B = "site-a", "site-b"
UTC = dt.UTC


def whole_second(offset_s: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(int(time.time() + offset_s), UTC)


def test_published_envelope_reads_back_value_for_value(envelope_server, security, run):
    envelope = [
        {"start": whole_second(-60), "duration_s": 900.0, "import_limit_w": 55_000.0, "export_limit_w": 12_500.5},
        {"start": whole_second(840), "duration_s": 900.0, "import_limit_w": 40_000.25, "export_limit_w": 0.0},
        {"start": whole_second(1740), "duration_s": 3600.0, "import_limit_w": 0.0, "export_limit_w": 50_000.0},
    ]

    async def publish_and_read():
        async with (
            OperatorClient(envelope_server.endpoint, security("operator")) as op,
            SiteClient(envelope_server.endpoint, SITE_A, security(SITE_A)) as site,
        ):
            version = await op.publish_envelope(SITE_A, Envelope.of(envelope))
            signals = await site.wait_for(lambda s: s.envelope_version == version, timeout_s=5)
            return version, await site.read_envelope(), signals

    version, intervals, signals = run(publish_and_read())
    assert version >= 1
    assert [(i.start, i.duration_s, i.import_limit_w, i.export_limit_w) for i in intervals] == [
        (row["start"], row["duration_s"], row["import_limit_w"], row["export_limit_w"]) for row in envelope
    ]
    assert signals.valid_until == envelope[-1]["start"] + dt.timedelta(seconds=3600)
    assert (signals.import_limit_w, signals.export_limit_w, signals.limit_source) == (55_000.0, 12_500.5, "envelope")


def test_envelope_outside_the_site_range_is_refused_and_nothing_changes(envelope_server, security, run):
    envelope_server.publish_envelope(
        SITE_B,
        Envelope.of(
            [{"start": whole_second(-10), "duration_s": 600, "import_limit_w": 5_000.0, "export_limit_w": 5_000.0}]
        ),
    )
    before = envelope_server.read(SITE_B)

    async def publish_too_much() -> None:
        async with OperatorClient(envelope_server.endpoint, security("operator")) as op:
            await op.publish_envelope(
                SITE_B,
                Envelope.of(
                    [{"start": whole_second(0), "duration_s": 600, "import_limit_w": 10_001.0, "export_limit_w": 0.0}]
                ),
            )

    with pytest.raises(EnvelopeError, match="interval 0: .* exceed the site's range") as refused:
        run(publish_too_much())  # the server refused; the operator is told which interval and why
    server_said = refused.value.__context__
    assert isinstance(server_said, ua.UaStatusCodeError)
    assert ua.StatusCode(server_said.code).name == "BadOutOfRange"
    after = envelope_server.read(SITE_B)
    assert (after.envelope_version, after.envelope, after.import_limit_w) == (
        before.envelope_version,
        before.envelope,
        before.import_limit_w,
    )


def test_heartbeat_changes_and_its_loss_is_seen(envelope_server, security, run):
    async def watch():
        async with SiteClient(envelope_server.endpoint, SITE_B, security(SITE_B)) as site:
            seen = set()
            deadline = time.monotonic() + 3.0
            while len(seen) < 3 and time.monotonic() < deadline:
                await site.wait_for(lambda s: s.heartbeat not in seen, timeout_s=2.0)
                seen.add(site.signals.heartbeat)
            alive = not site.communication_lost(timeout_s=1.0)
            envelope_server.pause_heartbeat([SITE_B])
            await site.wait_for(lambda s: site.communication_lost(timeout_s=1.0), timeout_s=3.0)
            lost_after_s = site.heartbeat_age_s()
            envelope_server.resume_heartbeat([SITE_B])
            beat = site.signals.heartbeat
            await site.wait_for(lambda s: s.heartbeat != beat, timeout_s=2.0)
            return seen, alive, lost_after_s, site.communication_lost(timeout_s=1.0)

    seen, alive, lost_after_s, still_lost = run(watch())
    assert len(seen) >= 3 and alive
    assert lost_after_s > 1.0
    assert not still_lost


def test_limits_in_force_follow_envelope_operator_abnormal_and_firm(envelope_server, security, run):
    async def scenario():
        steps = []
        async with (
            SiteClient(envelope_server.endpoint, SITE_A, security(SITE_A)) as site,
            OperatorClient(envelope_server.endpoint, security("operator")) as op,
        ):

            async def seen(import_w, export_w, source, mode=OperatingMode.NORMAL):
                await site.wait_for(
                    lambda s: (
                        (s.import_limit_w, s.export_limit_w, s.limit_source, s.operating_mode)
                        == (import_w, export_w, source, mode)
                    ),
                    5.0,
                )
                steps.append(source)

            await seen(60_000.0, 20_000.0, "firm")
            await op.publish_envelope(
                SITE_A,
                Envelope.of(
                    [
                        {
                            "start": time.time() - 1,
                            "duration_s": 1.5,
                            "import_limit_w": 30_000.0,
                            "export_limit_w": 5_000.0,
                        }
                    ]
                ),
            )
            await seen(30_000.0, 5_000.0, "envelope")
            await op.set_limits(SITE_A, export_limit_w=7_000.0)
            await seen(30_000.0, 7_000.0, "operator")
            await op.signal_abnormal(SITE_A, max_import_w=10_000.0)
            await seen(10_000.0, 7_000.0, "abnormal", OperatingMode.ABNORMAL)
            assert site.signals.abnormal_import_limit_w == 10_000.0
            await op.clear_abnormal(SITE_A)
            await seen(30_000.0, 7_000.0, "operator")
            await seen(60_000.0, 20_000.0, "firm")  # the interval ends: the override goes with it
        return steps

    assert run(scenario()) == ["firm", "envelope", "operator", "abnormal", "operator", "firm"]


def test_abnormal_operation_ends_after_its_duration(envelope_server):
    envelope_server.signal_abnormal(5_000.0, duration_s=0.3, sites=[SITE_B])
    snapshot = envelope_server.read(SITE_B)
    assert (snapshot.operating_mode, snapshot.import_limit_w) == (OperatingMode.ABNORMAL, 5_000.0)
    deadline = time.monotonic() + 3.0
    while envelope_server.read(SITE_B).operating_mode != OperatingMode.NORMAL and time.monotonic() < deadline:
        time.sleep(0.05)
    snapshot = envelope_server.read(SITE_B)
    assert (snapshot.operating_mode, snapshot.import_limit_w, snapshot.limit_source) == (
        OperatingMode.NORMAL,
        10_000.0,
        "firm",
    )


def test_site_write_back_reaches_the_server_and_its_listeners(envelope_server, security, run):
    reports: queue.Queue = queue.Queue()
    envelope_server.add_report_listener(reports.put)
    when = whole_second(0)
    try:

        async def report() -> None:
            async with SiteClient(envelope_server.endpoint, SITE_A, security(SITE_A)) as site:
                await site.report(
                    -12_000.0,
                    3_000.0,
                    applied_import_limit_w=60_000.0,
                    applied_export_limit_w=20_000.0,
                    measurement_time=when,
                )

        run(report())
        received = reports.get(timeout=5)
    finally:
        envelope_server.remove_report_listener(reports.put)
    assert (
        received.site,
        received.measured_p_w,
        received.measured_q_var,
        received.applied_import_limit_w,
        received.applied_export_limit_w,
        received.measurement_time,
    ) == (SITE_A, -12_000.0, 3_000.0, 60_000.0, 20_000.0, when)
    assert envelope_server.read(SITE_A).measured_p_w == -12_000.0


def test_variables_carry_units_and_the_sites_physical_range(envelope_server, security, run):
    async def read_properties():
        async with OperatorClient(envelope_server.endpoint, security("operator")) as op:
            ns = await op.client.get_namespace_index(NAMESPACE_URI)
            node = op.client.get_node(ua.NodeId("site-a.ImportLimitW", ns))
            eu_range = await (await node.get_child("0:EURange")).read_value()
            unit = await (await node.get_child("0:EngineeringUnits")).read_value()
            q_range = await (
                await op.client.get_node(ua.NodeId("site-a.MeasuredQVar", ns)).get_child("0:EURange")
            ).read_value()
            p_range = await (
                await op.client.get_node(ua.NodeId("site-a.MeasuredPW", ns)).get_child("0:EURange")
            ).read_value()
            type_definition = await node.read_type_definition()
            return eu_range, unit, q_range, p_range, type_definition

    eu_range, unit, q_range, p_range, type_definition = run(read_properties())
    assert (eu_range.Low, eu_range.High) == (0.0, 100_000.0)
    assert (p_range.Low, p_range.High) == (-50_000.0, 100_000.0)
    assert (q_range.Low, q_range.High) == (-100_000.0, 100_000.0)
    assert unit.DisplayName.Text == "W" and unit.UnitId == 5723220  # UN/CEFACT "WTT"
    assert type_definition == ua.NodeId(ua.ObjectIds.AnalogItemType)


def test_site_client_notices_a_lost_server_and_resumes_when_it_returns(opcua_pki_dir, security, run):
    from flexbench.signals.opcua import EnvelopeServer, EnvelopeServerConfig, SiteSpec

    def config(endpoint: str) -> EnvelopeServerConfig:
        return EnvelopeServerConfig(
            [SiteSpec(SITE_B, 10_000.0, 10_000.0)],
            opcua_pki_dir,
            endpoint=endpoint,
            heartbeat_interval_s=0.2,
            tick_s=0.05,
        )

    async def scenario():
        first = EnvelopeServer(config("opc.tcp://127.0.0.1:0/flexbench/restart"))
        await first.start()
        async with SiteClient(first.endpoint, SITE_B, security(SITE_B)) as site:
            await site.wait_for(lambda s: s.heartbeat >= 2, timeout_s=5)
            await first.stop()
            await asyncio.sleep(1.0)
            lost = site.communication_lost(timeout_s=0.6)
            second = EnvelopeServer(config(first.endpoint))  # same port
            await second.start()
            try:
                await second.publish_envelope(
                    SITE_B,
                    Envelope.of(
                        [{"start": time.time() - 1, "duration_s": 60, "import_limit_w": 1_234.0, "export_limit_w": 0.0}]
                    ),
                )
                await site.wait_for(lambda s: s.import_limit_w == 1_234.0, timeout_s=20)
                beat = site.signals.heartbeat
                await site.wait_for(lambda s: s.heartbeat != beat, timeout_s=5)
                return lost, site.communication_lost(timeout_s=0.6)
            finally:
                await second.stop()

    lost, still_lost = run(scenario(), 60.0)
    assert lost and not still_lost


def test_site_client_subscribes_again_when_its_subscription_falls_silent(opcua_pki_dir, security, run):
    from flexbench.signals.opcua import EnvelopeServer, EnvelopeServerConfig, SiteSpec

    config = EnvelopeServerConfig(
        [SiteSpec(SITE_B, 10_000.0, 10_000.0)],
        opcua_pki_dir,
        endpoint="opc.tcp://127.0.0.1:0/flexbench/silent",
        heartbeat_interval_s=0.2,
        tick_s=0.05,
    )

    async def scenario():
        server = EnvelopeServer(config)
        await server.start()
        try:
            async with SiteClient(server.endpoint, SITE_B, security(SITE_B)) as site:
                await site.wait_for(lambda s: s.heartbeat >= 2, timeout_s=5)
                silent = site._subscription
                await silent.delete()  # the server forgets it; nothing more is published to this client
                await server.publish_envelope(
                    SITE_B,
                    Envelope.of(
                        [{"start": time.time() - 1, "duration_s": 60, "import_limit_w": 2_345.0, "export_limit_w": 0.0}]
                    ),
                )
                await site.wait_for(lambda s: s.import_limit_w == 2_345.0, timeout_s=10)
                await site.wait_for(lambda s: site._subscription is not silent, timeout_s=10)
                beat = site.signals.heartbeat
                await site.wait_for(lambda s: s.heartbeat != beat, timeout_s=5)
                return site._subscription is not silent, site.communication_lost(timeout_s=0.6)
        finally:
            await server.stop()

    subscribed_again, lost = run(scenario(), 60.0)
    assert subscribed_again and not lost


def test_synchronous_site_client_for_threaded_callers(envelope_server, security):
    from flexbench.signals.opcua import SiteClientThread

    envelope_server.publish_envelope(
        SITE_B,
        Envelope.of(
            [{"start": time.time() - 5, "duration_s": 600, "import_limit_w": 8_000.0, "export_limit_w": 2_000.0}]
        ),
    )
    with SiteClientThread(SiteClient(envelope_server.endpoint, SITE_B, security(SITE_B))) as site:
        signals = site.wait_for(lambda s: s.import_limit_w == 8_000.0, timeout_s=5)
        assert (signals.export_limit_w, signals.limit_source) == (2_000.0, "envelope")
        assert [(i.import_limit_w, i.export_limit_w) for i in site.read_envelope()] == [(8_000.0, 2_000.0)]
        site.report(1_500.0, -200.0, applied_import_limit_w=8_000.0, applied_export_limit_w=2_000.0)
        assert site.heartbeat_age_s() < 2.0 and not site.communication_lost()
    snapshot = envelope_server.read(SITE_B)
    assert (snapshot.measured_p_w, snapshot.applied_import_limit_w) == (1_500.0, 8_000.0)


def test_the_server_starts_once_per_session(envelope_server, opcua_server_starts):
    """asyncua's start-up takes about a second: every test of the session shares one server."""
    assert opcua_server_starts == [envelope_server.endpoint]
