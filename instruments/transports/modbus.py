"""Holding-register transport over Modbus TCP (and RTU) with pymodbus's sync client.

Policy, stated once for every Modbus driver built on it:

- **Timeout**: one attempt per request (pymodbus retries are off), waiting at
  most `timeout_s`; on expiry InstrumentTimeout names the address and the
  request. The socket is then closed, so a late reply can never be matched to
  a later request; the next request reconnects.
- **Reconnect**: a dropped connection (peer closed or reset) is reconnected
  once and the request sent again; if that also fails, InstrumentError
  ("connection lost") names the address. Register writes are idempotent, so
  repeating one after a drop is safe.
- **Exception responses**: raised as ModbusExceptionResponse (an
  InstrumentError) carrying the exception code and the first register of the
  request, e.g. code 2 "illegal data address".
- **Threads**: one re-entrant lock per transport serialises requests; drivers
  hold `lock` across read-modify-write sequences.
- Reads longer than 125 registers are split, as the protocol requires.
- Tables: holding registers (function 3, written with 16, or 6 for one
  register) and input registers (function 4, read-only).
- RTU: the same policy on a serial line (pyserial through pymodbus); a lost
  line shows as a timeout, since a serial port has no connection to drop.
  Units on one bus share the port: every transport on the same device path
  uses one client and one lock (a port opens exclusively), and each request
  runs with its own transport's timeout.
- `recording()` lists the requests sent meanwhile (function code and register
  counts), from which transports.serial_line computes their time on a line.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Iterator
from typing import NoReturn

from pymodbus.client import ModbusSerialClient, ModbusTcpClient
from pymodbus.exceptions import ConnectionException, ModbusException, ModbusIOException

from ..addresses import ModbusRtuAddress, ModbusTcpAddress
from ..roles import InstrumentError, InstrumentTimeout

# Failures reach the caller as exceptions; keep pymodbus's own error log (with
# frame dumps) off stderr unless the application configured logging.
logging.getLogger("pymodbus").addHandler(logging.NullHandler())

MAX_READ_REGISTERS = 125
MAX_WRITE_REGISTERS = 123

EXCEPTION_NAMES = {
    1: "illegal function",
    2: "illegal data address",
    3: "illegal data value",
    4: "server device failure",
    5: "acknowledge",
    6: "server device busy",
    8: "memory parity error",
    10: "gateway path unavailable",
    11: "gateway target device failed to respond",
}


class ModbusExceptionResponse(InstrumentError):
    """The device answered with a Modbus exception response."""

    def __init__(self, exception_code: int, register: int, *, address: str = "", command: str = "") -> None:
        self.exception_code = exception_code
        self.register = register
        name = EXCEPTION_NAMES.get(exception_code, "unknown exception")
        super().__init__(
            f"Modbus exception code {exception_code} ({name}) at register {register}", address=address, command=command
        )


class _Dropped(Exception):
    """Internal: the connection dropped under a request."""


class _SerialPort:
    """One serial port and its client, shared by every unit on the bus."""

    def __init__(self, client: ModbusSerialClient) -> None:
        self.client = client
        self.lock = threading.RLock()


_FUNCTION_OF_KIND = {"read": 3, "read input": 4, "write single": 6, "write": 16}

# A request as recording() lists it: function code, registers read, registers written.
Request = tuple[int, int, int]

_PORTS: dict[tuple[str, int, str, int], _SerialPort] = {}
_PORTS_LOCK = threading.Lock()


def _serial_port(a: ModbusRtuAddress, timeout_s: float) -> _SerialPort:
    key = (a.device, a.baud, a.parity, a.stopbits)
    with _PORTS_LOCK:
        port = _PORTS.get(key)
        if port is None:
            client = ModbusSerialClient(
                a.device,
                baudrate=a.baud,
                parity=a.parity,
                stopbits=a.stopbits,
                bytesize=8,
                timeout=timeout_s,
                retries=0,
            )
            port = _PORTS[key] = _SerialPort(client)
        return port


class ModbusTransport:
    """Read and write the registers of one unit over TCP or a serial line."""

    def __init__(
        self, address: ModbusTcpAddress | ModbusRtuAddress, *, timeout_s: float = 2.0, label: str | None = None
    ) -> None:
        self.address = address
        self.label = label or str(address)  # how errors name the device: the address as the bench file wrote it
        self.unit = address.unit
        self.timeout_s = timeout_s
        self._port = _serial_port(address, timeout_s) if isinstance(address, ModbusRtuAddress) else None
        self.lock = self._port.lock if self._port is not None else threading.RLock()
        self._client: ModbusTcpClient | ModbusSerialClient | None = None
        self._recorded: list[Request] | None = None

    @contextlib.contextmanager
    def recording(self) -> Iterator[list[Request]]:
        """The requests this transport sends within the block, in order (a reconnect's repeat is not one more)."""
        requests: list[Request] = []
        self._recorded = requests
        try:
            yield requests
        finally:
            self._recorded = None

    def _make_client(self) -> ModbusTcpClient | ModbusSerialClient:
        a = self.address
        if isinstance(a, ModbusTcpAddress):
            return ModbusTcpClient(a.host, port=a.port, timeout=self.timeout_s, retries=0)
        assert self._port is not None  # set in __init__ for every serial address
        return self._port.client

    def _use_own_timeout(self, client: ModbusTcpClient | ModbusSerialClient) -> None:
        if self._port is None or not isinstance(client, ModbusSerialClient):
            return
        client.comm_params.timeout_connect = self.timeout_s
        if client.socket is not None:
            client.socket.timeout = self.timeout_s

    # -- connection ------------------------------------------------------
    def connect(self) -> None:
        with self.lock:
            if self._client is None:
                self._client = self._make_client()
            self._use_own_timeout(self._client)
            if not self._client.connect():
                self._client.close()
                raise InstrumentError("cannot connect", address=self.label)

    def close(self) -> None:
        """Close the connection (on a shared serial port, the port: the next request of any unit reopens it)."""
        with self.lock:
            client, self._client = self._client, None
            if client is not None:
                client.close()

    @property
    def connected(self) -> bool:
        return self._client is not None and self._client.connected

    # -- requests --------------------------------------------------------
    def read_holding_registers(self, register: int, count: int) -> list[int]:
        """Read `count` holding registers starting at `register` (0-based protocol address)."""
        return self._read("read", register, count)

    def read_input_registers(self, register: int, count: int) -> list[int]:
        """Read `count` input registers (function 4) starting at `register`."""
        return self._read("read input", register, count)

    def read_registers(self, table: str, register: int, count: int) -> list[int]:
        """Read from the "holding" or the "input" table."""
        if table not in ("holding", "input"):
            raise ValueError(f"table must be 'holding' or 'input', got {table!r}")
        return self._read("read" if table == "holding" else "read input", register, count)

    def _read(self, kind: str, register: int, count: int) -> list[int]:
        values: list[int] = []
        while count > 0:
            n = min(count, MAX_READ_REGISTERS)
            values += self._request(kind, register, n, None)
            register += n
            count -= n
        return values

    def write_registers(self, register: int, values: list[int]) -> None:
        """Write registers with function 16 (split into protocol-sized blocks)."""
        for start in range(0, len(values), MAX_WRITE_REGISTERS):
            chunk = [int(v) & 0xFFFF for v in values[start : start + MAX_WRITE_REGISTERS]]
            self._request("write", register + start, len(chunk), chunk)

    def write_register(self, register: int, value: int) -> None:
        """Write one register with function 6 (for devices that take no function 16)."""
        self._request("write single", register, 1, [int(value) & 0xFFFF])

    def _request(self, kind: str, register: int, count: int, values: list[int] | None) -> list[int]:
        noun = "register(s)" if kind != "read input" else "input register(s)"
        verb = kind.split()[0]
        command = f"{verb} {count} {noun} at {register} (unit {self.unit})"
        if kind == "write single":
            command = f"write 1 register at {register} with function 6 (unit {self.unit})"
        with self.lock:
            if self._recorded is not None:
                written = count if values is not None else 0
                self._recorded.append((_FUNCTION_OF_KIND[kind], count - written, written))
            try:
                return self._once(kind, register, count, values, command)
            except _Dropped:
                pass
            # Reconnect once and send the request again.
            self.close()
            try:
                return self._once(kind, register, count, values, command)
            except _Dropped as exc:
                self.close()
                raise InstrumentError(f"connection lost: {exc}", address=self.label, command=command) from None

    def _once(self, kind: str, register: int, count: int, values: list[int] | None, command: str) -> list[int]:
        if self._client is None:
            self._client = self._make_client()
        client = self._client
        self._use_own_timeout(client)
        if not client.connected and not client.connect():
            raise _Dropped("cannot connect")
        try:
            if kind == "read":
                response = client.read_holding_registers(register, count=count, device_id=self.unit)
            elif kind == "read input":
                response = client.read_input_registers(register, count=count, device_id=self.unit)
            elif values is None:
                raise ValueError(f"{kind} needs values")
            elif kind == "write single":
                response = client.write_register(register, values[0], device_id=self.unit)
            else:
                response = client.write_registers(register, values, device_id=self.unit)
        except ConnectionException as exc:
            raise _Dropped(_first_line(exc)) from exc
        except ModbusIOException as exc:
            self._timeout(exc, command)
        except OSError as exc:
            raise _Dropped(_first_line(exc)) from exc
        except ModbusException as exc:
            self.close()
            raise InstrumentError(f"Modbus failure: {_first_line(exc)}", address=self.label, command=command) from exc
        if response.isError():
            code = int(getattr(response, "exception_code", 0))
            raise ModbusExceptionResponse(code, register, address=self.label, command=command)
        if values is None:
            registers = list(response.registers)
            if len(registers) < count:
                self.close()
                raise InstrumentError(
                    f"short reply: {len(registers)} of {count} registers", address=self.label, command=command
                )
            return registers[:count]
        return []

    def _timeout(self, exc: Exception, command: str) -> NoReturn:
        self.close()
        text = _first_line(exc)
        if "No response" in text or "retries" in text:
            raise InstrumentTimeout(
                f"timed out: no answer within {self.timeout_s:g} s", address=self.label, command=command
            ) from exc
        raise InstrumentError(f"Modbus I/O failure: {text}", address=self.label, command=command) from exc


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0]
