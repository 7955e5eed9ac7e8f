"""Starting, watching and stopping the controller under test.

The bench writes the controller's site file, starts its command with the
placeholders filled in, sends its stdout and stderr to `controller.log` in
the run folder, and waits until the controller is up by what the bench can
see: its local API answering when the bench sets it through one, otherwise
its traffic (a Modbus request to a site device, a 2030.5 request from its
certificate). Before each test of a per-test session it is restarted (or its
reset command run). A watcher thread
notices when the process ends on its own: the exit (code, bench time, the
log's last lines) becomes an event and a finding (CTL-ALIVE) the plugin puts
into the report; the bench carries on to its safe state with every sample
kept. Another watches the local API: a controller whose API goes away and
comes back has restarted (a wrapper or a box's watchdog brought it back),
which is a finding too, and the run goes on. At bench close the controller is
asked to stop (SIGTERM), and killed if it does not.
"""

from __future__ import annotations

import json
import math
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from flexbench.instruments.roles import InstrumentError
from flexbench.lab.bench_config import VIRTUAL_PLANT_STEP_S, BenchError
from flexbench.lab.clock import Clock
from flexbench.lab.controller.config import ControllerConfig
from flexbench.lab.controller.site_file import write_site_file
from flexbench.lab.station import SAFE_FIRST, Channels

SITE_FILE = "controller-site.toml"
LOG_FILE = "controller.log"
SETTINGS_FILE = "controller-settings.json"  # what configure gives the controller
STOP_WAIT_S = 10.0  # wall seconds for a clean exit before the kill
API_WATCH_S = 0.25  # wall seconds between checks that the local API answers
RESTART_DEDUP_S = 2.0  # wall seconds within which the API coming back is the same restart


def _die_with_parent() -> None:
    """Linux: the controller gets SIGTERM if the bench process dies without closing (prctl PR_SET_PDEATHSIG)."""
    try:
        import ctypes
        import signal

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, int(signal.SIGTERM))
    except (OSError, AttributeError):
        pass


def _terminate(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM, then SIGKILL if it has not ended within STOP_WAIT_S."""
    try:
        process.terminate()
        try:
            process.wait(STOP_WAIT_S)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(STOP_WAIT_S)
    except OSError:
        pass


def free_port(host: str) -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


class ControllerSupervisor:
    """The controller under test as a component of the bench (lab.station).

    Its safe state is stopped: a controller that keeps writing to the site
    while the bench makes its instruments safe is not safe. It serves the
    instruments named in `served` (its local API); on a virtual site it
    records the plant's truth (`truth.*`) to judge what it reports by.
    """

    name = kind = "controller"
    safe_rank = SAFE_FIRST

    def __init__(
        self,
        config: ControllerConfig,
        run_dir: Path,
        clock: Clock,
        dut_profile: str,
        on_event: Callable[[str, dict[str, Any]], None],
        bench_file: Path,
        served: list[str] | None = None,
        truth: Any = None,
        sample_period_s: float = 0.5,
        traffic: Callable[[], int] | None = None,
    ) -> None:
        self.config = config
        self.traffic = traffic  # requests seen from the controller so far (site devices, 2030.5 server)
        self.served = list(served or [])
        self.truth_site = truth  # a virtual site with truth(), or None
        self.sample_period_s = sample_period_s
        self.run_dir = Path(run_dir)
        self.clock = clock
        self.dut_profile = dut_profile
        self.on_event = on_event
        self.bench_file = bench_file
        self.process: subprocess.Popen[bytes] | None = None
        self.exit: dict[str, Any] | None = None  # how the controller ended on its own
        self.reported = False  # whether the exit has been turned into a finding
        self.restarts: list[dict[str, Any]] = []  # local API away, then back: {"down_s", "up_s"}
        self._last_restart_wall_s = -math.inf  # when a restart was last recorded (time.monotonic)
        self.restarts_reported = 0
        self._stop_watching = threading.Event()
        host, port = config.local_api
        self.api_address = (host, port)
        self._stopping = False
        self._exit_lock = threading.Lock()
        self._log: Any = None
        self._watcher: threading.Thread | None = None
        self._restarting = False  # a restart the bench asked for: its exit is not a finding
        self._api_watch: threading.Thread | None = None

    @property
    def uses_local_api(self) -> bool:
        """Whether the bench reaches the controller through its local API (a pcs instrument it serves)."""
        return bool(self.served) and self.config.configure is None

    @property
    def site_file(self) -> Path:
        return self.run_dir / SITE_FILE

    @property
    def log_file(self) -> Path:
        return self.run_dir / LOG_FILE

    # -- start --------------------------------------------------------------------------
    def write_site_file(self, site_map: dict[str, Any], utility: dict[str, Any] | None) -> Path:
        host, port = self.api_address
        if port == 0 and self.config.command is not None and self.uses_local_api:
            self.api_address = (host, free_port(host))
        now_wall = time.time()
        return write_site_file(
            self.site_file,
            clock={"time_scale": self.clock.time_scale, "bench_s": self.clock.now(), "wall_s": now_wall},
            site_map=site_map,
            utility=utility,
            firm={"export_limit_w": self.config.firm_export_limit_w, "import_limit_w": self.config.firm_import_limit_w},
            local_api=self.api_text if self.uses_local_api else None,
        )

    def _fill(self, text: str, **extra: str) -> str:
        values = {
            "site_file": str(self.site_file),
            "run_dir": str(self.run_dir),
            "dut_profile": self.dut_profile,
            "python": sys.executable,
            **extra,
        }
        for key, value in values.items():
            text = text.replace("{" + key + "}", value)
        return text

    def start(self) -> None:
        """Start the command and wait until it is up; BenchError (with the log's end) if it cannot."""
        if self.config.command is None:
            self.on_event("controller_external", {"site_file": str(self.site_file), "local_api": self.api_text})
            self._wait_ready(None, self._traffic_now())
            self._watch_api_in_background()
            return
        self._log = open(self.log_file, "ab", buffering=0)
        self._launch("started")
        self._watch_api_in_background()

    def _cwd(self) -> str | None:
        if not self.config.cwd:
            return None
        cwd = str((self.config.base_dir / self._fill(self.config.cwd)).resolve())
        if not Path(cwd).is_dir():
            raise BenchError(f"{self.bench_file}: controller.cwd: no folder {cwd}")
        return cwd

    def _launch(self, why: str) -> None:
        """Start the command (its output appended to the log) and wait until it is up."""
        assert self.config.command is not None
        argv = [self._fill(a) for a in self.config.command]
        env = dict(os.environ, **{k: self._fill(v) for k, v in self.config.env.items()})
        cwd = self._cwd()
        seen = self._traffic_now()
        try:
            self.process = subprocess.Popen(
                argv,
                stdout=self._log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=env,
                cwd=cwd,
                start_new_session=True,
                preexec_fn=_die_with_parent if sys.platform == "linux" else None,
            )
        except OSError as exc:
            raise BenchError(
                f"{self.bench_file}: controller.command: cannot start {argv[0]!r}: {exc.strerror}"
            ) from None
        self.on_event(
            f"controller_{why}",
            {
                "pid": self.process.pid,
                "command": argv,
                "cwd": cwd,
                "site_file": str(self.site_file),
                "local_api": self.api_text if self.uses_local_api else None,
                "log": str(self.log_file),
            },
        )
        try:
            self._wait_ready(self.process, seen)
        except BaseException:
            self.stop("did not start")
            raise
        self._watcher = threading.Thread(target=self._watch, args=(self.process,), name="controller-watch", daemon=True)
        self._watcher.start()

    def _watch_api_in_background(self) -> None:
        if self.uses_local_api:
            self._api_watch = threading.Thread(target=self._watch_api, name="controller-api-watch", daemon=True)
            self._api_watch.start()

    def _traffic_now(self) -> int:
        return self.traffic() if self.traffic is not None else 0

    # -- between tests -------------------------------------------------------------------
    def restart(self, why: str) -> None:
        """Stop the controller and start it again (the bench asked: not a finding); BenchError if it does not
        come back up."""
        process = self.process
        if self.config.command is None or process is None:
            raise BenchError(f"{self.bench_file}: [controller] has no command: the bench cannot restart it ({why})")
        with self._exit_lock:
            self._restarting = True
        try:
            _terminate(process)
            self.on_event("controller_stopped", {"pid": process.pid, "returncode": process.returncode, "reason": why})
            self._launch("restarted_by_bench")
        finally:
            with self._exit_lock:
                self._restarting = False

    def reset(self) -> None:
        """Bring the controller to a known state before a test: its reset command, or a restart."""
        if self.config.reset is None:
            self.restart("reset before a test")
            return
        self._run("reset", self.config.reset)

    def configure(self, settings: dict[str, Any]) -> None:
        """Give the controller site settings through its own configuration command (and restart it when it
        must be restarted to take them)."""
        assert self.config.configure is not None
        path = self.run_dir / SETTINGS_FILE
        path.write_text(json.dumps(settings, indent=2) + "\n", encoding="utf-8")
        self._run("configure", self.config.configure, settings_file=str(path))
        self.on_event("controller_configured", {"settings": settings, "restarted": self.config.configure_restarts})
        if self.config.configure_restarts:
            self.restart("new settings")

    def _run(self, key: str, command: tuple[str, ...], **extra: str) -> None:
        """One of the controller's own commands (configure, reset), its output in the controller's log;
        InstrumentError naming the command when it fails: the bench could not set the controller up."""
        argv = [self._fill(a, **extra) for a in command]
        env = dict(os.environ, **{k: self._fill(v) for k, v in self.config.env.items()})
        try:
            done = subprocess.run(
                argv,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=env,
                cwd=self._cwd(),
                timeout=self.config.start_timeout_s,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise InstrumentError(f"controller.{key} {argv[0]!r}: {exc}") from None
        if self._log is not None:
            self._log.write(done.stdout)
        if done.returncode != 0:
            tail = " | ".join(done.stdout.decode(errors="replace").strip().splitlines()[-4:])
            raise InstrumentError(f"controller.{key} {argv[0]!r} exited with code {done.returncode}: {tail}")

    def make_driver(self, name: str, inst: Any) -> Any:
        """The driver of instrument `name` when the controller's configuration command serves it, else None."""
        if name not in self.served or self.config.configure is None:
            return None
        from flexbench.lab.controller.configured_pcs import ConfiguredPCS

        return ConfiguredPCS(self, safety=inst.safety, timeout_s=inst.timeout_s)

    @property
    def api_text(self) -> str:
        return f"{self.api_address[0]}:{self.api_address[1]}"

    @property
    def api_modbus_address(self) -> str:
        return f"modbus+tcp://{self.api_text}/1"

    def _wait_ready(self, process: subprocess.Popen[bytes] | None, traffic_before: int) -> None:
        """Until the local API answers (when the bench uses it) or the controller's traffic shows it is up."""
        how = (
            f"its local API at {self.api_text} did not answer"
            if self.uses_local_api
            else "it sent no Modbus request to the site's devices and no 2030.5 request from its certificate"
        )
        deadline = time.monotonic() + self.config.start_timeout_s
        while True:
            if process is not None and process.poll() is not None:
                raise BenchError(
                    f"{self.bench_file}: the controller exited with code {process.returncode} before it was up; "
                    f"its log ({self.log_file}) ends: {self.log_tail()}"
                )
            if self._api_answers() if self.uses_local_api else self._traffic_now() > traffic_before:
                return
            if time.monotonic() > deadline:
                raise BenchError(
                    f"{self.bench_file}: the controller was not up within {self.config.start_timeout_s:g} s "
                    f"([controller] start_timeout_s): {how}; log: {self.log_tail()}"
                )
            time.sleep(0.1)

    # -- watch --------------------------------------------------------------------------
    def _watch(self, process: subprocess.Popen[bytes]) -> None:
        process.wait()
        self._ended_on_its_own(process)

    def _ended_on_its_own(self, process: subprocess.Popen[bytes]) -> None:
        """Record an exit the bench did not ask for, once (the watcher, or a stop that finds it dead)."""
        with self._exit_lock:
            # an earlier process the bench restarted is not the controller any more, however late its watcher
            if self._stopping or self._restarting or process is not self.process:
                return
            if self.exit is not None or process.returncode is None:
                return
            self.exit = {"returncode": process.returncode, "t_s": self.clock.now(), "log_tail": self.log_tail()}
        self.on_event("controller_exit", {"pid": process.pid, **self.exit})

    def _api_answers(self) -> bool:
        try:
            with socket.create_connection(self.api_address, timeout=1.0):
                return True
        except OSError:
            return False

    def _watch_api(self) -> None:
        down_since: float | None = None
        while not self._stop_watching.wait(API_WATCH_S):
            up = self._api_answers()
            if self._stopping or self.exit is not None:
                return
            if self._restarting:
                down_since = None
                continue
            if not up and down_since is None:
                down_since = self.clock.now()
                self.on_event("controller_api_lost", {"t_s": down_since, "local_api": self.api_text})
            elif up and down_since is not None:
                self._note_restart(down_since)
                down_since = None

    def _note_restart(self, down_s: float) -> None:
        """Record a restart once, whether the API watcher or settle() saw it come back."""
        with self._exit_lock:
            if time.monotonic() - self._last_restart_wall_s < RESTART_DEDUP_S:
                return
            self._last_restart_wall_s = time.monotonic()
            restart = {"down_s": down_s, "up_s": self.clock.now(), "log_tail": self.log_tail()}
            self.restarts.append(restart)
        self.on_event("controller_restart", restart)

    def crashed(self) -> bool:
        return self.exit is not None

    def settle(self, wait_s: float | None = None) -> str:
        """After a failure at its local API, what the controller did: "crashed" (it ended on its own),
        "restarted" (its API went away and came back), "down" (still away) or "up" (it was never away).

        A write that lands while a controller goes down or restarts fails at the bench's driver; this
        makes it the crash or restart it is (CTL-ALIVE) rather than an instrument error of the bench.
        """
        process = self.process
        if not self.uses_local_api:  # nothing to watch but the process
            if process is not None and process.poll() is not None:
                self._ended_on_its_own(process)
            return "crashed" if self.exit is not None else "up"
        if self.exit is not None:
            return "crashed"
        if self._api_answers():
            return "up"
        down_s = self.clock.now()
        # as long as it may take to start: a watchdog's restart is a start
        deadline = time.monotonic() + (self.config.start_timeout_s if wait_s is None else wait_s)
        while time.monotonic() < deadline:
            if process is not None and process.poll() is not None:
                self._ended_on_its_own(process)
                return "crashed" if self.exit is not None else "down"
            if self._api_answers():
                self._note_restart(down_s)
                return "restarted"
            time.sleep(0.1)
        return "down"

    def log_tail(self, lines: int = 6) -> str:
        try:
            text = self.log_file.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""
        return " | ".join(line.strip() for line in text.strip().splitlines()[-lines:])

    # -- component ----------------------------------------------------------------------
    @property
    def addresses(self) -> dict[str, str]:
        """Where the bench reaches the instruments the controller serves (its local API)."""
        return {name: self.api_modbus_address for name in self.served}

    def safe_state(self) -> None:
        self.stop("safe state")

    def close(self) -> None:
        self.stop()

    def snapshot(self) -> dict[str, Any]:
        return {
            "command": list(self.config.command) if self.config.command is not None else None,
            "pid": self.process.pid if self.process is not None else None,
            "site_file": str(self.site_file),
            "log": str(self.log_file),
            "local_api": self.api_text,
            "dut_profile": self.dut_profile,
        }

    def channels(self) -> list[Channels]:
        if self.truth_site is None:
            return []
        from flexbench.lab.controller.findings import truth_source

        return [Channels("truth", truth_source(self.truth_site), self.sample_period_s, VIRTUAL_PLANT_STEP_S)]

    # -- stop ---------------------------------------------------------------------------
    def stop(self, reason: str = "bench closed") -> None:
        process = self.process
        if process is not None and process.poll() is not None:
            self._ended_on_its_own(process)  # a crash is a crash, even when the bench stops first
        with self._exit_lock:
            self._stopping = True
        self._stop_watching.set()
        if process is not None and process.poll() is None:
            _terminate(process)
            self.on_event(
                "controller_stopped", {"pid": process.pid, "returncode": process.returncode, "reason": reason}
            )
        if self._log is not None:
            self._log.close()
            self._log = None
