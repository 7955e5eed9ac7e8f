"""Power analyzers beyond the WT1800: Yokogawa WT3000 and WT5000, ZES ZIMMER LMG600; streaming at
10 Hz or faster, successive updates, and the instrument's own time stamps."""

from __future__ import annotations

import itertools
import math
import socket
import time

import pytest

from flexbench.instruments.drivers.yokogawa_wt import READ_MESSAGE, YokogawaWT3000, YokogawaWT5000
from flexbench.instruments.drivers.zes_lmg import ZesLMG, parse_timestamp
from flexbench.instruments.emulators import YokogawaWT3000Emulator, YokogawaWT5000Emulator, ZesLMGEmulator
from flexbench.instruments.emulators.zes_lmg import format_timestamp
from flexbench.instruments.roles import ElementReading, InstrumentError, InstrumentTimeout
from flexbench.instruments.specs import check_log, load_spec

TIMEOUT_S = 1.0


def counting_source(elements=(1, 2)):
    """A plant whose power grows by 1 W per call, so every reading shows which update it came from."""
    counter = itertools.count(1)

    def source():
        n = float(next(counter))
        return {e: ElementReading(240.0, n / 240.0, n, 0.0, n, 1.0, 60.0) for e in elements}

    return source


# -- Yokogawa WT3000 / WT5000 ------------------------------------------------------------------


WT_MODELS = [(YokogawaWT3000, YokogawaWT3000Emulator), (YokogawaWT5000, YokogawaWT5000Emulator)]
WT_SETUP = {
    "voltage_range_v": {"1": 600, "2": "auto"},
    "current_range_a": {"1": 20, "2": "auto"},
    "wiring": ["P1W2", "P1W2"],
    "sync_source": "U1",
    "line_filter_hz": 1000,
    "update_period_s": 0.1,
}


@pytest.mark.parametrize("driver_cls, emulator_cls", WT_MODELS)
def test_wt_sends_only_what_its_models_spec_has(driver_cls, emulator_cls):
    with emulator_cls() as emulator:
        driver = driver_cls(emulator.address, options=WT_SETUP, timeout_s=TIMEOUT_S)
        driver.connect()
        driver.read()
        driver.snapshot()
        assert emulator.auto["CURRENT"] == {1: False, 2: True} and emulator.line_filter_hz == {1: 1e3, 2: 1e3}
        assert emulator.spec is not None and emulator.spec.name == driver.driver_name
        assert check_log(emulator.spec, emulator.command_log) == []  # every command in the model's spec
        driver.close()


@pytest.mark.parametrize("driver_cls, emulator_cls", WT_MODELS)
def test_wt_streams_successive_updates_at_10_hz_or_faster(driver_cls, emulator_cls):
    with emulator_cls() as emulator:
        emulator.source = counting_source()
        driver = driver_cls(emulator.address, options={"update_period_s": 0.05}, timeout_s=TIMEOUT_S)
        driver.connect()
        assert emulator.update_period_s == 0.05 and emulator.filter1 == "FALL"
        start = time.monotonic()
        readings = list(driver.stream(8))
        rate_hz = len(readings) / (time.monotonic() - start)
        assert rate_hz >= 10.0
        powers = [r.elements[1].power_w for r in readings]
        assert powers == sorted(set(powers))  # every read a new update, in order
        stamps = [r.instrument_time_s for r in readings]  # the analyzer's clock, whole seconds
        assert stamps == sorted(stamps) and abs(stamps[-1] - time.time()) < 2.0
        assert driver.snapshot()["update_period_s"] == 0.05
        driver.close()


def test_wt_connect_with_an_update_rate_sends_the_sync_setup(make_peer, wt_front_panel):
    replies = {"*IDN?": "YOKOGAWA,WT5000,91M000123,F1.02", ":STATus:EESR?": "0", **wt_front_panel([1, 2, 7])}
    peer = make_peer(replies, error_query=":STATus:ERRor?")
    driver = YokogawaWT5000(peer.address, options={"elements": [1, 2, 7], "update_period_s": 0.1}, timeout_s=TIMEOUT_S)
    driver.connect()
    commands = [c for c in peer.sent() if c != ":STATus:ERRor?" and not c.endswith("?")]
    assert commands[:4] == [":COMMunicate:HEADer OFF", "*CLS", ":NUMeric:FORMat ASCii", ":NUMeric:NORMal:NUMBer 27"]
    assert commands[-2:] == [":RATE 100MS", ":STATus:FILTer1 FALL"]
    assert driver.front_panel["update_period_s"] == 0.1 and driver.front_panel["sync_source"] == {
        1: "I1",
        2: "I2",
        7: "I7",
    }
    peer.replies[READ_MESSAGE] = ",".join(["1.0"] * 27) + ';"2025/11/03";"12:34:56"'
    mark = len(peer.sent())
    reading = driver.read()
    assert [c for c in peer.sent()[mark:] if c != ":STATus:ERRor?"] == [
        ":COMMunicate:WAIT 1",
        ":STATus:EESR?",
        READ_MESSAGE,
    ]
    assert reading.instrument_time_s == 1762173296.0  # 2025-11-03 12:34:56 UTC
    driver.close()


def test_wt_models_know_their_elements_and_rates():
    with pytest.raises(ValueError, match="1..4"):
        YokogawaWT3000("TCPIP0::127.0.0.1::5025::SOCKET", options={"elements": [5]})
    with pytest.raises(ValueError, match="not an update rate of the Yokogawa WT3000"):
        YokogawaWT3000("TCPIP0::127.0.0.1::5025::SOCKET", options={"update_period_s": 0.2})
    YokogawaWT5000("TCPIP0::127.0.0.1::5025::SOCKET", options={"elements": [7], "update_period_s": 0.01})


def test_wt_emulator_refuses_bad_rates_like_the_instrument():
    with YokogawaWT3000Emulator() as emulator:
        with socket.create_connection(("127.0.0.1", emulator.port), timeout=2) as sock:
            sock.sendall(b":COMM:HEAD OFF\n:RATE 200MS\n:RATE fast\n:STAT:ERR?\n:STAT:ERR?\n:STAT:ERR?\n")
            data = b""
            while data.count(b"\n") < 3:
                data += sock.recv(4096)
        assert data.decode().splitlines() == ['222,"Data out of range"', '104,"Data type error"', '0,"No error"']


def test_a_hung_wt_times_out_while_waiting_for_an_update():
    with YokogawaWT3000Emulator() as emulator:
        driver = YokogawaWT3000(emulator.address, options={"update_period_s": 0.05}, timeout_s=0.3)
        driver.connect()
        emulator.responding = False
        with pytest.raises(InstrumentTimeout) as info:
            driver.read()
        assert info.value.address == emulator.address
        driver.close()


# -- ZES LMG ---------------------------------------------------------------------------------------


def test_lmg_streams_cycles_with_the_instrument_time_stamps():
    with ZesLMGEmulator(elements=(1, 2, 3)) as emulator:
        emulator.source = counting_source((1, 2, 3))
        driver = ZesLMG(emulator.address, options={"elements": [1, 3], "cycle_s": 0.05}, timeout_s=TIMEOUT_S)
        driver.connect()
        assert emulator.language == "SHORT" and emulator.cycle_s == 0.05
        start = time.monotonic()
        readings = list(driver.stream(8))
        assert len(readings) / (time.monotonic() - start) >= 10.0
        stamps = [r.instrument_time_s for r in readings]
        steps = [b - a for a, b in zip(stamps, stamps[1:])]
        assert all(s == pytest.approx(round(s / 0.05) * 0.05, abs=1e-6) and s > 0 for s in steps)  # whole cycles
        assert abs(stamps[-1] - time.time()) < 1.0  # the emulator's clock is the wall clock here
        powers = [r.elements[3].power_w for r in readings]
        assert powers == sorted(set(powers)) and set(readings[0].elements) == {1, 3}
        assert driver.snapshot()["cycle_s"] == 0.05
        driver.close()


LMG_FRONT_PANEL = {"URNG1?": "1000", "UAUTO1?": "1", "IRNG1?": "32", "IAUTO1?": "1", "CYCL?": "0.05"}


def test_lmg_protocol_on_connect_and_read(make_peer):
    stamp = "2025:11:03D12:34:56.250000000"
    peer = make_peer({"*IDN?": "ZES ZIMMER,LMG670,LMG0042,2.0.56", **LMG_FRONT_PANEL}, error_query="ERRALL?")
    message = "INIM;TSNORM?;UTRMS1?;ITRMS1?;P1?;Q1?;S1?;PF1?;FCYC1?;HUHD1?;HIHD1?"
    peer.replies[message] = f"{stamp};230.1;4.2;960.0;-12.0;966.0;0.994;50.01;1.2;3.4"
    driver = ZesLMG(peer.address, options={"elements": [1]}, timeout_s=TIMEOUT_S)
    driver.connect()
    assert peer.sent()[:7] == ["*ZLANG SHORT", "*CLS", "ERRALL?", "FRMT ASCii", "ERRALL?", "CYCL 0.05", "ERRALL?"]
    assert driver.front_panel["voltage_auto"] == {1: True} and driver.front_panel["current_range_a"] == {1: 32.0}
    reading = driver.read()
    element = reading.elements[1]
    assert (element.voltage_v, element.current_a, element.power_w, element.reactive_power_var) == (
        230.1,
        4.2,
        960.0,
        -12.0,
    )
    assert (element.power_factor, element.frequency_hz) == (0.994, 50.01)
    assert (element.voltage_thd_pct, element.current_thd_pct) == (1.2, 3.4)
    assert reading.instrument_time_s == parse_timestamp(stamp)
    peer.replies[message] = "garbage"
    with pytest.raises(InstrumentError, match="expected 10 values, got 1"):
        driver.read()
    driver.close()


def test_lmg_sets_its_ranges_from_the_bench_file_and_records_them():
    with ZesLMGEmulator(elements=(1, 2)) as emulator:
        options = {"voltage_range_v": 240, "current_range_a": {"1": 20, "2": "auto"}}
        driver = ZesLMG(emulator.address, options=options, timeout_s=TIMEOUT_S)
        driver.connect()
        assert emulator.ranges["U"] == {1: 250.0, 2: 250.0} and emulator.auto["I"] == {1: False, 2: True}
        inputs = driver.snapshot()["inputs"]
        assert inputs["voltage_range_v"] == {1: 250.0, 2: 250.0}  # the smallest range that covers 240 V
        assert inputs["current_auto"] == {1: False, 2: True} and inputs["cycle_s"] == 0.05
        assert driver.read().elements[2].voltage_thd_pct == 0.0
        assert check_log(load_spec("zes-lmg"), emulator.command_log) == []  # all in the manual
        driver.close()


def test_lmg_refuses_a_range_beyond_its_inputs_and_options_it_cannot_set():
    with ZesLMGEmulator() as emulator:
        driver = ZesLMG(emulator.address, options={"voltage_range_v": 2000}, timeout_s=TIMEOUT_S)
        with pytest.raises(InstrumentError, match=r'-222,"Data out of range", command .URNG1 2000'):
            driver.connect()
        driver.close()
    with pytest.raises(ValueError, match="option wiring: the ZES ZIMMER LMG600 driver cannot set it"):
        ZesLMG("TCPIP0::127.0.0.1::5025::SOCKET", options={"wiring": "3P4W"})


def test_lmg_time_stamps_round_trip():
    t = 1762173296.123456789
    assert parse_timestamp(format_timestamp(t)) == pytest.approx(t, abs=1e-6)
    assert format_timestamp(0.5) == "1970:01:01D00:00:00.500000000"


def test_lmg_emulator_rejects_what_the_instrument_rejects():
    with ZesLMGEmulator() as emulator:
        with socket.create_connection(("127.0.0.1", emulator.port), timeout=2) as sock:
            # A short command in the SCPI language, then the switch, then a channel that is not installed.
            sock.sendall(b"UTRMS1?\nSYST:ERR?\n*ZLANG SHORT\nP5?\nCYCL 100\nERRALL?\n")
            data = b""
            while data.count(b"\n") < 2:
                data += sock.recv(4096)
        lines = data.decode().splitlines()
        assert lines == ['-113,"Undefined header"', '-114,"Header suffix out of range";-222,"Data out of range"']


def test_lmg_options_are_checked():
    with pytest.raises(ValueError, match="channel number 1..7"):
        ZesLMG("TCPIP0::127.0.0.1::5025::SOCKET", options={"elements": [8]})
    with pytest.raises(ValueError, match="cycle_s"):
        ZesLMG("TCPIP0::127.0.0.1::5025::SOCKET", options={"cycle_s": 0.001})
    assert math.isclose(parse_timestamp("2025:01:01D00:00:00"), 1735689600.0)
