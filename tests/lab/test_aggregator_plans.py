"""Aggregator in the loop end to end: `flexbench run testplans/aggregator` on the aggregator bench.

The bench starts the reference aggregator as its own process (SunSpec Modbus
to every home's meter and devices, 2030.5 to the bench's server with one
aggregator certificate for every home). Healthy, it passes every aggregator
requirement; each fault variant fails exactly the requirements it breaks:

- ignores-site never controls home1: home1 above its limit (AGG-SITE) and
  the transformer above its rating (AGG-XFMR) and above the group's abnormal
  maximum (AGG-ABN) whenever home1 is loaded; where home1 stays light
  (re-allocation) or near its share (a home lost) nothing breaks;
- over-allocates never takes lent capacity back: once the lenders want their
  shares the transformer is above the group's limit (AGG-REALLOC, AGG-XFMR);
- no-failsafe counts a lost home at its share: once the lost home's devices
  revert the transformer is above its rating (AGG-LOSS).
"""

from __future__ import annotations

import pytest

BENCH = "lab/benches/virtual-aggregator.toml"
PLANS = "testplans/aggregator"
REQUIREMENTS = {"AGG-SITE", "AGG-XFMR", "AGG-REALLOC", "AGG-ABN", "AGG-LOSS"}
# The aggregator's control period is 1 bench second with some twenty Modbus requests in it: time scale 10
# leaves it that period on two cores.
TIME_SCALE = 10


@pytest.mark.parametrize(
    ("profile", "fails"),
    [
        ("healthy", set()),
        ("ignores-site", {"AGG-SITE", "AGG-XFMR", "AGG-ABN"}),
        ("over-allocates", {"AGG-REALLOC", "AGG-XFMR"}),
        ("no-failsafe", {"AGG-LOSS"}),
    ],
)
def test_each_aggregator_fails_exactly_what_it_breaks(plans, tmp_path, profile: str, fails: set[str]) -> None:
    proc, results = plans.run(PLANS, BENCH, TIME_SCALE, tmp_path / "run", "--dut-profile", profile)
    assert results, proc.stdout[-3000:] + proc.stderr[-3000:]
    judged = {row["requirement_id"] for row in results["matrix"]}
    assert REQUIREMENTS <= judged, f"not judged: {REQUIREMENTS - judged}"
    assert plans.failing(results) == fails, plans.why(results)
    assert proc.returncode == (0 if not fails else 1), proc.stdout[-2000:]
    log = (tmp_path / "run" / "controller.log").read_text()
    assert f"reference aggregator ({profile}) up: " in log
