"""ZES ZIMMER LMG600-series (LMG670, LMG640) power analyzer, streaming with the instrument's time stamps.

Role: PowerAnalyzer. Address: a VISA resource string (``TCPIP0::<host>::5025::SOCKET``
on the Ethernet interface, GPIB). Options: ``elements`` (measuring channels
to read, default [1, 2]; up to 7) and ``cycle_s`` (the measuring cycle,
default 0.05 s: 20 readings a second).

The driver speaks the LMG's short command language (``*ZLANG SHORT``, sent on
connect before anything else, since error queries are short commands too):

===============================  ================================================
``*ZLANG SHORT``                 switch from SCPI to the short command language
``FRMT ASCii``                   ASCII replies
``CYCL <s>``                     measuring cycle time
``INIM``                         wait for the end of the running cycle and latch
                                 its results
``TSNORM?``                      the latched cycle's time stamp,
                                 ``YYYY:MM:DDDhh:mm:ss.fffffffff`` (instrument clock)
``UTRMS<n>?`` ``ITRMS<n>?``      channel n: RMS voltage and current, real,
``P<n>?`` ``Q<n>?`` ``S<n>?``    reactive and apparent power, power factor and
``PF<n>?`` ``FCYC<n>?``          frequency of the latched cycle
``ERRALL?``                      every queued error, read after each command
===============================  ================================================

read() sends one program message (``INIM;TSNORM?;UTRMS1?;...``) and gets one
reply with every value of one measuring cycle, so successive reads are
successive cycles and each carries the instrument's own time stamp
(instrument_time_s, seconds since the epoch by the analyzer's clock).

A power analyzer only measures: no safety limits apply. Timeouts, lost
connections and threads: see transports.visa.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from ..roles import AnalyzerReading, ElementReading, InstrumentError, PowerAnalyzer
from ..scpi import ScpiInstrument, parse_float

MAX_CHANNELS = 7
# Short-language query per ElementReading field, in reply order.
QUANTITIES: tuple[tuple[str, str], ...] = (
    ("UTRMS", "voltage_v"),
    ("ITRMS", "current_a"),
    ("P", "power_w"),
    ("Q", "reactive_power_var"),
    ("S", "apparent_power_va"),
    ("PF", "power_factor"),
    ("FCYC", "frequency_hz"),
)


def parse_timestamp(text: str) -> float:
    """Seconds since the epoch from an LMG time stamp such as 2025:11:03D12:34:56.123456789 (UTC)."""
    date, _, clock = text.strip().partition("D")
    whole, _, fraction = clock.partition(".")
    moment = datetime.strptime(f"{date} {whole}", "%Y:%m:%d %H:%M:%S").replace(tzinfo=UTC)
    return moment.timestamp() + (float(f"0.{fraction}") if fraction else 0.0)


class ZesLMG(ScpiInstrument, PowerAnalyzer):
    """ZES ZIMMER LMG600-series power analyzer."""

    model = "ZES ZIMMER LMG600"
    error_query = "ERRALL?"

    def __init__(self, address: str, **kwargs: Any) -> None:
        super().__init__(address, **kwargs)
        elements = self.options.get("elements", [1, 2])
        if isinstance(elements, int) or not elements:
            raise ValueError(f"option elements must be a non-empty list of channel numbers, got {elements!r}")
        checked: list[int] = []
        for e in elements:
            if not isinstance(e, int) or isinstance(e, bool) or not 1 <= e <= MAX_CHANNELS or e in checked:
                raise ValueError(f"option elements: {e!r} is not a distinct channel number 1..{MAX_CHANNELS}")
            checked.append(e)
        self.elements: tuple[int, ...] = tuple(checked)
        cycle = float(self.options.get("cycle_s", 0.05))
        if not 0.01 <= cycle <= 60.0:
            raise ValueError(f"option cycle_s must be 0.01..60 s, got {cycle!r}")
        self.cycle_s = cycle

    def on_connect(self) -> None:
        with self.lock:
            self.transport.write("*ZLANG SHORT")  # no error query yet: it is a short command
            self.write("*CLS")
            self.write("FRMT ASCii")
            self.write(f"CYCL {self.cycle_s:g}")

    def read_message(self) -> str:
        """The one program message that latches a cycle and reads it."""
        queries = [f"{q}{e}?" for e in self.elements for q, _ in QUANTITIES]
        return ";".join(["INIM", "TSNORM?", *queries])

    def read(self) -> AnalyzerReading:
        command = self.read_message()
        reply = self.query(command)
        fields = reply.split(";")
        expected = 1 + len(self.elements) * len(QUANTITIES)
        if len(fields) != expected:
            raise InstrumentError(
                f"expected {expected} values, got {len(fields)} in {reply[:80]!r}",
                address=self.address,
                command=command,
            )
        try:
            stamp = parse_timestamp(fields[0])
            values = [parse_float(f) for f in fields[1:]]
        except ValueError:
            raise InstrumentError(f"unreadable reply {reply[:80]!r}", address=self.address, command=command) from None
        n = len(QUANTITIES)
        readings = {
            element: ElementReading(**{field: v for (_, field), v in zip(QUANTITIES, values[i * n : (i + 1) * n])})
            for i, element in enumerate(self.elements)
        }
        return AnalyzerReading(elements=readings, instrument_time_s=stamp)

    def snapshot(self) -> dict[str, Any]:
        with self.lock:
            ident = self.identity()
            return {
                "driver": "zes-lmg",
                "address": self.address,
                "manufacturer": ident.manufacturer,
                "model": ident.model,
                "serial": ident.serial,
                "firmware": ident.firmware,
                "elements": list(self.elements),
                "cycle_s": parse_float(self.query("CYCL?")),
            }
