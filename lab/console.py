"""What `flexbench run` prints while a run goes: each test as it starts, its steps, its verdict as it ends.

    [3/9] test_limit_active_power[66pct-run1]  LAP-RT LAP-SS
            0.0 s  limit lifted; the DUT settles at its available power
           31.5 s  limit set to 66 % of rated power (run 1)
          PASS  58.2 s

Times are wall seconds since the test began. A plan's `progress` lines show
where a long step is ("interval 14/72"). pytest's own dots, captured logs and
tracebacks stay out of the console: they are in the run folder (report.html,
junit.xml, run.log).
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from typing import Any

import pytest

from flexbench.lab.results import ERROR

log = logging.getLogger("flexbench.run")
SHOWN = {"step", "progress", "bench_fault", "bench_warning", "abort", "guardian_lost"}
VERDICT_WORDS = {"passed": "PASS", "failed": "FAIL", ERROR: "ERROR", "skipped": "NOT APPLICABLE"}


class Console:
    """A pytest plugin: registered by the flexbench plugin with `--fb-console`."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.items: dict[str, pytest.Item] = {}
        self.total = 0
        self.index = 0
        self.started = time.monotonic()
        self.test_started = self.started
        self._lock = threading.Lock()

    def write(self, line: str) -> None:
        """One line on the terminal, also from a test's call, whose output pytest captures."""
        reporter = self.config.pluginmanager.get_plugin("terminalreporter")
        capture = self.config.pluginmanager.get_plugin("capturemanager")
        with self._lock, capture.global_and_fixture_disabled() if capture else contextlib.nullcontext():
            if reporter is not None:
                reporter.write_line(line)
            else:
                print(line, flush=True)

    def pytest_sessionstart(self, session: pytest.Session) -> None:
        """Failures' tracebacks go to run.log and the report: the console keeps one line per test."""
        reporter = self.config.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None:
            reporter.summary_failures = reporter.summary_errors = lambda: None

    @pytest.hookimpl(tryfirst=True)
    def pytest_report_teststatus(self, report: pytest.TestReport) -> tuple[str, str, str]:
        """The outcome counts pytest prints at the end, without its dots."""
        if report.passed:
            return ("passed" if report.when == "call" else ""), "", ""
        if report.skipped:
            return "skipped", "", ""
        return ("failed" if report.when == "call" else "error"), "", ""

    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        """A plan that cannot be collected (a syntax error, a bad import): one line here, the whole story in run.log."""
        if report.failed:
            log.error("collecting %s failed:\n%s", report.nodeid, report.longreprtext)
            errors = [line[1:].strip() for line in report.longreprtext.splitlines() if line.startswith("E ")]
            why = errors[-1] if errors else _first_line(report)
            self.write(f"ERROR collecting {report.nodeid or 'the plans'}: {_one_line(why)} (details in run.log)")

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        self.items = {item.nodeid: item for item in session.items}
        self.total = len(session.items)

    def pytest_runtest_logstart(self, nodeid: str) -> None:
        self.index += 1
        self.test_started = time.monotonic()
        item = self.items.get(nodeid)
        ids = [str(a) for m in item.iter_markers("requirement") for a in m.args] if item is not None else []
        width = len(str(self.total))
        self.write(f"[{self.index:>{width}}/{self.total}] {nodeid.rsplit('/', 1)[-1]}  {' '.join(ids)}".rstrip())

    def on_event(self, kind: str, data: dict[str, Any]) -> None:
        text = event_text(kind, data)
        if text is not None:
            self.write(f"      {time.monotonic() - self.test_started:7.1f} s  {text}")

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.failed:  # the whole story goes to the run's log (run.log), the console gets a line
            log.error("%s failed at %s:\n%s", report.nodeid, report.when, report.longreprtext)
        record = getattr(report, "flexbench", None)
        if record is None:
            if report.failed and report.when != "teardown":  # a test the plugin does not judge
                self.write(f"      {'ERROR' if report.when == 'setup' else 'FAIL'}  {_first_line(report)}")
            return
        word = VERDICT_WORDS.get(record["outcome"], record["outcome"].upper())
        elapsed_s = time.monotonic() - self.test_started
        message = record.get("message") or ""
        self.write(f"      {word}  {elapsed_s:.1f} s" + (f"  {_one_line(message)}" if message else ""))


def event_text(kind: str, data: dict[str, Any]) -> str | None:
    """A recorder event as the run's watchers show it (a step, progress, a fault); None for the others."""
    if kind not in SHOWN:
        return None
    text = data.get("text") or data.get("error") or ", ".join(f"{k}={v}" for k, v in data.items() if k != "test")
    label = "" if kind in ("step", "progress") else f"{kind.replace('_', ' ')}: "
    return f"{label}{text}"


def _first_line(report: pytest.TestReport | pytest.CollectReport) -> str:
    return _one_line(str(report.longrepr or ""))


def _one_line(text: str, limit: int = 160) -> str:
    line = next((part.strip() for part in text.splitlines() if part.strip()), "")
    return line if len(line) <= limit else line[: limit - 3] + "..."
