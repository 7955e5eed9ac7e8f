"""OPC-UA fixtures: one PKI and one envelope server per session (asyncua's start-up takes seconds)."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from flexbench.signals.opcua import (
    ClientSecurity,
    EnvelopeServerConfig,
    EnvelopeServerThread,
    OpcuaPKI,
    SiteSpec,
    provision,
)

SITE_A = SiteSpec(
    "site-a",
    rated_import_w=100_000.0,
    rated_export_w=50_000.0,
    firm_import_limit_w=60_000.0,
    firm_export_limit_w=20_000.0,
)
SITE_B = SiteSpec("site-b", rated_import_w=10_000.0, rated_export_w=10_000.0)
HEARTBEAT_S = 0.2


@pytest.fixture(scope="session")
def opcua_pki_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("opcua-pki")
    provision(directory, [SITE_A.name, SITE_B.name], viewers=["viewer"])
    return directory


@pytest.fixture(scope="session")
def opcua_rogue_dir(tmp_path_factory: pytest.TempPathFactory, opcua_pki_dir: Path) -> Path:
    """Another CA's certificate named like site-a, with site-a's real password (stolen, say)."""
    directory = tmp_path_factory.mktemp("opcua-rogue")
    pki = OpcuaPKI(directory)
    pki.init(("localhost", "127.0.0.1"))
    pki.issue_client(SITE_A.name, hosts=("localhost", "127.0.0.1"))
    (directory / "private" / "passwords").mkdir(parents=True)
    shutil.copy(opcua_pki_dir / "private" / "passwords" / SITE_A.name, directory / "private" / "passwords")
    return directory


@pytest.fixture(scope="session")
def opcua_server_starts() -> list[str]:
    """Endpoints of every envelope server the session started: there must be exactly one."""
    return []


@pytest.fixture(scope="session")
def opcua_server(opcua_pki_dir: Path, opcua_server_starts: list[str]) -> Iterator[EnvelopeServerThread]:
    config = EnvelopeServerConfig(
        sites=[SITE_A, SITE_B],
        certs_dir=opcua_pki_dir,
        endpoint="opc.tcp://127.0.0.1:0/flexbench/test",
        heartbeat_interval_s=HEARTBEAT_S,
        tick_s=0.05,
    )
    with EnvelopeServerThread(config) as server:
        opcua_server_starts.append(server.endpoint)
        yield server


@pytest.fixture
def envelope_server(opcua_server: EnvelopeServerThread) -> EnvelopeServerThread:
    """The session's server, back to its initial state: no envelope, normal mode, firm limits, heartbeat on."""
    opcua_server.clear_abnormal()
    opcua_server.resume_heartbeat()
    for spec in (SITE_A, SITE_B):
        opcua_server.set_firm_limits(spec.name, spec.firm_import_w, spec.firm_export_w)
        opcua_server.publish_envelope(spec.name, [])
    return opcua_server


@pytest.fixture
def security(opcua_pki_dir: Path) -> Callable[..., ClientSecurity]:
    """ClientSecurity of a bench client of the session PKI, by name."""

    def make(name: str, **kwargs: Any) -> ClientSecurity:
        return ClientSecurity.from_pki(opcua_pki_dir, name, **kwargs)

    return make


@pytest.fixture
def run() -> Callable[[Awaitable[Any]], Any]:
    """Run a test's client coroutine to completion on a fresh loop, with a guard against hangs."""

    def runner(coro: Awaitable[Any], timeout_s: float = 30.0) -> Any:
        async def guarded() -> Any:
            return await asyncio.wait_for(coro, timeout_s)

        return asyncio.run(guarded())

    return runner
