"""Field events: a feeder's timeline (twin changes and operator signals) and the field measurements.

A field event file (TOML) describes something that happened on a feeder (a
curtailment, a switching operation, a cloud passing). This module reads what
the twin needs of it: the feeder, the field site's place and uncontrolled
conditions, the other customers, the timeline and the field record. Times are
seconds from the start of the event; powers are W at the field site, import
positive. How the event maps to a lab bench and how a replay is scored are the
lab's (flexbench.lab.replay.event); their keys live in the same file, and this
reader leaves them to it (`others`).

    [event]
    name = "..."                      # short title
    description = "..."               # what happened, where the traces come from
    feeder = "ieee123"                # embedded feeder name or OpenDSS master path
    field = "event.csv"               # field measurements, relative to this file

    [site]                            # the field site
    element = "s47"                   # its load on the feeder (the twin's customer location)
    bus = "47"                        # optional: checked against the feeder
    load_w = 70000.0                  # uncontrolled load at scale 1
    ev_w = 0.0                        # controllable load, EV charging
    pv_rating_w = 0.0                 # PV at 1000 W/m2
    irradiance_w_m2 = 0.0             # irradiance at the start
    battery_w = 0.0                   # the battery's own request, + discharge

    [twin]
    load_scale = 0.6                  # every other load, fraction of its nominal kW, at the start
    pv_systems = { s48 = 100000.0 }   # optional: PV behind other loads, W at 1000 W/m2

    [[timeline]]                      # in time order
    t_s = 30.0
    action = "abnormal_import"
    max_import_w = 25000.0

Actions (twin changes, then operator signals):

| action | keys | what |
|---|---|---|
| `load` | `element` (a load, or `"*"` for every load but the site's), `scale` | load at `scale` x its value at the start |
| `switch` | `element` (`Line.NAME`), `state` (`open` / `closed`), `bus2` (optional) | opens or closes a line or switch; `bus2` reconnects a tie modelled to a dummy open bus |
| `irradiance` | `element` (a load with PV, or `PVSystem.NAME`), `irradiance_w_m2` | PV output at that irradiance |
| `site_limits` | `import_limit_w` and/or `export_limit_w`, `duration_s` (optional) | operator's site limits (CSIP-AUS opModImpLimW / opModExpLimW) |
| `envelope` | `duration_s` (optional) | the site's envelope as the twin computes it now, sent as site limits |
| `abnormal_import` | `max_import_w`, `duration_s` (optional) | abnormal operation: signaled maximum import |
| `cancel` | `target` (`abnormal`, `limits`, `envelope` or `all`; default `all`) | cancels signals in force |

The field CSV has a `time_s` column (increasing) and one column per measured
quantity, each name ending in its unit (`pcc_p_w`, `pcc_q_var`, `pcc_v_pu`,
`export_limit_w`, ...).

Bad input raises EventError, one line naming the file, the line and the key
(`path:line: [site] load_w: expected a number, got 'x'`).
"""

from __future__ import annotations

import dataclasses
import math
import re
import tomllib
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from flexbench.twin.errors import TwinError, suggest

if TYPE_CHECKING:
    from flexbench.twin.twin import Twin

TWIN_ACTIONS = ("load", "switch", "irradiance")
SIGNAL_ACTIONS = ("site_limits", "envelope", "abnormal_import", "cancel")
ACTIONS = TWIN_ACTIONS + SIGNAL_ACTIONS
CANCEL_TARGETS = ("abnormal", "limits", "envelope", "all")
UNIT_SUFFIXES = ("_s", "_w", "_var", "_va", "_v", "_a", "_hz", "_pu", "_w_m2", "_pct", "_wh")
MAX_IRRADIANCE_W_M2 = 1500.0

# keys of each action: name -> required
_ACTION_KEYS: dict[str, dict[str, bool]] = {
    "load": {"element": True, "scale": True},
    "switch": {"element": True, "state": True, "bus2": False},
    "irradiance": {"element": True, "irradiance_w_m2": True},
    "site_limits": {"import_limit_w": False, "export_limit_w": False, "duration_s": False},
    "envelope": {"duration_s": False},
    "abnormal_import": {"max_import_w": True, "duration_s": False},
    "cancel": {"target": False},
}
# keys of each table: name -> required
_TABLES: dict[str, dict[str, bool]] = {
    "event": {"name": True, "description": False, "feeder": True, "field": True},
    "site": {
        "element": True,
        "bus": False,
        "load_w": True,
        "ev_w": False,
        "pv_rating_w": False,
        "irradiance_w_m2": False,
        "battery_w": False,
    },
    "twin": {"load_scale": False, "pv_systems": False},
}
Others = Mapping[str, Collection[str] | None]  # table -> keys another reader takes (None: the whole table)


class EventError(TwinError):
    """A field event file or its field measurements that cannot be replayed."""


@dataclass(frozen=True)
class EventFile:
    """An event file's tables and its text, so that every error names the line of its key."""

    path: Path
    data: dict[str, Any]
    lines: tuple[str, ...]

    @classmethod
    def load(cls, path: str | Path) -> EventFile:
        path = Path(path)
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise EventError(f"{path}: event file not found") from None
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise EventError(f"{path}: not valid TOML: {exc}") from None
        return cls(path, data, tuple(text.splitlines()))

    def line_of(self, table: str, key: str | None = None, entry: int | None = None) -> int | None:
        """Line of `key` in [table] (in the entry-th [[table]], from 1), else of the table's header.

        None when the table is not written out with a header (inline, dotted) and the key is nowhere.
        """
        header = re.compile(r"^\s*\[\[?\s*" + re.escape(table) + r"\s*\]\]?\s*(#.*)?$")
        starts = [n for n, text in enumerate(self.lines) if header.match(text)]
        if entry is not None:
            starts = starts[entry - 1 : entry]
        if not starts:
            if key is None:
                return None
            anywhere = re.compile(r"^\s*(?:[\w.\"-]+\.)?\"?" + re.escape(key) + r"\"?\s*=")
            return next((n + 1 for n, text in enumerate(self.lines) if anywhere.match(text)), None)
        start = starts[0]
        if key is not None:
            pattern = re.compile(r"^\s*\"?" + re.escape(key) + r"\"?\s*=")
            for n in range(start + 1, len(self.lines)):
                if re.match(r"^\s*\[", self.lines[n]):
                    break
                if pattern.match(self.lines[n]):
                    return n + 1
        return start + 1

    def error(self, message: str, table: str, key: str | None = None, entry: int | None = None) -> EventError:
        """An EventError: `path:line: message`, the line where the key is (or its table begins)."""
        line = self.line_of(table, key, entry)
        return EventError(f"{self.path}:{line}: {message}" if line else f"{self.path}: {message}")


@dataclass(frozen=True)
class Place:
    """A table of an event file (or one timeline entry), read with errors naming file, line and key."""

    file: EventFile
    table: str
    label: str  # "[site]", "timeline entry 2 (switch)"
    values: Mapping[str, Any]
    entry: int | None = None

    def error(self, key: str | None, text: str) -> EventError:
        sep = " " if self.label.endswith("]") else ": "
        return self.file.error(f"{self.label}{sep}{text}", self.table, key, self.entry)

    def text(self, key: str) -> str:
        value = self.values[key]
        if not isinstance(value, str) or not value.strip():
            raise self.error(key, f"{key}: expected a non-empty string, got {value!r}")
        return value.strip()

    def number(
        self, key: str, default: float | None = None, *, minimum: float | None = None, positive: bool = False
    ) -> float:
        if key not in self.values:
            if default is None:
                raise self.error(None, f"missing key '{key}'")
            return default
        value = self.values[key]
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise self.error(key, f"{key}: expected a number, got {value!r}")
        if positive and value <= 0:
            raise self.error(key, f"{key}: must be positive, got {value!r}")
        if minimum is not None and value < minimum:
            raise self.error(key, f"{key}: must be at least {minimum:g}, got {value!r}")
        return float(value)


@dataclass(frozen=True)
class FieldSite:
    """The field site: its place on the feeder and its uncontrolled conditions (field W)."""

    element: str
    bus: str
    load_w: float
    ev_w: float = 0.0
    pv_rating_w: float = 0.0
    irradiance_w_m2: float = 0.0
    battery_w: float = 0.0


@dataclass(frozen=True)
class Entry:
    """One timeline entry: `number` counts from 1 in file order."""

    number: int
    t_s: float
    action: str
    values: dict[str, Any]

    @property
    def element(self) -> str | None:
        return self.values.get("element")

    def describe(self) -> str:
        shown = ", ".join(f"{k}={v}" for k, v in self.values.items())
        return f"{self.action}({shown})"


@dataclass
class FieldEvent:
    """A parsed, validated field event (what the twin needs of it)."""

    path: Path
    name: str
    description: str
    feeder: str
    site: FieldSite
    load_scale: float
    pv_systems: dict[str, float]
    timeline: list[Entry]
    field_path: Path
    field: pd.DataFrame = dataclasses.field(repr=False)
    source: EventFile | None = dataclasses.field(default=None, repr=False)

    @property
    def duration_s(self) -> float:
        return float(self.field["time_s"].iloc[-1])

    def error_at(self, entry: int, text: str) -> EventError:
        """An error about timeline entry `entry` (0: the start, the [site] and [twin] tables), naming its line."""
        if self.source is None:
            return EventError(f"{self.path}: {text}")
        if entry == 0:
            return self.source.error(text, "site")
        return self.source.error(text, "timeline", None, entry)


# -- reading ----------------------------------------------------------------------------


def read_event(
    source: str | Path | EventFile, twin: Twin | None = None, *, with_field: bool = True, others: Others | None = None
) -> FieldEvent:
    """Parse and validate an event file against its feeder (a Twin, loaded when None).

    others: keys of the file another reader takes (the lab's bench mapping and
    score), table -> keys or None for a whole table; they are not unknown here.
    with_field=False skips the field CSV (used by the script that makes it).
    """
    f = source if isinstance(source, EventFile) else EventFile.load(source)
    others = others or {}
    path = f.path
    known = sorted(set(_TABLES) | {"timeline"} | set(others))
    unknown = sorted(set(f.data) - set(known))
    if unknown:
        raise f.error(
            f"unknown table [{unknown[0]}]{suggest(unknown[0], known)} (known: {', '.join(known)})", unknown[0]
        )
    event, site_t, twin_t = (_table(f, name, others) for name in ("event", "site", "twin"))

    if twin is None:
        from flexbench.twin.twin import Twin

        try:
            twin = Twin.load(event.text("feeder"))
        except TwinError as exc:
            raise event.error("feeder", f"feeder: {exc}") from None
    elements = FeederElements.of(twin)

    site = _site(site_t, elements)
    pv_systems = _pv_systems(twin_t, elements)
    if site.pv_rating_w > 0:
        pv_systems[site.element] = site.pv_rating_w
    load_scale = twin_t.number("load_scale", 0.6, minimum=0.0)
    timeline = _timeline(f, elements, pv_systems)
    field_path = (path.parent / event.text("field")).resolve()
    field_df = read_field(field_path) if with_field else pd.DataFrame({"time_s": [0.0]})
    if with_field and timeline and timeline[-1].t_s > float(field_df["time_s"].iloc[-1]):
        last = timeline[-1]
        raise f.error(
            f"timeline entry {last.number} ({last.action}): t_s = {last.t_s:g} is after the end of the "
            f"field record ({float(field_df['time_s'].iloc[-1]):g} s in {field_path.name})",
            "timeline",
            "t_s",
            last.number,
        )
    return FieldEvent(
        path=path,
        name=event.text("name"),
        description=str(event.values.get("description", "")),
        feeder=event.text("feeder"),
        site=site,
        load_scale=load_scale,
        pv_systems=pv_systems,
        timeline=timeline,
        field_path=field_path,
        field=field_df,
        source=f,
    )


def read_field(path: Path, columns: Collection[str] = ()) -> pd.DataFrame:
    """The field measurements: time_s increasing, every column named with its unit, all numbers.

    columns: more columns that must be there (a replay's score channel).
    """
    try:
        with open(path, encoding="utf-8") as fh:
            head = 0  # comment lines before the header: line numbers in messages count them
            for line in fh:
                if not line.startswith("#"):
                    break
                head += 1
        df = pd.read_csv(path, comment="#")
    except FileNotFoundError:
        raise EventError(f"{path}: field measurements not found") from None
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise EventError(f"{path}: not a CSV file: {str(exc).splitlines()[0]}") from None
    names = [str(c).strip() for c in df.columns]
    df.columns = pd.Index(names)
    for required in ("time_s", *columns):
        if required not in names:
            raise EventError(
                f"{path}:{head + 1}: missing column '{required}'{suggest(required, names)} "
                f"(columns: {', '.join(names)})"
            )
    for col in names:
        if not col.endswith(UNIT_SUFFIXES):
            raise EventError(
                f"{path}:{head + 1}: column '{col}' does not name its unit "
                f"(end it with one of {', '.join(UNIT_SUFFIXES)})"
            )
        values = pd.to_numeric(df[col], errors="coerce")
        bad = np.flatnonzero(values.isna().to_numpy() & df[col].notna().to_numpy())
        if bad.size:
            row = int(bad[0])
            raise EventError(f"{path}: line {row + head + 2}, column '{col}': {df[col].iloc[row]!r} is not a number")
        df[col] = values.astype(float)
    if len(df) < 2:
        raise EventError(f"{path}: needs at least two rows of measurements")
    t = df["time_s"].to_numpy()
    if np.isnan(t).any():
        row = int(np.flatnonzero(np.isnan(t))[0])
        raise EventError(f"{path}: line {row + head + 2}, column 'time_s': empty")
    back = np.flatnonzero(np.diff(t) <= 0)
    if back.size:
        row = int(back[0]) + 1
        raise EventError(
            f"{path}: line {row + head + 2}, column 'time_s': {t[row]:g} s does not come after "
            f"{t[row - 1]:g} s (time going backwards or repeated)"
        )
    return df


@dataclass(frozen=True)
class FeederElements:
    """Names a timeline may refer to: loads, lines (switches are lines) and PV systems, lower case."""

    feeder: str
    loads: frozenset[str]
    lines: frozenset[str]
    pv_systems: frozenset[str]
    load_bus: dict[str, str]
    buses: frozenset[str]

    @classmethod
    def of(cls, twin: Twin) -> FeederElements:
        dss = twin.engine.dss
        return cls(
            feeder=twin.name,
            loads=frozenset(twin.site_ids),
            lines=frozenset(n.lower() for n in dss.Lines.AllNames() if n and n.lower() != "none"),
            pv_systems=frozenset(n.lower() for n in dss.PVsystems.AllNames() if n and n.lower() != "none"),
            load_bus={s.site_id: s.bus for s in twin.sites},
            buses=frozenset(b.lower() for b in dss.Circuit.AllBusNames()),
        )

    def load(self, name: str) -> str | None:
        key = name.strip().lower()
        key = key[5:] if key.startswith("load.") else key
        return key if key in self.loads else None

    def line(self, name: str) -> str | None:
        key = name.strip().lower()
        key = key[5:] if key.startswith("line.") else key
        return key if key in self.lines else None

    def pv_system(self, name: str) -> str | None:
        key = name.strip().lower()
        key = key[9:] if key.startswith("pvsystem.") else key
        return key if key in self.pv_systems else None


# -- pieces -----------------------------------------------------------------------------


def _table(f: EventFile, name: str, others: Others) -> Place:
    """[name] with its keys checked: the twin's, plus those another reader takes; the twin's required ones there."""
    keys = _TABLES[name]
    required = any(keys.values())
    label = f"[{name}]"
    if name not in f.data:
        if required:
            raise f.error(f"missing table [{name}]", name)
        return Place(f, name, label, {})
    table = f.data[name]
    if not isinstance(table, dict):
        raise f.error(f"{label} must be a table", name)
    theirs = set(others.get(name) or ())
    known = list(keys) + sorted(theirs - set(keys))
    unknown = [k for k in table if k not in known]
    if unknown:
        bad = unknown[0]
        raise f.error(f"{label} unknown key '{bad}'{suggest(bad, known)} (known: {', '.join(known)})", name, bad)
    for key, needed in keys.items():
        if needed and key not in table:
            raise f.error(f"{label} missing key '{key}'", name)
    return Place(f, name, label, {k: v for k, v in table.items() if k in keys})


def _site(t: Place, elements: FeederElements) -> FieldSite:
    element = elements.load(t.text("element"))
    if element is None:
        raise t.error(
            "element",
            f"element: '{t.values['element']}' is not a load of feeder {elements.feeder}"
            f"{suggest(str(t.values['element']).lower(), elements.loads)}",
        )
    bus = elements.load_bus[element]
    if "bus" in t.values and str(t.values["bus"]).strip().lower() != bus:
        raise t.error("bus", f"bus: '{t.values['bus']}' is not where {element} connects (bus {bus})")
    return FieldSite(
        element=element,
        bus=bus,
        load_w=t.number("load_w", minimum=0.0),
        ev_w=t.number("ev_w", 0.0, minimum=0.0),
        pv_rating_w=t.number("pv_rating_w", 0.0, minimum=0.0),
        irradiance_w_m2=_irradiance(t),
        battery_w=t.number("battery_w", 0.0),
    )


def _irradiance(t: Place) -> float:
    value = t.number("irradiance_w_m2", 0.0, minimum=0.0)
    if value > MAX_IRRADIANCE_W_M2:
        raise t.error("irradiance_w_m2", f"irradiance_w_m2: {value:g} is above {MAX_IRRADIANCE_W_M2:g} W/m2")
    return value


def _pv_systems(t: Place, elements: FeederElements) -> dict[str, float]:
    table = t.values.get("pv_systems", {})
    if not isinstance(table, dict):
        raise t.error("pv_systems", "pv_systems: expected a table of load = W at 1000 W/m2")
    place = Place(t.file, t.table, "[twin] pv_systems", table)
    out: dict[str, float] = {}
    for name in table:
        load = elements.load(name)
        if load is None:
            raise t.error(
                "pv_systems",
                f"pv_systems: '{name}' is not a load of feeder {elements.feeder}{suggest(name.lower(), elements.loads)}",
            )
        out[load] = place.number(name, positive=True)
    return out


def _timeline(f: EventFile, elements: FeederElements, pv_systems: dict[str, float]) -> list[Entry]:
    raw = f.data.get("timeline", [])
    if not isinstance(raw, list):
        raise f.error("timeline must be an array of tables ([[timeline]])", "timeline")
    entries: list[Entry] = []
    for number, item in enumerate(raw, start=1):
        if not isinstance(item, dict):
            raise f.error(f"timeline entry {number}: must be a table", "timeline", entry=number)
        action = item.get("action")
        place = Place(f, "timeline", f"timeline entry {number}", item, number)
        if not isinstance(action, str):
            raise place.error(None, f"missing key 'action' (actions: {', '.join(ACTIONS)})")
        if action not in _ACTION_KEYS:
            raise place.error(
                "action", f"unknown action '{action}'{suggest(action, ACTIONS)} (actions: {', '.join(ACTIONS)})"
            )
        place = Place(f, "timeline", f"timeline entry {number} ({action})", item, number)
        t_s = place.number("t_s", minimum=0.0)
        if entries and t_s < entries[-1].t_s:
            raise place.error(
                "t_s",
                f"t_s = {t_s:g} comes before entry {entries[-1].number}'s t_s = {entries[-1].t_s:g} "
                "(time going backwards)",
            )
        keys = _ACTION_KEYS[action]
        unknown = [k for k in item if k not in keys and k not in ("t_s", "action")]
        if unknown:
            bad = unknown[0]
            raise place.error(
                bad, f"unknown key '{bad}'{suggest(bad, keys)} (keys of {action}: t_s, {', '.join(keys)})"
            )
        for key, needed in keys.items():
            if needed and key not in item:
                raise place.error(None, f"missing key '{key}'")
        entries.append(Entry(number, t_s, action, _entry_values(place, action, elements, pv_systems)))
    return entries


def _entry_values(place: Place, action: str, elements: FeederElements, pv_systems: dict[str, float]) -> dict[str, Any]:
    item = place.values
    values: dict[str, Any] = {}
    if action == "load":
        name = str(item["element"])
        if name.strip() == "*":
            values["element"] = "*"
        else:
            load = elements.load(name)
            if load is None:
                raise place.error(
                    "element",
                    f"element '{name}' is not a load of feeder {elements.feeder}{suggest(name.lower(), elements.loads)}",
                )
            values["element"] = load
        values["scale"] = place.number("scale", minimum=0.0)
    elif action == "switch":
        name = str(item["element"])
        line = elements.line(name)
        if line is None:
            raise place.error(
                "element",
                f"element '{name}' is not a line or switch of feeder "
                f"{elements.feeder}{suggest(name, [f'Line.{n}' for n in sorted(elements.lines)])}",
            )
        state = item["state"]
        if state not in ("open", "closed"):
            raise place.error("state", f"state: expected 'open' or 'closed', got {state!r}")
        values.update(element=f"Line.{line}", state=state)
        if "bus2" in item:
            if state != "closed":
                raise place.error("bus2", "bus2 is only for closing a tie, not with state = 'open'")
            bus = str(item["bus2"]).strip().lower()
            if bus.split(".")[0] not in elements.buses:
                raise place.error(
                    "bus2",
                    f"bus2: '{bus}' is not a bus of feeder {elements.feeder}"
                    f"{suggest(bus.split('.')[0], elements.buses)}",
                )
            values["bus2"] = bus
    elif action == "irradiance":
        name = str(item["element"])
        load = elements.load(name)
        pv = elements.pv_system(name)
        if load is not None and load in pv_systems:
            values["element"] = load
        elif pv is not None:
            values["element"] = f"PVSystem.{pv}"
        else:
            known = sorted(pv_systems) + [f"PVSystem.{p}" for p in sorted(elements.pv_systems)]
            raise place.error(
                "element",
                f"element '{name}' is not a PV system of feeder {elements.feeder} "
                f"nor a load with PV (PV: {', '.join(known) or 'none declared'})",
            )
        values["irradiance_w_m2"] = _irradiance(place)
    elif action == "site_limits":
        if "import_limit_w" not in item and "export_limit_w" not in item:
            raise place.error(None, "give import_limit_w, export_limit_w or both")
        for key in ("import_limit_w", "export_limit_w"):
            if key in item:
                values[key] = place.number(key, minimum=0.0)
    elif action == "abnormal_import":
        values["max_import_w"] = place.number("max_import_w", minimum=0.0)
    elif action == "cancel":
        target = item.get("target", "all")
        if target not in CANCEL_TARGETS:
            raise place.error("target", f"target: expected one of {', '.join(CANCEL_TARGETS)}, got {target!r}")
        values["target"] = target
    if "duration_s" in item:
        values["duration_s"] = place.number("duration_s", positive=True)
    return values
