"""Who may connect and what each role may write: the envelope server's security, tested over the wire."""

from __future__ import annotations

import math

import pytest
from asyncua import Client, ua
from asyncua.common.utils import create_nonce

from flexbench.core import Envelope
from flexbench.signals.opcua import ClientSecurity, OperatorClient, SiteClient, WriteRefused, open_client
from flexbench.signals.opcua.model import IMPORT_LIMIT, MEASURED_P

SITE_A, SITE_B = "site-a", "site-b"


def status_name(exc: BaseException) -> str:
    code = getattr(exc, "code", None)
    return ua.StatusCode(code).name if code is not None else type(exc).__name__


async def write_one(client: Client, nodeid: ua.NodeId, value: object, vtype=ua.VariantType.Double) -> str:
    """One raw Write; returns the item's status, or the whole request's when the role may not write at all."""
    item = ua.WriteValue(NodeId=nodeid, AttributeId=ua.AttributeIds.Value, Value=ua.DataValue(ua.Variant(value, vtype)))
    try:
        (status,) = await client.uaclient.write(ua.WriteParameters(NodesToWrite=[item]))
    except ua.UaStatusCodeError as exc:
        return status_name(exc)
    return status.name


# Connecting -----------------------------------------------------------------------------
def test_anonymous_client_is_refused(envelope_server, security, run):
    anonymous = security("viewer").with_login(None, None)
    with pytest.raises(ua.UaStatusCodeError) as refused:
        run(open_client(envelope_server.endpoint, anonymous))
    assert status_name(refused.value) == "BadIdentityTokenRejected"


def test_wrong_password_is_refused(envelope_server, security, run):
    with pytest.raises(ua.UaStatusCodeError) as refused:
        run(open_client(envelope_server.endpoint, security(SITE_A).with_login(SITE_A, "not-the-password")))
    assert status_name(refused.value) == "BadUserAccessDenied"


def test_password_only_works_with_the_accounts_own_certificate(envelope_server, security, run):
    site_a = security(SITE_A)
    borrowed = security("viewer").with_login(SITE_A, site_a.password)
    with pytest.raises(ua.UaStatusCodeError) as refused:
        run(open_client(envelope_server.endpoint, borrowed))
    assert status_name(refused.value) == "BadUserAccessDenied"


def test_untrusted_client_certificate_is_refused(envelope_server, opcua_rogue_dir, run):
    rogue = ClientSecurity.from_pki(opcua_rogue_dir, SITE_A)  # right name and password, wrong CA
    rogue = ClientSecurity(
        rogue.policy,
        rogue.mode,
        rogue.certificate,
        rogue.private_key,
        rogue.application_uri,
        rogue.username,
        rogue.password,
        trust_dir=None,
    )
    with pytest.raises(ua.UaStatusCodeError) as refused:
        run(open_client(envelope_server.endpoint, rogue))
    assert status_name(refused.value) == "BadCertificateUntrusted"


def test_client_refuses_a_server_its_trust_list_does_not_vouch_for(envelope_server, opcua_rogue_dir, security, run):
    site_a = security(SITE_A)
    wrong_trust = ClientSecurity(
        site_a.policy,
        site_a.mode,
        site_a.certificate,
        site_a.private_key,
        site_a.application_uri,
        site_a.username,
        site_a.password,
        trust_dir=opcua_rogue_dir / "trust",
    )
    with pytest.raises(ua.UaStatusCodeError) as refused:
        run(open_client(envelope_server.endpoint, wrong_trust))
    assert status_name(refused.value) == "BadCertificateUntrusted"


def test_unsecured_channel_cannot_activate_a_session(envelope_server, run):
    """asyncua accepts a None channel for discovery even when no None endpoint exists; no session may live on it."""

    async def attempt() -> None:
        client = Client(envelope_server.endpoint)
        await client.connect_socket()
        try:
            await client.send_hello()
            await client.open_secure_channel()
            params = ua.CreateSessionParameters(
                ClientNonce=create_nonce(32),
                EndpointUrl=envelope_server.endpoint,
                SessionName="probe",
                RequestedSessionTimeout=10_000,
                ClientDescription=ua.ApplicationDescription(
                    ApplicationUri="urn:probe", ApplicationType=ua.ApplicationType.Client
                ),
            )
            await client.uaclient.create_session(params)
            activate = ua.ActivateSessionParameters()
            activate.UserIdentityToken = ua.UserNameIdentityToken(
                PolicyId="username", UserName="operator", Password=b"guess"
            )
            await client.uaclient.activate_session(activate)
        finally:
            client.disconnect_socket()

    with pytest.raises(ua.UaStatusCodeError) as refused:
        run(attempt())
    assert status_name(refused.value) in {"BadUserAccessDenied", "BadIdentityTokenInvalid"}


@pytest.mark.parametrize("mode", ["sign", "sign-encrypt"])
@pytest.mark.parametrize("policy", ["Basic256Sha256", "Aes256Sha256RsaPss"])
def test_sites_connect_with_each_offered_policy_and_mode(envelope_server, security, run, policy, mode):
    async def connect_and_read() -> float:
        async with SiteClient(envelope_server.endpoint, SITE_B, security(SITE_B, policy=policy, mode=mode)) as site:
            return site.signals.import_limit_w

    assert run(connect_and_read()) == 10_000.0


# Writing ----------------------------------------------------------------------------------
@pytest.mark.parametrize("account", [SITE_A, "viewer"])
def test_site_or_viewer_cannot_write_limits(envelope_server, security, run, account):
    before = envelope_server.read(SITE_A).import_limit_w

    async def attempt() -> str:
        client = await open_client(envelope_server.endpoint, security(account))
        try:
            return await write_one(client, envelope_server.node_id(SITE_A, IMPORT_LIMIT), 1_000.0)
        finally:
            await client.disconnect()

    assert run(attempt()) == "BadUserAccessDenied"
    assert envelope_server.read(SITE_A).import_limit_w == before


def test_site_cannot_write_another_sites_variables(envelope_server, security, run):
    before = envelope_server.read(SITE_B).measured_p_w

    async def attempt() -> str:
        async with SiteClient(envelope_server.endpoint, SITE_A, security(SITE_A)) as site:
            return await write_one(site.client, envelope_server.node_id(SITE_B, MEASURED_P), 1_234.0)

    assert run(attempt()) == "BadUserAccessDenied"
    assert envelope_server.read(SITE_B).measured_p_w == before


def test_operator_cannot_write_a_sites_measurements(envelope_server, security, run):
    async def attempt() -> str:
        async with OperatorClient(envelope_server.endpoint, security("operator")) as op:
            return await write_one(op.client, envelope_server.node_id(SITE_A, MEASURED_P), 1_234.0)

    assert run(attempt()) == "BadUserAccessDenied"


def test_site_cannot_call_operator_methods(envelope_server, security, run):
    version_before = envelope_server.read(SITE_A).envelope_version

    async def attempt() -> None:
        op = OperatorClient(envelope_server.endpoint, security(SITE_A))  # site credentials, operator's tool
        async with op:
            await op.publish_envelope(
                SITE_A, Envelope.of([{"start": 0, "duration_s": 1e10, "import_limit_w": 0.0, "export_limit_w": 0.0}])
            )

    with pytest.raises(ua.UaStatusCodeError) as refused:
        run(attempt())
    assert status_name(refused.value) == "BadUserAccessDenied"
    assert envelope_server.read(SITE_A).envelope_version == version_before


@pytest.mark.parametrize(
    "value, vtype, status",
    [
        (100_001.0, ua.VariantType.Double, "BadOutOfRange"),  # above the site's physical import range
        (-1.0, ua.VariantType.Double, "BadOutOfRange"),
        (math.nan, ua.VariantType.Double, "BadOutOfRange"),
        (math.inf, ua.VariantType.Double, "BadOutOfRange"),
        (5_000.0, ua.VariantType.Float, "BadTypeMismatch"),
    ],
)
def test_operator_limit_outside_the_physical_range_is_refused_and_nothing_changes(
    envelope_server, security, run, value, vtype, status
):
    before = envelope_server.read(SITE_A)

    async def attempt() -> str:
        async with OperatorClient(envelope_server.endpoint, security("operator")) as op:
            return await write_one(op.client, envelope_server.node_id(SITE_A, IMPORT_LIMIT), value, vtype)

    assert run(attempt()) == status
    after = envelope_server.read(SITE_A)
    assert (after.import_limit_w, after.limit_source) == (before.import_limit_w, before.limit_source)


def test_site_measurement_outside_the_physical_range_is_refused_and_nothing_changes(envelope_server, security, run):
    async def attempt() -> WriteRefused:
        async with SiteClient(envelope_server.endpoint, SITE_B, security(SITE_B)) as site:
            await site.report(measured_p_w=2_500.0, measured_q_var=100.0)
            with pytest.raises(WriteRefused) as refused:
                await site.write([(MEASURED_P, 10_001.0, ua.VariantType.Double)])  # site-b's range is 10 kW
            return refused.value

    refused = run(attempt())
    assert refused.statuses == {MEASURED_P: "BadOutOfRange"}
    assert envelope_server.read(SITE_B).measured_p_w == 2_500.0


def test_operator_writes_a_limit_in_range(envelope_server, security, run):
    async def write() -> None:
        async with OperatorClient(envelope_server.endpoint, security("operator")) as op:
            await op.set_limits(SITE_A, import_limit_w=42_000.0)

    run(write())
    snapshot = envelope_server.read(SITE_A)
    assert (snapshot.import_limit_w, snapshot.limit_source) == (42_000.0, "operator")


# Reading ----------------------------------------------------------------------------------
def test_site_reads_and_watches_only_its_own_site(envelope_server, security, run):
    async def attempt() -> tuple[float, str, str]:
        async with SiteClient(envelope_server.endpoint, SITE_A, security(SITE_A)) as site:
            own = await site.client.get_node(envelope_server.node_id(SITE_A, MEASURED_P)).read_value()
            other = site.client.get_node(envelope_server.node_id(SITE_B, MEASURED_P))
            try:
                await other.read_value()
                read_status = "Good"
            except ua.UaStatusCodeError as exc:
                read_status = status_name(exc)
            subscription = await site.client.create_subscription(100, None)
            try:
                await subscription.subscribe_data_change(other)
                watch_status = "Good"
            except ua.UaStatusCodeError as exc:
                watch_status = status_name(exc)
            return own, read_status, watch_status

    own, read_status, watch_status = run(attempt())
    assert isinstance(own, float)
    assert (read_status, watch_status) == ("BadUserAccessDenied", "BadUserAccessDenied")


def test_operator_and_viewer_read_every_site(envelope_server, security, run):
    async def read(account: str) -> list[float]:
        async with OperatorClient(envelope_server.endpoint, security(account)) as op:
            return [(await op.read(site))[IMPORT_LIMIT] for site in (SITE_A, SITE_B)]

    assert run(read("operator")) == run(read("viewer")) == [60_000.0, 10_000.0]
