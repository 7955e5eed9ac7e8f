"""One test's procedure: steps with their clauses, waits, and checks that record Results.

Every step and check is written to the run's events.jsonl and logged (logger
`flexbench.plan`, shown live by `flexbench run -v`), so a run reads like the
procedure it followed. Checks take their numbers from the caller and their
signal math from lab.evaluate; each returns the Result it recorded.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from flexbench.core import Result, Verdict, channels
from flexbench.lab import evaluate
from flexbench.lab.plan.definition import Parameters

log = logging.getLogger("flexbench.plan")


@dataclass(frozen=True)
class Quantity:
    """A recorded channel as a check reads it: scaled (export is minus the PCC import), with unit and name."""

    channel: str
    scale: float = 1.0
    unit: str = "W"
    name: str = ""


PCC_IMPORT = Quantity(channels.PCC_P_W, 1.0, "W", "PCC import")
PCC_EXPORT = Quantity(channels.PCC_P_W, -1.0, "W", "PCC export")
DUT_POWER = Quantity(channels.DUT_P_W, 1.0, "W", "DUT active power")
BUSBAR_CURRENT = Quantity(channels.BUSBAR_I_A, 1.0, "A", "busbar current")


def pcc(side: str) -> Quantity:
    """The PCC's import or export."""
    if side not in ("import", "export"):
        raise ValueError(f"side must be 'import' or 'export', got {side!r}")
    return PCC_IMPORT if side == "import" else PCC_EXPORT


@dataclass(frozen=True)
class Window:
    """A span of bench time shaded on the evidence plot."""

    start_s: float
    end_s: float
    label: str


PCC_CHANNELS = {channels.PCC_P_W: "PCC import (analyzer)", channels.BUSBAR_P_W: "sources on the busbar (analyzer)"}
PCC_LIMITS = {channels.LIMIT_PCC_MIN_W: "-export setting", channels.LIMIT_PCC_MAX_W: "import setting"}


class Procedure:
    """The steps of one test on the bench, its waits, and its checks.

    `declared` names, per requirement ID, the device's declared values a check is
    judged against (UL 3141 holds a PCS to its own declaration); the report prints them.
    """

    def __init__(
        self,
        *,
        parameters: Parameters[Any],
        recorder: Any,
        clock: Any,
        verdicts: Any,
        declared: Callable[[str], str] | None = None,
    ) -> None:
        self.parameters = parameters
        self.recorder = recorder
        self.clock = clock
        self.verdicts = verdicts
        self.declared = declared
        self.started_s: float = clock.now()

    @property
    def params(self) -> Any:
        """The plan's `[plans.NAME]` values (the model the plan declared)."""
        return self.parameters.plan

    def requirement(self, requirement_id: str) -> Any:
        """The `[requirements.ID]` values (the model the plan declared for it)."""
        return self.parameters.requirement(requirement_id)

    # -- steps and waits ---------------------------------------------------------------

    def now(self) -> float:
        return float(self.clock.now())

    def step(self, text: str, clause: str = "", **data: Any) -> float:
        """A step of the procedure, logged with its clause; returns its bench time."""
        t_s = self.now()
        self.recorder.event("step", test=self.verdicts.nodeid, clause=clause, text=text, **data)
        log.info("%s%s", f"[{clause}] " if clause else "", text)
        return t_s

    def progress(self, text: str) -> None:
        """Where a long step is (e.g. "interval 14/72"): shown on the console, kept in events.jsonl."""
        self.recorder.event("progress", test=self.verdicts.nodeid, text=text)

    def wait(self, seconds: float) -> float:
        """Let bench time pass; returns the bench time after."""
        if seconds > 0:
            self.clock.sleep(seconds)
        return self.now()

    def wait_until(self, t_s: float) -> float:
        """Wait until a bench time (no wait when it has passed)."""
        self.clock.sleep_until(t_s)
        return self.now()

    def wait_for(self, condition: Callable[[], bool], *, timeout_s: float, poll_s: float = 1.0) -> bool:
        """Wait until `condition()` holds, looking every poll_s; False when timeout_s passed first."""
        end_s = self.now() + timeout_s
        while self.now() < end_s:
            self.clock.sleep(poll_s)
            if condition():
                return True
        return False

    def series(
        self, quantity: Quantity, start_s: float | None = None, end_s: float | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Samples of a quantity, from the start of the procedure to now unless a span is given."""
        t, v = self.recorder.series(
            quantity.channel, self.started_s if start_s is None else start_s, self.now() if end_s is None else end_s
        )
        return t, v * quantity.scale

    # -- checks ------------------------------------------------------------------------

    def record(self, result: Result) -> Result:
        """Record a Result made elsewhere (a check of the plan's own), logged like every check."""
        declared = self.declared(result.requirement_id) if self.declared is not None else ""
        self.verdicts.check(result, declared=declared)
        self.recorder.event(
            "check",
            test=self.verdicts.nodeid,
            requirement_id=result.requirement_id,
            verdict=str(result.verdict),
            message=result.message,
        )
        log.info("%s %s: %s", result.requirement_id, str(result.verdict).upper(), result.message)
        return result

    def expect(
        self,
        requirement_id: str,
        *,
        criterion: str,
        passed: bool | None,
        message: str,
        measured: float | None = None,
        limit: float | None = None,
        unit: str = "",
        margin: float | None = None,
    ) -> Result:
        """A check the plan judges itself (a status reported, a count), stated as criterion and message;
        `passed` None: the check cannot be made on this device (not applicable, the message says why)."""
        verdict = Verdict.NOT_APPLICABLE if passed is None else Verdict.PASS if passed else Verdict.FAIL
        return self.record(
            Result(
                requirement_id=requirement_id,
                criterion=criterion,
                verdict=verdict,
                message=message,
                measured=measured,
                limit=limit,
                unit=unit,
                margin=margin,
            )
        )

    def expect_reaches(
        self,
        requirement_id: str,
        quantity: Quantity,
        *,
        target: float,
        tolerance: float,
        within_s: float,
        t_cmd_s: float,
    ) -> Result:
        """The quantity comes down to target + tolerance within `within_s` of the command."""
        t, y = self.series(quantity)
        return self.record(
            evaluate.reaches_within(
                requirement_id,
                t,
                y,
                t_cmd_s=t_cmd_s,
                target=target,
                tolerance=tolerance,
                max_time_s=within_s,
                unit=quantity.unit,
            )
        )

    def expect_settles(
        self,
        requirement_id: str,
        quantity: Quantity,
        *,
        at_or_below: float,
        within_s: float,
        t_step_s: float,
        end_s: float | None = None,
        label: str = "",
    ) -> Result:
        """After a step, the quantity is at or below the bound from `within_s` on, to the end of the record."""
        t, y = self.series(quantity, end_s=end_s)
        return self.record(
            evaluate.settles_within(
                requirement_id,
                t,
                y,
                t_step_s=t_step_s,
                end_s=self.now() if end_s is None else end_s,
                limit=at_or_below,
                max_time_s=within_s,
                unit=quantity.unit,
                label=label,
            )
        )

    def expect_at_or_below(
        self,
        requirement_id: str,
        quantity: Quantity,
        *,
        limit: float,
        start_s: float,
        end_s: float,
        t_cmd_s: float = 0.0,
        label: str = "",
    ) -> Result:
        """The quantity never above the limit over the window [start_s, end_s]."""
        t, y = self.series(quantity)
        return self.record(
            evaluate.stays_at_or_below(
                requirement_id,
                t,
                y,
                start_s=start_s,
                end_s=end_s,
                limit=limit,
                unit=quantity.unit,
                label=label,
                t_cmd_s=t_cmd_s,
            )
        )

    def expect_responses(self, requirement_id: str, *, subject: str, got: list[int], expected: list[int]) -> Result:
        """2030.5: the Responses a device posted for a control are exactly `expected`, in order."""
        ok = got == expected
        return self.expect(
            requirement_id,
            criterion=f"Responses {', '.join(map(str, expected))} posted for the control",
            passed=ok,
            message=f"Responses {got or 'none'} posted for control {subject}"
            + ("" if ok else f", expected {expected}"),
        )

    def expect_response(self, requirement_id: str, *, subject: str, got: list[int], status: int, what: str) -> Result:
        """2030.5: a device posted Response `status` (e.g. 7 superseded) for a control."""
        return self.expect(
            requirement_id,
            criterion=f"Response {status} ({what}) posted for {subject}",
            passed=status in got,
            message=f"Responses {got or 'none'} for {subject}",
        )

    # -- evidence ----------------------------------------------------------------------

    def evidence(
        self,
        title: str,
        *,
        t_step_s: float,
        windows: Iterable[Window] = (),
        channels: Mapping[str, str] = PCC_CHANNELS,
        steps: Mapping[str, str] = PCC_LIMITS,
        start_s: float | None = None,
        end_s: float | None = None,
        **style: Any,
    ) -> None:
        """The plot for this test's report: channels against their limits, from the start to now, windows shaded."""
        self.verdicts.evidence(
            title=title,
            t_cmd_s=t_step_s,
            start_s=self.started_s if start_s is None else start_s,
            end_s=self.now() if end_s is None else end_s,
            channels=dict(channels),
            steps=dict(steps),
            xlabel="time from the step (s, bench time)",
            windows=[{"start_s": w.start_s, "end_s": w.end_s, "label": w.label} for w in windows],
            **style,
        )


def response_window(t_step_s: float, seconds: float, ramp_s: float | None = None) -> Window:
    """The window after a step in which the site may still be above its new limit: the response time, and
    the ramp time the bench sent with the limit (a DUT told to ramp is judged once the ramp is over)."""
    ramp_words = f" + ramp {ramp_s:g} s" if ramp_s else ""
    return Window(t_step_s, t_step_s + seconds + (ramp_s or 0.0), f"response window {seconds:g} s{ramp_words}")


def limit_sent(limit_w: float, ramp_s: float | None = None) -> str:
    """A limit as the bench sent it, for steps and criteria: "limit 3000 W, ramp 30 s" (no ramp: "limit 3000 W")."""
    return f"limit {limit_w:.0f} W" + (f", ramp {ramp_s:g} s" if ramp_s else "")
