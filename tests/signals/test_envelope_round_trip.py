"""Round trip on the command line: what `flexbench envelope` writes goes to a site as it is.

`flexbench envelope` writes a CSV and a JSON file (its `#` meta data lines, its
extra columns and all); `flexbench csip publish` and `flexbench opcua publish`
take each file unchanged, and each server then holds exactly that site's
intervals: the head-end's DERControls as the operator lists them (and their
wire values), the OPC-UA envelope nodes as the site reads them. The servers run
as their own processes (`csip serve`, `opcua serve`); the other commands run as
typed, in this process.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import queue
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from flexbench.core import Envelope
from flexbench.lab.cli import main
from flexbench.signals.opcua import ClientSecurity, SiteClient
from flexbench.twin import EnvelopeSet

CLI = [sys.executable, "-m", "flexbench.lab.cli"]
# group-csv: the per-site file of `flexbench envelope --group` (the group's own rows go to a file beside it)
FORMATS = ("csv", "json", "group-csv")
SITES = ("671", "692")  # the file holds two sites: the publish commands pick one
SITE = "671"
# A site rated for what the feeder lets location 671 import and export (the server refuses limits above the rating).
RATED_W = 2_000_000.0
START_TIMEOUT_S = 120.0  # a server's start-up (its PKI keys included) on a busy two-core host


def flexbench(*args: str) -> str:
    """A client command as a user types it (in this process: its imports are paid once); returns its output."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(args))
    assert code == 0, f"flexbench {' '.join(args)}: {err.getvalue()}"
    return out.getvalue()


class Serving:
    """A `flexbench ... serve` process, started at once; `address()` waits for the word after `ready` on its stdout."""

    def __init__(self, args: list[str], ready: str) -> None:
        self.name = " ".join(args[:2])
        self.ready = ready
        self.process = subprocess.Popen([*CLI, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.put(line)
        self.lines.put("")

    def address(self) -> str:
        while True:
            try:
                line = self.lines.get(timeout=START_TIMEOUT_S)
            except queue.Empty:
                pytest.fail(f"flexbench {self.name}: no {self.ready!r} line within {START_TIMEOUT_S:g} s")
            if not line:
                self.process.wait(timeout=30)
                pytest.fail(f"flexbench {self.name} ended: {self.process.stderr.read() if self.process.stderr else ''}")
            if line.startswith(self.ready):
                return line[len(self.ready) :].split()[0]

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


@pytest.fixture(scope="module")
def envelope_files(tmp_path_factory: pytest.TempPathFactory, opcua_serving) -> dict[str, Path]:
    """One small variable envelope of two IEEE 13 locations, written by `flexbench envelope` as CSV and as JSON,
    and as the CSV of the two as a group."""
    folder = tmp_path_factory.mktemp("envelope")
    files = {fmt: folder / f"envelope-{fmt}.{fmt.rpartition('-')[2]}" for fmt in FORMATS}
    common = ["envelope", "--feeder", "ieee13", "--kind", "variable"]
    common += ["--horizon", "4h", "--resolution", "1h", "--method", "fast"]
    for fmt, path in files.items():
        flexbench(*common, "--group" if fmt.startswith("group") else "--sites", ",".join(SITES), "--out", str(path))
    assert all(
        path.read_text().startswith("# schema: flexbench-envelope/1")
        for path in files.values()
        if path.suffix == ".csv"
    )
    return files


def expected(path: Path) -> list[tuple[float, float, float | None, float | None]]:
    """SITE's intervals as the twin reads its own file back: (start, duration, import, export)."""
    return rows(EnvelopeSet.read(path).envelope(SITE))


def rows(envelope: Envelope) -> list[tuple[float, float, float | None, float | None]]:
    return [(i.start_s, i.duration_s, i.import_limit_w, i.export_limit_w) for i in envelope]


@pytest.fixture(scope="module")
def csip_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[list[str], dict[str, str]]]:
    """`flexbench csip serve` with a device per file format registered; yields the operator's options and LFDIs."""
    folder = tmp_path_factory.mktemp("csip")
    certs = folder / "certs"
    flexbench("certs", "init", str(certs))
    lfdis = {
        fmt: flexbench("certs", "device", str(certs), f"site-{fmt}").split("LFDI ")[1].split()[0] for fmt in FORMATS
    }
    server = Serving(
        ["csip", "serve", "--db", str(folder / "state.db"), "--certs", str(certs), "--port", "0"], "serving "
    )
    try:
        common = ["--server", server.address(), "--certs", str(certs)]
        for lfdi in lfdis.values():
            flexbench("csip", "register", *common, lfdi)
        yield common, lfdis
    finally:
        server.stop()


@pytest.mark.parametrize("fmt", FORMATS)
def test_csip_publish_takes_the_envelope_file_as_written(envelope_files, csip_server, fmt: str) -> None:
    common, lfdis = csip_server
    path, lfdi = envelope_files[fmt], lfdis[fmt]
    published = flexbench("csip", "publish", *common, "--site", lfdi, "--envelope-site", SITE, str(path), "--json")
    assert len(json.loads(published)["mrids"]) == len(expected(path))

    controls = json.loads(flexbench("csip", "controls", *common, "--site", lfdi, "--json"))
    held = sorted(
        (c["start_s"], c["duration_s"], c["values"]["import_limit_w"], c["values"]["export_limit_w"])
        for c in controls
        if c["program"] == "envelope" and c["superseded_by"] is None
    )
    assert held == expected(path)
    for control in controls:  # what a device reads: ActivePower, value x 10^multiplier, never above the limit
        for key, limit_key in (("opModImpLimW", "import_limit_w"), ("opModExpLimW", "export_limit_w")):
            value, multiplier = control["wire"][key]
            limit_w = control["values"][limit_key]
            assert limit_w - 10.0**multiplier < value * 10.0**multiplier <= limit_w


@pytest.fixture(scope="module")
def opcua_serving(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Serving, Path]]:
    """`flexbench opcua serve` with a site per file format, rated above the envelope's limits.

    Started before anything else (asyncua and the PKI's keys take seconds): it starts while the other tests run.
    """
    certs = tmp_path_factory.mktemp("opcua") / "pki"
    serve = ["opcua", "serve", "--certs", str(certs), "--endpoint", "opc.tcp://127.0.0.1:0/flexbench/round-trip"]
    for fmt in FORMATS:
        serve += ["--site", f"site-{fmt}"]
    serve += ["--rated-import-w", str(RATED_W), "--rated-export-w", str(RATED_W)]
    server = Serving(serve, "endpoint: ")
    try:
        yield server, certs
    finally:
        server.stop()


@pytest.fixture(scope="module")
def opcua_server(opcua_serving: tuple[Serving, Path], envelope_files) -> tuple[list[str], Path]:
    """The OPC-UA operator's options, once the server is up; the envelope fits the sites' rating."""
    largest_w = max(w for path in envelope_files.values() for row in expected(path) for w in row[2:] if w is not None)
    assert largest_w < RATED_W, f"the envelope reaches {largest_w} W: rate the test sites higher"
    server, certs = opcua_serving
    return ["--endpoint", server.address(), "--certs", str(certs)], certs


@pytest.mark.parametrize("fmt", FORMATS)
def test_opcua_publish_takes_the_envelope_file_as_written(envelope_files, opcua_server, fmt: str) -> None:
    common, certs = opcua_server
    path, site = envelope_files[fmt], f"site-{fmt}"
    published = flexbench("opcua", "publish", *common, "--site", site, "--envelope-site", SITE, str(path))
    assert f"published {len(expected(path))} interval(s)" in published

    async def read_as_the_site() -> Envelope:
        async with SiteClient(common[1], site, ClientSecurity.from_pki(certs, site), timeout_s=30.0) as client:
            return await client.read_envelope()

    assert rows(asyncio.run(read_as_the_site())) == expected(path)
