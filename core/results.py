"""Verdicts, requirement criteria and results: what every check returns and every report shows.

A Result is built with keywords only, so a report's Measured, Limit and Margin
columns never swap places silently.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any


class Verdict(StrEnum):
    """Outcome of a check, a test or a run; ordered from best to worst by ``rank``."""

    PASS = "pass"
    NOT_APPLICABLE = "not_applicable"
    FAIL = "fail"
    INCOMPLETE = "incomplete"
    ERROR = "error"

    @property
    def rank(self) -> int:
        return _RANK[self]


_RANK = {
    Verdict.PASS: 0,
    Verdict.NOT_APPLICABLE: 1,
    Verdict.FAIL: 2,
    Verdict.INCOMPLETE: 3,
    Verdict.ERROR: 4,
}


def worst(verdicts: list[str] | list[Verdict]) -> Verdict:
    """The worst of several verdicts (PASS for none)."""
    out = Verdict.PASS
    for v in verdicts:
        verdict = Verdict(v)
        if verdict.rank > out.rank:
            out = verdict
    return out


@dataclass(frozen=True, kw_only=True)
class Criterion:
    """A requirement as a plan states it: ID, title, pass criterion and the clause it comes from."""

    requirement_id: str
    title: str = ""
    criterion: str = ""
    source: str = ""


@dataclass(kw_only=True)
class Result:
    """One check of one requirement: criterion, measured value, limit, margin (>= 0: room left), verdict."""

    requirement_id: str
    criterion: str
    verdict: str
    message: str
    measured: float | None = None
    limit: float | None = None
    unit: str = ""
    margin: float | None = None
    test: str = ""
    details: dict[str, Any] = field(default_factory=dict)
    declared: str = ""  # the device's declared values this check was judged against, if any

    @property
    def passed(self) -> bool:
        return self.verdict == Verdict.PASS

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["verdict"] = str(Verdict(self.verdict))
        return out

    @classmethod
    def error(cls, requirement_id: str, criterion: str, message: str, test: str = "") -> Result:
        """A check that could not be made (no samples, a bench fault): never a device failure."""
        return cls(
            requirement_id=requirement_id, criterion=criterion, verdict=Verdict.ERROR, message=message, test=test
        )
