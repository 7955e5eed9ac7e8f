"""Yokogawa WT-series power analyzers over the ``:NUMeric`` interface: the family base, WT3000 and WT5000.

Role: PowerAnalyzer. Address: a VISA resource string (Ethernet option as a
raw socket or VXI-11 ``TCPIP0::<host>::INSTR``, GPIB, USB). Options:
``elements`` (input element numbers to read, default [1, 2]) and
``update_period_s`` (the data update rate, e.g. 0.1 for 10 readings a second).

On connect the driver turns response headers off, selects ASCII numeric
output and programs the numeric item list once::

    :COMMunicate:HEADer OFF
    :NUMeric:FORMat ASCii
    :NUMeric:NORMal:NUMBer <7 x elements>
    :NUMeric:NORMal:ITEM<k> <function>,<element>   (U, I, P, Q, S, LAMBda, FU per element)

so that each read() is a single ``:NUMeric:NORMal:VALue?`` query returning
comma-separated values in that order. "NAN", "INF" and the 9.9E+37 marker
(no data, over range) read as NaN. Errors are read from ``:STATus:ERRor?``
(Yokogawa's queue, codes without the SCPI minus sign) after every command.

Streaming: with ``update_period_s`` the driver also sends ``:RATE <ms>MS``
and ``:STATus:FILTer1 FALL`` (the UPD bit's falling edge marks a completed
update); read() then waits for the next update with ``:COMMunicate:WAIT 1``,
clears it with ``:STATus:EESR?`` and reads, so successive reads are
successive updates, never the same one twice (stream() yields them). The WT
numeric data carry no instrument time stamp: instrument_time_s is None.

A power analyzer only measures: no setpoints, so no safety limits apply.
Timeouts, lost connections and threads: see transports.visa.
"""

from __future__ import annotations

from typing import Any, ClassVar

from ..roles import AnalyzerReading, ElementReading, InstrumentError, PowerAnalyzer
from ..scpi import ScpiInstrument, parse_float

# Function mnemonic per ElementReading field, in reply order.
FUNCTIONS: tuple[tuple[str, str], ...] = (
    ("U", "voltage_v"),
    ("I", "current_a"),
    ("P", "power_w"),
    ("Q", "reactive_power_var"),
    ("S", "apparent_power_va"),
    ("LAMBda", "power_factor"),
    ("FU", "frequency_hz"),
)


class YokogawaWTNumeric(ScpiInstrument, PowerAnalyzer):
    """Base of the WT-series drivers: one class per model sets the limits below."""

    error_query = ":STATus:ERRor?"
    driver_name: ClassVar[str] = ""
    max_elements: ClassVar[int] = 6
    update_periods_s: ClassVar[tuple[float, ...]] = (0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0, 20.0)

    def __init__(self, address: str, **kwargs: Any) -> None:
        super().__init__(address, **kwargs)
        elements = self.options.get("elements", [1, 2])
        if isinstance(elements, int) or not elements:
            raise ValueError(f"option elements must be a non-empty list of element numbers, got {elements!r}")
        checked = []
        for e in elements:
            if not isinstance(e, int) or isinstance(e, bool) or not 1 <= e <= self.max_elements:
                raise ValueError(f"option elements: {e!r} is not an element number 1..{self.max_elements}")
            if e in checked:
                raise ValueError(f"option elements: element {e} is listed twice")
            checked.append(e)
        self.elements: tuple[int, ...] = tuple(checked)
        period = self.options.get("update_period_s")
        if period is not None and not any(abs(float(period) - p) < 1e-9 for p in self.update_periods_s):
            allowed = ", ".join(f"{p:g}" for p in self.update_periods_s)
            raise ValueError(
                f"option update_period_s: {period!r} is not an update rate of the {self.model} ({allowed} s)"
            )
        self.update_period_s: float | None = None if period is None else float(period)

    def item_list(self) -> list[str]:
        """The numeric items, in the order :VALue? returns them."""
        return [f"{function},{element}" for element in self.elements for function, _ in FUNCTIONS]

    def on_connect(self) -> None:
        # Headers first: until they are off, every reply (the error queue's too) carries one.
        self.write(":COMMunicate:HEADer OFF")
        self.write("*CLS")
        self.write(":NUMeric:FORMat ASCii")
        items = self.item_list()
        self.write(f":NUMeric:NORMal:NUMBer {len(items)}")
        for k, item in enumerate(items, start=1):
            self.write(f":NUMeric:NORMal:ITEM{k} {item}")
        if self.update_period_s is not None:
            self.write(f":RATE {round(self.update_period_s * 1000)}MS")
            self.write(":STATus:FILTer1 FALL")
            self.query(":STATus:EESR?")  # clears the update event, so the first read waits for a fresh update

    def read(self) -> AnalyzerReading:
        command = ":NUMeric:NORMal:VALue?"
        with self.lock:
            if self.update_period_s is not None:
                self.write(":COMMunicate:WAIT 1")
                self.query(":STATus:EESR?")
            reply = self.query(command)
        fields = reply.split(",")
        expected = len(self.elements) * len(FUNCTIONS)
        if len(fields) != expected:
            raise InstrumentError(
                f"expected {expected} values, got {len(fields)} in {reply[:80]!r}",
                address=self.address,
                command=command,
            )
        try:
            values = [parse_float(f) for f in fields]
        except ValueError:
            raise InstrumentError(
                f"unreadable numeric reply {reply[:80]!r}", address=self.address, command=command
            ) from None
        readings: dict[int, ElementReading] = {}
        n = len(FUNCTIONS)
        for i, element in enumerate(self.elements):
            chunk = values[i * n : (i + 1) * n]
            readings[element] = ElementReading(**{field: v for (_, field), v in zip(FUNCTIONS, chunk)})
        return AnalyzerReading(elements=readings)

    def snapshot(self) -> dict[str, Any]:
        with self.lock:
            ident = self.identity()
            return {
                "driver": self.driver_name,
                "address": self.address,
                "manufacturer": ident.manufacturer,
                "model": ident.model,
                "serial": ident.serial,
                "firmware": ident.firmware,
                "elements": list(self.elements),
                "numeric_items": self.item_list(),
                "numeric_format": self.query(":NUMeric:FORMat?"),
                "update_period_s": self.update_period_s,
            }


class YokogawaWT3000(YokogawaWTNumeric):
    """Yokogawa WT3000 power analyzer (up to 4 elements)."""

    model = "Yokogawa WT3000"
    driver_name = "yokogawa-wt3000"
    max_elements = 4
    update_periods_s = (0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 20.0)


class YokogawaWT5000(YokogawaWTNumeric):
    """Yokogawa WT5000 power analyzer (up to 7 elements)."""

    model = "Yokogawa WT5000"
    driver_name = "yokogawa-wt5000"
    max_elements = 7
    update_periods_s = (0.01, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0, 20.0)
