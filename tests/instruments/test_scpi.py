"""The SCPI layer: header matching, reply parsing, declarative settings, and the
exact commands each SCPI driver sends (against a scripted peer)."""

from __future__ import annotations

import math

import pytest

from flexbench.instruments.drivers.chroma_61845 import Chroma61845
from flexbench.instruments.drivers.yokogawa_wt import READ_MESSAGE
from flexbench.instruments.drivers.yokogawa_wt1800 import YokogawaWT1800
from flexbench.instruments.emulators.scpi_server import compile_header
from flexbench.instruments.roles import InstrumentError, SafetyLimitError, SafetyLimits
from flexbench.instruments.scpi import parse_bool, parse_error, parse_float

TIMEOUT_S = 1.0


@pytest.fixture
def peer(make_peer):
    return make_peer({"*IDN?": "Chroma ATE,61845,618450000123,1.02"})


# -- parsing ------------------------------------------------------------------------------


@pytest.mark.parametrize("reply", ["NAN", "nan", "INF", "-INF", "9.9E+37", "-9.91E+37", "9.9100E+37"])
def test_no_data_and_overrange_markers_read_as_nan(reply):
    assert math.isnan(parse_float(reply))


def test_numbers_parse_in_nr1_nr2_nr3():
    assert parse_float("230") == 230.0
    assert parse_float(" 2.30120E+02 ") == pytest.approx(230.12)
    assert parse_float("-1.5e-3") == -0.0015


def test_booleans_and_error_entries():
    assert parse_bool("1") and parse_bool("ON") and not parse_bool("0") and not parse_bool("OFF")
    assert parse_error('-222,"Data out of range"') == (-222, "Data out of range")
    assert parse_error('0,"No error"') == (0, "No error")
    assert parse_error('113,"Undefined header"') == (113, "Undefined header")


@pytest.mark.parametrize(
    "pattern, header, matches",
    [
        ("[SOURce:]VOLTage[:LEVel][:IMMediate][:AMPLitude]:AC", "VOLT:AC", True),
        ("[SOURce:]VOLTage[:LEVel][:IMMediate][:AMPLitude]:AC", "source:volt:lev:imm:ampl:ac", True),
        ("[SOURce:]VOLTage[:LEVel][:IMMediate][:AMPLitude]:AC", ":SOURCE:VOLTAGE:AC", True),
        ("[SOURce:]VOLTage[:LEVel][:IMMediate][:AMPLitude]:AC", "VOLTA:AC", False),
        ("[SOURce:]VOLTage[:LEVel][:IMMediate][:AMPLitude]:AC", "VOLT:AC?", False),
        ("MEASure[:SCALar]:POWer[:AC]:REACtive?", "MEAS:POW:AC:REAC?", True),
        ("MEASure[:SCALar]:POWer[:AC]:REACtive?", "MEAS:POW:AC?", False),
        (":NUMeric[:NORMal]:ITEM#", ":NUM:NORM:ITEM12", True),
        (":NUMeric[:NORMal]:ITEM#", "NUMERIC:ITEM3", True),
        ("*IDN?", "*idn?", True),
    ],
)
def test_headers_match_long_short_optional_and_suffixed_forms(pattern, header, matches):
    assert bool(compile_header(pattern).match(header)) is matches


# -- expected protocol: Chroma 61845 ---------------------------------------------------------


def _chroma(peer, safety=None, phases=3):
    driver = Chroma61845(peer.address, safety=safety, options={"phases": phases}, timeout_s=TIMEOUT_S)
    driver.connect()
    return driver


def test_chroma_connect_clears_the_error_queue_sets_the_phase_mode_and_programs_the_slew_limit(peer):
    driver = _chroma(peer, safety=SafetyLimits(slew_max_v_per_s=100.0))
    assert peer.sent() == [
        "*CLS",
        "SYST:ERR?",
        "INST:PHAS THREE",
        "SYST:ERR?",
        "SOUR:PHAS:THREE INDEPEND",
        "SYST:ERR?",
        "OUTP:SLEW:VOLT:AC 100.000",
        "SYST:ERR?",
    ]
    driver.close()


def test_chroma_all_phase_and_single_phase_voltage_commands(peer):
    driver = _chroma(peer)
    mark = len(peer.sent())
    driver.set_voltage(240.0)
    driver.set_voltage(230.5, phase=2)
    assert peer.sent()[mark:] == [
        "INST:EDIT ALL",
        "SYST:ERR?",
        "VOLT:AC 240.00",
        "SYST:ERR?",
        "INST:COUP NONE",
        "SYST:ERR?",
        "INST:NSEL 2",
        "SYST:ERR?",
        "VOLT:AC 230.50",
        "SYST:ERR?",
    ]
    driver.close()


def test_chroma_frequency_output_and_their_replies(peer):
    peer.replies.update({"OUTP?": "ON", "OUTP:RELAY?": "1", "FREQ?": "60.000"})
    driver = _chroma(peer)
    mark = len(peer.sent())
    driver.set_frequency(59.5)
    driver.set_output(True)
    driver.safe_state()
    assert driver.output_enabled() is True
    assert driver.frequency_hz == 60.0
    assert peer.sent()[mark:] == [
        "FREQ 59.500",
        "SYST:ERR?",
        "OUTP:RELAY ON",
        "SYST:ERR?",
        "OUTP ON",
        "SYST:ERR?",
        "OUTP OFF",
        "SYST:ERR?",
        "OUTP:RELAY OFF",
        "SYST:ERR?",
        "OUTP?",
        "OUTP:RELAY?",
        "FREQ?",
    ]
    driver.close()


def test_chroma_measure_selects_each_phase_then_reads_v_i_p_q_f(peer):
    peer.replies.update(
        {
            "MEAS:VOLT:AC?": "239.98",
            "MEAS:CURR:AC?": "10.5",
            "MEAS:POW:AC?": "2519.8",
            "MEAS:POW:AC:REAC?": "-12.0",
            "MEAS:FREQ?": "60.001",
        }
    )
    driver = _chroma(peer)
    mark = len(peer.sent())
    readings = driver.measure()
    per_phase = ["MEAS:VOLT:AC?", "MEAS:CURR:AC?", "MEAS:POW:AC?", "MEAS:POW:AC:REAC?", "MEAS:FREQ?"]
    expected = []
    for phase in (1, 2, 3):
        expected += [f"INST:NSEL {phase}", "SYST:ERR?"] + per_phase
    assert peer.sent()[mark:] == expected
    assert len(readings) == 3
    assert readings[0].voltage_v == 239.98 and readings[0].reactive_power_var == -12.0
    assert readings[2].frequency_hz == 60.001
    driver.close()


def test_chroma_identity_from_idn(peer):
    driver = _chroma(peer)
    ident = driver.identity()
    assert (ident.manufacturer, ident.model, ident.serial, ident.firmware) == (
        "Chroma ATE",
        "61845",
        "618450000123",
        "1.02",
    )
    driver.close()


def test_an_instrument_error_is_raised_with_the_command_that_caused_it(peer):
    peer.queue_error_after("VOLT:AC 250.00", '-222,"Data out of range"')
    driver = _chroma(peer)
    with pytest.raises(InstrumentError) as info:
        driver.set_voltage(250.0)
    assert info.value.command == "VOLT:AC 250.00"
    assert '-222,"Data out of range"' in str(info.value)
    assert peer.address in str(info.value)
    driver.close()


def test_every_queued_error_is_reported(peer):
    def two_errors():
        peer.errors.extend(['-222,"Data out of range"', '-221,"Settings conflict"'])

    peer.replies["FREQ 61.000"] = two_errors  # type: ignore[assignment]
    driver = _chroma(peer)
    with pytest.raises(InstrumentError, match=r"-222.*and 1 more.*-221"):
        driver.set_frequency(61.0)
    driver.close()


def test_a_setpoint_beyond_a_safety_limit_sends_nothing(peer):
    limits = SafetyLimits(voltage_max_v=264.0, frequency_min_hz=57.0, source="my-lab.toml [instruments.grid.safety]")
    driver = _chroma(peer, safety=limits)
    mark = len(peer.sent())
    with pytest.raises(SafetyLimitError) as info:
        driver.set_voltage(265.0, phase=1)
    assert "voltage_max_v = 264" in str(info.value) and "my-lab.toml" in str(info.value)
    with pytest.raises(SafetyLimitError, match="frequency_min_hz"):
        driver.set_frequency(50.0)
    with pytest.raises(SafetyLimitError, match="not a finite number"):
        driver.set_voltage(float("nan"))
    assert peer.sent()[mark:] == []
    driver.close()


def test_a_bad_phase_sends_nothing(peer):
    driver = _chroma(peer)
    mark = len(peer.sent())
    with pytest.raises(ValueError, match="phase must be 1..3"):
        driver.set_voltage(120.0, phase=4)
    assert peer.sent()[mark:] == []
    driver.close()


def test_single_phase_model_never_selects_a_phase(peer):
    peer.replies.update(
        {
            "MEAS:VOLT:AC?": "120",
            "MEAS:CURR:AC?": "1",
            "MEAS:POW:AC?": "120",
            "MEAS:POW:AC:REAC?": "0",
            "MEAS:FREQ?": "60",
        }
    )
    driver = _chroma(peer, phases=1)
    mark = len(peer.sent())
    driver.set_voltage(120.0)
    assert len(driver.measure()) == 1
    assert not any(c.startswith("INST:") for c in peer.sent()[mark:])
    driver.close()


# -- expected protocol: Yokogawa WT1800 ---------------------------------------------------------


def test_wt1800_configures_items_once_then_reads_with_one_query(make_peer, wt_front_panel):
    replies = {"*IDN?": "YOKOGAWA,WT1804E,91M000123,F2.01", **wt_front_panel([1, 2])}
    peer = make_peer(replies, error_query=":STATus:ERRor?")
    options = {"elements": [1, 2], "harmonics": False}
    driver = YokogawaWT1800(peer.address, options=options, timeout_s=TIMEOUT_S)
    driver.connect()
    commands = [c for c in peer.sent() if c != ":STATus:ERRor?" and not c.startswith(":INPut:") and c != ":RATE?"]
    assert commands[:4] == [":COMMunicate:HEADer OFF", "*CLS", ":NUMeric:FORMat ASCii", ":NUMeric:NORMal:NUMBer 14"]
    assert commands[4:] == [
        f":NUMeric:NORMal:ITEM{k} {item}"
        for k, item in enumerate(
            [f"{fn},{el}" for el in (1, 2) for fn in ("U", "I", "P", "Q", "S", "LAMBda", "FU")], start=1
        )
    ]
    assert peer.sent().count(":STATus:ERRor?") == 18  # after every command

    peer.replies[READ_MESSAGE] = (
        "2.40100E+02,1.05000E+01,2.51000E+03,-1.20000E+01,2.52000E+03,9.96000E-01,6.00010E+01,"
        '2.39000E+02,INF,NAN,9.9E+37,0.00000E+00,-9.91E+37,6.00000E+01;"2025/11/03";"12:34:56"'
    )
    mark = len(peer.sent())
    reading = driver.read()
    assert peer.sent()[mark:] == [READ_MESSAGE]
    one, two = reading.elements[1], reading.elements[2]
    assert (one.voltage_v, one.current_a, one.power_w, one.reactive_power_var) == (240.1, 10.5, 2510.0, -12.0)
    assert (one.apparent_power_va, one.power_factor, one.frequency_hz) == (2520.0, 0.996, 60.001)
    assert two.voltage_v == 239.0 and two.apparent_power_va == 0.0 and two.frequency_hz == 60.0
    assert math.isnan(two.current_a) and math.isnan(two.power_w)
    assert math.isnan(two.reactive_power_var) and math.isnan(two.power_factor)
    driver.close()


def test_wt1800_reply_with_the_wrong_number_of_values_is_an_error(make_peer, wt_front_panel):
    peer = make_peer(
        {READ_MESSAGE: '1,2,3;"2025/11/03";"12:34:56"', **wt_front_panel([1])}, error_query=":STATus:ERRor?"
    )
    driver = YokogawaWT1800(peer.address, options={"elements": [1], "harmonics": False}, timeout_s=TIMEOUT_S)
    driver.connect()
    with pytest.raises(InstrumentError, match="expected 7 values and the date and time"):
        driver.read()
    driver.close()
