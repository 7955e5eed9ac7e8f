"""The virtual bench assembled from the embedded bench file, talking over its real wire protocols."""

import time

import pytest

from flexbench.instruments.roles import InstrumentTimeout, SafetyLimitError
from flexbench.lab.bench import Bench
from flexbench.lab.clock import ScaledClock


@pytest.fixture
def bench():
    b = Bench.open(None, ScaledClock(20.0))
    yield b
    b.close()


def test_analyzer_measures_what_the_virtual_dut_does(bench):
    grid, der, analyzer = bench.grid, bench.der, bench.analyzer
    grid.set_voltage(240.0)
    grid.set_frequency(60.0)
    grid.set_output(True)
    bench.clock.sleep(20.0)
    dut = analyzer.read().elements[bench.element("dut")]
    assert dut.power_w == pytest.approx(10_050, abs=100)  # rated power + 0.5 % steady-state error
    assert der.measure().power_w == pytest.approx(dut.power_w, abs=100)
    der.set_active_power_limit_pct(33.0)
    assert der.active_power_limit_pct() == pytest.approx(33.0)
    bench.clock.sleep(20.0)
    reading = analyzer.read()
    assert reading.elements[bench.element("dut")].power_w == pytest.approx(3_350, abs=100)
    assert reading.elements[bench.element("pcc")].power_w == pytest.approx(2_000 - 3_350, abs=100)


def test_setpoint_beyond_safety_limit_is_refused_before_it_is_sent(bench):
    emulator = bench.virtual_lab.emulator("grid_simulator")
    sent_before = len(emulator.command_log)
    with pytest.raises(SafetyLimitError) as err:
        bench.grid.set_voltage(400.0)
    assert "voltage_max_v" in str(err.value) and "virtual.toml" in str(err.value)
    assert len(emulator.command_log) == sent_before
    assert all("400" not in str(entry) for entry in emulator.command_log)


def test_instrument_that_stops_answering_times_out_and_safe_state_turns_grid_off(bench):
    bench.grid.set_output(True)
    assert bench.virtual_lab.emulator("grid_simulator").output_on
    bench.virtual_lab.emulator("der").responding = False
    started = time.monotonic()
    with pytest.raises(InstrumentTimeout) as err:
        bench.der.measure()
    assert time.monotonic() - started < 5.0
    assert bench.der.address in str(err.value)
    failures = bench.safe_state("test")
    assert bench.virtual_lab.emulator("grid_simulator").output_on is False
    assert len(failures) == 1 and failures[0].startswith("dut:")


def test_station_snapshot_has_identity_and_settings_of_every_instrument(bench):
    station = bench.snapshot()
    assert set(station["instruments"]) == {"grid", "analyzer", "dut"}
    for entry in station["instruments"].values():
        assert entry["identity"]["model"] and "settings" in entry
    assert station["time_scale"] == 20.0
