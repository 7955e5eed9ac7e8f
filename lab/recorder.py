"""The recorder: timestamped samples streamed to the run folder, flushed every second.

Samples go to `samples/part-NNNNNN.parquet`, one complete Parquet file per
flush, written to a temporary name and renamed, so a run killed with SIGKILL
keeps every sample up to its last flush and no file is ever half-written.
Closing the recorder joins the parts into `samples.parquet`. Events (commands,
safe-state actions, errors) go line by line to `events.jsonl`.

Schema (long format): t_s (bench time, Unix seconds, float64), channel (str),
value (float64).
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from flexbench.lab.clock import Clock
from flexbench.lab.results import EVENTS_FILE

if TYPE_CHECKING:
    from flexbench.lab.station import Channels

log = logging.getLogger(__name__)

SCHEMA = pa.schema([("t_s", pa.float64()), ("channel", pa.string()), ("value", pa.float64())])
SAMPLES_FILE = "samples.parquet"
PARTS_DIR = "samples"


class SampleLog(Protocol):
    """The recorder as a test plan sees it: write samples and events, read back what was recorded."""

    def record(self, channel: str, value: float, t_s: float | None = None) -> None:
        """One sample, at `t_s` or now (bench time)."""
        ...

    def record_many(self, values: dict[str, float], t_s: float | None = None) -> None:
        """Samples of several channels at one time."""
        ...

    def event(self, kind: str, **data: Any) -> None:
        """An event line (a command sent, a step taken), kept even if the run dies."""
        ...

    def series(
        self, channel: str, start_s: float | None = None, end_s: float | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Times and values of one channel so far, optionally within [start_s, end_s]."""
        ...

    def frame(
        self, start_s: float | None = None, end_s: float | None = None, channels: Iterable[str] | None = None
    ) -> pd.DataFrame:
        """Every channel (or the named ones) so far as a long table (t_s, channel, value)."""
        ...


class Source:
    """A polled source of samples: `read()` returns channel -> value."""

    def __init__(self, name: str, read: Callable[[], dict[str, float]], period_s: float, min_wall_s: float) -> None:
        self.name = name
        self.read = read
        self.period_s = period_s
        self.min_wall_s = min_wall_s
        self.failing = False


class Recorder:
    def __init__(self, run_dir: Path, clock: Clock, flush_interval_s: float = 1.0) -> None:
        self.run_dir = Path(run_dir)
        self.clock = clock
        self.flush_interval_s = flush_interval_s
        (self.run_dir / PARTS_DIR).mkdir(parents=True, exist_ok=True)
        self._pending: list[tuple[float, str, float]] = []
        self._history: dict[str, list[tuple[float, float]]] = {}
        self._lock = threading.Lock()
        self._part = len(list((self.run_dir / PARTS_DIR).glob("part-*.parquet")))
        self._events = open(self.run_dir / EVENTS_FILE, "a", encoding="utf-8")
        self._sources: list[Source] = []
        self._source_failures: list[tuple[float, str, str]] = []  # (bench time, source, error), first of each run
        self._reads = threading.Condition()  # notified at the end of every poll
        self._last_read: dict[str, tuple[float, bool]] = {}  # source -> (bench time its last poll began, answered)
        self._stop = threading.Event()
        self._stop_polling = threading.Event()
        self._flusher = threading.Thread(target=self._flush_loop, name="recorder-flush", daemon=True)
        self._flusher.start()
        self._pollers: list[threading.Thread] = []
        self._closed = False
        self.listeners: list[Callable[[str, dict[str, Any]], None]] = []  # told of every event (the console)
        self.sample_listeners: list[Callable[[float, str, float], None]] = []  # told of every sample (the live view)

    # -- writing ----------------------------------------------------------------

    def record(self, channel: str, value: float, t_s: float | None = None) -> None:
        t = self.clock.now() if t_s is None else t_s
        v = float("nan") if value is None else float(value)
        with self._lock:
            self._pending.append((t, channel, v))
            self._history.setdefault(channel, []).append((t, v))
        for listener in self.sample_listeners:
            try:
                listener(t, channel, v)
            except Exception:  # what watches the run never stops it
                log.exception("sample listener failed")

    def record_many(self, values: dict[str, float], t_s: float | None = None) -> None:
        t = self.clock.now() if t_s is None else t_s
        for channel, value in values.items():
            self.record(channel, value, t)

    def event(self, kind: str, **data: Any) -> None:
        """An event line: written and flushed at once, so it survives a crash."""
        line = json.dumps({"t_s": self.clock.now(), "kind": kind, **data}, default=str)
        with self._lock:
            if self._events.closed:
                return
            self._events.write(line + "\n")
            self._events.flush()
        for listener in list(self.listeners):
            try:
                listener(kind, data)
            except Exception:  # what watches the run never stops it
                log.exception("event listener failed")

    def add_source(
        self, name: str, read: Callable[[], dict[str, float]], period_s: float, min_wall_s: float = 0.0
    ) -> None:
        """Poll `read` every `period_s` of bench time in a thread of its own, and never sooner than
        `min_wall_s` of wall time after the last poll began: an emulated instrument shows the virtual
        plant, which changes only that often, however high the time scale."""
        source = Source(name, read, period_s, min_wall_s)
        self._sources.append(source)
        thread = threading.Thread(target=self._poll, args=(source,), name=f"recorder-{name}", daemon=True)
        self._pollers.append(thread)
        thread.start()

    def await_reads(self, names: Iterable[str], after_s: float, timeout_s: float) -> list[str]:
        """Wait (at most timeout_s of wall time) until each named source has answered a poll begun at
        or after `after_s`; the names of those that did not, failing or silent: what was measured
        until `after_s` stands only if every instrument still answered after it."""
        deadline = time.monotonic() + timeout_s
        pending = set(names)
        with self._reads:
            while True:
                answered = {
                    n for n in pending if (r := self._last_read.get(n)) is not None and r[0] >= after_s and r[1]
                }
                failed = {
                    n for n in pending if (r := self._last_read.get(n)) is not None and r[0] >= after_s and not r[1]
                }
                pending -= answered
                left_s = deadline - time.monotonic()
                if pending <= failed or left_s <= 0:
                    return sorted(pending)
                self._reads.wait(left_s)

    def source_failures(self) -> list[tuple[float, str, str]]:
        """Every time a source began failing: (bench time, source name, error), oldest first."""
        with self._lock:
            return list(self._source_failures)

    def add_channels(self, groups: Iterable[Channels]) -> None:
        """Poll the channels components name (lab.station.Component.channels), each group in its thread."""
        for group in groups:
            self.add_source(group.source, group.read, group.period_s, group.min_wall_s)

    def _poll(self, source: Source) -> None:
        next_s = self.clock.now()
        while not self._stop_polling.is_set():
            t = self.clock.now()
            read_started = time.perf_counter()
            try:
                values = source.read()
            except Exception as exc:  # recorded and retried: the run decides whether to abort (source_failures)
                if not source.failing:
                    self.event("source_error", source=source.name, error=str(exc))
                    with self._lock:
                        self._source_failures.append((t, source.name, str(exc)))
                source.failing = True
            else:
                if source.failing:
                    self.event("source_recovered", source=source.name)
                source.failing = False
                self.record_many(values, t)
            with self._reads:
                self._last_read[source.name] = (t, not source.failing)
                self._reads.notify_all()
            next_s += source.period_s
            wait_s = (next_s - self.clock.now()) / self.clock.time_scale
            if wait_s < 0:
                # behind: never poll back to back, so the emulated devices and the device under
                # test in this process keep at least half the time a slow source would take
                next_s = self.clock.now()
                wait_s = time.perf_counter() - read_started
            wait_s = max(wait_s, source.min_wall_s - (time.perf_counter() - read_started))
            self._stop_polling.wait(wait_s)

    def _flush_loop(self) -> None:
        while not self._stop.wait(self.flush_interval_s):
            self.flush()

    def flush(self) -> None:
        with self._lock:
            rows, self._pending = self._pending, []
        if not rows:
            return
        t, channel, value = zip(*rows)
        table = pa.table({"t_s": list(t), "channel": list(channel), "value": list(value)}, schema=SCHEMA)
        parts = self.run_dir / PARTS_DIR
        self._part += 1
        final = parts / f"part-{self._part:06d}.parquet"
        tmp = parts / f".part-{self._part:06d}.tmp"
        pq.write_table(table, tmp)
        os.replace(tmp, final)

    # -- reading ----------------------------------------------------------------

    def series(
        self, channel: str, start_s: float | None = None, end_s: float | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Times and values of one channel recorded so far, optionally within [start_s, end_s]."""
        with self._lock:
            points = list(self._history.get(channel, []))
        if not points:
            return np.empty(0), np.empty(0)
        arr = np.asarray(points, dtype=float)
        t, v = arr[:, 0], arr[:, 1]
        order = np.argsort(t, kind="stable")
        t, v = t[order], v[order]
        mask = np.ones(len(t), dtype=bool)
        if start_s is not None:
            mask &= t >= start_s
        if end_s is not None:
            mask &= t <= end_s
        return t[mask], v[mask]

    def frame(
        self, start_s: float | None = None, end_s: float | None = None, channels: Iterable[str] | None = None
    ) -> pd.DataFrame:
        """Samples recorded so far as a long table (t_s, channel, value), optionally within a time range
        and of the named channels only (a test's plot: the pollers wait while this holds the lock)."""
        with self._lock:
            names = self._history.keys() if channels is None else [c for c in channels if c in self._history]
            rows = [
                (t, ch, v)
                for ch in names
                for t, v in self._history[ch]
                if (start_s is None or t >= start_s) and (end_s is None or t <= end_s)
            ]
        df = pd.DataFrame(rows, columns=["t_s", "channel", "value"])
        return df.sort_values("t_s", kind="stable").reset_index(drop=True)

    def channels(self) -> list[str]:
        with self._lock:
            return sorted(self._history)

    # -- closing ----------------------------------------------------------------

    def stop_polling(self) -> None:
        """Stop reading the instruments (before they are closed); recording goes on."""
        self._stop_polling.set()
        for thread in self._pollers:
            thread.join(timeout=10)

    def close(self) -> None:
        """Stop polling, flush, and join the parts into samples.parquet."""
        if self._closed:
            return
        self._closed = True
        self.stop_polling()
        self._stop.set()
        self._flusher.join(timeout=10)
        self.flush()
        consolidate(self.run_dir)
        with self._lock:
            self._events.close()


def consolidate(run_dir: Path) -> Path | None:
    """Join sample parts (and any earlier samples.parquet) into one file; keep parts that fail to read."""
    run_dir = Path(run_dir)
    frames = [load_samples(run_dir)]
    target = run_dir / SAMPLES_FILE
    if frames[0].empty and not target.exists():
        return None
    tmp = run_dir / ".samples.tmp"
    pq.write_table(pa.Table.from_pandas(frames[0], schema=SCHEMA, preserve_index=False), tmp)
    os.replace(tmp, target)
    for part in sorted((run_dir / PARTS_DIR).glob("part-*.parquet")):
        part.unlink()
    for stale in (run_dir / PARTS_DIR).glob(".part-*.tmp"):
        stale.unlink()
    return target


def load_samples(run_dir: Path) -> pd.DataFrame:
    """All samples of a run: samples.parquet plus any parts a crash left behind, sorted by time."""
    run_dir = Path(run_dir)
    frames: list[pd.DataFrame] = []
    whole = run_dir / SAMPLES_FILE
    if whole.exists():
        frames.append(pq.read_table(whole).to_pandas())
    for part in sorted((run_dir / PARTS_DIR).glob("part-*.parquet")):
        try:
            frames.append(pq.read_table(part).to_pandas())
        except (pa.ArrowInvalid, OSError) as exc:
            log.warning("skipping unreadable sample part %s: %s", part, exc)
    if not frames:
        return pd.DataFrame(
            {"t_s": pd.Series(dtype=float), "channel": pd.Series(dtype=str), "value": pd.Series(dtype=float)}
        )
    df = pd.concat(frames, ignore_index=True)
    return df.sort_values("t_s", kind="stable").reset_index(drop=True)


def load_events(run_dir: Path) -> list[dict[str, Any]]:
    """Events of a run; a last line cut by a crash is skipped."""
    path = Path(run_dir) / EVENTS_FILE
    if not path.exists():
        return []
    events = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            events.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return events
