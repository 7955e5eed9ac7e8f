import time

import pytest

from flexbench.lab.clock import ScaledClock


def test_scaled_clock_runs_faster_than_wall_time():
    clock = ScaledClock(50.0)
    start_wall = time.monotonic()
    start = clock.now()
    clock.sleep(5.0)  # 0.1 s of wall time
    assert clock.now() - start == pytest.approx(5.0, abs=1.5)
    assert time.monotonic() - start_wall < 1.0


def test_clock_starts_at_wall_time_and_rejects_bad_scale():
    assert abs(ScaledClock(10).now() - time.time()) < 1.0
    with pytest.raises(ValueError):
        ScaledClock(0)
