"""Yokogawa WT1800-class power analyzer over its ``:NUMeric`` interface.

Role: PowerAnalyzer. Address: a VISA resource string (the WT1800's Ethernet
option, VXI-11 ``TCPIP0::<host>::INSTR``, or a raw socket). Options:
``elements`` (input element numbers to read, default [1, 2]).

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
A power analyzer only measures: no setpoints, so no safety limits apply.
Timeouts, lost connections and threads: see transports.visa.
"""
from __future__ import annotations

from typing import Any

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
MAX_ELEMENTS = 6


class YokogawaWT1800(ScpiInstrument, PowerAnalyzer):
    """Yokogawa WT1800 series power analyzer."""

    model = "Yokogawa WT1800"
    error_query = ":STATus:ERRor?"

    def __init__(self, address: str, **kwargs: Any) -> None:
        super().__init__(address, **kwargs)
        elements = self.options.get("elements", [1, 2])
        if isinstance(elements, int) or not elements:
            raise ValueError(f"option elements must be a non-empty list of element numbers, got {elements!r}")
        checked = []
        for e in elements:
            if not isinstance(e, int) or isinstance(e, bool) or not 1 <= e <= MAX_ELEMENTS:
                raise ValueError(f"option elements: {e!r} is not an element number 1..{MAX_ELEMENTS}")
            if e in checked:
                raise ValueError(f"option elements: element {e} is listed twice")
            checked.append(e)
        self.elements: tuple[int, ...] = tuple(checked)

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

    def read(self) -> AnalyzerReading:
        command = ":NUMeric:NORMal:VALue?"
        reply = self.query(command)
        fields = reply.split(",")
        expected = len(self.elements) * len(FUNCTIONS)
        if len(fields) != expected:
            raise InstrumentError(
                f"expected {expected} values, got {len(fields)} in {reply[:80]!r}", address=self.address, command=command
            )
        try:
            values = [parse_float(f) for f in fields]
        except ValueError:
            raise InstrumentError(f"unreadable numeric reply {reply[:80]!r}", address=self.address, command=command) from None
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
                "driver": "yokogawa-wt1800",
                "address": self.address,
                "manufacturer": ident.manufacturer,
                "model": ident.model,
                "serial": ident.serial,
                "firmware": ident.firmware,
                "elements": list(self.elements),
                "numeric_items": self.item_list(),
                "numeric_format": self.query(":NUMeric:FORMat?"),
            }
