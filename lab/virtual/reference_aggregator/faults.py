"""Fault variants of the reference aggregator, each breaking the group on purpose in one way.

Chosen with --fault (the bench passes its --dut-profile), so every check of
the aggregator plans is shown to fail on an aggregator that is wrong in that way.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Fault:
    name: str
    description: str
    ignores_site: bool = False  # never reads or writes its first home, nor counts it in the group
    keeps_loans: bool = False  # capacity lent to a home is never taken back while the published limits stand
    no_fail_safe: bool = False  # a home whose communication is lost is counted at its allocation, not its worst case


FAULTS: dict[str, Fault] = {
    f.name: f
    for f in (
        Fault("healthy", "holds every home to its limit, re-allocates within the group, fails safe on a lost home"),
        Fault("ignores-site", "never controls its first home, nor counts it in the group", ignores_site=True),
        Fault(
            "over-allocates",
            "lends unused capacity to a home and never takes it back while the limits stand: the group over-allocated",
            keeps_loans=True,
        ),
        Fault("no-failsafe", "counts a home it lost at its allocation, not at its worst case", no_fail_safe=True),
    )
}
