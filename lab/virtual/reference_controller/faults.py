"""Fault variants of the reference controller, each breaking one requirement on purpose.

Chosen with --fault (the bench passes its --dut-profile). They exist so every
check of the controller-mode plans is shown to fail on a controller that is
wrong in that one way.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Fault:
    name: str
    description: str
    delay_s: float = 0.0  # commands reach the devices this much later (bench s)
    ignores_limits: bool = False  # never limits anything
    no_fail_safe: bool = False  # keeps its last commands when the meter goes silent
    freezes_on_loss: bool = False  # keeps the last utility limits when the server is lost
    crash_after_s: float | None = None  # exits with an error this long after starting (bench s)
    trusts_time: bool = False  # follows the server's Time however far it is from its own clock
    trusts_inverters: bool = False  # assumes every inverter follows its cap
    halts_on_silent: bool = False  # a silent inverter stops the whole control cycle
    telemetry_sign: float = 1.0  # -1: posts PCC power with the sign flipped
    whole_models_only: bool = False  # writes legacy model 123 only whole from its header, even when refused


FAULTS: dict[str, Fault] = {
    f.name: f
    for f in (
        Fault("healthy", "limits export and import, fails safe as declared"),
        Fault("slow", "every command reaches the inverters 20 s late", delay_s=20.0),
        Fault("ignores-limit", "reads its limits and never applies them", ignores_limits=True),
        Fault("no-failsafe", "keeps exporting when the meter goes silent", no_fail_safe=True),
        Fault("ignores-comm-loss", "keeps the last 2030.5 limits when the server is lost", freezes_on_loss=True),
        Fault("crash", "exits with an error 60 s after it starts", crash_after_s=60.0),
        Fault("trusts-time", "follows a skewed 2030.5 Time resource", trusts_time=True),
        Fault("trusts-inverters", "never notices an inverter that ignores its writes", trusts_inverters=True),
        Fault("halts-on-silent", "stops controlling while an inverter does not answer", halts_on_silent=True),
        Fault("bad-telemetry", "posts its PCC reading with the sign flipped", telemetry_sign=-1.0),
        Fault(
            "rigid-writes",
            "writes model 123 only as a whole block from its header, even to a device that refuses it",
            whole_models_only=True,
        ),
    )
}
