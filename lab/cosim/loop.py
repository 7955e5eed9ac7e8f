"""The PHIL loop: the device's measured power into the twin, the twin's bus voltage onto the grid simulator.

Each step, at `rate_hz` of bench time:

1. read the device's P and Q from the power analyzer (one point for the total,
   or one per phase) and turn them into the twin's sign and scale;
2. filter them (first order) and hand them to the twin (`TwinLink.exchange`:
   in this process a `flexbench.twin.phil.PhilBus`, or over HELICS);
3. map the twin's per-phase voltage at the bus (pu of the bus base) to the
   bench's nominal voltage, and its angles to the grid simulator's phase
   angles (phase k's lag behind phase 1, degrees, as the simulators' 0/120/240
   defaults express); pass them through the guard (bounds, step and ramp
   limits);
4. send what changed to the grid simulator (voltage per phase, angles of
   phases 2 and 3, frequency), through its role interface, so any supported
   model and the emulated ones work alike;
5. record everything (channels `cosim.*`) with the achieved period and jitter.

When the twin stays out of bounds or stops converging for `diverge_steps`
steps, or an instrument fails, the grid simulator goes to its safe state
(output off), the reason is recorded, and `LoopStopped` is raised with the
samples so far. Everything runs on the calling thread: the OpenDSS engine
must be used on the thread that created it.

    loop = PhilLoop.on_bench(bench, settings, PhilBus(Twin.from_name("ieee123"), "48"), recorder=rec)
    result = loop.run(duration_s=10.0)
    print(result.summary())

A caller that changes the twin between steps (an event replay scaling loads
or opening a switch through `loop.twin.twin`, the Twin behind the PhilBus)
calls `loop.start()` once and then `loop.step()` at its own pace, or runs
`loop.run(duration_s=...)` in slices between its changes.
"""

from __future__ import annotations

import contextlib
import gc
import math
import os
import sys
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from flexbench.core import channels
from flexbench.instruments.roles import GridSimulator, PowerAnalyzer
from flexbench.lab.clock import Clock
from flexbench.lab.cosim.config import CosimSettings
from flexbench.lab.cosim.guard import Bounds, PowerFilter, VoltageGuard
from flexbench.twin.phil import BusVoltages

if TYPE_CHECKING:
    from flexbench.lab.recorder import SampleLog

STANDARD_ANGLES_DEG = (0.0, 120.0, 240.0)
REALTIME_PRIORITY = 10  # SCHED_FIFO, low among real-time threads: above every normal one


class TwinLink(Protocol):
    """The twin as the loop sees it: power in, bus voltages out (PhilBus, or a HELICS federate)."""

    def exchange(self, p_w: Sequence[float], q_var: Sequence[float]) -> BusVoltages: ...

    def close(self) -> None: ...


@dataclass(frozen=True)
class StepSample:
    """One step of the loop: what was measured, injected, computed and sent."""

    k: int
    t_s: float  # bench time at the start of the step
    period_s: float  # since the previous step's start (NaN for the first)
    compute_s: float  # from the start of the step to the last command sent
    measured_w: tuple[float, ...]  # per measured point, twin sign and scale, before the filter
    measured_var: tuple[float, ...]
    injected_w: tuple[float, ...]  # what went to the twin (filtered)
    injected_var: tuple[float, ...]
    twin: BusVoltages
    target_v: tuple[float, ...]  # per grid phase: twin pu x nominal voltage
    set_v: tuple[float, ...]  # per grid phase: the setpoint after the guard
    set_angle_deg: tuple[float, ...]  # per grid phase (phase 1 = 0)
    set_frequency_hz: float
    limited: bool  # the guard changed the setpoint
    out_of_bounds: str | None  # why the twin was out of bounds this step

    def jitter_s(self, period_s: float) -> float:
        return abs(self.period_s - period_s) if math.isfinite(self.period_s) else math.nan


@dataclass
class LoopResult:
    """Figures of a run (and its samples when kept)."""

    rate_hz: float
    samples: list[StepSample] = field(default_factory=list)
    stopped: str | None = None
    steps: int = 0
    overruns: int = 0
    first_t_s: float = math.nan
    last_t_s: float = math.nan
    periods_s: list[float] = field(default_factory=list)
    compute_s: list[float] = field(default_factory=list)
    max_abs_set_minus_twin_v: float = 0.0
    limited_steps: int = 0

    def add(self, sample: StepSample, keep: bool) -> None:
        if self.steps == 0:
            self.first_t_s = sample.t_s
        else:
            self.periods_s.append(sample.period_s)
        self.steps += 1
        self.last_t_s = sample.t_s
        self.compute_s.append(sample.compute_s)
        dv = [abs(s - t) for s, t in zip(sample.set_v, sample.target_v) if math.isfinite(t)]
        if dv:
            self.max_abs_set_minus_twin_v = max(self.max_abs_set_minus_twin_v, max(dv))
        self.limited_steps += int(sample.limited)
        if keep:
            self.samples.append(sample)

    def summary(self) -> dict[str, Any]:
        """Rate, jitter p50/p99 (|period - nominal|, bench ms), compute time, max |V_set - V_twin|."""
        nominal = 1.0 / self.rate_hz
        periods = np.asarray(self.periods_s, dtype=float)
        jitter_ms = np.abs(periods - nominal) * 1000.0
        compute_ms = np.asarray(self.compute_s, dtype=float) * 1000.0
        span = self.last_t_s - self.first_t_s

        def pct(a: np.ndarray, q: float) -> float | None:
            return round(float(np.percentile(a, q)), 4) if len(a) else None

        return {
            "steps": self.steps,
            "duration_s": round(span, 4) if self.steps > 1 else 0.0,
            "rate_hz_nominal": self.rate_hz,
            "rate_hz_achieved": round((self.steps - 1) / span, 3) if self.steps > 1 and span > 0 else None,
            "period_ms_p50": pct(periods * 1000.0, 50),
            "jitter_ms_p50": pct(jitter_ms, 50),
            "jitter_ms_p99": pct(jitter_ms, 99),
            "jitter_ms_max": round(float(jitter_ms.max()), 4) if len(jitter_ms) else None,
            "compute_ms_p50": pct(compute_ms, 50),
            "compute_ms_p99": pct(compute_ms, 99),
            "overruns": self.overruns,
            "limited_steps": self.limited_steps,
            "max_abs_v_set_minus_v_twin_v": round(self.max_abs_set_minus_twin_v, 6),
            "stopped": self.stopped,
        }


class LoopStopped(Exception):
    """The loop stopped before its end (divergence, or an instrument failure); the grid simulator is safe."""

    def __init__(self, message: str, result: LoopResult) -> None:
        super().__init__(message)
        self.result = result


def grid_targets(state: BusVoltages, grid_phases: int, nominal_voltage_v: float) -> tuple[list[float], list[float]]:
    """Per grid phase: voltage (V) and angle (degrees of lag behind phase 1) from the twin's bus.

    A bus with as many phases as the simulator maps one to one; a one-phase
    simulator takes the bus's first phase; a bus with fewer phases than the
    simulator gives every phase their mean magnitude at the standard angles.
    """
    pu = list(state.magnitude_pu)
    if len(pu) == grid_phases:
        mags = pu
        angles = [(state.angle_deg[0] - a) % 360.0 for a in state.angle_deg]
    elif grid_phases == 1:
        mags, angles = pu[:1], [0.0]
    else:
        mags = [sum(pu) / len(pu)] * grid_phases
        angles = list(STANDARD_ANGLES_DEG[:grid_phases])
    return [m * nominal_voltage_v for m in mags], angles


class PhilLoop:
    """Power-hardware-in-the-loop between a twin and a bench's grid simulator and power analyzer."""

    def __init__(
        self,
        grid: GridSimulator,
        analyzer: PowerAnalyzer,
        elements: Sequence[int],
        twin: TwinLink,
        settings: CosimSettings,
        clock: Clock,
        *,
        recorder: SampleLog | None = None,
        on_step: Callable[[StepSample], None] | None = None,
        keep_samples: bool = True,
    ) -> None:
        self.grid = grid
        self.analyzer = analyzer
        self.elements = list(elements)
        self.twin = twin
        self.settings = settings
        self.clock = clock
        self.recorder = recorder
        self.on_step = on_step
        self.keep_samples = keep_samples
        self.phases = int(getattr(grid, "phases", 3))
        self.guard = VoltageGuard(settings.guard, Bounds.of(settings.guard, settings.nominal_voltage_v, grid.safety))
        self.p_filter = PowerFilter(settings.guard.filter_time_constant_s)
        self.q_filter = PowerFilter(settings.guard.filter_time_constant_s)
        self.sign = 1.0 if settings.measure_sign == "import" else -1.0
        self.result = LoopResult(settings.rate_hz)
        self._k = 0
        self._last_t: float | None = None
        self._sent: dict[str, Any] = {}
        self._started = False
        self._angles_supported = True
        self._energize = False

    @classmethod
    def on_bench(cls, bench: Any, settings: CosimSettings, twin: TwinLink, **kwargs: Any) -> PhilLoop:
        """A loop on a lab.Bench: its grid simulator, and the analyzer elements of `settings.measure`."""
        elements = [bench.element(point) for point in settings.measure]
        return cls(bench.grid, bench.analyzer, elements, twin, settings, bench.clock, **kwargs)

    # -- one step ----------------------------------------------------------------------------
    def _measure(self) -> tuple[list[float], list[float]]:
        reading = self.analyzer.read()
        scale = self.sign * self.settings.power_scale
        p, q = [], []
        for element in self.elements:
            e = reading.elements[element]
            p.append(scale * e.power_w)
            q.append(scale * e.reactive_power_var)
        return p, q

    def step(self) -> StepSample:
        """Measure, exchange with the twin, guard, send; no pacing (run() paces)."""
        t = self.clock.now()
        period = t - self._last_t if self._last_t is not None else math.nan
        # a sampled-data loop: filter and ramp limit act at the nominal period, so the same
        # measurements give the same setpoints whatever the scheduling jitter (in one process or over HELICS)
        dt = self.settings.period_s
        self._last_t = t
        measured_w, measured_var = self._measure()
        injected_w = self.p_filter.update(measured_w, dt)
        injected_var = self.q_filter.update(measured_var, dt)
        state = self.twin.exchange(injected_w, injected_var)
        target_v, angles = grid_targets(state, self.phases, self.settings.nominal_voltage_v)
        reason = self.guard.assess(target_v, state.frequency_hz, state.converged)
        usable = state.converged and all(math.isfinite(v) for v in target_v + angles)
        if usable:
            set_v, limited = self.guard.voltage(target_v, dt)
            frequency = self.guard.frequency(state.frequency_hz)
        else:  # hold what the simulator has
            set_v = list(self._sent.get("v", self.guard.last_v or target_v))
            angles = list(self._sent.get("a", STANDARD_ANGLES_DEG[: self.phases]))
            frequency, limited = self._sent.get("f", state.frequency_hz), True
        sample = StepSample(
            k=self._k,
            t_s=t,
            period_s=period,
            compute_s=math.nan,
            measured_w=tuple(measured_w),
            measured_var=tuple(measured_var),
            injected_w=tuple(injected_w),
            injected_var=tuple(injected_var),
            twin=state,
            target_v=tuple(target_v),
            set_v=tuple(set_v),
            set_angle_deg=tuple(angles),
            set_frequency_hz=frequency,
            limited=limited,
            out_of_bounds=reason,
        )
        if self.guard.diverged:
            self._finish(sample, t)
            self._stop(
                f"the twin was out of bounds for {self.guard.bad_steps} steps in a row at bus "
                f"{self.settings.bus}: {reason}"
            )
        if usable:
            self._send(set_v, angles, frequency)
            if self._energize and reason is None:
                self.grid.set_output(True)
                self._energize = False
                if self.recorder is not None:
                    self.recorder.event("cosim_energized", voltage_v=list(set_v))
        return self._finish(sample, t)

    def _finish(self, sample: StepSample, t: float) -> StepSample:
        sample = replace(sample, compute_s=self.clock.now() - t)
        if self.recorder is not None:
            self.recorder.record_many(self._channels(sample), t)
        self.result.add(sample, self.keep_samples)
        self._k += 1
        if self.on_step is not None:
            self.on_step(sample)
        return sample

    def _send(self, volts: list[float], angles: list[float], frequency_hz: float) -> None:
        """Send what changed at the instrument's resolution (0.01 V, 0.01 degree, 0.001 Hz)."""
        grid, sent = self.grid, self._sent
        new_v = [round(v, 2) for v in volts]
        old_v = sent.get("v_r")
        if old_v != new_v:
            if len(set(new_v)) == 1:
                grid.set_voltage(volts[0])
            else:
                for k, v in enumerate(new_v):
                    if old_v is None or old_v[k] != v:
                        grid.set_voltage(volts[k], phase=k + 1)
            sent["v_r"] = new_v
        sent["v"] = list(volts)
        if self.phases > 1 and self._angles_supported:
            new_a = [round(a, 2) for a in angles]
            old_a = sent.get("a_r")
            for k in range(1, self.phases):
                if old_a is None or old_a[k] != new_a[k]:
                    try:
                        grid.set_phase_angle(angles[k], k + 1)
                    except NotImplementedError:  # a model without angle control: magnitudes only
                        self._angles_supported = False
                        if self.recorder is not None:
                            self.recorder.event("cosim_no_phase_angles", model=getattr(grid, "model", "?"))
                        break
            sent["a_r"] = new_a
        sent["a"] = list(angles)
        if sent.get("f_r") != round(frequency_hz, 3):
            grid.set_frequency(frequency_hz)
            sent["f_r"] = round(frequency_hz, 3)
        sent["f"] = frequency_hz

    def _channels(self, s: StepSample) -> dict[str, float]:
        values: dict[str, float] = {
            channels.COSIM_PERIOD_S: s.period_s,
            channels.COSIM_JITTER_S: s.jitter_s(self.settings.period_s),
            channels.COSIM_COMPUTE_S: s.compute_s,
            channels.COSIM_P_W: float(sum(s.injected_w)),
            channels.COSIM_Q_VAR: float(sum(s.injected_var)),
            channels.COSIM_P_MEASURED_W: float(sum(s.measured_w)),
            channels.COSIM_TWIN_F_HZ: s.twin.frequency_hz,
            channels.COSIM_TWIN_CONVERGED: 1.0 if s.twin.converged else 0.0,
            channels.COSIM_SET_F_HZ: s.set_frequency_hz,
            channels.COSIM_LIMITED: 1.0 if s.limited else 0.0,
        }
        cosim = channels.COSIM
        for k in range(len(s.injected_w)):
            values[f"{cosim}.p{k + 1}_w"] = s.injected_w[k]
            values[f"{cosim}.q{k + 1}_var"] = s.injected_var[k]
        for k, node in enumerate(s.twin.nodes):
            values[f"{cosim}.twin_v{node}_pu"] = s.twin.magnitude_pu[k]
            values[f"{cosim}.twin_v{node}_v"] = s.twin.magnitude_v[k]
            values[f"{cosim}.twin_a{node}_deg"] = s.twin.angle_deg[k]
        for k in range(len(s.set_v)):
            values[f"{cosim}.target_v{k + 1}_v"] = s.target_v[k]
            values[f"{cosim}.set_v{k + 1}_v"] = s.set_v[k]
            values[f"{cosim}.set_a{k + 1}_deg"] = s.set_angle_deg[k]
        return values

    # -- starting, running, stopping ---------------------------------------------------------
    def start(self, energize: bool = True) -> StepSample:
        """First step: program the grid simulator at the twin's values, then (energize) turn its output on.

        The output stays off while the twin is out of bounds, and comes on at the
        first step within them (the guard stops the loop if that never comes).
        With the output already on, the setpoint ramps from what the simulator
        measures now, within the guard's limits.
        """
        try:
            if self.grid.output_enabled():
                self.guard.reset([p.voltage_v for p in self.grid.measure()])
            else:
                self.guard.reset(None)
            self._energize = energize and not self.grid.output_enabled()
            sample = self.step()
        except LoopStopped:
            raise
        except Exception as exc:
            self._stop(f"the loop failed to start: {exc}", cause=exc)
        self._started = True
        return sample

    def run(
        self,
        duration_s: float | None = None,
        steps: int | None = None,
        stop: threading.Event | None = None,
        energize: bool = True,
    ) -> LoopResult:
        """Run for `duration_s` of bench time or `steps` steps (counted in this call), or until `stop` is set.

        Steps start on a fixed schedule of 1/rate_hz (bench time); a step that
        overruns its slot starts the next at once (counted in `overruns`).
        """
        if duration_s is None and steps is None and stop is None:
            raise ValueError("give a duration, a number of steps or a stop event")
        period = self.settings.period_s
        # everything allocated so far (feeder model, pandas, drivers) is long-lived: keep the
        # collector from walking it mid-step, where a full collection costs tens of milliseconds
        gc.collect()
        gc.freeze()
        # a waking loop thread waits for the GIL up to the switch interval (5 ms by default)
        # while another thread (the virtual plant, the recorder) computes: keep that wait short
        switch_interval_s = sys.getswitchinterval()
        sys.setswitchinterval(min(switch_interval_s, 0.0005))
        restore = self._realtime() if self.settings.realtime else None
        try:
            return self._run(period, duration_s, steps, stop, energize)
        finally:
            if restore is not None:
                restore()
            sys.setswitchinterval(switch_interval_s)
            gc.unfreeze()

    def _realtime(self) -> Callable[[], None] | None:
        """This thread at SCHED_FIFO priority: other work on the host no longer delays its wake-ups.

        The loop sleeps most of each period, so it takes little from the rest.
        Where the host refuses (no CAP_SYS_NICE, not Linux) the loop runs at
        normal priority and says so in the events.
        """
        try:
            policy, param = os.sched_getscheduler(0), os.sched_getparam(0)
            os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(REALTIME_PRIORITY))
        except (AttributeError, OSError) as exc:
            if self.recorder is not None:
                self.recorder.event("cosim_realtime", ok=False, error=str(exc))
            return None
        if self.recorder is not None:
            self.recorder.event("cosim_realtime", ok=True, priority=REALTIME_PRIORITY)
        return lambda: os.sched_setscheduler(0, policy, param)

    def _run(
        self, period: float, duration_s: float | None, steps: int | None, stop: threading.Event | None, energize: bool
    ) -> LoopResult:
        first = self.result.steps
        if not self._started:
            self.start(energize)
        t0 = self.clock.now()
        next_t = (self._last_t or t0) + period
        try:
            while True:
                if steps is not None and self.result.steps - first >= steps:
                    break
                if duration_s is not None and next_t - t0 > duration_s + 1e-9:
                    break
                if stop is not None and stop.is_set():
                    break
                delay = next_t - self.clock.now()
                if delay > 0:
                    if stop is not None:
                        stop.wait(delay / self.clock.time_scale)
                    else:
                        self.clock.sleep(delay)
                self.step()
                next_t += period
                if self.clock.now() > next_t:
                    self.result.overruns += 1
                    next_t = self.clock.now()
        except LoopStopped:
            raise
        except KeyboardInterrupt:
            with contextlib.suppress(Exception):
                self.grid.safe_state()
            raise
        except Exception as exc:
            self._stop(f"stopped at step {self._k}: {exc}", cause=exc)
        return self.result

    def _stop(self, reason: str, cause: BaseException | None = None) -> None:
        """Grid simulator to its safe state, record why, raise LoopStopped with the samples so far."""
        safe = "grid simulator output off"
        try:
            self.grid.safe_state()
        except Exception as exc:  # still stop, and say the safe state failed
            safe = f"grid simulator safe state FAILED: {exc}"
        message = f"PHIL loop stopped: {reason}; {safe}"
        self.result.stopped = message
        if self.recorder is not None:
            self.recorder.event("cosim_stopped", reason=reason, safe_state=safe, step=self._k)
        raise LoopStopped(message, self.result) from cause

    def close(self) -> None:
        self.twin.close()
