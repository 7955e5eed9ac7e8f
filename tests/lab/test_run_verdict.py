"""The run's one verdict: never more than was tested, never the bench's fault blamed on the device."""

from __future__ import annotations

import pytest

from flexbench.core.results import Verdict
from flexbench.lab.results import EXIT_CODES, overall_verdict


def _test(outcome: str, *verdicts: str) -> dict:
    return {"nodeid": f"t{len(verdicts)}", "outcome": outcome, "requirements": [{"verdict": v} for v in verdicts]}


PASSED = _test("passed", "pass", "pass")
FAILED = _test("failed", "pass", "fail")


@pytest.mark.parametrize(
    "tests, not_run, ended, bench_fault, expected",
    [
        ([PASSED, PASSED], [], True, False, Verdict.PASS),
        ([PASSED, _test("skipped")], [], True, False, Verdict.PASS),  # not applicable to this bench, with its reason
        ([PASSED, FAILED], [], True, False, Verdict.FAIL),
        ([PASSED], ["t9"], True, False, Verdict.INCOMPLETE),  # stopped before every selected test ran
        ([PASSED, FAILED], ["t9"], True, False, Verdict.INCOMPLETE),  # a FAIL seen, yet the run says what it is
        ([PASSED, PASSED], [], False, False, Verdict.INCOMPLETE),  # killed: the folder never got its end
        ([], [], True, False, Verdict.INCOMPLETE),  # nothing was judged
        ([PASSED, FAILED], [], True, True, Verdict.ERROR),  # an instrument failed: the bench's fault
        ([_test("error", "error")], [], True, False, Verdict.ERROR),  # set-up failed
        ([_test("failed", "pass")], [], True, False, Verdict.ERROR),  # the plan broke, no check failed
    ],
)
def test_overall_verdict(tests, not_run, ended, bench_fault, expected):
    assert overall_verdict(tests, not_run, ended=ended, bench_fault=bench_fault) == expected


def test_every_overall_verdict_has_its_own_exit_code():
    assert EXIT_CODES[Verdict.PASS] == 0 and EXIT_CODES[Verdict.FAIL] == 1
    assert len(set(EXIT_CODES.values())) == len(EXIT_CODES) == 4
