"""SunSpec over Modbus TCP with plain pymodbus: the model chain walked, points read and written by offset.

Only what the controller uses, offsets from the SunSpec model definitions
(counted from the model's ID register):

| model | points |
|---|---|
| 201-204 meter | W 18 (int16), W_SF 22 |
| 701 | W 10 (int16), W_SF 116 |
| 101-103 | W 14 (int16), W_SF 15 |
| 702 | WMax 26, WChaRteMax 34 (uint16), W_SF 45 |
| 704 | WMaxLimPctEna 14, WMaxLimPct 15, WMaxLimPctRvrt 16, WMaxLimPctEnaRvrt 17, WMaxLimPctRvrtTms 18 (uint32); WSetEna 22, WSetMod 23, WSet 24 (int32), WSetRvrt 26, WSetPct 28, WSetPctRvrt 29, WSetEnaRvrt 30, WSetRvrtTms 31 (uint32); WMaxLimPct_SF 54, WSet_SF 55 |
| 123 | WMaxLimPct 5, WMaxLimPct_WinTms 6, WMaxLimPct_RvrtTms 7, WMaxLimPct_RmpTms 8, WMaxLim_Ena 9, WMaxLimPct_SF 23 |

Writes cover read-write points only, never a model's ID/L header.
"""

from __future__ import annotations

import logging

from pymodbus.client import ModbusTcpClient
from pymodbus.exceptions import ModbusException

SUNS = [0x5375, 0x6E53]  # "SunS"
BASES = (40000, 0, 50000)
END = 0xFFFF
MAX_MODELS = 64
NOT_IMPLEMENTED_INT16 = 0x8000
METERS = (201, 202, 203, 204)
LEGACY_MEASUREMENTS = (103, 102, 101)

logging.getLogger("pymodbus").setLevel(logging.CRITICAL)


class DeviceError(Exception):
    """A device did not answer, answered with an exception, or lacks what the controller needs."""


def int16(raw: int) -> int:
    return raw - 0x10000 if raw & 0x8000 else raw


def u32(value: int) -> list[int]:
    value &= 0xFFFFFFFF
    return [value >> 16, value & 0xFFFF]


class ModbusDevice:
    """One SunSpec device: its models found by walking the chain from the "SunS" marker."""

    def __init__(self, name: str, host: str, port: int, unit: int, timeout_s: float) -> None:
        self.name = name
        self.unit = unit
        self.client = ModbusTcpClient(host, port=port, timeout=timeout_s, retries=0)
        self.models: dict[int, int] = {}  # model ID -> address of its ID register

    def read(self, address: int, count: int) -> list[int]:
        try:
            if not self.client.connected and not self.client.connect():
                raise DeviceError(f"{self.name}: no connection")
            reply = self.client.read_holding_registers(address, count=count, device_id=self.unit)
        except ModbusException as exc:
            self.client.close()
            raise DeviceError(f"{self.name}: read {address}: {exc}") from None
        if reply.isError():
            raise DeviceError(f"{self.name}: read {address}+{count}: {reply}")
        return list(reply.registers)

    def write(self, address: int, values: list[int]) -> None:
        try:
            if not self.client.connected and not self.client.connect():
                raise DeviceError(f"{self.name}: no connection")
            reply = self.client.write_registers(address, values, device_id=self.unit)
        except ModbusException as exc:
            self.client.close()
            raise DeviceError(f"{self.name}: write {address}: {exc}") from None
        if reply.isError():
            raise DeviceError(f"{self.name}: write {address}+{len(values)}: {reply}")

    def discover(self) -> dict[int, int]:
        for base in BASES:
            try:
                marker = self.read(base, 2)
            except DeviceError:
                continue
            if marker == SUNS:
                break
        else:
            raise DeviceError(f"{self.name}: no SunSpec marker at {', '.join(map(str, BASES))}")
        models: dict[int, int] = {}
        address = base + 2
        for _ in range(MAX_MODELS):
            model_id, length = self.read(address, 2)
            if model_id == END:
                break
            models.setdefault(model_id, address)
            address += 2 + length
        self.models = models
        return models

    def model(self, *ids: int) -> tuple[int, int] | None:
        """(model ID, address) of the first of `ids` the device serves."""
        for model_id in ids:
            if model_id in self.models:
                return model_id, self.models[model_id]
        return None

    def scale(self, address: int) -> float:
        return 10.0 ** int16(self.read(address, 1)[0])

    def close(self) -> None:
        self.client.close()


class Meter:
    """The site meter (SunSpec 201-204): total active power, import positive."""

    def __init__(self, device: ModbusDevice) -> None:
        self.device = device
        self.address: int | None = None

    def import_w(self) -> float:
        if self.address is None:
            found = self.device.model(*METERS) if self.device.models else None
            if found is None:
                self.device.discover()
                found = self.device.model(*METERS)
            if found is None:
                raise DeviceError(f"{self.device.name}: no meter model (201-204)")
            self.address = found[1]
        try:
            regs = self.device.read(self.address + 18, 5)
        except DeviceError:
            self.address = None  # found again after a reconnect
            raise
        if regs[0] == NOT_IMPLEMENTED_INT16:
            raise DeviceError(f"{self.device.name}: W not implemented")
        return int16(regs[0]) * 10.0 ** int16(regs[4])


class Inverter:
    """A PV or battery inverter, 7xx (704) or legacy (123); family found from the models it serves."""

    def __init__(self, device: ModbusDevice, kind: str, rated_w: float, revert_s: int) -> None:
        self.device = device
        self.name = device.name
        self.kind = kind
        self.rated_w = rated_w
        self.revert_s = revert_s
        self.family: str | None = None
        self._w: tuple[int, float] | None = None  # (address of W, its scale)
        self._sf: dict[str, float] = {}

    def connect(self) -> None:
        d = self.device
        models = d.discover()
        if 704 in models:
            self.family = "7xx"
            base = models[704]
            self._sf["pct"] = d.scale(base + 54)
            self._sf["wset"] = d.scale(base + 55)
        elif 123 in models:
            self.family = "legacy"
            self._sf["pct"] = d.scale(models[123] + 23)
        else:
            raise DeviceError(f"{self.name}: neither model 704 nor 123: nothing to control")
        if self.kind == "battery" and (self.family != "7xx" or 702 not in models):
            raise DeviceError(f"{self.name}: a battery is controlled through models 702 and 704 only")
        if 702 in models:
            self._sf["w702"] = d.scale(models[702] + 45)
            self.rated_w = d.read(models[702] + 26, 1)[0] * self._sf["w702"] or self.rated_w
        if 701 in models:
            self._w = (models[701] + 10, d.scale(models[701] + 116))
        elif (found := d.model(*LEGACY_MEASUREMENTS)) is not None:
            self._w = (found[1] + 14, d.scale(found[1] + 15))
        else:
            raise DeviceError(f"{self.name}: no measurement model (701, 101-103)")

    def _guard(self) -> None:
        if self.family is None:
            self.connect()

    def output_w(self) -> float:
        """AC output, W (a battery: + discharge)."""
        self._guard()
        assert self._w is not None
        try:
            raw = self.device.read(self._w[0], 1)[0]
        except DeviceError:
            self.family = None
            raise
        return 0.0 if raw == NOT_IMPLEMENTED_INT16 else int16(raw) * self._w[1]

    def _pct(self, pct: float) -> int:
        return round(min(max(pct, 0.0), 100.0) / self._sf["pct"])

    def set_cap_pct(self, pct: float) -> None:
        """Output capped at this share of WMax; reverts to 0 % if not written again within the revert time."""
        self._guard()
        if self.family == "7xx":
            # WMaxLimPctEna, WMaxLimPct, WMaxLimPctRvrt (0 %), WMaxLimPctEnaRvrt, WMaxLimPctRvrtTms
            self.device.write(self.device.models[704] + 14, [1, self._pct(pct), 0, 1, *u32(self.revert_s)])
        else:
            # WMaxLimPct, _WinTms, _RvrtTms (the cap is released when it lapses), _RmpTms, WMaxLim_Ena
            self.device.write(self.device.models[123] + 5, [self._pct(pct), 0, self.revert_s, 0, 1])

    def set_charge_cap_w(self, cap_w: float) -> None:
        self._guard()
        raw = round(min(max(cap_w, 0.0), self.rated_w) / self._sf["w702"])
        self.device.write(self.device.models[702] + 34, [raw])

    def set_setpoint_w(self, setpoint_w: float | None) -> None:
        """Output forced to this (+ discharge), reverting to the battery's own request; None: released."""
        self._guard()
        base = self.device.models[704]
        if setpoint_w is None:
            self.device.write(base + 22, [0])
            return
        raw = round(min(max(setpoint_w, -self.rated_w), self.rated_w) / self._sf["wset"])
        # WSetEna, WSetMod (watts), WSet, WSetRvrt, WSetPct, WSetPctRvrt, WSetEnaRvrt (released), WSetRvrtTms
        self.device.write(base + 22, [1, 1, *u32(raw), 0, 0, 0, 0, 0, *u32(self.revert_s)])

    def close(self) -> None:
        self.device.close()
