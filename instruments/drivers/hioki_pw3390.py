"""HIOKI PW3390 power analyzer (four channels) over its LAN command port.

Role: PowerAnalyzer. Address: a VISA resource string, on LAN the raw socket
``TCPIP0::<host>::3390::SOCKET`` (GPIB and RS-232C work too). Options:
``elements`` (channels to read, default [1, 2]; up to 4) and the input set-up
of drivers.analyzer_setup: ``voltage_range_v`` (15, 30, 60, 150, 300, 600,
1500 V or "auto"), ``current_range_a`` (a range of the channel's current
sensor, or "auto") and ``harmonics`` (read THD). The PW3390 updates its data
every 50 ms: ``update_period_s``, when given, must be 0.05. Wiring, sync
source and line filter are refused: their commands are not in its spec.

On connect::

    :HEADer OFF                       replies without headers
    *CLS
    :VOLTage<ch>:RANGe 300            (or :VOLTage<ch>:AUTO ON), per channel the bench sets
    :CURRent<ch>:RANGe 50             (or :CURRent<ch>:AUTO ON)

then every channel's ranges are read back (``:VOLTage<ch>:RANGe?``,
``:VOLTage<ch>:AUTO?``, ...), compared with what was set and kept for the
snapshot. Each read() is one query, ``:MEASure? Urms1,Irms1,P1,Q1,S1,PF1,
FREQ1,Uthd1,Ithd1,...``, answered with the values in that order;
"+9999.9E+99" (over range, no data) reads as NaN. The PW3390's numeric data
carry no time stamp: instrument_time_s is None.

HIOKI's instruments keep no error queue: a refused message sets a bit of the
standard event status register, so after every command the driver reads
``*ESR?`` and raises on the command (32), execution (16), device (8) or query
(4) error bits. A power analyzer only measures: no safety limits apply.
Timeouts, lost connections and threads: see transports.visa.
"""

from __future__ import annotations

from typing import Any

from ..roles import AnalyzerReading, ElementReading, InstrumentError, InstrumentTimeout, PowerAnalyzer
from ..scpi import ScpiInstrument, parse_float
from .analyzer_setup import (
    configured,
    elements_option,
    harmonics_option,
    mismatches,
    per_element,
    range_check,
    range_commands,
    read_ranges,
    unsupported,
)

MAX_CHANNELS = 4
UPDATE_PERIOD_S = 0.05
VOLTAGE_RANGES_V = (15.0, 30.0, 60.0, 150.0, 300.0, 600.0, 1500.0)
ITEMS: tuple[tuple[str, str], ...] = (
    ("Urms", "voltage_v"),
    ("Irms", "current_a"),
    ("P", "power_w"),
    ("Q", "reactive_power_var"),
    ("S", "apparent_power_va"),
    ("PF", "power_factor"),
    ("FREQ", "frequency_hz"),
)
HARMONIC_ITEMS: tuple[tuple[str, str], ...] = (("Uthd", "voltage_thd_pct"), ("Ithd", "current_thd_pct"))
ESR_ERRORS = {32: "command error", 16: "execution error", 8: "device-dependent error", 4: "query error"}


class HiokiPW3390(ScpiInstrument, PowerAnalyzer):
    """HIOKI PW3390 power analyzer."""

    model = "HIOKI PW3390"
    error_query = "*ESR?"

    def __init__(self, address: str, **kwargs: Any) -> None:
        super().__init__(address, **kwargs)
        self.elements = elements_option(self.options, MAX_CHANNELS, "channel")
        period = self.options.get("update_period_s")
        if period is not None and period != UPDATE_PERIOD_S:
            raise ValueError(f"option update_period_s: the PW3390 updates every {UPDATE_PERIOD_S:g} s, got {period!r}")
        unsupported(self.options, ("wiring", "sync_source", "line_filter_hz"), self.model)
        self.voltage_range_v = per_element(
            self.options, "voltage_range_v", self.elements, range_check(VOLTAGE_RANGES_V, "V")
        )
        self.current_range_a = per_element(self.options, "current_range_a", self.elements, range_check(None, "A"))
        self.harmonics = harmonics_option(self.options)
        self.front_panel: dict[str, Any] = {}  # the input settings as read back on connect

    def items(self) -> list[tuple[str, str, int]]:
        """(item, ElementReading field, channel) in the order :MEASure? answers them."""
        kinds = ITEMS + (HARMONIC_ITEMS if self.harmonics else ())
        return [(f"{item}{e}", field, e) for e in self.elements for item, field in kinds]

    def read_message(self) -> str:
        return ":MEASure? " + ",".join(item for item, _, _ in self.items())

    def check_errors(self, command: str) -> None:
        """Read the standard event status register; raise on its error bits, naming the command."""
        with self.lock:
            try:
                reply = self.transport.query(self.error_query)
            except InstrumentTimeout as exc:
                raise InstrumentTimeout(
                    f"timed out: no answer to {self.error_query!r}", address=self.address, command=command
                ) from exc
        try:
            status = int(reply.strip())
        except ValueError:
            raise InstrumentError(
                f"unreadable reply {reply!r} to *ESR?", address=self.address, command=command
            ) from None
        found = [name for bit, name in ESR_ERRORS.items() if status & bit]
        if found:
            raise InstrumentError(
                f"instrument error: *ESR? {status} ({', '.join(found)})", address=self.address, command=command
            )

    def on_connect(self) -> None:
        self.write(":HEADer OFF")
        self.write("*CLS")
        ranges = {"voltage_range_v": self.voltage_range_v, "current_range_a": self.current_range_a}
        for command in range_commands(":{quantity}{e}:{what} {value}", ranges, units=False):
            self.write(command)
        self.front_panel = self.read_setup()
        wrong = mismatches(self.voltage_range_v, self.front_panel["voltage_range_v"], "voltage_range_v")
        wrong += mismatches(self.current_range_a, self.front_panel["current_range_a"], "current_range_a")
        if wrong:
            raise InstrumentError(f"input set-up not taken: {'; '.join(wrong)}", address=self.address, command="")

    def read_setup(self) -> dict[str, Any]:
        """Every channel's ranges ("auto" where auto range is on), as the analyzer reports them now."""
        with self.lock:
            out = read_ranges(self.query, ":{quantity}{e}:{what}", self.elements)
            out["update_period_s"] = UPDATE_PERIOD_S
            out["harmonics"] = self.harmonics
            return out

    def read(self) -> AnalyzerReading:
        command = self.read_message()
        reply = self.query(command)
        fields = reply.split(",")
        items = self.items()
        if len(fields) != len(items):
            raise InstrumentError(
                f"expected {len(items)} values, got {len(fields)} in {reply[:80]!r}",
                address=self.address,
                command=command,
            )
        try:
            values = [parse_float(f) for f in fields]
        except ValueError:
            raise InstrumentError(f"unreadable reply {reply[:80]!r}", address=self.address, command=command) from None
        per_channel: dict[int, dict[str, float]] = {e: {} for e in self.elements}
        for (_, field, e), value in zip(items, values):
            per_channel[e][field] = value
        return AnalyzerReading(elements={e: ElementReading(**v) for e, v in per_channel.items()})

    def snapshot(self) -> dict[str, Any]:
        with self.lock:
            ident = self.identity()
            return {
                "driver": "hioki-pw3390",
                "address": self.address,
                "manufacturer": ident.manufacturer,
                "model": ident.model,
                "serial": ident.serial,
                "firmware": ident.firmware,
                "elements": list(self.elements),
                "items": [item for item, _, _ in self.items()],
                "inputs": self.read_setup(),
                "configured": configured(self.options),
            }
