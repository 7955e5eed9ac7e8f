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
"""
from __future__ import annotations

import logging
import threading
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
        super().__init__(f"Modbus exception code {exception_code} ({name}) at register {register}", address=address, command=command)


class _Dropped(Exception):
    """Internal: the connection dropped under a request."""


class ModbusTransport:
    """Read and write holding registers of one unit on one connection."""

    def __init__(self, address: ModbusTcpAddress | ModbusRtuAddress, *, timeout_s: float = 2.0) -> None:
        self.address = address
        self.unit = address.unit
        self.timeout_s = timeout_s
        self.lock = threading.RLock()
        self._client: ModbusTcpClient | ModbusSerialClient | None = None

    def _make_client(self) -> ModbusTcpClient | ModbusSerialClient:
        a = self.address
        if isinstance(a, ModbusTcpAddress):
            return ModbusTcpClient(a.host, port=a.port, timeout=self.timeout_s, retries=0)
        return ModbusSerialClient(
            a.device, baudrate=a.baud, parity=a.parity, stopbits=a.stopbits, bytesize=8, timeout=self.timeout_s, retries=0
        )

    # -- connection ------------------------------------------------------
    def connect(self) -> None:
        with self.lock:
            if self._client is None:
                self._client = self._make_client()
            if not self._client.connect():
                self._client.close()
                raise InstrumentError("cannot connect", address=str(self.address))

    def close(self) -> None:
        with self.lock:
            client, self._client = self._client, None
            if client is not None:
                client.close()

    @property
    def connected(self) -> bool:
        return self._client is not None and self._client.connected

    # -- requests --------------------------------------------------------
    def read_holding_registers(self, register: int, count: int) -> list[int]:
        """Read `count` registers starting at `register` (0-based protocol address)."""
        values: list[int] = []
        while count > 0:
            n = min(count, MAX_READ_REGISTERS)
            values += self._request("read", register, n, None)
            register += n
            count -= n
        return values

    def write_registers(self, register: int, values: list[int]) -> None:
        """Write registers with function 16 (split into protocol-sized blocks)."""
        for start in range(0, len(values), MAX_WRITE_REGISTERS):
            chunk = [int(v) & 0xFFFF for v in values[start : start + MAX_WRITE_REGISTERS]]
            self._request("write", register + start, len(chunk), chunk)

    def _request(self, kind: str, register: int, count: int, values: list[int] | None) -> list[int]:
        if kind == "read":
            command = f"read {count} register(s) at {register} (unit {self.unit})"
        else:
            command = f"write {count} register(s) at {register} (unit {self.unit})"
        with self.lock:
            try:
                return self._once(register, count, values, command)
            except _Dropped:
                pass
            # Reconnect once and send the request again.
            self.close()
            try:
                return self._once(register, count, values, command)
            except _Dropped as exc:
                self.close()
                raise InstrumentError(f"connection lost: {exc}", address=str(self.address), command=command) from None

    def _once(self, register: int, count: int, values: list[int] | None, command: str) -> list[int]:
        if self._client is None:
            self._client = self._make_client()
        client = self._client
        if not client.connected and not client.connect():
            raise _Dropped("cannot connect")
        try:
            if values is None:
                response = client.read_holding_registers(register, count=count, device_id=self.unit)
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
            raise InstrumentError(f"Modbus failure: {_first_line(exc)}", address=str(self.address), command=command) from exc
        if response.isError():
            code = int(getattr(response, "exception_code", 0))
            raise ModbusExceptionResponse(code, register, address=str(self.address), command=command)
        if values is None:
            registers = list(response.registers)
            if len(registers) < count:
                self.close()
                raise InstrumentError(
                    f"short reply: {len(registers)} of {count} registers", address=str(self.address), command=command
                )
            return registers[:count]
        return []

    def _timeout(self, exc: Exception, command: str) -> NoReturn:
        self.close()
        text = _first_line(exc)
        if "No response" in text or "retries" in text:
            raise InstrumentTimeout(f"timed out: no answer within {self.timeout_s:g} s", address=str(self.address), command=command) from exc
        raise InstrumentError(f"Modbus I/O failure: {text}", address=str(self.address), command=command) from exc


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0]
