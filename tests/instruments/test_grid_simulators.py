"""Every grid simulator (Chroma 61845, AMETEK RS and MX, NHR 9410, Pacific AFX): the role's
behaviour against each emulator over VISA, profiles on an injected clock, and the exact
commands each driver sends (scripted peer)."""

from __future__ import annotations

import math
import time

import pytest

from flexbench.instruments.drivers.ametek_ci import AmetekMX, AmetekRS
from flexbench.instruments.drivers.chroma_61845 import Chroma61845
from flexbench.instruments.drivers.nhr_9410 import NHR9410
from flexbench.instruments.drivers.pacific_afx import PacificAFX
from flexbench.instruments.emulators import (
    AmetekMXEmulator,
    AmetekRSEmulator,
    ChromaGridEmulator,
    NHR9410Emulator,
    PacificAFXEmulator,
)
from flexbench.instruments.roles import (
    InstrumentError,
    InstrumentTimeout,
    PhaseReading,
    ProfileStep,
    SafetyLimitError,
    SafetyLimits,
)
from flexbench.instruments.specs import check_log, load_spec

TIMEOUT_S = 1.0
LIMITS = SafetyLimits(
    voltage_min_v=0.0,
    voltage_max_v=264.0,
    frequency_min_hz=57.0,
    frequency_max_hz=63.0,
    slew_max_v_per_s=100.0,
    source="lab/benches/test.toml [instruments.grid.safety]",
)
MODELS = {
    "chroma-61845": (Chroma61845, ChromaGridEmulator),
    "ametek-rs": (AmetekRS, AmetekRSEmulator),
    "ametek-mx": (AmetekMX, AmetekMXEmulator),
    "nhr-9410": (NHR9410, NHR9410Emulator),
    "pacific-afx": (PacificAFX, PacificAFXEmulator),
}


class ManualClock:
    def __init__(self) -> None:
        self.t = 1000.0

    def now(self) -> float:
        return self.t


def _connected(driver_cls, emulator_cls):
    """A driver connected to its emulator on a manual clock: (driver, emulator, clock), closed after the test."""
    clock = ManualClock()
    emulator = emulator_cls(clock=clock).start()
    driver = driver_cls(emulator.address, safety=LIMITS, timeout_s=TIMEOUT_S)
    driver.connect()
    yield driver, emulator, clock
    driver.close()
    emulator.stop()


@pytest.fixture(params=sorted(MODELS))
def grid(request):
    yield from _connected(*MODELS[request.param])


# -- the role against each emulator ---------------------------------------------------------------


def test_voltage_frequency_output_and_snapshot(grid):
    driver, emulator, _ = grid
    changes = []
    emulator.on_change = lambda: changes.append(emulator.output_on)
    driver.set_voltage(240.0)
    driver.set_voltage(230.5, phase=3)
    driver.set_frequency(59.95)
    driver.set_output(True)
    assert emulator.voltage_v == [240.0, 240.0, 230.5] and emulator.frequency_hz == 59.95
    assert emulator.output_on and driver.output_enabled() and changes and changes[-1] is True
    assert driver.voltages_v() == [240.0, 240.0, 230.5]
    snap = driver.snapshot()
    assert snap["voltage_v"] == [240.0, 240.0, 230.5] and snap["frequency_hz"] == 59.95
    assert snap["serial"] == emulator.serial and snap["output_enabled"] is True
    driver.safe_state()
    assert emulator.output_on is False


def test_phase_angles(grid):
    driver, emulator, _ = grid
    driver.set_phase_angle(100.0, phase=2)
    driver.set_phase_angle(-120.0, phase=3)  # the same as 240
    assert emulator.phase_angle_deg == [0.0, 100.0, 240.0]
    assert driver.snapshot()["phase_angles_deg"] == [0.0, 100.0, 240.0]
    with pytest.raises(ValueError, match="phase 1 is the reference"):
        driver.set_phase_angle(10.0, phase=1)
    with pytest.raises(ValueError, match="phase must be 1..3"):
        driver.set_phase_angle(10.0, phase=4)


def test_slew_rates_where_the_instrument_has_them(grid):
    driver, emulator, _ = grid
    if isinstance(driver, PacificAFX):
        with pytest.raises(NotImplementedError, match="Pacific Power AFX driver has no voltage slew"):
            driver.set_voltage_slew(10.0)
        return
    assert emulator.voltage_slew_v_per_s == 100.0  # the bench's slew limit, programmed on connect
    driver.set_voltage_slew(20.0)
    driver.set_frequency_slew(0.5)
    assert (emulator.voltage_slew_v_per_s, emulator.frequency_slew_hz_per_s) == (20.0, 0.5)
    with pytest.raises(SafetyLimitError, match="slew_max_v_per_s = 100"):
        driver.set_voltage_slew(500.0)


def test_measure_reads_the_plant(grid):
    driver, emulator, _ = grid
    plant = [PhaseReading(240.0 + k, 10.0 * k, 2400.0 * k, -5.0 * k, 60.0) for k in (1, 2, 3)]
    emulator.measurement_source = lambda: plant
    readings = driver.measure()
    assert [(r.voltage_v, r.current_a, r.power_w, r.frequency_hz) for r in readings] == [
        (p.voltage_v, p.current_a, p.power_w, p.frequency_hz) for p in plant
    ]
    if isinstance(driver, PacificAFX):
        assert all(math.isnan(r.reactive_power_var) for r in readings)
    else:
        assert [r.reactive_power_var for r in readings] == [-5.0, -10.0, -15.0]


def test_setpoints_beyond_the_safety_limits_send_nothing(grid):
    driver, emulator, _ = grid
    before = len(emulator.command_log)
    with pytest.raises(SafetyLimitError) as info:
        driver.set_voltage(270.0, phase=2)
    assert "voltage_max_v = 264" in str(info.value) and "[instruments.grid.safety]" in str(info.value)
    assert emulator.address in str(info.value)
    with pytest.raises(SafetyLimitError, match="frequency_max_hz = 63"):
        driver.set_frequency(65.0)
    with pytest.raises(SafetyLimitError, match="not a finite number"):
        driver.set_voltage(float("nan"))
    assert len(emulator.command_log) == before


def test_an_instrument_error_surfaces_with_the_command(grid):
    driver, emulator, _ = grid
    bare = type(driver)(emulator.address, timeout_s=TIMEOUT_S)  # no safety limits: the instrument decides
    bare.connect()
    with pytest.raises(InstrumentError, match='-222,"Data out of range"') as info:
        bare.set_voltage(400.0, phase=1)
    assert "400.00" in info.value.command and info.value.address == emulator.address
    with pytest.raises(InstrumentError, match="-113") as info:
        bare.write("FLEXbench:UNDEFined 10")  # a header no model defines
    assert info.value.command == "FLEXbench:UNDEFined 10"
    bare.close()


def test_a_hung_instrument_times_out_naming_its_address(grid):
    driver, emulator, _ = grid
    emulator.responding = False
    start = time.monotonic()
    with pytest.raises(InstrumentTimeout) as info:
        driver.output_enabled()
    assert time.monotonic() - start < TIMEOUT_S + 1.0
    assert info.value.address == emulator.address and info.value.command.lstrip(":") == "OUTP?"
    emulator.responding = True
    assert driver.output_enabled() is False


def test_a_profile_steps_ramps_and_ends_on_the_instrument_clock(grid):
    driver, emulator, clock = grid
    driver.set_voltage(240.0)
    driver.set_frequency(60.0)
    driver.set_output(True)
    driver.load_profile([ProfileStep(2.0, 250.0, 60.0), ProfileStep(4.0, 200.0, 59.5, ramp=True)])
    assert emulator.voltage_v == [240.0] * 3  # loading runs nothing
    driver.start_profile()
    assert emulator.profile_running
    if not isinstance(driver, PacificAFX):  # the UPC reports no transient state: its driver keeps time itself
        assert driver.profile_running()
    clock.t += 1.0
    assert emulator.voltage_v == pytest.approx([250.0] * 3)
    clock.t += 3.0  # two seconds into the four-second ramp
    assert emulator.voltage_v == pytest.approx([225.0] * 3, abs=0.5)
    assert emulator.frequency_hz == pytest.approx(59.75, abs=0.01)
    clock.t += 3.0
    assert not emulator.profile_running
    if isinstance(driver, PacificAFX):  # its transient ends by restoring the program's steady state
        assert emulator.voltage_v == [240.0] * 3 and emulator.frequency_hz == 60.0
    else:
        assert driver.profile_running() is False
        assert emulator.voltage_v == pytest.approx([200.0] * 3) and emulator.frequency_hz == pytest.approx(59.5)


def test_a_profile_can_be_stopped(grid):
    driver, emulator, clock = grid
    driver.set_voltage(240.0)
    driver.set_output(True)
    driver.load_profile([ProfileStep(5.0, 220.0, 60.0), ProfileStep(5.0, 230.0, 60.0)])
    driver.start_profile()
    clock.t += 1.0
    driver.stop_profile()
    assert not emulator.profile_running


def test_profile_points_per_phase(grid):
    driver, emulator, clock = grid
    driver.set_voltage(240.0)
    driver.set_output(True)
    driver.load_profile([ProfileStep(1.0, (240.0, 200.0, 240.0), 60.0)])  # a dip on phase 2
    driver.start_profile()
    clock.t += 0.5
    assert emulator.voltage_v == pytest.approx([240.0, 200.0, 240.0])


@pytest.mark.parametrize(
    "steps, error, match",
    [
        ([ProfileStep(1.0, 270.0, 60.0)], SafetyLimitError, "voltage_max_v = 264"),
        ([ProfileStep(1.0, 240.0, 66.0)], SafetyLimitError, "frequency_max_hz = 63"),
        (
            [ProfileStep(0.2, 200.0, 60.0, ramp=True)],
            SafetyLimitError,
            "slew setpoint 200 v_per_s is above slew_max_v_per_s",
        ),
        ([ProfileStep(0.0, 240.0, 60.0)], ValueError, "duration_s must be positive"),
        ([ProfileStep(1.0, (240.0, 240.0), 60.0)], ValueError, "2 voltages for 3 phases"),
        ([], ValueError, "at least one step"),
    ],
)
def test_bad_profiles_send_nothing(grid, steps, error, match):
    driver, emulator, _ = grid
    driver.set_voltage(240.0)
    before = len(emulator.command_log)
    with pytest.raises(error, match=match):
        driver.load_profile(steps)
    # Only what reads the present setpoints went out (queries, and phase selection where needed).
    assert all("?" in c or c.startswith("INST:NSEL") for c in emulator.command_log.since(before))


def test_every_command_the_driver_sends_is_in_its_models_spec(grid, request):
    driver, emulator, clock = grid
    driver.set_voltage(240.0)
    driver.set_voltage(230.0, phase=2)
    driver.set_frequency(60.0)
    driver.set_phase_angle(120.0, phase=2)
    if not isinstance(driver, PacificAFX):
        driver.set_voltage_slew(50.0)
        driver.set_frequency_slew(1.0)
    driver.set_output(True)
    driver.measure()
    driver.snapshot()
    driver.load_profile([ProfileStep(1.0, 220.0, 59.5), ProfileStep(1.0, (240.0, 235.0, 240.0), 60.0, ramp=True)])
    driver.start_profile()
    driver.profile_running()
    clock.t += 0.5
    driver.stop_profile()
    driver.safe_state()
    name = request.node.callspec.params["grid"]
    assert check_log(load_spec(name), emulator.command_log) == []


def test_drivers_without_profiles_in_their_role_say_so():
    from flexbench.instruments.roles import GridSimulator

    class Bare(GridSimulator):
        model = "Bare"

        def connect(self): ...
        def close(self): ...
        def identity(self): ...
        def snapshot(self): ...
        def set_voltage(self, voltage_v, phase=None): ...
        def set_frequency(self, frequency_hz): ...
        def set_output(self, enabled): ...
        def output_enabled(self): ...
        def measure(self): ...

    with pytest.raises(NotImplementedError, match="Bare driver has no list"):
        Bare("TCPIP0::127.0.0.1::5025::SOCKET").load_profile([])


# -- expected protocol per model ----------------------------------------------------------------------------


def _connect(cls, peer, **kwargs):
    driver = cls(peer.address, timeout_s=TIMEOUT_S, **kwargs)
    driver.connect()
    return driver


def sent_commands(peer, since: int) -> list[str]:
    return [c for c in peer.sent()[since:] if c != "SYST:ERR?"]


def test_ametek_protocol(make_peer):
    peer = make_peer(
        {
            "MEAS:VOLT:AC?": "240.1",
            "MEAS:CURR:AC?": "1.5",
            "MEAS:POW:AC?": "360.2",
            "MEAS:POW:AC:REAC?": "-3.0",
            "MEAS:FREQ?": "60.00",
            "TRIG:STAT?": "BUSY",
            "VOLT:AC?": "240.00",
            "FREQ?": "60.000",
        }
    )
    driver = _connect(AmetekRS, peer)
    assert peer.sent() == ["*CLS", "SYST:ERR?"]
    mark = len(peer.sent())
    driver.set_voltage(230.0, phase=2)
    driver.set_phase_angle(240.0, phase=3)
    assert sent_commands(peer, mark) == [
        "INST:COUP NONE",
        "INST:NSEL 2",
        "VOLT:AC 230.00",
        "INST:COUP NONE",
        "INST:NSEL 3",
        "PHAS 240.00",
    ]
    mark = len(peer.sent())
    reading = driver.measure()[0]
    assert (reading.voltage_v, reading.reactive_power_var) == (240.1, -3.0)
    assert sent_commands(peer, mark)[:6] == [
        "INST:NSEL 1",
        "MEAS:VOLT:AC?",
        "MEAS:CURR:AC?",
        "MEAS:POW:AC?",
        "MEAS:POW:AC:REAC?",
        "MEAS:FREQ?",
    ]
    mark = len(peer.sent())
    driver.load_profile([ProfileStep(0.5, 200.0, 60.0), ProfileStep(2.0, 240.0, 61.0, ramp=True)])
    assert [c for c in sent_commands(peer, mark) if "?" not in c and not c.startswith("INST:NSEL")] == [
        "ABOR",
        "TRIG:TRAN:SOUR IMM",
        "LIST:STEP AUTO",
        "LIST:COUN 1",
        "FREQ:MODE LIST",
        "VOLT:MODE LIST",
        "LIST:DWEL 0.500,2.000,0.001",  # a short last point keeps TRIG:STAT? BUSY to the end
        "LIST:FREQ 60.000,61.000,61.000",
        "LIST:FREQ:SLEW MAX,0.500,MAX",
        "INST:COUP ALL",
        "LIST:VOLT 200.00,240.00,240.00",
        "LIST:VOLT:SLEW MAX,20.000,MAX",
    ]
    driver.start_profile()
    assert driver.profile_running() is True
    assert sent_commands(peer, len(peer.sent()) - 3) == ["INIT", "TRIG:STAT?"]
    driver.close()


def test_ametek_emulator_turns_idle_when_the_last_point_is_executed_not_at_its_dwells_end():
    clock = ManualClock()
    with AmetekRSEmulator(clock=clock) as emulator:
        driver = AmetekRS(emulator.address, timeout_s=TIMEOUT_S)
        driver.connect()
        driver.set_voltage(240.0)
        driver.set_output(True)
        for command in ("VOLT:MODE LIST", "FREQ:MODE LIST", "LIST:DWEL 2,3", "LIST:FREQ 60,60"):
            driver.write(command)
        for command in ("LIST:FREQ:SLEW MAX,MAX", "LIST:VOLT 250,230", "LIST:VOLT:SLEW MAX,MAX", "INIT"):
            driver.write(command)
        clock.t += 1.0
        assert driver.query("TRIG:STAT?") == "BUSY"
        clock.t += 1.5  # in the last point's dwell: a step, executed as it began
        assert driver.query("TRIG:STAT?") == "IDLE" and emulator.profile_running
        assert emulator.voltage_v == [230.0] * 3
        driver.close()


def test_ametek_driver_keeps_the_list_running_for_its_whole_dwell(grid_clock_ametek):
    driver, emulator, clock = grid_clock_ametek
    driver.set_voltage(240.0)
    driver.set_output(True)
    driver.load_profile([ProfileStep(2.0, 250.0, 60.0), ProfileStep(3.0, 230.0, 60.0)])
    driver.start_profile()
    clock.t += 2.5  # half-way through the last step's dwell
    assert driver.profile_running() is True
    clock.t += 2.499
    assert driver.profile_running() is True
    clock.t += 0.01
    assert driver.profile_running() is False and emulator.voltage_v == [230.0] * 3


@pytest.fixture(params=[(AmetekRS, AmetekRSEmulator), (AmetekMX, AmetekMXEmulator)])
def grid_clock_ametek(request):
    yield from _connected(*request.param)


def test_ametek_emulator_answers_apparent_power_voltage_range_and_current_limit(grid_clock_ametek):
    driver, emulator, _ = grid_clock_ametek
    emulator.measurement_source = lambda: [PhaseReading(240.0, 10.0, 2000.0, 300.0, 60.0)] * 3
    assert float(driver.query("MEAS:POW:AC:APP?")) == 2400.0
    assert float(driver.query("VOLT:RANG?")) == 300.0
    driver.write("VOLT:RANG 150")
    driver.write("CURR 125")
    assert float(driver.query("CURR?")) == 125.0
    driver.write("VOLT:RANG 300")  # lowers the current limit to the range's maximum
    assert float(driver.query("CURR?")) == 62.5
    with pytest.raises(InstrumentError, match="-222"):
        driver.write("CURR 90")  # above the 300 V range's maximum
    with pytest.raises(InstrumentError, match="-222"):
        driver.write("VOLT:RANG 200")
    driver.write("VOLT:RANG 150")
    with pytest.raises(InstrumentError, match="-222"):
        driver.write("VOLT:AC 240")  # beyond the 150 V range


def test_chroma_protocol_for_phase_angles_and_lists(make_peer):
    peer = make_peer({"INST:NSEL?": "1", "VOLT:AC?": "240.00", "FREQ?": "60.000", "TRIG:STAT?": "RUNNING"})
    driver = _connect(Chroma61845, peer)
    mark = len(peer.sent())
    driver.set_phase_angle(120.0, phase=2)
    driver.set_phase_angle(240.0, phase=3)
    driver.set_frequency_slew(2.0)
    assert sent_commands(peer, mark) == ["PHAS:P12 120.00", "PHAS:P13 240.00", "OUTP:SLEW:FREQ 2.000"]
    mark = len(peer.sent())
    driver.load_profile([ProfileStep(0.5, 200.0, 60.0), ProfileStep(2.0, (240.0, 230.0, 240.0), 60.0, ramp=True)])
    assert [c for c in sent_commands(peer, mark) if "?" not in c][:7] == [
        "INST:NSEL 1",
        "INST:NSEL 2",
        "INST:NSEL 3",
        "TRIG OFF",
        "OUTP:MODE FIXED",
        "LIST:COUP NONE",
        "LIST:COUN 1",
    ]
    tail = [c for c in sent_commands(peer, mark) if "?" not in c][7:]
    assert tail == [
        "LIST:BASE TIME",
        "LIST:DWEL 500.0,2000.0",
        "LIST:SHAP A,A",
        "INST:COUP NONE",
        "INST:NSEL 1",
        "LIST:VOLT:AC:STAR 200.00,200.00",
        "LIST:VOLT:AC:END 200.00,240.00",
        "INST:NSEL 2",
        "LIST:VOLT:AC:STAR 200.00,200.00",
        "LIST:VOLT:AC:END 200.00,230.00",
        "INST:NSEL 3",
        "LIST:VOLT:AC:STAR 200.00,200.00",
        "LIST:VOLT:AC:END 200.00,240.00",
        "LIST:FREQ:STAR 60.000,60.000",
        "LIST:FREQ:END 60.000,60.000",
        "OUTP:MODE LIST",
    ]
    driver.start_profile()
    assert driver.profile_running() is True
    driver.stop_profile()
    assert sent_commands(peer, len(peer.sent()) - 5) == ["TRIG ON", "TRIG:STAT?", "TRIG OFF"]
    driver.close()


def test_nhr_protocol_uses_channel_lists_and_one_acquisition(make_peer):
    replies = {
        "MEAS:VOLT? (@1)": "240.5",
        "FETC:CURR? (@1)": "2.5",
        "FETC:POW? (@1)": "601.0",
        "FETC:POW:REAC? (@1)": "4.0",
        "FETC:FREQ?": "60.01",
    }
    for n in (2, 3):
        replies.update(
            {
                f"MEAS:VOLT? (@{n})": "239.0",
                f"FETC:CURR? (@{n})": "0",
                f"FETC:POW? (@{n})": "0",
                f"FETC:POW:REAC? (@{n})": "0",
            }
        )
    peer = make_peer(replies)
    driver = _connect(NHR9410, peer)
    mark = len(peer.sent())
    driver.set_voltage(240.0)
    driver.set_voltage(235.0, phase=2)
    driver.set_phase_angle(120.0, phase=2)
    assert sent_commands(peer, mark) == ["VOLT:AC 240.00,(@1:3)", "VOLT:AC 235.00,(@2)", "PHAS 120.00,(@2)"]
    mark = len(peer.sent())
    first = driver.measure()[0]
    assert (first.voltage_v, first.current_a, first.power_w, first.reactive_power_var, first.frequency_hz) == (
        240.5,
        2.5,
        601.0,
        4.0,
        60.01,
    )
    assert sent_commands(peer, mark)[:5] == [
        "MEAS:VOLT? (@1)",
        "FETC:CURR? (@1)",
        "FETC:POW? (@1)",
        "FETC:POW:REAC? (@1)",
        "FETC:FREQ?",
    ]
    driver.close()


def test_nhr_emulator_refuses_fetch_before_measure_and_bad_channels():
    with NHR9410Emulator() as emulator:
        driver = NHR9410(emulator.address, timeout_s=TIMEOUT_S)
        driver.connect()
        with pytest.raises(InstrumentError, match="-222"):
            driver.write("VOLT:AC 120,(@4)")
        with pytest.raises(InstrumentTimeout):
            driver.query("FETC:CURR? (@1)")  # no acquisition yet: no reply, an error queued
        assert emulator.errors() == ['-230,"Data corrupt or stale"']
        driver.close()


def test_pacific_protocol_numbers_phases_and_programs_transients(make_peer):
    peer = make_peer(
        {
            ":SOUR:VOLT1?": "240.00",
            ":SOUR:VOLT2?": "240.00",
            ":SOUR:VOLT3?": "240.00",
            ":SOUR:FREQ?": "60.000",
            ":MEAS:FREQ?": "60.0",
        }
    )
    for n in (1, 2, 3):
        peer.replies.update({f":MEAS:VOLT{n}?": "240.2", f":MEAS:CURR{n}?": "3.0", f":MEAS:POW{n}?": "720.0"})
    driver = _connect(PacificAFX, peer)
    mark = len(peer.sent())
    driver.set_voltage(240.0)
    driver.set_voltage(230.0, phase=3)
    driver.set_phase_angle(120.0, phase=2)
    assert sent_commands(peer, mark) == [
        ":SOUR:VOLT1 240.00;VOLT2 240.00;VOLT3 240.00",  # one keyword path, as the UPC manual shows
        ":SOUR:VOLT3 230.00",
        ":SOUR:PHAS2 120.00",
    ]
    mark = len(peer.sent())
    driver.load_profile([ProfileStep(0.5, 200.0, 60.0), ProfileStep(2.0, 240.0, 60.0, ramp=True)])
    program = [c for c in sent_commands(peer, mark) if "?" not in c]
    assert program == [
        ":PROG:NAME 1",
        ":PROG:DEL",
        ":PROG:DEF FORM,3,FREQ,60.000,VOLT1,240.00,VOLT2,240.00,VOLT3,240.00",
        ":PROG:DEF SEG,1,FSEG,60.000,VSEG1,200.00,VSEG2,200.00,VSEG3,200.00,TSEG,0.0000,"
        "SEG,2,FSEG,60.000,VSEG1,200.00,VSEG2,200.00,VSEG3,200.00,TSEG,0.5000,"
        "SEG,3,FSEG,60.000,VSEG1,240.00,VSEG2,240.00,VSEG3,240.00,TSEG,2.0000,LAST",
        ":PROG:EXEC 1",
    ]
    driver.start_profile()
    assert sent_commands(peer, len(peer.sent()) - 2) == [":PROG:EXEC:TRANS 1"]
    assert driver.profile_running() is True  # its own clock: 2.5 s of program
    reading = driver.measure()[0]
    assert reading.voltage_v == 240.2 and math.isnan(reading.reactive_power_var)
    driver.close()


def test_pacific_emulator_takes_the_manuals_comma_forms_and_output_form():
    with PacificAFXEmulator() as emulator:
        driver = PacificAFX(emulator.address, timeout_s=TIMEOUT_S)
        driver.connect()
        driver.write(":SOURce:VOLTage1,120; VOLTage2,121.5; VOLTage3,122;FREQuency,59.5")
        assert emulator.voltage_v == [120.0, 121.5, 122.0] and emulator.frequency_hz == 59.5
        driver.write(":SOURce:PHASe2,180.0")
        assert emulator.phase_angle_deg[1] == 180.0
        driver.write(":SOURce:FORM,2")
        assert driver.query(":SOURce:FORM?") == "2"
        driver.write(":SOURce:FORM 3")
        assert driver.query(":SOUR:FORM?") == "3"
        with pytest.raises(InstrumentError, match="-222"):
            driver.write(":SOURce:FORM,4")
        assert emulator.errors() == []
        driver.close()


def test_pacific_emulator_runs_a_program_by_its_number():
    clock = ManualClock()
    with PacificAFXEmulator(clock=clock) as emulator:
        driver = PacificAFX(emulator.address, timeout_s=TIMEOUT_S)
        driver.connect()
        for number, volts in ((1, 230.0), (2, 110.0)):
            driver.write(f":PROG:NAME {number}")
            driver.write(f":PROG:DEF FORM,3,FREQ,60,VOLT1,{volts},VOLT2,{volts},VOLT3,{volts}")
            driver.write(f":PROG:DEF SEG,1,FSEG,60,VSEG1,{volts / 2},TSEG,2,LAST")
        driver.write(":OUTP ON")
        driver.write(":PROG:EXEC 1")  # program 2 is the selected one: the number chooses
        assert emulator.voltage_v == [230.0] * 3 and driver.query(":PROG:NAME?") == "1"
        driver.write(":PROG:EXEC:TRANS 1")
        clock.t += 1.0
        assert emulator.profile_running and emulator.voltage_v == [172.5, 230.0, 230.0]  # halfway down its 2 s ramp
        clock.t += 1.5
        assert not emulator.profile_running and emulator.voltage_v == [230.0] * 3  # the steady state returns
        driver.write(":PROG:EXEC 2")
        assert emulator.voltage_v == [110.0] * 3
        with pytest.raises(InstrumentError, match="-221"):
            driver.write(":PROG:EXEC 7")  # no such program
        driver.close()


def test_pacific_emulator_checks_programs_and_phase_suffixes():
    with PacificAFXEmulator() as emulator:
        driver = PacificAFX(emulator.address, timeout_s=TIMEOUT_S)
        driver.connect()
        with pytest.raises(InstrumentError, match="-114"):
            driver.write("VOLT4 120")
        with pytest.raises(InstrumentError, match="-221"):
            driver.write("PROG:DEF SEG,2,FSEG,60,TSEG,1,LAST")  # segments must start at 1
        with pytest.raises(InstrumentError, match="-224"):
            driver.write("PROG:DEF FORM,3,COLOUR,1")
        with pytest.raises(InstrumentError, match="-221"):
            driver.write("PROG:EXEC:TRAN")  # no program with a transient (and the output is off)
        driver.close()


def test_single_phase_models_refuse_phase_angles():
    with AmetekMXEmulator(phases=1) as emulator:
        driver = AmetekMX(emulator.address, options={"phases": 1}, timeout_s=TIMEOUT_S)
        driver.connect()
        with pytest.raises(ValueError, match="one-phase"):
            driver.set_phase_angle(120.0, phase=2)
        driver.set_voltage(120.0)
        assert emulator.voltage_v == [120.0] and len(driver.measure()) == 1
        driver.close()
