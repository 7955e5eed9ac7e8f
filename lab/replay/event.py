"""The lab's part of a field event file: how the field site maps to the bench, and how a replay is scored.

The twin reads the feeder's timeline from the same file (flexbench.twin.events);
these keys are the lab's, read here with the same one-line errors (file, line,
key), all before a bench opens:

    [event]
    bench = "lab/benches/virtual-pcs.toml"   # the bench file the event expects (--bench overrides)

    [site]
    rating_w = 150000.0               # the field site's connection rating: limits sent are capped at it
    bench_ratio = 0.08                # bench W per field W (load, EV, PV, battery, limits)
    firm_import_w = 0.0               # optional: firm (contracted) import and export;
    firm_export_w = 0.0               #   a twin envelope is never sent below them

    [score]                           # optional: how the lab's response is judged
    channel = "pcc_p_w"               # the field column compared with the lab's PCC power
    trigger = 1                       # timeline entry whose response is timed (default: the first after t = 0)
    nrmse_max = 0.2                   # pass band: RMSE / field range ...
    response_time_tolerance_s = 10.0  # ... and |lab - field| response time
    response_window_s = 60.0          # the response is looked for this long after the trigger
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field, NonNegativeFloat, PositiveFloat, PositiveInt, ValidationError

from flexbench.core import SiteLimits
from flexbench.twin.errors import suggest
from flexbench.twin.events import Entry, EventError, EventFile, FieldEvent, Others, read_event


class _Table(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, allow_inf_nan=False)


class BenchMapping(_Table):
    """How the field site's powers map to the bench's site (field W, import positive)."""

    rating_w: PositiveFloat
    bench_ratio: PositiveFloat
    firm_import_w: NonNegativeFloat = 0.0
    firm_export_w: NonNegativeFloat = 0.0

    def to_bench(self, field_w: float) -> float:
        return field_w * self.bench_ratio

    def envelope(self, import_limit_w: float, export_limit_w: float) -> SiteLimits:
        """The site's limits from the twin's envelope (field W): at least firm, at most the rating."""
        return SiteLimits(
            import_limit_w=min(max(import_limit_w, self.firm_import_w), self.rating_w),
            export_limit_w=min(max(export_limit_w, self.firm_export_w), self.rating_w),
        )


class ScoreSettings(_Table):
    """How the replay is judged (defaults apply where the file says nothing)."""

    channel: str = Field(default="pcc_p_w", min_length=1)
    trigger: PositiveInt | None = None
    nrmse_max: PositiveFloat = 0.2
    response_time_tolerance_s: PositiveFloat = 10.0
    response_window_s: PositiveFloat = 60.0


M = TypeVar("M", bound=_Table)

# what the twin's reader leaves to this one
REPLAY_KEYS: Others = {"event": ("bench",), "site": tuple(BenchMapping.model_fields), "score": None}


@dataclass(frozen=True)
class ReplayEvent:
    """A field event as the lab replays it: the twin's event, its mapping to the bench, its score."""

    event: FieldEvent
    mapping: BenchMapping
    score: ScoreSettings
    bench: str | None  # the bench file the event expects

    def trigger_entry(self) -> Entry | None:
        """The entry whose response is timed: the score's, else the first after the start."""
        if self.score.trigger is not None:
            return self.event.timeline[self.score.trigger - 1]
        return next((e for e in self.event.timeline if e.t_s > 0), None)


def read_replay_event(path: str | Path, twin: Any = None, *, with_field: bool = True) -> ReplayEvent:
    """Read an event file for a replay: the twin's part checked against the feeder, then the lab's."""
    f = EventFile.load(path)
    event = read_event(f, twin, with_field=with_field, others=REPLAY_KEYS)
    site = f.data["site"]
    mapping = _model(f, "site", BenchMapping, {k: v for k, v in site.items() if k in BenchMapping.model_fields})
    score_table = f.data.get("score", {})
    if not isinstance(score_table, dict):
        raise f.error("[score] must be a table", "score")
    score = _model(f, "score", ScoreSettings, score_table)
    entries = len(event.timeline)
    if score.trigger is not None and score.trigger > entries:
        raise f.error(
            f"[score] trigger: expected a timeline entry number 1..{entries}, got {score.trigger}", "score", "trigger"
        )
    columns = [str(c) for c in event.field.columns]
    if with_field and score.channel not in columns:
        raise f.error(
            f"[score] channel: missing column '{score.channel}'{suggest(score.channel, columns)} in "
            f"{event.field_path} (columns: {', '.join(columns)})",
            "score",
            "channel",
        )
    bench = f.data["event"].get("bench")
    if bench is not None and (not isinstance(bench, str) or not bench.strip()):
        raise f.error(f"[event] bench: expected a bench file name, got {bench!r}", "event", "bench")
    return ReplayEvent(event, mapping, score, bench.strip() if bench else None)


def _model(f: EventFile, table: str, model: type[M], values: dict[str, Any]) -> M:
    """The table as a model; its first mistake an EventError naming file, line and key."""
    try:
        return model.model_validate(values)
    except ValidationError as exc:
        error = exc.errors()[0]
        key = str(error["loc"][0]) if error["loc"] else None
        known = list(model.model_fields)
        if error["type"] == "missing":
            raise f.error(f"[{table}] missing key '{key}'", table) from None
        if error["type"] == "extra_forbidden" and key is not None:
            raise f.error(
                f"[{table}] unknown key '{key}'{suggest(key, known)} (known: {', '.join(known)})", table, key
            ) from None
        reason = error["msg"][0].lower() + error["msg"][1:]
        raise f.error(f"[{table}] {key}: {reason}, got {error['input']!r}", table, key) from None


__all__ = ["REPLAY_KEYS", "BenchMapping", "EventError", "ReplayEvent", "ScoreSettings", "read_replay_event"]
