"""A DER that speaks SunSpec Modbus (models 1, 701, 702, 704) over Modbus TCP or RTU.

Role: DER. Address: ``modbus+tcp://host:port/unit`` or
``modbus+rtu:///dev/ttyUSB0?baud=...&unit=...``. Options: ``base_address``
(skip discovery and use this base; by default the driver looks for the
"SunS" marker at 40000, then 0, then 50000).

On connect the driver walks the model chain (ID, L) from the marker to the
0xFFFF end model and remembers where each model starts. Register layouts,
types, scale factors and "not implemented" sentinels come from pysunspec2's
model definitions (see instruments.sunspec.layout); unimplemented points
read as None.

- identity: model 1 (Mn, Md, SN, Vr).
- nameplate(): model 702 WMaxRtg, VAMaxRtg, VarMaxInjRtg with their scale factors.
- measure(): model 701 W, Var, LNV (LLV where LNV is not implemented), Hz;
  positive power is export.
- set_active_power_limit_pct(pct): model 704 WMaxLimPct (scaled by
  WMaxLimPct_SF), then WMaxLimPctEna = 1; None writes WMaxLimPctEna = 0.
- read_point / write_point: any point of any model present, in engineering units.

Safety: a power limit is converted to watts with the nameplate rating and
checked against SafetyLimits.power_max_w before anything is written.
Timeouts, reconnection, exception responses and threads: see
transports.modbus.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from ..addresses import ModbusRtuAddress, ModbusTcpAddress, parse_address
from ..roles import DER, DERMeasurement, Identity, InstrumentError, Nameplate
from ..sunspec.layout import (
    BASE_ADDRESSES,
    END_MODEL_ID,
    SUNS_MARKER,
    LayoutError,
    ModelBlock,
    ModelLayout,
    build_layout,
    decode,
    fixed_layout,
)
from ..transports.modbus import ModbusExceptionResponse, ModbusTransport

MAX_MODELS = 256
MEASUREMENT_EXTRAS = ("VA", "PF", "A", "LLV", "LNV", "WL1", "WL2", "WL3", "VL1", "VL2", "VL3", "TmpAmb")


@dataclass(frozen=True)
class ModelLocation:
    model_id: int
    start: int  # register of the model's ID
    length: int  # L as the device reports it

    @property
    def size(self) -> int:
        return self.length + 2


class SunSpecDER(DER):
    """SunSpec DER (inverter, PCS) over Modbus."""

    model = "SunSpec DER (models 1, 701, 702, 704)"

    def __init__(self, address: str, **kwargs: Any) -> None:
        super().__init__(address, **kwargs)
        parsed = parse_address(address)
        if not isinstance(parsed, (ModbusTcpAddress, ModbusRtuAddress)):
            raise ValueError(f"a SunSpec DER is reached over Modbus: give modbus+tcp://host:port/unit, not {address!r}")
        base = self.options.get("base_address")
        if base is not None and (not isinstance(base, int) or not 0 <= base <= 65533):
            raise ValueError(f"option base_address must be a register number 0..65533, got {base!r}")
        self.base_address: int | None = base
        self.transport = ModbusTransport(parsed, timeout_s=self.timeout_s)
        self.models: dict[int, list[ModelLocation]] = {}
        self._rated_power_w: float | None = None
        self._identity: Identity | None = None

    @property
    def lock(self):
        return self.transport.lock

    # -- connection and discovery -----------------------------------------
    def connect(self) -> None:
        with self.lock:
            self.transport.connect()
            self.discover()
            self._identity = None
            if 702 in self.models:
                self._rated_power_w = self.nameplate().max_power_w

    def close(self) -> None:
        self.transport.close()

    def _find_base(self) -> int:
        candidates = (self.base_address,) if self.base_address is not None else BASE_ADDRESSES
        for base in candidates:
            try:
                marker = self.transport.read_holding_registers(base, 2)
            except ModbusExceptionResponse:
                continue
            if tuple(marker) == SUNS_MARKER:
                return base
        where = ", ".join(str(b) for b in candidates)
        raise InstrumentError(f"no SunSpec map: 'SunS' not found at register {where}", address=self.address)

    def discover(self) -> dict[int, list[ModelLocation]]:
        """Walk the model chain from the 'SunS' marker to the end model."""
        with self.lock:
            base = self._find_base()
            models: dict[int, list[ModelLocation]] = {}
            register = base + 2
            for _ in range(MAX_MODELS):
                model_id, length = self.transport.read_holding_registers(register, 2)
                if model_id == END_MODEL_ID:
                    break
                models.setdefault(model_id, []).append(ModelLocation(model_id, register, length))
                register += 2 + length
                if register > 0xFFFF:
                    raise InstrumentError("SunSpec model chain runs past the register space", address=self.address)
            else:
                raise InstrumentError(f"SunSpec model chain has no end model after {MAX_MODELS} models", address=self.address)
            self.base_address = base
            self.models = models
            return models

    def location(self, model_id: int, instance: int = 0) -> ModelLocation:
        if not self.models:
            self.discover()
        found = self.models.get(model_id, [])
        if instance >= len(found):
            present = ", ".join(str(m) for m in sorted(self.models)) or "none"
            raise InstrumentError(f"the device has no SunSpec model {model_id} (models present: {present})", address=self.address)
        return found[instance]

    # -- generic point access -----------------------------------------------
    def _layout(self, loc: ModelLocation, registers: list[int] | None) -> ModelLayout:
        try:
            layout = fixed_layout(loc.model_id)
            if layout.length == loc.length:
                return layout
            if registers is None:
                registers = self.transport.read_holding_registers(loc.start, loc.size)
            return build_layout(
                loc.model_id, count_of=lambda spec: decode(spec, registers) or 0, length=loc.length
            )
        except KeyError as exc:
            raise InstrumentError(str(exc.args[0]), address=self.address) from None
        except LayoutError as exc:
            raise InstrumentError(f"model {loc.model_id}: {exc}", address=self.address) from None

    def read_model(self, model_id: int, instance: int = 0) -> ModelBlock:
        """Read one model instance in a single pass, so a value and its scale factor agree."""
        with self.lock:
            loc = self.location(model_id, instance)
            registers = self.transport.read_holding_registers(loc.start, loc.size)
            layout = self._layout(loc, registers)
            # Points past a short model (an older revision) stay "not implemented".
            block = ModelBlock(layout)
            n = min(len(registers), layout.size)
            block.registers[:n] = registers[:n]
            return block

    def read_point(self, model_id: int, point: str, instance: int = 0) -> int | float | str | None:
        """A point in engineering units (scale factor applied); None when not implemented."""
        block = self.read_model(model_id, instance)
        try:
            return block.get(point)
        except KeyError as exc:
            raise InstrumentError(str(exc.args[0]), address=self.address) from None

    def write_point(self, model_id: int, point: str, value: int | float | str | None, instance: int = 0) -> None:
        """Write a point in engineering units, scaled by the device's current scale factor."""
        with self.lock:
            loc = self.location(model_id, instance)
            layout = self._layout(loc, None)
            try:
                spec = layout.point(point)
            except KeyError as exc:
                raise InstrumentError(str(exc.args[0]), address=self.address) from None
            if not spec.writable:
                raise InstrumentError(f"model {model_id} point {point} is read-only", address=self.address)
            registers = [0] * layout.size
            if isinstance(spec.sf, str):
                sf_spec = layout.point(spec.sf)
                registers[sf_spec.offset : sf_spec.end] = self.transport.read_holding_registers(
                    loc.start + sf_spec.offset, sf_spec.size
                )
            block = ModelBlock(layout, registers)
            try:
                words = block.encode_value(point, value)
            except ValueError as exc:
                raise InstrumentError(f"cannot write model {model_id} {point} = {value!r}: {exc}", address=self.address) from None
            self.transport.write_registers(loc.start + spec.offset, words)

    # -- DER role --------------------------------------------------------------
    def identity(self) -> Identity:
        if self._identity is None:
            common = self.read_model(1)
            self._identity = Identity(
                manufacturer=str(common.get("Mn") or ""),
                model=str(common.get("Md") or ""),
                serial=str(common.get("SN") or ""),
                firmware=str(common.get("Vr") or ""),
            )
        return self._identity

    def nameplate(self) -> Nameplate:
        capacity = self.read_model(702)
        w = capacity.get("WMaxRtg")
        va = capacity.get("VAMaxRtg")
        var = capacity.get("VarMaxInjRtg")
        if w is None or va is None:
            raise InstrumentError("model 702 does not implement WMaxRtg and VAMaxRtg", address=self.address)
        return Nameplate(
            max_power_w=float(w), max_apparent_power_va=float(va), max_reactive_power_var=None if var is None else float(var)
        )

    def measure(self) -> DERMeasurement:
        ac = self.read_model(701)

        def number(name: str) -> float:
            value = ac.get(name)
            return math.nan if value is None else float(value)

        voltage = ac.get("LNV")
        if voltage is None:
            voltage = ac.get("LLV")
        extra = {name: float(v) for name in MEASUREMENT_EXTRAS if (v := ac.get(name)) is not None}
        return DERMeasurement(
            power_w=number("W"),
            reactive_power_var=number("Var"),
            voltage_v=math.nan if voltage is None else float(voltage),
            frequency_hz=number("Hz"),
            extra=extra,
        )

    def set_active_power_limit_pct(self, limit_pct: float | None) -> None:
        if limit_pct is None:
            self.write_point(704, "WMaxLimPctEna", 0)
            return
        limit_pct = float(limit_pct)
        if not 0.0 <= limit_pct <= 100.0:
            raise ValueError(f"active power limit must be 0..100 % of rated power, got {limit_pct:g}")
        if self.safety.power_max_w is not None:
            if self._rated_power_w is None:
                raise InstrumentError(
                    "cannot check the limit against power_max_w: the device's rated power (702 WMaxRtg) is unknown",
                    address=self.address,
                )
            self.safety.check("power", limit_pct / 100.0 * self._rated_power_w, "w", address=self.address)
        with self.lock:
            self.write_point(704, "WMaxLimPct", limit_pct)
            self.write_point(704, "WMaxLimPctEna", 1)

    def active_power_limit_pct(self) -> float | None:
        controls = self.read_model(704)
        if controls.get("WMaxLimPctEna") != 1:
            return None
        value = controls.get("WMaxLimPct")
        return None if value is None else float(value)

    def snapshot(self) -> dict[str, Any]:
        with self.lock:
            ident = self.identity()
            snap: dict[str, Any] = {
                "driver": "sunspec-der",
                "address": self.address,
                "manufacturer": ident.manufacturer,
                "model": ident.model,
                "serial": ident.serial,
                "firmware": ident.firmware,
                "base_address": self.base_address,
                "models": [
                    {"id": loc.model_id, "start": loc.start, "length": loc.length}
                    for locs in self.models.values()
                    for loc in locs
                ],
            }
            if 702 in self.models:
                plate = self.nameplate()
                snap["rated_power_w"] = plate.max_power_w
                snap["rated_apparent_power_va"] = plate.max_apparent_power_va
                snap["rated_reactive_power_var"] = plate.max_reactive_power_var
            if 704 in self.models:
                controls = self.read_model(704)
                for name in ("WMaxLimPctEna", "WMaxLimPct", "WMaxLimPctRvrt", "WMaxLimPctEnaRvrt", "WMaxLimPctRvrtTms", "WSetEna", "WSet", "WRmp"):
                    snap[f"704.{name}"] = controls.get(name)
            return snap

