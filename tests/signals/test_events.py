"""The client's event rules, without a network: responses, supersede, cancel, primacy, defaults."""

from __future__ import annotations

import random

from flexbench.core import SiteLimits
from flexbench.signals.csip.controls import ControlValues
from flexbench.signals.csip.events import (
    CANCELLED,
    COMPLETED,
    INVALID,
    LATE,
    RECEIVED,
    STARTED,
    SUPERSEDED,
    EventInfo,
    EventScheduler,
    ProgramSnapshot,
)

ENVELOPE = "/edev/1/derp/2"
ABNORMAL = "/edev/1/derp/1"


def event(
    mrid: str,
    start_s: int,
    duration_s: int,
    program: str = ENVELOPE,
    primacy: int = 2,
    creation_s: int = 0,
    status: int = 0,
    **values: float,
) -> EventInfo:
    return EventInfo(
        mrid=mrid,
        program=program,
        primacy=primacy,
        creation_s=creation_s,
        start_s=start_s,
        duration_s=duration_s,
        status=status,
        values=ControlValues.from_dict(values),
        reply_to="/rsps/1/rsp",
        response_required=3,
    )


def snapshot(
    *events: EventInfo, default: ControlValues | None = None, program: str = ENVELOPE, primacy: int = 2
) -> ProgramSnapshot:
    return ProgramSnapshot(program, primacy, tuple(events), default)


def statuses(scheduler: EventScheduler) -> list[tuple[str, int]]:
    return [(r.subject, r.status) for r in scheduler.take_responses()]


def test_lifecycle_received_started_completed_then_default() -> None:
    s = EventScheduler()
    firm = ControlValues(limits=SiteLimits(import_limit_w=1000, export_limit_w=2000))
    s.update([snapshot(event("A", 100, 50, export_limit_w=500), default=firm)], now_s=90)
    assert statuses(s) == [("A", RECEIVED)]
    assert s.step(95).values == firm
    assert s.next_transition_s(95) == 100
    active = s.step(100)
    assert active.values.export_limit_w == 500 and active.values.import_limit_w == 1000
    assert active.source == "mixed" and active.event_mrids == ("A",)
    assert statuses(s) == [("A", STARTED)]
    assert s.step(150).values == firm
    assert statuses(s) == [("A", COMPLETED)]


def test_server_superseded_event_stops_with_response_7() -> None:
    s = EventScheduler()
    s.update([snapshot(event("A", 0, 100, export_limit_w=500))], now_s=10)
    s.step(10)
    s.take_responses()
    s.update(
        [
            snapshot(
                event("A", 0, 100, status=4, export_limit_w=500), event("B", 20, 100, creation_s=15, export_limit_w=300)
            )
        ],
        now_s=15,
    )
    s.step(15)
    assert ("A", SUPERSEDED) in statuses(s)


def test_newer_overlapping_event_in_same_program_supersedes_at_its_start() -> None:
    s = EventScheduler()
    old = event("OLD", 0, 100, creation_s=0, export_limit_w=500)
    new = event("NEW", 50, 100, creation_s=10, export_limit_w=300)
    s.update([snapshot(old, new)], now_s=10)
    assert s.step(40).values.export_limit_w == 500
    active = s.step(50)
    assert active.values.export_limit_w == 300
    assert ("OLD", SUPERSEDED) in statuses(s)


def test_different_elements_do_not_supersede() -> None:
    s = EventScheduler()
    s.update(
        [
            snapshot(
                event("EXP", 0, 100, creation_s=0, export_limit_w=500),
                event("IMP", 10, 100, creation_s=5, import_limit_w=700),
            )
        ],
        now_s=20,
    )
    active = s.step(20)
    assert active.values.export_limit_w == 500 and active.values.import_limit_w == 700


def test_lower_primacy_number_wins_per_element_across_programs() -> None:
    s = EventScheduler()
    envelope = snapshot(event("ENV", 0, 1000, import_limit_w=8000, export_limit_w=5000))
    abnormal = snapshot(
        event("ABN", 100, 60, program=ABNORMAL, primacy=1, import_limit_w=2000), program=ABNORMAL, primacy=1
    )
    s.update([envelope, abnormal], now_s=0)
    assert s.step(50).values.import_limit_w == 8000
    active = s.step(120)
    assert active.values.import_limit_w == 2000 and active.values.export_limit_w == 5000
    assert s.step(200).values.import_limit_w == 8000


def test_cancelled_event_reports_6_and_falls_back() -> None:
    s = EventScheduler()
    firm = ControlValues(limits=SiteLimits(export_limit_w=2000))
    s.update([snapshot(event("A", 0, 100, export_limit_w=500), default=firm)], now_s=10)
    s.step(10)
    s.take_responses()
    s.update([snapshot(event("A", 0, 100, status=2, export_limit_w=500), default=firm)], now_s=20)
    assert s.step(20).values == firm
    assert statuses(s) == [("A", CANCELLED)]


def test_event_removed_from_server_is_treated_as_cancelled() -> None:
    s = EventScheduler()
    s.update([snapshot(event("A", 0, 100, export_limit_w=500))], now_s=10)
    s.step(10)
    s.take_responses()
    s.update([snapshot()], now_s=20)
    s.step(20)
    assert statuses(s) == [("A", CANCELLED)]


def test_late_and_invalid_events() -> None:
    s = EventScheduler()
    s.update([snapshot(event("OLD", 0, 10, export_limit_w=500), event("BAD", 100, 10))], now_s=50)
    assert sorted(statuses(s)) == [("BAD", INVALID), ("OLD", LATE)]
    assert s.step(105).source == "none"


def test_randomized_start_is_within_bounds_and_kept() -> None:
    s = EventScheduler(random.Random(4))
    info = EventInfo(
        "R", ENVELOPE, 2, 0, 100, 60, 0, ControlValues(limits=SiteLimits(export_limit_w=1)), 30, 0, "/r", 3
    )
    s.update([snapshot(info)], now_s=0)
    start = s.events["R"].effective_start_s
    assert 100 <= start <= 130
    s.update([snapshot(info)], now_s=1)
    assert s.events["R"].effective_start_s == start


def test_cached_schedule_keeps_running_and_default_only_on_request() -> None:
    s = EventScheduler()
    firm = ControlValues(limits=SiteLimits(export_limit_w=2000))
    s.update([snapshot(event("A", 0, 100, export_limit_w=500), default=firm)], now_s=0)
    assert s.step(50).values.export_limit_w == 500  # no update since: still the cached schedule
    assert s.default_only().values == firm


def test_no_responses_when_not_required() -> None:
    s = EventScheduler()
    info = EventInfo("Q", ENVELOPE, 2, 0, 0, 10, 0, ControlValues(limits=SiteLimits(export_limit_w=1)), 0, 0, "/r", 0)
    s.update([snapshot(info)], now_s=0)
    s.step(5)
    s.step(20)
    assert s.take_responses() == []


def test_event_leaving_the_list_after_its_end_completes() -> None:
    s = EventScheduler()
    s.update([snapshot(event("A", 0, 100, export_limit_w=500))], now_s=10)
    s.step(10)
    s.take_responses()
    s.update([snapshot()], now_s=101)
    s.step(101)
    assert statuses(s) == [("A", COMPLETED)]
