"""Keysight N8900 (N89xxAPV) as a PV simulator: the exact commands the driver sends (scripted peer),
the driver against its emulator over VISA, and the emulator as the guide defines it (plain pyvisa)."""

from __future__ import annotations

import pytest
import pyvisa

from flexbench.instruments.drivers.keysight_n8900 import KeysightN8900
from flexbench.instruments.emulators import KeysightN8900Emulator
from flexbench.instruments.roles import DCReading, InstrumentError, IVCurve, SafetyLimitError, SafetyLimits
from flexbench.instruments.specs import check_log, load_spec

TIMEOUT_S = 1.0
LIMITS = SafetyLimits(
    voltage_max_v=1000.0,
    current_max_a=25.0,
    power_max_w=15000.0,
    source="lab/benches/test.toml [instruments.pv.safety]",
)
CURVE = IVCurve(
    open_circuit_voltage_v=900.0, short_circuit_current_a=14.0, max_power_voltage_v=760.0, max_power_current_a=13.5
)


@pytest.fixture
def apv():
    emulator = KeysightN8900Emulator().start()
    driver = KeysightN8900(emulator.address, safety=LIMITS, timeout_s=TIMEOUT_S)
    driver.connect()
    yield driver, emulator
    driver.close()
    emulator.stop()


@pytest.fixture
def plain():
    """The emulator and a plain pyvisa session to it, as a lab script would open one."""
    emulator = KeysightN8900Emulator().start()
    rm = pyvisa.ResourceManager("@py")  # not closed: that would close the drivers' sessions too
    session = rm.open_resource(emulator.address, read_termination="\n", write_termination="\n", timeout=2000)
    yield session, emulator
    session.close()
    emulator.stop()


def test_connect_sets_the_protection_and_set_curve_is_one_message(make_peer):
    peer = make_peer({"SAS:MODE?": "FIX"})
    driver = KeysightN8900(peer.address, safety=LIMITS, timeout_s=TIMEOUT_S)
    driver.connect()
    assert peer.sent() == ["*CLS", "SYST:ERR?", "VOLT:PROT 1000.000", "SYST:ERR?"]
    driver.set_curve(CURVE)
    assert peer.sent()[4:] == [
        "SAS:MODE?",
        "SAS:MODE CURV",
        "SYST:ERR?",
        "SAS:CURV:IMP 13.5000;ISC 14.0000;VMP 760.000;VOC 900.000",
        "SYST:ERR?",
    ]
    assert check_log(load_spec("keysight-n8900"), peer.sent()) == []
    driver.close()


def test_without_a_voltage_limit_connect_leaves_the_protection_alone(make_peer):
    peer = make_peer()
    driver = KeysightN8900(peer.address, timeout_s=TIMEOUT_S)
    driver.connect()
    assert peer.sent() == ["*CLS", "SYST:ERR?"]
    driver.close()


def test_curve_output_measure_and_snapshot_against_the_emulator(apv):
    driver, emulator = apv
    assert emulator.mode == "FIX" and not emulator.output_on
    driver.set_curve(CURVE)
    driver.set_output(True)
    assert emulator.curve == CURVE and emulator.mode == "CURV" and emulator.output_on
    assert driver.curve() == CURVE and driver.output_enabled()
    emulator.measurement_source = lambda: DCReading(765.0, 13.4, 10251.0)
    assert driver.measure() == DCReading(765.0, 13.4, 10251.0)
    snap = driver.snapshot()
    assert snap["model"] == "N8957APV" and snap["sas_mode"] == "CURV" and snap["output_enabled"] is True
    assert snap["over_voltage_protection_v"] == 1000.0 and snap["open_circuit_voltage_v"] == 900.0
    driver.safe_state()
    assert not emulator.output_on
    assert check_log(emulator.spec, emulator.command_log) == []


def test_in_fixed_mode_there_is_no_curve_to_read(apv):
    driver, emulator = apv
    with pytest.raises(InstrumentError, match="SAS:MODE\\? is FIX"):
        driver.curve()
    snap = driver.snapshot()
    assert snap["sas_mode"] == "FIX" and "open_circuit_voltage_v" not in snap
    assert check_log(emulator.spec, emulator.command_log) == []


def test_curves_beyond_the_safety_limits_send_nothing(apv):
    driver, emulator = apv
    before = len(emulator.command_log)
    with pytest.raises(SafetyLimitError, match="voltage_max_v = 1000"):
        driver.set_curve(IVCurve(1100.0, 14.0, 900.0, 13.5))
    with pytest.raises(SafetyLimitError, match="power_max_w = 15000"):
        driver.set_curve(IVCurve(990.0, 24.0, 950.0, 23.0))
    with pytest.raises(ValueError, match="Imp < Isc"):
        driver.set_curve(IVCurve(900.0, 14.0, 760.0, 15.0))
    assert len(emulator.command_log) == before


def test_the_emulator_checks_the_coupled_curve_and_the_mode(apv):
    driver, emulator = apv
    with pytest.raises(InstrumentError, match=r'-221,"Settings conflict"'):
        driver.write("SAS:CURV:VOC 900")  # SAS commands are refused in FIXed mode
    driver.set_curve(CURVE)
    with pytest.raises(InstrumentError, match=r"-221") as info:
        driver.write("SAS:CURV:VMP 950")  # not below Voc: the previous curve stays
    assert info.value.command == "SAS:CURV:VMP 950" and emulator.curve == CURVE
    with pytest.raises(InstrumentError, match=r"-222"):
        driver.write("SAS:CURV:VOC 1600")  # beyond 102 % of 1500 V


def test_reset_returns_to_fixed_mode_with_the_output_off(apv):
    driver, emulator = apv
    driver.set_curve(CURVE)
    driver.set_output(True)
    driver.write("*RST")
    assert emulator.mode == "FIX" and not emulator.output_on and emulator.curve != CURVE


def test_spec_commands_the_driver_does_not_use_answer_plain_pyvisa_as_the_guide_says(plain):
    session, emulator = plain
    session.write("SAS:MODE CURV")
    session.write("SAS:CURV:IMP 13.5;ISC 14;VMP 760;VOC 900")  # the SVP driver's form
    session.write("SOUR:SAS:SCAL:CURR 70")  # irradiance 70 %
    assert float(session.query("SAS:SCAL:CURR?")) == 70.0
    assert float(session.query("SASimulator:ACTive:MPP:POWer?")) == pytest.approx(10260.0)
    session.write("SOURce:VOLTage:PROTection:LEVel 660")  # the SVP driver's over-voltage protection
    assert float(session.query("VOLT:PROT?")) == 660.0
    session.write("CURR:LIM:NEG -20")
    assert float(session.query("CURR:LIM:NEG?")) == -20.0
    assert session.query("FUNC?") == "VOLT"
    assert session.query("OUTPut:STATe?") == "0" and session.query("STATus:OPERation:CONDition?") == "0"
    assert session.query("SYSTem:CHANnel:COUNt?") == "1"
    session.write("OUTP:PROT:CLE")
    assert session.query("*ESR?") == "0"
    assert session.query("SYST:ERR?") == '0,"No error"'
    session.write("SAS:SCAL:CURR 0")  # below 1 %
    assert session.query("SYST:ERR?") == '-222,"Data out of range"'
    session.write("SAS:CURVe:PMP 1000")  # a curve parameter the guide does not have
    assert session.query("SYST:ERR?") == '-113,"Undefined header"'
