"""Yokogawa WT-series power analyzers over the ``:NUMeric`` interface: the family base, WT3000 and WT5000.

Role: PowerAnalyzer. Address: a VISA resource string (Ethernet option as a
raw socket or VXI-11 ``TCPIP0::<host>::INSTR``, GPIB, USB). Options:
``elements`` (input element numbers to read, default [1, 2]),
``update_period_s`` (the data update rate, e.g. 0.1 for 10 readings a second)
and the input set-up of drivers.analyzer_setup (``voltage_range_v``,
``current_range_a``, ``wiring``, ``sync_source``, ``line_filter_hz``,
``harmonics``).

On connect the driver turns response headers off, sets up the inputs from
the bench file, selects ASCII numeric output and programs the numeric item
list once::

    :COMMunicate:HEADer OFF
    :INPut:VOLTage:RANGe:ELEMent<e> 300V       (or :INPut:VOLTage:AUTO:ELEMent<e> ON)
    :INPut:CURRent:RANGe:ELEMent<e> 20A        (or :INPut:CURRent:AUTO:ELEMent<e> ON)
    :INPut:WIRing P1W2,P1W2
    :INPut:SYNChronize:ELEMent<e> U1
    :INPut:FILTer:LINE:ELEMent<e> OFF
    :NUMeric:FORMat ASCii
    :NUMeric:NORMal:NUMBer <n>
    :NUMeric:NORMal:ITEM<k> <function>,<element>   (U, I, P, Q, S, LAMBda, FU, UTHD, ITHD per element)

then reads every input setting back (``...?`` of each), fails if one differs
from what was set, and keeps them for the snapshot. Each read() is one
program message, ``:NUMeric:NORMal:VALue?;:SYSTem:DATE?;:SYSTem:TIME?``:
the values in item order, and the analyzer's clock as the reading's
instrument time (whole seconds, read as UTC). "NAN", "INF" and the 9.9E+37
marker (no data, over range) read as NaN. Errors are read from
``:STATus:ERRor?`` (Yokogawa's queue, codes without the SCPI minus sign)
after every command. THD (UTHD, ITHD) needs the harmonics option (/G5, /G6):
``harmonics = false`` leaves them out on an analyzer without it.

Streaming: with ``update_period_s`` the driver also sends ``:RATE <ms>MS``
and ``:STATus:FILTer1 FALL`` (the UPD bit's falling edge marks a completed
update); read() then waits for the next update with ``:COMMunicate:WAIT 1``,
clears it with ``:STATus:EESR?`` and reads, so successive reads are
successive updates, never the same one twice (stream() yields them).

A power analyzer only measures: no setpoints, so no safety limits apply.
Timeouts, lost connections and threads: see transports.visa.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any, ClassVar

from ..roles import AnalyzerReading, ElementReading, InstrumentError, PowerAnalyzer
from ..scpi import ScpiInstrument, parse_float
from .analyzer_setup import (
    OFF,
    AnalyzerSetup,
    choice_check,
    configured,
    elements_option,
    harmonics_option,
    mismatches,
    per_element,
    range_check,
    range_commands,
    read_ranges,
    wiring_option,
)

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
HARMONIC_FUNCTIONS: tuple[tuple[str, str], ...] = (("UTHD", "voltage_thd_pct"), ("ITHD", "current_thd_pct"))
WIRINGS = ("P1W2", "P1W3", "P3W3", "P3W4", "V3A3")
READ_MESSAGE = ":NUMeric:NORMal:VALue?;:SYSTem:DATE?;:SYSTem:TIME?"


def line_filter_check(value: Any) -> float | str:
    """The line filter: "off", or a cut-off of 100 Hz to 100 kHz in 100 Hz steps, 300 kHz or 1 MHz."""
    if isinstance(value, str) and value.lower() == OFF:
        return OFF
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{value!r} is not a cut-off frequency in Hz or 'off'")
    if value in (300e3, 1e6) or (100 <= value <= 100e3 and float(value) % 100 == 0):
        return float(value)
    raise ValueError(
        f"{value!r} Hz is not a line filter of the model (100 Hz..100 kHz in 100 Hz steps, 300 kHz, 1 MHz)"
    )


def parse_clock(date: str, clock: str) -> float:
    """Seconds since the epoch from the analyzer's "2025/11/03" and "12:34:56" (its clock, read as UTC)."""
    fields = [int(f) for f in re.split(r"[/,]", date.strip().strip('"'))]
    if len(fields) != 3:
        raise ValueError(f"not a date: {date!r}")
    year = fields[0] + (2000 if fields[0] < 100 else 0)
    hour, minute, second = (int(f) for f in re.split(r"[:,]", clock.strip().strip('"')))
    return datetime(year, fields[1], fields[2], hour, minute, second, tzinfo=UTC).timestamp()


class YokogawaWTNumeric(ScpiInstrument, PowerAnalyzer):
    """Base of the WT-series drivers: one class per model sets the limits below."""

    error_query = ":STATus:ERRor?"
    driver_name: ClassVar[str] = ""
    max_elements: ClassVar[int] = 6
    update_periods_s: ClassVar[tuple[float, ...]] = (0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0, 20.0)
    voltage_ranges_v: ClassVar[tuple[float, ...]] = (1.5, 3, 6, 10, 15, 30, 60, 100, 150, 300, 600, 1000)
    current_ranges_a: ClassVar[tuple[float, ...]] = (0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 20, 50)

    def __init__(self, address: str, **kwargs: Any) -> None:
        super().__init__(address, **kwargs)
        self.elements = elements_option(self.options, self.max_elements, "element")
        period = self.options.get("update_period_s")
        if period is not None and not any(abs(float(period) - p) < 1e-9 for p in self.update_periods_s):
            allowed = ", ".join(f"{p:g}" for p in self.update_periods_s)
            raise ValueError(
                f"option update_period_s: {period!r} is not an update rate of the {self.model} ({allowed} s)"
            )
        self.update_period_s: float | None = None if period is None else float(period)
        sources = [f"{kind}{e}" for kind in "UI" for e in range(1, self.max_elements + 1)] + ["EXT", "NONE"]
        self.setup = AnalyzerSetup(
            voltage_range_v=per_element(
                self.options, "voltage_range_v", self.elements, range_check(self.voltage_ranges_v, "V")
            ),
            current_range_a=per_element(
                self.options, "current_range_a", self.elements, range_check(self.current_ranges_a, "A")
            ),
            wiring=wiring_option(self.options, WIRINGS),
            sync_source=per_element(
                self.options,
                "sync_source",
                self.elements,
                choice_check(sources, {"EXTERNAL": "EXT", "EXTERNAL1": "EXT"}),
            ),
            line_filter_hz=per_element(self.options, "line_filter_hz", self.elements, line_filter_check),
            harmonics=harmonics_option(self.options),
        )
        self.front_panel: dict[str, Any] = {}  # every input setting as read back on connect

    def functions(self) -> tuple[tuple[str, str], ...]:
        """The functions read per element, in reply order."""
        return FUNCTIONS + (HARMONIC_FUNCTIONS if self.setup.harmonics else ())

    def item_list(self) -> list[str]:
        """The numeric items, in the order :VALue? returns them."""
        return [f"{function},{element}" for element in self.elements for function, _ in self.functions()]

    def on_connect(self) -> None:
        # Headers first: until they are off, every reply (the error queue's too) carries one.
        self.write(":COMMunicate:HEADer OFF")
        self.write("*CLS")
        self.set_up_inputs()
        self.write(":NUMeric:FORMat ASCii")
        items = self.item_list()
        self.write(f":NUMeric:NORMal:NUMBer {len(items)}")
        for k, item in enumerate(items, start=1):
            try:
                self.write(f":NUMeric:NORMal:ITEM{k} {item}")
            except InstrumentError as exc:
                if item.split(",")[0] in dict(HARMONIC_FUNCTIONS):
                    raise InstrumentError(
                        f"{exc.reason} (THD needs the harmonics option: set harmonics = false without it)",
                        address=self.address,
                        command=exc.command,
                    ) from None
                raise
        if self.update_period_s is not None:
            self.write(f":RATE {round(self.update_period_s * 1000)}MS")
            self.write(":STATus:FILTer1 FALL")
            self.query(":STATus:EESR?")  # clears the update event, so the first read waits for a fresh update
        self.front_panel = self.read_setup()
        self.check_setup(self.front_panel)

    def set_up_inputs(self) -> None:
        """Send the input settings the bench file gives (ranges, wiring, sync source, line filter)."""
        setup = self.setup
        ranges = {"voltage_range_v": setup.voltage_range_v, "current_range_a": setup.current_range_a}
        for command in range_commands(":INPut:{quantity}:{what}:ELEMent{e} {value}", ranges, units=True):
            self.write(command)
        if setup.wiring:
            self.write(f":INPut:WIRing {','.join(setup.wiring)}")
        for e, source in setup.sync_source.items():
            self.write(f":INPut:SYNChronize:ELEMent{e} {source}")
        for e, cutoff in setup.line_filter_hz.items():
            self.write(f":INPut:FILTer:LINE:ELEMent{e} {'OFF' if cutoff == OFF else f'{cutoff:g}HZ'}")

    def read_setup(self) -> dict[str, Any]:
        """Every input setting of the elements read, as the analyzer reports it now."""
        with self.lock:
            out = read_ranges(self.query, ":INPut:{quantity}:{what}:ELEMent{e}", self.elements)
            out["wiring"] = [w.strip().upper() for w in self.query(":INPut:WIRing?").split(",")]
            out["sync_source"] = {
                e: self.query(f":INPut:SYNChronize:ELEMent{e}?").strip().upper() for e in self.elements
            }
            filters: dict[int, float | str] = {}
            for e in self.elements:
                reply = self.query(f":INPut:FILTer:LINE:ELEMent{e}?").strip()
                filters[e] = OFF if reply.upper() == "OFF" else parse_float(reply)
            out["line_filter_hz"] = filters
            out["update_period_s"] = parse_float(self.query(":RATE?"))
            out["harmonics"] = self.setup.harmonics
            return out

    def check_setup(self, found: dict[str, Any]) -> None:
        """Fail when a setting reads back other than it was set (a refused or rounded setting)."""
        setup = self.setup
        wrong = (
            mismatches(setup.voltage_range_v, found["voltage_range_v"], "voltage_range_v")
            + mismatches(setup.current_range_a, found["current_range_a"], "current_range_a")
            + mismatches(setup.sync_source, found["sync_source"], "sync_source")
            + mismatches(setup.line_filter_hz, found["line_filter_hz"], "line_filter_hz")
        )
        if setup.wiring and list(setup.wiring) != found["wiring"][: len(setup.wiring)]:
            wrong.append(f"wiring: set {list(setup.wiring)}, reads back {found['wiring']}")
        if wrong:
            raise InstrumentError(f"input set-up not taken: {'; '.join(wrong)}", address=self.address, command="")

    def read(self) -> AnalyzerReading:
        command = READ_MESSAGE
        with self.lock:
            if self.update_period_s is not None:
                self.write(":COMMunicate:WAIT 1")
                self.query(":STATus:EESR?")
            reply = self.query(command)
        parts = reply.split(";")
        functions = self.functions()
        fields = parts[0].split(",")
        expected = len(self.elements) * len(functions)
        if len(parts) != 3 or len(fields) != expected:
            raise InstrumentError(
                f"expected {expected} values and the date and time, got {reply[:80]!r}",
                address=self.address,
                command=command,
            )
        try:
            values = [parse_float(f) for f in fields]
            stamp = parse_clock(parts[1], parts[2])
        except ValueError:
            raise InstrumentError(
                f"unreadable numeric reply {reply[:80]!r}", address=self.address, command=command
            ) from None
        readings: dict[int, ElementReading] = {}
        n = len(functions)
        for i, element in enumerate(self.elements):
            chunk = values[i * n : (i + 1) * n]
            readings[element] = ElementReading(**{field: v for (_, field), v in zip(functions, chunk)})
        return AnalyzerReading(elements=readings, instrument_time_s=stamp)

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
                "inputs": self.read_setup(),
                "configured": configured(self.options),
            }


class YokogawaWT3000(YokogawaWTNumeric):
    """Yokogawa WT3000 power analyzer (up to 4 elements)."""

    model = "Yokogawa WT3000"
    driver_name = "yokogawa-wt3000"
    max_elements = 4
    update_periods_s = (0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 20.0)
    voltage_ranges_v = (15, 30, 60, 100, 150, 300, 600, 1000)
    current_ranges_a = (0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 20, 30)


class YokogawaWT5000(YokogawaWTNumeric):
    """Yokogawa WT5000 power analyzer (up to 7 elements)."""

    model = "Yokogawa WT5000"
    driver_name = "yokogawa-wt5000"
    max_elements = 7
    update_periods_s = (0.01, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0, 20.0)
