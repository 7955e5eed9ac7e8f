"""What every emulator shares: an injectable clock and a log of what clients sent."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Protocol


class Clock(Protocol):
    """Anything with now() in seconds: the lab's scaled clock, or the wall clock."""

    def now(self) -> float: ...


class WallClock:
    def now(self) -> float:
        return time.time()


@dataclass(frozen=True)
class CommandRecord:
    """One program message (SCPI) as received, stamped with the emulator's clock."""

    time_s: float
    command: str


class CommandLog:
    """Thread-safe record of every message or request an emulator received."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: list[Any] = []

    def append(self, record: Any) -> None:
        with self._lock:
            self._entries.append(record)

    def entries(self) -> list[Any]:
        with self._lock:
            return list(self._entries)

    def commands(self) -> list[str]:
        return [e.command for e in self.entries()]

    def since(self, mark: int) -> list[str]:
        """Commands received after `mark` (an earlier len(log))."""
        return self.commands()[mark:]

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)

    def __iter__(self) -> Iterator[Any]:
        return iter(self.entries())
