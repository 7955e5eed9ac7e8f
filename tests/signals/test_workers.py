"""Several server processes over one store: what one changes, another serves at once; a change is notified once.

Two `ServerThread`s over one state file stand for two workers (each has its own SQLite connection, render
cache, registry and notifier, as a forked worker has); the last test runs `flexbench csip serve --workers 2`.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from flexbench.core import Envelope
from flexbench.signals.csip import OperatorClient, ServerThread, uris
from flexbench.signals.csip.headend import HeadEnd
from flexbench.signals.csip.xmlio import parse_tree
from flexbench.signals.pki import TestPKI

from .conftest import http_for, notification_listener

SEP = "{urn:ieee:std:2030.5:ns}"


def wait_until(condition: Callable[[], bool], timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.05)


def _text(body: bytes, name: str) -> str | None:
    """An attribute of the resource, or the text of its child element."""
    root = parse_tree(body)
    found = root.find(SEP + name)
    return root.get(name) if found is None else found.text


def test_a_change_through_one_process_is_served_by_another_at_once(pki: TestPKI, tmp_path: Path) -> None:
    db = tmp_path / "state.db"
    identity = pki.device_identity("dev-a")
    with (
        ServerThread(db, pki.directory, shared_store=True) as a,
        ServerThread(db, pki.directory, shared_store=True) as b,
    ):
        a.headend.register_device(identity.lfdi)
        via_b = http_for(b.url, pki, identity)
        assert via_b.get("/dcap").status == 200  # B admits a certificate A registered
        edev = a.headend.device(identity.lfdi).id
        program = a.headend.book.program_by_name(edev, "envelope").id
        path = uris.DERC_LIST.href(edev, program) + "?l=10"
        assert _text(via_b.get(path).body, "results") == "0"  # rendered, and cached, by B
        operator = OperatorClient.from_certs_dir(a.url, pki.directory)
        now_s = int(time.time())
        operator.publish_envelope(identity.lfdi, Envelope.of([(now_s + 3600, 900, 5000, 3000)]))
        assert _text(via_b.get(path).body, "results") == "1"
        operator.set_poll_rate("DeviceCapability", 77, identity.lfdi)
        assert _text(via_b.get("/dcap").body, "pollRate") == "77"
        operator.set_client_access(identity.lfdi, False)
        assert via_b.get("/dcap").status == 403


def test_a_change_is_notified_once_by_the_process_that_made_it(pki: TestPKI, tmp_path: Path) -> None:
    db = tmp_path / "state.db"
    identity = pki.device_identity("dev-a")
    received: list[bytes] = []
    with (
        ServerThread(db, pki.directory, shared_store=True) as a,
        ServerThread(db, pki.directory, shared_store=True) as b,
    ):
        a.headend.register_device(identity.lfdi)
        edev = a.headend.device(identity.lfdi).id
        program = a.headend.book.program_by_name(edev, "envelope").id
        resource = uris.DERC_LIST.href(edev, program)

        async def receive_while(work: Callable[[str], None]) -> None:
            async with notification_listener(identity, pki, received) as uri:
                await asyncio.to_thread(work, uri)

        def work(uri: str) -> None:
            subscription = (
                f'<Subscription xmlns="urn:ieee:std:2030.5:ns"><subscribedResource>{resource}</subscribedResource>'
                f"<encoding>0</encoding><level>+S1</level><limit>10</limit>"
                f"<notificationURI>{uri}</notificationURI></Subscription>"
            )
            assert http_for(b.url, pki, identity).post(uris.SUB_LIST.href(edev), subscription.encode()).status == 201
            operator = OperatorClient.from_certs_dir(a.url, pki.directory)
            operator.publish_envelope(identity.lfdi, Envelope.of([(int(time.time()) + 3600, 900, 5000, 3000)]))
            wait_until(lambda: bool(received))
            notifiers = [server.server._notifier for server in (a, b)]
            wait_until(lambda: all(n is not None and not n.tasks for n in notifiers))

        asyncio.run(receive_while(work))
        sent = [(s.server._notifier.sent, s.server._notifier.failed) for s in (a, b)]  # type: ignore[union-attr]
    assert sent == [(1, 0), (0, 0)]
    assert len(received) == 1
    assert parse_tree(received[0]).find(SEP + "subscribedResource").text == resource  # type: ignore[union-attr]


def _children(pid: int) -> list[int]:
    return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]


def test_serve_with_two_workers_shares_one_port_and_one_store(pki: TestPKI, tmp_path: Path) -> None:
    db = tmp_path / "state.db"
    identity = pki.device_identity("dev-b")
    headend = HeadEnd(db)
    headend.register_device(identity.lfdi)
    headend.close()
    cmd = [sys.executable, "-m", "flexbench.lab.cli", "csip", "serve", "--db", str(db), "--certs", str(pki.directory)]
    proc = subprocess.Popen([*cmd, "--port", "0", "--workers", "2"], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line.startswith("serving https://127.0.0.1:"), line
        url = line.split()[1]
        assert len(_children(proc.pid)) == 2
        operator = OperatorClient.from_certs_dir(url, pki.directory)
        operator.set_poll_rate("DeviceCapability", 123, identity.lfdi)
        device = http_for(url, pki, identity)
        # each request on a new connection: the kernel spreads them over both workers, all see the change
        assert {_text(device.get("/dcap").body, "pollRate") for _ in range(20)} == {"123"}
        os.kill(proc.pid, signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
        children = _children_of_parent_killed(cmd, db)
        wait_until(lambda: all(not Path(f"/proc/{pid}").exists() for pid in children))
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def _children_of_parent_killed(cmd: list[str], db: Path) -> list[int]:
    """Start `serve --workers 2` again and SIGKILL its parent: the workers it leaves (they must stop by
    themselves)."""
    proc = subprocess.Popen([*cmd, "--port", "0", "--workers", "2"], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    assert proc.stdout.readline().startswith("serving ")
    children = _children(proc.pid)
    proc.kill()
    proc.wait()
    assert len(children) == 2
    return children
