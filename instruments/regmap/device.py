"""RegisterMapDevice: the base of drivers for devices described by a register map.

A driver subclasses it with a role (ModbusMeter is one) and gets connect,
close, identity, a snapshot of every writable point, and points by name:
``read_points()``, ``read_point()``, ``write_point()``, ``write_points()``
(see regmap.client for the checks). The map comes from the ``map`` option, a
bundled map's name (regmap.maps) or a path to a TOML file, or from the
``register_map`` argument.

Address: ``modbus+tcp://host:port/unit`` or ``modbus+rtu:///dev/ttyUSB0?baud=...&unit=...``.
Identity: the map's manufacturer and model, with the serial number and
firmware read from the map's ``serial_point`` and ``firmware_point`` where it
names them. Timeouts, reconnection, exception responses and threads: see
transports.modbus.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from ..addresses import ModbusRtuAddress, ModbusTcpAddress, parse_address
from ..roles import Identity, Instrument, SafetyLimits
from ..transports.modbus import ModbusTransport
from .client import RegisterMapClient
from .maps import load_map
from .spec import RegisterMap


class RegisterMapDevice(Instrument):
    """A Modbus device whose points a register map names."""

    driver_name = "register-map-device"

    def __init__(
        self,
        address: str,
        *,
        safety: SafetyLimits | None = None,
        options: Mapping[str, Any] | None = None,
        timeout_s: float = 2.0,
        register_map: RegisterMap | None = None,
    ) -> None:
        super().__init__(address, safety=safety, options=options, timeout_s=timeout_s)
        parsed = parse_address(address)
        if not isinstance(parsed, (ModbusTcpAddress, ModbusRtuAddress)):
            raise ValueError(
                f"{type(self).__name__} is reached over Modbus: give modbus+tcp://host:port/unit, not {address!r}"
            )
        if register_map is None:
            name = self.options.get("map")
            if not isinstance(name, str) or not name:
                raise ValueError("option map must name a bundled register map or a TOML file")
            register_map = load_map(name)
        self.register_map = register_map
        self.transport = ModbusTransport(parsed, timeout_s=timeout_s, label=address)
        self.client = RegisterMapClient(register_map, self.transport)
        self._identity: Identity | None = None

    @property
    def lock(self):
        return self.transport.lock

    def connect(self) -> None:
        with self.lock:
            self.transport.connect()
            self._identity = None

    def close(self) -> None:
        self.transport.close()

    # -- points ---------------------------------------------------------------------------
    def read_points(self, names: Iterable[str] | None = None) -> dict[str, Any]:
        return self.client.read_points(names)

    def read_point(self, name: str) -> Any:
        return self.client.read_point(name)

    def write_point(self, name: str, value: Any) -> None:
        self.client.write_point(name, value)

    def write_points(self, values: Mapping[str, Any]) -> None:
        self.client.write_points(values)

    # -- Instrument ---------------------------------------------------------------------------
    def identity(self) -> Identity:
        if self._identity is None:
            m = self.register_map
            names = [n for n in (m.serial_point, m.firmware_point) if n]
            values = self.read_points(names) if names else {}
            self._identity = Identity(
                manufacturer=m.manufacturer,
                model=m.model,
                serial=str(values.get(m.serial_point, "")) if m.serial_point else "",
                firmware=str(values.get(m.firmware_point, "")) if m.firmware_point else "",
            )
        return self._identity

    def snapshot(self) -> dict[str, Any]:
        with self.lock:
            ident = self.identity()
            settings = [n for n, p in self.register_map.points.items() if p.writable]
            snap: dict[str, Any] = {
                "driver": self.driver_name,
                "address": self.address,
                "manufacturer": ident.manufacturer,
                "model": ident.model,
                "serial": ident.serial,
                "firmware": ident.firmware,
                "register_map": self.register_map.origin or self.register_map.name,
            }
            if settings:
                snap["settings"] = self.read_points(settings)
            return snap

    def safe_state(self) -> None:
        """A register-map device keeps its settings; subclasses with outputs override."""
