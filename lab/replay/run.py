"""Playing an event on a bench: twin first, then the timeline in bench time, then score and report.

The bench is opened as the pytest plugin opens it (`Bench.open`, the same
recorder sources), so whatever ends the replay (an instrument that stops
answering, Ctrl-C) drives every instrument to its safe state and the samples
recorded so far are kept in the run folder.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from flexbench.core import SiteLimits, channels
from flexbench.instruments.roles import InstrumentError
from flexbench.lab.bench_config import load_bench
from flexbench.lab.clock import Clock, ScaledClock
from flexbench.lab.errors import UserError
from flexbench.lab.replay.event import ReplayEvent
from flexbench.lab.replay.score import score
from flexbench.lab.replay.steps import BenchSettings, Conditions, Signal, Step, plan_steps
from flexbench.lab.results import RUN_FILE, STATION_FILE, write_json
from flexbench.twin.event_twin import twin_states
from flexbench.twin.events import SIGNAL_ACTIONS

if TYPE_CHECKING:
    from flexbench.lab.bench import Bench
    from flexbench.lab.live import LiveView
    from flexbench.lab.recorder import SampleLog

Progress = Callable[[str], None]
CLIENT_WAIT_S = 30.0  # wall seconds the DUT's 2030.5 client may take to show up


class Replayer:
    """Executes planned steps on an open bench, keeping track of the signals in force."""

    def __init__(
        self, replay: ReplayEvent, bench: Bench, recorder: SampleLog, clock: Clock, settings: BenchSettings
    ) -> None:
        from flexbench.lab.plan import Site

        self.replay = replay
        self.bench = bench
        self.recorder = recorder
        self.clock = clock
        self.settings = settings
        self.site = Site(bench, recorder, clock, settings, phases=settings.phases)
        self.mrids: dict[str, list[str]] = {"limits": [], "envelope": [], "abnormal": []}
        self.bounds: dict[str, SiteLimits] = {}  # in force, by kind: the strictest side of each governs
        self.lfdi: str | None = None
        if bench.csip is not None and bench.csip.lfdis:
            self.lfdi = next(iter(bench.csip.lfdis.values()))

    def start(self, first: Step) -> None:
        self.site.energize()
        self.site.program("unrestricted")  # the utility's signals govern, not the PCS's own settings
        self.conditions(first.conditions)

    def wait_for_client(self) -> None:
        """The DUT's 2030.5 client must be polling before the first signal."""
        if self.lfdi is None:
            return
        for _ in range(int(CLIENT_WAIT_S * 10)):
            if self.bench.csip.requests(self.lfdi):
                return
            time.sleep(0.1)
        raise InstrumentError(f"the DUT ({self.lfdi[:12]}...) never polled the bench's 2030.5 server")

    def conditions(self, c: Conditions) -> None:
        """The grid at the twin's PCC voltage, the site's uncontrolled conditions."""
        self.site.set_grid(voltage_v=c.voltage_v, frequency_hz=self.settings.nominal_frequency_hz)
        self.site.set_conditions(c.site())
        self.recorder.record(channels.COND_VOLTAGE_V, c.voltage_v)

    def step(self, step: Step) -> None:
        self.conditions(step.conditions)
        t = self.clock.now()
        self.recorder.record_many(
            {
                channels.TWIN_PCC_V_PU: step.twin.pcc_voltage_pu,
                channels.TWIN_IMPORT_LIMIT_W: step.twin.import_limit_w,
                channels.TWIN_EXPORT_LIMIT_W: step.twin.export_limit_w,
            },
            t,
        )
        if step.signal is not None:
            self.signal(step.signal, step)

    def signal(self, s: Signal, step: Step) -> None:
        if self.lfdi is None:
            raise UserError(
                f"{self.bench.config.path}: timeline entry {step.entry.number if step.entry else 0} "
                "sends an operator signal, but the bench has no 2030.5 server ([signals.csip])"
            )
        from flexbench.signals.csip.controls import ControlValues

        headend = self.bench.csip.headend
        limits = s.limits
        if s.kind in ("limits", "envelope"):
            values = ControlValues(
                limits=SiteLimits(
                    import_limit_w=round(limits.import_limit_w or 0.0),
                    export_limit_w=round(limits.export_limit_w or 0.0),
                )
            )
            out = headend.publish_control(
                self.lfdi,
                None,
                s.duration_s,
                values,
                program="envelope",
                description=f"field event replay: {step.label()}",
            )
            self.mrids[s.kind].append(out["mrid"])
            self.bounds["envelope"] = limits
        elif s.kind == "abnormal":
            out = headend.signal_abnormal(self.lfdi, round(limits.import_limit_w or 0.0), duration_s=s.duration_s)
            self.mrids["abnormal"].extend(out.values())
            self.bounds["abnormal"] = limits
        elif s.kind == "cancel":
            kinds = ("limits", "envelope", "abnormal") if s.target == "all" else (s.target,)
            for kind in kinds:
                for mrid in self.mrids[kind]:
                    try:
                        headend.cancel_control(mrid)
                    except (KeyError, ValueError):
                        pass  # already over
                self.mrids[kind] = []
                self.bounds.pop("abnormal" if kind == "abnormal" else "envelope", None)
        self.recorder.event(
            "operator_signal",
            signal=s.kind,
            import_limit_w=limits.import_limit_w,
            export_limit_w=limits.export_limit_w,
            duration_s=s.duration_s,
            target=s.target,
            entry=step.entry.number if step.entry else 0,
        )
        imports = [b.import_limit_w for b in self.bounds.values() if b.import_limit_w is not None]
        exports = [b.export_limit_w for b in self.bounds.values() if b.export_limit_w is not None]
        self.site.show_limit(
            SiteLimits(
                import_limit_w=min(imports) if imports else None, export_limit_w=min(exports) if exports else None
            )
        )


def replay(
    replay_event: ReplayEvent,
    *,
    run_dir: Path,
    bench_path: str | Path | None,
    dut_profile: str = "healthy",
    time_scale: float = 1.0,
    settings: BenchSettings | None = None,
    progress: Progress | None = None,
    live: LiveView | None = None,
) -> dict[str, Any]:
    """Replay an event on a bench; returns the results written to results.json.

    live: a live view (lab.live) that follows the replay."""
    from flexbench.lab.bench import Bench
    from flexbench.lab.recorder import Recorder

    event = replay_event.event
    settings = settings or BenchSettings()

    def say(text: str) -> None:
        if progress is not None:
            progress(text)
        if live is not None:
            live.step(text.strip())

    config = load_bench(bench_path)
    if config.virtual is None and time_scale != 1.0:
        raise UserError(f"{config.path}: a real bench runs at time scale 1 (got --time-scale {time_scale:g})")
    signals = [e for e in event.timeline if e.action in SIGNAL_ACTIONS]
    if signals and config.csip is None:
        raise UserError(
            f"{config.path}: timeline entry {signals[0].number} of {event.path} sends an operator "
            "signal over 2030.5, but the bench has no [signals.csip] server"
        )
    say(
        f"twin: {event.feeder}, site {event.site.element} (bus {event.site.bus}), "
        f"{len(event.timeline)} timeline entries"
    )
    states = twin_states(event)  # every power flow before bench time starts, in this thread
    steps = plan_steps(replay_event, states, settings)
    run_dir = Path(run_dir).resolve()
    run_dir.mkdir(parents=True, exist_ok=True)
    clock = ScaledClock(time_scale)
    write_json(
        run_dir / RUN_FILE,
        {
            "plans": [str(event.path)],
            "event": str(event.path),
            "bench_file": str(config.path),
            "bench_name": config.name,
            "dut_profile": dut_profile,
            "profile": None,
            "time_scale": time_scale,
            "started": dt.datetime.now().isoformat(timespec="seconds"),
            "run_dir": str(run_dir),
        },
    )
    recorder = Recorder(run_dir, clock)
    if live is not None:
        live.show_bench(config)
        live.watch(recorder)
        live.test_started(f"replay::{event.path.name}")
    bench = None
    aborted: str | None = None
    t0 = float("nan")
    try:
        bench = Bench.open(
            config.path,
            clock,
            dut_profile,
            on_event=lambda kind, data: recorder.event(kind, **data),
            work_dir=run_dir,
            guarded=True,
        )
        write_json(run_dir / STATION_FILE, bench.snapshot())
        recorder.add_channels(bench.channels())
        player = Replayer(replay_event, bench, recorder, clock, settings)
        player.start(steps[0])
        say(
            f"bench: {config.name}, DUT profile {dut_profile}, time scale {time_scale:g}x; "
            f"pre-roll {settings.precondition_s:g} s"
        )
        clock.sleep(settings.precondition_s)
        player.wait_for_client()
        t0 = clock.now()
        recorder.event("replay_start", event=event.name, t0_s=t0)
        for step in steps:
            clock.sleep_until(t0 + step.t_s)
            say(f"  t = {step.t_s:7.1f} s  {step.label()}")
            player.step(step)
        clock.sleep_until(t0 + event.duration_s)
        recorder.event("replay_end", t_s=clock.now() - t0)
    except InstrumentError as exc:
        aborted = f"aborted: {exc}"
        recorder.event("abort", error=str(exc))
        if bench is not None:
            bench.safe_state(aborted)
        say(aborted)
    finally:
        recorder.stop_polling()
        if bench is not None:
            bench.close()
        if np.isfinite(t0):
            _record_field(replay_event, recorder, t0)
        recorder.close()
    from flexbench.lab.replay.report import write_outputs

    lab_t, lab_y = _lab_trace(run_dir, replay_event, t0)
    result = score(replay_event, lab_t, lab_y) if np.isfinite(t0) and not aborted else None
    results = write_outputs(run_dir, replay_event, steps, result, t0, aborted, settings)
    if live is not None:
        for test in results["tests"]:
            live.test_ended(test)
        live.finish(results["verdict"])
    return results


def _record_field(replay: ReplayEvent, recorder: SampleLog, t0: float) -> None:
    """The field trace into the samples, at bench times, powers in bench W: the report can be rebuilt."""
    field = replay.event.field
    t = field["time_s"].to_numpy(float) + t0
    for col in field.columns:
        if col == "time_s":
            continue
        scale = replay.mapping.bench_ratio if col.endswith("_w") or col.endswith("_var") else 1.0
        for ti, v in zip(t, field[col].to_numpy(float) * scale):
            recorder.record(f"{channels.FIELD}.{col}", v, ti)


def _lab_trace(run_dir: Path, replay: ReplayEvent, t0: float) -> tuple[np.ndarray, np.ndarray]:
    """The lab's PCC power (analyzer), times from the event start, in field units."""
    from flexbench.lab.recorder import load_samples

    if not np.isfinite(t0):
        return np.empty(0), np.empty(0)
    samples = load_samples(run_dir)
    rows = samples[samples["channel"] == channels.PCC_P_W]
    return rows["t_s"].to_numpy(float) - t0, rows["value"].to_numpy(float) / replay.mapping.bench_ratio
