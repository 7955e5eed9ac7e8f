"""Chroma 61845 driver against its emulator over VISA (pyvisa-py, TCPIP SOCKET)."""

from __future__ import annotations

import socket
import threading
import time

import pytest

from flexbench.instruments.drivers.chroma_61845 import Chroma61845
from flexbench.instruments.emulators import ChromaGridEmulator
from flexbench.instruments.roles import (
    InstrumentError,
    InstrumentTimeout,
    PhaseReading,
    ProfileStep,
    SafetyLimitError,
    SafetyLimits,
)
from flexbench.instruments.specs import check_log, load_spec


def raw_exchange(emulator: ChromaGridEmulator, lines: list[str], expect_replies: int) -> list[str]:
    """Send raw lines as any SCPI client would and collect `expect_replies` reply lines."""
    with socket.create_connection(("127.0.0.1", emulator.port), timeout=2) as sock:
        sock.sendall("".join(line + "\n" for line in lines).encode())
        data = b""
        while data.count(b"\n") < expect_replies:
            data += sock.recv(4096)
    return data.decode().splitlines()


def test_identity_and_snapshot(chroma, chroma_emulator):
    ident = chroma.identity()
    assert (ident.manufacturer, ident.model) == ("Chroma ATE", "61845")
    chroma.set_voltage(240.0)
    chroma.set_frequency(60.0)
    snap = chroma.snapshot()
    assert snap["serial"] == chroma_emulator.serial and snap["firmware"] == chroma_emulator.firmware
    assert snap["voltage_v"] == [240.0, 240.0, 240.0]
    assert snap["frequency_hz"] == 60.0 and snap["output_enabled"] is False and snap["phases"] == 3


def test_setpoints_reach_the_emulator(chroma, chroma_emulator):
    chroma.set_voltage(240.0)
    chroma.set_voltage(228.5, phase=3)
    chroma.set_frequency(59.95)
    chroma.set_output(True)
    assert chroma_emulator.voltage_v == [240.0, 240.0, 228.5]
    assert chroma_emulator.frequency_hz == 59.95
    assert chroma_emulator.output_on is True
    assert chroma.output_enabled() is True
    assert chroma.voltages_v() == [240.0, 240.0, 228.5]


def test_safe_state_turns_the_output_off(chroma, chroma_emulator):
    chroma.set_output(True)
    chroma.safe_state()
    assert chroma_emulator.output_on is False


def test_measure_without_a_plant_reports_setpoints_and_zero_current(chroma):
    chroma.set_voltage(120.0)
    chroma.set_output(True)
    readings = chroma.measure()
    assert [r.voltage_v for r in readings] == [120.0] * 3
    assert all(r.current_a == 0.0 and r.power_w == 0.0 and r.frequency_hz == 60.0 for r in readings)


def test_measure_reads_the_plant_through_the_measurement_source(chroma, chroma_emulator):
    plant = [PhaseReading(240.0 + k, 10.0 * k, 2400.0 * k, -5.0 * k, 60.0) for k in (1, 2, 3)]
    chroma_emulator.measurement_source = lambda: plant
    assert chroma.measure() == plant


def test_on_change_fires_after_each_setpoint_or_output_change(chroma, chroma_emulator):
    seen: list[tuple[bool, list[float], float]] = []
    chroma_emulator.on_change = lambda: seen.append(
        (chroma_emulator.output_on, list(chroma_emulator.voltage_v), chroma_emulator.frequency_hz)
    )
    chroma.set_voltage(230.0)
    chroma.set_frequency(50.0 + 10.0)
    chroma.set_output(True)
    chroma.measure()
    # set_output(True): the relay closes (nothing live yet), then the power stage turns on
    assert seen == [(False, [230.0] * 3, 60.0)] * 3 + [(True, [230.0] * 3, 60.0)]


def test_instrument_error_surfaces_with_the_command(chroma_emulator):
    driver = Chroma61845(chroma_emulator.address, timeout_s=1.0)  # no safety limits: the instrument decides
    driver.connect()
    with pytest.raises(InstrumentError) as info:
        driver.set_voltage(350.0)
    assert info.value.command == "VOLT:AC 350.00"
    assert '-222,"Data out of range"' in str(info.value)
    assert chroma_emulator.voltage_v == [0.0, 0.0, 0.0]
    with pytest.raises(InstrumentError, match=r'-113,"Undefined header"') as info:
        driver.write("VOLT:DC 10")
    assert info.value.command == "VOLT:DC 10"
    driver.close()


def test_safety_limit_refuses_before_sending(chroma, chroma_emulator):
    before = len(chroma_emulator.command_log)
    with pytest.raises(SafetyLimitError) as info:
        chroma.set_voltage(270.0)
    assert "voltage_max_v = 264" in str(info.value)
    assert "lab/benches/test.toml [instruments.grid.safety]" in str(info.value)
    assert chroma_emulator.address in str(info.value)
    with pytest.raises(SafetyLimitError):
        chroma.set_frequency(65.0)
    with pytest.raises(SafetyLimitError):
        chroma.frequency_hz = 40.0
    assert len(chroma_emulator.command_log) == before
    assert chroma_emulator.voltage_v == [0.0, 0.0, 0.0] and chroma_emulator.frequency_hz == 60.0


def test_slew_limit_is_programmed_on_connect_and_enforced(chroma_emulator):
    limits = SafetyLimits(voltage_max_v=264.0, slew_max_v_per_s=50.0, source="bench")
    driver = Chroma61845(chroma_emulator.address, safety=limits, timeout_s=1.0)
    driver.connect()
    assert chroma_emulator.voltage_slew_v_per_s == 50.0
    driver.set_voltage_slew(20.0)
    assert chroma_emulator.voltage_slew_v_per_s == 20.0
    before = len(chroma_emulator.command_log)
    with pytest.raises(SafetyLimitError, match="slew_max_v_per_s"):
        driver.set_voltage_slew(500.0)
    assert len(chroma_emulator.command_log) == before
    driver.close()


def test_a_hung_instrument_times_out_naming_address_and_command(chroma, chroma_emulator):
    chroma_emulator.responding = False
    start = time.monotonic()
    with pytest.raises(InstrumentTimeout) as info:
        chroma.output_enabled()
    elapsed = time.monotonic() - start
    assert elapsed < chroma.timeout_s + 1.0
    assert info.value.address == chroma_emulator.address and info.value.command == "OUTP?"
    assert chroma_emulator.address in str(info.value)
    # A write that gets no answer to its error query times out too, naming the write.
    with pytest.raises(InstrumentTimeout) as info:
        chroma.set_output(False)
    assert info.value.command == "OUTP OFF"
    chroma_emulator.responding = True
    assert chroma.output_enabled() is False  # the next call reopens the session


def test_a_dropped_connection_is_reported_then_recovered(chroma, chroma_emulator):
    chroma.set_voltage(100.0)
    chroma_emulator.drop_connections()
    time.sleep(0.05)
    start = time.monotonic()
    with pytest.raises(InstrumentError, match="connection lost") as info:
        chroma.output_enabled()
    assert time.monotonic() - start < chroma.timeout_s  # seen at once, not waited out
    assert not isinstance(info.value, InstrumentTimeout) and info.value.address == chroma_emulator.address
    assert chroma.output_enabled() is False


def test_a_stopped_instrument_cannot_be_reached(chroma_emulator):
    driver = Chroma61845(chroma_emulator.address, timeout_s=1.0)
    chroma_emulator.stop()
    chroma_emulator.stop()  # idempotent
    with pytest.raises(InstrumentError) as info:
        driver.connect()
    assert info.value.address == driver.address


def test_the_driver_can_be_shared_between_threads(chroma, chroma_emulator):
    chroma_emulator.measurement_source = lambda: [PhaseReading(240.0, 1.0, 240.0, 0.0, 60.0)] * 3
    failures: list[BaseException] = []

    def poll():
        try:
            for _ in range(30):
                assert len(chroma.measure()) == 3
        except BaseException as exc:  # collected for the assertion below
            failures.append(exc)

    def program():
        try:
            for k in range(30):
                chroma.set_voltage(200.0 + k, phase=1 + k % 3)
        except BaseException as exc:
            failures.append(exc)

    threads = [threading.Thread(target=poll), threading.Thread(target=program)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert failures == []
    assert chroma_emulator.errors() == []


def test_driver_needs_a_visa_address_and_valid_options():
    with pytest.raises(ValueError, match="VISA"):
        Chroma61845("modbus+tcp://127.0.0.1:502/1")
    with pytest.raises(ValueError, match="phases"):
        Chroma61845("TCPIP0::127.0.0.1::5025::SOCKET", options={"phases": 2})


# -- the emulator on bad input, as a real instrument behaves ---------------------------------------


def test_emulator_queues_scpi_errors_for_bad_input(chroma_emulator):
    replies = raw_exchange(
        chroma_emulator,
        [
            "FOO:BAR 1",
            "VOLT:AC abc",
            "VOLT:AC",
            "VOLT:AC 301",
            "FREQ 20",
            "INST:NSEL 4",
            "OUTP MAYBE",
            "OUTP? 1",
            "SYST:ERR?",
            "SYST:ERR?",
            "SYST:ERR?",
            "SYST:ERR?",
            "SYST:ERR?",
            "SYST:ERR?",
            "SYST:ERR?",
            "SYST:ERR?",
            "SYST:ERR?",
        ],
        expect_replies=9,
    )
    assert replies == [
        '-113,"Undefined header"',
        '-104,"Data type error"',
        '-109,"Missing parameter"',
        '-222,"Data out of range"',
        '-222,"Data out of range"',
        '-222,"Data out of range"',
        '-224,"Illegal parameter value"',
        '-108,"Parameter not allowed"',
        '0,"No error"',
    ]
    assert chroma_emulator.voltage_v == [0.0, 0.0, 0.0] and chroma_emulator.frequency_hz == 60.0


def test_emulator_accepts_long_forms_and_compound_messages(chroma_emulator):
    replies = raw_exchange(
        chroma_emulator,
        [":SOURce:VOLTage:LEVel:IMMediate:AMPLitude:AC 120.5;:source:frequency 50", "VOLT:AC?;FREQ?", "*IDN?"],
        expect_replies=2,
    )
    assert replies[0] == "120.5;50"
    assert replies[1].startswith("Chroma ATE,61845,")


def test_unknown_queries_get_no_reply_only_an_error(chroma_emulator):
    replies = raw_exchange(chroma_emulator, ["MEAS:THD?", "SYST:ERR?"], expect_replies=1)
    assert replies == ['-113,"Undefined header"']


def test_command_log_is_stamped_with_the_injected_clock():
    class FixedClock:
        def now(self) -> float:
            return 1234.5

    emulator = ChromaGridEmulator(phases=1, clock=FixedClock()).start()
    try:
        raw_exchange(emulator, ["*IDN?"], expect_replies=1)
        (record,) = emulator.command_log.entries()
        assert (record.time_s, record.command) == (1234.5, "*IDN?")
    finally:
        emulator.stop()


def test_closing_one_driver_leaves_other_sessions_open(chroma, chroma_emulator, yokogawa):
    other = Chroma61845(chroma_emulator.address, timeout_s=1.0)
    other.connect()
    other.close()
    assert chroma.output_enabled() is False
    assert set(yokogawa.read().elements) == {1, 2}


def test_a_failing_plant_hook_is_a_device_error_not_a_dead_server(chroma, chroma_emulator, caplog):
    def broken():
        raise RuntimeError("plant exploded")

    chroma_emulator.measurement_source = broken
    with pytest.raises(InstrumentTimeout):
        chroma.measure()  # the query gets no reply
    assert chroma_emulator.errors() == ['-300,"Device-specific error"']
    assert "plant exploded" in caplog.text
    chroma_emulator.measurement_source = None
    chroma_emulator.clear_errors()  # else the next command's error check reports it
    assert len(chroma.measure()) == 3


# -- relay, phase mode and phase selection, as the instrument has them ---------------------------------


def test_output_on_closes_the_relay_first_and_off_opens_it_after(chroma, chroma_emulator):
    mark = len(chroma_emulator.command_log)
    chroma.set_output(True)
    assert chroma_emulator.relay_closed and chroma_emulator.power_stage_on and chroma_emulator.output_on
    assert chroma.output_enabled() is True
    chroma.safe_state()
    assert not chroma_emulator.relay_closed and not chroma_emulator.output_on
    sent = [c for c in chroma_emulator.command_log.since(mark) if not c.endswith("?")]
    assert sent == ["OUTP:RELAY ON", "OUTP ON", "OUTP OFF", "OUTP:RELAY OFF"]


def test_with_the_relay_open_the_terminals_measure_no_voltage(chroma_emulator):
    replies = raw_exchange(
        chroma_emulator,
        ["VOLT:AC 120", "OUTP ON", "MEAS:VOLT:AC?", "OUTP:RELAY ON", "MEAS:VOLT:AC?", "OUTP:REL?"],
        expect_replies=3,
    )
    assert replies == ["0", "120", "1"]
    assert chroma_emulator.errors() == []


def test_connect_programs_three_phase_independent_mode_whatever_the_front_panel_left(chroma_emulator):
    chroma_emulator.phase_mode = "SINGLE"  # as left on the front panel
    driver = Chroma61845(chroma_emulator.address, timeout_s=1.0)
    driver.connect()
    try:
        assert chroma_emulator.phase_mode == "THREE"
        assert raw_exchange(chroma_emulator, ["SOUR:PHAS:THREE?"], expect_replies=1) == ["INDEPEND"]
        driver.set_voltage(230.0, phase=2)
        driver.set_phase_angle(115.0, phase=2)
        assert chroma_emulator.voltage_v == [0.0, 230.0, 0.0]
    finally:
        driver.close()


def test_single_phase_mode_has_no_phase_angles_and_no_other_phase(chroma_emulator):
    raw_exchange(chroma_emulator, ["INST:PHAS SINGLE", "PHAS:P12 120", "INST:NSEL 2", "*OPC?"], expect_replies=1)
    assert [e.split(",")[0] for e in chroma_emulator.errors()] == ["-221", "-221"]


def test_all_phases_are_programmed_together_with_inst_edit_all(chroma, chroma_emulator):
    chroma.set_voltage(228.0, phase=3)
    mark = len(chroma_emulator.command_log)
    chroma.set_voltage(240.0)
    assert chroma_emulator.command_log.since(mark)[0] == "INST:EDIT ALL"
    assert chroma_emulator.voltage_v == [240.0] * 3


def test_fetch_queries_and_the_current_limit_are_accepted(chroma_emulator):
    replies = raw_exchange(
        chroma_emulator,
        ["VOLT:AC 120", "OUTP:REL ON;:OUTP ON", "FETC:VOLT:AC?", "SOUR:CURR:LIM 32.5", "SOUR:CURR:LIM?", "FETC:FREQ?"],
        expect_replies=3,
    )
    assert replies == ["120", "32.5", "60"]
    assert chroma_emulator.errors() == []


def test_the_driver_sends_only_what_the_models_spec_has(chroma, chroma_emulator):
    chroma.set_voltage(240.0)
    chroma.set_voltage(230.0, phase=2)
    chroma.set_frequency(60.0)
    chroma.set_voltage_slew(50.0)
    chroma.set_frequency_slew(2.0)
    chroma.set_phase_angle(120.0, phase=2)
    chroma.set_output(True)
    chroma.load_profile([ProfileStep(0.5, 230.0, 60.0), ProfileStep(0.5, (230.0, 220.0, 230.0), 60.5, ramp=True)])
    chroma.start_profile()
    chroma.profile_running()
    chroma.stop_profile()
    chroma.measure()
    chroma.snapshot()
    chroma.safe_state()
    assert chroma_emulator.errors() == []
    assert check_log(load_spec("chroma-61845"), chroma_emulator.command_log) == []
