"""The independent controller's 2030.5 side against the bench's server: schedule, Responses, mirrored power."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from flexbench.core import SiteLimits
from flexbench.lab.controller.findings import site_power_w
from flexbench.signals.csip import ServerThread
from flexbench.signals.csip.controls import ControlValues
from flexbench.signals.csip.tls import CSIP_CIPHERS
from flexbench.signals.pki import TestPKI

from .csip import Server
from .events import RECEIVED, STARTED, Limits, ResponseBook, in_force, limits_now


@pytest.fixture(scope="module")
def bench_server(tmp_path_factory) -> Iterator[tuple[ServerThread, Server]]:
    folder = tmp_path_factory.mktemp("csip")
    pki = TestPKI(folder / "pki")
    pki.init()
    pki.device("controller")
    me = pki.device_identity("controller")
    with ServerThread(folder / "state.db", pki.directory) as srv:
        srv.headend.register_device(me.lfdi, limit_mode="site")
        client = Server(srv.url, str(pki.ca_cert_path), str(me.cert_path), str(me.key_path), CSIP_CIPHERS, None, 5.0)
        assert client.lfdi == me.lfdi.upper()  # found from its own certificate
        yield srv, client
        client.close()


def test_schedule_defaults_and_the_responses_of_a_control(bench_server):
    srv, client = bench_server
    now_s = int(time.time())
    mrid = srv.headend.publish_control(
        client.lfdi, now_s - 1, 60, ControlValues(limits=SiteLimits(export_limit_w=1500.0))
    )["mrid"]
    srv.headend.set_default_control(client.lfdi, export_limit_w=4000.0, import_limit_w=9000.0)
    schedule = client.schedule()
    (control,) = [c for c in schedule.controls if c.mrid == mrid]
    assert control.limits == Limits(export_w=1500.0) and control.duration_s == 60 and control.reply_to
    winners = in_force(schedule.controls, client.now())
    assert limits_now(winners, schedule.defaults, Limits()) == Limits(export_w=1500.0, import_w=9000.0)
    assert limits_now([], schedule.defaults, Limits()) == Limits(export_w=4000.0, import_w=9000.0)
    book = ResponseBook()
    for c, status in book.due(schedule.controls, client.now(), winners, []):
        client.respond(c, status)
    statuses = [r.status for r in srv.headend.responses(client.lfdi, subject=mrid)]
    assert statuses == [RECEIVED, STARTED]


def test_the_mirrored_site_power_is_found_by_its_meaning(bench_server):
    srv, client = bench_server
    client.schedule()
    client.mirror(-1234.4, time.time())
    client.mirror(500.0, time.time())
    mirrored = srv.headend.telemetry(client.lfdi)
    assert [site_power_w(r) for r in mirrored] == [-1234.0, 500.0]
    assert {r.description for r in mirrored} == {"Site Avg Real Power (W) - Net"}
