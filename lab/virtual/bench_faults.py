"""Faults of the bench itself, on the virtual bench: an emulated instrument that fails mid-run.

`--bench-fault NAME:MODE[@BENCH_S]` makes the bench file's instrument NAME fail
BENCH_S bench seconds after the first test's body began (default 0), so every
path that must notice a failed instrument is tested on purpose:

- ``silent``: it keeps its connections and reads requests but never answers,
  like a hung instrument (every read times out, its safe state cannot be confirmed);
- ``gone``: its server stops: connections are closed and reconnects refused,
  like an instrument switched off or unplugged;
- ``errors``: it answers, but refuses every request with an error (SCPI
  "Hardware error" in its queue, Modbus exception 4), like an instrument in a
  fault state (interlock open, over-temperature).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

from flexbench.lab.errors import UserError

MODES = ("silent", "gone", "errors")


@dataclass(frozen=True)
class BenchFault:
    instrument: str
    mode: str
    after_s: float

    @classmethod
    def parse(cls, text: str) -> BenchFault:
        """NAME:MODE[@BENCH_S], e.g. grid:silent@20."""
        name, sep, rest = text.partition(":")
        mode, at, after = rest.partition("@")
        if not sep or not name or mode not in MODES:
            raise UserError(f"--bench-fault {text!r}: expected NAME:MODE[@BENCH_S] with MODE one of {', '.join(MODES)}")
        try:
            after_s = float(after) if at else 0.0
        except ValueError:
            raise UserError(f"--bench-fault {text!r}: {after!r} is not a number of bench seconds") from None
        if after_s < 0:
            raise UserError(f"--bench-fault {text!r}: the time must not be negative")
        return cls(name, mode, after_s)


def inject(fault: BenchFault, emulator: Any, clock: Any, on_event: Any) -> threading.Thread:
    """Fail `emulator` at `fault.after_s` bench seconds from now, in a thread of its own."""

    def fail() -> None:
        clock.sleep(fault.after_s)
        on_event("bench_fault", {"instrument": fault.instrument, "mode": fault.mode})
        if fault.mode == "silent":
            emulator.responding = False
        elif fault.mode == "errors":
            emulator.failing = True
        else:
            emulator.stop()

    thread = threading.Thread(target=fail, name=f"bench-fault-{fault.instrument}", daemon=True)
    thread.start()
    return thread
