"""Poll-rate compliance: the DUT reads its DERControlList at the pollRate the server announces.

The bench's server logs every request it serves; over several pollRate
periods, the longest gap between the DUT's reads of its DERControlList must
not exceed pollRate plus the tolerance.
"""

import pytest

from flexbench.lab import evaluate

PROFILE = "csip-aus"


@pytest.mark.requirement("CSIP-POLL")
def test_dut_polls_at_the_server_poll_rate(site, csip, verdicts, clock):
    r = site.requirements.requirement("CSIP-POLL")
    poll_rate_s = csip.config.poll_rate_s
    start_s = clock.now()
    clock.sleep(r.number("polls_observed") * poll_rate_s)
    reads = [
        t for t, method, path in csip.requests(site.lfdi, since_s=start_s) if method == "GET" and path.endswith("/derc")
    ]
    limit_s = poll_rate_s * (1 + r.number("interval_tolerance_pct") / 100.0) + 1.0
    criterion = f"DERControlList read at least every {limit_s:g} s (pollRate {poll_rate_s:g} s)"
    if len(reads) < 2:
        verdicts.check(
            evaluate.Result(
                requirement_id="CSIP-POLL",
                criterion=criterion,
                measured=None,
                limit=limit_s,
                unit="s",
                margin=None,
                verdict=evaluate.FAIL,
                message=f"{len(reads)} DERControlList reads in {clock.now() - start_s:.0f} s",
            )
        )
        return
    gaps = [b - a for a, b in zip(reads, reads[1:])]
    worst = max(gaps + [reads[0] - start_s])
    verdicts.check(
        evaluate.Result(
            requirement_id="CSIP-POLL",
            criterion=criterion,
            measured=worst,
            limit=limit_s,
            unit="s",
            margin=limit_s - worst,
            verdict=evaluate.PASS if worst <= limit_s else evaluate.FAIL,
            message=f"{len(reads)} reads, longest gap {worst:.1f} s",
        )
    )
