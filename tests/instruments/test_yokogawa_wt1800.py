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
    assert yokogawa_emulator.items[1] == ("U", 1, None) and yokogawa_emulator.items[6] == ("LAMBda", 1, None)
    assert yokogawa_emulator.items[8] == ("UTHD", 1, None) and yokogawa_emulator.items[9] == ("ITHD", 1, None)
    assert yokogawa_emulator.items[16] == ("FU", 2, None) and yokogawa_emulator.items[18] == ("ITHD", 2, None)
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
    driver = YokogawaWT1800(yokogawa_emulator.address, options={"elements": [1, 3]}, timeout_s=1.0)
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
    driver = YokogawaWT1800(yokogawa_emulator.address, options=SETUP, timeout_s=1.0)
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
    driver = YokogawaWT1800(peer.address, options={"voltage_range_v": 300, "harmonics": False}, timeout_s=1.0)
    with pytest.raises(InstrumentError, match=r"voltage_range_v\[1\]: set 300.0, reads back 1000.0"):
        driver.connect()
    driver.close()


def test_without_harmonics_no_thd_is_read(yokogawa_emulator):
    driver = YokogawaWT1800(yokogawa_emulator.address, options={"harmonics": False}, timeout_s=1.0)
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
    driver = YokogawaWT1800(yokogawa_emulator.address, options={"elements": [2]}, timeout_s=1.0)
    component = InstrumentComponent(config, driver, 0.5, tmp_path / "bench.toml")
    component.start()
    values = component.channels()[0].read()
    assert values["pcc.thd_v_pct"] == 1.5 and values["pcc.thd_i_pct"] == 4.0
    assert abs(values["analyzer.instrument_time_s"] - time.time()) < 2.0
    assert component.snapshot()["settings"]["inputs"]["voltage_range_v"] == {2: 1000.0}
    component.close()


# -- harmonics as the WT1800 manual has them (items with an order, harmonic lists) -----------------

PLANT = ElementReading(230.0, 10.0, 2200.0, 300.0, 2300.0, 0.957, 50.0, voltage_thd_pct=3.0, current_thd_pct=8.0)


@pytest.fixture
def wt_session(yokogawa_emulator):
    """A plain pyvisa session to the emulated analyzer, headers off as a lab script sets them."""
    import pyvisa

    yokogawa_emulator.source = lambda: {1: PLANT}
    inst = pyvisa.ResourceManager("@py").open_resource(
        yokogawa_emulator.address, read_termination="\n", write_termination="\n"
    )
    inst.timeout = 3000
    inst.write(":COMMunicate:HEADer OFF")
    yield inst
    inst.close()


def numbers(reply: str) -> list[float]:
    return [float(v) for v in reply.split(",")]


def test_items_with_a_harmonic_order_read_a_spectrum_that_agrees_with_totals_and_thd(wt_session):
    wt_session.write(":NUM:NORM:NUMB 7;ITEM1 U,1;ITEM2 U,1,1;ITEM3 UTHD,1;ITEM4 I,1,1;ITEM5 ITHD,1")
    wt_session.write(":NUM:NORM:ITEM6 U,1,3;ITEM7 UHDF,1,1")
    assert wt_session.query(":STAT:ERR?") == '0,"No error"'
    assert wt_session.query(":NUM:NORM:ITEM2?") == "U,1,1"
    u, u1, uthd, i1, ithd, u3, uhdf1 = numbers(wt_session.query(":NUM:NORM:VAL?"))
    assert u == pytest.approx(230.0, rel=1e-4) and uthd == pytest.approx(3.0, rel=1e-4)
    # THD relative to order 1: total² = order 1² (1 + THD²)
    assert u1 * math.sqrt(1 + (uthd / 100) ** 2) == pytest.approx(u, rel=1e-5)
    assert i1 * math.sqrt(1 + (ithd / 100) ** 2) == pytest.approx(10.0, rel=1e-5)
    assert 0 < u3 < u1 * uthd / 100 and uhdf1 == pytest.approx(100.0)


def test_harmonic_lists_read_total_dc_and_each_order(wt_session):
    wt_session.write(":NUM:LIST:NUMB 2;ORD 50;SEL ALL;ITEM1 I,1;ITEM2 P,1")
    assert wt_session.query(":STAT:ERR?") == '0,"No error"'
    assert wt_session.query(":NUM:LIST:ITEM2?") == "P,1"
    values = numbers(wt_session.query(":NUM:LIST:VAL?"))
    current, power = values[:52], values[52:]
    assert len(values) == 2 * (2 + 50)  # per list: total, DC, orders 1..50
    assert current[0] == pytest.approx(10.0) and current[1] == 0.0 and current[2 + 1] == 0.0  # order 2: none
    assert math.sqrt(sum(v**2 for v in current[2:])) == pytest.approx(10.0, rel=1e-3)
    assert power[0] == pytest.approx(2200.0) and sum(power[2:]) == pytest.approx(2200.0, rel=1e-3)


def test_items_are_cleared_orders_checked_and_the_wt1600_harmonic_group_is_not_a_wt1800_command(wt_session):
    wt_session.write(":NUM:NORM:ITEM1 U,1,1;ITEM2 I,1")
    wt_session.write(":NUM:NORM:ITEM3 U,1,501")
    assert wt_session.query(":STAT:ERR?").startswith("222,")
    wt_session.write(":NUM:NORM:CLE 2")
    assert [wt_session.query(f":NUM:NORM:ITEM{k}?") for k in (1, 2)] == ["U,1,1", "NONE"]
    wt_session.write(":NUM:LIST:ITEM1 U,1;:NUM:LIST:CLE")
    assert wt_session.query(":NUM:LIST:ITEM1?") == "NONE"
    wt_session.write(":NUMeric:HARMonics:NUMBer 4")
    assert wt_session.query(":STAT:ERR?").startswith("113,")  # the manual's NUMeric group has no HARMonics


def test_upper_level_queries_read_every_item_setting_of_the_group(wt_session):
    wt_session.write(":NUM:NORM:NUMB 2;ITEM1 U,1,3;ITEM2 ITHD,1")
    wt_session.write(":NUM:LIST:NUMB 1;ORD 40;SEL ODD;ITEM1 I,1")
    assert wt_session.query(":STAT:ERR?") == '0,"No error"'
    assert wt_session.query(":NUM:NORM?") == "2;U,1,3;ITHD,1"
    assert wt_session.query(":NUM:LIST?") == "1;40;ODD;I,1"
    wt_session.write(":COMM:HEAD ON")
    assert wt_session.query(":NUMERIC:LIST?") == ":NUM:LIST:NUMB 1;ORD 40;SEL ODD;ITEM1 I,1"
