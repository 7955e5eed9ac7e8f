"""Keysight E4360 solar array simulator: the exact commands the driver sends (scripted peer),
and the driver against its emulator over VISA."""

from __future__ import annotations

import pytest

from flexbench.instruments.drivers.keysight_e4360 import KeysightE4360
from flexbench.instruments.emulators import KeysightE4360Emulator
from flexbench.instruments.roles import DCReading, InstrumentError, IVCurve, SafetyLimitError, SafetyLimits
from flexbench.instruments.specs import check_log, load_spec

TIMEOUT_S = 1.0
LIMITS = SafetyLimits(
    voltage_max_v=60.0, current_max_a=8.0, power_max_w=400.0, source="lab/benches/test.toml [instruments.pv.safety]"
)
CURVE = IVCurve(
    open_circuit_voltage_v=48.0, short_circuit_current_a=7.0, max_power_voltage_v=40.0, max_power_current_a=6.5
)


@pytest.fixture
def sas():
    emulator = KeysightE4360Emulator().start()
    driver = KeysightE4360(emulator.address, safety=LIMITS, options={"channel": 2}, timeout_s=TIMEOUT_S)
    driver.connect()
    yield driver, emulator
    driver.close()
    emulator.stop()


def test_set_curve_is_one_coupled_message_on_the_channel(make_peer):
    peer = make_peer({"CURR:MODE? (@1)": "FIX"})
    driver = KeysightE4360(peer.address, safety=LIMITS, timeout_s=TIMEOUT_S)
    driver.connect()
    mark = len(peer.sent())
    driver.set_curve(CURVE)
    assert peer.sent()[mark:] == [
        "CURR:MODE? (@1)",
        "CURR:MODE SAS,(@1)",
        "SYST:ERR?",
        "CURR:SAS:ISC 7.0000,(@1);IMP 6.5000,(@1);:VOLT:SAS:VOC 48.000,(@1);VMP 40.000,(@1)",
        "SYST:ERR?",
    ]
    driver.close()


def test_curve_output_measure_and_snapshot_against_the_emulator(sas):
    driver, emulator = sas
    driver.set_curve(CURVE)
    driver.set_output(True)
    assert emulator.curves[1] == CURVE and emulator.curves[0] != CURVE and emulator.output_on == [False, True]
    assert emulator.mode == ["FIX", "SAS"]
    assert driver.curve() == CURVE and driver.output_enabled()
    emulator.measurement_source = lambda channel: DCReading(41.0, 6.4 if channel == 2 else 0.0, 0.0)
    assert driver.measure() == DCReading(41.0, 6.4, pytest.approx(262.4))
    assert driver.snapshot()["current_mode"] == "SAS"
    driver.safe_state()
    assert emulator.output_on == [False, False]
    assert check_log(load_spec("keysight-e4360"), emulator.command_log) == []


def test_the_emulator_takes_the_list_of_curves_as_the_users_guide_programs_it(sas):
    driver, emulator = sas
    driver.write("CURR:SAS:MODE LIST,(@1)")
    for command in (
        "LIST:SAS:VMP 45,50,50,48,45,(@1)",
        "LIST:SAS:VOC 50,55,55,50,50,(@1)",
        "LIST:SAS:IMP 4,3,3,3,2,(@1)",
        "LIST:SAS:ISC 5,4,4,4,3,(@1)",
        "LIST:DWEL 2,3,5,5,4,(@1)",
        "LIST:STEP AUTO,(@1)",
    ):
        driver.write(command)
    assert driver.query("CURR:SAS:MODE? (@1)") == "LIST" and driver.query("CURR:SAS:MODE? (@2)") == "IMM"
    assert driver.query("LIST:SAS:IMP? (@1)") == "4,3,3,3,2"
    with pytest.raises(InstrumentError, match="-109"):
        driver.write("CURR:SAS:MODE LIST")  # every command names its outputs
    with pytest.raises(InstrumentError, match="-222"):
        driver.write("LIST:SAS:VOC 50,90,(@1)")  # beyond the E4361A's 65 V


def test_curves_beyond_the_safety_limits_send_nothing(sas):
    driver, emulator = sas
    before = len(emulator.command_log)
    with pytest.raises(SafetyLimitError, match="voltage_max_v = 60"):
        driver.set_curve(IVCurve(62.0, 7.0, 50.0, 6.5))
    with pytest.raises(SafetyLimitError, match="power_max_w = 400"):
        driver.set_curve(IVCurve(58.0, 7.9, 55.0, 7.8))
    with pytest.raises(ValueError, match="Imp < Isc"):
        driver.set_curve(IVCurve(48.0, 7.0, 40.0, 7.5))
    assert len(emulator.command_log) == before


def test_the_emulator_checks_coupled_parameters_with_device_errors(sas):
    driver, emulator = sas
    driver.set_curve(CURVE)
    with pytest.raises(InstrumentError, match=r'320,"Vmp must be less than Voc"') as info:
        driver.write("VOLT:SAS:VMP 50,(@2)")
    assert info.value.command == "VOLT:SAS:VMP 50,(@2)" and emulator.curves[1] == CURVE
    with pytest.raises(InstrumentError, match=r"-222"):
        driver.write("VOLT:SAS:VOC 80,(@2)")  # beyond the module's 65 V
    with pytest.raises(InstrumentError, match=r"-109"):
        driver.write("OUTP ON")  # no channel list
    with pytest.raises(InstrumentError, match=r"-222"):
        driver.write("OUTP ON,(@3)")


def test_driver_options():
    with pytest.raises(ValueError, match="channel"):
        KeysightE4360("TCPIP0::127.0.0.1::5025::SOCKET", options={"channel": 3})
