"""SunSpecModbusDevice: discovery and point access shared by the SunSpec DER and meter drivers.

On connect a driver walks the model chain (ID, L) from the "SunS" marker to
the 0xFFFF end model and remembers where each model starts; the marker is
looked for at 40000, then 0, then 50000 (or at the ``base_address`` option).
Register layouts, types, scale factors and "not implemented" sentinels come
from pysunspec2's model definitions (instruments.sunspec.layout), so an
unimplemented point reads as None and a model with repeating groups (705
curves) is laid out from the counts the device reports.

A whole model instance is read in one pass (split only where the protocol
requires, at 125 registers), so a value and its scale factor agree.
Timeouts, reconnection (a dropped TCP connection is reopened once and the
request repeated), exception responses and threads: see transports.modbus.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..addresses import ModbusRtuAddress, ModbusTcpAddress, parse_address
from ..roles import Identity, InstrumentError
from ..transports.modbus import ModbusExceptionResponse, ModbusTransport
from .layout import (
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

MAX_MODELS = 256


@dataclass(frozen=True)
class ModelLocation:
    model_id: int
    start: int  # register of the model's ID
    length: int  # L as the device reports it

    @property
    def size(self) -> int:
        return self.length + 2


class SunSpecModbusDevice:
    """Mixin for Instrument drivers of SunSpec devices: call init_sunspec() from __init__."""

    address: str
    options: dict[str, Any]
    timeout_s: float

    def init_sunspec(self, address: str, options: Mapping[str, Any]) -> None:
        parsed = parse_address(address)
        if not isinstance(parsed, (ModbusTcpAddress, ModbusRtuAddress)):
            raise ValueError(
                f"a SunSpec device is reached over Modbus: give modbus+tcp://host:port/unit, not {address!r}"
            )
        base = options.get("base_address")
        if base is not None and (not isinstance(base, int) or not 0 <= base <= 65533):
            raise ValueError(f"option base_address must be a register number 0..65533, got {base!r}")
        self.base_address: int | None = base
        self.transport = ModbusTransport(parsed, timeout_s=self.timeout_s, label=address)
        self.models: dict[int, list[ModelLocation]] = {}
        self._identity: Identity | None = None

    @property
    def lock(self):
        return self.transport.lock

    def close(self) -> None:
        self.transport.close()

    # -- discovery -----------------------------------------------------------------
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
                raise InstrumentError(
                    f"SunSpec model chain has no end model after {MAX_MODELS} models", address=self.address
                )
            self.base_address = base
            self.models = models
            return models

    def has_model(self, model_id: int) -> bool:
        return model_id in self.models

    def first_model(self, *model_ids: int) -> int | None:
        """The first of `model_ids` the device has, or None."""
        return next((m for m in model_ids if m in self.models), None)

    def location(self, model_id: int, instance: int = 0) -> ModelLocation:
        if not self.models:
            self.discover()
        found = self.models.get(model_id, [])
        if instance >= len(found):
            present = ", ".join(str(m) for m in sorted(self.models)) or "none"
            raise InstrumentError(
                f"the device has no SunSpec model {model_id} (models present: {present})", address=self.address
            )
        return found[instance]

    # -- generic point access -----------------------------------------------------------
    def _layout(self, loc: ModelLocation, registers: list[int] | None) -> ModelLayout:
        try:
            layout = fixed_layout(loc.model_id)
            if layout.length == loc.length:
                return layout
            if registers is None:
                registers = self.transport.read_holding_registers(loc.start, loc.size)
            return build_layout(
                loc.model_id, count_of=lambda spec: int(decode(spec, registers) or 0), length=loc.length
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
        self.write_points(model_id, {point: value}, instance)

    def write_points(self, model_id: int, values: Mapping[str, int | float | str | None], instance: int = 0) -> None:
        """Write several points of one model, each in its own request, in the order given.

        Every point is checked (present, writable, encodable with the device's
        scale factors) before the first request is sent.
        """
        with self.lock:
            loc = self.location(model_id, instance)
            layout = self._layout(loc, None)
            specs = []
            for point in values:
                try:
                    spec = layout.point(point)
                except KeyError as exc:
                    raise InstrumentError(str(exc.args[0]), address=self.address) from None
                if not spec.writable:
                    raise InstrumentError(f"model {model_id} point {point} is read-only", address=self.address)
                specs.append(spec)
            registers = [0] * layout.size
            for sf in {spec.sf for spec in specs if isinstance(spec.sf, str)}:
                sf_spec = layout.point(sf)
                registers[sf_spec.offset : sf_spec.end] = self.transport.read_holding_registers(
                    loc.start + sf_spec.offset, sf_spec.size
                )
            block = ModelBlock(layout, registers)
            requests = []
            for spec, value in zip(specs, values.values()):
                try:
                    requests.append((loc.start + spec.offset, block.encode_value(spec.name, value)))
                except ValueError as exc:
                    raise InstrumentError(
                        f"cannot write model {model_id} {spec.name} = {value!r}: {exc}", address=self.address
                    ) from None
            for register, words in requests:
                self.transport.write_registers(register, words)

    def common_identity(self) -> Identity:
        """Identity from model 1 (Mn, Md, SN, Vr), read once."""
        if self._identity is None:
            common = self.read_model(1)
            self._identity = Identity(
                manufacturer=str(common.get("Mn") or ""),
                model=str(common.get("Md") or ""),
                serial=str(common.get("SN") or ""),
                firmware=str(common.get("Vr") or ""),
            )
        return self._identity

    def model_list(self) -> list[dict[str, int]]:
        return [
            {"id": loc.model_id, "start": loc.start, "length": loc.length}
            for locs in self.models.values()
            for loc in locs
        ]
