"""ZES ZIMMER LMG600-series (LMG670, LMG640) power analyzer, streaming with the instrument's time stamps.

Role: PowerAnalyzer. Address: a VISA resource string (``TCPIP0::<host>::5025::SOCKET``
on the Ethernet interface, GPIB). Options: ``elements`` (measuring channels
to read, default [1, 2]; up to 7), ``cycle_s`` (the measuring cycle,
default 0.05 s: 20 readings a second), and of the input set-up of
drivers.analyzer_setup: ``voltage_range_v``, ``current_range_a`` (a value
the channel's range must cover, or "auto") and ``harmonics`` (read THD). No
public source gives the LMG's commands for wiring, sync source and line
filter, so those options are refused rather than ignored.

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
``HUHD<n>?`` ``HIHD<n>?``        channel n: voltage and current THD, percent
``UAUTO<n> 0|1`` ``URNG<n> <V>``  voltage auto range, voltage range
``IAUTO<n> 0|1`` ``IRNG<n> <A>``  current auto range, current range
``ERRALL?``                      every queued error, read after each command
===============================  ================================================

On connect the ranges the bench file gives are set, then every channel's
ranges and the cycle are read back (``UAUTO<n>?``, ``URNG<n>?``, ...) and
kept for the snapshot; a range that does not cover the value asked fails the
connect. read() sends one program message (``INIM;TSNORM?;UTRMS1?;...``) and
gets one reply with every value of one measuring cycle, so successive reads
are successive cycles and each carries the instrument's own time stamp
(instrument_time_s, seconds since the epoch by the analyzer's clock).

A power analyzer only measures: no safety limits apply. Timeouts, lost
connections and threads: see transports.visa.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from ..roles import AnalyzerReading, ElementReading, InstrumentError, PowerAnalyzer
from ..scpi import ScpiInstrument, parse_bool, parse_float
from .analyzer_setup import AUTO, configured, elements_option, harmonics_option, per_element, range_check, unsupported

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
RANGES = (("voltage_range_v", "voltage_auto", "U"), ("current_range_a", "current_auto", "I"))
HARMONIC_QUANTITIES: tuple[tuple[str, str], ...] = (("HUHD", "voltage_thd_pct"), ("HIHD", "current_thd_pct"))


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
        self.elements = elements_option(self.options, MAX_CHANNELS, "channel")
        cycle = float(self.options.get("cycle_s", 0.05))
        if not 0.01 <= cycle <= 60.0:
            raise ValueError(f"option cycle_s must be 0.01..60 s, got {cycle!r}")
        self.cycle_s = cycle
        unsupported(self.options, ("wiring", "sync_source", "line_filter_hz"), self.model)
        self.voltage_range_v = per_element(self.options, "voltage_range_v", self.elements, range_check(None, "V"))
        self.current_range_a = per_element(self.options, "current_range_a", self.elements, range_check(None, "A"))
        self.harmonics = harmonics_option(self.options)
        self.front_panel: dict[str, object] = {}  # the input settings as read back on connect

    def quantities(self) -> tuple[tuple[str, str], ...]:
        return QUANTITIES + (HARMONIC_QUANTITIES if self.harmonics else ())

    def on_connect(self) -> None:
        with self.lock:
            self.transport.write("*ZLANG SHORT")  # no error query yet: it is a short command
            self.write("*CLS")
            self.write("FRMT ASCii")
            self.write(f"CYCL {self.cycle_s:g}")
            for letter, ranges in (("U", self.voltage_range_v), ("I", self.current_range_a)):
                for e, value in ranges.items():
                    self.write(f"{letter}AUTO{e} {1 if value == AUTO else 0}")
                    if value != AUTO:
                        self.write(f"{letter}RNG{e} {value:g}")
            self.front_panel = self.read_setup()
        self.check_setup()

    def read_setup(self) -> dict[str, object]:
        """Every channel's ranges and the cycle, as the analyzer reports them now."""
        with self.lock:
            out: dict[str, object] = {}
            for key, auto_key, letter in RANGES:
                out[key] = {e: parse_float(self.query(f"{letter}RNG{e}?")) for e in self.elements}
                out[auto_key] = {e: parse_bool(self.query(f"{letter}AUTO{e}?")) for e in self.elements}
            out["cycle_s"] = parse_float(self.query("CYCL?"))
            out["harmonics"] = self.harmonics
            return out

    def check_setup(self) -> None:
        """Fail when a channel's range does not cover what the bench asked, or auto is not as asked."""
        found = self.front_panel
        wrong = []
        for key, auto_key, _ in RANGES:
            wanted: dict[int, float | str] = getattr(self, key)
            ranges: dict[int, float] = found[key]  # type: ignore[assignment]
            autos: dict[int, bool] = found[auto_key]  # type: ignore[assignment]
            for e, value in wanted.items():
                if (value == AUTO) != autos[e] or (value != AUTO and not ranges[e] >= float(value) * (1 - 1e-9)):
                    wrong.append(f"{key}[{e}]: set {value!r}, reads back {'auto' if autos[e] else ranges[e]!r}")
        if wrong:
            raise InstrumentError(f"input set-up not taken: {'; '.join(wrong)}", address=self.address, command="")

    def read_message(self) -> str:
        """The one program message that latches a cycle and reads it."""
        queries = [f"{q}{e}?" for e in self.elements for q, _ in self.quantities()]
        return ";".join(["INIM", "TSNORM?", *queries])

    def read(self) -> AnalyzerReading:
        command = self.read_message()
        reply = self.query(command)
        fields = reply.split(";")
        quantities = self.quantities()
        expected = 1 + len(self.elements) * len(quantities)
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
        n = len(quantities)
        readings = {
            element: ElementReading(**{field: v for (_, field), v in zip(quantities, values[i * n : (i + 1) * n])})
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
                "inputs": self.read_setup(),
                "configured": configured(self.options),
            }
