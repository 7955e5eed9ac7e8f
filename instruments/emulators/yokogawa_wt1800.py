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

The input set-up is kept per element as on the instrument: voltage and
current ranges (``:INPut:VOLTage:RANGe:ELEMent<x>``; setting a range turns
its auto range off; a range the model lacks queues 222), auto ranges, the
wiring (``:INPut:WIRing P1W2,P3W4``: a system that needs more elements than
are installed queues 222), synchronization sources and line filters. THD
items (UTHD, ITHD) read the plant's THD, 0 % for a plant that gives none (a
pure sine); ``:SYSTem:DATE?`` and ``:SYSTem:TIME?`` read the emulator's clock.

Harmonics are read as the WT1800 manual has them: an item with an order
(``:NUMeric:NORMal:ITEM3 U,1,1``: <function>,<element>,{TOTal|DC|1..500}) and
the harmonic lists (``:NUMeric:LIST:ITEM1 U,1`` then ``:NUMeric:LIST:VALue?``:
total, DC and orders 1..``:NUMeric:LIST:ORDer`` of each list), with a spectrum
that agrees with the plant's totals and THD (emulators.harmonics); the upper-level
queries ``:NUMeric:NORMal?`` and ``:NUMeric:LIST?`` read a group's settings. The WT1800
has no ``:NUMeric:HARMonics`` group (a WT1600 one): it stays "113,Undefined header".

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
from datetime import UTC, datetime
from typing import ClassVar

from ..roles import ElementReading
from .harmonics import MAX_ORDER, ORDER_FUNCTIONS, order_value
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
    "UTHD": ("UTHD", "voltage_thd_pct"),
    "ITHD": ("ITHD", "current_thd_pct"),
}
ORDER_TOKENS = {name.upper(): name for name in ORDER_FUNCTIONS} | {"LAMB": "LAMBda"}  # read per harmonic order
MAX_LISTS = 64
Item = tuple[str, int, str | None]  # function, element, order as given (None, "TOT", "DC" or "<k>")
WIRING_ELEMENTS = {"P1W2": 1, "P1W3": 2, "P3W3": 2, "P3W4": 3, "V3A3": 3}  # elements each system uses
SYNC_SOURCES = {"EXT": "EXT", "EXTERNAL": "EXT", "NONE": "NONE"}


def _ascii(value: float) -> str:
    if math.isnan(value):
        return "NAN"
    if math.isinf(value):
        return "INF" if value > 0 else "-INF"
    return f"{value:.5E}"


class YokogawaWTEmulator(ScpiEmulator):
    """A WT1800 with the given input elements installed."""

    spec_name: str | None = "yokogawa-wt1800"
    session_start = (":COMMunicate:HEADer OFF",)  # a client's first message: replies without headers
    negative_error_codes = False
    error_query_patterns = (":STATus:ERRor?",)
    manufacturer = "YOKOGAWA"
    model = "WT1804E"
    max_elements: ClassVar[int] = 6
    update_periods_s: ClassVar[tuple[float, ...]] = (0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0, 20.0)
    voltage_ranges_v: ClassVar[tuple[float, ...]] = (1.5, 3, 6, 10, 15, 30, 60, 100, 150, 300, 600, 1000)
    current_ranges_a: ClassVar[tuple[float, ...]] = (0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 20, 50)

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
        self.items: dict[int, Item | None] = {}
        self.list_items: dict[int, Item | None] = {}
        self.update_period_s = 0.5
        self.filter1 = "NEVER"
        self._epoch_s: float | None = None
        self._eesr_seen_update = -1
        self.ranges: dict[str, dict[int, float]] = {
            "VOLTAGE": {e: max(self.voltage_ranges_v) for e in self.elements},
            "CURRENT": {e: max(self.current_ranges_a) for e in self.elements},
        }
        self.auto: dict[str, dict[int, bool]] = {"VOLTAGE": dict.fromkeys(self.elements, False)}
        self.auto["CURRENT"] = dict.fromkeys(self.elements, False)
        self.wiring = ["P1W2"] * len(self.elements)
        self.sync_source = {e: f"I{e}" for e in self.elements}
        self.line_filter_hz: dict[int, float | None] = dict.fromkeys(self.elements)  # None: off

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

    # -- input set-up ----------------------------------------------------------------------
    def _element(self, sfx: tuple[str, ...]) -> int:
        element = int(sfx[-1]) if sfx and sfx[-1] else 1
        if element not in self.elements:
            raise ScpiError(114, "Header suffix out of range")
        return element

    def _set_range(self, quantity: str, args: str, sfx: tuple[str, ...]) -> None:
        element = self._element(sfx)
        unit = "V" if quantity == "VOLTAGE" else "A"
        match = re.fullmatch(r"\s*([0-9.]+(?:E[+-]?\d+)?)\s*(M?)" + unit + r"?\s*", args.upper())
        if match is None:
            raise ScpiError(104 if args.strip() else 109)
        value = float(match.group(1)) / (1000.0 if match.group(2) else 1.0)
        allowed = self.voltage_ranges_v if quantity == "VOLTAGE" else self.current_ranges_a
        if not any(math.isclose(value, r, rel_tol=1e-9) for r in allowed):
            raise ScpiError(222)
        with self.lock:
            self.ranges[quantity][element] = value
            self.auto[quantity][element] = False

    @scpi("[INPut:]VOLTage:RANGe:ELEMent#")
    def _voltage_range(self, args, sfx) -> None:
        self._set_range("VOLTAGE", args, sfx)

    @scpi("[INPut:]CURRent:RANGe:ELEMent#")
    def _current_range(self, args, sfx) -> None:
        self._set_range("CURRENT", args, sfx)

    @scpi("[INPut:]VOLTage:RANGe:ELEMent#?")
    def _voltage_range_q(self, args, sfx) -> str:
        e = self._element(sfx)
        return self._reply(f":INP:VOLT:RANG:ELEM{e}", f"{self.ranges['VOLTAGE'][e]:.3E}")

    @scpi("[INPut:]CURRent:RANGe:ELEMent#?")
    def _current_range_q(self, args, sfx) -> str:
        e = self._element(sfx)
        return self._reply(f":INP:CURR:RANG:ELEM{e}", f"{self.ranges['CURRENT'][e]:.3E}")

    @scpi("[INPut:]VOLTage:AUTO:ELEMent#")
    def _voltage_auto(self, args, sfx) -> None:
        self.auto["VOLTAGE"][self._element(sfx)] = bool_arg(args)

    @scpi("[INPut:]CURRent:AUTO:ELEMent#")
    def _current_auto(self, args, sfx) -> None:
        self.auto["CURRENT"][self._element(sfx)] = bool_arg(args)

    @scpi("[INPut:]VOLTage:AUTO:ELEMent#?")
    def _voltage_auto_q(self, args, sfx) -> str:
        e = self._element(sfx)
        return self._reply(f":INP:VOLT:AUTO:ELEM{e}", "1" if self.auto["VOLTAGE"][e] else "0")

    @scpi("[INPut:]CURRent:AUTO:ELEMent#?")
    def _current_auto_q(self, args, sfx) -> str:
        e = self._element(sfx)
        return self._reply(f":INP:CURR:AUTO:ELEM{e}", "1" if self.auto["CURRENT"][e] else "0")

    @scpi("[INPut:]WIRing")
    def _wiring(self, args, sfx) -> None:
        tokens = [t.strip().upper() for t in args.split(",")] if args.strip() else []
        if not tokens:
            raise ScpiError(109)
        if any(t not in WIRING_ELEMENTS for t in tokens):
            raise ScpiError(224)
        used = sum(WIRING_ELEMENTS[t] for t in tokens)
        if used > len(self.elements):
            raise ScpiError(222)
        with self.lock:
            self.wiring = tokens + ["P1W2"] * (len(self.elements) - used)

    @scpi("[INPut:]WIRing?")
    def _wiring_q(self, args, sfx) -> str:
        return self._reply(":INP:WIR", ",".join(self.wiring))

    @scpi("[INPut:]SYNChronize:ELEMent#")
    def _sync(self, args, sfx) -> None:
        element = self._element(sfx)
        token = args.strip().upper()
        if not token:
            raise ScpiError(109)
        source = SYNC_SOURCES.get(token)
        if source is None:
            match = re.fullmatch(r"([UI])(\d)", token)
            if match is None or int(match.group(2)) not in self.elements:
                raise ScpiError(224)
            source = token
        self.sync_source[element] = source

    @scpi("[INPut:]SYNChronize:ELEMent#?")
    def _sync_q(self, args, sfx) -> str:
        e = self._element(sfx)
        return self._reply(f":INP:SYNC:ELEM{e}", self.sync_source[e])

    @scpi("[INPut:]FILTer[:LINE]:ELEMent#")
    def _line_filter(self, args, sfx) -> None:
        element = self._element(sfx)
        token = args.strip().upper()
        if token == "OFF":
            self.line_filter_hz[element] = None
            return
        match = re.fullmatch(r"([0-9.]+(?:E[+-]?\d+)?)\s*(K|M|MA)?(?:HZ)?", token)
        if match is None:
            raise ScpiError(104 if token else 109)
        hz = float(match.group(1)) * {None: 1.0, "K": 1e3, "MA": 1e6, "M": 1e6}[match.group(2)]
        if not (hz in (300e3, 1e6) or (100 <= hz <= 100e3 and math.isclose(hz % 100, 0, abs_tol=1e-6))):
            raise ScpiError(222)
        self.line_filter_hz[element] = hz

    @scpi("[INPut:]FILTer[:LINE]:ELEMent#?")
    def _line_filter_q(self, args, sfx) -> str:
        e = self._element(sfx)
        hz = self.line_filter_hz[e]
        return self._reply(f":INP:FILT:LINE:ELEM{e}", "OFF" if hz is None else f"{hz:.1E}")

    # -- the clock ---------------------------------------------------------------------------
    def _moment(self) -> datetime:
        return datetime.fromtimestamp(self.clock.now(), tz=UTC)

    @scpi(":SYSTem:DATE?")
    def _date_q(self, args, sfx) -> str:
        return self._reply(":SYST:DATE", self._moment().strftime('"%Y/%m/%d"'))

    @scpi(":SYSTem:TIME?")
    def _time_q(self, args, sfx) -> str:
        return self._reply(":SYST:TIME", self._moment().strftime('"%H:%M:%S"'))

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

    def _parse_item(self, args: str, with_order: bool) -> Item | None:
        """An item as ITEM<x> gives it: NONE, or <function>,<element>[,<order>] (lists take no order)."""
        text = args.strip()
        if not text:
            raise ScpiError(109)
        if text.upper() == "NONE":
            return None
        parts = [p.strip() for p in text.split(",")]
        if len(parts) < 2:
            raise ScpiError(109)
        if len(parts) > (3 if with_order else 2):
            raise ScpiError(108)
        token = parts[0].upper()
        function = ORDER_TOKENS.get(token) or (FUNCTIONS[token][0] if with_order and token in FUNCTIONS else None)
        if function is None:
            raise ScpiError(224)
        element = int_arg(parts[1])
        if element not in self.elements:
            raise ScpiError(222)
        return function, element, self._order_token(parts[2]) if len(parts) == 3 else None

    @staticmethod
    def _order_token(text: str) -> str:
        token = text.upper()
        if token in ("TOT", "TOTAL", "DC"):
            return token[:3]
        order = int_arg(text)
        if not 1 <= order <= MAX_ORDER:
            raise ScpiError(222)
        return str(order)

    @staticmethod
    def _item_text(item: Item | None) -> str:
        if item is None:
            return "NONE"
        function, element, order = item
        return f"{function.upper()},{element}" + (f",{order}" if order is not None else "")

    _TABLES: ClassVar[dict[str, tuple[int, str]]] = {"items": (MAX_ITEMS, "NORM"), "list_items": (MAX_LISTS, "LIST")}

    def _table_index(self, table: str, sfx: tuple[str, ...]) -> int:
        k = int(sfx[-1]) if sfx and sfx[-1] else 1
        if not 1 <= k <= self._TABLES[table][0]:
            raise ScpiError(114, "Header suffix out of range")
        return k

    def _store_item(self, table: str, args: str, sfx: tuple[str, ...]) -> None:
        """ITEM<x> of the normal items ("items", with an order) or of the harmonic lists ("list_items")."""
        k = self._table_index(table, sfx)
        item = self._parse_item(args, with_order=table == "items")
        with self.lock:
            getattr(self, table)[k] = item

    def _item_reply(self, table: str, sfx: tuple[str, ...]) -> str:
        k = self._table_index(table, sfx)
        return self._reply(f":NUM:{self._TABLES[table][1]}:ITEM{k}", self._item_text(getattr(self, table).get(k)))

    def _clear_items(self, table: str, args: str) -> None:
        """CLEar [<start>]: items from <start> (default 1) on read NONE."""
        start = int_arg(args) if args.strip() else 1
        if not 1 <= start <= self._TABLES[table][0]:
            raise ScpiError(222)
        with self.lock:
            setattr(self, table, {k: v for k, v in getattr(self, table).items() if k < start})

    def _upper_reply(self, table: str, settings: list[tuple[str, str]]) -> str:
        """An upper-level query's reply: each setting of the group with its header, ';' between them."""
        with self.lock:
            items = dict(getattr(self, table))
        count = int(settings[0][1])
        settings = settings + [(f"ITEM{k}", self._item_text(items.get(k))) for k in range(1, count + 1)]
        if not self.header_on:
            return ";".join(value for _, value in settings)
        group = f":NUM:{self._TABLES[table][1]}:"
        return group + ";".join(f"{name} {value}" for name, value in settings)

    @scpi(":NUMeric:NORMal?")
    def _normal_q(self, args, sfx) -> str:
        return self._upper_reply("items", [("NUMB", str(self.number))])

    @scpi(":NUMeric:LIST?")
    def _list_q(self, args, sfx) -> str:
        names = (("NUMB", "NUMBer"), ("ORD", "ORDer"), ("SEL", "SELect"))
        settings = [(short, str(self._spec_setting(f":NUMeric:LIST:{name}")[0])) for short, name in names]
        return self._upper_reply("list_items", settings)

    @scpi(":NUMeric[:NORMal]:ITEM#")
    def _item(self, args, sfx) -> None:
        self._store_item("items", args, sfx)

    @scpi(":NUMeric[:NORMal]:ITEM#?")
    def _item_q(self, args, sfx) -> str:
        return self._item_reply("items", sfx)

    @scpi(":NUMeric[:NORMal]:CLEar", takes_args=True)
    def _clear(self, args, sfx) -> None:
        self._clear_items("items", args)

    def _readings(self) -> dict[int, ElementReading]:
        source = self.source
        if source is not None:
            return source()
        return {e: ElementReading(0.0, 0.0, 0.0, 0.0, 0.0, math.nan, math.nan) for e in self.elements}

    @staticmethod
    def _item_value(readings: dict[int, ElementReading], item: Item | None) -> float:
        if item is None or item[1] not in readings:
            return math.nan
        function, element, order = item
        reading = readings[element]
        if function.upper() in FUNCTIONS and order in (None, "TOT"):
            value = getattr(reading, FUNCTIONS[function.upper()][1])
            return 0.0 if value is None else float(value)  # no THD from the plant: a pure sine
        if function not in ORDER_FUNCTIONS:
            return math.nan  # a per-element function asked for one order: no such data
        return order_value(reading, function, None if order in (None, "TOT") else 0 if order == "DC" else int(order))

    def _values(self) -> list[float]:
        with self.lock:
            items = [self.items.get(k) for k in range(1, self.number + 1)]
        readings = self._readings()
        return [self._item_value(readings, item) for item in items]

    # -- harmonic lists --------------------------------------------------------------------------
    def _spec_setting(self, header: str) -> list:
        """What a setting the spec serves was last given (or its value after *RST)."""
        found = self.spec.find(header) if self.spec is not None else None
        if found is None:  # a model whose manual was not read
            raise ScpiError(113)
        with self.lock:
            stored = self._spec_settings.get((found.command.header, found.suffixes, ""))
        return list(stored if stored is not None else found.command.default)

    @scpi(":NUMeric:LIST:ITEM#")
    def _list_item(self, args, sfx) -> None:
        self._store_item("list_items", args, sfx)

    @scpi(":NUMeric:LIST:ITEM#?")
    def _list_item_q(self, args, sfx) -> str:
        return self._item_reply("list_items", sfx)

    @scpi(":NUMeric:LIST:CLEar", takes_args=True)
    def _list_clear(self, args, sfx) -> None:
        self._clear_items("list_items", args)

    @scpi(":NUMeric:LIST:VALue?", takes_args=True)
    def _list_value_q(self, args, sfx) -> str:
        count = int(self._spec_setting(":NUMeric:LIST:NUMBer")[0])
        lists = range(1, count + 1)
        if args.strip():
            k = int_arg(args)
            if not 1 <= k <= count:
                raise ScpiError(222)
            lists = range(k, k + 1)
        highest = int(self._spec_setting(":NUMeric:LIST:ORDer")[0])
        select = str(self._spec_setting(":NUMeric:LIST:SELect")[0]).upper()
        orders = [o for o in range(1, highest + 1) if select == "ALL" or (o % 2 == 1) == (select == "ODD")]
        readings = self._readings()
        values: list[float] = []
        for k in lists:
            with self.lock:
                item = self.list_items.get(k)
            for order in ["TOT", "DC", *map(str, orders)]:
                values.append(self._item_value(readings, None if item is None else (item[0], item[1], order)))
        return self._reply(":NUM:LIST:VAL", ",".join(_ascii(v) for v in values))

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

    spec_name = "yokogawa-wt3000"
    model = "760304-04-SV"
    max_elements = 4
    update_periods_s = (0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 20.0)
    voltage_ranges_v = (15, 30, 60, 100, 150, 300, 600, 1000)
    current_ranges_a = (0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 20, 30)


class YokogawaWT5000Emulator(YokogawaWTEmulator):
    """A WT5000 (seven elements)."""

    spec_name = "yokogawa-wt5000"
    model = "WT5000"
    max_elements = 7
    update_periods_s = (0.01, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0, 20.0)
