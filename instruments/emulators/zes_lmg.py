"""Emulated ZES ZIMMER LMG670: its short command language on a loopback socket.

Like the instrument it starts in the SCPI language, where only common
commands (``*IDN?``, ``*ZLANG``, ...) and ``SYST:ERR?`` are understood: a
short command before ``*ZLANG SHORT`` queues -113. Measuring cycles run on
the emulator's clock at the ``CYCL`` period; ``INIM`` holds the connection
until the running cycle ends and latches its results and time stamp, which
``TSNORM?`` and the value queries then return. A channel that is not
installed queues -114; ``ERRALL?`` returns every queued error at once.
Each channel has voltage and current ranges and auto ranges
(``URNG<n> <V>`` selects the smallest range that covers the value, -222
beyond the largest); ``HUHD<n>?`` and ``HIHD<n>?`` read the latched THD (0 %
for a plant that gives none: a pure sine).

Hooks for the virtual lab:

- ``source``: called when a cycle is latched, returning {channel: ElementReading};
  None reads zeros (and NaN frequency);
- ``responding``: False makes it hang like a dead instrument.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime

from ..roles import ElementReading
from .scpi_server import (
    ERROR_TEXT,
    Clock,
    ScpiEmulator,
    ScpiError,
    bool_arg,
    choice_arg,
    format_number,
    in_range,
    number_arg,
    scpi,
)

VOLTAGE_RANGES_V = (3.0, 6.0, 12.5, 25.0, 60.0, 130.0, 250.0, 400.0, 600.0, 1000.0)
CURRENT_RANGES_A = (0.15, 0.3, 0.6, 1.2, 2.5, 5.0, 10.0, 20.0, 32.0)
FIELDS = {
    "UTRMS": "voltage_v",
    "ITRMS": "current_a",
    "P": "power_w",
    "Q": "reactive_power_var",
    "S": "apparent_power_va",
    "PF": "power_factor",
    "FCYC": "frequency_hz",
    "HUHD": "voltage_thd_pct",
    "HIHD": "current_thd_pct",
}


def format_timestamp(t_s: float) -> str:
    moment = datetime.fromtimestamp(int(t_s), tz=UTC)
    nanos = int(round((t_s - int(t_s)) * 1e9))
    return moment.strftime("%Y:%m:%dD%H:%M:%S") + f".{nanos:09d}"


class ZesLMGEmulator(ScpiEmulator):
    """An LMG670 with the given channels installed."""

    spec_name = "zes-lmg"
    session_start = ("*ZLANG SHORT",)  # a client's first message: the short language the driver speaks
    manufacturer = "ZES ZIMMER"
    model = "LMG670"

    def __init__(
        self,
        elements: Iterable[int] = (1, 2),
        clock: Clock | None = None,
        *,
        serial: str = "LMG0001",
        firmware: str = "2.0.56",
    ) -> None:
        self.elements = tuple(int(e) for e in elements)
        if not self.elements or any(not 1 <= e <= 7 for e in self.elements):
            raise ValueError(f"elements must be channel numbers 1..7, got {elements!r}")
        self.serial = serial
        self.firmware = firmware
        self.source: Callable[[], dict[int, ElementReading]] | None = None
        super().__init__(clock)
        self._reset_state()

    def _reset_state(self) -> None:
        self.language = "SCPI"
        self.cycle_s = 0.5
        self.ascii_format = True
        self._epoch_s = self.clock.now()
        self._latched: dict[int, ElementReading] | None = None
        self._latched_at_s = self._epoch_s
        self.ranges = {"U": dict.fromkeys(self.elements, VOLTAGE_RANGES_V[-1])}
        self.ranges["I"] = dict.fromkeys(self.elements, CURRENT_RANGES_A[-1])
        self.auto = {"U": dict.fromkeys(self.elements, True), "I": dict.fromkeys(self.elements, True)}

    # -- language ------------------------------------------------------------------------------
    def _dispatch(self, unit: str) -> str | None:
        header = unit.split(None, 1)[0].lstrip(":").upper()
        if self.language == "SCPI" and not (header.startswith("*") or header.startswith("SYST")):
            self.push_error(113)
            return None
        return super()._dispatch(unit)

    @scpi("*ZLANG")
    def _zlang(self, args, sfx) -> None:
        self.language = choice_arg(args, {"SHORT": "SHORT", "SCPI": "SCPI"})

    @scpi("*IDN?")
    def _idn(self, args, sfx) -> str:
        return f"{self.manufacturer},{self.model},{self.serial},{self.firmware}"

    @scpi("*RST")
    def _rst(self, args, sfx) -> None:
        with self.lock:
            self._reset_state()

    @scpi("ERRALL?")
    def _errall(self, args, sfx) -> str:
        with self.lock:
            entries = [self._format_error(c, m) for c, m in self._errors]
            self._errors.clear()
        return ";".join(entries) if entries else self._format_error(0, ERROR_TEXT[0])

    @scpi("FRMT")
    def _frmt(self, args, sfx) -> None:
        self.ascii_format = (
            choice_arg(args, {"ASCII": "ASCII", "ASC": "ASCII", "PACKED": "PACKED", "PACK": "PACKED"}) == "ASCII"
        )

    @scpi("CYCL")
    def _cycl(self, args, sfx) -> None:
        value = in_range(number_arg(args), 0.01, 60.0)
        with self.lock:
            self.cycle_s = value
            self._epoch_s = self.clock.now()

    @scpi("CYCL?")
    def _cycl_q(self, args, sfx) -> str:
        return format_number(self.cycle_s)

    # -- ranges ---------------------------------------------------------------------------------------
    def _channel(self, sfx: tuple[str, ...]) -> int:
        channel = int(sfx[-1]) if sfx and sfx[-1] else 1
        if channel not in self.elements:
            raise ScpiError(114)
        return channel

    def _set_range(self, letter: str, args: str, sfx: tuple[str, ...]) -> None:
        channel = self._channel(sfx)
        value = number_arg(args)
        covering = [r for r in (VOLTAGE_RANGES_V if letter == "U" else CURRENT_RANGES_A) if r >= value > 0]
        if not covering:
            raise ScpiError(222)
        with self.lock:
            self.ranges[letter][channel] = covering[0]
            self.auto[letter][channel] = False

    def _set_auto(self, letter: str, args: str, sfx: tuple[str, ...]) -> None:
        self.auto[letter][self._channel(sfx)] = bool_arg(args)

    @scpi("URNG#")
    def _urng(self, args, sfx) -> None:
        self._set_range("U", args, sfx)

    @scpi("IRNG#")
    def _irng(self, args, sfx) -> None:
        self._set_range("I", args, sfx)

    @scpi("URNG#?")
    def _urng_q(self, args, sfx) -> str:
        return format_number(self.ranges["U"][self._channel(sfx)])

    @scpi("IRNG#?")
    def _irng_q(self, args, sfx) -> str:
        return format_number(self.ranges["I"][self._channel(sfx)])

    @scpi("UAUTO#")
    def _uauto(self, args, sfx) -> None:
        self._set_auto("U", args, sfx)

    @scpi("IAUTO#")
    def _iauto(self, args, sfx) -> None:
        self._set_auto("I", args, sfx)

    @scpi("UAUTO#?")
    def _uauto_q(self, args, sfx) -> str:
        return "1" if self.auto["U"][self._channel(sfx)] else "0"

    @scpi("IAUTO#?")
    def _iauto_q(self, args, sfx) -> str:
        return "1" if self.auto["I"][self._channel(sfx)] else "0"

    # -- measuring cycles on the clock --------------------------------------------------------------
    def _cycle_end(self, now_s: float) -> float:
        n = math.floor((now_s - self._epoch_s) / self.cycle_s) + 1
        return self._epoch_s + n * self.cycle_s

    def _latch(self, at_s: float) -> None:
        source = self.source
        readings = (
            source()
            if source is not None
            else {e: ElementReading(0.0, 0.0, 0.0, 0.0, 0.0, math.nan, math.nan) for e in self.elements}
        )
        with self.lock:
            self._latched, self._latched_at_s = readings, at_s

    @scpi("INIM")
    def _inim(self, args, sfx) -> None:
        end = self._cycle_end(self.clock.now())
        while self.clock.now() < end and self.responding and self.running:
            time.sleep(0.001)
        self._latch(end)

    @scpi("TSNORM?")
    def _tsnorm(self, args, sfx) -> str:
        return format_timestamp(self._latched_at_s)

    def _value(self, quantity: str, sfx: tuple[str, ...]) -> str:
        channel = int(sfx[-1]) if sfx and sfx[-1] else 1
        if channel not in self.elements:
            raise ScpiError(114)
        if self._latched is None:
            self._latch(self.clock.now())
        reading = (self._latched or {}).get(channel)
        if reading is None:
            return format_number(math.nan)
        value = getattr(reading, FIELDS[quantity])
        return format_number(0.0 if value is None else float(value))  # no THD from the plant: a pure sine

    @scpi("UTRMS#?")
    def _u(self, args, sfx) -> str:
        return self._value("UTRMS", sfx)

    @scpi("ITRMS#?")
    def _i(self, args, sfx) -> str:
        return self._value("ITRMS", sfx)

    @scpi("P#?")
    def _p(self, args, sfx) -> str:
        return self._value("P", sfx)

    @scpi("Q#?")
    def _q(self, args, sfx) -> str:
        return self._value("Q", sfx)

    @scpi("S#?")
    def _s(self, args, sfx) -> str:
        return self._value("S", sfx)

    @scpi("PF#?")
    def _pf(self, args, sfx) -> str:
        return self._value("PF", sfx)

    @scpi("FCYC#?")
    def _f(self, args, sfx) -> str:
        return self._value("FCYC", sfx)

    @scpi("HUHD#?")
    def _u_thd(self, args, sfx) -> str:
        return self._value("HUHD", sfx)

    @scpi("HIHD#?")
    def _i_thd(self, args, sfx) -> str:
        return self._value("HIHD", sfx)
