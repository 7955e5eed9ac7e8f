"""State survives a restart; in-band registration; the command line and the remote operator API."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from flexbench.core import Envelope
from flexbench.signals.csip import OperatorClient, OperatorError, ServerThread
from flexbench.signals.pki import TestPKI

from .conftest import http_for

ENDDEVICE = '<EndDevice xmlns="urn:ieee:std:2030.5:ns"><sFDI>{sfdi}</sFDI><lFDI>{lfdi}</lFDI><changedTime>0</changedTime></EndDevice>'


def test_restart_keeps_registrations_controls_and_responses(pki: TestPKI, tmp_path: Path) -> None:
    db = tmp_path / "state.db"
    lfdi = pki.device_identity("dev-a").lfdi
    now = int(time.time())
    with ServerThread(db, pki.directory) as first:
        first.headend.register_device(lfdi, connection_point_id="NMI-1")
        first.headend.set_default_control(lfdi, 9000, 5000)
        mrids = first.headend.publish_envelope(
            lfdi, Envelope.of([(now + 600, 900, 4000, 2000), (now + 1500, 900, 3000, 1000)])
        )
        mrid = mrids["mrids"][0]
        body = (
            f'<DERControlResponse xmlns="urn:ieee:std:2030.5:ns"><createdDateTime>{now}</createdDateTime>'
            f"<endDeviceLFDI>{lfdi}</endDeviceLFDI><status>1</status><subject>{mrid}</subject>"
            "</DERControlResponse>"
        ).encode()
        assert http_for(first.url, pki, pki.device_identity("dev-a")).post("/rsps/1/rsp", body).status == 201
        before = (
            first.headend.devices(),
            first.headend.controls(lfdi),
            first.headend.responses(),
            first.headend.default_control(lfdi),
        )
        old_port = first.server.port
    with ServerThread(db, pki.directory) as second:
        after = (
            second.headend.devices(),
            second.headend.controls(lfdi),
            second.headend.responses(),
            second.headend.default_control(lfdi),
        )
        assert after == before
        a = http_for(second.url, pki, pki.device_identity("dev-a"))
        assert a.get(f"/edev/{before[0][0].id}").status == 200
        assert mrid.encode() in a.get(f"/edev/{before[0][0].id}/derp/2/derc?l=10").body
    assert old_port


def test_in_band_registration_when_allowed(pki: TestPKI, tmp_path: Path) -> None:
    from flexbench.signals.csip import HeadEndConfig

    identity = pki.device_identity("unregistered")
    other = pki.device_identity("dev-b")
    with ServerThread(
        tmp_path / "inband.db", pki.directory, config=HeadEndConfig(allow_in_band_registration=True)
    ) as srv:
        h = http_for(srv.url, pki, identity)
        assert h.get("/dcap").status == 200
        assert h.get("/edev/1").status == 403
        assert h.post("/edev", ENDDEVICE.format(sfdi=other.sfdi, lfdi=other.lfdi).encode()).status == 403
        assert h.post("/edev", ENDDEVICE.format(sfdi=identity.sfdi + 1, lfdi=identity.lfdi).encode()).status == 400
        created = h.post("/edev", ENDDEVICE.format(sfdi=identity.sfdi, lfdi=identity.lfdi).encode())
        assert created.status == 201
        assert h.get(created.headers["Location"]).status == 200
        assert srv.headend.device(identity.lfdi).sfdi == identity.sfdi
    with ServerThread(tmp_path / "closed.db", pki.directory) as srv:
        h = http_for(srv.url, pki, identity)
        assert h.get("/dcap").status == 403
        assert h.post("/edev", ENDDEVICE.format(sfdi=identity.sfdi, lfdi=identity.lfdi).encode()).status == 403


def test_remote_operator_api(pki: TestPKI, tmp_path: Path) -> None:
    lfdi = pki.device_identity("dev-a").lfdi
    with ServerThread(tmp_path / "op.db", pki.directory) as srv:
        op = OperatorClient.from_certs_dir(srv.url, pki.directory)
        op.register_device(lfdi)
        start = int(time.time()) + 3600
        result = op.publish_envelope(
            lfdi, Envelope.of([{"start": start, "duration_s": 900, "import_limit_w": 1e5, "export_limit_w": 0}])
        )
        assert op.controls(lfdi)[0]["wire"] == {"opModImpLimW": [10000, 1], "opModExpLimW": [0, 0]}
        new = op.supersede_control(result["mrids"][0], {"import_limit_w": 5000, "export_limit_w": 10})
        assert new["superseded"] == result["mrids"]
        assert op.cancel_control(new["mrid"])["status"] == 2
        with pytest.raises(OperatorError, match="no device"):
            op.publish_envelope("AB" * 20, Envelope.of([(start, 900, 1, 1)]))
        device_http = http_for(srv.url, pki, pki.device_identity("dev-a"))
        assert device_http.post("/admin/call/devices", b"{}").status == 403


def flexbench(*args: str, **kwargs: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "flexbench.lab.cli", *args], capture_output=True, text=True, timeout=60, **kwargs
    )  # type: ignore[call-overload]


def test_command_line(tmp_path: Path) -> None:
    certs = tmp_path / "certs"
    assert flexbench("certs", "init", str(certs)).returncode == 0
    again = flexbench("certs", "init", str(certs))
    assert again.returncode != 0 and len(again.stderr.strip().splitlines()) == 1
    device = flexbench("certs", "device", str(certs), "site-7")
    assert device.returncode == 0
    lfdi = device.stdout.split("LFDI ")[1].split()[0]
    sfdi = int(device.stdout.split("SFDI ")[1].split()[0])
    from flexbench.signals.pki import sfdi_from_lfdi

    assert sfdi == sfdi_from_lfdi(lfdi)
    envelope = tmp_path / "env.csv"
    envelope.write_text(
        "start,duration_s,import_limit_w,export_limit_w\n"
        "2031-01-01T00:00:00Z,900,5000,3000\n2031-01-01T00:15:00Z,900,125000,1500.5\n"
    )
    serve = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "flexbench.lab.cli",
            "csip",
            "serve",
            "--db",
            str(tmp_path / "s.db"),
            "--certs",
            str(certs),
            "--port",
            "0",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert serve.stdout is not None
        url = serve.stdout.readline().split()[-1]
        assert url.startswith("https://127.0.0.1:")
        common = ["--server", url, "--certs", str(certs)]
        assert flexbench("csip", "register", *common, lfdi).returncode == 0
        published = flexbench(
            "csip",
            "publish",
            *common,
            "--site",
            lfdi,
            str(envelope),
            "--firm-import-w",
            "9000",
            "--firm-export-w",
            "5000",
            "--json",
        )
        assert published.returncode == 0, published.stderr
        listed = flexbench("csip", "controls", *common, "--site", lfdi)
        assert listed.returncode == 0 and "1500.5" in listed.stdout
        abnormal = flexbench("csip", "signal-abnormal", *common, "--site", lfdi, "--max-import-w", "2000")
        assert abnormal.returncode == 0
        bad = flexbench("csip", "publish", *common, "--site", "1234", str(envelope))
        assert bad.returncode == 2 and len(bad.stderr.strip().splitlines()) == 1
        missing = flexbench("csip", "publish", *common, "--site", lfdi, str(tmp_path / "none.csv"))
        assert missing.returncode == 2 and "none.csv" in missing.stderr
        assert flexbench("csip", "responses", *common).returncode == 0
        ramp = flexbench("csip", "default", *common, "--site", lfdi, "--ramp-pct-per-s", "0.2778", "--json")
        assert ramp.returncode == 0, ramp.stderr
        default = json.loads(ramp.stdout)  # the firm limits stay; 16.67 %/min is setGradW 28 (hundredths of %/s)
        assert default["wire"]["setGradW"] == 28 and default["values"]["export_limit_w"] == 5000
        steep = flexbench("csip", "default", *common, "--site", lfdi, "--ramp-pct-per-s", "1000")
        assert steep.returncode == 2 and "setGradW" in steep.stderr and len(steep.stderr.strip().splitlines()) == 1
    finally:
        serve.terminate()
        serve.wait(timeout=30)
    assert serve.returncode == 0, serve.stderr.read() if serve.stderr else ""
    assert os.path.exists(tmp_path / "s.db")
