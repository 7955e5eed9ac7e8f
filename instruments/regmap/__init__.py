"""Modbus devices described by data: register maps, a client, and a driver base.

- spec: RegisterMap and Point, loaded from a TOML map file (format in its docstring).
- client: RegisterMapClient, points by name over a ModbusTransport (block reads, checked writes).
- device: RegisterMapDevice, the Instrument base for drivers of such devices.
- maps: the bundled maps of real devices, by name.

The emulator that serves any map is instruments.emulators.regmap_device.RegisterMapEmulator.
"""

from .client import RegisterMapClient
from .device import RegisterMapDevice
from .maps import MAPS, bundled_map, load_map
from .spec import Block, Point, RegisterMap, RegisterMapError

__all__ = [
    "MAPS",
    "Block",
    "Point",
    "RegisterMap",
    "RegisterMapClient",
    "RegisterMapDevice",
    "RegisterMapError",
    "bundled_map",
    "load_map",
]
