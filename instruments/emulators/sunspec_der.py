"""Emulated SunSpec DER: a Modbus TCP server on loopback with a SunSpec register map.

The map starts with "SunS" at register 40000 and chains the requested models
(default 1, 701, 702, 704), laid out from pysunspec2's model definitions
(instruments.sunspec.layout), then the 0xFFFF end model. Points the emulator
does not implement hold their "not implemented" sentinel.

Like a device, it answers Modbus exception responses:

- code 1 (illegal function) for anything but holding-register reads and writes;
- code 2 (illegal data address) for reads outside the map and for writes to
  read-only points, model headers, scale factors or registers outside the map;
- code 3 (illegal data value) for a write that covers only part of a
  multi-register point, an enumerated value outside the point's symbols, or a
  percentage outside its range (WMaxLimPct 0-100 %).

The server is pymodbus's ModbusTcpServer with a device context of our own:
pymodbus 3.11 lets a context return an exception code from its async read and
write hooks, which is exactly where the map is checked, and lets a hung
request wait without blocking other connections.

Hooks for the virtual lab:

- ``get(model_id, point)`` / ``set(model_id, point, value)`` in engineering units
  (scale factors applied; None for, or to make, an unimplemented point);
- ``on_write(model_id, point, value)``: called, without the lock held, for each
  point a client wrote;
- ``responding``: False accepts connections and requests but never replies;
- ``drop_connections()``: close every client connection, as a device that reboots would.
"""
from __future__ import annotations

import asyncio
import logging
import threading
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Mapping

from pymodbus.constants import ExcCodes
from pymodbus.datastore import ModbusServerContext
from pymodbus.datastore.context import ModbusBaseDeviceContext
from pymodbus.server import ModbusTcpServer

from ..sunspec.layout import END_MODEL_ID, SUNS_MARKER, ModelBlock, PointSpec, decode, fixed_layout
from .common import Clock, CommandLog, WallClock

logging.getLogger("pymodbus").addHandler(logging.NullHandler())
log = logging.getLogger(__name__)

DEFAULT_BASE = 40000
READ_FUNCTIONS = (3, 6, 23)  # 6 and 23 read back after writing
WRITE_FUNCTIONS = (6, 16, 23)
ENUM_TYPES = ("enum16", "enum32")

# Engineering ranges a device enforces on its control points.
VALUE_RANGES: dict[tuple[int, str], tuple[float, float]] = {
    (704, "WMaxLimPct"): (0.0, 100.0),
    (704, "WMaxLimPctRvrt"): (0.0, 100.0),
    (704, "WSetPct"): (-100.0, 100.0),
    (704, "WSetPctRvrt"): (-100.0, 100.0),
    (704, "VarSetPct"): (-100.0, 100.0),
    (704, "VarSetPctRvrt"): (-100.0, 100.0),
}

DEFAULT_IDENTITY = {"manufacturer": "flexbench", "model": "Virtual DER", "serial": "EMU-0001", "firmware": "1.0.0"}
DEFAULT_RATED_POWER_W = 10000.0
DEFAULT_REACTIVE_RATIO = 0.44  # rated var per rated VA when no reactive rating is given
_IDENTITY_POINTS = {"manufacturer": "Mn", "model": "Md", "serial": "SN", "firmware": "Vr", "options": "Opt"}
_NAMEPLATE_ALIASES = {
    "rated_power_w": "max_power_w",
    "rated_apparent_power_va": "max_apparent_power_va",
    "rated_reactive_power_var": "max_reactive_power_var",
}
_NAMEPLATE_POINTS = {
    "max_power_w": ("WMaxRtg", "WMax"),
    "max_apparent_power_va": ("VAMaxRtg", "VAMax"),
    "max_reactive_power_var": ("VarMaxInjRtg", "VarMaxInj", "VarMaxAbsRtg", "VarMaxAbs"),
    "nominal_voltage_v": ("VNomRtg", "VNom"),
}


@dataclass(frozen=True)
class ModbusRequestRecord:
    """One request as the emulator received it."""

    time_s: float
    function_code: int
    unit: int
    register: int
    count: int
    values: tuple[int, ...] = ()

    @property
    def command(self) -> str:
        if self.values:
            return f"fc{self.function_code} unit {self.unit} write {self.register} {list(self.values)}"
        return f"fc{self.function_code} unit {self.unit} read {self.register} x{self.count}"


def _nameplate(given: Mapping[str, Any]) -> dict[str, Any]:
    """Ratings by canonical key, then any 702 points given by name (those win).

    Keys: Nameplate's field names (max_power_w, max_apparent_power_va,
    max_reactive_power_var), the bench's rated_* names, nominal_voltage_v, or
    702 point names (WMaxRtg, VAMaxRtg, VarMaxInjRtg, VNomRtg, ...).
    """
    plate = {_NAMEPLATE_ALIASES.get(k, k): v for k, v in given.items()}

    def pick(key: str, point: str, default: float) -> float:
        value = plate.get(key, plate.get(point))
        return float(default if value is None else value)

    canonical = {"max_power_w": pick("max_power_w", "WMaxRtg", DEFAULT_RATED_POWER_W)}
    canonical["max_apparent_power_va"] = pick("max_apparent_power_va", "VAMaxRtg", canonical["max_power_w"])
    canonical["max_reactive_power_var"] = pick(
        "max_reactive_power_var", "VarMaxInjRtg", DEFAULT_REACTIVE_RATIO * canonical["max_apparent_power_va"]
    )
    if "nominal_voltage_v" in plate:
        canonical["nominal_voltage_v"] = float(plate["nominal_voltage_v"])
    points = {k: v for k, v in plate.items() if k not in _NAMEPLATE_POINTS}
    return {**canonical, **points}


def _exponent_for(value: float, limit: int) -> int:
    """Smallest scale-factor exponent (>= 0) at which 1.2 x value fits the register."""
    exponent = 0
    while abs(value) * 1.2 / (10.0 ** exponent) > limit and exponent < 10:
        exponent += 1
    return exponent


class _DeviceContext(ModbusBaseDeviceContext):
    def __init__(self, emulator: "SunSpecDEREmulator") -> None:
        self.emulator = emulator

    def reset(self) -> None:
        """Registers are the emulator's state; a Modbus reset leaves them."""

    async def async_getValues(self, func_code: int, address: int, count: int = 1):
        await self.emulator._wait_until_responding()
        if func_code not in READ_FUNCTIONS:
            return ExcCodes.ILLEGAL_FUNCTION
        return self.emulator._read(address, count)

    async def async_setValues(self, func_code: int, address: int, values):
        await self.emulator._wait_until_responding()
        if func_code not in WRITE_FUNCTIONS:
            return ExcCodes.ILLEGAL_FUNCTION
        return self.emulator._write(address, [int(v) for v in values])


class SunSpecDEREmulator:
    """A SunSpec DER's Modbus map, served on 127.0.0.1 at a port chosen at start()."""

    def __init__(
        self,
        models: Iterable[int] = (1, 701, 702, 704),
        unit_id: int = 1,
        nameplate: Mapping[str, float] | None = None,
        identity: Mapping[str, str] | None = None,
        clock: Clock | None = None,
        *,
        base_address: int = DEFAULT_BASE,
    ) -> None:
        self.models = tuple(int(m) for m in models)
        if len(set(self.models)) != len(self.models):
            raise ValueError(f"each model may appear once, got {self.models}")
        self.unit_id = unit_id
        self.base_address = base_address
        self.clock: Clock = clock or WallClock()
        self.lock = threading.RLock()
        self.responding = True
        self.on_write: Callable[[int, str, object], None] | None = None
        self.command_log = CommandLog()
        self.blocks: dict[int, ModelBlock] = {}
        self._starts: list[tuple[int, ModelBlock]] = []
        start = base_address + 2
        for model_id in self.models:
            block = ModelBlock(fixed_layout(model_id))
            self.blocks[model_id] = block
            self._starts.append((start, block))
            start += block.layout.size
        self._end = start  # register of the end model's ID
        self._populate(_nameplate(nameplate or {}), dict(DEFAULT_IDENTITY, **(identity or {})))
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._server: ModbusTcpServer | None = None
        self._stop_event: asyncio.Event | None = None
        self._stopping = False
        self._port: int | None = None

    # -- initial content -------------------------------------------------------------
    def _populate(self, nameplate: dict[str, Any], identity: dict[str, Any]) -> None:
        b = self.blocks
        if 1 in b:
            for key, value in identity.items():
                point = _IDENTITY_POINTS.get(key, key)
                b[1].set(point, None if value is None else str(value))
            b[1].set("DA", self.unit_id)
        rated_w = nameplate["max_power_w"]
        rated_va = nameplate["max_apparent_power_va"]
        rated_var = nameplate["max_reactive_power_var"]
        w_sf = _exponent_for(max(rated_w, rated_va, rated_var), 32767)
        # Centiamps where they fit: at 100 V or more the current in centiamps is at most the VA rating.
        a_sf = -2 + _exponent_for(rated_va, 32767)
        if 701 in b:
            m = b[701]
            for sf, value in (("W_SF", w_sf), ("VA_SF", w_sf), ("Var_SF", w_sf), ("PF_SF", -3), ("A_SF", a_sf),
                              ("V_SF", -1), ("Hz_SF", -2), ("TotWh_SF", 0), ("TotVarh_SF", 0), ("Tmp_SF", -1)):
                m.set_raw(sf, value)
            for point, value in (("ACType", 2), ("St", 1), ("InvSt", 3), ("ConnSt", 1), ("W", 0.0), ("VA", 0.0),
                                 ("Var", 0.0), ("PF", 1.0), ("A", 0.0), ("LLV", 0.0), ("LNV", 0.0), ("Hz", 0.0),
                                 ("TotWhInj", 0), ("TotWhAbs", 0)):
                m.set(point, value)
        if 702 in b:
            m = b[702]
            for sf, value in (("W_SF", w_sf), ("VA_SF", w_sf), ("Var_SF", w_sf), ("PF_SF", -3), ("V_SF", -1), ("A_SF", a_sf)):
                m.set_raw(sf, value)
            for key, value in nameplate.items():
                for point in _NAMEPLATE_POINTS.get(key, (key,)):
                    m.set(point, value)
        if 704 in b:
            m = b[704]
            for sf, value in (("PF_SF", -3), ("WMaxLimPct_SF", -1), ("WSet_SF", w_sf), ("WSetPct_SF", -1),
                              ("VarSet_SF", w_sf), ("VarSetPct_SF", -1)):
                m.set_raw(sf, value)
            for point, value in (("WMaxLimPctEna", 0), ("WMaxLimPct", 100.0), ("WMaxLimPctRvrt", 100.0),
                                 ("WMaxLimPctEnaRvrt", 0), ("WMaxLimPctRvrtTms", 0), ("WMaxLimPctRvrtRem", 0),
                                 ("WSetEna", 0), ("WSetMod", 0), ("WSet", 0.0), ("WSetPct", 0.0), ("VarSetEna", 0),
                                 ("WRmp", 0), ("WRmpRef", 1)):
                m.set(point, value)

    # -- engineering access for the plant --------------------------------------------------
    def _block(self, model_id: int) -> ModelBlock:
        try:
            return self.blocks[model_id]
        except KeyError:
            raise KeyError(f"the emulator serves no model {model_id} (models: {self.models})") from None

    def get(self, model_id: int, point: str) -> float | int | str | None:
        with self.lock:
            return self._block(model_id).get(point)

    def set(self, model_id: int, point: str, value: float | int | str | None) -> None:
        with self.lock:
            self._block(model_id).set(point, value)

    def registers(self) -> list[int]:
        """The whole map from the 'SunS' marker to the end model, as a client reads it."""
        with self.lock:
            image = list(SUNS_MARKER)
            for _, block in self._starts:
                image += block.registers
            return image + [END_MODEL_ID, 0]

    # -- Modbus side (runs in the server thread) ---------------------------------------------
    async def _wait_until_responding(self) -> None:
        while not self.responding and not self._stopping:
            await asyncio.sleep(0.01)

    def _read(self, address: int, count: int):
        image = self.registers()
        offset = address - self.base_address
        if offset < 0 or count < 1 or offset + count > len(image):
            return ExcCodes.ILLEGAL_ADDRESS
        return image[offset : offset + count]

    def _locate(self, register: int) -> tuple[int, ModelBlock] | None:
        for start, block in self._starts:
            if start <= register < start + block.layout.size:
                return start, block
        return None

    def _write(self, address: int, values: list[int]):
        events: list[tuple[int, str, object]] = []
        with self.lock:
            touched: dict[tuple[int, str], tuple[int, ModelBlock, PointSpec]] = {}
            for i in range(len(values)):
                found = self._locate(address + i)
                if found is None:
                    return ExcCodes.ILLEGAL_ADDRESS
                start, block = found
                spec = block.layout.point_at(address + i - start)
                if spec is None or not spec.writable:
                    return ExcCodes.ILLEGAL_ADDRESS
                touched[(block.model_id, spec.name)] = (start, block, spec)
            staged: dict[int, list[int]] = {}
            for start, block, spec in touched.values():
                first, last = start + spec.offset, start + spec.end
                if first < address or last > address + len(values):
                    return ExcCodes.ILLEGAL_VALUE
                regs = staged.setdefault(block.model_id, list(block.registers))
                regs[spec.offset : spec.end] = values[first - address : last - address]
            for start, block, spec in touched.values():
                trial = ModelBlock(block.layout, staged[block.model_id])
                raw = decode(spec, trial.registers)
                if spec.type in ENUM_TYPES and raw is not None and spec.symbols and raw not in spec.symbols.values():
                    return ExcCodes.ILLEGAL_VALUE
                bounds = VALUE_RANGES.get((block.model_id, spec.name))
                value = trial.get(spec.name)
                if bounds is not None and isinstance(value, (int, float)) and not bounds[0] <= value <= bounds[1]:
                    return ExcCodes.ILLEGAL_VALUE
            for model_id, regs in staged.items():
                self.blocks[model_id].registers[:] = regs
            for start, block, spec in touched.values():
                events.append((block.model_id, spec.name, block.get(spec.name)))
        callback = self.on_write
        if callback is not None:
            try:
                for model_id, name, value in events:
                    callback(model_id, name, value)
            except Exception:
                # The registers hold the write; the device reports its own failure.
                log.exception("SunSpec emulator: on_write hook failed")
                return ExcCodes.DEVICE_FAILURE
        return None

    def _trace_pdu(self, sending: bool, pdu):
        if not sending:
            registers = tuple(int(v) for v in (getattr(pdu, "registers", None) or ())) if pdu.function_code in WRITE_FUNCTIONS else ()
            self.command_log.append(
                ModbusRequestRecord(
                    time_s=self.clock.now(),
                    function_code=int(pdu.function_code),
                    unit=int(pdu.dev_id),
                    register=int(getattr(pdu, "address", getattr(pdu, "read_address", 0)) or 0),
                    count=int(getattr(pdu, "count", len(registers)) or len(registers)),
                    values=registers,
                )
            )
        return pdu

    # -- lifecycle ---------------------------------------------------------------------------------
    @property
    def port(self) -> int:
        if self._port is None:
            raise RuntimeError("emulator is not running")
        return self._port

    @property
    def address(self) -> str:
        return f"modbus+tcp://127.0.0.1:{self.port}/{self.unit_id}"

    @property
    def running(self) -> bool:
        return self._thread is not None

    def start(self) -> "SunSpecDEREmulator":
        if self._thread is not None:
            return self
        ready = threading.Event()
        failure: list[BaseException] = []
        loop = asyncio.new_event_loop()
        self._stopping = False

        def run() -> None:
            asyncio.set_event_loop(loop)
            try:
                loop.run_until_complete(self._serve(ready))
            except BaseException as exc:  # reported to start()
                failure.append(exc)
                ready.set()
            finally:
                loop.close()

        thread = threading.Thread(target=run, name="SunSpecDEREmulator", daemon=True)
        self._loop, self._thread = loop, thread
        thread.start()
        if not ready.wait(10) or failure:
            self._thread = self._loop = None
            thread.join(timeout=5)
            raise RuntimeError(f"SunSpec emulator failed to start: {failure[0] if failure else 'timeout'}")
        return self

    async def _serve(self, ready: threading.Event) -> None:
        self._stop_event = asyncio.Event()
        context = ModbusServerContext(devices={self.unit_id: _DeviceContext(self)}, single=False)
        server = ModbusTcpServer(context, address=("127.0.0.1", 0), trace_pdu=self._trace_pdu)
        await server.serve_forever(background=True)
        self._server = server
        self._port = server.transport.sockets[0].getsockname()[1]
        ready.set()
        await self._stop_event.wait()
        self._stopping = True
        await server.shutdown()
        current = asyncio.current_task()
        pending = [t for t in asyncio.all_tasks() if t is not current]
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)

    def stop(self) -> None:
        thread, loop = self._thread, self._loop
        if thread is None or loop is None:
            return
        self._thread = None
        self._stopping = True
        if self._stop_event is not None and not loop.is_closed():
            loop.call_soon_threadsafe(self._stop_event.set)
        thread.join(timeout=10)
        self._loop = self._server = None
        self._port = None

    def drop_connections(self) -> None:
        """Close every client connection (the server keeps listening)."""
        loop, server = self._loop, self._server
        if loop is None or server is None:
            return

        async def close_all() -> None:
            for conn in list(server.active_connections.values()):
                conn.close()

        asyncio.run_coroutine_threadsafe(close_all(), loop).result(timeout=5)

    def __enter__(self) -> "SunSpecDEREmulator":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
