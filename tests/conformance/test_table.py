"""The conformance runner's parts that need no harness: procedure choice, client slots, failure text, table."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest

SOURCE = Path(__file__).resolve().parents[2] / "conformance" / "table.py"
spec = importlib.util.spec_from_file_location("conformance_table", SOURCE)
assert spec is not None and spec.loader is not None
table = importlib.util.module_from_spec(spec)
sys.modules[spec.name] = table  # dataclasses look their module up by name
spec.loader.exec_module(table)


def test_server_procedures_are_chosen_in_natural_order() -> None:
    listing = [
        {"procedure": name, "clients": [None], "own_s": 0}
        for name in ("S-OPT-02", "S-ALL-10", "GEN-01", "S-ALL-2", "S-OPT-01", "ALL-01")
    ]
    chosen = [p["procedure"] for p in table.select_procedures(listing)]
    assert chosen == ["S-ALL-2", "S-ALL-10", "S-OPT-01", "S-OPT-02"]


def test_timeout_grows_with_the_procedures_own_time_and_a_cap_cuts_it_short() -> None:
    long, short = {"own_s": 259200}, {"own_s": 0}
    assert table.timeout_s(long) > 259200 + table.BASE_TIMEOUT_S
    assert table.timeout_s(short) == table.BASE_TIMEOUT_S
    assert table.timeout_s(long, cap_s=900) == 900 and table.is_cut_short(long, 900)
    assert table.timeout_s(short, cap_s=900) == table.BASE_TIMEOUT_S and not table.is_cut_short(short, 900)
    assert not table.is_cut_short(long, None)


def test_typed_slots_are_filled_before_untyped_ones() -> None:
    configured = {"device-a": "device", "aggregator": "aggregator", "device-b": "device"}
    assert table.assign_clients([None, "aggregator"], configured) == ["device-a", "aggregator"]
    assert table.assign_clients([None, "device", "device"], configured) == ["aggregator", "device-a", "device-b"]
    with pytest.raises(ValueError, match="aggregator"):
        table.assign_clients(["aggregator", "aggregator"], configured)


LOG = """\
2026-12-03 12:14:23,939 INFO cactus_client.model.progress add_log - DISCOVERY[0] Attempt 0: Requesting GET /edev
2026-12-03 12:14:24,019 INFO cactus_client.model.progress add_log - DISCOVERY[0] Attempt 0: Check Failure: first
2026-12-03 12:14:29,149 INFO cactus_client.model.progress add_log - DISCOVERY[0] Attempt 1: Check Failure: Couldn't \
find any Link references to: ConnectionPoint
2026-12-03 12:19:24,000 ERROR cactus_client.execution.run _run_and_await_tasks - Aborting test due to timeout after \
300 seconds.
"""


def test_the_last_failure_of_the_step_that_stood_is_reported_with_the_timeout() -> None:
    assert table.failing_check(LOG) == (
        "DISCOVERY: Couldn't find any Link references to: ConnectionPoint (timed out after 300 s)"
    )


def test_an_exception_outside_the_checks_is_reported() -> None:
    text = (
        "Traceback (most recent call last):\n"
        "    raise CactusClientError(\n"
        "cactus_client.error.CactusClientError: No ConnectionPointLink on EndDevice /edev/1.\n"
    )
    assert table.failing_check(text) == "No ConnectionPointLink on EndDevice /edev/1."
    assert table.failing_check("nothing failed here\n") == ""


def test_table_is_written_as_json_and_markdown(tmp_path: Path) -> None:
    rows = [table.Row("S-ALL-01", "pass"), table.Row("S-ALL-53", "fail", "no Location | header")]
    json_path, md_path = table.write_table(rows, tmp_path / "out", {"cactus-client": "1.3.3"})
    data = json.loads(json_path.read_text())
    assert [(r["procedure"], r["result"]) for r in data] == [("S-ALL-01", "pass"), ("S-ALL-53", "fail")]
    assert data[1]["failing_check"] == "no Location | header"
    markdown = md_path.read_text()
    assert markdown.startswith("1 of 2 procedures pass (cactus-client 1.3.3).")
    assert "| S-ALL-53 | fail | no Location / header |" in markdown


def test_readme_section_is_replaced_and_the_rest_kept(tmp_path: Path) -> None:
    readme = tmp_path / "README.md"
    readme.write_text(f"intro\n{table.README_START}\nold table\n{table.README_END}\nafter\n")
    table.update_readme(readme, "new table\n")
    table.update_readme(readme, "newer table\n")
    assert readme.read_text() == f"intro\n{table.README_START}\nnewer table\n{table.README_END}\nafter\n"
    readme.write_text("no markers\n")
    with pytest.raises(ValueError, match="conformance:start"):
        table.update_readme(readme, "x\n")


def test_a_partial_run_is_merged_into_the_table_and_says_which_run_gave_what(tmp_path: Path) -> None:
    whole = [table.Row(f"S-ALL-{n:02}", "fail", "x", "2026-12-01 10:00 UTC") for n in (1, 2, 10)]
    table.write_table(whole, tmp_path, {})
    again = [table.Row("S-ALL-02", "pass", "", "2026-12-03 15:35 UTC")]
    merged = table.merge(table.read_table(tmp_path / "latest.json"), again)
    assert [(r.procedure, r.result) for r in merged] == [
        ("S-ALL-01", "fail"),
        ("S-ALL-02", "pass"),
        ("S-ALL-10", "fail"),
    ]
    markdown = table.markdown(merged, {})
    assert (
        "S-ALL-02 from the run of 2026-12-03 15:35 UTC; the other 2 from the run of 2026-12-01 10:00 UTC." in markdown
    )
    assert table.read_table(tmp_path / "missing.json") == []
