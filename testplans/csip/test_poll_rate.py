"""IEEE 2030.5 pollRate compliance (CSIP): the DUT reads its DERControlList at the announced pollRate.

The bench's server logs every request it serves; over several pollRate
periods, the longest gap between the DUT's reads of its DERControlList must
not exceed pollRate plus the tolerance.
"""

import pytest


@pytest.mark.requirement("CSIP-POLL")
def test_dut_polls_at_the_server_poll_rate(procedure, headend):
    r = procedure.requirement("CSIP-POLL")
    poll_rate_s = headend.poll_rate_s
    start_s = procedure.step(
        f"watch the DUT's requests for {r.polls_observed} pollRate periods", clause="2030.5 pollRate"
    )
    procedure.wait(r.polls_observed * poll_rate_s)
    reads = [t for t, method, path in headend.requests(since_s=start_s) if method == "GET" and path.endswith("/derc")]

    limit_s = poll_rate_s * (1 + r.interval_tolerance_pct / 100.0) + 1.0
    criterion = f"DERControlList read at least every {limit_s:g} s (pollRate {poll_rate_s:g} s)"
    if len(reads) < 2:
        procedure.expect(
            "CSIP-POLL",
            criterion=criterion,
            passed=False,
            message=f"{len(reads)} DERControlList reads in {procedure.now() - start_s:.0f} s",
            limit=limit_s,
            unit="s",
        )
        return
    gaps = [b - a for a, b in zip(reads, reads[1:])]
    longest_s = max(gaps + [reads[0] - start_s])
    procedure.expect(
        "CSIP-POLL",
        criterion=criterion,
        passed=longest_s <= limit_s,
        message=f"{len(reads)} reads, longest gap {longest_s:.1f} s",
        measured=longest_s,
        limit=limit_s,
        unit="s",
        margin=limit_s - longest_s,
    )
