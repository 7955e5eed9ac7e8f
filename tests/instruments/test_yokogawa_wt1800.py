"""Yokogawa WT1800 driver against its emulator over VISA (pyvisa-py, TCPIP SOCKET)."""

from __future__ import annotations

import math
import socket
import time

import pytest

from flexbench.instruments.drivers.yokogawa_wt1800 import YokogawaWT1800
from flexbench.instruments.roles import ElementReading, InstrumentError, InstrumentTimeout


def raw_exchange(emulator, lines: list[str], expect_replies: int) -> list[str]:
    with socket.create_connection(("127.0.0.1", emulator.port), timeout=2) as sock:
        sock.sendall("".join(line + "\n" for line in lines).encode())
        data = b""
        while data.count(b"\n") < expect_replies:
            data += sock.recv(4096)
    return data.decode("latin-1").splitlines()


def test_connect_configures_the_item_list(yokogawa, yokogawa_emulator):
    assert yokogawa_emulator.header_on is False
    assert yokogawa_emulator.numeric_format == "ASCII"
    assert yokogawa_emulator.number == 14
    assert yokogawa_emulator.items[1] == ("U", 1) and yokogawa_emulator.items[6] == ("LAMBda", 1)
    assert yokogawa_emulator.items[14] == ("FU", 2)
    assert yokogawa.identity().manufacturer == "YOKOGAWA"


def test_each_read_is_one_query_of_the_plant(yokogawa, yokogawa_emulator):
    calls = []
    plant = {
        1: ElementReading(240.2, 41.0, 9800.0, 120.0, 9850.0, 0.995, 60.0),
        2: ElementReading(239.9, 33.0, 7800.0, -300.0, 7900.0, 0.987, 60.0),
    }

    def source():
        calls.append(1)
        return plant

    yokogawa_emulator.source = source
    before = len(yokogawa_emulator.command_log)
    reading = yokogawa.read()
    assert yokogawa_emulator.command_log.since(before) == [":NUMeric:NORMal:VALue?"]
    assert len(calls) == 1
    for element in (1, 2):
        got, want = reading.elements[element], plant[element]
        for field in ("voltage_v", "current_a", "power_w", "reactive_power_var", "apparent_power_va", "power_factor"):
            assert getattr(got, field) == pytest.approx(getattr(want, field), rel=1e-5)
    assert reading.instrument_time_s is None


def test_missing_and_overrange_values_read_as_nan(yokogawa, yokogawa_emulator):
    yokogawa_emulator.source = lambda: {1: ElementReading(math.inf, math.nan, 1.0, 0.0, 1.0, 1.0, 60.0)}
    reading = yokogawa.read()
    assert math.isnan(reading.elements[1].voltage_v) and math.isnan(reading.elements[1].current_a)
    assert all(math.isnan(v) for v in vars(reading.elements[2]).values())  # element 2 reported nothing


def test_without_a_plant_it_reads_zero_and_no_frequency(yokogawa):
    reading = yokogawa.read()
    assert reading.elements[1].power_w == 0.0 and math.isnan(reading.elements[1].frequency_hz)


def test_an_element_the_analyzer_lacks_is_an_instrument_error(yokogawa_emulator):
    driver = YokogawaWT1800(yokogawa_emulator.address, options={"elements": [1, 3]}, timeout_s=0.4)
    with pytest.raises(InstrumentError) as info:
        driver.connect()
    assert info.value.command == ":NUMeric:NORMal:ITEM8 U,3"
    assert '222,"Data out of range"' in str(info.value)
    driver.close()


def test_snapshot(yokogawa, yokogawa_emulator):
    snap = yokogawa.snapshot()
    assert snap["elements"] == [1, 2] and snap["numeric_format"] == "ASC"
    assert snap["serial"] == yokogawa_emulator.serial and len(snap["numeric_items"]) == 14
    yokogawa.safe_state()  # an analyzer has nothing to make safe; must not raise


def test_a_hung_analyzer_times_out(yokogawa, yokogawa_emulator):
    yokogawa_emulator.responding = False
    start = time.monotonic()
    with pytest.raises(InstrumentTimeout) as info:
        yokogawa.read()
    assert time.monotonic() - start < yokogawa.timeout_s + 1.0
    assert info.value.command == ":NUMeric:NORMal:VALue?" and info.value.address == yokogawa_emulator.address
    yokogawa_emulator.responding = True
    assert set(yokogawa.read().elements) == {1, 2}


@pytest.mark.parametrize("elements", [[], 1, [0], [7], [1, 1], ["1"]])
def test_bad_element_options_are_refused(elements):
    with pytest.raises(ValueError, match="elements"):
        YokogawaWT1800("TCPIP0::127.0.0.1::10001::SOCKET", options={"elements": elements})


# -- the emulator on its own ----------------------------------------------------------------------


def test_emulator_starts_with_headers_on_like_the_instrument(yokogawa_emulator):
    replies = raw_exchange(
        yokogawa_emulator,
        [":NUM:NORM:ITEM1 P,2", ":NUM:NORM:NUMB 1", ":NUM:NORM:ITEM1?", ":NUMERIC:NORMAL:VALUE?", ":STAT:ERR?"],
        expect_replies=3,
    )
    assert replies == [":NUM:NORM:ITEM1 P,2", ":NUM:NORM:VAL 0.00000E+00", ':STAT:ERR 0,"No error"']


def test_emulator_queues_yokogawa_errors(yokogawa_emulator):
    replies = raw_exchange(
        yokogawa_emulator,
        [
            ":COMM:HEAD OFF",
            ":NUM:NORM:ITEM1 X,1",
            ":NUM:NORM:ITEM1 U",
            ":NUM:NORM:NUMB 0",
            ":FOO",
            ":NUM:NORM:ITEM300 U,1",
        ]
        + [":STAT:ERR?"] * 6,
        expect_replies=6,
    )
    assert replies == [
        '224,"Illegal parameter value"',
        '109,"Missing parameter"',
        '222,"Data out of range"',
        '113,"Undefined header"',
        '114,"Header suffix out of range"',
        '0,"No error"',
    ]


def test_emulator_float_format_returns_a_binary_block(yokogawa_emulator):
    yokogawa_emulator.source = lambda: {
        1: ElementReading(1.5, 0, 0, 0, 0, 0, 0),
        2: ElementReading(0, 0, 0, 0, 0, 0, 0),
    }
    with socket.create_connection(("127.0.0.1", yokogawa_emulator.port), timeout=2) as sock:
        sock.sendall(b":COMM:HEAD OFF\n:NUM:FORM FLO\n:NUM:NORM:NUMB 1\n:NUM:NORM:ITEM1 U,1\n:NUM:NORM:VAL?\n")
        data = b""
        while len(data) < 7:
            data += sock.recv(64)
    assert data[:3] == b"#14" and data[3:7] == b"\x3f\xc0\x00\x00"  # 1.5 as IEEE 754 big-endian
