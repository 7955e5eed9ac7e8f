"""Site controller in the loop: what the controller plans share, the site around the controller and its faults.

These plans need a controller under test ([controller] in the bench file, e.g.
lab/benches/virtual-controller.toml) and an emulated site that can make its
devices fail (the virtual controller site's operator actions; on a real bench
the operator is asked to, e.g., unplug the meter's link). The controller's
declared values (fail-safe time and export, response times) are the
requirement tables' numbers: a lab testing its own controller copies
testplans/profiles/controller.toml with its declaration (--profile).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import pytest

from flexbench.core import channels
from flexbench.lab.errors import UserError
from flexbench.lab.plan import Csip, Plan, RequirementParams, Site, SiteParams


class ControllerPlan(SiteParams):
    """[plans.controller]"""

    phases: int
    """The AC load is per-phase units programmed alike."""
    hold_s: float
    """Observation after each step."""
    pv_dc_w: float
    """PV simulator at the site's PV rating (all inverters can export)."""
    light_load_w: float
    heavy_load_w: float
    import_load_w: float
    """The AC load at its rating, PV low: an import the battery must cut."""
    import_pv_dc_w: float
    import_limit_w: float
    """Within what the battery can take off the import."""
    export_limit_w: float
    """The site's export setting in the site-side fault tests."""
    firm_export_limit_w: float
    """DefaultDERControl in the loss-of-server test."""
    silent_inverter: str
    """The inverter that stops answering (CTL-INV)."""
    ignoring_inverter: str
    """The inverter that ignores writes (CTL-IGN)."""
    strict_inverter: str
    """The inverter that refuses block writes over a model header or read-only points (CTL-INV)."""
    start_delay_s: float
    control_duration_s: float
    end_guard_s: float
    control_ramp_s: float | None = None
    """Ramp time (rampTms) sent with every DERControl: the controller may take this long to reach a new limit
    and is judged once it is over. None: no ramp sent."""


class Accuracy(RequirementParams):
    accuracy_w: float


class FailSafe(Accuracy):
    """CTL-METER: the controller's declared fail-safe."""

    fail_safe_export_w: float
    fail_safe_time_s: float


class Response(Accuracy):
    """CTL-INV, CTL-IGN: declared response time with a device failing."""

    response_time_s: float


class SoftLimit(Accuracy):
    soft_limit_window_s: float
    """Declared time to take a new limit."""


class SkewedTime(SoftLimit):
    """CTL-TIME"""

    skew_s: float
    """The server's clock this far from true time."""


class ServerAway(SoftLimit):
    """CTL-COMM"""

    default_band_w: float
    """Export within this of the firm limit shows the firm limit applies (not a stale one)."""
    outage_poll_periods: float
    """The outage lasts at least this many poll periods beyond the control's end."""


PLAN = Plan(
    "controller",
    ControllerPlan,
    profile="controller",
    requirements={
        "CTL-METER": FailSafe,
        "CTL-INV": Response,
        "CTL-IGN": Response,
        "CTL-TIME": SkewedTime,
        "CTL-COMM": ServerAway,
        "CTL-IMP": SoftLimit,
        "CTL-ALIVE": RequirementParams,
        "CTL-TELEM": RequirementParams,
    },
)


class SiteFaults:
    """The site's devices failing the controller: each fault lasts a block and is undone whatever happens."""

    def __init__(self, bench: Any, recorder: Any, clock: Any) -> None:
        self.bench = bench
        self.recorder = recorder
        self.clock = clock

    @contextlib.contextmanager
    def fault(self, action: str, restore: str, instruction: str) -> Iterator[float]:
        """A site-side fault for the block; yields its bench time."""
        t_s = self.clock.now()
        self.bench.operator_action(action, instruction)
        self.recorder.event("site_fault", action=action)
        try:
            yield t_s
        finally:
            self.bench.operator_action(restore, f"Undo: {instruction}")
            self.recorder.event("site_fault", action=restore)

    @contextlib.contextmanager
    def meter_silent(self, fail_safe_time_s: float) -> Iterator[float]:
        """The site meter stops answering the controller.

        From the controller's declared fail-safe time on it has no reading it may
        mirror: CTL-TELEM judges any it still posts as stale (FAULT_METER_SILENT at 1).
        """
        with self.fault(
            "meter-silent", "meter-restore", "Disconnect the site meter's Modbus link from the controller."
        ) as t_s:
            self.recorder.record(channels.FAULT_METER_SILENT, 1.0, t_s + fail_safe_time_s)
            try:
                yield t_s
            finally:
                self.recorder.record(channels.FAULT_METER_SILENT, 0.0)

    def inverter_silent(self, name: str) -> contextlib.AbstractContextManager[float]:
        return self.fault(
            f"inverter-silent:{name}",
            f"inverter-restore:{name}",
            f"Disconnect inverter {name}'s Modbus link from the controller.",
        )

    def inverter_strict_writes(self, name: str) -> contextlib.AbstractContextManager[float]:
        return self.fault(
            f"inverter-strict-writes:{name}",
            f"inverter-lenient-writes:{name}",
            f"Set inverter {name} to refuse block writes that cover a model header or read-only points "
            "(exception 2), as strict devices do.",
        )

    def inverter_ignores_writes(self, name: str) -> contextlib.AbstractContextManager[float]:
        return self.fault(
            f"inverter-ignores-writes:{name}",
            f"inverter-obeys-writes:{name}",
            f"Set inverter {name} to ignore its power limit (acknowledge writes, keep producing).",
        )


@pytest.fixture(scope="module")
def site(bench, recorder, clock, parameters) -> Site:
    """The site around the controller at nominal grid, no limit set locally."""
    if bench.controller is None:
        raise UserError(
            f"{bench.config.path}: the controller plans need a controller under test: add a [controller] "
            "table (see lab/benches/virtual-controller.toml)"
        )
    s = Site(bench, recorder, clock, parameters.plan, phases=parameters.plan.phases)
    s.energize()
    s.program("unrestricted")
    return s


@pytest.fixture(scope="module")
def faults(bench, recorder, clock) -> SiteFaults:
    return SiteFaults(bench, recorder, clock)


@pytest.fixture(scope="module")
def headend(bench, csip, recorder) -> Csip:
    """The bench's 2030.5 head-end, addressing the controller's EndDevice."""
    h = Csip(csip, recorder)
    h.lfdi = csip.lfdis[bench.config.controller.csip_device]
    return h
