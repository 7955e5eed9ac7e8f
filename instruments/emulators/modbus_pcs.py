"""Emulated power control system settings interface (instruments.pcs_registers layout).

Like a device: writes to read-only registers answer exception 2 (illegal
address), an unknown mode or a limit beyond range answers exception 3
(illegal value) and changes nothing.

With `takes_schedule` it serves the schedule block too: its own clock (bench
time plus the offset a write of the clock register sets) and a static or
variable schedule, put in force by the write of schedule_kind; without it,
those registers answer exception 2, as a PCS that cannot hold a schedule.

Hooks for the virtual lab: `settings()` returns what the PCS has been told
(mode, export_limit_w, import_limit_w, current_limit_a), `schedule()` the
schedule in force and `clock_offset_s` how far its clock is set from bench
time; `publish_state(...)` sets what it reports.
"""

from __future__ import annotations

from types import SimpleNamespace

from pymodbus.constants import ExcCodes

from flexbench.core.schedules import Schedule

from .. import pcs_registers as reg
from ..roles import PCS_MODES
from .common import Clock
from .modbus_server import ModbusEmulator


class ModbusPCSEmulator(ModbusEmulator):
    def __init__(
        self,
        clock: Clock | None = None,
        *,
        identity: dict[str, str] | None = None,
        unit_id: int = 1,
        link: str = "tcp",
        takes_schedule: bool = False,
    ) -> None:
        super().__init__(unit_id=unit_id, clock=clock, link=link)
        self.takes_schedule = takes_schedule
        self.registers = [0] * (reg.TABLE_END if takes_schedule else reg.REGISTER_COUNT)
        self.clock_offset_s = 0.0
        self._schedule: Schedule | None = None
        self.registers[1:5] = reg.u32(reg.NONE_U32) + reg.u32(reg.NONE_U32)
        self.registers[reg.CURRENT_LIMIT] = reg.NONE_U16
        ident = {
            "manufacturer": "flexbench",
            "model": "Virtual PCS",
            "serial": "VPCS-0001",
            "firmware": "1.0.0",
            **(identity or {}),
        }
        for name, (start, n) in reg.IDENTITY.items():
            self.registers[start : start + n] = reg.encode_string(ident[name], n)

    def read_registers(self, table: str, address: int, count: int) -> list[int] | ExcCodes:
        if table != "holding" or address + count > len(self.registers):
            return ExcCodes.ILLEGAL_ADDRESS
        with self.lock:
            if self.takes_schedule:
                self.registers[reg.CLOCK : reg.CLOCK + 2] = reg.u32(max(0, int(self._clock_s())))
            return self.registers[address : address + count]

    def write_registers(self, address: int, values: list[int]) -> ExcCodes | None:
        end = address + len(values)
        if self.takes_schedule and any(address in r and end <= r.stop for r in reg.SCHEDULE_WRITABLE):
            return self._write_schedule(address, end, values)
        if address not in reg.WRITABLE or end > reg.WRITABLE.stop:
            return ExcCodes.ILLEGAL_ADDRESS
        with self.lock:
            staged = list(self.registers)
            staged[address:end] = values
            if staged[reg.MODE] >= len(PCS_MODES):
                return ExcCodes.ILLEGAL_VALUE
            for register in (reg.EXPORT_LIMIT, reg.IMPORT_LIMIT):
                value = reg.from_u32(staged[register], staged[register + 1])
                if value != reg.NONE_U32 and value > reg.MAX_LIMIT_W:
                    return ExcCodes.ILLEGAL_VALUE
            self.registers = staged
        return None

    def _clock_s(self) -> float:
        return self.clock.now() + self.clock_offset_s

    def _write_schedule(self, address: int, end: int, values: list[int]) -> ExcCodes | None:
        """Clock, firm limits, count and table are staged; a write of schedule_kind puts them in force."""
        with self.lock:
            staged = list(self.registers)
            staged[address:end] = values
            if address <= reg.SCHEDULE_KIND < end:
                r = staged
                try:
                    schedule = reg.schedule_of(
                        r[reg.SCHEDULE_KIND],
                        r[reg.FIRM_EXPORT : reg.INTERVAL_COUNT],
                        r[reg.INTERVAL_COUNT],
                        r[reg.TABLE : reg.TABLE_END],
                    )
                except ValueError:  # IntervalError is one
                    return ExcCodes.ILLEGAL_VALUE
                self._schedule = schedule
            if address <= reg.CLOCK + 1 and end > reg.CLOCK:
                self.clock_offset_s = reg.from_u32(staged[reg.CLOCK], staged[reg.CLOCK + 1]) - self.clock.now()
            self.registers = staged
        return None

    def schedule(self) -> Schedule | None:
        """The schedule in force (None: none loaded)."""
        with self.lock:
            return self._schedule

    def apply_settings(
        self,
        mode: str = "unrestricted",
        export_limit_w: float | None = None,
        import_limit_w: float | None = None,
        current_limit_a: float | None = None,
    ) -> None:
        """Settings from the device's own configuration (not over Modbus): ValueError on one out of range."""
        if mode not in PCS_MODES:
            raise ValueError(f"mode: expected one of {', '.join(PCS_MODES)}, got {mode!r}")
        values = [PCS_MODES.index(mode)]
        for name, limit_w in (("export_limit_w", export_limit_w), ("import_limit_w", import_limit_w)):
            if limit_w is not None and not 0 <= limit_w <= reg.MAX_LIMIT_W:
                raise ValueError(f"{name}: expected 0 to {reg.MAX_LIMIT_W} W, got {limit_w!r}")
            values += reg.u32(reg.NONE_U32 if limit_w is None else round(limit_w))
        with self.lock:
            self.registers[reg.MODE : reg.MODE + len(values)] = values
            self.registers[reg.CURRENT_LIMIT] = reg.NONE_U16 if current_limit_a is None else round(current_limit_a * 10)

    def settings(self) -> SimpleNamespace:
        """The settings as the virtual site's PCS controller takes them."""
        with self.lock:
            r = list(self.registers)
        export = reg.from_u32(r[1], r[2])
        import_ = reg.from_u32(r[3], r[4])
        return SimpleNamespace(
            mode=PCS_MODES[r[reg.MODE]],
            export_limit_w=None if export == reg.NONE_U32 else float(export),
            import_limit_w=None if import_ == reg.NONE_U32 else float(import_),
            current_limit_a=None if r[reg.CURRENT_LIMIT] == reg.NONE_U16 else r[reg.CURRENT_LIMIT] / 10.0,
        )

    def publish_state(self, *, fail_safe: bool, pcc_import_w: float, busbar_current_a: float) -> None:
        with self.lock:
            self.registers[reg.FAIL_SAFE] = int(fail_safe)
            self.registers[reg.PCC_IMPORT : reg.PCC_IMPORT + 2] = reg.i32(round(pcc_import_w))
            self.registers[reg.BUSBAR_CURRENT] = max(0, min(0xFFFE, round(busbar_current_a * 10)))
