"""Chroma 63800 AC load: the exact commands the driver sends (scripted peer),
and the driver against its emulator over VISA."""

from __future__ import annotations

import socket
import time

import pytest

from flexbench.instruments.drivers.chroma_63800 import Chroma63800
from flexbench.instruments.emulators import Chroma63800Emulator
from flexbench.instruments.roles import InstrumentError, InstrumentTimeout, PhaseReading, SafetyLimitError, SafetyLimits
from flexbench.instruments.specs import check_log, load_spec

TIMEOUT_S = 1.0
LIMITS = SafetyLimits(
    voltage_max_v=264.0,
    current_max_a=20.0,
    power_max_w=4000.0,
    source="lab/benches/test.toml [instruments.load.safety]",
)


@pytest.fixture
def load_emulator():
    emulator = Chroma63800Emulator().start()
    yield emulator
    emulator.stop()


@pytest.fixture
def load(load_emulator):
    driver = Chroma63800(load_emulator.address, safety=LIMITS, timeout_s=TIMEOUT_S)
    driver.connect()
    yield driver
    driver.close()


# -- expected protocol ------------------------------------------------------------------------


def test_each_mode_writes_its_level_then_the_mode(make_peer):
    peer = make_peer()
    driver = Chroma63800(peer.address, safety=LIMITS, timeout_s=TIMEOUT_S)
    driver.connect()
    mark = len(peer.sent())
    driver.set_current_a(12.5)
    driver.set_power_w(2500.0)
    driver.set_resistance_ohm(28.8)
    driver.set_input(True)
    driver.safe_state()
    assert peer.sent()[mark:] == [
        "CURR 12.500",
        "SYST:ERR?",
        "MODE CURR",
        "SYST:ERR?",
        "POW 2500.0",
        "SYST:ERR?",
        "MODE POW",
        "SYST:ERR?",
        "RES 28.800",
        "SYST:ERR?",
        "MODE RES",
        "SYST:ERR?",
        "LOAD ON",
        "SYST:ERR?",
        "LOAD OFF",
        "SYST:ERR?",
    ]
    driver.close()


def test_replies_are_parsed(make_peer):
    peer = make_peer(
        {
            "LOAD?": "1",
            "MODE?": "POW",
            "MEAS:VOLT?": "239.8",
            "MEAS:CURR?": "10.42",
            "MEAS:POW?": "2498.7",
            "MEAS:POW:REAC?": "-35.1",
            "MEAS:FREQ?": "60.00",
        }
    )
    driver = Chroma63800(peer.address, timeout_s=TIMEOUT_S)
    driver.connect()
    assert driver.input_enabled() is True and driver.mode == "power"
    assert driver.measure() == PhaseReading(239.8, 10.42, 2498.7, -35.1, 60.0)
    driver.close()


@pytest.mark.parametrize(
    "call, value, match",
    [
        ("set_current_a", 25.0, "current_max_a = 20"),
        ("set_power_w", 4500.0, "power_max_w = 4000"),
        (
            "set_resistance_ohm",
            3.0,
            "resistance 3 ohm at voltage_max_v = 264 V: current setpoint 88 a is above current_max_a",
        ),
        ("set_resistance_ohm", 15.0, "power setpoint 4646.4 w is above power_max_w = 4000"),
    ],
)
def test_levels_beyond_the_safety_limits_send_nothing(make_peer, call, value, match):
    peer = make_peer()
    driver = Chroma63800(peer.address, safety=LIMITS, timeout_s=TIMEOUT_S)
    driver.connect()
    mark = len(peer.sent())
    with pytest.raises(SafetyLimitError, match=match) as info:
        getattr(driver, call)(value)
    assert "[instruments.load.safety]" in str(info.value) and peer.address in str(info.value)
    with pytest.raises(ValueError, match="positive"):
        driver.set_resistance_ohm(0.0)
    assert peer.sent()[mark:] == []
    driver.close()


def test_an_instrument_error_names_the_command(make_peer):
    peer = make_peer()
    peer.queue_error_after("CURR 19.000", '-222,"Data out of range"')
    driver = Chroma63800(peer.address, safety=LIMITS, timeout_s=TIMEOUT_S)
    driver.connect()
    with pytest.raises(InstrumentError, match="-222") as info:
        driver.set_current_a(19.0)
    assert info.value.command == "CURR 19.000"
    assert "MODE CURR" not in peer.sent()  # the mode is not changed after a refused level
    driver.close()


# -- against the emulator --------------------------------------------------------------------------


def test_modes_levels_and_input_reach_the_emulator(load, load_emulator):
    changes = []
    load_emulator.on_change = lambda: changes.append(
        (load_emulator.mode, load_emulator.setpoint, load_emulator.input_on)
    )
    load.set_power_w(1500.0)
    load.set_input(True)
    assert (load_emulator.mode, load_emulator.setpoint, load_emulator.input_on) == ("power", 1500.0, True)
    load.set_current_a(6.25)
    assert (load_emulator.mode, load_emulator.setpoint, load_emulator.power_w) == ("current", 6.25, 1500.0)
    load.set_resistance_ohm(52.9)
    assert (load_emulator.mode, load_emulator.setpoint) == ("resistance", 52.9)
    assert changes[-1] == ("resistance", 52.9, True) and changes[1] == ("power", 1500.0, False)
    assert load.mode == "resistance" and load.input_enabled()
    snap = load.snapshot()
    assert snap["model"] == "63803" and snap["power_setpoint_w"] == 1500.0 and snap["current_setpoint_a"] == 6.25
    load.measure()
    load.safe_state()
    assert load_emulator.input_on is False
    assert check_log(load_spec("chroma-63800"), load_emulator.command_log) == []  # all in the manual


def test_measure_reads_the_plant(load, load_emulator):
    assert load.measure() == PhaseReading(0.0, 0.0, 0.0, 0.0, 0.0)
    load_emulator.measurement_source = lambda: PhaseReading(240.1, 8.3, 1990.0, 12.0, 60.0)
    assert load.measure() == PhaseReading(240.1, 8.3, 1990.0, 12.0, 60.0)


def test_the_emulator_refuses_levels_beyond_its_rating(load_emulator):
    driver = Chroma63800(load_emulator.address, timeout_s=TIMEOUT_S)  # no safety limits: the instrument decides
    driver.connect()
    with pytest.raises(InstrumentError, match=r'-222,"Data out of range"') as info:
        driver.set_current_a(40.0)
    assert info.value.command == "CURR 40.000" and load_emulator.current_a == 0.0
    with pytest.raises(InstrumentError, match="-224"):
        driver.write("MODE RLC2")
    driver.close()


def test_emulator_accepts_the_optional_load_root_and_rejects_malformed_commands(load_emulator):
    with socket.create_connection(("127.0.0.1", load_emulator.port), timeout=2) as sock:
        sock.sendall(
            b"LOAD:CURR 3.5;:LOAD:MODE CURR;:LOAD:CURR?;:LOAD:MODE?\nPOW abc\nFOO\nSYST:ERR?\nSYST:ERR?\nSYST:ERR?\n"
        )
        data = b""
        while data.count(b"\n") < 4:
            data += sock.recv(4096)
    assert data.decode().splitlines() == [
        "3.5;CURR",
        '-104,"Data type error"',
        '-113,"Undefined header"',
        '0,"No error"',
    ]


def test_a_hung_load_times_out_naming_its_address(load, load_emulator):
    load_emulator.responding = False
    start = time.monotonic()
    with pytest.raises(InstrumentTimeout) as info:
        load.input_enabled()
    assert time.monotonic() - start < TIMEOUT_S + 1.0
    assert info.value.address == load_emulator.address and info.value.command == "LOAD?"


@pytest.fixture
def load_session(load_emulator):
    """A plain pyvisa session to the emulated load, as a lab's own script would open it."""
    import pyvisa

    inst = pyvisa.ResourceManager("@py").open_resource(
        load_emulator.address, read_termination="\n", write_termination="\n"
    )
    inst.timeout = 3000
    yield inst
    inst.close()


def test_every_load_mode_of_the_spec_is_accepted_and_read_back(load_emulator, load_session):
    modes = load_spec("chroma-63800").find("MODE").command.params[0].values
    replies = {}
    for mode in modes:
        load_session.write(f"MODE {mode}")
        replies[mode] = load_session.query("MODE?")
    errors = [load_session.query("SYST:ERR?") for _ in modes]  # one query per mode: each would have queued one
    assert errors == ['0,"No error"'] * len(modes)
    assert replies["VOLT"] == "VOLT" and replies["RLCP"] == "RLCPOW" and replies["RECT"] == "RECT"
    assert replies["2"] == "VOLT" and replies["3"] == "RES" and replies["7"] == "RECT"
    load_session.write("MODE RLC2")
    assert load_session.query("SYST:ERR?").startswith("-224,")
    assert load_session.query("MODE?") == "RECT"  # a refused mode leaves the mode as it was


def test_in_a_mode_the_plant_does_not_model_the_load_draws_the_last_programmed_power(load_emulator, load_session):
    load_session.write("POW 1200;:MODE INRUSH;:LOAD ON")
    assert load_session.query("SYST:ERR?") == '0,"No error"'
    assert (load_emulator.mode_token, load_emulator.mode, load_emulator.setpoint) == ("INRUSH", "power", 1200.0)
