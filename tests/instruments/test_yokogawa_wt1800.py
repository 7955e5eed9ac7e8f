"""Yokogawa WT1800 driver against its emulator over VISA (pyvisa-py, TCPIP SOCKET)."""

from __future__ import annotations

import math
import socket
import time

import pytest

from flexbench.instruments.drivers.yokogawa_wt import READ_MESSAGE
from flexbench.instruments.drivers.yokogawa_wt1800 import YokogawaWT1800
from flexbench.instruments.roles import ElementReading, InstrumentError, InstrumentTimeout
from flexbench.instruments.specs import check_log, load_spec


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
    assert yokogawa_emulator.number == 18  # 7 functions and the voltage and current THD per element
    assert yokogawa_emulator.items[1] == ("U", 1) and yokogawa_emulator.items[6] == ("LAMBda", 1)
    assert yokogawa_emulator.items[8] == ("UTHD", 1) and yokogawa_emulator.items[9] == ("ITHD", 1)
    assert yokogawa_emulator.items[16] == ("FU", 2) and yokogawa_emulator.items[18] == ("ITHD", 2)
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
    assert yokogawa_emulator.command_log.since(before) == [READ_MESSAGE]
    assert len(calls) == 1
    for element in (1, 2):
        got, want = reading.elements[element], plant[element]
        for field in ("voltage_v", "current_a", "power_w", "reactive_power_var", "apparent_power_va", "power_factor"):
            assert getattr(got, field) == pytest.approx(getattr(want, field), rel=1e-5)
    assert abs(reading.instrument_time_s - time.time()) < 2.0  # the analyzer's clock, whole seconds


def test_missing_and_overrange_values_read_as_nan(yokogawa, yokogawa_emulator):
    yokogawa_emulator.source = lambda: {1: ElementReading(math.inf, math.nan, 1.0, 0.0, 1.0, 1.0, 60.0)}
    reading = yokogawa.read()
    assert math.isnan(reading.elements[1].voltage_v) and math.isnan(reading.elements[1].current_a)
    assert all(math.isnan(v) for v in vars(reading.elements[2]).values())  # element 2 reported nothing
    assert reading.elements[1].voltage_thd_pct == 0.0  # a plant without THD is a pure sine


def test_without_a_plant_it_reads_zero_and_no_frequency(yokogawa):
    reading = yokogawa.read()
    assert reading.elements[1].power_w == 0.0 and math.isnan(reading.elements[1].frequency_hz)


def test_an_element_the_analyzer_lacks_is_an_instrument_error(yokogawa_emulator):
    driver = YokogawaWT1800(yokogawa_emulator.address, options={"elements": [1, 3]}, timeout_s=0.4)
    with pytest.raises(InstrumentError) as info:
        driver.connect()
    assert info.value.command == ":NUMeric:NORMal:ITEM10 U,3"
    assert '222,"Data out of range"' in str(info.value)
    driver.close()


def test_snapshot(yokogawa, yokogawa_emulator):
    snap = yokogawa.snapshot()
    assert snap["elements"] == [1, 2] and snap["numeric_format"] == "ASC"
    assert snap["serial"] == yokogawa_emulator.serial and len(snap["numeric_items"]) == 18
    yokogawa.safe_state()  # an analyzer has nothing to make safe; must not raise


def test_a_hung_analyzer_times_out(yokogawa, yokogawa_emulator):
    yokogawa_emulator.responding = False
    start = time.monotonic()
    with pytest.raises(InstrumentTimeout) as info:
        yokogawa.read()
    assert time.monotonic() - start < yokogawa.timeout_s + 1.0
    assert info.value.command == READ_MESSAGE and info.value.address == yokogawa_emulator.address
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


# -- input set-up from the bench file -------------------------------------------------------------

SETUP = {
    "voltage_range_v": 300,
    "current_range_a": {"1": 20, "2": "auto"},
    "wiring": ["P1W2", "P1W2"],
    "sync_source": {"1": "U1", "2": "EXTernal"},
    "line_filter_hz": 1000,
}


def test_connect_sets_up_the_inputs_and_records_them(yokogawa_emulator):
    driver = YokogawaWT1800(yokogawa_emulator.address, options=SETUP, timeout_s=0.4)
    driver.connect()
    assert yokogawa_emulator.ranges["VOLTAGE"] == {1: 300.0, 2: 300.0}
    assert yokogawa_emulator.ranges["CURRENT"][1] == 20.0 and yokogawa_emulator.auto["CURRENT"] == {1: False, 2: True}
    assert yokogawa_emulator.sync_source == {1: "U1", 2: "EXT"} and yokogawa_emulator.line_filter_hz == {1: 1e3, 2: 1e3}
    inputs = driver.snapshot()["inputs"]
    assert inputs["voltage_range_v"] == {1: 300.0, 2: 300.0} and inputs["current_range_a"] == {1: 20.0, 2: "auto"}
    assert inputs["wiring"] == ["P1W2", "P1W2"] and inputs["line_filter_hz"] == {1: 1000.0, 2: 1000.0}
    assert inputs["update_period_s"] == 0.5  # not configured: what the analyzer had, recorded all the same
    assert driver.snapshot()["configured"] == [
        "voltage_range_v",
        "current_range_a",
        "wiring",
        "sync_source",
        "line_filter_hz",
    ]
    driver.read()
    assert check_log(load_spec("yokogawa-wt1800"), yokogawa_emulator.command_log) == []  # all in the manual
    driver.close()


def test_what_the_bench_does_not_set_is_read_back_as_found(yokogawa_emulator, yokogawa):
    inputs = yokogawa.snapshot()["inputs"]
    assert inputs["voltage_range_v"] == {1: 1000.0, 2: 1000.0} and inputs["sync_source"] == {1: "I1", 2: "I2"}
    assert inputs["line_filter_hz"] == {1: "off", 2: "off"} and yokogawa.snapshot()["configured"] == []
    assert not any(c.startswith(":INPut:") and not c.endswith("?") for c in yokogawa_emulator.command_log.since(0))


@pytest.mark.parametrize(
    "options, message",
    [
        ({"voltage_range_v": 400}, "option voltage_range_v: 400 is not a range of the model"),
        ({"current_range_a": {"3": 5}}, "option current_range_a: element 3 is not one the bench reads"),
        ({"wiring": "3P4W"}, "option wiring: '3P4W' is not one of P1W2, P1W3, P3W3, P3W4, V3A3"),
        ({"sync_source": "U7"}, "option sync_source: 'U7' is not one of"),
        ({"line_filter_hz": 150}, "option line_filter_hz: 150 Hz is not a line filter of the model"),
        ({"harmonics": "yes"}, "option harmonics must be true or false"),
    ],
)
def test_set_up_options_the_model_lacks_are_refused_before_connecting(options, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(")):
        YokogawaWT1800("TCPIP0::127.0.0.1::10001::SOCKET", options=options)


def test_a_setting_that_reads_back_otherwise_fails_the_connect(make_peer, wt_front_panel):
    replies = {"*IDN?": "YOKOGAWA,WT1804E,91M000001,F1.01", **wt_front_panel([1, 2])}
    peer = make_peer(replies, error_query=":STATus:ERRor?")  # takes every setting, keeps its 1000 V range
    driver = YokogawaWT1800(peer.address, options={"voltage_range_v": 300, "harmonics": False}, timeout_s=0.4)
    with pytest.raises(InstrumentError, match=r"voltage_range_v\[1\]: set 300.0, reads back 1000.0"):
        driver.connect()
    driver.close()


def test_without_harmonics_no_thd_is_read(yokogawa_emulator):
    driver = YokogawaWT1800(yokogawa_emulator.address, options={"harmonics": False}, timeout_s=0.4)
    driver.connect()
    assert yokogawa_emulator.number == 14
    assert driver.read().elements[1].voltage_thd_pct is None
    driver.close()


def test_emulator_accepts_the_manual_forms_of_the_input_set_up(yokogawa_emulator):
    replies = raw_exchange(
        yokogawa_emulator,
        [
            ":COMM:HEAD OFF",
            ":INP:VOLT:RANG:ELEM1 300V",
            ":INPUT:CURRENT:RANGE:ELEMENT2 500MA",
            ":INP:WIR P1W3",
            ":INP:SYNC:ELEM2 I1",
            ":INP:FILT:LINE:ELEM1 5.5KHZ",
            ":INP:VOLT:RANG:ELEM1?;:INP:CURR:RANG:ELEM2?;:INP:WIR?;:INP:SYNC:ELEM2?;:INP:FILT:ELEM1?",
            ":INP:VOLT:RANG:ELEM1 400V",
            ":INP:WIR P3W4",
            ":STAT:ERR?;:STAT:ERR?;:STAT:ERR?",
        ],
        expect_replies=2,
    )
    assert replies[0] == "3.000E+02;5.000E-01;P1W3;I1;5.5E+03"  # P1W3 takes both elements
    assert replies[1] == '222,"Data out of range";222,"Data out of range";0,"No error"'


def test_the_recorder_gets_thd_and_the_analyzer_time_as_channels(yokogawa_emulator, tmp_path):
    from flexbench.instruments.roles import SafetyLimits
    from flexbench.lab.bench_config import InstrumentConfig
    from flexbench.lab.station import InstrumentComponent

    yokogawa_emulator.source = lambda: {
        e: ElementReading(240.0, 10.0, 2400.0, 0.0, 2400.0, 1.0, 60.0, voltage_thd_pct=1.5, current_thd_pct=4.0)
        for e in (1, 2)
    }
    config = InstrumentConfig("analyzer", "power_analyzer", "yokogawa-wt1800", "x", 0.4, SafetyLimits(), {}, {"pcc": 2})
    driver = YokogawaWT1800(yokogawa_emulator.address, options={"elements": [2]}, timeout_s=0.4)
    component = InstrumentComponent(config, driver, 0.5, tmp_path / "bench.toml")
    component.start()
    values = component.channels()[0].read()
    assert values["pcc.thd_v_pct"] == 1.5 and values["pcc.thd_i_pct"] == 4.0
    assert abs(values["analyzer.instrument_time_s"] - time.time()) < 2.0
    assert component.snapshot()["settings"]["inputs"]["voltage_range_v"] == {2: 1000.0}
    component.close()
