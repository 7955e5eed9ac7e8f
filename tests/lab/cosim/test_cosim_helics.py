"""Twin and lab as two HELICS federates on localhost: the same loop gives the same setpoints as in one process.

The twin federate runs in its own process (`flexbench cosim twin`, which
also starts the broker on a free port and prints it: port 0, one port with
the zmq_ss core, so federations on the same host never collide); the lab federate
runs the loop in this process against the virtual bench. Both runs see the
same PCC power program, so their grid simulator setpoints must agree step by
step within the stated tolerance: 0.01 V and 0.01 degree, the grid
simulator's setpoint resolution.
"""

from __future__ import annotations

import subprocess
from dataclasses import replace

import pytest

from flexbench.lab.cosim import HelicsSettings, PhilLoop, StepSample
from flexbench.lab.cosim.federation import HelicsTwinLink
from flexbench.twin import Twin
from flexbench.twin.phil import PhilBus

from .conftest import CLI, PHIL_BENCH, ROOT, PowerProgram, loop_settings, phil_bench, swinging_import_w

STEPS = 50
TOLERANCE_V = 0.01
TOLERANCE_DEG = 0.01


def run_loop(twin, program: PowerProgram, settings) -> list[StepSample]:
    """The loop on the virtual bench; returns each step as the grid simulator's emulator received it."""
    steps: list[StepSample] = []
    with phil_bench(program) as bench:
        grid = bench.virtual_lab.emulator("grid_simulator")

        def arrived(sample: StepSample) -> None:
            steps.append(
                replace(
                    sample,
                    set_v=tuple(grid.setpoint_v(k) for k in range(3)),
                    set_angle_deg=(0.0, grid.phase_angle_deg[1], grid.phase_angle_deg[2]),
                )
            )

        PhilLoop.on_bench(bench, settings, twin, on_step=arrived).run(steps=STEPS)
    return steps


def broker_address(twin_proc: subprocess.Popen) -> str:
    """The address the twin federate's broker took, from its `HELICS broker at HOST:PORT` line."""
    assert twin_proc.stderr is not None
    said = []
    for line in twin_proc.stderr:
        if line.startswith("HELICS broker at "):
            return line.split()[-1]
        said.append(line)
    raise AssertionError(f"the twin federate ended without starting its broker: {''.join(said)}")


def test_federated_loop_sets_the_grid_simulator_as_the_in_process_loop_does(tmp_path) -> None:
    helics = HelicsSettings(broker="127.0.0.1:0", core="zmq_ss", lab_name="lab-t", twin_name="twin-t", timeout_s=60.0)
    settings = replace(loop_settings(), helics=helics)
    power = swinging_import_w(STEPS)

    local = run_loop(PhilBus(Twin.from_name("ieee123"), "48"), PowerProgram(power), settings)

    twin_proc = subprocess.Popen(
        [
            *CLI,
            "cosim",
            "twin",
            "--bench",
            str(PHIL_BENCH),
            "--broker",
            helics.broker,
            "--core",
            helics.core,
            "--lab-name",
            helics.lab_name,
            "--twin-name",
            helics.twin_name,
            "--timeout-s",
            "60",
            "--start-broker",
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        settings = replace(settings, helics=replace(helics, broker=broker_address(twin_proc)))
        link = HelicsTwinLink(settings)
        try:
            federated = run_loop(link, PowerProgram(power), settings)
        finally:
            link.close()
        out, err = twin_proc.communicate(timeout=60)
    finally:
        if twin_proc.poll() is None:
            twin_proc.kill()
            twin_proc.wait()
    assert twin_proc.returncode == 0, err
    assert f"served {STEPS} steps" in err

    assert len(local) == len(federated) == STEPS
    for a, b in zip(local, federated):
        assert b.injected_w == pytest.approx(a.injected_w, rel=1e-9)
        for k in range(3):
            assert abs(a.set_v[k] - b.set_v[k]) <= TOLERANCE_V, (a.k, k, a.set_v, b.set_v)
            assert abs(a.set_angle_deg[k] - b.set_angle_deg[k]) <= TOLERANCE_DEG, (a.k, k)
        assert b.twin.magnitude_pu == pytest.approx(a.twin.magnitude_pu, abs=1e-6)
    # the comparison means something: the setpoints moved over the run
    phase1 = [s.set_v[0] for s in federated]
    assert max(phase1) - min(phase1) > 2.0
