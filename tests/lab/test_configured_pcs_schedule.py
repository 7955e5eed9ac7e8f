"""A schedule file through a controller's own configuration command, or not applicable when it takes none."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from flexbench.core import SiteLimits
from flexbench.core.schedule_files import read_schedule, write_schedule
from flexbench.core.schedules import StaticSchedule
from flexbench.instruments.roles import SettingNotTaken
from flexbench.lab.controller.configured_pcs import ConfiguredPCS


class Supervisor:
    """What ConfiguredPCS asks of the controller's supervisor: its [controller] table, run folder, configure."""

    def __init__(self, run_dir: Path, settings: tuple[str, ...]) -> None:
        self.run_dir = run_dir
        self.config = SimpleNamespace(settings=settings, configure=("./configure.sh", "{settings_file}"))
        self.configured: list[dict[str, Any]] = []

    def configure(self, settings: dict[str, Any]) -> None:
        self.configured.append(settings)


def letter(tmp_path: Path, name: str = "letter.csv") -> Path:
    table = {(m, h): SiteLimits(export_limit_w=float(h)) for m in range(1, 13) for h in range(24)}
    return write_schedule(tmp_path / name, StaticSchedule.of(table))


def test_a_controller_that_takes_a_schedule_file_gets_its_path_with_its_other_settings(tmp_path: Path) -> None:
    supervisor = Supervisor(tmp_path, ("export_limit_w", "import_limit_w", "schedule_file"))
    pcs = ConfiguredPCS(supervisor)
    pcs.program("unrestricted", 3000.0, None, None)
    path = letter(tmp_path)
    pcs.load_schedule(path)
    assert supervisor.configured[-1] == {
        "export_limit_w": 3000.0,
        "import_limit_w": None,
        "schedule_file": str(path.resolve()),
    }
    pcs.program("unrestricted", 2000.0, None, None)  # a later setting keeps the schedule
    assert supervisor.configured[-1]["schedule_file"] == str(path.resolve())
    pcs.unset()
    assert supervisor.configured[-1] == {"export_limit_w": None, "import_limit_w": None, "schedule_file": None}


def test_one_sites_schedule_of_a_file_of_many_is_written_for_the_controller(tmp_path: Path) -> None:
    source = tmp_path / "twin.csv"
    rows = [f"{site},{m},{h},,{h}" for site in ("a", "b") for m in range(1, 13) for h in range(24)]
    source.write_text("site_id,month,hour,import_limit_w,export_limit_w\n" + "\n".join(rows) + "\n")
    supervisor = Supervisor(tmp_path, ("schedule_file",))
    ConfiguredPCS(supervisor).load_schedule(source, site="b")
    given = Path(supervisor.configured[-1]["schedule_file"])
    assert given.parent == tmp_path and read_schedule(given).cells == read_schedule(source, "b").cells


def test_a_controller_that_takes_no_schedule_makes_the_schedule_not_applicable(tmp_path: Path) -> None:
    supervisor = Supervisor(tmp_path, ("export_limit_w", "import_limit_w"))
    pcs = ConfiguredPCS(supervisor)
    with pytest.raises(
        SettingNotTaken, match=r"does not take schedule_file .*settings: export_limit_w, import_limit_w"
    ):
        pcs.load_schedule(letter(tmp_path))
    with pytest.raises(SettingNotTaken, match="clock cannot be set"):
        pcs.set_clock(0.0)
    assert supervisor.configured == []
