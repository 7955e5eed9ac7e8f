"""Every home within its published limit, and the transformer within its rating, when every home wants more.

Every home has a heavy load and its EV charging: each asks for well above
its share of the transformer, so there is nothing to re-allocate. The utility
publishes each home's share as its import limit; after the response time each
home's PCC import must stay at or below its limit (AGG-SITE) and the
transformer at or below its rating (AGG-XFMR).
"""

import pytest

from flexbench.lab.aggregator_plan import LIMITS, TRANSFORMER, home_import
from flexbench.lab.plan import response_window


@pytest.mark.requirement("AGG-SITE", "AGG-XFMR")
def test_every_home_within_its_limit(procedure, fresh):
    p, site_req, xfmr = procedure.params, procedure.requirement("AGG-SITE"), procedure.requirement("AGG-XFMR")
    shares = fresh.group.shares()

    procedure.step("every home: heavy load, its EV charging; no limit until the control starts")
    for name in fresh.names:
        fresh.condition(name, load_w=p.heavy_load_w, ev_w=p.ev_charge_w)
    t0_s = round(procedure.now() + p.start_delay_s)
    duration_s = max(site_req.response_time_s, xfmr.response_time_s) + p.hold_s + 1
    procedure.step(
        f"each home's share of the {fresh.group.rating_w / 1000:g} kW transformer ({fresh.group.allocation}) "
        "published as its import limit",
        start_s=t0_s,
        shares=shares,
    )
    fresh.publish(shares, start_s=t0_s, duration_s=duration_s)
    end_s = procedure.wait_until(t0_s + duration_s - 1)  # the control's last second

    for name, share in shares.items():
        procedure.expect_at_or_below(
            "AGG-SITE",
            home_import(name),
            limit=share + site_req.accuracy_w,
            start_s=t0_s + site_req.response_time_s,
            end_s=end_s,
            t_cmd_s=float(t0_s),
            label=f"{name} import: its share + accuracy after the response time,",
        )
    procedure.expect_at_or_below(
        "AGG-XFMR",
        TRANSFORMER,
        limit=fresh.group.rating_w + xfmr.accuracy_w,
        start_s=t0_s + xfmr.response_time_s,
        end_s=end_s,
        t_cmd_s=float(t0_s),
        label="transformer import: rating + accuracy,",
    )
    procedure.evidence(
        "Each home's share published; every home asks for more",
        t_step_s=float(t0_s),
        end_s=end_s,
        channels={TRANSFORMER.channel: "transformer", **{home_import(n).channel: n for n in fresh.names}},
        steps=LIMITS,
        windows=[response_window(float(t0_s), site_req.response_time_s)],
    )
