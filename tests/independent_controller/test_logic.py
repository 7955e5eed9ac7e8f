"""The independent controller's own logic: the 2030.5 event rules, its Responses, its control law, its config."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest

from .config import ConfigError, load
from .dispatch import SiteNow, dispatch
from .events import (
    COMPLETED,
    RECEIVED,
    STARTED,
    SUPERSEDED,
    Control,
    Default,
    Limits,
    ResponseBook,
    in_force,
    limits_now,
    superseded,
)

HERE = Path(__file__).resolve().parent


def control(
    mrid: str,
    start_s: int,
    duration_s: int,
    export_w: float,
    *,
    created_s: int = 0,
    program: str = "env",
    primacy: int = 2,
    status: int = 0,
    import_w: float | None = None,
) -> Control:
    return Control(
        mrid,
        program,
        primacy,
        created_s,
        start_s,
        duration_s,
        status,
        Limits(export_w, import_w),
        reply_to="/rsps/1/rsp",
        response_required=0x03,
    )


def test_no_module_of_the_controller_imports_flexbench():
    for path in (p for p in HERE.glob("*.py") if not p.name.startswith("test_")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            names += [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            assert not any(n.split(".")[0] == "flexbench" for n in names), f"{path.name} imports {names}"


def test_the_newer_control_supersedes_the_older_and_the_faulty_variant_keeps_the_older():
    a = control("A", 100, 100, 4000.0, created_s=90)
    b = control("B", 130, 70, 2000.0, created_s=129)
    assert in_force([a, b], 120) == [a]
    assert in_force([a, b], 140) == [b]
    assert superseded([a, b], 140, [b]) == [a]
    assert in_force([a, b], 140, keep_superseded=True) == [a]
    assert in_force([a, b], 200) == []


def test_primacy_wins_element_by_element_then_default_then_firm():
    envelope = control("E", 0, 100, 3000.0, primacy=2)
    abnormal = control("X", 0, 100, 1000.0, program="abn", primacy=1)
    imports = control("I", 0, 100, None, program="imp", primacy=0, import_w=2500.0)  # type: ignore[arg-type]
    assert limits_now(in_force([envelope, abnormal], 50), [], Limits()) == Limits(export_w=1000.0)
    assert limits_now(in_force([envelope, imports], 50), [], Limits()) == Limits(export_w=3000.0, import_w=2500.0)
    defaults = [Default("env", 2, Limits(export_w=4000.0))]
    assert limits_now(in_force([envelope], 150), defaults, Limits(import_w=9000.0)) == Limits(4000.0, 9000.0)
    assert limits_now([], [], Limits(export_w=5000.0)) == Limits(export_w=5000.0)


def test_cancelled_controls_are_never_in_force():
    assert in_force([control("C", 0, 100, 1000.0, status=2)], 50) == []


def _post_all(book: ResponseBook, controls: list[Control], now_s: int, keep: bool = False) -> list[tuple[str, int]]:
    winners = in_force(controls, now_s, keep)
    due = book.due(controls, now_s, winners, [] if keep else superseded(controls, now_s, winners))
    for c, status in due:
        book.mark(c, status)
    return [(c.mrid, status) for c, status in due]


def test_responses_received_started_completed_once_each_and_superseded_for_the_replaced_one():
    a = control("A", 100, 100, 4000.0, created_s=90)
    book = ResponseBook()
    assert _post_all(book, [a], 95) == [("A", RECEIVED)]
    assert _post_all(book, [a], 100) == [("A", STARTED)]
    assert _post_all(book, [a], 101) == []
    b = control("B", 130, 70, 2000.0, created_s=129)
    assert _post_all(book, [a, b], 129) == [("B", RECEIVED)]
    assert _post_all(book, [a, b], 130) == [("B", STARTED), ("A", SUPERSEDED)]
    assert _post_all(book, [a, b], 200) == [("B", COMPLETED)]
    assert _post_all(book, [a, b], 300) == []


def test_a_failed_post_is_due_again():
    a = control("A", 0, 10, 4000.0)
    book = ResponseBook()
    winners = in_force([a], 5)
    assert [s for _, s in book.due([a], 5, winners, [])] == [RECEIVED, STARTED]
    assert [s for _, s in book.due([a], 6, winners, [])] == [RECEIVED, STARTED]  # nothing marked as posted


def test_export_limit_curtails_pv_first_and_settles_on_the_limit():
    site = SiteNow(import_w=-8000.0, pv_w=9000.0, pv_rated_w=10000.0, battery_w=0.0, battery_rated_w=5000.0)
    c = dispatch(site, export_limit_w=2000.0, import_limit_w=None, margin_w=100.0)
    assert c.pv_cap_pct == pytest.approx(100.0 * (9000.0 - 8000.0 + 1900.0) / 10000.0, abs=0.1)
    assert c.battery_setpoint_w is None and c.battery_charge_cap_w is None
    settled = SiteNow(import_w=-1900.0, pv_w=2900.0, pv_rated_w=10000.0, battery_w=0.0, battery_rated_w=5000.0)
    assert dispatch(settled, 2000.0, None, 100.0).pv_cap_pct == pytest.approx(29.0)


def test_import_limit_caps_charging_then_forces_a_discharge():
    charging = SiteNow(import_w=10000.0, pv_w=1000.0, pv_rated_w=10000.0, battery_w=-5000.0, battery_rated_w=5000.0)
    c = dispatch(charging, export_limit_w=None, import_limit_w=7000.0, margin_w=100.0)
    assert c.battery_charge_cap_w == pytest.approx(1900.0) and c.battery_setpoint_w is None
    heavy = SiteNow(import_w=13000.0, pv_w=500.0, pv_rated_w=10000.0, battery_w=0.0, battery_rated_w=5000.0)
    c = dispatch(heavy, export_limit_w=None, import_limit_w=10000.0, margin_w=100.0)
    assert c.battery_setpoint_w == 3100 and c.battery_charge_cap_w == 0.0
    assert dispatch(heavy, None, None, 100.0).battery_setpoint_w is None


def test_config_errors_name_the_file_and_key(tmp_path):
    path = tmp_path / "c.json"
    path.write_text(json.dumps({"meter": {"host": "127.0.0.1", "port": 502}, "inverters": [{"host": "h", "port": 1}]}))
    with pytest.raises(ConfigError, match=r"c\.json: inverters\[0\]\.role: missing"):
        load(path)
    path.write_text('{"meter": {"host": "127.0.0.1", "port": "502"}, "inverters": []}')
    with pytest.raises(ConfigError, match=r"c\.json: inverters: empty"):
        load(path)
    path.write_text("{\n  oops")
    with pytest.raises(ConfigError, match=r"c\.json: line 2: not valid JSON"):
        load(path)
