"""Prices beside envelopes: the envelope always wins over the price (PRICE-ENV), and within its envelope
the site follows the price (PRICE-FOLLOW).

The site has a load and an EV asking to charge, and no PV: any charging is
imported. The utility publishes a price schedule over 2030.5 Pricing.

PRICE-ENV: an import cap (a DERControl, opModImpLimW) is in force; a cheap
window opens inside it. From the cap's response window on, the PCC import must
stay at or below the cap plus meter accuracy, however cheap the energy.

PRICE-FOLLOW: no cap binds; a cheap window, then an expensive one. From each
window's response window on: in the cheap one the PCC import is at least the
load, the EV's demand and the declared minimum charging power (less meter
accuracy); in the expensive one at most the declared tolerance (plus accuracy).
"""

import numpy as np
import pytest

from flexbench.core import SiteLimits
from flexbench.lab.plan import PCC_IMPORT, Conditions, Window, response_window

CLAUSE = "ruling Q28: envelopes beside dynamic rates"


def night_with_ev(procedure, site) -> None:
    p = procedure.params
    site.set_conditions(Conditions(load_w=p.load_w, ev_w=p.ev_w))
    procedure.wait(p.precondition_s)


@pytest.mark.requirement("PRICE-ENV")
def test_envelope_wins_over_a_cheap_price(procedure, site, headend):
    p, r = procedure.params, procedure.requirement("PRICE-ENV")
    procedure.step("the site's load and an EV asking to charge, no PV", clause=CLAUSE)
    night_with_ev(procedure, site)

    cap_s = round(procedure.now() + p.start_delay_s)
    cheap = p.window(cap_s + r.response_window_s, 0, p.cheap_price_per_kwh)
    cap_duration_s = cheap.end_s - cap_s + p.end_guard_s
    limits = SiteLimits(import_limit_w=p.import_limit_w)
    procedure.step(f"the server publishes an import cap of {p.import_limit_w:.0f} W", start_s=cap_s)
    headend.control(limits, start_s=cap_s, duration_s=cap_duration_s)
    procedure.step(
        f"and a cheap window inside it: {p.cheap_price_per_kwh:g}/kWh", start_s=cheap.start_s, end_s=cheap.end_s
    )
    headend.prices([cheap])
    procedure.wait_until(cap_s)
    site.show_limit(limits)
    end_s = procedure.wait_until(cheap.end_s)
    site.show_limit(None)
    procedure.wait_until(cap_s + cap_duration_s)

    procedure.expect_at_or_below(
        "PRICE-ENV",
        PCC_IMPORT,
        limit=p.import_limit_w + r.accuracy_w(p.site_rating_w),
        start_s=cap_s + r.response_window_s,
        end_s=cheap.end_s - p.end_guard_s,
        t_cmd_s=cap_s,
        label="PCC import through the cheap window: cap + meter accuracy,",
    )
    procedure.evidence(
        f"PRICE-ENV: import cap {p.import_limit_w:.0f} W over a cheap window",
        t_step_s=float(cap_s),
        end_s=end_s,
        windows=[
            response_window(cap_s, r.response_window_s),
            Window(cheap.start_s, cheap.end_s, f"cheap window {p.cheap_price_per_kwh:g}/kWh"),
        ],
    )


@pytest.mark.requirement("PRICE-FOLLOW")
def test_follows_the_price_within_its_envelope(procedure, site, headend):
    p, r = procedure.params, procedure.requirement("PRICE-FOLLOW")
    accuracy_w = r.accuracy_w(p.site_rating_w)
    procedure.step("the site's load and an EV asking to charge, no PV", clause=CLAUSE)
    night_with_ev(procedure, site)

    t0_s = round(procedure.now() + p.start_delay_s)
    cheap = p.window(t0_s, 0, p.cheap_price_per_kwh)
    dear = p.window(t0_s, 1, p.expensive_price_per_kwh)
    procedure.step(
        f"the server publishes a cheap window ({p.cheap_price_per_kwh:g}/kWh) then an expensive one"
        f" ({p.expensive_price_per_kwh:g}/kWh)",
        start_s=t0_s,
    )
    headend.prices([cheap, dear])
    end_s = procedure.wait_until(dear.end_s)

    least_w = p.load_w + p.ev_w + r.min_charge_w - accuracy_w
    t, y = procedure.series(PCC_IMPORT, cheap.start_s + r.response_window_s, cheap.end_s - p.end_guard_s)
    measured_w = float(np.min(y)) if len(y) else float("nan")
    procedure.expect(
        "PRICE-FOLLOW",
        criterion=f"in the cheap window PCC import >= load + EV + {r.min_charge_w:.0f} W charging - accuracy",
        passed=bool(len(y)) and measured_w >= least_w,
        message=f"cheap window: PCC import at least {measured_w:.0f} W (needed {least_w:.0f} W)",
        measured=measured_w,
        limit=least_w,
        unit="W",
        margin=measured_w - least_w,
    )
    procedure.expect_at_or_below(
        "PRICE-FOLLOW",
        PCC_IMPORT,
        limit=r.import_tolerance_w + accuracy_w,
        start_s=dear.start_s + r.response_window_s,
        end_s=dear.end_s - p.end_guard_s,
        t_cmd_s=dear.start_s,
        label="expensive window: PCC import within the declared tolerance + accuracy,",
    )
    procedure.evidence(
        "PRICE-FOLLOW: a cheap window, then an expensive one",
        t_step_s=float(t0_s),
        end_s=end_s,
        windows=[
            Window(cheap.start_s, cheap.end_s, f"cheap {p.cheap_price_per_kwh:g}/kWh"),
            Window(dear.start_s, dear.end_s, f"expensive {p.expensive_price_per_kwh:g}/kWh"),
        ],
    )
