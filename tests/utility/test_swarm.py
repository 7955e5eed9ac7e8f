"""The client swarm against the project's own 2030.5 server, on loopback."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import pytest

from flexbench.lab.cli import main
from flexbench.signals.csip import HeadEndConfig, ServerThread
from flexbench.signals.csip.swarm import SwarmConfig, held, run_swarm
from flexbench.signals.csip.swarm_sites import EnvelopePlan, register_sites, site_certificates
from flexbench.signals.pki import TestPKI


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> TestPKI:
    pki = TestPKI(tmp_path_factory.mktemp("swarm-pki"))
    pki.init()
    return pki


@pytest.fixture
def server(pki: TestPKI, tmp_path: Path):
    with ServerThread(tmp_path / "state.db", pki.directory, config=HeadEndConfig(poll_rate_s=2)) as srv:
        yield srv


def test_swarm_of_50_holds_with_a_sane_report(pki: TestPKI, server) -> None:
    sites = site_certificates(pki.directory, 50, prefix="t")
    plan = EnvelopePlan(start_s=int(time.time()) + 3, interval_s=2)
    setup = asyncio.run(register_sites(server.url, pki.directory, sites, plan))
    assert setup["sites"] == 50 and setup["newly_registered"] == 50
    # 6 s at a 2 s poll rate: every site discovers and polls even when its TLS handshake and discovery
    # take a second or more on a loaded 2-core host
    report = run_swarm(SwarmConfig(server.url, str(pki.ca_cert_path), duration_s=6.0, ramp_s=1.0), sites)
    assert held(report), report
    assert report["sites_discovered"] == 50 and report["stale_fraction"] == 0.0
    assert report["poll_rate_s"] == 2 and report["poll_rate_source"] == "server"
    assert report["polls_ok"] >= 50  # each site at least once; how many more fit in 6 s is the host's load
    assert report["readings_posted"] == report["polls_ok"]
    assert report["responses_posted"] >= 50 * 4  # Received for every interval at least
    assert report["requests_per_s"] > 0 and report["latency_ms"]["p50"] <= report["latency_ms"]["p99"]
    assert len(server.headend.responses()) == report["responses_posted"]
    assert len(server.headend.telemetry(sites[0].lfdi)) >= 2


def test_swarm_counts_errors_and_stale_sites(pki: TestPKI, server) -> None:
    """Sites the server does not know: discovery fails with 403, every one is stale, the run did not hold."""
    sites = site_certificates(pki.directory, 5, prefix="unregistered")
    report = run_swarm(
        SwarmConfig(server.url, str(pki.ca_cert_path), duration_s=1.0, ramp_s=0.2, retry_interval_s=0.5), sites
    )
    assert not held(report)
    assert report["errors"] >= 5 and "GET HTTP 403" in report["errors_by_kind"]
    assert report["stale_sites"] == 5 and report["sites_discovered"] == 0


def test_cli_swarm_json(pki: TestPKI, server, tmp_path: Path, capsys) -> None:
    out = tmp_path / "swarm.json"
    code = main(
        [
            "swarm",
            "--server",
            server.url,
            "--clients",
            "10",
            "--certs",
            str(pki.directory),
            "--duration",
            "2",
            "--ramp",
            "0.5",
            "--prefix",
            "cli",
            "--json",
            "--out",
            str(out),
        ]
    )
    printed = json.loads(capsys.readouterr().out)
    assert code == 0, printed
    assert printed == json.loads(out.read_text())
    assert printed["clients"] == 10 and printed["errors"] == 0
    assert main(["swarm", "--server", "http://x", "--clients", "1", "--certs", str(pki.directory)]) == 2
    assert "https://" in capsys.readouterr().err


def test_server_keeps_connections_past_the_poll_rate_and_raises_its_file_limit(pki: TestPKI, tmp_path: Path) -> None:
    """Devices polling at pollRate reuse their TLS connection; thousands of sockets fit under the file limit."""
    import resource

    from flexbench.signals.csip import CsipServer
    from flexbench.signals.csip.runner import raise_open_file_limit

    server = CsipServer(tmp_path / "a.db", pki.directory, config=HeadEndConfig(poll_rate_s=900))
    assert server.keepalive_timeout_s == 960
    server.headend.close()
    server = CsipServer(tmp_path / "b.db", pki.directory, keepalive_timeout_s=30)
    assert server.keepalive_timeout_s == 30
    server.headend.close()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    assert raise_open_file_limit() == resource.getrlimit(resource.RLIMIT_NOFILE)[0] >= soft


def test_registering_a_device_does_not_reload_the_registry(tmp_path: Path, pki: TestPKI, monkeypatch) -> None:
    """Registration touches one row: 10,000 sites register in seconds, not in minutes (no O(N^2) reloads)."""
    from flexbench.signals.csip import HeadEnd
    from flexbench.signals.csip.registry import Registry

    headend = HeadEnd(tmp_path / "r.db")
    try:
        a, b = (pki.device(f"reg-{i}") for i in range(2))
        headend.register_device(a.lfdi)
        monkeypatch.setattr(Registry, "reload", lambda self: pytest.fail("register reloaded every device"))
        headend.register_device(b.lfdi, rated_w=5000)
        headend.register_device(a.lfdi, description="again")  # an update keeps its id
        assert headend.registry.by_lfdi(b.lfdi).rated_w == 5000
        assert headend.registry.by_lfdi(a.lfdi).description == "again"
        assert [d.lfdi for d in headend.devices()] == [a.lfdi, b.lfdi]
    finally:
        headend.close()
