"""Fault profiles of the virtual DUT: each one breaks a specific requirement.

A test plan is only trusted if it fails on a device that is wrong in the way
the plan is meant to catch; these profiles are those devices.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class FaultProfile:
    name: str
    description: str
    response_delay_s: float | None = None  # override of the DUT's dead time
    damping_ratio: float | None = None  # second-order damping (1.0 = no overshoot)
    natural_frequency_rad_s: float | None = None
    ignores_limit: bool = False
    comms_drop_after_first_write_s: float | None = None  # Modbus stops answering this long after the first limit write


FAULT_PROFILES: dict[str, FaultProfile] = {
    p.name: p
    for p in (
        FaultProfile("healthy", "follows limits within the response window"),
        FaultProfile(
            "slow", "starts responding 45 s after a command: misses the 30 s response window", response_delay_s=45.0
        ),
        FaultProfile(
            "overshoot",
            "lightly damped response that rings above the limit long after the command",
            damping_ratio=0.03,
            natural_frequency_rad_s=0.5,
        ),
        FaultProfile("ignores-limit", "accepts limit writes and never acts on them", ignores_limit=True),
        FaultProfile(
            "drops-comms",
            "stops answering Modbus 20 s after the first limit write",
            comms_drop_after_first_write_s=20.0,
        ),
    )
}


def fault_profile(name: str) -> FaultProfile:
    try:
        return FAULT_PROFILES[name]
    except KeyError:
        raise KeyError(f"unknown DUT profile {name!r} (known: {', '.join(FAULT_PROFILES)})") from None
