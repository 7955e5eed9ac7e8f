"""Over real TLS: the operator revokes and restores a client's access, and sets pollRates per resource."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator

import pytest

from flexbench.signals.csip import ServerThread
from flexbench.signals.csip.operator_client import OperatorClient, OperatorError
from flexbench.signals.pki import TestPKI

from .conftest import Http, http_for
from .test_registration_and_readings import MUP, READING
from .test_restart_and_cli import flexbench


@pytest.fixture
def server(pki: TestPKI, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerThread]:
    with ServerThread(tmp_path_factory.mktemp("operator") / "state.db", pki.directory) as srv:
        for name in ("dev-a", "dev-b"):
            srv.headend.register_device(pki.device_identity(name).lfdi)
        yield srv


def operator(server: ServerThread, pki: TestPKI) -> OperatorClient:
    return OperatorClient.from_certs_dir(server.url, pki.directory)


def device(server: ServerThread, pki: TestPKI, name: str) -> tuple[Http, int]:
    lfdi = pki.device_identity(name).lfdi
    return http_for(server.url, pki, pki.device_identity(name)), int(server.headend.device(lfdi).id)


def test_a_revoked_certificate_gets_403_everywhere_until_restored(server: ServerThread, pki: TestPKI) -> None:
    a, a_id = device(server, pki, "dev-a")
    b, b_id = device(server, pki, "dev-b")
    paths = ("/dcap", "/tm", "/edev", f"/edev/{a_id}", f"/edev/{a_id}/fsa", f"/edev/{a_id}/derp/2/derc", "/mup")
    assert a.get(f"/edev/{a_id}").status == 200  # cached, so revoking must reach past the cache

    revoked = operator(server, pki).set_client_access(pki.device_identity("dev-a").lfdi, granted=False)

    assert revoked.enabled is False
    assert {p: a.get(p).status for p in paths} == dict.fromkeys(paths, 403)
    assert a.put(f"/edev/{a_id}/der/1/ders", b"<DERStatus/>").status == 403
    assert b.get(f"/edev/{b_id}").status == 200  # another client is untouched

    operator(server, pki).set_client_access(pki.device_identity("dev-a").lfdi, granted=True)

    assert {p: a.get(p).status for p in paths} == dict.fromkeys(paths, 200)


def test_access_of_an_unknown_client_is_404(server: ServerThread, pki: TestPKI) -> None:
    with pytest.raises(OperatorError, match="no device registered"):
        operator(server, pki).set_client_access("0" * 40, granted=False)


def poll_rate(body: bytes) -> int:
    return int(re.search(rb'pollRate="(\d+)"', body).group(1))  # type: ignore[union-attr]


def test_poll_rates_per_resource_and_per_device_fall_back_to_the_global_one(server: ServerThread, pki: TestPKI) -> None:
    a, a_id = device(server, pki, "dev-a")
    b, b_id = device(server, pki, "dev-b")
    default_s = server.headend.config.poll_rate_s
    assert poll_rate(a.get(f"/edev/{a_id}/fsa").body) == default_s  # cached before the change
    op = operator(server, pki)

    op.set_poll_rate("FunctionSetAssignmentsList", 300)
    op.set_poll_rate("FunctionSetAssignmentsList", 60, lfdi=pki.device_identity("dev-a").lfdi)
    op.set_poll_rate("EndDeviceList", 45)

    assert poll_rate(a.get(f"/edev/{a_id}/fsa").body) == 60
    assert poll_rate(b.get(f"/edev/{b_id}/fsa").body) == 300
    assert poll_rate(a.get("/edev").body) == 45
    assert poll_rate(a.get(f"/edev/{a_id}/fsa/1/derp").body) == default_s  # another list keeps the global one
    assert poll_rate(a.get("/dcap").body) == default_s

    op.set_poll_rate("FunctionSetAssignmentsList", None, lfdi=pki.device_identity("dev-a").lfdi)
    assert poll_rate(a.get(f"/edev/{a_id}/fsa").body) == 300


@pytest.mark.parametrize(("resource", "rate_s"), [("DERControl", 60), ("EndDeviceList", 0), ("EndDeviceList", 2**32)])
def test_a_poll_rate_the_server_cannot_announce_is_refused(
    server: ServerThread, pki: TestPKI, resource: str, rate_s: int
) -> None:
    with pytest.raises(OperatorError, match="resource must be|rate_s must be"):
        operator(server, pki).set_poll_rate(resource, rate_s)


def test_programs_in_several_function_set_assignments_with_their_primacies(server: ServerThread, pki: TestPKI) -> None:
    a, a_id = device(server, pki, "dev-a")
    lfdi = pki.device_identity("dev-a").lfdi
    assert a.get(f"/edev/{a_id}/fsa/2").status == 404
    op = operator(server, pki)

    added = op.put_program(lfdi, "feeder", primacy=5, fsa=2)
    op.put_program(lfdi, "market", primacy=7, fsa=2)

    assert b'all="2"' in a.get(f"/edev/{a_id}/fsa?l=10").body
    first, second = a.get(f"/edev/{a_id}/fsa/1/derp?l=10").body, a.get(f"/edev/{a_id}/fsa/2/derp?l=10").body
    assert re.findall(rb"<primacy>(\d+)</primacy>", first) == [b"1", b"2"]  # the default programs stay first
    assert re.findall(rb"<primacy>(\d+)</primacy>", second) == [b"5", b"7"]
    assert a.get(f"/edev/{a_id}/fsa/2").status == 200 and a.get(f"/edev/{a_id}/fsa/3/derp").status == 404
    op.publish_control(lfdi, None, 600, {"export_limit_w": 1000.0}, program="feeder")
    assert b"<DERControl " in a.get(f"{added['href']}/derc?l=10").body

    moved = op.put_program(lfdi, "market", primacy=3, fsa=1)
    assert (moved["primacy"], moved["fsa"]) == (3, 1)
    assert re.findall(rb"<primacy>(\d+)</primacy>", a.get(f"/edev/{a_id}/fsa/1/derp?l=10").body) == [b"1", b"2", b"3"]
    assert [(p["name"], p["fsa"]) for p in op.programs(lfdi)] == [
        ("abnormal", 1),
        ("envelope", 1),
        ("market", 1),
        ("feeder", 2),
    ]


@pytest.mark.parametrize(("primacy", "fsa"), [(256, 1), (-1, 1), (1, 0)])
def test_a_program_outside_its_bounds_is_refused(server: ServerThread, pki: TestPKI, primacy: int, fsa: int) -> None:
    with pytest.raises(OperatorError, match="primacy must be|fsa must be"):
        operator(server, pki).put_program(pki.device_identity("dev-a").lfdi, "x", primacy=primacy, fsa=fsa)


def test_a_deregistered_device_is_gone_with_all_it_left_and_may_register_afresh(
    server: ServerThread, pki: TestPKI
) -> None:
    a, a_id = device(server, pki, "dev-a")
    lfdi = pki.device_identity("dev-a").lfdi
    op = operator(server, pki)
    op.publish_control(lfdi, None, 600, {"export_limit_w": 1000.0})
    assert a.post("/mup", MUP.format(mrid="AD01" * 8, lfdi=lfdi).encode()).status == 201
    op.set_poll_rate("DERList", 77, lfdi=lfdi)
    assert a.get(f"/edev/{a_id}/derp/2/derc").status == 200  # cached before it goes

    gone = op.deregister_device(lfdi)

    assert gone.lfdi == lfdi and lfdi not in {d.lfdi for d in op.devices()}
    assert a.get(f"/edev/{a_id}/derp/2/derc").status == 403 and a.get("/dcap").status == 403
    again = op.register_device(lfdi)
    assert op.controls(lfdi) == [] and op.telemetry(lfdi) == []
    assert b'all="0"' in a.get("/mup").body
    assert poll_rate(a.get(f"/edev/{again.id}/der").body) == server.headend.config.poll_rate_s


def test_an_aggregator_is_deregistered_only_after_its_sites(server: ServerThread, pki: TestPKI) -> None:
    op = operator(server, pki)
    aggregator, site = pki.device_identity("aggregator").lfdi, pki.device_identity("agg-site-1").lfdi
    op.register_device(aggregator, kind="aggregator")
    op.register_device(site, aggregator_lfdi=aggregator)
    with pytest.raises(OperatorError, match="deregister them first"):
        op.deregister_device(aggregator)
    op.deregister_device(site)
    op.deregister_device(aggregator)
    assert {d.lfdi for d in op.devices()} == {pki.device_identity(n).lfdi for n in ("dev-a", "dev-b")}


def test_the_operator_deletes_a_control_a_program_and_mirror_usage_points(server: ServerThread, pki: TestPKI) -> None:
    a, a_id = device(server, pki, "dev-a")
    lfdi = pki.device_identity("dev-a").lfdi
    op = operator(server, pki)
    kept = op.publish_control(lfdi, None, 600, {"export_limit_w": 1000.0})
    dropped = op.publish_control(lfdi, None, 600, {"import_limit_w": 2000.0})
    for mrid in ("AE01" * 8, "AE02" * 8):
        assert a.post("/mup", MUP.format(mrid=mrid, lfdi=lfdi).encode()).status == 201
    assert dropped["mrid"].encode() in a.get(f"/edev/{a_id}/derp/2/derc?l=10").body

    op.delete_control(dropped["mrid"])
    listed = a.get(f"/edev/{a_id}/derp/2/derc?l=10").body
    assert dropped["mrid"].encode() not in listed and kept["mrid"].encode() in listed
    assert [c["mrid"] for c in op.controls(lfdi)] == [kept["mrid"]]

    added = op.put_program(lfdi, "feeder", primacy=5, fsa=2)
    op.delete_program(lfdi, "feeder")
    assert a.get(added["href"]).status == 404 and a.get(f"/edev/{a_id}/fsa/2").status == 404

    assert op.delete_mirror_usage_points(lfdi, "AE01" * 8) == 1
    assert b'all="1"' in a.get("/mup?l=10").body
    assert op.delete_mirror_usage_points(lfdi) == 1
    assert b'all="0"' in a.get("/mup").body
    with pytest.raises(OperatorError, match="no DERControl"):
        op.delete_control(dropped["mrid"])


def test_the_operator_commands(server: ServerThread, pki: TestPKI) -> None:
    lfdi = pki.device_identity("dev-a").lfdi
    a, a_id = device(server, pki, "dev-a")
    common = ("--server", server.url, "--certs", str(pki.directory))

    def run(*args: str) -> str:
        done = flexbench("csip", *args, *common)
        assert done.returncode == 0, done.stderr
        return done.stdout

    assert "access revoked" in run("access", "--site", lfdi, "revoke") and a.get("/dcap").status == 403
    run("access", "--site", lfdi, "restore")
    run("poll-rate", "DERProgramList", "42", "--site", lfdi)
    run("program", "--site", lfdi, "feeder", "--primacy", "5", "--fsa", "2")
    assert poll_rate(a.get(f"/edev/{a_id}/fsa/2/derp").body) == 42
    assert f"/edev/{a_id}/fsa/3: feeders" in run("fsa", "--site", lfdi, "3", "feeders")
    assert b"<description>feeders</description>" in a.get(f"/edev/{a_id}/fsa/3").body
    live = server.headend.publish_control(lfdi, None, 600, {"export_limit_w": 500.0})["mrid"]
    assert f"cancelled {live} (EventStatus 2)" in run("cancel", "--site", lfdi, "--newest")
    neither = flexbench("csip", "cancel", *common)
    assert neither.returncode != 0 and len(neither.stderr.strip().splitlines()) == 1
    run("delete", "program", "feeder", "--site", lfdi)
    assert a.get(f"/edev/{a_id}/fsa/2").status == 404
    bad = flexbench("csip", "poll-rate", "DERProgramList", "soon", *common)
    assert bad.returncode != 0 and len(bad.stderr.strip().splitlines()) == 1
    run("deregister", lfdi)
    assert a.get("/dcap").status == 403


def test_an_active_control_supersedes_a_later_overlapping_one_at_once(server: ServerThread, pki: TestPKI) -> None:
    """CSIP-AUS S-ALL-41 (9): a scheduled control overlapped by a new active one is Superseded now, not at its start."""
    a, a_id = device(server, pki, "dev-a")
    lfdi, op = pki.device_identity("dev-a").lfdi, operator(server, pki)
    now_s = int(time.time())
    later = op.publish_control(lfdi, now_s + 600, 600, {"export_limit_w": 4000.0})
    op.publish_control(lfdi, now_s - 60, 760, {"export_limit_w": 0.0})
    envelope = next(p["href"] for p in op.programs(lfdi) if p["name"] == "envelope")
    derc = a.get(f"{envelope}/derc?l=10").body.decode()
    statuses = dict(re.findall(r"<mRID>(\w+)</mRID>.*?<currentStatus>(\d)</currentStatus>", derc, re.S))
    assert statuses[later["mrid"]] == "4"


def test_cancelling_a_devices_live_controls_keeps_them_listed_as_cancelled(server: ServerThread, pki: TestPKI) -> None:
    """CSIP-AUS S-ALL-41/42 (clear-der-controls): every Scheduled or Active control, or the newest alone, is
    cancelled; the device still sees each one, with EventStatus 2, to answer it."""
    a, _ = device(server, pki, "dev-b")
    lfdi, op = pki.device_identity("dev-b").lfdi, operator(server, pki)
    now_s = int(time.time())
    older = op.publish_control(lfdi, now_s - 60, 600, {"export_limit_w": 1000.0})["mrid"]
    newer = op.publish_control(lfdi, now_s + 900, 600, {"import_limit_w": 1000.0})["mrid"]
    assert [c["mrid"] for c in op.cancel_controls(lfdi, newest_only=True)] == [newer]
    assert [c["mrid"] for c in op.cancel_controls(lfdi)] == [older]
    assert op.cancel_controls(lfdi) == []
    envelope = next(p["href"] for p in op.programs(lfdi) if p["name"] == "envelope")
    derc = a.get(f"{envelope}/derc?l=10").body.decode()
    assert re.findall(r"<currentStatus>(\d)</currentStatus>", derc) == ["2", "2"]


def test_records_cross_https_as_the_json_they_always_were_and_come_back_typed(
    server: ServerThread, pki: TestPKI
) -> None:
    """The admin answers a record as the dict of its fields (what `flexbench csip ... --json` and the cactus plugin
    read); OperatorClient builds the same typed records the in-process HeadEnd returns."""
    lfdi = pki.device_identity("dev-a").lfdi
    a, a_id = device(server, pki, "dev-a")
    mrid = server.headend.publish_control(lfdi, None, 600, {"export_limit_w": 500.0})["mrid"]
    response = (
        f'<DERControlResponse xmlns="urn:ieee:std:2030.5:ns"><createdDateTime>{int(time.time())}</createdDateTime>'
        f"<endDeviceLFDI>{lfdi}</endDeviceLFDI><status>1</status><subject>{mrid}</subject></DERControlResponse>"
    )
    assert a.post("/rsps/1/rsp", response.encode()).status == 201
    href = a.post("/mup", MUP.format(mrid="AB02" * 8, lfdi=lfdi).encode()).headers["Location"]
    assert a.post(href, READING.format(mrid="CD02" * 8, value=1500).encode()).status == 201
    op = operator(server, pki)

    assert op.responses(lfdi) == server.headend.responses(lfdi) and len(op.responses(lfdi)) == 1
    assert op.telemetry(lfdi) == server.headend.telemetry(lfdi) and op.telemetry(lfdi)[0].scaled_value == 1500
    assert op.devices() == server.headend.devices() and op.register_device(lfdi) == server.headend.device(lfdi)
    (raw_response,) = op.call("responses", lfdi=lfdi)
    assert set(raw_response) == {"id", "edev_id", "lfdi", "subject", "status", "created_s", "received_s"}
    assert raw_response["subject"] == mrid and raw_response["status"] == 1 and raw_response["edev_id"] == a_id
    (raw_reading,) = op.call("telemetry", lfdi=lfdi)
    assert raw_reading["uom"] == 38 and raw_reading["value"] == 1500 and raw_reading["mmr_mrid"] == "CD02" * 8
    raw_device = op.call("register_device", lfdi=lfdi)
    assert raw_device["id"] == a_id and raw_device["lfdi"] == lfdi and raw_device["enabled"] is True
    assert {d["lfdi"] for d in op.call("devices")} == {pki.device_identity(n).lfdi for n in ("dev-a", "dev-b")}

    common = ("--server", server.url, "--certs", str(pki.directory))
    listed = flexbench("csip", "responses", "--site", lfdi, *common)
    assert listed.returncode == 0 and f"{lfdi} {mrid} status 1 at" in listed.stdout
    as_json = flexbench("csip", "telemetry", "--site", lfdi, "--json", *common)
    assert as_json.returncode == 0 and json.loads(as_json.stdout) == [raw_reading]
    registered = flexbench("csip", "register", *common, lfdi, "--json")
    assert registered.returncode == 0 and json.loads(registered.stdout).keys() == raw_device.keys()
