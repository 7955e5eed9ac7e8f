"""The virtual PCS's control law with a schedule in its configuration, read by its own clock."""

from __future__ import annotations

import datetime as dt

import pytest

from flexbench.core import Envelope, Interval, SiteLimits
from flexbench.core.schedules import StaticSchedule
from flexbench.lab.virtual.pcs_site import PCS_FAULTS, PCSController, PCSSiteParameters


def epoch(*args: int) -> float:
    return dt.datetime(*args, tzinfo=dt.UTC).timestamp()


def controller(fault: str = "healthy") -> PCSController:
    return PCSController(PCSSiteParameters(), PCS_FAULTS[fault])


LETTER = StaticSchedule.of(
    {(m, h): SiteLimits(export_limit_w=100.0 * m + h) for m in range(1, 13) for h in range(24)},
    firm=SiteLimits(import_limit_w=7000.0),
)
VARIABLE = Envelope(
    intervals=(Interval(start_s=1000.0, duration_s=60.0, limits=SiteLimits(export_limit_w=2500.0)),),
    firm=SiteLimits(export_limit_w=1200.0),
)


def test_the_cell_of_the_pcss_own_clock_not_the_benchs() -> None:
    pcs = controller()
    pcs.schedule = LETTER
    bench_s = epoch(2026, 12, 3, 19, 0)
    pcs.clock_offset_s = epoch(2027, 1, 31, 23, 59, 30) - bench_s
    assert pcs.schedule_limits(bench_s) == (7000.0, 123.0)  # Jan 23h; a side the cell leaves open: firm
    assert pcs.schedule_limits(bench_s + 31) == (7000.0, 200.0)  # Feb 00h


@pytest.mark.parametrize(
    "fault, after_end",
    [("healthy", (None, 1200.0)), ("holds-last-interval", (None, 2500.0)), ("ignores-schedule", (None, None))],
)
def test_a_variable_schedule_that_ran_out_gives_the_firm_limits(fault, after_end) -> None:
    pcs = controller(fault)
    pcs.schedule = VARIABLE
    inside = (None, None) if fault == "ignores-schedule" else (None, 2500.0)
    assert pcs.schedule_limits(1030.0) == inside
    assert pcs.schedule_limits(1060.0) == after_end
    assert controller(fault).schedule_limits(1030.0) == (None, None)  # no schedule: nothing from it
