"""Emulated HIOKI PW3390 power analyzer: its LAN command port on a loopback socket.

As the instrument: replies carry headers until ``:HEADer OFF``; there is no
error queue, a refused message sets the standard event status register's
command (32) or execution (16) error bit, read and cleared by ``*ESR?``.
``:MEASure? Urms1,P2,...`` answers the items in the order asked, comma
separated; an item the PW3390 does not have, or a channel beyond 4, is an
execution error. The range settings (``:VOLTage<ch>:RANGe``, ``:AUTO``, and
the current's) are served from the model's spec: checked, kept per channel
and read back.

Hooks for the virtual lab:

- ``source``: called on each ``:MEASure?``, returning {channel: ElementReading};
  None reads zeros (and NaN frequency); THD the plant does not give reads 0 %
  (a pure sine);
- ``responding``: False makes it hang like a dead instrument.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable

from ..roles import ElementReading
from .scpi_server import Clock, ScpiEmulator, ScpiError, bool_arg, scpi

OVER_RANGE = "+9999.9E+99"
ITEM_FIELDS = {
    "URMS": "voltage_v",
    "IRMS": "current_a",
    "P": "power_w",
    "Q": "reactive_power_var",
    "S": "apparent_power_va",
    "PF": "power_factor",
    "FREQ": "frequency_hz",
    "UTHD": "voltage_thd_pct",
    "ITHD": "current_thd_pct",
}
ITEM = re.compile(r"^(" + "|".join(sorted(ITEM_FIELDS, key=len, reverse=True)) + r")([1-4])$")


def _value(value: float | None) -> str:
    if value is None:
        return "+0.00000E+00"  # no THD from the plant: a pure sine
    if not math.isfinite(value):
        return OVER_RANGE
    return f"{value:+.5E}"


class HiokiPW3390Emulator(ScpiEmulator):
    """A PW3390 with the given channels wired."""

    spec_name = "hioki-pw3390"
    session_start = (":HEADer OFF",)  # a client's first message: replies without headers
    error_query_patterns = ()  # no error queue: *ESR? tells
    manufacturer = "HIOKI"
    model = "PW3390"

    def __init__(
        self,
        elements: Iterable[int] = (1, 2),
        clock: Clock | None = None,
        *,
        serial: str = "170300001",
        firmware: str = "V1.00",
    ) -> None:
        self.elements = tuple(int(e) for e in elements)
        if not self.elements or any(not 1 <= e <= 4 for e in self.elements):
            raise ValueError(f"elements must be channel numbers 1..4, got {elements!r}")
        self.serial = serial
        self.firmware = firmware
        self.source: Callable[[], dict[int, ElementReading]] | None = None
        self.header_on = True  # a communication setting: *RST leaves it
        super().__init__(clock)

    @scpi(":HEADer")
    def _header(self, args, sfx) -> None:
        self.header_on = bool_arg(args)

    @scpi(":HEADer?")
    def _header_q(self, args, sfx) -> str:
        return self._reply(":HEADER", "ON" if self.header_on else "OFF")

    def _reply(self, header: str, body: str) -> str:
        return f"{header} {body}" if self.header_on else body

    # -- measured values --------------------------------------------------------------------------------
    @scpi(":MEASure?", takes_args=True)
    def _measure(self, args, sfx) -> str:
        names = [a.strip().upper() for a in args.split(",") if a.strip()]
        if not names:
            raise ScpiError(109)
        matches = [ITEM.match(name) for name in names]
        if any(m is None for m in matches):
            raise ScpiError(224)
        source = self.source
        readings = (
            source()
            if source is not None
            else {e: ElementReading(0.0, 0.0, 0.0, 0.0, 0.0, math.nan, math.nan) for e in self.elements}
        )
        out = []
        for name, match in zip(names, matches):
            assert match is not None
            reading = readings.get(int(match.group(2)))
            value = math.nan if reading is None else getattr(reading, ITEM_FIELDS[match.group(1)])
            out.append(f"{name} {_value(value)}" if self.header_on else _value(value))
        return ",".join(out)
