"""The flexbench pytest plugin: bench, recorder, clock and requirement fixtures, verdicts, reports.

Loaded through the pytest11 entry point. Nothing starts unless a test asks for
a fixture: the project's own unit tests run with the plugin loaded and never
open a bench. A test plan records Results with `verdicts.check(...)`; the
plugin fails the test when any check fails, writes every finished test to the
run folder at once, and on an instrument failure drives the bench to its safe
state and stops the session with the reason.
"""

from __future__ import annotations

import datetime as dt
import functools
import gc
import logging
import re
import sys
from collections.abc import Callable, Generator, Iterator
from html import escape
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from flexbench.core.results import Verdict
from flexbench.instruments.roles import InstrumentError
from flexbench.lab.clock import ScaledClock
from flexbench.lab.errors import UserError
from flexbench.lab.evaluate import ERROR, PASS, Result
from flexbench.lab.results import (
    DECLARATION_FILE,
    RESULTS_FILE,
    RUN_FILE,
    STATION_FILE,
    append_test,
    assemble,
    holds_run,
    unconfirmed,
    write_json,
)

if TYPE_CHECKING:  # the bench, recorder and plots load only when a test asks for them
    from flexbench.lab.bench import Bench
    from flexbench.lab.bench_config import InstrumentConfig
    from flexbench.lab.recorder import Recorder

STATE_KEY = pytest.StashKey["RunState"]()
ITEM_KEY = pytest.StashKey["Verdicts"]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("flexbench", "flexbench test bench")
    group.addoption("--bench", default=None, help="bench file (default: the embedded virtual bench)")
    group.addoption("--profile", default=None, help="requirement profile file (default: the plan's own)")
    group.addoption("--dut-profile", default="healthy", help="virtual DUT behaviour: healthy or a fault profile")
    group.addoption(
        "--time-scale", type=float, default=1.0, help="bench time runs this many times faster (virtual bench)"
    )
    group.addoption("--run-dir", default=None, help="run folder (default: reports/<run-id>)")
    group.addoption(
        "--declaration", default=None, help="device declaration file for plans that judge against declared values"
    )
    group.addoption(
        "--req", action="append", default=[], metavar="ID", help="only the tests of this requirement ID (repeatable)"
    )
    group.addoption(
        "--bench-fault",
        action="append",
        default=[],
        metavar="NAME:MODE[@S]",
        help="virtual bench: instrument NAME fails (silent, gone, errors) S bench seconds after the bench started",
    )
    group.addoption(
        "--fb-console",
        action="store_true",
        help="print each test as it starts, its steps and its verdict as it ends (what flexbench run shows)",
    )
    group.addoption(
        "--fb-live",
        action="store_true",
        help="serve a live view of the run on 127.0.0.1 (a port chosen now, its address printed first)",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "requirement(*ids): requirement IDs the test checks")
    if not config.pluginmanager.has_plugin("flexbench.lab.plan.plugin"):  # profiles checked at collection, --req
        config.pluginmanager.import_plugin("flexbench.lab.plan.plugin")
    # frame dumps of every Modbus request would bury a failure's story in its report
    logging.getLogger("pymodbus").setLevel(logging.WARNING)
    run_dir = config.getoption("--run-dir")
    if run_dir and holds_run(Path(run_dir)) and not config.getoption("collectonly"):
        raise pytest.UsageError(f"--run-dir {run_dir}: holds a run already; a second run would merge with it")
    state = RunState(config)
    config.stash[STATE_KEY] = state
    if config.pluginmanager.hasplugin("html"):
        config.pluginmanager.register(HtmlHooks(state), "flexbench-html")
    if config.getoption("--fb-console"):
        from flexbench.lab.console import Console

        state.console = Console(config)
        config.pluginmanager.register(state.console, "flexbench-console")
    if config.getoption("--fb-live") and not config.getoption("collectonly"):
        from flexbench.lab.live import LiveRun, LiveView

        state.live = LiveView(f"flexbench run {' '.join(str(a) for a in config.args)}")
        state.live.start()
        config.pluginmanager.register(LiveRun(state.live, lambda: state.results), "flexbench-live")


class Verdicts:
    """Results recorded by one test, and the evidence to plot for it."""

    def __init__(self, nodeid: str) -> None:
        self.nodeid = nodeid
        self.results: list[Result] = []
        self.evidence_spec: dict[str, Any] | None = None
        self.start_s: float | None = None
        self.findings: list[str] = []  # what may explain a verdict without being one (refused site writes)

    def check(self, result: Result, declared: str = "") -> Result:
        """Record a result; `declared` names the declared values it was judged against."""
        result.test = self.nodeid
        if declared:
            result.declared = declared
        self.results.append(result)
        return result

    def evidence(self, **spec: Any) -> None:
        """What to plot: title, t_cmd_s, start_s, end_s, channels, steps, windows (see lab.plots)."""
        self.evidence_spec = spec

    def failures(self) -> list[Result]:
        return [r for r in self.results if r.verdict not in (PASS, Verdict.NOT_APPLICABLE)]


class RunState:
    """One run: its folder, clock, bench and recorder, created only when a test needs them."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.time_scale = float(config.getoption("--time-scale"))
        self.bench_path = config.getoption("--bench")
        self.dut_profile = config.getoption("--dut-profile")
        self.profile_path = config.getoption("--profile")
        self._run_dir_opt = config.getoption("--run-dir")
        self._run_dir: Path | None = None
        self.clock = ScaledClock(self.time_scale)
        self.recorder: Recorder | None = None
        self.bench: Bench | None = None
        self.abort_reason: str | None = None
        self.console: Any = None  # lab.console.Console with --fb-console
        self.live: Any = None  # lab.live.LiveView with --fb-live
        self.bench_fault = False  # an instrument or the bench's own server failed: the run's verdict is ERROR
        self.finished: set[str] = set()
        self.selected: list[str] = []  # the plan tests collected, in run order (run.json, for a killed run)
        self.results: dict[str, Any] | None = None  # results.json once the session ended
        self.faults_seen = 0  # the recorder's source failures already judged
        self.pending_faults: list[Callable[[], None]] = []  # --bench-fault, armed as the first test's body begins
        self.watched: dict[str, InstrumentConfig] = {}  # bench instruments the recorder polls, by name
        self._switch_interval_s: float | None = None  # the process's own, while the bench runs
        self.unsafe: list[str] = []  # components whose safe state could not be confirmed when the bench closed

    @property
    def run_dir(self) -> Path:
        if self._run_dir is None:
            if self._run_dir_opt:
                path = Path(self._run_dir_opt)
            else:
                path = Path("reports") / dt.datetime.now().strftime("%Y%m%d-%H%M%S")
            path.mkdir(parents=True, exist_ok=True)
            self._run_dir = path.resolve()
            self._write_run_file()
        return self._run_dir

    def _write_run_file(self) -> None:
        from flexbench.lab.bench_config import default_bench_path, load_bench

        bench_file = Path(self.bench_path) if self.bench_path else default_bench_path()
        try:
            bench_name = load_bench(bench_file).name
        except UserError:
            bench_name = bench_file.stem
        write_json(
            self.run_dir / RUN_FILE,
            {
                "plans": [str(a) for a in self.config.args],
                "bench_file": str(bench_file),
                "bench_name": bench_name,
                "dut_profile": self.dut_profile,
                "profile": self.profile_path,
                "time_scale": self.time_scale,
                "started": dt.datetime.now().isoformat(timespec="seconds"),
                "run_dir": str(self._run_dir),
                "selected": self.selected,
            },
        )

    def get_recorder(self) -> Recorder:
        if self.recorder is None:
            from flexbench.lab.recorder import Recorder

            self.recorder = Recorder(self.run_dir, self.clock)
            if self.console is not None:
                self.recorder.listeners.append(self.console.on_event)
            if self.live is not None:
                self.live.watch(self.recorder)
        return self.recorder

    def get_bench(self) -> Bench:
        if self.bench is None:
            from flexbench.lab.bench import Bench

            recorder = self.get_recorder()
            bench = Bench.open(
                self.bench_path,
                self.clock,
                self.dut_profile,
                on_event=lambda kind, data: recorder.event(kind, **data),
                work_dir=self.run_dir,
                guarded=True,
            )
            self.bench = bench
            if self.live is not None:  # the page names the bench the run opened
                self.live.show_bench(bench.config)
            write_json(self.run_dir / STATION_FILE, bench.snapshot())
            self._add_sources(bench, recorder)
            self._inject_bench_faults(bench)
            from flexbench.lab.station import keep_servers_responsive

            self._switch_interval_s = keep_servers_responsive()
        return self.bench

    def _inject_bench_faults(self, bench: Bench) -> None:
        from flexbench.lab.virtual.bench_faults import BenchFault

        faults = [BenchFault.parse(text) for text in self.config.getoption("--bench-fault")]
        lab = bench.virtual_lab
        if not faults:
            return
        if lab is None:
            raise UserError(
                f"--bench-fault {faults[0].instrument}: this bench is a real one, with no emulated instruments"
            )
        self.pending_faults = [functools.partial(lab.inject_fault, fault) for fault in faults]

    def arm_bench_faults(self) -> None:
        """Start the --bench-fault clocks as the first test's body begins: counted from there, a fault lands
        in the same step of the plan however long the bench took to open on a busy host."""
        armed, self.pending_faults = self.pending_faults, []
        for arm in armed:
            arm()

    def instrument_faults(self) -> list[str]:
        """Bench instruments whose reads began failing since the last call: each is the run's end."""
        watched = self.watched
        if self.recorder is None or not watched:
            return []
        timeout_s = 2 * max(inst.timeout_s for inst in watched.values()) + 1.0
        silent = self.recorder.await_reads(watched, self.clock.now(), timeout_s)
        failures = self.recorder.source_failures()
        new, self.faults_seen = failures[self.faults_seen :], len(failures)
        failed = {source: error for _t, source, error in new if source in watched}
        return [
            f"{name} ({watched[name].role} at {watched[name].address}) "
            + (f"failed: {failed[name]}" if name in failed else "did not answer after the test")
            for name in sorted(set(failed) | set(silent))
        ]

    def _add_sources(self, bench: Bench, recorder: Recorder) -> None:
        """The recorder polls what every component of the bench names (lab.station)."""
        groups = bench.channels()
        polled = {group.source for group in groups}
        self.watched = {
            name: inst
            for name, inst in bench.config.instruments.items()
            if inst.role in BENCH_INSTRUMENT_ROLES and name in polled
        }
        recorder.add_channels(groups)

    def abort(self, item: pytest.Item, exc: BaseException) -> None:
        """An instrument failed: safe state now, record why, and stop the session."""
        reason = f"aborted in {item.nodeid}: {exc}"
        self.abort_reason = reason
        self.bench_fault = True
        if self.recorder is not None:
            self.recorder.event("abort", test=item.nodeid, error=str(exc))
        if self.bench is not None:
            self.bench.safe_state(reason)
        item.session.shouldstop = reason
        verdicts = item.stash.get(ITEM_KEY, None)
        if verdicts is not None:
            checked = {r.requirement_id for r in verdicts.results}
            for rid in _requirement_ids(item):
                if rid not in checked:
                    verdicts.check(Result.error(rid, "not evaluated: the test was aborted", str(exc)))

    def close(self) -> None:
        try:
            if self.recorder is not None:
                self.recorder.stop_polling()  # no reads of instruments that are about to close
            if self.bench is not None:
                self.bench.close()
                self.unsafe = [_unconfirmed(self.bench, name, why) for name, why in self.bench.unconfirmed.items()]
        finally:
            if self.recorder is not None:
                self.recorder.close()
            if self._switch_interval_s is not None:  # the process as it was before the bench
                sys.setswitchinterval(self._switch_interval_s)
                gc.unfreeze()
                self._switch_interval_s = None


BENCH_INSTRUMENT_ROLES = ("grid_simulator", "pv_simulator", "ac_load", "power_analyzer", "meter")
"""The bench's own instruments: a failure of one is the bench's (ERROR); the DUT's links are judged by plans."""


def _unconfirmed(bench: Bench, name: str, why: str) -> str:
    inst = bench.config.instruments.get(name)
    return unconfirmed(name, inst.role if inst is not None else name, why)


def _requirement_ids(item: pytest.Item) -> list[str]:
    ids: list[str] = []
    for mark in item.iter_markers("requirement"):
        ids.extend(str(a) for a in mark.args)
    return ids


# -- fixtures -----------------------------------------------------------------------


def _state(request: pytest.FixtureRequest) -> RunState:
    return request.config.stash[STATE_KEY]


@pytest.fixture(scope="session")
def flexbench_run(request: pytest.FixtureRequest) -> Iterator[RunState]:
    state = _state(request)
    yield state
    state.close()


@pytest.fixture(scope="session")
def clock(flexbench_run: RunState) -> ScaledClock:
    return flexbench_run.clock


@pytest.fixture(scope="session")
def recorder(flexbench_run: RunState) -> Recorder:
    return flexbench_run.get_recorder()


@pytest.fixture(scope="session")
def bench(flexbench_run: RunState) -> Bench:
    return flexbench_run.get_bench()


@pytest.fixture(scope="session")
def csip(bench: Bench) -> Any:
    """The bench's 2030.5 server (lab.csip_bench.BenchCsip): operator API, DUT LFDIs, outages."""
    if bench.csip is None:
        raise UserError(f"{bench.config.path}: this plan needs a 2030.5 server: add a [signals.csip] table")
    return bench.csip


@pytest.fixture(scope="session")
def opcua(bench: Bench) -> Any:
    """The bench's OPC-UA envelope server (lab.opcua_bench.BenchOpcua): operator calls, heartbeat control."""
    if bench.opcua is None:
        raise UserError(f"{bench.config.path}: this plan needs an OPC-UA server: add a [signals.opcua] table")
    return bench.opcua


@pytest.fixture(scope="module")
def declaration_file(request: pytest.FixtureRequest, flexbench_run: RunState) -> Path:
    """The device declaration the plan judges against (see `declaration_path`).

    A copy goes into the run folder, so the report shows what the device was judged against.
    """
    path = declaration_path(request.config, request.module)
    (flexbench_run.run_dir / DECLARATION_FILE).write_bytes(path.read_bytes())
    return path


def declaration_path(config: pytest.Config, module: Any) -> Path:
    """--declaration, else the bench's controller's ([controller] declaration: a file, or a name as a
    plan's), else the plan module's DECLARATION, a name in testplans/declarations/."""
    path = config.getoption("--declaration")
    name = getattr(module, "DECLARATION", None)
    bench_path = config.getoption("--bench")
    if path is None and bench_path:
        from flexbench.lab.bench_config import load_bench

        controller = load_bench(bench_path).controller
        declared = controller.declaration if controller is not None else None
        path, name = (declared, name) if isinstance(declared, Path) else (None, declared or name)
    if path is None:
        if name is None:
            raise UserError(f"{module.__file__}: set DECLARATION = '<name>' or pass --declaration FILE")
        path = Path(module.__file__).resolve().parents[1] / "declarations" / f"{name}.toml"
    path = Path(path)
    if not path.exists():
        raise UserError(f"{path}: declaration file not found")
    return path


def pytest_collection_finish(session: pytest.Session) -> None:
    """Every declaration the collected plans judge against is read now: a mistake in one is a
    configuration error before any test runs, never a failure of the device."""
    from flexbench.lab.declaration import load_pcs_declaration

    state: RunState = session.config.stash[STATE_KEY]
    state.selected = [item.nodeid for item in session.items if _requirement_ids(item)]
    if state._run_dir is not None:
        state._write_run_file()
    modules = {
        getattr(item, "module", None)
        for item in session.items
        if "declaration_file" in getattr(item, "fixturenames", ())
    }
    paths: set[Path] = set()
    try:
        for module in modules - {None}:
            paths.add(declaration_path(session.config, module))
        for path in sorted(paths):
            load_pcs_declaration(path)
    except UserError as exc:
        raise pytest.UsageError(str(exc)) from None


@pytest.fixture
def verdicts(request: pytest.FixtureRequest, clock: ScaledClock) -> Verdicts:
    v = Verdicts(request.node.nodeid)
    v.start_s = clock.now()
    request.node.stash[ITEM_KEY] = v
    return v


# -- hooks --------------------------------------------------------------------------


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    """A per-test controller session: the controller brought to a known state before each test but the first
    (lab.controller.bench.reset_for_test), so that no test inherits the last one's state."""
    state: RunState = item.config.stash[STATE_KEY]
    controller = getattr(state.bench, "controller", None) if state.bench is not None else None
    if controller is None or controller.config.session != "per-test" or not _requirement_ids(item):
        return
    from flexbench.lab.controller.bench import reset_for_test

    reset_for_test(state.bench, item.nodeid)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, None, None]:
    state: RunState = item.config.stash[STATE_KEY]
    state.arm_bench_faults()
    try:
        result = yield
    except InstrumentError as exc:
        controller = getattr(state.bench, "controller", None) if state.bench is not None else None
        settled = controller.settle() if controller is not None else "up"
        if settled in ("crashed", "restarted"):  # the controller's doing, not the bench's: CTL-ALIVE says it
            _controller_findings(state, item)
            pytest.fail(f"the controller under test {settled} while the bench talked to it ({exc})", pytrace=False)
        if "bench" in getattr(item, "fixturenames", ()):
            state.abort(item, exc)
        _controller_findings(state, item)
        raise
    verdicts = item.stash.get(ITEM_KEY, None)
    if verdicts is not None:
        marked = set(_requirement_ids(item))
        unmarked = {r.requirement_id for r in verdicts.results} - marked
        if marked and unmarked:
            raise UserError(f"{item.nodeid}: checks {sorted(unmarked)} not listed in its requirement mark")
    _controller_findings(state, item)
    faults = state.instrument_faults()
    if faults:  # the checks may have read a dead instrument's last values: none of them stands
        verdicts = item.stash.setdefault(ITEM_KEY, verdicts or Verdicts(item.nodeid))
        for rid in _requirement_ids(item):
            verdicts.check(Result.error(rid, "not evaluated: a bench instrument failed", "; ".join(faults)))
        error = InstrumentError("; ".join(faults))
        state.abort(item, error)
        raise error
    if verdicts is not None:
        failures = verdicts.failures()
        if failures:
            lines = [
                f"{r.requirement_id} {r.verdict.upper()}: {r.message} (criterion: {r.criterion})" for r in failures
            ]
            lines += [f"  finding: {f}" for f in verdicts.findings]
            pytest.fail("\n".join(lines), pytrace=False)
    return result


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report: pytest.TestReport = yield
    if call.excinfo is not None and isinstance(call.excinfo.value, UserError):
        report.longrepr = f"{item.nodeid}: {call.excinfo.value}"  # the user's to fix: no traceback
    state: RunState = item.config.stash[STATE_KEY]
    done = report.when == "call" or (report.when == "setup" and report.outcome != "passed")
    if not done or item.nodeid in state.finished or not (ITEM_KEY in item.stash or _requirement_ids(item)):
        return report
    state.finished.add(item.nodeid)
    verdicts = item.stash.setdefault(ITEM_KEY, Verdicts(item.nodeid))
    set_up_failed = report.when == "setup" and not report.skipped  # a skip at setup is a skip, with its reason
    if set_up_failed:
        # the bench could not be set up: nothing after this test can run either
        item.session.shouldstop = f"setup failed in {item.nodeid}: {_short(report)}"
        state.abort_reason = state.abort_reason or item.session.shouldstop  # the run stopped itself: not interrupted
        for rid in _requirement_ids(item):
            verdicts.check(Result.error(rid, "not evaluated: setup failed", _short(report)))
    outcome = "error" if set_up_failed or any(r.verdict == ERROR for r in verdicts.results) else report.outcome
    record = {
        "nodeid": item.nodeid,
        "outcome": outcome,
        "duration_s": report.duration,
        "message": _short(report) if report.failed else _skip_reason(report) if report.skipped else "",
        "requirements": [r.to_dict() for r in verdicts.results],
        "evidence": verdicts.evidence_spec,
        "start_s": verdicts.start_s,
        "end_s": state.clock.now(),
    }
    if verdicts.findings:
        record["findings"] = verdicts.findings
    append_test(state.run_dir, record)
    for r in verdicts.results:
        item.user_properties.append((f"requirement:{r.requirement_id}", f"{r.verdict}: {r.message}"))
    report.flexbench = record  # type: ignore[attr-defined]
    return report


def _controller_findings(state: RunState, item: pytest.Item) -> None:
    """Findings on the controller under test (lab.controller.findings) added to the test that saw them.

    A crash of the controller also stops the run: the bench goes to its safe state,
    every sample recorded so far is kept, and the tests left are reported not run.
    """
    bench = state.bench
    if bench is None or getattr(bench, "controller", None) is None:
        return
    from flexbench.lab.controller import findings

    verdicts = item.stash.get(ITEM_KEY, None)
    results = []
    if verdicts is not None and state.recorder is not None and verdicts.start_s is not None:
        telemetry = findings.telemetry(bench, state.recorder, verdicts.start_s, state.clock.now())
        if telemetry is not None:
            results.append(telemetry)
    if verdicts is not None and verdicts.start_s is not None:
        verdicts.findings = findings.site_writes(bench, verdicts.start_s, state.clock.now())
    restart = findings.restarted(bench.controller)
    if restart is not None:  # recorded; the controller is back, so the run goes on
        results.append(restart)
    crash = findings.alive(bench.controller)
    if crash is not None:
        results.append(crash)
        reason = f"the controller under test crashed during {item.nodeid}"
        state.abort_reason = state.abort_reason or reason
        if state.recorder is not None:
            state.recorder.event("abort", test=item.nodeid, error=crash.message)
        bench.safe_state(reason)
        item.session.shouldstop = reason
    if results:
        verdicts = item.stash.setdefault(ITEM_KEY, verdicts or Verdicts(item.nodeid))
        for r in results:
            verdicts.check(r)


def _skip_reason(report: pytest.TestReport) -> str:
    """Why a test was skipped: a skip is never silent in the results."""
    longrepr = report.longrepr
    if isinstance(longrepr, tuple) and len(longrepr) == 3:
        return str(longrepr[2]).removeprefix("Skipped: ")
    return str(longrepr or "")


def _short(report: pytest.TestReport) -> str:
    text = str(report.longrepr) if report.longrepr else ""
    if hasattr(report.longrepr, "reprcrash") and report.longrepr.reprcrash is not None:  # type: ignore[union-attr]
        text = report.longrepr.reprcrash.message  # type: ignore[union-attr]
    return text.strip()


@pytest.hookimpl(tryfirst=True)  # before pytest-html writes the report that shows the verdict
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    state: RunState = session.config.stash[STATE_KEY]
    if state._run_dir is None:
        return
    not_run = [
        item.nodeid
        for item in session.items
        if item.nodeid not in state.finished and item.get_closest_marker("requirement") is not None
    ]
    bench = state.bench
    if bench is not None and getattr(bench, "controller", None) is not None:  # a crash no test was there to see
        from flexbench.lab.controller.findings import alive, restarted

        crash = alive(bench.controller) or restarted(bench.controller)
        if crash is not None:
            crash.test = "controller supervision"
            append_test(
                state.run_dir,
                {
                    "nodeid": "controller supervision",
                    "outcome": "failed",
                    "duration_s": 0.0,
                    "message": crash.message,
                    "requirements": [crash.to_dict()],
                    "evidence": None,
                    "start_s": None,
                    "end_s": state.clock.now(),
                },
            )
            if session.exitstatus == pytest.ExitCode.OK:
                session.exitstatus = pytest.ExitCode.TESTS_FAILED
    results = assemble(
        state.run_dir,
        not_run=not_run,
        interrupted=session.exitstatus == pytest.ExitCode.INTERRUPTED and not state.abort_reason,  # Ctrl-C, SIGTERM
        bench_fault=state.bench_fault,
    )
    if state.abort_reason:
        results["summary"]["aborted"] = state.abort_reason
    results["summary"]["unsafe"] = state.unsafe
    write_json(state.run_dir / RESULTS_FILE, results)
    state.results = results


class HtmlHooks:
    """pytest-html hooks: matrix and run header at the top, evidence plot and checks per test."""

    def __init__(self, state: RunState) -> None:
        self.state = state
        self.environment: dict[str, Any] = {}

    def pytest_html_report_title(self, report: Any) -> None:
        """The title; and pytest's environment table moves from the top to the end of the report."""
        report.title = "flexbench report"
        data = getattr(report, "_data", None)
        if isinstance(data, dict) and isinstance(data.get("environment"), dict):
            self.environment = dict(data["environment"])
            report.set_data("environment", {})

    def pytest_html_results_summary(self, prefix: list[str], summary: list[str], postfix: list[str]) -> None:
        from flexbench.lab.report import (
            component_sections_html,
            matrix_html,
            overall_html,
            run_header_html,
            station_html,
        )

        if self.state._run_dir is None:
            return
        results = self.state.results or assemble(self.state.run_dir, ended=False)
        prefix.append(overall_html(results))
        if self.state.abort_reason and not results["summary"].get("aborted"):  # else overall_html says it
            prefix.append(f"<p class='fb-error'>Run aborted, bench driven to safe state: {self.state.abort_reason}</p>")
        prefix.append(run_header_html(results["run"], self.state.run_dir))
        prefix.append(station_html(self.state.run_dir))
        prefix.append(matrix_html(results["matrix"], results["tests"]))
        prefix.append(component_sections_html(self.state.run_dir))
        if self.environment:  # pytest's own table, last: the bench's identity comes first
            rows = "".join(
                f"<tr><th>{escape(str(k))}</th><td>{escape(str(v))}</td></tr>" for k, v in self.environment.items()
            )
            postfix.append(
                f'<details><summary>Environment (pytest)</summary><table class="fb-matrix">{rows}</table></details>'
            )

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(
        self, item: pytest.Item, call: Any
    ) -> Generator[None, pytest.TestReport, pytest.TestReport]:
        report: pytest.TestReport = yield
        record = getattr(report, "flexbench", None)
        if record is None:
            return report
        import pytest_html

        from flexbench.lab.plots import render_evidence_png
        from flexbench.lab.report import png_img, results_table_html

        extras = list(getattr(report, "extras", []))
        extras.append(pytest_html.extras.html(results_table_html(record["requirements"], record)))
        spec = record.get("evidence")
        if spec and self.state.recorder is not None:
            shown = [*spec.get("channels", {}), *spec.get("steps", {})]
            png = render_evidence_png(self.state.recorder.frame(channels=shown), spec)
            plots = self.state.run_dir / "plots"
            plots.mkdir(exist_ok=True)
            (plots / (re.sub(r"[^\w.-]+", "_", item.nodeid) + ".png")).write_bytes(png)
            extras.append(pytest_html.extras.html(png_img(png, item.nodeid)))
        report.extras = extras  # type: ignore[attr-defined]  # pytest-html's attribute
        return report
