"""Instrument addresses as written in bench files, parsed into typed values.

Three forms are accepted:

- a VISA resource string (``TCPIP0::host::5025::SOCKET``, ``TCPIP0::host::INSTR``,
  ``GPIB0::7::INSTR``, ``USB0::...::INSTR``, ``ASRL/dev/ttyUSB0::INSTR``),
  validated by pyvisa's own resource-name grammar;
- ``modbus+tcp://host:port/unit`` (port defaults to 502, unit to 1);
- ``modbus+rtu:///dev/ttyUSB0?baud=19200&parity=N&stopbits=1&unit=1``.

A bad address raises ValueError with a one-line reason; the bench loader adds
the file and key, so the reason never repeats them.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

from pyvisa import rname

MODBUS_TCP_DEFAULT_PORT = 502
_RTU_PARITIES = ("N", "E", "O")
_RTU_BAUDS = (1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200, 230400)


@dataclass(frozen=True)
class VisaAddress:
    """A VISA resource string; `interface` is pyvisa's interface type (TCPIP, GPIB, ASRL, USB...)."""

    resource: str
    interface: str
    resource_class: str  # SOCKET, INSTR, ...

    @property
    def is_socket(self) -> bool:
        return self.resource_class.upper() == "SOCKET"

    def __str__(self) -> str:
        return self.resource


@dataclass(frozen=True)
class ModbusTcpAddress:
    host: str
    port: int = MODBUS_TCP_DEFAULT_PORT
    unit: int = 1

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"modbus+tcp://{host}:{self.port}/{self.unit}"


@dataclass(frozen=True)
class ModbusRtuAddress:
    device: str
    baud: int = 9600
    parity: str = "N"
    stopbits: int = 1
    unit: int = 1

    def __str__(self) -> str:
        device = self.device if self.device.startswith("/") else f"/{self.device}"
        return f"modbus+rtu://{device}?baud={self.baud}&parity={self.parity}&stopbits={self.stopbits}&unit={self.unit}"


Address = VisaAddress | ModbusTcpAddress | ModbusRtuAddress


def parse_address(text: str) -> Address:
    """Parse a bench-file address; ValueError names what is wrong."""
    if not isinstance(text, str):
        raise ValueError(f"address must be a string, got {type(text).__name__}")
    text = text.strip()
    if not text:
        raise ValueError("address is empty")
    scheme = text.split("://", 1)[0].lower() if "://" in text else ""
    if scheme == "modbus+tcp":
        return _parse_modbus_tcp(text)
    if scheme == "modbus+rtu":
        return _parse_modbus_rtu(text)
    if scheme:
        raise ValueError(
            f"unknown address scheme {scheme!r} in {text!r}: use a VISA resource string, "
            "modbus+tcp://host:port/unit or modbus+rtu:///dev/port?baud=..."
        )
    return _parse_visa(text)


def _parse_visa(text: str) -> VisaAddress:
    try:
        parsed = rname.parse_resource_name(text)
    except rname.InvalidResourceName as exc:
        reason = str(exc).replace("\n", " ")
        raise ValueError(f"not a valid VISA resource string: {reason}") from None
    interface = str(parsed.interface_type)
    return VisaAddress(resource=str(parsed), interface=interface, resource_class=parsed.resource_class)


def _unit(value: str, text: str) -> int:
    try:
        unit = int(value)
    except ValueError:
        raise ValueError(f"Modbus unit id {value!r} in {text!r} is not an integer") from None
    if not 0 <= unit <= 247:
        raise ValueError(f"Modbus unit id {unit} in {text!r} is outside 0..247")
    return unit


def _parse_modbus_tcp(text: str) -> ModbusTcpAddress:
    parts = urlsplit(text)
    if parts.query or parts.fragment:
        raise ValueError(f"modbus+tcp address {text!r} takes no query or fragment (write /unit as the path)")
    host = parts.hostname
    if not host:
        raise ValueError(f"modbus+tcp address {text!r} has no host (modbus+tcp://host:port/unit)")
    try:
        port = parts.port
    except ValueError:
        raise ValueError(f"modbus+tcp address {text!r} has an invalid port") from None
    if port is None:
        port = MODBUS_TCP_DEFAULT_PORT
    if port == 0:
        raise ValueError(f"modbus+tcp address {text!r} has port 0")
    path = parts.path.strip("/")
    if "/" in path:
        raise ValueError(f"modbus+tcp address {text!r}: the path must be a single unit id")
    unit = _unit(path, text) if path else 1
    return ModbusTcpAddress(host=host, port=port, unit=unit)


def _parse_modbus_rtu(text: str) -> ModbusRtuAddress:
    parts = urlsplit(text)
    if parts.netloc:
        raise ValueError(
            f"modbus+rtu address {text!r} must name a serial device after three slashes "
            "(modbus+rtu:///dev/ttyUSB0?baud=9600)"
        )
    device = parts.path
    if not device or device == "/":
        raise ValueError(f"modbus+rtu address {text!r} names no serial device")
    # Windows ports arrive as "/COM3".
    if device[1:].upper().startswith("COM") and device.count("/") == 1:
        device = device[1:]
    query = parse_qs(parts.query, keep_blank_values=True, strict_parsing=False)
    known = {"baud", "parity", "stopbits", "unit"}
    unknown = sorted(set(query) - known)
    if unknown:
        raise ValueError(
            f"modbus+rtu address {text!r}: unknown parameter(s) {', '.join(unknown)} (use {', '.join(sorted(known))})"
        )
    for key, values in query.items():
        if len(values) != 1:
            raise ValueError(f"modbus+rtu address {text!r}: parameter {key!r} given more than once")

    def get(key: str) -> str | None:
        return query[key][0] if key in query else None

    baud = 9600
    if (raw := get("baud")) is not None:
        try:
            baud = int(raw)
        except ValueError:
            raise ValueError(f"modbus+rtu address {text!r}: baud {raw!r} is not an integer") from None
        if baud not in _RTU_BAUDS:
            raise ValueError(
                f"modbus+rtu address {text!r}: baud {baud} is not one of {', '.join(map(str, _RTU_BAUDS))}"
            )
    parity = (get("parity") or "N").upper()
    if parity not in _RTU_PARITIES:
        raise ValueError(f"modbus+rtu address {text!r}: parity {parity!r} must be N, E or O")
    stopbits = 1
    if (raw := get("stopbits")) is not None:
        if raw not in ("1", "2"):
            raise ValueError(f"modbus+rtu address {text!r}: stopbits {raw!r} must be 1 or 2")
        stopbits = int(raw)
    unit = _unit(raw, text) if (raw := get("unit")) is not None else 1
    return ModbusRtuAddress(device=device, baud=baud, parity=parity, stopbits=stopbits, unit=unit)
