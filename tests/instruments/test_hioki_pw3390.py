"""HIOKI PW3390 driver against its emulator over VISA (pyvisa-py, TCPIP SOCKET)."""

from __future__ import annotations

import math
import socket

import pytest

from flexbench.instruments.drivers.hioki_pw3390 import HiokiPW3390
from flexbench.instruments.emulators import HiokiPW3390Emulator
from flexbench.instruments.registry import driver_class
from flexbench.instruments.roles import ElementReading, InstrumentError, PowerAnalyzer
from flexbench.instruments.specs import check_log, load_spec

TIMEOUT_S = 1.0
PLANT = {
    1: ElementReading(230.0, 10.0, 2290.0, -120.0, 2300.0, 0.995, 50.0, voltage_thd_pct=1.2, current_thd_pct=3.5),
    3: ElementReading(231.0, 4.0, math.inf, 0.0, 924.0, 1.0, 50.0),
}


@pytest.fixture
def emulator():
    emu = HiokiPW3390Emulator(elements=(1, 3)).start()
    emu.source = lambda: PLANT
    yield emu
    emu.stop()


def test_connect_sets_the_ranges_reads_them_back_and_each_read_is_one_query(emulator):
    options = {"elements": [1, 3], "voltage_range_v": 300, "current_range_a": {"1": 50, "3": "auto"}}
    driver = HiokiPW3390(emulator.address, options=options, timeout_s=TIMEOUT_S)
    driver.connect()
    assert driver.front_panel["voltage_range_v"] == {1: 300.0, 3: 300.0}
    assert driver.front_panel["current_range_a"] == {1: 50.0, 3: "auto"}
    mark = len(emulator.command_log)
    reading = driver.read()
    assert emulator.command_log.since(mark) == [
        ":MEASure? Urms1,Irms1,P1,Q1,S1,PF1,FREQ1,Uthd1,Ithd1,Urms3,Irms3,P3,Q3,S3,PF3,FREQ3,Uthd3,Ithd3"
    ]
    one = reading.elements[1]
    assert (one.voltage_v, one.power_w, one.reactive_power_var, one.power_factor) == (230.0, 2290.0, -120.0, 0.995)
    assert (one.voltage_thd_pct, one.current_thd_pct) == (1.2, 3.5)
    assert math.isnan(reading.elements[3].power_w)  # over range: +9999.9E+99
    assert reading.elements[3].voltage_thd_pct == 0.0 and reading.instrument_time_s is None
    snap = driver.snapshot()
    assert snap["model"] == "PW3390" and snap["configured"] == ["voltage_range_v", "current_range_a"]
    assert check_log(load_spec("hioki-pw3390"), emulator.command_log) == []  # all in its spec
    driver.close()


def test_a_refused_setting_is_an_error_from_the_event_status_register(emulator):
    driver = HiokiPW3390(emulator.address, options={"current_range_a": 6000}, timeout_s=TIMEOUT_S)
    with pytest.raises(InstrumentError, match=r"\*ESR\? 16 \(execution error\)") as info:
        driver.connect()
    assert info.value.command == ":CURRent1:RANGe 6000"
    driver.close()


@pytest.mark.parametrize(
    "options, message",
    [
        ({"voltage_range_v": 400}, "option voltage_range_v: 400 is not a range of the model"),
        ({"elements": [5]}, "option elements: 5 is not a distinct channel number 1..4"),
        ({"update_period_s": 0.1}, "option update_period_s: the PW3390 updates every 0.05 s"),
        ({"sync_source": "U1"}, "option sync_source: the HIOKI PW3390 driver cannot set it"),
    ],
)
def test_options_the_model_lacks_are_refused(options, message):
    with pytest.raises(ValueError, match=message):
        HiokiPW3390("TCPIP0::127.0.0.1::3390::SOCKET", options=options)


def test_it_is_a_registered_power_analyzer():
    assert driver_class("hioki-pw3390") is HiokiPW3390 and issubclass(HiokiPW3390, PowerAnalyzer)


def test_emulator_answers_with_headers_until_they_are_off_and_flags_errors_in_esr(emulator):
    with socket.create_connection(("127.0.0.1", emulator.port), timeout=2) as sock:
        sock.sendall(b":MEAS? Urms1,P3\n:HEAD OFF\n:MEAS? URMS1\n:MEAS? Vrms1\n*ESR?\n:FOO\n*ESR?\n*ESR?\n")
        data = b""
        while data.count(b"\n") < 5:
            data += sock.recv(4096)
    assert data.decode().splitlines() == [
        "URMS1 +2.30000E+02,P3 +9999.9E+99",
        "+2.30000E+02",
        "16",  # an item the PW3390 does not have: execution error
        "32",  # an undefined header: command error
        "0",
    ]
