"""Base of Modbus device emulators: pymodbus's server on loopback TCP or on a virtual serial pair.

A subclass serves registers by overriding two methods, called in the server
thread for every request:

- ``read_registers(table, address, count)`` -> list of registers, or an
  ExcCodes exception code; ``table`` is "holding" (function 3, and the
  read-back of 6 and 23) or "input" (function 4);
- ``write_registers(address, values)`` -> None, or an ExcCodes code.

The server is pymodbus's ModbusTcpServer (``link="tcp"``, 127.0.0.1, a port
chosen at start) or ModbusSerialServer on one end of a VirtualSerialPair
(``link="rtu"``, 8N1 at ``baud``, with the line's timing; the driver opens
the other end). Its device context is our own: pymodbus 3.11 lets a context
return an exception code from its async read and write hooks, which is
exactly where a device checks a request, and lets a hung request wait
without blocking other connections.

Shared behaviour:

- function codes other than the subclass's ``read_functions`` and
  ``write_functions`` answer exception 1 (illegal function);
- an RTU emulator ignores requests for other unit ids, as a device on a bus
  does; over TCP they answer exception 11 (gateway target failed to respond);
- ``responding = False``: requests are received and logged but never
  answered, not even after ``responding`` is set back, like a hung device;
- ``failing = True``: every request is answered with exception 4 (server
  device failure), like a device in a fault state;
- ``command_log`` records every request (ModbusRequestRecord) with the clock's time;
- ``on_exchange``: if set, called (in the server thread) with a ModbusExchange for
  every read or write that reached the device, once its answer is known: the
  data, the exception code it refused with, or that it never answered (the wire log;
  function 23 reports its write and its read);
- ``drop_connections()`` closes every TCP connection, as a device that reboots would;
- ``listen``: (host, port) the TCP server binds, ("127.0.0.1", 0) by default
  (a port chosen at start); set it before start() to serve a fixed address.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar, cast

from pymodbus.constants import ExcCodes
from pymodbus.datastore import ModbusServerContext
from pymodbus.datastore.context import ModbusBaseDeviceContext
from pymodbus.framer import FramerType
from pymodbus.server import ModbusSerialServer, ModbusTcpServer

from ..transports.serial_line import SerialLine
from .common import Clock, CommandLog, WallClock
from .serial_pair import VirtualSerialPair

logging.getLogger("pymodbus").addHandler(logging.NullHandler())
log = logging.getLogger(__name__)

LINKS = ("tcp", "rtu")
WRITE_FUNCTIONS = (6, 16, 23)
_TABLE_OF_FUNCTION = {3: "holding", 4: "input", 6: "holding", 16: "holding", 23: "holding"}


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


@dataclass(frozen=True)
class ModbusExchange:
    """One read or write as the device handled it: what was asked and how it answered."""

    time_s: float
    function_code: int
    unit: int
    operation: str  # "read" or "write"
    address: int
    count: int
    values: tuple[int, ...] = ()  # registers written, or read and returned
    exception_code: int | None = None  # the Modbus exception it answered, if it refused
    answered: bool = True  # False: the device held the request and never replied


class _DeviceContext(ModbusBaseDeviceContext):
    def __init__(self, emulator: ModbusEmulator) -> None:
        self.emulator = emulator

    def reset(self) -> None:
        """Registers are the emulator's state; a Modbus reset leaves them."""

    async def async_getValues(self, func_code: int, address: int, count: int = 1):
        emulator = self.emulator
        await emulator._gate(func_code, "read", address, count)
        result: list[int] | ExcCodes
        if emulator.failing:
            result = ExcCodes.DEVICE_FAILURE
        elif func_code not in emulator.read_functions and func_code not in WRITE_FUNCTIONS:
            result = ExcCodes.ILLEGAL_FUNCTION
        elif count < 1:
            result = ExcCodes.ILLEGAL_VALUE
        else:
            result = emulator.read_registers(_TABLE_OF_FUNCTION[func_code], address, count)
        if func_code != 6:  # function 6 reads back the register it wrote: one exchange, already reported
            emulator._exchange(func_code, "read", address, count, result)
        return result

    async def async_setValues(self, func_code: int, address: int, values):
        emulator = self.emulator
        registers = [int(v) for v in values]
        await emulator._gate(func_code, "write", address, len(registers), registers)
        result: ExcCodes | None
        if emulator.failing:
            result = ExcCodes.DEVICE_FAILURE
        elif func_code not in emulator.write_functions:
            result = ExcCodes.ILLEGAL_FUNCTION
        else:
            result = emulator.write_registers(address, registers)
        emulator._exchange(func_code, "write", address, len(registers), result, registers)
        return result


class ModbusEmulator:
    """A Modbus device served on 127.0.0.1 (TCP) or a virtual serial pair (RTU) from start() to stop()."""

    read_functions: ClassVar[tuple[int, ...]] = (3,)
    write_functions: ClassVar[tuple[int, ...]] = WRITE_FUNCTIONS

    def __init__(self, unit_id: int = 1, clock: Clock | None = None, *, link: str = "tcp", baud: int = 115200) -> None:
        if link not in LINKS:
            raise ValueError(f"link must be one of {', '.join(LINKS)}, got {link!r}")
        self.unit_id = unit_id
        self.link = link
        self.baud = baud
        self.clock: Clock = clock or WallClock()
        self.lock = threading.RLock()
        self.responding = True
        self.failing = False
        self.command_log = CommandLog()
        self.on_exchange: Callable[[ModbusExchange], None] | None = None
        self.listen: tuple[str, int] = ("127.0.0.1", 0)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._server: Any = None
        self._serial: VirtualSerialPair | None = None
        self._stop_event: asyncio.Event | None = None
        self._stopping = False
        self._port: int | None = None

    # -- what a subclass serves -------------------------------------------------------
    def read_registers(self, table: str, address: int, count: int) -> list[int] | ExcCodes:
        return ExcCodes.ILLEGAL_ADDRESS

    def write_registers(self, address: int, values: list[int]) -> ExcCodes | None:
        return ExcCodes.ILLEGAL_ADDRESS

    # -- request gate and exchange report ---------------------------------------------------
    def _exchange(
        self,
        function_code: int,
        operation: str,
        address: int,
        count: int,
        result: Any,
        written: list[int] | None = None,
        answered: bool = True,
    ) -> None:
        hook = self.on_exchange
        if hook is None:
            return
        refused = isinstance(result, ExcCodes)
        values = tuple(written or ()) if operation == "write" else (() if refused or result is None else tuple(result))
        try:
            hook(
                ModbusExchange(
                    self.clock.now(),
                    function_code,
                    self.unit_id,
                    operation,
                    address,
                    count,
                    values,
                    int(result) if refused else None,
                    answered,
                )
            )
        except Exception:  # an observer must never change what the device answers
            log.exception("Modbus emulator: on_exchange hook failed")

    async def _gate(
        self,
        function_code: int = 0,
        operation: str = "read",
        address: int = 0,
        count: int = 0,
        written: list[int] | None = None,
    ) -> None:
        """Hold a request that arrived while the device hangs, until the server stops."""
        if self.responding:
            return
        self._exchange(function_code, operation, address, count, None, written, answered=False)
        while not self._stopping:
            await asyncio.sleep(0.02)
        raise asyncio.CancelledError

    def _trace_pdu(self, sending: bool, pdu):
        if not sending:
            function_code = int(pdu.function_code)
            values: tuple[int, ...] = ()
            if function_code in WRITE_FUNCTIONS:
                values = tuple(
                    int(v) for v in (getattr(pdu, "registers", None) or getattr(pdu, "write_registers", None) or ())
                )
            address = getattr(pdu, "address", None)
            if address is None:
                address = getattr(pdu, "write_address", getattr(pdu, "read_address", 0))
            self.command_log.append(
                ModbusRequestRecord(
                    time_s=self.clock.now(),
                    function_code=function_code,
                    unit=int(pdu.dev_id),
                    register=int(address or 0),
                    count=int(getattr(pdu, "count", len(values)) or len(values)),
                    values=values,
                )
            )
        return pdu

    # -- lifecycle ---------------------------------------------------------------------------
    @property
    def port(self) -> int:
        """TCP port of a running TCP emulator."""
        if self._port is None:
            raise RuntimeError("emulator is not running on TCP")
        return self._port

    @property
    def serial_device(self) -> str:
        """The serial device a client opens, for a running RTU emulator."""
        if self._serial is None:
            raise RuntimeError("emulator is not running on a serial link")
        return self._serial.device_a

    @property
    def address(self) -> str:
        """The bench-file address of the running emulator (modbus+tcp:// or modbus+rtu://)."""
        if self.link == "rtu":
            return f"modbus+rtu://{self.serial_device}?baud={self.baud}&parity=N&stopbits=1&unit={self.unit_id}"
        host = self.listen[0] if self.listen[0] not in ("", "0.0.0.0", "::") else "127.0.0.1"
        return f"modbus+tcp://{host}:{self.port}/{self.unit_id}"

    @property
    def running(self) -> bool:
        return self._thread is not None

    def start(self) -> ModbusEmulator:
        if self._thread is not None:
            return self
        ready = threading.Event()
        failure: list[BaseException] = []
        loop = asyncio.new_event_loop()
        self._stopping = False
        if self.link == "rtu":
            self._serial = VirtualSerialPair(SerialLine(self.baud))

        def run() -> None:
            asyncio.set_event_loop(loop)
            try:
                loop.run_until_complete(self._serve(ready))
            except BaseException as exc:  # reported to start()
                failure.append(exc)
                ready.set()
            finally:
                loop.close()

        thread = threading.Thread(target=run, name=type(self).__name__, daemon=True)
        self._loop, self._thread = loop, thread
        thread.start()
        if not ready.wait(10) or failure:
            self._thread = self._loop = None
            thread.join(timeout=5)
            self._close_serial()
            raise RuntimeError(f"{type(self).__name__} failed to start: {failure[0] if failure else 'timeout'}")
        return self

    async def _serve(self, ready: threading.Event) -> None:
        self._stop_event = asyncio.Event()
        context = ModbusServerContext(devices={self.unit_id: _DeviceContext(self)}, single=False)
        server: ModbusSerialServer | ModbusTcpServer
        if self._serial is not None:
            server = ModbusSerialServer(
                context,
                framer=FramerType.RTU,
                port=self._serial.device_b,
                baudrate=self.baud,
                ignore_missing_devices=True,
                trace_pdu=self._trace_pdu,
            )
            await server.serve_forever(background=True)
        else:
            server = ModbusTcpServer(context, address=self.listen, trace_pdu=self._trace_pdu)
            await server.serve_forever(background=True)
            listener = cast(asyncio.Server, server.transport)  # pymodbus types a listener's transport as BaseTransport
            self._port = listener.sockets[0].getsockname()[1]
        self._server = server
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
        self._close_serial()

    def _close_serial(self) -> None:
        serial, self._serial = self._serial, None
        if serial is not None:
            serial.close()

    def drop_connections(self) -> None:
        """Close every TCP client connection (the server keeps listening); a serial line has none."""
        loop, server = self._loop, self._server
        if loop is None or server is None or self.link != "tcp":
            return

        async def close_all() -> None:
            for conn in list(server.active_connections.values()):
                conn.close()

        asyncio.run_coroutine_threadsafe(close_all(), loop).result(timeout=5)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
