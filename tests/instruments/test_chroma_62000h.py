"""Chroma 62000H solar array simulator: the exact commands the driver sends (scripted peer),
and the driver against its emulator over VISA."""

from __future__ import annotations

import socket
import time

import pytest

from flexbench.instruments.drivers.chroma_62000h import Chroma62000H
from flexbench.instruments.emulators import Chroma62000HEmulator
from flexbench.instruments.roles import (
    DCReading,
    InstrumentError,
    InstrumentTimeout,
    IVCurve,
    SafetyLimitError,
    SafetyLimits,
)
from flexbench.instruments.specs import check_log, load_spec

TIMEOUT_S = 1.0
LIMITS = SafetyLimits(
    voltage_max_v=950.0, current_max_a=14.5, power_max_w=11000.0, source="lab/benches/test.toml [instruments.pv.safety]"
)
CURVE = IVCurve(
    open_circuit_voltage_v=600.0, short_circuit_current_a=10.0, max_power_voltage_v=500.0, max_power_current_a=9.0
)


def raw_exchange(emulator, lines: list[str], expect_replies: int) -> list[str]:
    with socket.create_connection(("127.0.0.1", emulator.port), timeout=2) as sock:
        sock.sendall("".join(line + "\n" for line in lines).encode())
        data = b""
        while data.count(b"\n") < expect_replies:
            data += sock.recv(4096)
    return data.decode().splitlines()


@pytest.fixture
def pv_emulator():
    emulator = Chroma62000HEmulator().start()
    yield emulator
    emulator.stop()


@pytest.fixture
def pv(pv_emulator):
    driver = Chroma62000H(pv_emulator.address, safety=LIMITS, timeout_s=TIMEOUT_S)
    driver.connect()
    yield driver
    driver.close()


# -- expected protocol ------------------------------------------------------------------------


def test_set_curve_sends_one_coupled_message_then_trig(make_peer):
    peer = make_peer({"OUTP:MODE?": "SAS"})
    driver = Chroma62000H(peer.address, safety=LIMITS, timeout_s=TIMEOUT_S)
    driver.connect()
    assert peer.sent() == ["*CLS", "SYST:ERR?"]
    driver.set_curve(CURVE)
    assert peer.sent()[2:] == [
        "OUTP:MODE?",
        "SAS:VOC 600.000;:SAS:ISC 10.0000;:SAS:VMPP 500.000;:SAS:IMPP 9.0000",
        "SYST:ERR?",
        "TRIG",
        "SYST:ERR?",
    ]
    driver.close()


def test_output_on_selects_sas_mode_first_and_replies_parse(make_peer):
    peer = make_peer(
        {
            "OUTP:MODE?": "FIXED",
            "CONF:OUTP?": "ON",
            "SAS:VOC?": "6.000000e+02",
            "SAS:ISC?": "1.0e+01",
            "SAS:VMPP?": "5.0e+02",
            "SAS:IMPP?": "9.0e+00",
            "MEAS:VOLT?": "512.3",
            "MEAS:CURR?": "8.91",
            "MEAS:POW?": "4564.6",
        }
    )
    driver = Chroma62000H(peer.address, timeout_s=TIMEOUT_S)
    driver.connect()
    mark = len(peer.sent())
    driver.set_output(True)
    driver.safe_state()
    assert peer.sent()[mark:] == [
        "OUTP:MODE?",
        "OUTP:MODE SAS",
        "SYST:ERR?",
        "CONF:OUTP ON",
        "SYST:ERR?",
        "CONF:OUTP OFF",
        "SYST:ERR?",
    ]
    assert driver.output_enabled() is True
    assert driver.curve() == CURVE
    assert driver.measure() == DCReading(512.3, 8.91, 4564.6)
    driver.close()


def test_a_refused_curve_surfaces_with_the_command(make_peer):
    peer = make_peer({"OUTP:MODE?": "SAS"})
    message = "SAS:VOC 600.000;:SAS:ISC 10.0000;:SAS:VMPP 500.000;:SAS:IMPP 9.0000"
    peer.queue_error_after(message, '-221,"Settings conflict"')
    driver = Chroma62000H(peer.address, timeout_s=TIMEOUT_S)
    driver.connect()
    with pytest.raises(InstrumentError, match="Settings conflict") as info:
        driver.set_curve(CURVE)
    assert info.value.command == message and "TRIG" not in peer.sent()
    driver.close()


@pytest.mark.parametrize(
    "curve, match",
    [
        (IVCurve(960.0, 10.0, 800.0, 9.0), "voltage_max_v = 950"),
        (IVCurve(600.0, 15.0, 500.0, 14.0), "current_max_a = 14.5"),
        (IVCurve(900.0, 14.0, 850.0, 13.5), "power_max_w = 11000"),
    ],
)
def test_curves_beyond_the_safety_limits_send_nothing(make_peer, curve, match):
    peer = make_peer({"OUTP:MODE?": "SAS"})
    driver = Chroma62000H(peer.address, safety=LIMITS, timeout_s=TIMEOUT_S)
    driver.connect()
    mark = len(peer.sent())
    with pytest.raises(SafetyLimitError, match=match) as info:
        driver.set_curve(curve)
    assert "[instruments.pv.safety]" in str(info.value) and peer.address in str(info.value)
    assert peer.sent()[mark:] == []
    driver.close()


@pytest.mark.parametrize(
    "curve, match",
    [
        (IVCurve(500.0, 10.0, 600.0, 9.0), "Vmp < Voc"),
        (IVCurve(600.0, 9.0, 500.0, 9.5), "Imp < Isc"),
        (IVCurve(600.0, 10.0, 0.0, 9.0), "0 < Vmp"),
    ],
)
def test_inconsistent_curves_are_refused_before_sending(make_peer, curve, match):
    peer = make_peer({"OUTP:MODE?": "SAS"})
    driver = Chroma62000H(peer.address, timeout_s=TIMEOUT_S)
    driver.connect()
    mark = len(peer.sent())
    with pytest.raises(ValueError, match=match):
        driver.set_curve(curve)
    assert peer.sent()[mark:] == []
    driver.close()


# -- against the emulator --------------------------------------------------------------------------


def test_identity_curve_output_and_snapshot(pv, pv_emulator):
    assert pv.identity().model == "62150H-1000S"
    changes = []
    pv_emulator.on_change = lambda: changes.append((pv_emulator.output_on, pv_emulator.curve))
    pv.set_curve(CURVE)
    pv.set_output(True)
    assert pv_emulator.curve == CURVE and pv_emulator.output_on and pv_emulator.triggers == 1
    assert pv.curve() == CURVE and pv.output_enabled()
    assert changes == [(False, CURVE), (True, CURVE)]
    snap = pv.snapshot()
    assert snap["output_mode"] == "SAS" and snap["open_circuit_voltage_v"] == 600.0 and snap["output_enabled"] is True
    pv.measure()
    pv.safe_state()
    assert pv_emulator.output_on is False
    assert check_log(load_spec("chroma-62000h"), pv_emulator.command_log) == []  # all in the manual


def test_measure_open_circuit_then_through_the_plant(pv, pv_emulator):
    assert pv.measure() == DCReading(0.0, 0.0, 0.0)
    pv.set_output(True)
    assert pv.measure().voltage_v == pytest.approx(pv_emulator.curve.open_circuit_voltage_v)
    pv_emulator.measurement_source = lambda: DCReading(755.0, 13.2, 9966.0)
    assert pv.measure() == DCReading(755.0, 13.2, 9966.0)


def test_the_emulator_checks_the_curve_at_the_message_terminator(pv_emulator):
    driver = Chroma62000H(pv_emulator.address, timeout_s=TIMEOUT_S)  # no safety limits: the instrument decides
    driver.connect()
    before = pv_emulator.curve
    # Vmp above Voc passes the driver only if written one parameter at a time.
    with pytest.raises(InstrumentError, match=r'-221,"Settings conflict"') as info:
        driver.write("SAS:VMPP 950")
    assert info.value.command == "SAS:VMPP 950" and pv_emulator.curve == before
    with pytest.raises(InstrumentError, match=r'-222,"Data out of range"'):
        driver.set_curve(IVCurve(1200.0, 10.0, 1000.0, 9.0))  # beyond the 1000 V rating
    assert pv_emulator.curve == before
    driver.close()


def test_mode_change_while_the_output_is_on_is_a_settings_conflict(pv, pv_emulator):
    pv.set_output(True)
    with pytest.raises(InstrumentError, match="-221") as info:
        pv.write("OUTP:MODE FIXED")
    assert info.value.command == "OUTP:MODE FIXED" and pv_emulator.mode == "SAS"


def test_emulator_queues_errors_for_malformed_commands(pv_emulator):
    replies = raw_exchange(
        pv_emulator,
        [
            "SAS:VOC abc",
            "SAS:ISC",
            "CONF:OUTP MAYBE",
            "SAS:FOO 1",
            "SYST:ERR?",
            "SYST:ERR?",
            "SYST:ERR?",
            "SYST:ERR?",
            "SYST:ERR?",
        ],
        expect_replies=5,
    )
    assert replies == [
        '-104,"Data type error"',
        '-109,"Missing parameter"',
        '-224,"Illegal parameter value"',
        '-113,"Undefined header"',
        '0,"No error"',
    ]


def test_a_hung_instrument_times_out_naming_its_address(pv, pv_emulator):
    pv_emulator.responding = False
    start = time.monotonic()
    with pytest.raises(InstrumentTimeout) as info:
        pv.measure()
    assert time.monotonic() - start < TIMEOUT_S + 1.0
    assert info.value.address == pv_emulator.address and info.value.command == "MEAS:VOLT?"
    pv_emulator.responding = True
    assert pv.output_enabled() is False
