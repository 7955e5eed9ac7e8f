"""Schedules held with no communication: what every file of this plan shares.

A utility can give a site its limits once, as a file: a static schedule (a limit
per month x hour, as a Load Limit Letter or a Limited Generation Profile states
it) or a variable one (timed intervals). The file goes into the PCS's own
configuration (`PowerControlSystem.load_schedule`); the bench's utility links
are down for the whole test (its 2030.5 server unreachable, its OPC-UA
heartbeat stopped), so only the PCS's configuration can hold the site to the
schedule. The PCS reads the schedule by its own clock; the plan sets that clock
(`set_clock`) shortly before the change it tests, so an hour change and a month
change happen within a minute of bench time. A PCS that cannot take a schedule,
or whose clock cannot be set, is not applicable, with the reason.

Each schedule file the plan loads is kept in the run folder.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import pytest
from pydantic import field_validator

from flexbench.instruments.roles import SettingNotTaken
from flexbench.lab.plan import Csip, Opcua, Plan, Site, SiteParams
from flexbench.lab.schedule_plan import Followed, ScheduledPcs, clock_time, unrestricted_site


class SchedulePlan(SiteParams):
    """[plans.static_schedule]"""

    phases: int
    """The AC loads are per-phase units programmed alike."""
    export_pv_dc_w: float
    """PV available (DC) in an export test: uncontrolled, the site exports far above every limit."""
    export_load_w: float
    import_load_w: float
    """Load and EV demand in an import test: uncontrolled, the site imports far above every limit."""
    import_ev_w: float
    lead_s: float
    """The PCS clock is set this long before the change a test looks at."""
    hold_s: float
    """Observed after the change."""
    other_cells_import_w: float
    other_cells_export_w: float
    """Every cell of the letter but the ones a test looks at: looser than those, so a PCS on the wrong cell shows."""
    firm_import_w: float
    firm_export_w: float
    """The letter's firm limits (what a cell without a limit leaves to)."""
    hour_change: str
    """A PCS clock time (no zone) on the hour, within a month: the letter's import cells before and after it."""
    hour_before_import_w: float
    hour_after_import_w: float
    month_change: str
    """00:00 on the first of a month: the export cells of the last hour of the month before, and the first of this."""
    month_before_export_w: float
    month_after_export_w: float
    interval_s: float
    """Length of each interval of the variable schedule."""
    variable_export_w: list[float]
    """Export limit of each interval of the variable schedule, in order."""
    variable_firm_export_w: float
    """The variable schedule's firm export limit: what it leaves once it runs out."""

    @field_validator("hour_change", "month_change")
    @classmethod
    def _on_the_hour(cls, value: str, info: Any) -> str:
        when = clock_time(value)
        if (when.minute, when.second, when.microsecond) != (0, 0, 0):
            raise ValueError(f"expected a time on the hour, got {value!r}")
        if info.field_name == "month_change" and (when.day, when.hour) != (1, 0):
            raise ValueError(f"expected 00:00 on the first of a month, got {value!r}")
        if info.field_name == "hour_change" and (when.day, when.hour) == (1, 0):
            raise ValueError(
                f"expected an hour change within a month (the month change is month_change), got {value!r}"
            )
        return value


PLAN = Plan(
    "static_schedule",
    SchedulePlan,
    profile="static-schedule",
    requirements={"SCHED-FOLLOW": Followed, "SCHED-END": Followed},
)


@pytest.fixture(scope="module")
def site(bench, recorder, clock, parameters) -> Site:
    """The PCS site at nominal grid, its own settings out of the way: only the schedule limits the export."""
    return unrestricted_site(bench, recorder, clock, parameters.plan, phases=parameters.plan.phases)


@pytest.fixture
def scheduled(site, recorder, flexbench_run) -> Iterator[ScheduledPcs]:
    """The PCS for one test; its schedule cleared and its clock back on bench time afterwards."""
    pcs = ScheduledPcs(site, recorder, flexbench_run.run_dir)
    yield pcs
    site.pcs.clear_schedule()
    with contextlib.suppress(SettingNotTaken):
        site.pcs.set_clock(site.clock.now())


@pytest.fixture
def no_communication(bench, recorder, site) -> Iterator[None]:
    """The bench's utility links down for the test: its 2030.5 server unreachable, its OPC-UA heartbeat stopped."""
    with contextlib.ExitStack() as stack:
        if bench.csip is not None:
            stack.enter_context(Csip(bench.csip, recorder).outage())
        if bench.opcua is not None and bench.opcua.config.sites:
            stack.enter_context(Opcua(bench.opcua, recorder).heartbeat_paused())
        yield
