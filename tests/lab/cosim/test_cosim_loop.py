"""The PHIL loop on the virtual bench: the grid simulator follows the twin; the guard stops a runaway loop.

The loop and the twin run on the test's own thread (OpenDSS is used on the
thread that created it). The grid simulator's state is read from its
emulator, i.e. what arrived over SCPI, after every step.
"""

from __future__ import annotations

import math
from dataclasses import replace

import pytest

from flexbench.instruments.roles import ElementReading
from flexbench.lab.cosim import LoopStopped, PhilLoop, StepSample
from flexbench.lab.recorder import Recorder, load_events, load_samples
from flexbench.twin import Twin
from flexbench.twin.phil import PhilBus

from .conftest import GRID_DRIVERS, PowerProgram, loop_settings, phil_bench, swinging_import_w

STEPS = 60
SCPI_RESOLUTION_V = 0.01  # the drivers send volts with two decimals


@pytest.mark.parametrize("grid_driver", GRID_DRIVERS)
def test_grid_simulator_setpoint_is_the_twins_bus_voltage_every_step(grid_driver: str) -> None:
    settings = loop_settings()
    program = PowerProgram(swinging_import_w(STEPS))
    twin = PhilBus(Twin.from_name("ieee123"), "48")
    reference = PhilBus(Twin.from_name("ieee123"), "48")  # solves each step's injection independently
    checked: list[StepSample] = []

    with phil_bench(program, grid_driver) as bench:
        grid = bench.virtual_lab.emulator("grid_simulator")

        def check(sample: StepSample) -> None:
            # what the twin says at the bus, solved again from the power the loop says it injected
            expected = reference.exchange(sample.injected_w, sample.injected_var)
            expected_v = [pu * settings.nominal_voltage_v for pu in expected.magnitude_pu]
            expected_angles = [0.0] + [(expected.angle_deg[0] - a) % 360.0 for a in expected.angle_deg[1:]]
            arrived_v = [grid.setpoint_v(k) for k in range(3)]
            for k in range(3):
                assert arrived_v[k] == pytest.approx(expected_v[k], abs=SCPI_RESOLUTION_V), (sample.k, k)
                assert sample.set_v[k] == pytest.approx(expected_v[k], abs=1e-3), (sample.k, k)
            for k in (1, 2):
                assert grid.phase_angle_deg[k] == pytest.approx(expected_angles[k], abs=0.01), (sample.k, k)
            assert grid.steady_values()[1] == pytest.approx(expected.frequency_hz)
            assert grid.output_on
            checked.append(sample)

        loop = PhilLoop.on_bench(bench, settings, twin, on_step=check)
        result = loop.run(steps=STEPS)

    assert len(checked) == STEPS == result.steps
    # what reached the twin is the analyzer's PCC power through the first-order filter
    alpha = settings.period_s / (settings.guard.filter_time_constant_s + settings.period_s)
    filtered_w = program.import_w[0]
    for sample in checked:
        measured_w = program.import_w[sample.k]
        if sample.k:
            filtered_w += alpha * (measured_w - filtered_w)
        assert sum(sample.measured_w) == pytest.approx(measured_w, rel=1e-4, abs=1.0)
        assert sum(sample.injected_w) == pytest.approx(filtered_w, rel=1e-4, abs=1.0)
    assert result.stopped is None and result.limited_steps == 0
    # the power went both ways through the twin, and the voltage followed it
    injected = [sum(s.injected_w) for s in checked]
    assert min(injected) < -100e3 and max(injected) > 100e3
    phase1 = [s.set_v[0] for s in checked]
    assert max(phase1) - min(phase1) > 2.0
    # export raises the bus voltage: the highest setpoint comes with the largest export
    assert phase1.index(max(phase1)) == injected.index(min(injected))


def test_guard_stops_a_diverging_loop_grid_safe_and_samples_kept(tmp_path) -> None:
    settings = loop_settings(max_step_v=2.0, diverge_steps=4)
    healthy_steps = 20
    program = PowerProgram([10e3] * healthy_steps + [80e6] * 200)  # a site suddenly drawing 80 MW
    twin = PhilBus(Twin.from_name("ieee123"), "48")

    with phil_bench(program) as bench:
        grid = bench.virtual_lab.emulator("grid_simulator")
        recorder = Recorder(tmp_path, bench.clock)
        loop = PhilLoop.on_bench(bench, settings, twin, recorder=recorder)
        with pytest.raises(LoopStopped) as stopped:
            loop.run(steps=200)
        grid_on_after_stop = grid.output_on  # before the bench's own close makes everything safe
        recorder.close()

    message = str(stopped.value)
    assert "out of bounds for 4 steps" in message and "grid simulator output off" in message
    assert not grid_on_after_stop
    result = stopped.value.result
    assert healthy_steps < result.steps < healthy_steps + 20
    assert result.stopped == message

    samples = load_samples(tmp_path)
    set_v1 = samples[samples.channel == "cosim.set_v1_v"].value.to_numpy()
    assert len(set_v1) == result.steps
    # never beyond the bounds, never faster than the step limit
    assert set_v1.min() >= 0.8 * 240.0 - 1e-9 and set_v1.max() <= 1.2 * 240.0 + 1e-9
    assert max(abs(b - a) for a, b in zip(set_v1, set_v1[1:])) <= 2.0 + 1e-9
    twin_pu = samples[samples.channel == "cosim.twin_v1_pu"].value.to_numpy()
    assert twin_pu[healthy_steps - 1] > 0.9 and not (0.8 <= twin_pu[-1] <= 1.2 and math.isfinite(twin_pu[-1]))
    kinds = [e["kind"] for e in load_events(tmp_path)]
    assert "cosim_energized" in kinds and kinds[-1] == "cosim_stopped"


def test_per_phase_power_goes_to_each_phase_of_the_bus() -> None:
    """An analyzer element per phase: phase A exports, C imports, B idles; each phase's voltage follows."""
    per_phase_w = {3: -150e3, 4: 0.0, 5: 150e3}  # analyzer elements of phases A, B, C (import positive)

    def program() -> dict[int, ElementReading]:
        return {e: ElementReading(240.0, abs(p) / 240.0, p, 0.0, abs(p), 1.0, 60.0) for e, p in per_phase_w.items()}

    settings = replace(loop_settings(), measure=("pcc_a", "pcc_b", "pcc_c"))
    twin = PhilBus(Twin.from_name("ieee123"), "48")
    balanced = PhilBus(Twin.from_name("ieee123"), "48").exchange([0.0], [0.0])
    with phil_bench(program, measures="{ dut = 1, pcc = 2, pcc_a = 3, pcc_b = 4, pcc_c = 5 }") as bench:
        result = PhilLoop.on_bench(bench, settings, twin).run(steps=3)
    last = result.samples[-1]
    assert last.injected_w == pytest.approx((-150e3, 0.0, 150e3), rel=1e-4)
    assert twin.injected_w.tolist() == pytest.approx([-150e3, 0.0, 150e3], rel=1e-4)
    rise = [a - b for a, b in zip(last.twin.magnitude_pu, balanced.magnitude_pu)]
    assert rise[0] > 0.005 and rise[2] < -0.002  # export raises phase A, import lowers phase C
    assert last.set_v[0] > last.set_v[2]
