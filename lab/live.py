"""The live view of a run: a local page with the bench, the running test and step, plots and the matrix.

`flexbench run --live` (and `cosim run --live`, `replay --live`) serves it on
127.0.0.1 at a port chosen at run time and prints its address. What it shows
comes from the recorder's stream as the run folder gets it (the recorder's event
and sample listeners) and from the run's own hooks (a test starts, a test ends
with its verdicts), never from the files on disk. Samples reach the page
decimated: each plotted channel's latest value, SEND_HZ times a second of wall
time. The page (live.html, no network) polls /state for what is new.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import re
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from typing import TYPE_CHECKING, Any, TextIO
from urllib.parse import parse_qs, urlparse

import pytest

from flexbench.core import channels
from flexbench.lab.console import event_text
from flexbench.lab.results import matrix

if TYPE_CHECKING:
    from flexbench.lab.bench_config import BenchConfig
    from flexbench.lab.recorder import Recorder

log = logging.getLogger(__name__)

SEND_HZ = 4.0
"""Points per plotted channel per wall second that reach the page."""
HISTORY_POINTS = 50_000
"""Points kept for a page opened late (about 25 minutes of a run's usual eight channels at SEND_HZ)."""
STEPS_KEPT = 12
PANELS = (
    ("pcc", "PCC power, W (import +), against the limits in force"),
    ("dut", "DUT power, W, against its limit"),
    ("voltage", "Voltage, V"),
    ("frequency", "Frequency, Hz"),
)
_VOLTAGE = re.compile(r"(.*_)?v[\d.]*_v|(.*_)?voltage_v")  # pcc.v_v, grid.v1_v, cosim.twin_v48.1_v, cond.voltage_v
_FREQUENCY = re.compile(r"(.*_)?f_hz")


def panel_of(channel: str) -> str | None:
    """The plot a recorded channel belongs on; None for one the page does not plot."""
    if channel in (channels.PCC_P_W, channels.LIMIT_PCC_MAX_W, channels.LIMIT_PCC_MIN_W):
        return "pcc"
    if channel in (channels.DUT_P_W, channels.LIMIT_W, channels.COSIM_P_W, channels.COSIM_P_MEASURED_W):
        return "dut"
    quantity = channel.split(".", 1)[-1]
    if _VOLTAGE.fullmatch(quantity):
        return "voltage"
    if _FREQUENCY.fullmatch(quantity):
        return "frequency"
    return None


class LiveView:
    """What the page shows, and the server that shows it."""

    def __init__(self, title: str) -> None:
        self.title = title
        self.url = ""
        self._lock = threading.Lock()
        self._bench: dict[str, Any] = {}
        self._selected: dict[str, list[str]] = {}  # test -> its requirement IDs, in run order
        self._outcomes: dict[str, str] = {}  # test -> running, passed, failed, error, skipped
        self._records: list[dict[str, Any]] = []  # ended tests, as the run folder holds them
        self._current: str | None = None
        self._test_started = time.monotonic()
        self._steps: deque[tuple[float, str]] = deque(maxlen=STEPS_KEPT)
        self._finished: str | None = None  # the run's overall verdict once it ended
        self._latest: dict[str, tuple[float, float]] = {}  # plotted channel -> its newest sample
        self._sent: dict[str, float] = {}  # plotted channel -> time of its newest point
        self._points: deque[tuple[int, str, float, float]] = deque(maxlen=HISTORY_POINTS)
        self._seq = 0
        self._t0: float | None = None
        self._panels: dict[str, str | None] = {}
        self._stop = threading.Event()
        self._viewed = threading.Event()  # a page asked for the state
        self._final_seen = threading.Event()  # a page saw the run's end
        self._server: ThreadingHTTPServer | None = None
        self._threads: list[threading.Thread] = []

    # -- what the run tells -----------------------------------------------------

    def show_bench(self, config: BenchConfig) -> None:
        instruments = [
            {"name": i.name, "role": i.role, "driver": i.driver, "address": i.address}
            for i in config.instruments.values()
        ]
        servers = [("csip", "IEEE 2030.5 server", config.csip), ("opcua", "OPC-UA server", config.opcua)]
        instruments += [{"name": n, "role": role, "driver": "", "address": ""} for n, role, c in servers if c]
        with self._lock:
            self._bench = {"name": config.name, "description": config.description, "instruments": instruments}

    def watch(self, recorder: Recorder) -> None:
        """Follow a recorder: its events (steps, progress, faults) and its samples."""
        recorder.listeners.append(self.on_event)
        recorder.sample_listeners.append(self.on_sample)

    def select(self, tests: Iterable[tuple[str, list[str]]]) -> None:
        """The tests the run will run and the requirement IDs each checks: the matrix to fill in."""
        with self._lock:
            self._selected.update((name, list(ids)) for name, ids in tests)

    def test_started(self, name: str) -> None:
        with self._lock:
            self._selected.setdefault(name, [])
            self._outcomes[name] = "running"
            self._current = name
            self._test_started = time.monotonic()
            self._steps.clear()

    def test_ended(self, record: dict[str, Any]) -> None:
        """A test's record as the run folder gets it (nodeid, outcome, requirements)."""
        with self._lock:
            name = record["nodeid"]
            if not self._selected.get(name):  # a test nobody announced: its checks say what it checked
                self._selected[name] = sorted({r["requirement_id"] for r in record.get("requirements", [])})
            self._outcomes[name] = record["outcome"]
            self._records.append(record)
            if self._current == name:
                self._current = None

    def step(self, text: str) -> None:
        with self._lock:
            self._steps.append((time.monotonic() - self._test_started, text))

    def finish(self, verdict: str) -> None:
        with self._lock:
            self._finished = verdict
            self._current = None

    def on_event(self, kind: str, data: dict[str, Any]) -> None:
        text = event_text(kind, data)
        if text is not None:
            self.step(text)

    def on_sample(self, t_s: float, channel: str, value: float) -> None:
        """Every sample the recorder takes: only the newest of each plotted channel is kept here."""
        panel = self._panels.get(channel, "")
        if panel == "":
            panel = self._panels[channel] = panel_of(channel)
        if panel is not None:
            self._latest[channel] = (t_s, value)

    def _decimate(self) -> None:
        while not self._stop.wait(1.0 / SEND_HZ):
            with self._lock:
                for channel, (t_s, value) in list(self._latest.items()):
                    if t_s > self._sent.get(channel, -math.inf):
                        self._t0 = t_s if self._t0 is None else min(self._t0, t_s)
                        self._seq += 1
                        self._points.append((self._seq, channel, t_s, value))
                        self._sent[channel] = t_s

    # -- what the page gets -----------------------------------------------------

    def state(self, since: int = 0) -> dict[str, Any]:
        """Everything the page shows, with the points after `since` (a sequence number it had)."""
        with self._lock:
            points: dict[str, list[tuple[float, float | None]]] = {}
            t0 = self._t0 or 0.0
            for seq, channel, t_s, value in self._points:
                if seq > since:
                    points.setdefault(channel, []).append((round(t_s - t0, 3), value if math.isfinite(value) else None))
            current = self._current
            panels = list(self._panels.items())  # in one go: recorder threads add channels meanwhile
            state = {
                "title": self.title,
                "bench": self._bench,
                "test": None
                if current is None
                else {
                    "name": _short(current),
                    "requirements": self._selected.get(current, []),
                    "elapsed_s": round(time.monotonic() - self._test_started, 1),
                },
                "steps": [(round(s, 1), text) for s, text in self._steps] if current is not None else [],
                "panels": [
                    {"id": pid, "title": title, "channels": sorted(c for c, p in panels if p == pid)}
                    for pid, title in PANELS
                ],
                "seq": self._seq,
                "points": points,
                "matrix": self._matrix(),
                "tests": [
                    {"name": _short(name), "outcome": self._outcomes.get(name, "pending")} for name in self._selected
                ],
                "finished": self._finished,
            }
        self._viewed.set()
        if state["finished"] is not None:
            self._final_seen.set()
        return state

    def _matrix(self) -> list[dict[str, Any]]:
        """The requirement matrix so far: the run folder's rows for ended tests, pending rows for the rest."""
        rows = {row["requirement_id"]: row for row in matrix(self._records)}
        ids = sorted({rid for test_ids in self._selected.values() for rid in test_ids} | set(rows))
        out = []
        for rid in ids:
            tests = [name for name, test_ids in self._selected.items() if rid in test_ids]
            row = rows.get(rid)
            worst = (row or {}).get("worst") or {}
            out.append(
                {
                    "requirement_id": rid,
                    "verdict": row["verdict"] if row else "pending",
                    "passed": row["passed"] if row else 0,
                    "checks": row["checks"] if row else 0,
                    "tests_done": sum(self._outcomes.get(name, "running") != "running" for name in tests),
                    "tests": len(tests),
                    "note": worst.get("message", "") if row and row["verdict"] != "pass" else "",
                }
            )
        return out

    # -- serving ----------------------------------------------------------------

    def start(self) -> str:
        """Serve the page on 127.0.0.1 at a free port; returns its address."""
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/"
        self._threads = [
            threading.Thread(target=self._server.serve_forever, args=(0.2,), name="live-server", daemon=True),
            threading.Thread(target=self._decimate, name="live-decimate", daemon=True),
        ]
        for thread in self._threads:
            thread.start()
        return self.url

    def close(self, linger_s: float = 3.0) -> None:
        """Stop serving; a page that is open gets up to `linger_s` to see how the run ended."""
        if self._server is None:
            return
        if self._finished is not None and self._viewed.is_set():
            self._final_seen.wait(linger_s)
        self._stop.set()
        self._server.shutdown()
        self._server.server_close()
        for thread in self._threads:
            thread.join(timeout=5)
        self._server = None


def _short(test: str) -> str:
    """A test's name without its file (test_limit_active_power[66pct-run1])."""
    return test.rsplit("::", 1)[-1]


def add_live_option(parser: argparse.ArgumentParser) -> None:
    """--live, as `flexbench run`, `cosim run` and `replay` take it."""
    parser.add_argument(
        "--live",
        action="store_true",
        help="serve a live view of the run (the bench, the running test and step, plots of the recorded channels, "
        "the requirement matrix) on 127.0.0.1; its address is printed at start",
    )


def start_live(title: str, stream: TextIO) -> LiveView:
    """A live view for a command's run: served now, its address printed first."""
    view = LiveView(title)
    print(f"live view: {view.start()}", file=stream, flush=True)
    return view


PAGE = resources.files("flexbench.lab").joinpath("live.html")


def _handler(view: LiveView) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            url = urlparse(self.path)
            if url.path == "/":
                self._send(PAGE.read_bytes(), "text/html; charset=utf-8")
            elif url.path == "/state":
                try:
                    since = int(parse_qs(url.query).get("since", ["0"])[0])
                except ValueError:
                    self.send_error(400, "since: expected an integer")
                    return
                self._send(json.dumps(view.state(since)).encode(), "application/json")
            else:
                self.send_error(404)

        def _send(self, body: bytes, content_type: str) -> None:
            self.send_response(200)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            log.debug("live view: " + format, *args)

    return Handler


class LiveRun:
    """pytest hooks that tell the live view what a run does (registered by the plugin with --fb-live)."""

    def __init__(self, view: LiveView, results: Callable[[], dict[str, Any] | None]) -> None:
        self.view = view
        self.results = results

    def pytest_sessionstart(self, session: pytest.Session) -> None:
        """The page's address, first thing on the console."""
        line = f"live view: {self.view.url}"
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        if reporter is None:
            print(line, flush=True)
            return
        reporter.write_line(line)
        reporter.flush()

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        self.view.select(
            (item.nodeid, ids)
            for item in session.items
            if (ids := [str(a) for m in item.iter_markers("requirement") for a in m.args])
        )

    def pytest_runtest_logstart(self, nodeid: str) -> None:
        self.view.test_started(nodeid)

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        record = getattr(report, "flexbench", None)
        if record is not None:
            self.view.test_ended(record)

    @pytest.hookimpl(trylast=True)  # after the flexbench plugin judged the run
    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        results = self.results()
        self.view.finish(str(results["verdict"]) if results else "incomplete")

    def pytest_unconfigure(self, config: pytest.Config) -> None:
        self.view.close()
