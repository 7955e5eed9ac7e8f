"""Schedules a PCS holds in its own configuration and follows with no communication.

- ``StaticSchedule``: import and export limits for each month (1-12) and hour (0-23),
  as a utility's Load Limit Letter (import) or Limited Generation Profile (export)
  states them: the same every year, it never runs out. A cell without a limit
  (None) leaves that side to the firm limits.
- a variable schedule is a core ``Envelope``: timestamped intervals, and the firm
  limits outside them. When it runs out (after its last interval, or before its
  first) the PCS holds the firm limits, as a site does on loss of communication;
  with no firm limits in the file, only its own settings.

Both answer ``at(t_s)``: the limits in force at a time of the PCS's own clock. Month
and hour are read from that time as a calendar without time zone (UTC): a PCS whose
clock is set to the utility's local time reads the letter's hours as the letter means them.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field

from flexbench.core.limits import Envelope, IntervalError, SiteLimits

MONTHS = range(1, 13)
HOURS = range(24)
CELLS = len(MONTHS) * len(HOURS)
MONTH_NAMES = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def month_hour(t_s: float) -> tuple[int, int]:
    """(month 1-12, hour 0-23) of a clock time, read as a calendar without time zone."""
    when = dt.datetime.fromtimestamp(t_s, dt.UTC)
    return when.month, when.hour


def cell_name(month: int, hour: int) -> str:
    """'Jan 23h': how a report names a cell."""
    return f"{MONTH_NAMES[month - 1]} {hour:02d}h"


@dataclass(frozen=True, kw_only=True)
class StaticSchedule:
    """Limits by month and hour of the PCS's clock; `cells` month-major: index (month - 1) * 24 + hour."""

    site_id: str = ""
    cells: tuple[SiteLimits, ...]
    firm: SiteLimits = field(default_factory=SiteLimits)

    def __post_init__(self) -> None:
        if len(self.cells) != CELLS:
            raise IntervalError(f"a static schedule has {CELLS} cells (12 months x 24 hours), got {len(self.cells)}")

    @classmethod
    def of(
        cls, table: Mapping[tuple[int, int], SiteLimits], *, firm: SiteLimits | None = None, site_id: str = ""
    ) -> StaticSchedule:
        """A schedule from {(month, hour): limits} holding every month x hour; a missing cell is named."""
        missing = [cell_name(m, h) for m in MONTHS for h in HOURS if (m, h) not in table]
        if missing:
            more = f" and {len(missing) - 5} more" if len(missing) > 5 else ""
            raise IntervalError(f"a static schedule gives every month x hour; missing {', '.join(missing[:5])}{more}")
        cells = tuple(table[(m, h)] for m in MONTHS for h in HOURS)
        return cls(site_id=site_id, cells=cells, firm=firm or SiteLimits())

    def cell(self, month: int, hour: int) -> SiteLimits:
        """The cell's own limits (None sides not filled from the firm limits)."""
        if month not in MONTHS or hour not in HOURS:
            raise IntervalError(f"no cell month {month}, hour {hour} (months 1-12, hours 0-23)")
        return self.cells[(month - 1) * len(HOURS) + hour]

    def at(self, t_s: float) -> SiteLimits:
        """The limits in force at a time of the PCS's clock: its cell's, each unset side from the firm limits."""
        return self.cell(*month_hour(t_s)).or_else(self.firm)


Schedule = StaticSchedule | Envelope
"""What a PCS can hold: a static (month x hour) schedule, or a variable one (an Envelope)."""


def schedule_limits_w(schedule: Schedule) -> list[float | None]:
    """Every limit a schedule states (cells or intervals, and the firm limits), for a range check."""
    held = schedule.cells if isinstance(schedule, StaticSchedule) else [i.limits for i in schedule.intervals]
    return [w for limits in (*held, schedule.firm) for w in (limits.import_limit_w, limits.export_limit_w)]
