"""What the controller plans share: the site around the controller under test, and its faults.

These plans need a controller under test ([controller] in the bench file, e.g.
lab/benches/virtual-controller.toml) and an emulated site that can make its
devices fail (the virtual controller site's operator actions; on a real bench
the operator is asked to, e.g., unplug the meter's link).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import pytest

from flexbench.lab.controller.findings import METER_SILENT_CHANNEL
from flexbench.lab.errors import UserError
from flexbench.lab.site_control import SiteControl

PLAN = "controller"


class ControllerSite(SiteControl):
    def __init__(self, bench, requirements, recorder, clock) -> None:
        plan = requirements.plan(PLAN)
        super().__init__(bench, plan, recorder, clock, plan.integer("phases"), 0.0)
        self.requirements = requirements

    @contextlib.contextmanager
    def fault(self, action: str, restore: str, instruction: str) -> Iterator[float]:
        """A site-side fault for the block; yields its bench time. The site is restored whatever happens."""
        t_s = self.clock.now()
        self.bench.operator_action(action, instruction)
        self.recorder.event("site_fault", action=action)
        meter = action == "meter-silent"
        if meter:
            self.recorder.record(METER_SILENT_CHANNEL, 1.0, t_s)  # CTL-TELEM: no reading to mirror from here
        try:
            yield t_s
        finally:
            self.bench.operator_action(restore, f"Undo: {instruction}")
            self.recorder.event("site_fault", action=restore)
            if meter:
                self.recorder.record(METER_SILENT_CHANNEL, 0.0)

    def recover(self) -> None:
        """Back to unrestricted and let the controller settle before the next plan."""
        self.program("unrestricted")
        self.clock.sleep(self.plan.number("precondition_s") / 2)


@pytest.fixture(scope="module")
def site(bench, requirements, recorder, clock) -> ControllerSite:
    if bench.controller is None:
        raise UserError(
            f"{bench.config.path}: the controller plans need a controller under test: add a [controller] "
            "table (see lab/benches/virtual-controller.toml)"
        )
    s = ControllerSite(bench, requirements, recorder, clock)
    s.energize()
    s.program("unrestricted")
    return s
