"""The pcs instrument of a controller set up through its own configuration command.

A third-party controller has no flexbench API: plans' site settings (mode,
export and import limits, busbar current limit) go into a JSON file the bench
writes, and the controller's `configure` command takes them (restarting the
controller when `configure_restarts`). Only the settings `[controller]
settings` names can be given; asking for another is SettingNotTaken, which
makes the check that needs it not applicable. A schedule file (static or
variable, core.schedule_files) goes in as the setting `schedule_file`, its
path, when `settings` names it. Its status is what was last configured, and
its fail-safe state unknown (None): the controller has no way to report either.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from flexbench.core.schedule_files import read_schedule, write_schedule
from flexbench.instruments.roles import PCS_MODES, Identity, PCSStatus, PowerControlSystem, SettingNotTaken

if TYPE_CHECKING:
    from flexbench.lab.controller.supervisor import ControllerSupervisor

UNSET: dict[str, Any] = {
    "mode": "unrestricted",
    "export_limit_w": None,
    "import_limit_w": None,
    "current_limit_a": None,
    "schedule_file": None,
}
SCHEDULE_FILE = "controller-schedule.csv"


class ConfiguredPCS(PowerControlSystem):
    """Site settings through the controller's configuration command."""

    model = "controller (configured by its own command)"

    def __init__(self, supervisor: ControllerSupervisor, **kwargs: Any) -> None:
        super().__init__("controller", **kwargs)
        self.supervisor = supervisor
        self.settings: dict[str, Any] = dict(UNSET)  # as last configured
        self.configured = False

    def connect(self) -> None:
        """Nothing to open: the command runs when settings change."""

    def close(self) -> None:
        """Nothing to close."""

    def identity(self) -> Identity:
        command = self.supervisor.config.configure or ()
        return Identity(manufacturer="", model=self.model, serial="", firmware=" ".join(command))

    def program(
        self, mode: str, export_limit_w: float | None, import_limit_w: float | None, current_limit_a: float | None
    ) -> None:
        if mode not in PCS_MODES:
            raise ValueError(f"unknown PCS mode {mode!r} (modes: {', '.join(PCS_MODES)})")
        changes: dict[str, Any] = {
            "mode": mode,
            "export_limit_w": export_limit_w,
            "import_limit_w": import_limit_w,
            "current_limit_a": current_limit_a,
        }
        self._check_taken(changes)
        for limit_w in (export_limit_w, import_limit_w):
            if limit_w is not None:
                if limit_w < 0:
                    raise ValueError(f"a site limit is a magnitude in W, got {limit_w:g}")
                self.safety.check("power", float(limit_w), "w", address=self.address)
        self._configure(changes)

    def load_schedule(self, path: Path, site: str | None = None) -> None:
        """The schedule file's path as the setting `schedule_file` (one site's schedule written to the run
        folder first when the file holds several); a file that cannot be read fails here, not in the controller."""
        self._check_taken({"schedule_file": str(path)})
        schedule = read_schedule(path, site)
        if site is not None:
            path = write_schedule(self.supervisor.run_dir / SCHEDULE_FILE, schedule)
        self._configure({"schedule_file": str(Path(path).resolve())})

    def clear_schedule(self) -> None:
        if "schedule_file" in self.supervisor.config.settings:
            self._configure({"schedule_file": None})

    def unset(self) -> None:
        """Every setting back to none (and no schedule): a clean start for a test."""
        self._configure(dict(UNSET))

    def _check_taken(self, wanted: dict[str, Any]) -> None:
        takes = self.supervisor.config.settings
        for key, value in wanted.items():
            if value != UNSET[key] and key not in takes:
                raise SettingNotTaken(
                    f"the controller's configuration does not take {key} = {value!r} "
                    f"([controller] settings: {', '.join(takes)})"
                )

    def _configure(self, changes: dict[str, Any]) -> None:
        wanted = {**self.settings, **changes}
        self._check_taken(changes)
        if wanted == self.settings and self.configured:
            return
        self.supervisor.configure({key: wanted[key] for key in self.supervisor.config.settings})
        self.settings, self.configured = wanted, True

    def set_mode(self, mode: str) -> None:
        self.program(
            mode, self.settings["export_limit_w"], self.settings["import_limit_w"], self.settings["current_limit_a"]
        )

    def set_export_limit_w(self, limit_w: float | None) -> None:
        s = self.settings
        self.program(s["mode"], limit_w, s["import_limit_w"], s["current_limit_a"])

    def set_import_limit_w(self, limit_w: float | None) -> None:
        s = self.settings
        self.program(s["mode"], s["export_limit_w"], limit_w, s["current_limit_a"])

    def set_current_limit_a(self, limit_a: float | None) -> None:
        s = self.settings
        self.program(s["mode"], s["export_limit_w"], s["import_limit_w"], limit_a)

    def status(self) -> PCSStatus:
        s = self.settings
        return PCSStatus(s["mode"], s["export_limit_w"], s["import_limit_w"], s["current_limit_a"], fail_safe=None)

    def snapshot(self) -> dict[str, Any]:
        return {**self.settings, "configured": self.configured, "settings_taken": list(self.supervisor.config.settings)}
