"""Physics of the virtual DUT, stepped directly (no sockets)."""

import pytest

from flexbench.lab.virtual.dut import DUTParameters, VirtualDUT
from flexbench.lab.virtual.faults import FAULT_PROFILES, fault_profile
from flexbench.lab.virtual.plant import Plant, PlantParameters


def simulate(profile: str, limit_pct: float = 33.0, until_s: float = 120.0, dt_s: float = 0.02):
    dut = VirtualDUT(DUTParameters(), fault_profile(profile))
    trace = []
    t = 0.0
    while t < until_s:
        if abs(t - 30.0) < dt_s / 2:
            dut.command_limit(t, limit_pct)
        dut.step(t, dt_s, available_w=10_000.0, grid_ok=True)
        trace.append((t, dut.power_w))
        t += dt_s
    return trace


def value_at(trace, t_s):
    return min(trace, key=lambda p: abs(p[0] - t_s))[1]


def test_healthy_dut_settles_at_limit_plus_steady_state_error():
    trace = simulate("healthy")
    assert value_at(trace, 29.0) == pytest.approx(10_050, abs=60)
    assert value_at(trace, 60.0) == pytest.approx(3_300 + 50, abs=30)


def test_slow_dut_waits_before_responding():
    trace = simulate("slow")
    assert value_at(trace, 30.0 + 40.0) > 9_000  # still at full power 40 s after the command
    assert value_at(trace, 30.0 + 70.0) == pytest.approx(3_350, abs=60)


def test_overshoot_dut_rings_above_limit_long_after_command():
    trace = simulate("overshoot")
    late = [p for t, p in trace if 90.0 <= t <= 120.0]
    assert max(late) > 3_300 + 750


def test_ignoring_dut_stays_at_full_power():
    trace = simulate("ignores-limit")
    assert value_at(trace, 100.0) > 9_900


def test_dut_trips_without_grid_and_reconnects_after_delay():
    dut = VirtualDUT(DUTParameters(reconnect_delay_s=5.0), FAULT_PROFILES["healthy"])
    plant = Plant(PlantParameters(), dut)
    plant.grid.output_on = True
    plant.step(10.0, 10.0)
    assert dut.power_w > 9_000
    plant.grid.output_on = False
    plant.step(10.1, 0.1)
    assert dut.power_w == 0.0 and plant.pcc_import_w() == 0.0
    plant.grid.output_on = True
    plant.step(12.0, 1.9)
    assert dut.power_w == 0.0  # still inside the reconnect delay
    plant.step(30.0, 18.0)
    assert dut.power_w > 9_000
    assert plant.pcc_import_w() == pytest.approx(2_000 - dut.power_w)


def test_unknown_fault_profile_names_the_known_ones():
    with pytest.raises(KeyError, match="slow"):
        fault_profile("sluggish")
