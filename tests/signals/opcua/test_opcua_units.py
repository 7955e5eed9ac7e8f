"""Pieces of the OPC-UA side that need no network: envelopes, accounts, trust, access decisions."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from asyncua import ua
from asyncua.crypto.permission_rules import User, UserRole

from flexbench.core import Envelope, Interval, SiteLimits
from flexbench.signals.opcua import AccountStore, EnvelopeError, OpcuaPKI, SiteSpec
from flexbench.signals.opcua.access import AccountUserManager, RolePermissions, WritePolicy, WriteRule
from flexbench.signals.opcua.accounts import hash_password, password_matches
from flexbench.signals.opcua.envelope import check_within, checked, from_rows
from flexbench.signals.opcua.pki import certificate_uris, load_certificate
from flexbench.signals.opcua.trust import TrustList

UTC = dt.UTC


# Envelopes -----------------------------------------------------------------------------------
def test_rows_from_a_method_call_and_core_intervals_publish_alike():
    t0 = dt.datetime(2026, 7, 1, 12, 0, tzinfo=UTC)
    rows = [
        {"start": t0 + dt.timedelta(minutes=15), "duration_s": 900, "import_limit_w": 40e3, "export_limit_w": 5e3},
        {"start": t0.timestamp(), "duration_s": 900.0, "import_limit_w": 50e3, "export_limit_w": 0.0},
    ]
    envelope = from_rows(rows)
    assert [i.start for i in envelope] == [t0, t0 + dt.timedelta(minutes=15)]
    assert envelope[0] == Interval(
        start_s=t0.timestamp(), duration_s=900.0, limits=SiteLimits(import_limit_w=50e3, export_limit_w=0)
    )
    assert checked(envelope) == envelope
    assert envelope.index_at(t0.timestamp() + 1000) == 1
    assert envelope.index_at(t0.timestamp() - 1) is None
    assert envelope.index_at(t0.timestamp() + 1800) is None


def test_a_limit_left_unset_takes_the_firm_limit_and_is_refused_without_one():
    interval = Interval(start_s=0, duration_s=60, limits=SiteLimits(export_limit_w=500))
    own_firm = Envelope(intervals=(interval,), firm=SiteLimits(import_limit_w=7_000))
    assert checked(own_firm)[0].limits == SiteLimits(import_limit_w=7_000, export_limit_w=500)
    site_firm = checked([interval], SiteLimits(import_limit_w=9_000, export_limit_w=1))
    assert site_firm[0].limits == SiteLimits(import_limit_w=9_000, export_limit_w=500)
    with pytest.raises(EnvelopeError) as refused:
        checked([interval])
    assert refused.value.status == ua.StatusCodes.BadInvalidArgument


def test_rows_that_are_not_core_intervals_are_refused():
    with pytest.raises(TypeError, match="Envelope.of"):
        checked([{"start": 0, "duration_s": 10, "import_limit_w": 1, "export_limit_w": 1}])


@pytest.mark.parametrize(
    "rows, status",
    [
        (
            [
                {"start": 0, "duration_s": 10, "import_limit_w": 1, "export_limit_w": 1},
                {"start": 5, "duration_s": 10, "import_limit_w": 1, "export_limit_w": 1},
            ],
            ua.StatusCodes.BadInvalidArgument,
        ),
        ([{"start": 0, "duration_s": 0, "import_limit_w": 1, "export_limit_w": 1}], ua.StatusCodes.BadOutOfRange),
        ([{"start": 0, "duration_s": 10, "import_limit_w": -1, "export_limit_w": 1}], ua.StatusCodes.BadOutOfRange),
        (
            [{"start": 0, "duration_s": 10, "import_limit_w": float("nan"), "export_limit_w": 1}],
            ua.StatusCodes.BadOutOfRange,
        ),
        ([{"start": 0, "duration_s": 10, "import_limit_w": 1}], ua.StatusCodes.BadInvalidArgument),
    ],
)
def test_bad_envelopes_are_refused_with_a_status(rows, status):
    with pytest.raises(EnvelopeError) as refused:
        from_rows(rows)
    assert refused.value.status == status


def test_envelope_beyond_the_site_range_is_out_of_range():
    envelope = from_rows([{"start": 0, "duration_s": 10, "import_limit_w": 11, "export_limit_w": 1}])
    with pytest.raises(EnvelopeError) as refused:
        check_within(envelope, 10, 10, "s")
    assert refused.value.status == ua.StatusCodes.BadOutOfRange


def test_site_spec_refuses_firm_limits_outside_its_range():
    with pytest.raises(ValueError):
        SiteSpec("s", rated_import_w=10, rated_export_w=10, firm_import_limit_w=11)
    with pytest.raises(ValueError):
        SiteSpec("bad name", 10, 10)


# Accounts, certificates, trust ---------------------------------------------------------------
def test_password_hashes_verify_and_differ_by_salt():
    first, second = hash_password("secret"), hash_password("secret")
    assert first != second
    assert password_matches("secret", first) and not password_matches("Secret", first)
    assert not password_matches("secret", "garbage")


def test_accounts_round_trip_and_pin_certificates(tmp_path: Path):
    store = AccountStore()
    store.add("op", "operator", "op-secret!", certificates_der=[b"cert-1"])
    store.add("s1", "site", "site-secret!", site="s1")
    path = store.save(tmp_path / "users.json")
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    loaded = AccountStore.load(path)
    assert loaded.authenticate("op", "op-secret!", b"cert-1").role == "operator"
    assert loaded.authenticate("op", "op-secret!", b"cert-2") is None
    assert loaded.authenticate("op", "op-secret!", None) is None
    assert loaded.authenticate("s1", "site-secret!", b"anything").site == "s1"
    # "!" is in neither base64 nor hex, so no salt or hash can contain a password by chance
    assert "op-secret!" not in path.read_text() and "site-secret!" not in path.read_text()
    with pytest.raises(ValueError):
        store.add("x", "site", "op-secret!")  # a site account names its site


def test_application_certificates_carry_the_uri_and_chain_to_the_ca(opcua_pki_dir: Path, opcua_rogue_dir: Path):
    pki = OpcuaPKI(opcua_pki_dir)
    cert = load_certificate(pki.client("site-a").cert_path)
    assert certificate_uris(cert) == ["urn:flexbench:opcua:client:site-a"]
    assert cert.public_key().key_size == 2048
    trust = TrustList.from_dir(pki.trust_dir)
    assert trust.is_trusted(cert)
    assert not trust.is_trusted(load_certificate(OpcuaPKI(opcua_rogue_dir).client("site-a").cert_path))
    pinned = TrustList([load_certificate(OpcuaPKI(opcua_rogue_dir).client("site-a").cert_path)])
    assert pinned.is_trusted(OpcuaPKI(opcua_rogue_dir).client("site-a").cert_path.read_bytes())


def test_user_manager_needs_a_trusted_channel_certificate(opcua_pki_dir: Path, opcua_rogue_dir: Path):
    pki = OpcuaPKI(opcua_pki_dir)
    accounts = AccountStore.load(opcua_pki_dir / "users.json")
    password = (opcua_pki_dir / "private" / "passwords" / "viewer").read_text().strip()
    own = pki.client("viewer").cert_path.read_bytes()
    rogue = OpcuaPKI(opcua_rogue_dir).client("site-a").cert_path.read_bytes()
    manager = AccountUserManager(accounts, TrustList.from_dir(pki.trust_dir), allow_anonymous=True)
    assert manager.get_user(None, "viewer", password, own).name == "viewer"
    assert manager.get_user(None, "viewer", password, None) is None  # unsecured channel
    assert manager.get_user(None, "viewer", password, rogue) is None  # untrusted channel certificate
    assert manager.get_user(None, None, None, own).role == UserRole.Anonymous
    assert manager.get_user(None, None, None, None) is None
    manager.allow_anonymous = False
    assert manager.get_user(None, None, None, own) is None


def test_roles_decide_request_types():
    accounts = AccountStore()
    accounts.add("op", "operator", "x")
    accounts.add("s1", "site", "x", site="s1")
    accounts.add("v", "viewer", "x")
    rules = RolePermissions(accounts)
    call = ua.NodeId(ua.ObjectIds.CallRequest_Encoding_DefaultBinary)
    write = ua.NodeId(ua.ObjectIds.WriteRequest_Encoding_DefaultBinary)
    read = ua.NodeId(ua.ObjectIds.ReadRequest_Encoding_DefaultBinary)
    add_nodes = ua.NodeId(ua.ObjectIds.AddNodesRequest_Encoding_DefaultBinary)
    allowed = {
        name: [rules.check_validity(User(role=role, name=name), t, None) for t in (read, write, call, add_nodes)]
        for name, role in (
            ("op", UserRole.User),
            ("s1", UserRole.User),
            ("v", UserRole.User),
            (None, UserRole.Anonymous),
        )
    }
    assert allowed == {
        "op": [True, True, True, False],
        "s1": [True, True, False, False],
        "v": [True, False, False, False],
        None: [True, False, False, False],
    }


def test_write_policy_checks_owner_type_and_range():
    accounts = AccountStore()
    accounts.add("op", "operator", "x")
    accounts.add("s1", "site", "x", site="s1")
    node = ua.NodeId("s1.MeasuredPW", 2)
    policy = WritePolicy(accounts, {node: WriteRule("s1", "MeasuredPW", "site", ua.VariantType.Double, -5.0, 10.0)})

    def refusal(user: str, value, vtype=ua.VariantType.Double, nodeid=node, index_range=None):
        item = ua.WriteValue(
            NodeId=nodeid,
            AttributeId=ua.AttributeIds.Value,
            Value=ua.DataValue(ua.Variant(value, vtype)),
            IndexRange=index_range,
        )
        status = policy.refuse(User(role=UserRole.User, name=user), item)
        return None if status is None else status.name

    assert refusal("s1", 10.0) is None
    assert refusal("s1", -5.0) is None
    assert refusal("s1", 10.5) == "BadOutOfRange"
    assert refusal("s1", float("-inf")) == "BadOutOfRange"
    assert refusal("s1", 1, ua.VariantType.Int32) == "BadTypeMismatch"
    assert refusal("s1", [1.0, 2.0]) == "BadTypeMismatch"
    assert refusal("s1", 1.0, index_range="0") == "BadIndexRangeInvalid"
    assert refusal("op", 1.0) == "BadUserAccessDenied"
    assert refusal("s1", 1.0, nodeid=ua.NodeId(ua.ObjectIds.Server_ServerStatus_State)) == "BadNotWritable"


def test_site_scope_finds_the_owner_of_a_node():
    from flexbench.signals.opcua.access import SiteScope

    scope = SiteScope(2, ["north", "south"])
    assert scope.owner(ua.NodeId("north.MeasuredPW", 2)) == "north"
    assert scope.owner(ua.NodeId("Sites/south", 2)) == "south"
    assert scope.owner(ua.NodeId("Sites", 2)) is None
    assert scope.owner(ua.NodeId("north.MeasuredPW", 3)) is None
    assert scope.owner(ua.NodeId(ua.ObjectIds.Server)) is None
