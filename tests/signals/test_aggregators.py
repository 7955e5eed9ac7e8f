"""Over real TLS: aggregators as CSIP-AUS has them, with two aggregators and two direct devices.

An aggregator's client holds one SubscriptionList, on its own EndDevice, and subscribes there to the
resources of every site it manages; nobody sees, or subscribes to, another client's resources.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from lxml import etree

from flexbench.core import Envelope
from flexbench.signals.csip import ServerThread
from flexbench.signals.csip.operator_client import OperatorClient
from flexbench.signals.csip.tls import server_context
from flexbench.signals.csip.xmlio import parse_tree
from flexbench.signals.pki import TestPKI

from .conftest import Http, http_for

NS = "{urn:ieee:std:2030.5:ns}"
XSI_TYPE = "{http://www.w3.org/2001/XMLSchema-instance}type"
AGGREGATORS = {"agg-one": ("one-site-1", "one-site-2"), "agg-two": ("two-site-1",)}
DIRECT = ("dev-a", "dev-b")


class NotificationSink:
    """An https endpoint (mutual TLS, as the server notifies) that keeps every Notification POSTed to it."""

    def __init__(self, pki: TestPKI, name: str, refuse_first: int = 0) -> None:
        self.received: list[etree._Element] = []
        self.refused = 0
        sink = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                if sink.refused < refuse_first:  # unreachable for a while: the server must try again
                    sink.refused += 1
                    self.send_response(500)
                else:
                    sink.received.append(parse_tree(body))
                    self.send_response(201)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        identity = pki.device_identity(name)
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        context = server_context(pki.ca_cert_path, identity.cert_path, identity.key_path)
        self.httpd.socket = context.wrap_socket(self.httpd.socket, server_side=True)
        self.uri = f"https://127.0.0.1:{self.httpd.server_address[1]}/note"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def wait_for(self, predicate: Callable[[etree._Element], bool], timeout_s: float = 15.0) -> etree._Element:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            for note in list(self.received):
                if predicate(note):
                    return note
            time.sleep(0.02)
        raise AssertionError(f"no such Notification in {timeout_s} s; got {len(self.received)}")


@pytest.fixture(scope="module")
def server(pki: TestPKI, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerThread]:
    for name in (*AGGREGATORS, *(s for sites in AGGREGATORS.values() for s in sites), *DIRECT):
        pki.device(name)
    with ServerThread(tmp_path_factory.mktemp("agg") / "state.db", pki.directory) as srv:
        h = srv.headend
        for name in DIRECT:
            h.register_device(pki.device_identity(name).lfdi)
        for aggregator, sites in AGGREGATORS.items():
            h.register_device(pki.device_identity(aggregator).lfdi, kind="aggregator")
            for site in sites:
                h.register_device(pki.device_identity(site).lfdi, aggregator_lfdi=pki.device_identity(aggregator).lfdi)
        yield srv


def lfdi(pki: TestPKI, name: str) -> str:
    return pki.device_identity(name).lfdi


def edev(server: ServerThread, pki: TestPKI, name: str) -> int:
    return int(server.headend.device(lfdi(pki, name)).id)


def client(server: ServerThread, pki: TestPKI, name: str) -> Http:
    return http_for(server.url, pki, pki.device_identity(name))


def subscription(resource: str, uri: str) -> bytes:
    return (
        f'<Subscription xmlns="urn:ieee:std:2030.5:ns"><subscribedResource>{resource}</subscribedResource>'
        f"<encoding>0</encoding><level>+S1</level><limit>100</limit><notificationURI>{uri}</notificationURI>"
        "</Subscription>"
    ).encode()


def subscription_lists(http: Http) -> dict[str, str]:
    """LFDI -> SubscriptionListLink href of every EndDevice the client lists that has one."""
    listing = parse_tree(http.get("/edev?l=100").body)
    out = {}
    for device in listing.iter(f"{NS}EndDevice"):
        link = device.find(f"{NS}SubscriptionListLink")
        if link is not None:
            out[device.findtext(f"{NS}lFDI") or ""] = link.get("href") or ""
    return out


def test_one_subscription_list_per_client_on_its_own_end_device(server: ServerThread, pki: TestPKI) -> None:
    for name in (*AGGREGATORS, *DIRECT):
        lists = subscription_lists(client(server, pki, name))
        assert lists == {lfdi(pki, name): f"/edev/{edev(server, pki, name)}/sub"}, name
    agg = client(server, pki, "agg-one")
    site = edev(server, pki, "one-site-1")
    assert agg.get(f"/edev/{site}/sub").status == 404
    assert agg.post(f"/edev/{site}/sub", subscription(f"/edev/{site}/fsa", "https://127.0.0.1:1/n")).status == 404


def test_end_device_lists_are_scoped_to_the_client(server: ServerThread, pki: TestPKI) -> None:
    names = {lfdi(pki, n): n for n in (*AGGREGATORS, *(s for v in AGGREGATORS.values() for s in v), *DIRECT)}
    for aggregator, sites in AGGREGATORS.items():
        listing = parse_tree(client(server, pki, aggregator).get("/edev?l=100").body)
        seen = {names[d.findtext(f"{NS}lFDI") or ""] for d in listing.iter(f"{NS}EndDevice")}
        assert seen == {aggregator, *sites}
    for name in DIRECT:
        listing = parse_tree(client(server, pki, name).get("/edev?l=100").body)
        assert {names[d.findtext(f"{NS}lFDI") or ""] for d in listing.iter(f"{NS}EndDevice")} == {name}


def test_nobody_subscribes_to_another_clients_resources(server: ServerThread, pki: TestPKI) -> None:
    uri = "https://127.0.0.1:1/n"
    others = {
        "agg-one": ("two-site-1", "dev-a", "agg-two"),
        "agg-two": ("one-site-1", "dev-b", "agg-one"),
        "dev-a": ("one-site-1", "dev-b", "agg-one"),
    }
    for name, foreign in others.items():
        http = client(server, pki, name)
        own_list = f"/edev/{edev(server, pki, name)}/sub"
        for other in foreign:
            resource = f"/edev/{edev(server, pki, other)}/fsa"
            assert http.post(own_list, subscription(resource, uri)).status == 400, (name, other)
        other_list = f"/edev/{edev(server, pki, foreign[-1])}/sub"
        assert http.post(other_list, subscription(f"/edev/{edev(server, pki, name)}/fsa", uri)).status == 403
        assert http.get(other_list).status == 403
    assert server.headend.records.subscriptions() == []


def test_aggregator_subscribes_to_its_sites_and_alone_is_notified(server: ServerThread, pki: TestPKI) -> None:
    sinks = {name: NotificationSink(pki, name) for name in ("agg-one", "agg-two")}
    try:
        site = edev(server, pki, "one-site-2")
        envelope = server.headend.book.program_by_name(site, "envelope")
        derc_list = f"/edev/{site}/derp/{envelope.id}/derc"
        own_list = {name: f"/edev/{edev(server, pki, name)}/sub" for name in sinks}
        one = client(server, pki, "agg-one")
        created = one.post(own_list["agg-one"], subscription(derc_list, sinks["agg-one"].uri))
        assert created.status == 201 and created.headers["Location"].startswith(own_list["agg-one"] + "/")
        for name, sink in sinks.items():
            assert client(server, pki, name).post(own_list[name], subscription("/edev", sink.uri)).status == 201
        listed = parse_tree(one.get(own_list["agg-one"] + "?l=10").body)
        assert {s.findtext(f"{NS}subscribedResource") for s in listed.iter(f"{NS}Subscription")} == {derc_list, "/edev"}

        now = int(time.time())
        server.headend.publish_envelope(lfdi(pki, "one-site-2"), Envelope.of([(now + 86400, 900, 4000, 2000)]))
        note = sinks["agg-one"].wait_for(lambda n: n.findtext(f"{NS}subscribedResource") == derc_list)
        assert note.findtext(f"{NS}subscriptionURI") == created.headers["Location"]
        assert note.find(f"{NS}Resource").get(XSI_TYPE) == "DERControlList"
        assert note.find(f"{NS}Resource").get("all") == "1"

        pki.device("one-site-3")
        server.headend.register_device(lfdi(pki, "one-site-3"), aggregator_lfdi=lfdi(pki, "agg-one"))
        note = sinks["agg-one"].wait_for(lambda n: n.findtext(f"{NS}subscribedResource") == "/edev")
        assert note.find(f"{NS}Resource").get(XSI_TYPE) == "EndDeviceList"
        assert note.find(f"{NS}Resource").get("all") == str(1 + len(AGGREGATORS["agg-one"]) + 1)
        # agg-two hears of its own list changing, and of nothing before that
        pki.device("two-site-2")
        server.headend.register_device(lfdi(pki, "two-site-2"), aggregator_lfdi=lfdi(pki, "agg-two"))
        sinks["agg-two"].wait_for(lambda n: n.findtext(f"{NS}subscribedResource") == "/edev")
        own_count = str(1 + len(AGGREGATORS["agg-two"]) + 1)
        assert [n.find(f"{NS}Resource").get("all") for n in sinks["agg-two"].received] == [own_count]
    finally:
        for sink in sinks.values():
            sink.close()


def test_an_aggregator_subscribes_to_a_default_control_before_one_is_set(server: ServerThread, pki: TestPKI) -> None:
    sink = NotificationSink(pki, "agg-two")
    try:
        site = edev(server, pki, "two-site-1")
        dderc = f"/edev/{site}/derp/{server.headend.book.program_by_name(site, 'envelope').id}/dderc"
        two = client(server, pki, "agg-two")
        program = parse_tree(two.get(dderc.removesuffix("/dderc")).body)
        assert program.find(f"{NS}DefaultDERControlLink").get("href") == dderc
        empty = parse_tree(two.get(dderc).body)
        assert empty.find(f"{NS}DERControlBase") is not None and len(empty.find(f"{NS}DERControlBase")) == 0
        own_list = f"/edev/{edev(server, pki, 'agg-two')}/sub"
        assert two.post(own_list, subscription(dderc, sink.uri)).status == 201
        server.headend.set_default_control(lfdi(pki, "two-site-1"), import_limit_w=1500, export_limit_w=2000)
        note = sink.wait_for(lambda n: n.findtext(f"{NS}subscribedResource") == dderc)
        resource = note.find(f"{NS}Resource")
        assert resource.get(XSI_TYPE) == "DefaultDERControl"
        assert resource.xpath(".//*[local-name()='opModExpLimW']/*[local-name()='value']/text()") == ["2000"]
    finally:
        sink.close()


def test_a_notification_that_fails_is_sent_again_with_the_resource_as_it_is_then(
    server: ServerThread, pki: TestPKI
) -> None:
    sink = NotificationSink(pki, "dev-a", refuse_first=2)
    try:
        me = edev(server, pki, "dev-a")
        derc_list = f"/edev/{me}/derp/{server.headend.book.program_by_name(me, 'envelope').id}/derc"
        a = client(server, pki, "dev-a")
        assert a.post(f"/edev/{me}/sub", subscription(derc_list, sink.uri)).status == 201
        now = int(time.time())
        server.headend.publish_envelope(lfdi(pki, "dev-a"), Envelope.of([(now + 86400, 900, 4000, 2000)]))
        note = sink.wait_for(lambda n: n.findtext(f"{NS}subscribedResource") == derc_list)
        assert sink.refused == 2 and note.find(f"{NS}Resource").get("all") == "1"
    finally:
        sink.close()


def test_the_operator_describing_the_first_fsa_notifies_the_fsa_list(server: ServerThread, pki: TestPKI) -> None:
    """CSIP-AUS S-ALL-25: the first FunctionSetAssignments exists from registration; the operator's ensuring it
    (by its description) is a change that its FunctionSetAssignmentsList subscribers hear of, and no second FSA."""
    sink = NotificationSink(pki, "agg-one")
    try:
        site, fsa_list = lfdi(pki, "one-site-2"), f"/edev/{edev(server, pki, 'one-site-2')}/fsa"
        one = client(server, pki, "agg-one")
        assert one.post(f"/edev/{edev(server, pki, 'agg-one')}/sub", subscription(fsa_list, sink.uri)).status == 201
        op = OperatorClient.from_certs_dir(server.url, pki.directory)
        assert op.put_fsa(site, 1, "fsa1")["version"] == 0
        note = sink.wait_for(lambda n: n.findtext(f"{NS}subscribedResource") == fsa_list)
        fsas = note.find(f"{NS}Resource").findall(f"{NS}FunctionSetAssignments")
        assert [f.findtext(f"{NS}description") for f in fsas] == ["fsa1"]
        assert op.put_fsa(site, 1, "fsa1")["version"] == 0  # unchanged: ensured already, no second notification
        assert op.put_fsa(site, 2, "fsa2")["href"] == f"{fsa_list}/2"
        assert b'all="2"' in one.get(f"{fsa_list}?l=10").body
    finally:
        sink.close()
