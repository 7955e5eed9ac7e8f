"""Field events: a timeline of twin changes and operator signals, with the field measurements.

A field event file (TOML) describes something that happened on a feeder (a
curtailment, a switching operation, a cloud passing) so that it can be replayed
on a lab bench and the lab's response compared with what the field recorded.
Times are seconds from the start of the event; powers are in W at the field
site, import positive. Every power is mapped to the bench's (smaller) site by
the ratio the file declares.

    [event]
    name = "..."                      # short title
    description = "..."               # what happened, where the traces come from
    feeder = "ieee123"                # embedded feeder name or OpenDSS master path
    bench = "lab/benches/virtual-pcs.toml"   # the bench file the event expects
    field = "event.csv"               # field measurements, relative to this file

    [site]                            # the field site
    element = "s47"                   # its load on the feeder (the twin's customer location)
    bus = "47"                        # optional: checked against the feeder
    rating_w = 150000.0               # its connection rating (limits sent are capped at it)
    bench_ratio = 0.08                # bench W per field W
    load_w = 70000.0                  # uncontrolled load at scale 1 (the bench's AC load)
    ev_w = 0.0                        # controllable load, EV charging (the bench's EV load)
    pv_rating_w = 0.0                 # PV at 1000 W/m2 (the bench's PV simulator)
    irradiance_w_m2 = 0.0             # irradiance at the start
    battery_w = 0.0                   # the battery's own request, + discharge
    firm_import_w = 0.0               # optional: firm (contracted) import and export;
    firm_export_w = 0.0               #   a twin envelope is never sent below them

    [twin]
    load_scale = 0.6                  # every other load, fraction of its nominal kW, at the start
    pv_systems = { s48 = 100000.0 }   # optional: PV behind other loads, W at 1000 W/m2

    [[timeline]]                      # in time order
    t_s = 30.0
    action = "abnormal_import"
    max_import_w = 25000.0

    [score]                           # optional: how the lab's response is judged
    channel = "pcc_p_w"               # the field column compared with the lab's PCC power
    trigger = 1                       # timeline entry whose response is timed (default: the first after t = 0)
    nrmse_max = 0.2                   # pass band: RMSE / field range ...
    response_time_tolerance_s = 10.0  # ... and |lab - field| response time
    response_window_s = 60.0          # the response is looked for this long after the trigger

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
`export_limit_w`, ...); the score channel must be there.

Bad input raises EventError naming the file, the timeline entry and the field.
"""

from __future__ import annotations

import math
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from flexbench.twin.errors import TwinError, suggest

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
_EVENT_KEYS = {"name": True, "description": False, "feeder": True, "bench": False, "field": True}
_SITE_KEYS = {
    "element": True,
    "bus": False,
    "rating_w": True,
    "bench_ratio": True,
    "load_w": True,
    "ev_w": False,
    "pv_rating_w": False,
    "irradiance_w_m2": False,
    "battery_w": False,
    "firm_import_w": False,
    "firm_export_w": False,
}
_TWIN_KEYS = {"load_scale": False, "pv_systems": False}
_SCORE_KEYS = {
    "channel": False,
    "trigger": False,
    "nrmse_max": False,
    "response_time_tolerance_s": False,
    "response_window_s": False,
}


class EventError(TwinError):
    """A field event file or its field measurements that cannot be replayed."""


@dataclass(frozen=True)
class SiteSpec:
    """The field site, and how its powers map to the bench's site."""

    element: str
    bus: str
    rating_w: float
    bench_ratio: float
    load_w: float
    ev_w: float = 0.0
    pv_rating_w: float = 0.0
    irradiance_w_m2: float = 0.0
    battery_w: float = 0.0
    firm_import_w: float = 0.0
    firm_export_w: float = 0.0


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


@dataclass(frozen=True)
class ScoreSpec:
    """How the replay is judged (defaults apply where the file says nothing)."""

    channel: str = "pcc_p_w"
    trigger: int | None = None
    nrmse_max: float = 0.2
    response_time_tolerance_s: float = 10.0
    response_window_s: float = 60.0


@dataclass
class FieldEvent:
    """A parsed, validated field event."""

    path: Path
    name: str
    description: str
    feeder: str
    bench: str | None
    site: SiteSpec
    load_scale: float
    pv_systems: dict[str, float]
    timeline: list[Entry]
    score: ScoreSpec
    field_path: Path
    field: pd.DataFrame = field(repr=False)

    @property
    def duration_s(self) -> float:
        return float(self.field["time_s"].iloc[-1])

    def trigger_entry(self) -> Entry | None:
        """The entry whose response is timed: the score's, else the first after the start."""
        if self.score.trigger is not None:
            return self.timeline[self.score.trigger - 1]
        return next((e for e in self.timeline if e.t_s > 0), None)


# -- reading ----------------------------------------------------------------------------


def read_event(path: str | Path, twin: Any = None, with_field: bool = True) -> FieldEvent:
    """Parse and validate an event file against its feeder (a Twin, loaded when None).

    with_field=False skips the field CSV (used by the script that makes it).
    """
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise EventError(f"{path}: event file not found") from None
    except tomllib.TOMLDecodeError as exc:
        raise EventError(f"{path}: not valid TOML: {exc}") from None
    unknown = set(data) - {"event", "site", "twin", "timeline", "score"}
    if unknown:
        raise EventError(
            f"{path}: unknown table(s) {', '.join(sorted(unknown))} (known: event, site, twin, timeline, score)"
        )
    event = _table(path, data, "event", _EVENT_KEYS)
    site_t = _table(path, data, "site", _SITE_KEYS)
    twin_t = _table(path, data, "twin", _TWIN_KEYS, required=False)
    score_t = _table(path, data, "score", _SCORE_KEYS, required=False)

    if twin is None:
        from flexbench.twin.twin import Twin

        try:
            twin = Twin.load(_text(path, "event", event, "feeder"))
        except TwinError as exc:
            raise EventError(f"{path}: [event] feeder: {exc}") from None
    elements = FeederElements.of(twin)

    site = _site(path, site_t, elements)
    pv_systems = _pv_systems(path, twin_t.get("pv_systems", {}), elements)
    if site.pv_rating_w > 0:
        pv_systems[site.element] = site.pv_rating_w
    load_scale = _number(path, "[twin]", twin_t, "load_scale", 0.6, minimum=0.0)
    timeline = _timeline(path, data.get("timeline", []), elements, site, pv_systems)
    score = _score(path, score_t, len(timeline))
    field_path = (path.parent / _text(path, "event", event, "field")).resolve()
    field_df = read_field(field_path, score.channel) if with_field else pd.DataFrame({"time_s": [0.0]})
    if with_field and timeline and timeline[-1].t_s > float(field_df["time_s"].iloc[-1]):
        last = timeline[-1]
        raise EventError(
            f"{path}: timeline entry {last.number} ({last.action}): t_s = {last.t_s:g} is after the "
            f"end of the field record ({float(field_df['time_s'].iloc[-1]):g} s in {field_path.name})"
        )
    return FieldEvent(
        path=path,
        name=_text(path, "event", event, "name"),
        description=str(event.get("description", "")),
        feeder=_text(path, "event", event, "feeder"),
        bench=_text(path, "event", event, "bench") if "bench" in event else None,
        site=site,
        load_scale=load_scale,
        pv_systems=pv_systems,
        timeline=timeline,
        score=score,
        field_path=field_path,
        field=field_df,
    )


def read_field(path: Path, channel: str = "pcc_p_w") -> pd.DataFrame:
    """The field measurements: time_s increasing, every column named with its unit, all numbers."""
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
    columns = [str(c).strip() for c in df.columns]
    df.columns = columns
    for required in ("time_s", channel):
        if required not in columns:
            raise EventError(
                f"{path}: missing column '{required}'{suggest(required, columns)} (columns: {', '.join(columns)})"
            )
    for col in columns:
        if not col.endswith(UNIT_SUFFIXES):
            raise EventError(
                f"{path}: column '{col}' does not name its unit (end it with one of {', '.join(UNIT_SUFFIXES)})"
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
    def of(cls, twin: Any) -> FeederElements:
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


def _table(path: Path, data: dict, name: str, keys: dict[str, bool], required: bool = True) -> dict[str, Any]:
    if name not in data:
        if required:
            raise EventError(f"{path}: missing table [{name}]")
        return {}
    table = data[name]
    if not isinstance(table, dict):
        raise EventError(f"{path}: [{name}] must be a table")
    unknown = set(table) - set(keys)
    if unknown:
        bad = sorted(unknown)[0]
        raise EventError(f"{path}: [{name}] unknown key '{bad}'{suggest(bad, keys)} (known: {', '.join(keys)})")
    for key, needed in keys.items():
        if needed and key not in table:
            raise EventError(f"{path}: [{name}] missing key '{key}'")
    return table


def _text(path: Path, where: str, table: dict, key: str) -> str:
    value = table[key]
    if not isinstance(value, str) or not value.strip():
        raise EventError(f"{path}: [{where}] {key}: expected a non-empty string, got {value!r}")
    return value.strip()


def _number(
    path: Path,
    where: str,
    table: dict,
    key: str,
    default: float | None = None,
    *,
    minimum: float | None = None,
    positive: bool = False,
) -> float:
    if key not in table:
        if default is None:
            raise EventError(f"{path}: {where}: missing key '{key}'")
        return default
    value = table[key]
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise EventError(f"{path}: {where}: {key}: expected a number, got {value!r}")
    if positive and value <= 0:
        raise EventError(f"{path}: {where}: {key}: must be positive, got {value!r}")
    if minimum is not None and value < minimum:
        raise EventError(f"{path}: {where}: {key}: must be at least {minimum:g}, got {value!r}")
    return float(value)


def _site(path: Path, t: dict, elements: FeederElements) -> SiteSpec:
    where = "[site]"
    element = elements.load(_text(path, "site", t, "element"))
    if element is None:
        raise EventError(
            f"{path}: [site] element: '{t['element']}' is not a load of feeder {elements.feeder}"
            f"{suggest(str(t['element']).lower(), elements.loads)}"
        )
    bus = elements.load_bus[element]
    if "bus" in t and str(t["bus"]).strip().lower() != bus:
        raise EventError(f"{path}: [site] bus: '{t['bus']}' is not where {element} connects (bus {bus})")
    return SiteSpec(
        element=element,
        bus=bus,
        rating_w=_number(path, where, t, "rating_w", positive=True),
        bench_ratio=_number(path, where, t, "bench_ratio", positive=True),
        load_w=_number(path, where, t, "load_w", minimum=0.0),
        ev_w=_number(path, where, t, "ev_w", 0.0, minimum=0.0),
        pv_rating_w=_number(path, where, t, "pv_rating_w", 0.0, minimum=0.0),
        irradiance_w_m2=_irradiance(path, where, t),
        battery_w=_number(path, where, t, "battery_w", 0.0),
        firm_import_w=_number(path, where, t, "firm_import_w", 0.0, minimum=0.0),
        firm_export_w=_number(path, where, t, "firm_export_w", 0.0, minimum=0.0),
    )


def _irradiance(path: Path, where: str, t: dict) -> float:
    value = _number(path, where, t, "irradiance_w_m2", 0.0, minimum=0.0)
    if value > MAX_IRRADIANCE_W_M2:
        raise EventError(f"{path}: {where}: irradiance_w_m2: {value:g} is above {MAX_IRRADIANCE_W_M2:g} W/m2")
    return value


def _pv_systems(path: Path, table: Any, elements: FeederElements) -> dict[str, float]:
    if not isinstance(table, dict):
        raise EventError(f"{path}: [twin] pv_systems: expected a table of load = W at 1000 W/m2")
    out: dict[str, float] = {}
    for name in table:
        load = elements.load(name)
        if load is None:
            raise EventError(
                f"{path}: [twin] pv_systems: '{name}' is not a load of feeder {elements.feeder}"
                f"{suggest(name.lower(), elements.loads)}"
            )
        out[load] = _number(path, "[twin] pv_systems", table, name, positive=True)
    return out


def _timeline(
    path: Path, raw: Any, elements: FeederElements, site: SiteSpec, pv_systems: dict[str, float]
) -> list[Entry]:
    if not isinstance(raw, list):
        raise EventError(f"{path}: timeline must be an array of tables ([[timeline]])")
    entries: list[Entry] = []
    for number, item in enumerate(raw, start=1):
        if not isinstance(item, dict):
            raise EventError(f"{path}: timeline entry {number}: must be a table")
        action = item.get("action")
        where = f"timeline entry {number}"
        if not isinstance(action, str):
            raise EventError(f"{path}: {where}: missing key 'action' (actions: {', '.join(ACTIONS)})")
        if action not in _ACTION_KEYS:
            raise EventError(
                f"{path}: {where}: unknown action '{action}'{suggest(action, ACTIONS)} (actions: {', '.join(ACTIONS)})"
            )
        where = f"timeline entry {number} ({action})"
        t_s = _number(path, where, item, "t_s", minimum=0.0)
        if entries and t_s < entries[-1].t_s:
            raise EventError(
                f"{path}: {where}: t_s = {t_s:g} comes before entry {entries[-1].number}'s "
                f"t_s = {entries[-1].t_s:g} (time going backwards)"
            )
        keys = _ACTION_KEYS[action]
        unknown = set(item) - set(keys) - {"t_s", "action"}
        if unknown:
            bad = sorted(unknown)[0]
            raise EventError(
                f"{path}: {where}: unknown key '{bad}'{suggest(bad, keys)} (keys of {action}: t_s, {', '.join(keys)})"
            )
        for key, needed in keys.items():
            if needed and key not in item:
                raise EventError(f"{path}: {where}: missing key '{key}'")
        values = _entry_values(path, where, action, item, elements, site, pv_systems)
        entries.append(Entry(number, t_s, action, values))
    return entries


def _entry_values(
    path: Path,
    where: str,
    action: str,
    item: dict,
    elements: FeederElements,
    site: SiteSpec,
    pv_systems: dict[str, float],
) -> dict[str, Any]:
    values: dict[str, Any] = {}
    if action == "load":
        name = str(item["element"])
        if name.strip() == "*":
            values["element"] = "*"
        else:
            load = elements.load(name)
            if load is None:
                raise EventError(
                    f"{path}: {where}: element '{name}' is not a load of feeder {elements.feeder}"
                    f"{suggest(name.lower(), elements.loads)}"
                )
            values["element"] = load
        values["scale"] = _number(path, where, item, "scale", minimum=0.0)
    elif action == "switch":
        name = str(item["element"])
        line = elements.line(name)
        if line is None:
            raise EventError(
                f"{path}: {where}: element '{name}' is not a line or switch of feeder "
                f"{elements.feeder}{suggest(name, [f'Line.{n}' for n in sorted(elements.lines)])}"
            )
        state = item["state"]
        if state not in ("open", "closed"):
            raise EventError(f"{path}: {where}: state: expected 'open' or 'closed', got {state!r}")
        values.update(element=f"Line.{line}", state=state)
        if "bus2" in item:
            if state != "closed":
                raise EventError(f"{path}: {where}: bus2 is only for closing a tie, not with state = 'open'")
            bus = str(item["bus2"]).strip().lower()
            if bus.split(".")[0] not in elements.buses:
                raise EventError(
                    f"{path}: {where}: bus2: '{bus}' is not a bus of feeder {elements.feeder}"
                    f"{suggest(bus.split('.')[0], elements.buses)}"
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
            raise EventError(
                f"{path}: {where}: element '{name}' is not a PV system of feeder {elements.feeder} "
                f"nor a load with PV (PV: {', '.join(known) or 'none declared'})"
            )
        values["irradiance_w_m2"] = _irradiance(path, where, item)
    elif action == "site_limits":
        if "import_limit_w" not in item and "export_limit_w" not in item:
            raise EventError(f"{path}: {where}: give import_limit_w, export_limit_w or both")
        for key in ("import_limit_w", "export_limit_w"):
            if key in item:
                values[key] = _number(path, where, item, key, minimum=0.0)
    elif action == "abnormal_import":
        values["max_import_w"] = _number(path, where, item, "max_import_w", minimum=0.0)
    elif action == "cancel":
        target = item.get("target", "all")
        if target not in CANCEL_TARGETS:
            raise EventError(f"{path}: {where}: target: expected one of {', '.join(CANCEL_TARGETS)}, got {target!r}")
        values["target"] = target
    if "duration_s" in item:
        values["duration_s"] = _number(path, where, item, "duration_s", positive=True)
    return values


def _score(path: Path, t: dict, entries: int) -> ScoreSpec:
    where = "[score]"
    channel = t.get("channel", "pcc_p_w")
    if not isinstance(channel, str) or not channel:
        raise EventError(f"{path}: [score] channel: expected a column name, got {channel!r}")
    trigger = t.get("trigger")
    if trigger is not None and (
        isinstance(trigger, bool) or not isinstance(trigger, int) or not 1 <= trigger <= entries
    ):
        raise EventError(f"{path}: [score] trigger: expected a timeline entry number 1..{entries}, got {trigger!r}")
    return ScoreSpec(
        channel=channel,
        trigger=trigger,
        nrmse_max=_number(path, where, t, "nrmse_max", ScoreSpec.nrmse_max, positive=True),
        response_time_tolerance_s=_number(
            path, where, t, "response_time_tolerance_s", ScoreSpec.response_time_tolerance_s, positive=True
        ),
        response_window_s=_number(path, where, t, "response_window_s", ScoreSpec.response_window_s, positive=True),
    )
