"""Site limits, the intervals they hold for, and a site's envelope (a schedule of intervals).

Watts at the PCC, import-positive; limits are magnitudes (see flexbench.core).
A limit of None means "not limited by this signal": the element is left out of
a 2030.5 control, and the site's firm (default) limit applies.
"""

from __future__ import annotations

import bisect
import datetime as dt
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import SupportsFloat

UTC = dt.UTC


class IntervalError(ValueError):
    """An interval, limit or envelope that cannot be: the message names the field."""


def _limit(value: object, name: str) -> float | None:
    if value is None or value == "":
        return None
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise IntervalError(f"{name} must be a number of watts, got {value!r}") from None
    if math.isnan(number):
        return None
    if not math.isfinite(number) or number < 0:
        raise IntervalError(f"{name} must be a finite, non-negative number of watts, got {value!r}")
    return number


@dataclass(frozen=True, kw_only=True)
class SiteLimits:
    """The most a site may import and export at its PCC, in W (>= 0; None: not limited here)."""

    import_limit_w: float | None = None
    export_limit_w: float | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "import_limit_w", _limit(self.import_limit_w, "import_limit_w"))
        object.__setattr__(self, "export_limit_w", _limit(self.export_limit_w, "export_limit_w"))

    def limit_w(self, side: str) -> float | None:
        """The limit of one side: 'import' or 'export'."""
        if side == "import":
            return self.import_limit_w
        if side == "export":
            return self.export_limit_w
        raise IntervalError(f"side must be 'import' or 'export', got {side!r}")

    def or_else(self, fallback: SiteLimits) -> SiteLimits:
        """These limits, each side that is None taken from the fallback (the firm limits)."""
        return SiteLimits(
            import_limit_w=self.import_limit_w if self.import_limit_w is not None else fallback.import_limit_w,
            export_limit_w=self.export_limit_w if self.export_limit_w is not None else fallback.export_limit_w,
        )

    def scaled(self, import_factor: float = 1.0, export_factor: float = 1.0) -> SiteLimits:
        """Each side multiplied by its factor (a feeder customer's limits mapped to a bench site)."""
        return SiteLimits(
            import_limit_w=None if self.import_limit_w is None else self.import_limit_w * import_factor,
            export_limit_w=None if self.export_limit_w is None else self.export_limit_w * export_factor,
        )

    def allows(self, pcc_p_w: float, tolerance_w: float = 0.0) -> bool:
        """True when an import-positive PCC power is within both limits (plus a tolerance)."""
        if self.import_limit_w is not None and pcc_p_w > self.import_limit_w + tolerance_w:
            return False
        return not (self.export_limit_w is not None and -pcc_p_w > self.export_limit_w + tolerance_w)

    def as_dict(self) -> dict[str, float]:
        """The sides that are set, by name (the keys operator APIs and files use)."""
        out: dict[str, float] = {}
        if self.import_limit_w is not None:
            out["import_limit_w"] = self.import_limit_w
        if self.export_limit_w is not None:
            out["export_limit_w"] = self.export_limit_w
        return out


def to_epoch_s(value: object) -> float:
    """Epoch seconds from a number (or its text), an ISO 8601 string or a datetime (naive means UTC)."""
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value.timestamp()
    if isinstance(value, bool):
        raise IntervalError(f"start {value!r} is not a time")
    if isinstance(value, (int, float)):
        return float(value)
    to_pydatetime = getattr(value, "to_pydatetime", None)  # a pandas Timestamp, without importing pandas
    if callable(to_pydatetime):
        return to_epoch_s(to_pydatetime())
    if isinstance(value, str):
        text = value.strip()
        try:
            return float(text)
        except ValueError:
            pass
        try:
            return to_epoch_s(dt.datetime.fromisoformat(text.replace("Z", "+00:00")))
        except ValueError:
            raise IntervalError(f"start {value!r} is neither epoch seconds nor an ISO 8601 time") from None
    if isinstance(value, SupportsFloat):
        return float(value)
    raise IntervalError(f"start {value!r} is neither epoch seconds nor a time")


@dataclass(frozen=True, kw_only=True)
class Interval:
    """Site limits in force from start_s (epoch seconds, inclusive) for duration_s (end exclusive)."""

    start_s: float
    duration_s: float
    limits: SiteLimits = field(default_factory=SiteLimits)

    def __post_init__(self) -> None:
        if not math.isfinite(self.start_s):
            raise IntervalError(f"start_s must be finite, got {self.start_s!r}")
        if not math.isfinite(self.duration_s) or self.duration_s <= 0:
            raise IntervalError(f"duration_s must be positive, got {self.duration_s!r}")

    @property
    def end_s(self) -> float:
        return self.start_s + self.duration_s

    @property
    def import_limit_w(self) -> float | None:
        return self.limits.import_limit_w

    @property
    def export_limit_w(self) -> float | None:
        return self.limits.export_limit_w

    @property
    def start(self) -> dt.datetime:
        return dt.datetime.fromtimestamp(self.start_s, UTC)

    def contains(self, t_s: float) -> bool:
        return self.start_s <= t_s < self.end_s

    @classmethod
    def parse(cls, item: object) -> Interval:
        """An interval from a mapping or an object with start (or start_s), duration_s and the two limits.

        Files and operator APIs use these names: a CSV row, a JSON record, a
        (start, duration_s, import_limit_w, export_limit_w) sequence.
        """
        if isinstance(item, Interval):
            return item

        def get(key: str) -> object:
            if isinstance(item, Mapping):
                return item.get(key)
            return getattr(item, key, None)

        if isinstance(item, Sequence) and not isinstance(item, (str, bytes)):
            if len(item) != 4:
                raise IntervalError(f"an interval is (start, duration_s, import_limit_w, export_limit_w), got {item!r}")
            start, duration, imp, exp = item
        else:
            start = get("start")
            if start is None or start == "":
                start = get("start_s")
            duration, imp, exp = get("duration_s"), get("import_limit_w"), get("export_limit_w")
        missing = [name for name, v in (("start", start), ("duration_s", duration)) if v is None or v == ""]
        if missing:
            raise IntervalError(f"missing {', '.join(missing)}")
        try:
            duration_s = float(duration)
        except (TypeError, ValueError):
            raise IntervalError(f"duration_s must be a number of seconds, got {duration!r}") from None
        return cls(
            start_s=to_epoch_s(start),
            duration_s=duration_s,
            limits=SiteLimits(
                import_limit_w=_limit(imp, "import_limit_w"), export_limit_w=_limit(exp, "export_limit_w")
            ),
        )


def sorted_intervals(items: Iterable[object]) -> tuple[Interval, ...]:
    """Intervals sorted by start; overlapping ones are refused, naming the two."""
    out = sorted((Interval.parse(i) for i in items), key=lambda i: i.start_s)
    for n, (a, b) in enumerate(zip(out, out[1:])):
        if b.start_s < a.end_s - 1e-6:
            raise IntervalError(
                f"intervals {n} and {n + 1} overlap: one starts at {b.start_s:g} before the previous ends at {a.end_s:g}"
            )
    return tuple(out)


@dataclass(frozen=True, kw_only=True)
class Envelope:
    """One site's operating envelope: a schedule of intervals, and the firm limits outside them.

    The firm limits are the fallback (2030.5 DefaultDERControl, OPC-UA firm
    limits) when no interval is in force or communication is lost.
    """

    site_id: str = ""
    intervals: tuple[Interval, ...] = ()
    firm: SiteLimits = field(default_factory=SiteLimits)

    def __post_init__(self) -> None:
        object.__setattr__(self, "intervals", sorted_intervals(self.intervals))

    @classmethod
    def of(cls, items: Iterable[object], *, site_id: str = "", firm: SiteLimits | None = None) -> Envelope:
        """An envelope from intervals or anything Interval.parse reads."""
        return cls(site_id=site_id, intervals=tuple(Interval.parse(i) for i in items), firm=firm or SiteLimits())

    def __len__(self) -> int:
        return len(self.intervals)

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter(self.intervals)

    def __getitem__(self, index: int) -> Interval:
        return self.intervals[index]

    @property
    def start_s(self) -> float | None:
        return self.intervals[0].start_s if self.intervals else None

    @property
    def end_s(self) -> float | None:
        return self.intervals[-1].end_s if self.intervals else None

    def index_at(self, t_s: float) -> int | None:
        """Index of the interval in force at t_s, or None."""
        starts = [i.start_s for i in self.intervals]
        k = bisect.bisect_right(starts, t_s) - 1
        if k >= 0 and self.intervals[k].contains(t_s):
            return k
        return None

    def at(self, t_s: float) -> SiteLimits:
        """The limits in force at t_s: the interval's, each unset side from the firm limits."""
        k = self.index_at(t_s)
        if k is None:
            return self.firm
        return self.intervals[k].limits.or_else(self.firm)

    def shifted(self, offset_s: float) -> Envelope:
        """The same schedule moved in time by offset_s."""
        return Envelope(
            site_id=self.site_id,
            intervals=tuple(
                Interval(start_s=i.start_s + offset_s, duration_s=i.duration_s, limits=i.limits) for i in self.intervals
            ),
            firm=self.firm,
        )


def to_envelope(value: Envelope | Iterable[Interval]) -> Envelope:
    """An Envelope, or Interval objects made one (sorted, overlaps refused); rows of other kinds are refused.

    What publishers take: read rows (files, CLI, JSON) with Envelope.of or Interval.parse first.
    """
    if isinstance(value, Envelope):
        return value
    items = tuple(value)
    for n, item in enumerate(items):
        if not isinstance(item, Interval):
            raise TypeError(
                f"interval {n} is a {type(item).__name__}, not a flexbench.core.Interval: read rows with Envelope.of"
            )
    return Envelope(intervals=items)
