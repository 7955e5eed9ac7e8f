"""Over real TLS: what a device can no longer do to the server.

Notifications go only over https to an allowed host, a SubscriptionList holds a bounded number of
subscriptions, integers keep to their 2030.5 types, what a device reports never breaks an operator
call, and connections that hold the server without using it are closed.
"""

from __future__ import annotations

import re
import socket
import ssl
import time
from collections.abc import Iterator

import pytest
from lxml import etree

from flexbench.core import Envelope
from flexbench.signals.csip import OperatorClient, ServerThread
from flexbench.signals.csip.notify import notification_uri_problem
from flexbench.signals.csip.tls import client_context
from flexbench.signals.pki import TestPKI

from .conftest import Http, http_for
from .test_aggregators import subscription
from .test_registration_and_readings import MUP, READING
from .test_served_resources import DER_DOCUMENTS

MAX_SUBSCRIPTIONS = 3
HEADER_TIMEOUT_S = 1.0
KEEPALIVE_TIMEOUT_S = 6.0  # far from the header timeout, so which of the two closed a connection is plain
CLOSE_DEADLINE_S = 30.0  # a generous bound for "closed": the machine may be busy
AVAILABILITY = (
    '<DERAvailability xmlns="urn:ieee:std:2030.5:ns"><availabilityDuration>60</availabilityDuration>'
    "<readingTime>1</readingTime><statWAvail><multiplier>0</multiplier><value>3000</value></statWAvail>"
    "</DERAvailability>"
)
LOG_EVENT = (
    '<LogEvent xmlns="urn:ieee:std:2030.5:ns"><createdDateTime>1</createdDateTime><details>x</details>'
    "<extendedData>0</extendedData><functionSet>0</functionSet><logEventCode>1</logEventCode>"
    "<logEventID>2</logEventID><logEventPEN>0</logEventPEN><profileID>0</profileID></LogEvent>"
)
SETTINGS = (
    '<DERSettings xmlns="urn:ieee:std:2030.5:ns"><setGradW>100</setGradW><setMaxW><multiplier>{multiplier}'
    "</multiplier><value>{value}</value></setMaxW><updatedTime>1</updatedTime></DERSettings>"
)
CAPABILITY = (  # opModMaxLimW only: the operator's limits go out as a percentage of the rating
    '<DERCapability xmlns="urn:ieee:std:2030.5:ns"><modesSupported>00000002</modesSupported>'
    "<rtgMaxW><multiplier>0</multiplier><value>8000</value></rtgMaxW><type>4</type></DERCapability>"
)


@pytest.fixture(scope="module")
def server(pki: TestPKI, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerThread]:
    with ServerThread(
        tmp_path_factory.mktemp("hard") / "state.db",
        pki.directory,
        max_subscriptions=MAX_SUBSCRIPTIONS,
        header_timeout_s=HEADER_TIMEOUT_S,
        keepalive_timeout_s=KEEPALIVE_TIMEOUT_S,
    ) as srv:
        for name in ("dev-a", "dev-b", "maxw"):
            srv.headend.register_device(pki.device_identity(name).lfdi)
        yield srv


def device(server: ServerThread, pki: TestPKI, name: str) -> tuple[Http, int]:
    identity = pki.device_identity(name)
    return http_for(server.url, pki, identity), int(server.headend.device(identity.lfdi).id)


def operator(server: ServerThread, pki: TestPKI) -> OperatorClient:
    return OperatorClient.from_certs_dir(server.url, pki.directory)


# Notifications ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("uri", "reason"),
    [
        ("http://127.0.0.1:9/n", "must be https"),
        ("https://10.20.30.40:443/n", "host 10.20.30.40 is not allowed"),
        ("https://attacker.example/n", "host attacker.example is not allowed"),
        ("https://127.0.0.1:notaport/n", "is not a URI"),
    ],
)
def test_a_notification_uri_that_is_not_https_to_the_client_itself_is_refused(
    server: ServerThread, pki: TestPKI, uri: str, reason: str
) -> None:
    a, me = device(server, pki, "dev-a")
    before = server.headend.records.subscriptions(me)
    refused = a.post(f"/edev/{me}/sub", subscription(f"/edev/{me}/fsa", uri))
    assert refused.status == 400 and reason in refused.body.decode(), refused
    assert server.headend.records.subscriptions(me) == before


def test_the_n_plus_first_subscription_is_refused(server: ServerThread, pki: TestPKI) -> None:
    b, me = device(server, pki, "dev-b")
    own = "https://127.0.0.1:9/n"  # the client's own address (loopback here), the default allowed host
    made = [b.post(f"/edev/{me}/sub", subscription(f"/edev/{me}/fsa", own)) for _ in range(MAX_SUBSCRIPTIONS)]
    assert [r.status for r in made] == [201] * MAX_SUBSCRIPTIONS
    refused = b.post(f"/edev/{me}/sub", subscription(f"/edev/{me}/fsa", own))
    assert refused.status == 400 and "SubscriptionList is full" in refused.body.decode()
    assert len(server.headend.records.subscriptions(me)) == MAX_SUBSCRIPTIONS
    assert b.request("DELETE", made[0].headers["Location"]).status == 204  # room again
    assert b.post(f"/edev/{me}/sub", subscription(f"/edev/{me}/fsa", own)).status == 201


def test_configured_notification_hosts_replace_the_clients_own_address() -> None:
    named = {"notify.utility.example"}
    assert notification_uri_problem("https://notify.utility.example/n", "10.0.0.5", named) is None
    assert "not allowed" in (notification_uri_problem("https://10.0.0.5/n", "10.0.0.5", named) or "")
    assert notification_uri_problem("https://anywhere.example/n", "10.0.0.5", {"*"}) is None
    assert notification_uri_problem("https://[::ffff:10.0.0.5]:8443/n", "10.0.0.5", ()) is None
    assert "must be https" in (notification_uri_problem("http://anywhere.example/n", "10.0.0.5", {"*"}) or "")


# What a device reports -------------------------------------------------------------------------
def test_a_rating_a_device_reports_never_breaks_publish_envelope(server: ServerThread, pki: TestPKI) -> None:
    """setMaxW with a multiplier of 400 is refused (Int8); setMaxW of 0 is kept but passed over for rtgMaxW."""
    dut, me = device(server, pki, "maxw")
    lfdi = pki.device_identity("maxw").lfdi
    op = operator(server, pki)
    assert dut.put(f"/edev/{me}/der/1/dercap", CAPABILITY.encode()).status == 204
    huge = dut.put(f"/edev/{me}/der/1/derg", SETTINGS.format(multiplier=400, value=5000).encode())
    assert huge.status == 400 and "setMaxW.multiplier: 400 is outside Int8" in huge.body.decode()
    now = int(time.time())
    envelope = Envelope.of([(now + 600, 900, 9000, 2000)])
    published = op.publish_envelope(lfdi, envelope, program="envelope", mode="max_w")
    assert [c["values"] for c in op.controls(lfdi)] == [{"max_limit_pct": 25.0}]  # 2000 W of rtgMaxW 8000 W
    assert dut.put(f"/edev/{me}/der/1/derg", SETTINGS.format(multiplier=0, value=0).encode()).status == 204
    again = op.publish_envelope(lfdi, envelope, program="envelope", mode="max_w")
    assert again["superseded"] == published["mrids"]
    assert op.controls(lfdi, listed_only=True)[-1]["values"] == {"max_limit_pct": 25.0}


def test_a_stored_rating_that_overflows_is_passed_over(server: ServerThread, pki: TestPKI) -> None:
    """A document stored before these checks (multiplier 400 in the store) leaves the operator's call working."""
    headend = server.headend
    lfdi = pki.device_identity("dev-a").lfdi
    me = headend.device(lfdi).id
    headend.register_device(lfdi, limit_mode="max_w", rated_w=4000.0)
    with headend.store.lock:
        headend.store.run(
            "INSERT INTO der_documents (edev_id, kind, xml, summary_json, updated_s) VALUES (?,?,?,?,?)",
            (me, "derg", b"<DERSettings/>", '{"setMaxW": {"multiplier": 400, "value": 5000}}', 0),
        )
    headend.publish_envelope(lfdi, Envelope.of([(int(time.time()) + 600, 900, 9000, 1000)]), program="envelope")
    assert headend.controls(lfdi)[-1]["values"] == {"max_limit_pct": 25.0}  # of the registered 4000 W


def _documents(server: ServerThread, pki: TestPKI) -> list[tuple[str, str, str]]:
    """(method, path, XML) of every kind of document a device sends, each valid as it stands."""
    a, me = device(server, pki, "dev-a")
    lfdi = pki.device_identity("dev-a").lfdi
    mup = a.post("/mup", MUP.format(mrid="AB02" * 8, lfdi=lfdi).encode())
    assert mup.status == 201
    docs = [("PUT", f"/edev/{me}/der/1/{kind}", xml) for kind, xml in DER_DOCUMENTS.items()]
    docs += [
        ("PUT", f"/edev/{me}/der/1/dera", AVAILABILITY),
        ("POST", f"/edev/{me}/lel", LOG_EVENT),
        ("POST", f"/edev/{me}/sub", subscription(f"/edev/{me}/fsa", "https://127.0.0.1:9/n").decode()),
        ("POST", mup.headers["Location"], READING.format(mrid="CD02" * 8, value=1000)),
    ]
    return docs


def test_ten_to_the_thirty_in_any_integer_field_is_400_naming_it(server: ServerThread, pki: TestPKI) -> None:
    a, _ = device(server, pki, "dev-a")
    checked = []
    for method, path, xml in _documents(server, pki):
        root = etree.fromstring(xml.encode())
        integers = [e for e in root.iter() if e.text is not None and re.fullmatch(r"-?\d+", e.text)]
        assert integers, xml
        for element in integers:
            original, element.text = element.text, str(10**30)
            answer = a.request(method, path, etree.tostring(root))
            element.text = original
            name = etree.QName(element).localname
            assert answer.status == 400, (path, name, answer)
            assert name in answer.body.decode(), (path, name, answer.body)
            checked.append(name)
    assert {"multiplier", "value", "setGradW", "readingTime", "limit", "createdDateTime", "logEventID"} <= set(checked)


# Connections ---------------------------------------------------------------------------------------
def _tls_socket(server: ServerThread, pki: TestPKI) -> ssl.SSLSocket:
    identity = pki.device_identity("dev-a")
    context = client_context(pki.ca_cert_path, identity.cert_path, identity.key_path)
    port = int(server.url.rsplit(":", 1)[1])
    raw = socket.create_connection(("127.0.0.1", port), timeout=CLOSE_DEADLINE_S)
    return context.wrap_socket(raw, server_hostname="127.0.0.1")


def _seconds_until_closed(conn: ssl.SSLSocket) -> float:
    """Read until the server closes the connection (or the deadline passes: then fail)."""
    started = time.monotonic()
    conn.settimeout(CLOSE_DEADLINE_S)
    try:
        while conn.recv(65536):
            pass
    except (ConnectionResetError, ssl.SSLError):
        pass
    except TimeoutError:
        pytest.fail(f"the server kept the connection open for {CLOSE_DEADLINE_S} s")
    return time.monotonic() - started


def test_an_idle_keep_alive_connection_is_closed_after_the_keepalive_timeout(
    server: ServerThread, pki: TestPKI
) -> None:
    with _tls_socket(server, pki) as conn:
        conn.sendall(b"GET /dcap HTTP/1.1\r\nHost: flexbench\r\n\r\n")
        head = b""
        while b"\r\n\r\n" not in head:
            head += conn.recv(65536)
        assert head.startswith(b"HTTP/1.1 200")
        idle_s = _seconds_until_closed(conn)
    # closed by the keep-alive timeout, not the (shorter) header timeout: nothing was pending
    assert idle_s >= KEEPALIVE_TIMEOUT_S * 0.8, idle_s


@pytest.mark.parametrize("sent", [b"", b"GET /dcap HTTP/1.1\r\nHost: flex"])
def test_a_request_that_does_not_arrive_within_the_header_timeout_closes_the_connection(
    server: ServerThread, pki: TestPKI, sent: bytes
) -> None:
    """A connection that sends nothing, or only part of a request's headers, is closed after the header
    timeout (checked a quarter of it apart), well before the keep-alive timeout."""
    with _tls_socket(server, pki) as conn:
        conn.sendall(sent)
        waited_s = _seconds_until_closed(conn)
    assert HEADER_TIMEOUT_S * 0.8 <= waited_s < KEEPALIVE_TIMEOUT_S, waited_s
    assert server.server.deadlines is not None and server.server.deadlines.closed >= 1  # not the keep-alive


def test_an_operator_value_that_would_break_its_element_is_refused(server: ServerThread, pki: TestPKI) -> None:
    """The server never renders a control its clients must refuse: randomizeStart is an Int16."""
    from flexbench.signals.csip import OperatorError

    lfdi = pki.device_identity("dev-b").lfdi
    before = server.headend.controls(lfdi)
    with pytest.raises(OperatorError, match="randomize_start_s 40000 does not fit"):
        operator(server, pki).publish_control(lfdi, None, 600, {"export_limit_w": 1000.0}, randomize_start_s=40000)
    with pytest.raises(ValueError, match="duration_s 4294967296 does not fit"):
        server.headend.publish_control(lfdi, None, 2**32, {"export_limit_w": 1000.0})
    assert server.headend.controls(lfdi) == before


def test_a_tls_handshake_that_never_comes_closes_the_connection(server: ServerThread) -> None:
    port = int(server.url.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=CLOSE_DEADLINE_S) as raw:
        started = time.monotonic()
        try:
            assert raw.recv(1024) == b""
        except ConnectionResetError:
            pass
        except TimeoutError:
            pytest.fail(f"the server kept a connection without a handshake open for {CLOSE_DEADLINE_S} s")
        waited_s = time.monotonic() - started
    assert HEADER_TIMEOUT_S * 0.8 <= waited_s < KEEPALIVE_TIMEOUT_S, waited_s
