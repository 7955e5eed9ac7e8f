"""Schedule plans (testplans/static-schedule): a schedule file in a PCS's configuration, judged by its clock.

The PCS reads its schedule by its own clock, which the plan sets (`set_clock`) so
that a change of hour or month comes within a minute of bench time; checks map
the PCS's clock back to bench time. A PCS that cannot take a schedule, or whose
clock cannot be set when the test needs it, is not applicable, with the reason.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from flexbench.core import SiteLimits, channels
from flexbench.core.schedule_files import write_schedule
from flexbench.core.schedules import Schedule
from flexbench.instruments.roles import SettingNotTaken
from flexbench.lab.envelope_plan import IntervalWindow, follows_schedule
from flexbench.lab.plan import Procedure, RequirementParams, Site, SiteParams, pcc


def schedule_limit_line(side: str) -> dict[str, str]:
    """The limit line of the evidence plot for the side a test looks at."""
    if side == "export":
        return {channels.LIMIT_PCC_MIN_W: "-export limit of the schedule"}
    return {channels.LIMIT_PCC_MAX_W: "import limit of the schedule"}


class Followed(RequirementParams):
    response_time_s: float
    """After a cell (or interval) begins, the site may be above its limit this long."""
    accuracy_w: float
    """The PCC flow may exceed the limit by this much (the PCS's declared accuracy)."""


def clock_time(text: str) -> dt.datetime:
    """A PCS clock time from ISO 8601 text without zone (the calendar the schedule's hours are in)."""
    when = dt.datetime.fromisoformat(text)
    if when.tzinfo is not None:
        raise ValueError(f"a PCS clock time has no zone (the schedule's hours are its clock's), got {text!r}")
    return when.replace(tzinfo=dt.UTC)


@dataclass(frozen=True)
class Segment:
    """A span of the PCS clock with one limit in force on the side a test looks at."""

    label: str
    pcs_start_s: float
    pcs_end_s: float
    limit_w: float


class ScheduledPcs:
    """The PCS with a schedule in its configuration, and its clock: bench time <-> PCS time."""

    def __init__(self, site: Site, recorder: Any, run_dir: Path) -> None:
        self.site = site
        self.pcs = site.pcs
        self.recorder = recorder
        self.run_dir = run_dir
        self.offset_s = 0.0  # PCS clock minus bench time

    def load(self, schedule: Schedule, name: str) -> Path:
        """Write the schedule file into the run folder and configure the PCS with it."""
        path = write_schedule(self.run_dir / name, schedule)
        try:
            self.pcs.load_schedule(path)
        except SettingNotTaken as exc:
            pytest.skip(f"not applicable: {exc}")
        self.recorder.event("pcs_schedule", file=str(path), schedule=type(schedule).__name__)
        return path

    def set_clock(self, pcs_t_s: float, *, required: bool = True) -> None:
        """Set the PCS's clock to `pcs_t_s` now; one that cannot be set is not applicable when `required`,
        else taken to keep bench time."""
        bench_t_s = self.site.clock.now()
        try:
            self.pcs.set_clock(pcs_t_s)
        except SettingNotTaken as exc:
            if required:
                pytest.skip(f"not applicable: {exc}")
            pcs_t_s = bench_t_s
        self.offset_s = pcs_t_s - bench_t_s
        self.recorder.event("pcs_clock", set_to=dt.datetime.fromtimestamp(pcs_t_s, dt.UTC).isoformat())

    def bench_s(self, pcs_t_s: float) -> float:
        return pcs_t_s - self.offset_s


def unrestricted_site(bench: Any, recorder: Any, clock: Any, params: SiteParams, *, phases: int) -> Site:
    """The site energized, the PCS's own settings lifted (a setting left by another plan would mask the schedule)."""
    site = Site(bench, recorder, clock, params, phases=phases)
    site.energize()
    site.program("unrestricted")
    return site


def follow(
    procedure: Procedure,
    requirement_id: str,
    pcs: ScheduledPcs,
    segments: list[Segment],
    requirement: Followed,
    *,
    side: str,
    what: str,
) -> None:
    """Show each segment's limit on the plot as it begins, wait to the end, and judge the PCC flow of `side`.

    `what` names the segments in the criterion ("cell (month x hour of the PCS's clock)", "interval").
    """
    for segment in segments:
        procedure.wait_until(pcs.bench_s(segment.pcs_start_s))
        procedure.step(f"{segment.label}: {side} limit {segment.limit_w:.0f} W on the PCS's clock")
        pcs.site.show_limit(SiteLimits(**{f"{side}_limit_w": segment.limit_w}))
    procedure.wait_until(pcs.bench_s(segments[-1].pcs_end_s))
    windows = [
        IntervalWindow(
            start_s=pcs.bench_s(s.pcs_start_s) + requirement.response_time_s,
            end_s=pcs.bench_s(s.pcs_end_s),
            limit_w=s.limit_w + requirement.accuracy_w,
            label=s.label,
        )
        for s in segments
    ]
    t, y = procedure.series(pcc(side))
    result = follows_schedule(requirement_id, t, y, windows, side=side)
    result.criterion = (
        f"PCC {side} at or below the {side} limit of each {what} + {requirement.accuracy_w:g} W accuracy, "
        f"from {requirement.response_time_s:g} s after it begins to its end ({len(windows)} in all)"
    )
    procedure.record(result)
