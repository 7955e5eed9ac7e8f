"""Regulator and capacitor state an envelope is computed from: an input, never history.

Taps and capacitor steps change the feeder as much as a large customer does, so
an envelope names where they came from and the same inputs always give the same
state. Four policies:

- `settle-half-load` (the default): each interval's controls settle by the
  model's own regulator and capacitor controls from the state they take at half
  of the model's peak load.
- `settle-file`: the same, starting from the state the model file gives.
- `file`: held at the model file's taps and capacitor states; controls do not act.
- `measured`: held at a measured state (tap positions, capacitor states as
  SCADA gives them), read from a state file by read_control_state.

A state file is a CSV with a header `element,state`, one row per element:
`regcontrol.NAME` (or `transformer.NAME`, the regulated transformer) with the
tap position as a signed step number (0 = neutral, +16 = the highest of 32
steps), `capacitor.NAME` with `open`/`closed` (every step) or one 0/1 per step
separated by spaces. Elements the file does not list keep the model file's state.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

from flexbench.twin.errors import TwinError

CONTROL_POLICIES = ("settle-half-load", "settle-file", "file", "measured")
CAPACITOR_WORDS = {"open": 0, "closed": 1, "off": 0, "on": 1}


class ControlStateError(TwinError):
    """A regulator and capacitor state (policy or state file) that cannot be used."""


@dataclass(frozen=True)
class ControlState:
    """Where an envelope's regulator taps and capacitor states come from (see module doc).

    taps: (regulator name, step number) pairs, names as the state file gives them;
    capacitors: (capacitor name, state of each step). Both only for `measured`.
    """

    policy: str = CONTROL_POLICIES[0]
    taps: tuple[tuple[str, int], ...] = ()
    capacitors: tuple[tuple[str, tuple[int, ...]], ...] = ()
    source: str = ""

    def __post_init__(self) -> None:
        if self.policy not in CONTROL_POLICIES:
            raise ControlStateError(
                f"regulator policy {self.policy!r}: use one of {', '.join(CONTROL_POLICIES)} or a state file"
            )
        if self.policy == "measured" and not (self.taps or self.capacitors):
            raise ControlStateError(f"{self.source or 'measured state'}: names no regulator or capacitor")

    @property
    def controls_act(self) -> bool:
        """Whether the model's controls settle each forecast (else the state is held)."""
        return self.policy.startswith("settle")

    def describe(self, block_intervals: int) -> str:
        """The regulator policy as an envelope records it."""
        carried = f"carried over within blocks of {block_intervals} intervals, frozen within an interval"
        if self.policy == "settle-half-load":
            return f"settled by the model's controls from the state at half of peak load, {carried}"
        if self.policy == "settle-file":
            return f"settled by the model's controls from the model file's state, {carried}"
        if self.policy == "file":
            return "held at the model file's taps and capacitor states (controls not acting)"
        taps = " ".join(f"{name}={step}" for name, step in self.taps)
        caps = " ".join(f"{name}={''.join(str(s) for s in steps)}" for name, steps in self.capacitors)
        stated = "; ".join(
            part for part in (f"taps {taps}" if taps else "", f"capacitors {caps}" if caps else "") if part
        )
        return (
            f"held at the measured state of {self.source}: {stated}; others as in the model file (controls not acting)"
        )


def control_state(value: ControlState | str | Path | None) -> ControlState:
    """A ControlState from a policy name or a state file path (None: the default policy)."""
    if value is None:
        return ControlState()
    if isinstance(value, ControlState):
        return value
    if str(value) in CONTROL_POLICIES:
        return ControlState(str(value))
    return read_control_state(value)


def read_control_state(path: str | Path) -> ControlState:
    """A measured state from a CSV state file (see module doc); errors name the file, line and element."""
    path = Path(path)
    if not path.is_file():
        raise ControlStateError(
            f"{path}: no such state file (or use a regulator policy: {', '.join(CONTROL_POLICIES[:3])})"
        )
    taps: dict[str, int] = {}
    caps: dict[str, tuple[int, ...]] = {}
    with path.open(newline="") as fh:
        rows = csv.reader(fh)
        header = [h.strip().lower() for h in next(rows, [])]
        if header != ["element", "state"]:
            raise ControlStateError(f"{path}:1: the header must be 'element,state', got {','.join(header)!r}")
        for line, row in enumerate(rows, start=2):
            if not row or not "".join(row).strip():
                continue
            if len(row) != 2:
                raise ControlStateError(f"{path}:{line}: expected element,state, got {len(row)} fields")
            element, state = row[0].strip().lower(), row[1].strip().lower()
            kind, _, name = element.partition(".")
            if element in taps or element in caps:
                raise ControlStateError(f"{path}:{line}: {element}: listed twice")
            if kind in ("regcontrol", "transformer") and name:
                try:
                    taps[element] = int(state)
                except ValueError:
                    raise ControlStateError(
                        f"{path}:{line}: {element}: the tap position is a whole step number, got {state!r}"
                    ) from None
            elif kind == "capacitor" and name:
                caps[element] = _capacitor_steps(path, line, element, state)
            else:
                raise ControlStateError(
                    f"{path}:{line}: {element!r}: name a regcontrol.NAME, transformer.NAME or capacitor.NAME"
                )
    return ControlState("measured", tuple(taps.items()), tuple(caps.items()), str(path))


def _capacitor_steps(path: Path, line: int, element: str, state: str) -> tuple[int, ...]:
    if state in CAPACITOR_WORDS:
        return (CAPACITOR_WORDS[state],)
    steps = state.split()
    if not steps or any(s not in ("0", "1") for s in steps):
        raise ControlStateError(f"{path}:{line}: {element}: the state is open, closed or 0/1 per step, got {state!r}")
    return tuple(int(s) for s in steps)
