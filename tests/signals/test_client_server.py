"""The DER client against the head-end over TLS: schedules read back value for value, the
response lifecycle, supersede/cancel/abnormal, telemetry, notifications, paging and loss of communication."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from typing import Any

import pytest

from flexbench.core import Envelope
from flexbench.signals.csip import CsipClient, RegistrationError, ServerThread
from flexbench.signals.csip import models as m
from flexbench.signals.csip.controls import decode, wire_values
from flexbench.signals.csip.xmlio import parse_tree
from flexbench.signals.pki import TestPKI

from .conftest import FastClock, http_for, notification_listener

SCALE = 20.0
CLOCK = FastClock(SCALE)


@pytest.fixture(scope="module")
def server(pki: TestPKI, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerThread]:
    with ServerThread(tmp_path_factory.mktemp("cs") / "state.db", pki.directory, clock=CLOCK) as srv:
        for name in ("dev-a", "dev-b", "maxw"):
            srv.headend.register_device(pki.device_identity(name).lfdi)
        srv.headend.register_device(pki.device_identity("v12").lfdi, csipaus_version="1.2")
        yield srv


def make_client(server: ServerThread, pki: TestPKI, name: str, **kwargs: Any) -> CsipClient:
    identity = pki.device_identity(name)
    kwargs.setdefault("clock", CLOCK)
    return CsipClient(server.url, pki.ca_cert_path, identity.cert_path, identity.key_path, **kwargs)


def program_href(server: ServerThread, lfdi: str, name: str) -> str:
    edev = server.headend.device(lfdi).id
    return f"/edev/{edev}/derp/{server.headend.book.program_by_name(edev, name).id}"


def bench_now() -> int:
    return int(CLOCK.now())


async def wait_for(predicate: Any, timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.02)


async def read_schedule(client: CsipClient) -> list[Any]:
    await client.discover()
    out = []
    for fsa in await client.get_list(client.links["fsa"], m.FunctionSetAssignmentsList, "FunctionSetAssignments"):
        for prog in await client.get_list(fsa.DERProgramListLink.href, m.DERProgramList, "DERProgram"):
            out += await client.get_list(prog.DERControlListLink.href, m.DERControlList, "DERControl")
    await client.stop()
    return out


@pytest.mark.parametrize("name", ["dev-a", "v12"])
def test_published_schedule_is_read_back_value_for_value(server: ServerThread, pki: TestPKI, name: str) -> None:
    lfdi = pki.device_identity(name).lfdi
    start = bench_now() + 3600
    limits = [(125000, 1500.5), (0, 32767), (40000, 1.5e6), (7300, 9999.9)] * 80  # 320 intervals: several pages
    intervals = [(start + i * 900, 900, imp, exp) for i, (imp, exp) in enumerate(limits)]
    published = server.headend.publish_envelope(lfdi, Envelope.of(intervals))
    assert published["mode"] == "site" and len(published["mrids"]) == len(intervals)
    stored = {c["mrid"]: c for c in server.headend.controls(lfdi)}
    read = asyncio.run(read_schedule(make_client(server, pki, name, list_limit=100)))
    by_mrid = {c.mRID: c for c in read}
    assert set(published["mrids"]) <= set(by_mrid)
    for mrid, interval in zip(published["mrids"], intervals):
        control = by_mrid[mrid]
        assert (control.interval.start, control.interval.duration) == (interval[0], interval[1])
        assert wire_values(control.DERControlBase_) == stored[mrid]["wire"]
        values = decode(control.DERControlBase_)
        assert values.import_limit_w == interval[2]
        assert values.export_limit_w == pytest.approx(interval[3], abs=1.0)  # 9999.9 W needs rounding in int16
    assert by_mrid[published["mrids"][0]].DERControlBase_.opModImpLimW.multiplier == 1
    assert by_mrid[published["mrids"][0]].DERControlBase_.opModExpLimW.multiplier == -1


def test_controls_carry_the_ramp_time_they_were_sent_with(server: ServerThread, pki: TestPKI) -> None:
    """rampTms (hundredths of a second) is in the served XML of a control and of every envelope interval, and
    the client reads it back as the ramp time; a control sent without one has none."""
    lfdi = pki.device_identity("dev-b").lfdi
    start = bench_now() + 7200
    one = server.headend.publish_control(lfdi, start, 600, {"export_limit_w": 3000.0, "ramp_time_s": 30.0})["mrid"]
    envelope = Envelope.of([(start + 600, 300, None, 2000.0), (start + 900, 300, None, 1000.0)])
    ramped = server.headend.publish_envelope(lfdi, envelope, ramp_time_s=12.5)["mrids"]
    plain = server.headend.publish_control(lfdi, start + 1200, 600, {"export_limit_w": 500.0})["mrid"]
    body = (
        http_for(server.url, pki, pki.device_identity("dev-b"))
        .get(program_href(server, lfdi, "envelope") + "/derc?l=100")
        .body
    )
    assert body.count(b"<rampTms>3000</rampTms>") == 1 and body.count(b"<rampTms>1250</rampTms>") == 2
    read = {c.mRID: c for c in asyncio.run(read_schedule(make_client(server, pki, "dev-b")))}
    assert decode(read[one].DERControlBase_).ramp_time_s == 30.0
    assert [decode(read[mrid].DERControlBase_).ramp_time_s for mrid in ramped] == [12.5, 12.5]
    assert read[plain].DERControlBase_.rampTms is None and decode(read[plain].DERControlBase_).ramp_time_s is None


def test_v12_device_gets_the_v12_namespace(server: ServerThread, pki: TestPKI) -> None:
    lfdi = pki.device_identity("v12").lfdi
    server.headend.set_default_control(lfdi, 1000, 2000)
    href = program_href(server, lfdi, "envelope")
    body = http_for(server.url, pki, pki.device_identity("v12")).get(f"{href}/dderc").body
    assert b'"https://csipaus.org/ns"' in body and b"v1.3" not in body


def test_max_w_mode_for_devices_without_site_limits(server: ServerThread, pki: TestPKI) -> None:
    lfdi = pki.device_identity("maxw").lfdi

    async def report() -> None:
        client = make_client(server, pki, "maxw")
        await client.discover()
        await client.put_der_capability(8000, modes_supported=0x00100000, doe_modes_supported=None)
        await client.put_der_settings(8000, doe_modes_enabled=None)
        await client.stop()

    asyncio.run(report())
    assert server.headend.limit_mode(lfdi) == "max_w"
    start = bench_now() + 3600
    result = server.headend.publish_envelope(lfdi, Envelope.of([(start, 900, 5000, 2000)]))
    assert result["mode"] == "max_w"
    read = asyncio.run(read_schedule(make_client(server, pki, "maxw")))
    control = next(c for c in read if c.mRID == result["mrids"][0])
    assert control.DERControlBase_.opModMaxLimW == 2500  # 2000 W of 8000 W = 25.00 %
    assert control.DERControlBase_.opModExpLimW is None


def test_lifecycle_supersede_cancel_abnormal_and_default(server: ServerThread, pki: TestPKI) -> None:
    lfdi = pki.device_identity("dev-b").lfdi
    h = server.headend
    h.set_default_control(lfdi, import_limit_w=9000, export_limit_w=5000)
    t0 = bench_now()
    env = h.publish_envelope(lfdi, Envelope.of([(t0 + 4, 6, 8000, 3000), (t0 + 10, 40, 7000, 2500)]))["mrids"]
    cancel_me = h.publish_control(lfdi, t0 + 60, 20, {"export_limit_w": 100}, program="abnormal")["mrid"]

    async def scenario() -> list[Any]:
        seen: list[Any] = []
        client = make_client(server, pki, "dev-b", poll_rate_s=1, pin=111115, on_change=seen.append)
        async with client:
            await wait_for(lambda: client.active.values.export_limit_w == 3000)
            await wait_for(lambda: client.active.values.export_limit_w == 2500)
            new = h.supersede_control(env[1], {"import_limit_w": 6000, "export_limit_w": 1000})["mrid"]
            await wait_for(lambda: client.active.values.export_limit_w == 1000)
            abnormal = h.signal_abnormal(lfdi, max_import_w=1500, duration_s=8)[lfdi]
            await wait_for(lambda: client.active.values.import_limit_w == 1500)
            assert client.active.values.export_limit_w == 1000  # export still from the envelope program
            await wait_for(lambda: client.active.values.import_limit_w == 6000)
            h.cancel_control(new)
            await wait_for(lambda: client.active.values.export_limit_w == 5000)  # back to the firm limits
            assert client.active.source == "default"
            h.cancel_control(cancel_me)
            await wait_for(
                lambda: (
                    (cancel_me, 6) in client.responses_sent
                    or client.scheduler.events.get(cancel_me) is not None
                    and client.scheduler.events[cancel_me].state == "done"
                )
            )
            await wait_for(lambda: (abnormal, 3) in client.responses_sent)
        return seen

    asyncio.run(scenario())
    statuses = {}
    for r in h.responses(lfdi):
        statuses.setdefault(r.subject, []).append(r.status)
    assert statuses[env[0]] == [1, 2, 3]
    assert statuses[env[1]] == [1, 2, 7]
    superseding = [c for c in h.controls(lfdi) if c["mrid"] not in env and c["program"] == "envelope"][0]
    assert statuses[superseding["mrid"]] == [1, 2, 6]
    assert [s for s in statuses.values() if s == [1, 2, 3]]  # the abnormal control completed
    assert statuses.get(cancel_me, [1])[:1] == [1]


def test_loss_of_communication_keeps_schedule_then_default(pki: TestPKI, tmp_path: Any) -> None:
    lfdi = pki.device_identity("dev-a").lfdi

    async def scenario() -> None:
        srv = ServerThread(tmp_path / "loss.db", pki.directory, clock=CLOCK)
        srv.start()
        try:
            srv.headend.register_device(lfdi)
            srv.headend.set_default_control(lfdi, 9000, 5000)
            t0 = bench_now()
            srv.headend.publish_envelope(lfdi, Envelope.of([(t0, 30, 8000, 1234)]))
            client = make_client(srv, pki, "dev-a", poll_rate_s=2, retry_interval_s=2)
            async with client:
                await wait_for(lambda: client.active.values.export_limit_w == 1234)
                srv.stop()
                failures = client.poll_failures
                await wait_for(lambda: client.poll_failures > failures)
                assert client.active.values.export_limit_w == 1234  # cached schedule still applies
                await wait_for(lambda: client.active.values.export_limit_w == 5000, timeout_s=15)
                assert client.active.source == "default"
        finally:
            srv.stop()

    asyncio.run(scenario())


def test_comm_loss_timeout_falls_back_at_once(pki: TestPKI, tmp_path: Any) -> None:
    lfdi = pki.device_identity("dev-a").lfdi

    async def scenario() -> None:
        with ServerThread(tmp_path / "loss2.db", pki.directory, clock=CLOCK) as srv:
            srv.headend.register_device(lfdi)
            srv.headend.set_default_control(lfdi, 9000, 5000)
            srv.headend.publish_envelope(lfdi, Envelope.of([(bench_now(), 3600, 8000, 1234)]))
            client = make_client(srv, pki, "dev-a", poll_rate_s=2, retry_interval_s=2, comm_loss_timeout_s=10)
            async with client:
                await wait_for(lambda: client.active.values.export_limit_w == 1234)
                srv.stop()
                await wait_for(lambda: client.active.values.export_limit_w == 5000, timeout_s=10)

    asyncio.run(scenario())


def test_registration_pin_is_checked(server: ServerThread, pki: TestPKI) -> None:
    client = make_client(server, pki, "dev-a", pin=123455)

    async def go() -> None:
        try:
            await client.discover()
        finally:
            await client.stop()

    with pytest.raises(RegistrationError):
        asyncio.run(go())


def test_telemetry_and_der_reports_reach_the_operator(server: ServerThread, pki: TestPKI) -> None:
    lfdi = pki.device_identity("dev-a").lfdi

    async def go() -> None:
        client = make_client(server, pki, "dev-a")
        await client.discover()
        await client.put_der_capability(10000)
        await client.put_der_status(connected=True)
        await client.put_der_availability(3000)
        await client.post_readings({"site_active_power_w": -2500, "voltage_v": 241.3}, time_s=1000)
        await client.post_readings(
            {"site_active_power_w": -2400, "voltage_v": 240.9, "der_active_power_w": 2600}, time_s=1005
        )
        await client.stop()

    asyncio.run(go())
    rows = server.headend.telemetry(lfdi)
    der = [r for r in rows if r.flow_direction == 19]  # the DER's own MirrorUsagePoint (CSIP-AUS roleFlags 49)
    assert [(r.role_flags, r.scaled_value) for r in der] == [("49", 2600)]
    assert {r.role_flags for r in rows if r.flow_direction != 19} == {"03"}  # the site's: premises point
    power = [r.scaled_value for r in rows if r.uom == 38 and r.flow_direction != 19]
    volts = [r.scaled_value for r in rows if r.uom == 29]
    assert power[-2:] == [-2500, -2400] and volts[-2:] == [241.3, 240.9]
    reports = server.headend.der_reports(lfdi)
    assert reports["capability"]["rtgMaxW"]["value"] == 10000
    assert reports["status"]["genConnectStatus"]["value"] == "07"
    assert reports["availability"]["statWAvail"]["value"] == 3000


def test_descriptions_are_string32_on_both_sides(server: ServerThread, pki: TestPKI, monkeypatch) -> None:
    """The client's descriptions fit a String32; the server refuses a longer one with 400, never stores it."""
    from flexbench.signals.csip import client as client_module
    from flexbench.signals.csip.client import QUANTITIES, CsipClientError, Quantity

    assert all(len(q.description.encode()) <= 32 for q in QUANTITIES.values())
    lfdi = pki.device_identity("dev-b").lfdi
    long = Quantity("Site active power (import positive)", 38, 37, 0, 1)  # 35 characters
    monkeypatch.setitem(client_module.QUANTITIES, "site_reactive_power_var", long)

    async def go() -> str:
        client = make_client(server, pki, "dev-b")
        await client.discover()
        await client.post_readings({"site_active_power_w": -1000}, time_s=2000)
        try:
            await client.post_readings({"site_reactive_power_var": 100}, time_s=2001)
        except CsipClientError as exc:
            return str(exc)
        finally:
            await client.stop()
        return "accepted"

    refused = asyncio.run(go())
    assert refused.endswith("HTTP 400"), refused
    assert [r.description for r in server.headend.telemetry(lfdi)] == ["Site active power, import +"]


def test_default_control_carries_its_ramp_rate_and_enter_service_settings(server: ServerThread, pki: TestPKI) -> None:
    """DefaultDERControl has setGradW and the enter-service fields, on the wire and in what the client applies;
    a limits-only update keeps them, a settings-only update keeps the limits, and out-of-range values are refused."""
    from flexbench.signals.csip.defaults import DefaultSettings

    lfdi = pki.device_identity("maxw").lfdi
    per_min = {"ramp_rate_pct_per_s": 16.67 / 60, "enter_service_delay_s": 300, "enter_service_low_frequency_hz": 59.5}
    server.headend.set_default_control(lfdi, values={"max_limit_pct": 50.0}, settings=per_min)
    server.headend.set_default_control(lfdi, values={"max_limit_pct": 40.0})  # settings kept
    kept = server.headend.default_control(lfdi)
    assert kept["values"] == {"max_limit_pct": 40.0} and kept["wire"]["setGradW"] == 28
    server.headend.set_default_control(lfdi, settings=DefaultSettings(ramp_rate_pct_per_s=0.5))  # limits kept
    assert server.headend.default_control(lfdi)["values"] == {"max_limit_pct": 40.0}
    for bad in ({"ramp_rate_pct_per_s": 700.0}, {"enter_service_delay_s": -1}, {"ramp_w_per_s": 1}):
        with pytest.raises(ValueError, match="setGradW|setESDelay|unknown default setting"):
            server.headend.set_default_control(lfdi, settings=bad)
    server.headend.set_default_control(lfdi, settings=per_min)

    async def go() -> Any:
        client = make_client(server, pki, "maxw")
        await client.discover()
        dderc_href = program_href(server, lfdi, "envelope") + "/dderc"
        dderc = await client.get(dderc_href, m.DefaultDERControl)
        await client.poll()
        await client.stop()
        return dderc, client.scheduler.default_only()

    dderc, active = asyncio.run(go())
    assert (dderc.setGradW, dderc.setESDelay, dderc.setESLowFreq, dderc.setESHighFreq) == (28, 30000, 5950, None)
    assert active.values.max_limit_pct == 40.0 and active.ramp_rate_pct_per_s == pytest.approx(0.28)


def test_list_paging_s_a_l(server: ServerThread, pki: TestPKI) -> None:
    lfdi = pki.device_identity("dev-a").lfdi
    base = bench_now() + 10 * 86400
    server.headend.publish_envelope(
        lfdi, Envelope.of([(base + i * 60, 60, 1000 + i, 2000 + i) for i in range(5)]), program="abnormal"
    )
    h = http_for(server.url, pki, pki.device_identity("dev-a"))
    path = program_href(server, lfdi, "abnormal") + "/derc"

    def page(query: str) -> Any:
        return m.DERControlList.from_xml_tree(parse_tree(h.get(f"{path}?{query}").body))

    full = page("l=100")
    assert full.all_ == full.results == len(full.DERControl)
    assert page("").results == 1  # 2030.5 default limit
    second = page("s=1&l=2")
    assert [c.mRID for c in second.DERControl] == [c.mRID for c in full.DERControl[1:3]]
    after = page(f"a={base + 120}&l=100")
    assert all(c.interval.start >= base + 120 for c in after.DERControl) and after.results == 3


def test_subscription_notifications_are_posted_over_tls(server: ServerThread, pki: TestPKI) -> None:
    lfdi = pki.device_identity("dev-a").lfdi
    identity = pki.device_identity("dev-a")
    received: list[bytes] = []

    async def go() -> None:
        async with notification_listener(identity, pki, received) as uri:
            client = make_client(server, pki, "dev-a")
            await client.discover()
            resource = program_href(server, lfdi, "envelope") + "/derc"
            await client.subscribe(resource, uri, limit=10)
            server.headend.publish_envelope(lfdi, Envelope.of([(bench_now() + 20 * 86400, 900, 1, 2)]))
            await wait_for(lambda: bool(received))
            await client.stop()

    asyncio.run(go())
    root = parse_tree(received[0])
    assert root.tag.endswith("Notification")
    assert (
        root.find("{urn:ieee:std:2030.5:ns}Resource").get("{http://www.w3.org/2001/XMLSchema-instance}type")
        == "DERControlList"
    )
