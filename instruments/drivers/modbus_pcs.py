"""Power control system settings over Modbus (the register layout of instruments.pcs_registers).

Role: PowerControlSystem. Settings are checked before they are sent: export
and import limits against the bench's power_max_w, the busbar current limit
against current_max_a. A schedule file goes into the layout's schedule block
(its clock, firm limits and table); a device without that block answers
exception 2, which is SettingNotTaken: it cannot hold a schedule. Timeouts,
reconnects and threads: as ModbusTransport states.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from flexbench.core.schedule_files import read_schedule
from flexbench.core.schedules import schedule_limits_w

from .. import pcs_registers as reg
from ..addresses import ModbusRtuAddress, ModbusTcpAddress, parse_address
from ..roles import PCS_MODES, Identity, PCSStatus, PowerControlSystem, SettingNotTaken
from ..transports.modbus import ModbusExceptionResponse, ModbusTransport

ILLEGAL_ADDRESS = 2


class ModbusPCS(PowerControlSystem):
    """Power control system with the flexbench PCS register layout."""

    model = "PCS (flexbench register layout)"

    def __init__(self, address: str, **kwargs: Any) -> None:
        super().__init__(address, **kwargs)
        parsed = parse_address(address)
        if not isinstance(parsed, (ModbusTcpAddress, ModbusRtuAddress)):
            raise ValueError(f"a Modbus PCS is reached over Modbus: give modbus+tcp://host:port/unit, not {address!r}")
        self.transport = ModbusTransport(parsed, timeout_s=self.timeout_s)

    def connect(self) -> None:
        self.transport.connect()

    def close(self) -> None:
        self.transport.close()

    def identity(self) -> Identity:
        regs = self.transport.read_holding_registers(0, reg.IDENTITY_END)
        fields = {name: reg.decode_string(regs[start : start + n]) for name, (start, n) in reg.IDENTITY.items()}
        return Identity(**fields)

    def set_mode(self, mode: str) -> None:
        if mode not in PCS_MODES:
            raise ValueError(f"unknown PCS mode {mode!r} (modes: {', '.join(PCS_MODES)})")
        self.transport.write_registers(reg.MODE, [reg.MODE_CODES[mode]])

    def _limit_w(self, register: int, limit_w: float | None) -> None:
        if limit_w is None:
            self.transport.write_registers(register, reg.u32(reg.NONE_U32))
            return
        if limit_w < 0:
            raise ValueError(f"a PCS limit is a magnitude in W, got {limit_w:g}")
        self.safety.check("power", float(limit_w), "w", address=self.address)
        self.transport.write_registers(register, reg.u32(round(limit_w)))

    def set_export_limit_w(self, limit_w: float | None) -> None:
        self._limit_w(reg.EXPORT_LIMIT, limit_w)

    def set_import_limit_w(self, limit_w: float | None) -> None:
        self._limit_w(reg.IMPORT_LIMIT, limit_w)

    def set_current_limit_a(self, limit_a: float | None) -> None:
        if limit_a is None:
            self.transport.write_registers(reg.CURRENT_LIMIT, [reg.NONE_U16])
            return
        self.safety.check("current", float(limit_a), "a", address=self.address)
        self.transport.write_registers(reg.CURRENT_LIMIT, [round(limit_a * 10)])

    def load_schedule(self, path: Path, site: str | None = None) -> None:
        schedule = read_schedule(path, site)
        kind, firm, count, table = reg.schedule_registers(schedule)
        highest_w = max((w for w in schedule_limits_w(schedule) if w is not None), default=None)
        if highest_w is not None:
            self.safety.check("power", highest_w, "w", address=self.address)
        with self._schedule_block():
            self.transport.write_registers(reg.FIRM_EXPORT, [*firm, count])
            if table:
                self.transport.write_registers(reg.TABLE, table)
            self.transport.write_registers(reg.SCHEDULE_KIND, [kind])

    def clear_schedule(self) -> None:
        try:
            with self._schedule_block():
                self.transport.write_registers(reg.SCHEDULE_KIND, [0])
        except SettingNotTaken:
            pass  # no schedule block: no schedule to clear

    def set_clock(self, t_s: float) -> None:
        with self._schedule_block():
            self.transport.write_registers(reg.CLOCK, reg.u32(round(t_s)))

    def clock_s(self) -> float:
        with self._schedule_block():
            hi, lo = self.transport.read_holding_registers(reg.CLOCK, 2)
        return float(reg.from_u32(hi, lo))

    @contextmanager
    def _schedule_block(self) -> Iterator[None]:
        """Exception 2 in the schedule block: a PCS without one."""
        try:
            yield
        except ModbusExceptionResponse as exc:
            if exc.exception_code != ILLEGAL_ADDRESS:
                raise
            raise SettingNotTaken(
                f"the PCS has no schedule registers (exception 2 at register {exc.register}): it cannot hold a schedule",
                address=self.address,
            ) from None

    def status(self) -> PCSStatus:
        r = self.transport.read_holding_registers(0, reg.PCC_IMPORT)
        export = reg.from_u32(r[1], r[2])
        import_ = reg.from_u32(r[3], r[4])
        return PCSStatus(
            mode=PCS_MODES[r[reg.MODE]] if r[reg.MODE] < len(PCS_MODES) else f"unknown ({r[reg.MODE]})",
            export_limit_w=None if export == reg.NONE_U32 else float(export),
            import_limit_w=None if import_ == reg.NONE_U32 else float(import_),
            current_limit_a=None if r[reg.CURRENT_LIMIT] == reg.NONE_U16 else r[reg.CURRENT_LIMIT] / 10.0,
            fail_safe=bool(r[reg.FAIL_SAFE]),
        )

    def snapshot(self) -> dict[str, Any]:
        s = self.status()
        return {
            "mode": s.mode,
            "export_limit_w": s.export_limit_w,
            "import_limit_w": s.import_limit_w,
            "current_limit_a": s.current_limit_a,
            "fail_safe": s.fail_safe,
        }
