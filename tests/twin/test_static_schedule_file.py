"""What `flexbench envelope --kind static` writes loads as a PCS's schedule as it is, CSV and JSON alike."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from flexbench.core.schedule_files import read_schedule
from flexbench.core.schedules import StaticSchedule
from flexbench.twin import compute_envelope


@pytest.fixture(scope="module")
def static_envelope(ieee13):
    return compute_envelope(ieee13, "static", sites=["671", "692"])


@pytest.mark.parametrize("suffix", [".csv", ".json"])
def test_the_twins_static_envelope_is_each_sites_static_schedule(tmp_path: Path, static_envelope, suffix) -> None:
    path = static_envelope.save(tmp_path / f"static{suffix}")
    for i, site in enumerate(static_envelope.site_ids):
        schedule = read_schedule(path, site)
        assert isinstance(schedule, StaticSchedule) and schedule.site_id == site
        months = static_envelope.intervals["month"].to_numpy()
        hours = static_envelope.intervals["hour"].to_numpy()
        read = np.array([schedule.cell(int(m), int(h)).export_limit_w for m, h in zip(months, hours)])
        # written to the mW; a negative limit (the site must keep importing) is read as 0
        assert np.allclose(read, np.maximum(static_envelope.export_limit_w[i], 0.0), atol=1e-3)
        assert schedule.firm.import_limit_w == pytest.approx(static_envelope.firm_import_w[i], abs=1e-3)


def test_the_twins_variable_envelope_is_a_variable_schedule(tmp_path: Path, ieee13) -> None:
    env = compute_envelope(ieee13, "variable", sites=["671"], start="2027-01-31T22:00", horizon="3h")
    schedule = read_schedule(env.save(tmp_path / "variable.csv"))
    assert not isinstance(schedule, StaticSchedule)
    sent = env.envelope("671")  # what a publisher would send: the same times, and limits to the mW
    assert [i.start_s for i in schedule] == [i.start_s for i in sent]
    assert [i.export_limit_w for i in schedule] == pytest.approx([i.export_limit_w for i in sent], abs=1e-3)
    assert schedule.firm.import_limit_w == pytest.approx(sent.firm.import_limit_w, abs=1e-3)
