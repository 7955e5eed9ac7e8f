"""The binding constraint is reported correctly on feeders built to be voltage- or thermal-bound."""

from __future__ import annotations

import numpy as np
import pytest

from flexbench.twin import Twin, compute_envelope
from flexbench.twin.compute import EnvelopeSettings, IntervalEngine

from .conftest import write_line_feeder


def _single_site(twin, method):
    engine = IntervalEngine(twin, np.array([0]), EnvelopeSettings(method=method, allocation="none"))
    load = np.array([twin.sites[0].nominal_w]) * 0.5
    return engine.interval(load, np.zeros(1))


@pytest.mark.parametrize("method", ["fast", "reference"])
def test_long_line_is_voltage_bound(tmp_path, method):
    # 8 km of line rated 2000 A: the voltage at the site leaves range A long before the line is full
    twin = Twin.from_file(write_line_feeder(tmp_path, "long", 8.0, 2000))
    env = compute_envelope(twin, "variable", start="2025-07-01", horizon="2h", method=method)
    assert all(b.startswith("voltage_low:b1.") for b in env.binding_import.ravel()), env.binding_import
    assert all(b.startswith("voltage_high:b1.") for b in env.binding_export.ravel())
    # and the limit sits where the voltage reaches the limit: check by power flow
    r = _single_site(twin, method)
    twin.reset_controls()
    twin.set_operating_point(np.array([twin.sites[0].nominal_w * 0.5]), np.zeros(1))
    twin.solve_forecast()
    twin.set_site_delta(np.array([0]), np.array([r.import_headroom_w[0]]))
    vmin = twin.solve_frozen().vm_pu.min()
    assert vmin == pytest.approx(0.95, abs=2e-4)


@pytest.mark.parametrize("method", ["fast", "reference"])
def test_short_weak_line_is_thermal_bound(tmp_path, method):
    # 0.5 km rated 40 A (about 860 kVA at 12.47 kV): the conductor fills first
    twin = Twin.from_file(write_line_feeder(tmp_path, "short", 0.5, 40))
    r = _single_site(twin, method)
    env = compute_envelope(twin, "variable", start="2025-07-01", horizon="2h", method=method)
    assert all(b.startswith("thermal:Line.l1/") for b in env.binding_import.ravel()), env.binding_import
    assert all(b.startswith("thermal:Line.l1/") for b in env.binding_export.ravel()), env.binding_export
    # the import limit puts the line at its rating
    forecast = twin.sites[0].nominal_w * 0.5
    amps = (forecast + r.import_headroom_w[0]) / (np.sqrt(3) * 12470 * 0.95)
    assert 0.9 * 40 < amps < 1.1 * 40
