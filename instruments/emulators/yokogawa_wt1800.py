"""Emulated Yokogawa WT1800 power analyzer: the ``:NUMeric`` interface on a loopback socket.

Behaves as the instrument does where a driver could get it wrong: response
headers are ON until ``:COMMunicate:HEADer OFF`` (so replies carry
``:NUM:NORM:VAL`` prefixes), the numeric item list starts empty (items read
"NAN"), items naming an element that is not installed or a number beyond
``:NUMBer`` queue "222,Data out of range", and unknown headers queue
"113,Undefined header" in the ``:STATus:ERRor?`` queue (Yokogawa codes have
no minus sign). ``:NUMeric:FORMat FLOat`` switches :VALue? to an IEEE 754
binary block, as on the instrument.

Data updates run on the emulator's clock at the ``:RATE`` period (default
0.5 s): with ``:STATus:FILTer1 FALL`` each completed update sets bit 0 of
the extended event register, ``:STATus:EESR?`` reads and clears it, and
``:COMMunicate:WAIT 1`` holds the connection until it is set. The WT3000 and
WT5000 emulators are this one with their model name, element count and rates.

Hooks for the virtual lab:

- ``source``: called on each ``:VALue?`` query, returning {element: ElementReading};
  None reads zeros (and NaN frequency: nothing to lock onto).
- ``responding``: False makes it hang like a dead instrument.
"""

from __future__ import annotations

import math
import re
import struct
import time
from collections.abc import Callable, Iterable
from typing import ClassVar

from ..roles import ElementReading
from .scpi_server import Clock, ScpiEmulator, ScpiError, bool_arg, choice_arg, int_arg, scpi

MAX_ITEMS = 255
DEFAULT_NUMBER = 15
FUNCTIONS = {
    # accepted token -> (canonical, ElementReading field)
    "U": ("U", "voltage_v"),
    "I": ("I", "current_a"),
    "P": ("P", "power_w"),
    "Q": ("Q", "reactive_power_var"),
    "S": ("S", "apparent_power_va"),
    "LAMBDA": ("LAMBda", "power_factor"),
    "LAMB": ("LAMBda", "power_factor"),
    "FU": ("FU", "frequency_hz"),
}


def _ascii(value: float) -> str:
    if math.isnan(value):
        return "NAN"
    if math.isinf(value):
        return "INF" if value > 0 else "-INF"
    return f"{value:.5E}"


class YokogawaWTEmulator(ScpiEmulator):
    """A WT1800 with the given input elements installed."""

    negative_error_codes = False
    error_query_patterns = (":STATus:ERRor?",)
    manufacturer = "YOKOGAWA"
    model = "WT1804E"
    max_elements: ClassVar[int] = 6
    update_periods_s: ClassVar[tuple[float, ...]] = (0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0, 20.0)

    def __init__(
        self,
        elements: Iterable[int] = (1, 2),
        clock: Clock | None = None,
        *,
        serial: str = "91M000001",
        firmware: str = "F1.01",
    ) -> None:
        self.elements = tuple(int(e) for e in elements)
        if not self.elements or any(not 1 <= e <= self.max_elements for e in self.elements):
            raise ValueError(f"elements must be numbers 1..{self.max_elements}, got {elements!r}")
        self.serial = serial
        self.firmware = firmware
        self.source: Callable[[], dict[int, ElementReading]] | None = None
        self._reset_state()
        super().__init__(clock)

    def _reset_state(self) -> None:
        self.header_on = True
        self.verbose_on = False
        self.numeric_format = "ASCII"
        self.number = DEFAULT_NUMBER
        self.items: dict[int, tuple[str, int] | None] = {}
        self.update_period_s = 0.5
        self.filter1 = "NEVER"
        self._epoch_s: float | None = None
        self._eesr_seen_update = -1

    # -- data updates on the clock ----------------------------------------------------------
    def update_index(self) -> int:
        """How many data updates have completed since the rate was set."""
        now = self.clock.now()
        if self._epoch_s is None:
            self._epoch_s = now
        return int((now - self._epoch_s) / self.update_period_s)

    def _event_pending(self) -> bool:
        return self.filter1 in ("FALL", "BOTH") and self.update_index() > self._eesr_seen_update

    @scpi(":RATE")
    def _rate(self, args, sfx) -> None:
        match = re.fullmatch(r"\s*([0-9.]+)\s*(MS|S)?\s*", args.upper())
        if match is None:
            raise ScpiError(104)
        period = float(match.group(1)) / (1000.0 if match.group(2) == "MS" else 1.0)
        if not any(abs(period - p) < 1e-9 for p in self.update_periods_s):
            raise ScpiError(222)
        with self.lock:
            self.update_period_s = period
            self._epoch_s = self.clock.now()
            self._eesr_seen_update = 0

    @scpi(":RATE?")
    def _rate_q(self, args, sfx) -> str:
        return self._reply(":RATE", f"{self.update_period_s:.1E}")

    @scpi(":STATus:FILTer#")
    def _filter(self, args, sfx) -> None:
        value = choice_arg(args, {"RISE": "RISE", "FALL": "FALL", "BOTH": "BOTH", "NEVER": "NEVER", "NEV": "NEVER"})
        if (sfx[-1] if sfx else "1") == "1":
            self.filter1 = value

    @scpi(":STATus:EESR?")
    def _eesr(self, args, sfx) -> str:
        with self.lock:
            pending = self._event_pending()
            self._eesr_seen_update = self.update_index()
        return self._reply(":STAT:EESR", "1" if pending else "0")

    @scpi(":COMMunicate:WAIT")
    def _wait(self, args, sfx) -> None:
        mask = int_arg(args)
        if not mask & 1:
            return
        # Hold this connection until the next update completes (or the instrument hangs).
        while self.responding and not self._event_pending() and self.running:
            time.sleep(0.002)

    def _reply(self, header: str, body: str) -> str:
        return f"{header} {body}" if self.header_on else body

    # -- common -------------------------------------------------------------------------
    @scpi("*IDN?")
    def _idn(self, args, sfx) -> str:
        return f"{self.manufacturer},{self.model},{self.serial},{self.firmware}"

    @scpi("*RST")
    def _rst(self, args, sfx) -> None:
        with self.lock:
            self._reset_state()

    # -- communication ---------------------------------------------------------------------
    @scpi(":COMMunicate:HEADer")
    def _header(self, args, sfx) -> None:
        self.header_on = bool_arg(args)

    @scpi(":COMMunicate:HEADer?")
    def _header_q(self, args, sfx) -> str:
        return self._reply(":COMM:HEAD", "1" if self.header_on else "0")

    @scpi(":COMMunicate:VERBose")
    def _verbose(self, args, sfx) -> None:
        self.verbose_on = bool_arg(args)

    @scpi(":COMMunicate:VERBose?")
    def _verbose_q(self, args, sfx) -> str:
        return self._reply(":COMM:VERB", "1" if self.verbose_on else "0")

    def _error_query(self, args, sfx) -> str:
        return self._reply(":STAT:ERR", super()._error_query(args, sfx))

    # -- numeric -------------------------------------------------------------------------------
    @scpi(":NUMeric:FORMat")
    def _format(self, args, sfx) -> None:
        self.numeric_format = choice_arg(args, {"ASCII": "ASCII", "ASC": "ASCII", "FLOAT": "FLOAT", "FLO": "FLOAT"})

    @scpi(":NUMeric:FORMat?")
    def _format_q(self, args, sfx) -> str:
        return self._reply(":NUM:FORM", "ASC" if self.numeric_format == "ASCII" else "FLO")

    @scpi(":NUMeric[:NORMal]:NUMBer")
    def _number(self, args, sfx) -> None:
        n = int_arg(args)
        if not 1 <= n <= MAX_ITEMS:
            raise ScpiError(222)
        with self.lock:
            self.number = n

    @scpi(":NUMeric[:NORMal]:NUMBer?")
    def _number_q(self, args, sfx) -> str:
        return self._reply(":NUM:NORM:NUMB", str(self.number))

    def _item_index(self, sfx: tuple[str, ...]) -> int:
        k = int(sfx[-1]) if sfx and sfx[-1] else 1
        if not 1 <= k <= MAX_ITEMS:
            raise ScpiError(114, "Header suffix out of range")
        return k

    @scpi(":NUMeric[:NORMal]:ITEM#")
    def _item(self, args, sfx) -> None:
        k = self._item_index(sfx)
        text = args.strip()
        if not text:
            raise ScpiError(109)
        if text.upper() == "NONE":
            with self.lock:
                self.items[k] = None
            return
        parts = [p.strip() for p in text.split(",")]
        if len(parts) != 2:
            raise ScpiError(109 if len(parts) < 2 else 108)
        function = FUNCTIONS.get(parts[0].upper())
        if function is None:
            raise ScpiError(224)
        element = int_arg(parts[1])
        if element not in self.elements:
            raise ScpiError(222)
        with self.lock:
            self.items[k] = (function[0], element)

    @scpi(":NUMeric[:NORMal]:ITEM#?")
    def _item_q(self, args, sfx) -> str:
        k = self._item_index(sfx)
        item = self.items.get(k)
        return self._reply(f":NUM:NORM:ITEM{k}", "NONE" if item is None else f"{item[0].upper()},{item[1]}")

    def _values(self) -> list[float]:
        with self.lock:
            items = [self.items.get(k) for k in range(1, self.number + 1)]
        source = self.source
        readings = (
            source()
            if source is not None
            else {e: ElementReading(0.0, 0.0, 0.0, 0.0, 0.0, math.nan, math.nan) for e in self.elements}
        )
        values = []
        for item in items:
            if item is None or item[1] not in readings:
                values.append(math.nan)
                continue
            field = FUNCTIONS[item[0].upper()][1]
            values.append(float(getattr(readings[item[1]], field)))
        return values

    @scpi(":NUMeric[:NORMal]:VALue?", takes_args=True)
    def _value_q(self, args, sfx) -> str:
        values = self._values()
        if args.strip():
            k = int_arg(args)
            if not 1 <= k <= self.number:
                raise ScpiError(222)
            values = [values[k - 1]]
        if self.numeric_format == "FLOAT":
            data = b"".join(struct.pack(">f", v) for v in values)
            length = str(len(data))
            return f"#{len(length)}{length}" + data.decode("latin-1")
        return self._reply(":NUM:NORM:VAL", ",".join(_ascii(v) for v in values))


class YokogawaWT3000Emulator(YokogawaWTEmulator):
    """A WT3000 (four elements)."""

    model = "760304-04-SV"
    max_elements = 4
    update_periods_s = (0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 20.0)


class YokogawaWT5000Emulator(YokogawaWTEmulator):
    """A WT5000 (seven elements)."""

    model = "WT5000"
    max_elements = 7
    update_periods_s = (0.01, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0, 20.0)
