"""A schedule file into a PCS's configuration over its register layout's schedule block, and a PCS without one."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from flexbench.core import Envelope, Interval, SiteLimits
from flexbench.core.schedule_files import write_schedule
from flexbench.core.schedules import StaticSchedule
from flexbench.instruments import pcs_registers as reg
from flexbench.instruments.drivers.modbus_pcs import ModbusPCS
from flexbench.instruments.emulators.modbus_pcs import ModbusPCSEmulator
from flexbench.instruments.roles import SafetyLimitError, SafetyLimits, SettingNotTaken
from flexbench.lab.clock import ScaledClock


def epoch(*args: int) -> float:
    return dt.datetime(*args, tzinfo=dt.UTC).timestamp()


def connected(emulator: ModbusPCSEmulator, power_max_w: float = 20_000) -> ModbusPCS:
    driver = ModbusPCS(emulator.address, safety=SafetyLimits(power_max_w=power_max_w, source="b.toml"), timeout_s=1.0)
    driver.connect()
    return driver


@pytest.fixture
def emulator():
    emu = ModbusPCSEmulator(ScaledClock(1.0), takes_schedule=True).start()
    yield emu
    emu.stop()


def static_schedule() -> StaticSchedule:
    table = {
        (m, h): SiteLimits(export_limit_w=100.0 * m + h, import_limit_w=None) for m in range(1, 13) for h in range(24)
    }
    return StaticSchedule.of(table, firm=SiteLimits(import_limit_w=9000.0, export_limit_w=50.0))


def test_a_static_schedule_file_reaches_the_pcs_and_its_clock_is_set(emulator, tmp_path: Path) -> None:
    pcs = connected(emulator)
    try:
        schedule = static_schedule()
        pcs.load_schedule(write_schedule(tmp_path / "letter.csv", schedule))
        assert emulator.schedule() == schedule
        pcs.set_clock(epoch(2027, 1, 31, 23, 40))
        assert abs(pcs.clock_s() - epoch(2027, 1, 31, 23, 40)) < 5
        assert abs(emulator.clock.now() + emulator.clock_offset_s - epoch(2027, 1, 31, 23, 40)) < 5
    finally:
        pcs.close()


def test_a_variable_schedule_replaces_the_static_one(emulator, tmp_path: Path) -> None:
    pcs = connected(emulator)
    try:
        pcs.load_schedule(write_schedule(tmp_path / "letter.csv", static_schedule()))
        variable = Envelope(
            intervals=tuple(
                Interval(start_s=epoch(2027, 3, 1, 10, 15 * k), duration_s=900, limits=SiteLimits(export_limit_w=k))
                for k in range(3)
            ),
            firm=SiteLimits(export_limit_w=1.0),
        )
        pcs.load_schedule(write_schedule(tmp_path / "var.json", variable))
        assert emulator.schedule() == variable
    finally:
        pcs.close()


def test_a_schedule_above_the_benchs_power_limit_is_not_sent(emulator, tmp_path: Path) -> None:
    pcs = connected(emulator, power_max_w=1000)
    try:
        with pytest.raises(SafetyLimitError):
            pcs.load_schedule(write_schedule(tmp_path / "letter.csv", static_schedule()))
        assert emulator.schedule() is None
    finally:
        pcs.close()


def test_overlapping_intervals_written_to_the_block_are_refused_and_change_nothing(emulator) -> None:
    pcs = connected(emulator)
    try:
        table = reg.u32(1000) + reg.u32(600) + reg.limit_registers(5) + reg.limit_registers(None)
        table += reg.u32(1300) + reg.u32(600) + reg.limit_registers(6) + reg.limit_registers(None)
        pcs.transport.write_registers(reg.FIRM_EXPORT, reg.limit_registers(None) * 2 + [2])
        pcs.transport.write_registers(reg.TABLE, table)
        with pytest.raises(Exception, match="exception code 3"):
            pcs.transport.write_registers(reg.SCHEDULE_KIND, [2])
        assert emulator.schedule() is None
    finally:
        pcs.close()


def test_a_pcs_without_the_schedule_block_cannot_take_a_schedule(tmp_path: Path) -> None:
    emu = ModbusPCSEmulator().start()
    pcs = connected(emu)
    try:
        with pytest.raises(SettingNotTaken, match="no schedule registers"):
            pcs.load_schedule(write_schedule(tmp_path / "letter.csv", static_schedule()))
        with pytest.raises(SettingNotTaken, match="no schedule registers"):
            pcs.set_clock(epoch(2027, 1, 31, 23, 40))
        assert pcs.identity().model == "Virtual PCS"  # the settings block still answers
    finally:
        pcs.close()
        emu.stop()


def test_a_cleared_schedule_is_gone_and_clearing_a_pcs_without_the_block_is_nothing(emulator, tmp_path: Path) -> None:
    pcs = connected(emulator)
    try:
        pcs.load_schedule(write_schedule(tmp_path / "letter.csv", static_schedule()))
        pcs.clear_schedule()
        assert emulator.schedule() is None
    finally:
        pcs.close()
    bare = ModbusPCSEmulator().start()
    pcs = connected(bare)
    try:
        pcs.clear_schedule()
    finally:
        pcs.close()
        bare.stop()
