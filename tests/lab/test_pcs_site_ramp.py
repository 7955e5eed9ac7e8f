"""Ramps: the virtual PCS moves to its 2030.5 default control at setGradW and to a DERControl over its rampTms;
the reference controller moves to a DERControl over its rampTms."""

from __future__ import annotations

import pytest

from flexbench.lab.virtual.pcs_site import PCS_FAULTS, PCSController, PCSSiteParameters
from flexbench.lab.virtual.reference_controller.ramp import LimitRamp


def _controller(fault: str = "healthy") -> PCSController:
    return PCSController(PCSSiteParameters(pv_rated_power_w=10_000.0), PCS_FAULTS[fault])


def test_a_limit_change_at_a_ramp_moves_at_the_rate_and_stops_at_the_target():
    c = _controller()
    c.set_utility_limits("csip", None, 2_000.0, t_s=100.0)
    c.set_utility_limits("csip", 9_000.0, 4_000.0, t_s=200.0, ramp_pct_per_s=1.0)  # 100 W/s of 10 kW
    assert c.limits_at("csip", 200.0) == (9_000.0, 2_000.0)  # from no import limit: at once
    assert c.limits_at("csip", 210.0) == (9_000.0, pytest.approx(3_000.0))
    assert c.limits_at("csip", 220.0) == (9_000.0, 4_000.0) == c.limits_at("csip", 500.0)
    # a change during a ramp starts from where the ramp had got to
    c.set_utility_limits("csip", 9_000.0, 1_000.0, t_s=205.0, ramp_pct_per_s=1.0)
    assert c.limits_at("csip", 215.0) == (9_000.0, pytest.approx(1_500.0))


def test_without_a_ramp_or_a_previous_limit_a_change_is_in_force_at_once():
    c = _controller()
    c.set_utility_limits("csip", None, 4_000.0, t_s=0.0, ramp_pct_per_s=1.0)  # nothing to ramp from
    assert c.limits_at("csip", 0.0) == (None, 4_000.0)
    c.set_utility_limits("csip", None, 1_000.0, t_s=10.0)
    assert c.limits_at("csip", 10.0) == (None, 1_000.0)


def test_a_controls_ramp_time_moves_from_the_sensed_flow_to_the_new_limit_in_that_time():
    c = _controller()
    c._last_reading = (99.0, -10_000.0)  # exporting 10 kW, no limit in force
    c.set_utility_limits("csip", 3_000.0, 2_000.0, t_s=100.0, ramp_time_s=40.0)  # rampTms 4000
    assert c.limits_at("csip", 100.0) == (3_000.0, 10_000.0)  # no import: nothing to ramp on that side
    assert c.limits_at("csip", 120.0) == (3_000.0, pytest.approx(6_000.0))
    assert c.limits_at("csip", 140.0) == (3_000.0, 2_000.0) == c.limits_at("csip", 400.0)
    # the next control ramps from the limit in force, over its own ramp time
    c.set_utility_limits("csip", None, 4_000.0, t_s=400.0, ramp_time_s=10.0)
    assert c.limits_at("csip", 405.0) == (None, pytest.approx(3_000.0))


def test_a_slow_ramp_takes_longer_than_it_was_told():
    c = _controller("slow-ramp")
    c._last_reading = (99.0, -10_000.0)
    c.set_utility_limits("csip", None, 2_000.0, t_s=100.0, ramp_time_s=40.0)
    assert c.limits_at("csip", 140.0)[1] == pytest.approx(10_000.0 - 8_000.0 / 3)
    assert c.limits_at("csip", 220.0)[1] == 2_000.0


def test_the_reference_controller_moves_to_a_control_over_its_ramp_time():
    ramp = LimitRamp()
    assert ramp.move(4_000.0, 0.0, None, flow_w=9_000.0) == 4_000.0  # no ramp time: at once
    assert ramp.move(2_000.0, 10.0, 20.0, flow_w=3_900.0) == 4_000.0  # from the limit in force
    assert ramp.move(2_000.0, 20.0, 20.0, flow_w=3_000.0) == pytest.approx(3_000.0)
    assert ramp.move(2_000.0, 40.0, 20.0, flow_w=2_000.0) == 2_000.0
    assert ramp.move(None, 50.0, 20.0, flow_w=2_000.0) is None  # no limit: released at once
    assert ramp.move(1_000.0, 60.0, 10.0, flow_w=6_000.0) == 6_000.0  # from no limit: from the present flow
    assert ramp.move(1_000.0, 65.0, 10.0, flow_w=3_500.0) == pytest.approx(3_500.0)
    assert ramp.move(5_000.0, 70.0, 10.0, flow_w=1_000.0) == pytest.approx(1_000.0)  # on up from where it was
    assert ramp.move(None, 80.0, None, flow_w=0.0) is None
    assert ramp.move(3_000.0, 90.0, 10.0, flow_w=2_000.0) == 3_000.0  # flow already within: nothing to ramp
