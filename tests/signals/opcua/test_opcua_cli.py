"""`flexbench opcua ...`: certs, serve on a free port, and the operator's tools against a server."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

from flexbench.lab.cli import main


def test_certs_creates_accounts_and_is_idempotent(tmp_path: Path, capsys):
    assert main(["opcua", "certs", str(tmp_path / "pki"), "--site", "north", "--viewer", "scada"]) == 0
    first = (tmp_path / "pki" / "private" / "passwords" / "north").read_text()
    assert main(["opcua", "certs", str(tmp_path / "pki"), "--site", "north", "--site", "south"]) == 0
    out = capsys.readouterr().out
    assert "north" in out and "south" in out and "operator" in out
    assert (tmp_path / "pki" / "private" / "passwords" / "north").read_text() == first


def test_publish_signal_and_read_against_a_running_server(envelope_server, opcua_pki_dir: Path, tmp_path: Path, capsys):
    envelope = tmp_path / "envelope.csv"
    start = int(time.time()) - 30
    envelope.write_text(
        f"start,duration_s,import_limit_w,export_limit_w\n{start},600,45000,15000\n{start + 600},600,35000,5000\n"
    )
    common = ["--endpoint", envelope_server.endpoint, "--certs", str(opcua_pki_dir)]
    assert main(["opcua", "publish", *common, "--site", "site-a", str(envelope)]) == 0
    assert [i.import_limit_w for i in envelope_server.read("site-a").envelope] == [45_000.0, 35_000.0]
    assert main(["opcua", "signal-abnormal", *common, "--site", "site-a", "--max-import-w", "20000"]) == 0
    capsys.readouterr()
    assert main(["opcua", "read", *common, "--site", "site-a", "--user", "viewer"]) == 0
    values = json.loads(capsys.readouterr().out)["site-a"]
    assert (values["ImportLimitW"], values["ExportLimitW"], values["OperatingMode"]) == (20_000.0, 15_000.0, "abnormal")


def test_refusals_print_one_line_and_exit_non_zero(envelope_server, opcua_pki_dir: Path, tmp_path: Path, capsys):
    envelope = tmp_path / "envelope.json"
    envelope.write_text(json.dumps([{"start": 0, "duration_s": 60, "import_limit_w": 1e9, "export_limit_w": 0}]))
    common = ["--endpoint", envelope_server.endpoint, "--certs", str(opcua_pki_dir)]
    assert main(["opcua", "publish", *common, "--site", "site-a", "--user", "site-a", str(envelope)]) == 2
    assert main(["opcua", "publish", *common, "--site", "site-a", str(envelope)]) == 2
    assert main(["opcua", "read", *common, "--site", "nowhere"]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 3, lines
    assert "BadUserAccessDenied" in lines[0] and "no site 'nowhere'" in lines[2]
    # out of range: the line names the interval and the site's rated range, not only the status
    assert "envelope interval 0: limits 1000000000.0 W import" in lines[1] and "(100000.0 W import" in lines[1]


def test_serve_on_port_zero_prints_the_endpoint_and_stops_cleanly(tmp_path: Path):
    command = [
        sys.executable,
        "-c",
        "import sys; from flexbench.lab.cli import main; sys.exit(main())",
        "opcua",
        "serve",
        "--certs",
        str(tmp_path / "pki"),
        "--site",
        "north",
        "--endpoint",
        "opc.tcp://127.0.0.1:0/flexbench/cli-test",
        "--heartbeat-s",
        "0.5",
    ]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        endpoint = None
        deadline = time.monotonic() + 60
        while endpoint is None and time.monotonic() < deadline:
            line = process.stdout.readline()
            if not line:
                break
            if line.startswith("endpoint: "):
                endpoint = line.split()[1]
        assert endpoint is not None and not endpoint.endswith(":0/flexbench/cli-test"), process.stderr.read()
        assert main(["opcua", "read", "--endpoint", endpoint, "--certs", str(tmp_path / "pki"), "--site", "north"]) == 0
    finally:
        process.terminate()
        assert process.wait(timeout=20) == 0
