"""Envelopes for many feeders on Dask: one task per feeder, results in Parquet partitioned by feeder.

- Workers keep compiled twins between tasks: a per-process cache keyed by
  base feeder, so 1,000 instances of IEEE 123 compile IEEE 123 once per worker
  (an instance differs in loads, PV and sites, which the envelope sets anyway).
- Each feeder's result is written by the worker to OUT/feeder=<id>/envelope.parquet
  (a temporary file renamed into place, so a partition is either complete or absent).
  A run resumed over the same OUT skips feeders whose partition is there.
- A feeder that fails (does not compile, does not converge) is reported with its
  error; the others go on. A worker lost mid-task (killed, out of memory) makes
  Dask run its task again elsewhere; every attempt leaves a line in
  OUT/_attempts/<id>, so the run can say which feeders were retried.

    summary = run_feeders(instances, "out/", scheduler="local", workers=2, progress=print)
"""

from __future__ import annotations

import json
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from flexbench.twin.compute import EnvelopeSettings
from flexbench.twin.synthetic import FeederInstance, instance_envelope
from flexbench.twin.twin import Twin

PARTITION_FILE = "envelope.parquet"
ATTEMPTS_DIR = "_attempts"
SUMMARY_FILE = "_summary.json"
Progress = Callable[[int, int, int], None]  # done, failed, total

_CACHE_LOCK = threading.Lock()
# OpenDSS engines of one process must not run concurrently (separate contexts in two
# threads crash the engine library): threads of one worker process take turns, and
# parallelism comes from worker processes.
_ENGINE_LOCK = threading.Lock()
_TWINS: dict[tuple[int, str], Twin] = {}  # (process id, base) -> compiled twin
_STATS = {"compiled": 0, "reused": 0}


# -- layout -----------------------------------------------------------------------------------
def partition_path(out_dir: str | Path, instance_id: str) -> Path:
    return Path(out_dir) / f"feeder={instance_id}" / PARTITION_FILE


def partition_complete(out_dir: str | Path, instance_id: str) -> bool:
    """A partition is complete once its file is in place (written to a temporary name, then renamed)."""
    path = partition_path(out_dir, instance_id)
    if not path.is_file():
        return False
    try:
        import pyarrow.parquet as pq

        pq.read_metadata(path)
    except Exception:
        return False
    return True


def attempts(out_dir: str | Path, instance_id: str) -> list[str]:
    path = Path(out_dir) / ATTEMPTS_DIR / instance_id
    return path.read_text().splitlines() if path.is_file() else []


# -- the task ---------------------------------------------------------------------------------
def cached_twin(base: str) -> Twin:
    """This process's compiled twin of a base feeder (compiled on first use); call under _ENGINE_LOCK."""
    key = (os.getpid(), base)
    with _CACHE_LOCK:
        twin = _TWINS.get(key)
    if twin is None:
        twin = Twin.load(base)
        with _CACHE_LOCK:
            _TWINS[key] = twin
            _STATS["compiled"] += 1
    else:
        with _CACHE_LOCK:
            _STATS["reused"] += 1
    return twin


def feeder_task(instance: FeederInstance, out_dir: str, settings: EnvelopeSettings) -> dict[str, Any]:
    """Compute one feeder's day-ahead envelope and write its partition; returns a small summary."""
    where = f"{socket.gethostname()}:{os.getpid()}:{threading.get_ident()}"
    marks = Path(out_dir) / ATTEMPTS_DIR
    marks.mkdir(parents=True, exist_ok=True)
    with (marks / instance.instance_id).open("a") as fh:
        fh.write(f"{time.time():.3f} {where}\n")
    with _ENGINE_LOCK:
        t0 = time.perf_counter()
        env = instance_envelope(instance, cached_twin(instance.base), settings)
        seconds = time.perf_counter() - t0
    target = partition_path(out_dir, instance.instance_id)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{PARTITION_FILE}.{os.getpid()}.{threading.get_ident()}.tmp")
    env.to_parquet(tmp)
    os.replace(tmp, target)
    sites, intervals = env.shape
    return {
        "instance_id": instance.instance_id,
        "base": instance.base,
        "sites": sites,
        "intervals": intervals,
        "site_intervals": sites * intervals,
        "seconds": seconds,
        "verified": bool(env.verified),
        "worker": where,
    }


# -- the run ---------------------------------------------------------------------------------
@dataclass
class RunSummary:
    """What a run did: feeders done, skipped (already complete), failed (with reasons), retried."""

    total: int
    done: list[dict[str, Any]] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    retried: dict[str, int] = field(default_factory=dict)
    workers_lost: int = 0
    workers: int = 0
    wall_s: float = 0.0

    @property
    def site_intervals(self) -> int:
        return sum(d["site_intervals"] for d in self.done)

    def as_dict(self) -> dict[str, Any]:
        return {
            "total": self.total,
            "done": len(self.done),
            "skipped": len(self.skipped),
            "failed": self.failed,
            "retried": self.retried,
            "workers_lost": self.workers_lost,
            "workers": self.workers,
            "wall_s": round(self.wall_s, 3),
            "site_intervals": self.site_intervals,
            "feeders": self.done,
        }

    def lines(self) -> list[str]:
        out = [
            f"{len(self.done)} feeders computed, {len(self.skipped)} already complete (skipped), "
            f"{len(self.failed)} failed, of {self.total}; {self.site_intervals} site-intervals in "
            f"{self.wall_s:.1f} s on {self.workers} workers"
        ]
        if self.retried:
            out.append(
                f"retried after a lost worker ({self.workers_lost} lost): "
                + ", ".join(f"{k} ({n} attempts)" for k, n in sorted(self.retried.items()))
            )
        out += [f"FAILED {k}: {v}" for k, v in sorted(self.failed.items())]
        return out


def start_client(scheduler: str = "local", workers: int | None = None, processes: bool = True) -> Any:
    """A dask.distributed Client: a LocalCluster (one thread per worker) or an existing scheduler's address."""
    from distributed import Client, LocalCluster

    if scheduler == "local":
        cluster = LocalCluster(
            n_workers=workers or os.cpu_count() or 1,
            threads_per_worker=1,
            processes=processes,
            host="127.0.0.1",
            dashboard_address=":0",
            worker_dashboard_address=":0",
        )  # any free port
        client = Client(cluster)
        client.flexbench_owns_cluster = True  # type: ignore[attr-defined]
        return client
    return Client(scheduler, timeout="30s")


def close_client(client: Any) -> None:
    cluster = getattr(client, "cluster", None) if getattr(client, "flexbench_owns_cluster", False) else None
    client.close()
    if cluster is not None:
        cluster.close()


def run_feeders(
    instances: list[FeederInstance],
    out_dir: str | Path,
    *,
    scheduler: str = "local",
    workers: int | None = None,
    client: Any = None,
    settings: EnvelopeSettings | None = None,
    progress: Progress | None = None,
    resume: bool = True,
    retries: int = 0,
) -> RunSummary:
    """Every instance's envelope into OUT (Parquet partitioned by feeder), on Dask.

    Pass a `client` to reuse a cluster; otherwise one is started from
    `scheduler` ('local' or an address) and closed at the end. A task lost with
    its worker is rerun by Dask whatever `retries` says; `retries` reruns
    feeders that raised (off by default: a feeder that does not converge will
    not converge the second time).
    """
    from distributed import as_completed

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    settings = settings or EnvelopeSettings()
    summary = RunSummary(total=len(instances))
    todo = []
    for inst in instances:
        if resume and partition_complete(out, inst.instance_id):
            summary.skipped.append(inst.instance_id)
        else:
            (out / ATTEMPTS_DIR / inst.instance_id).unlink(missing_ok=True)
            todo.append(inst)
    if not todo:
        (out / SUMMARY_FILE).write_text(json.dumps(summary.as_dict(), indent=1, default=str) + "\n")
        if progress:
            progress(summary.total, 0, summary.total)
        return summary
    own = client is None
    client = client or start_client(scheduler, workers)
    t0 = time.perf_counter()
    try:
        seen_workers = set(client.scheduler_info()["workers"])
        summary.workers = len(seen_workers)
        run_id = uuid.uuid4().hex[:8]  # keys unique per run: a cluster may still hold an earlier run's results
        futures = {
            client.submit(
                feeder_task,
                inst,
                str(out),
                settings,
                key=f"feeder-{inst.instance_id}-{run_id}",
                retries=retries,
                pure=False,
            ): inst.instance_id
            for inst in todo
        }
        done = len(summary.skipped)
        if progress:
            progress(done, 0, summary.total)
        for future in as_completed(futures):
            instance_id = futures[future]
            try:
                summary.done.append(future.result())
            except Exception as exc:
                summary.failed[instance_id] = f"{type(exc).__name__}: {exc}"
            done += 1
            now_workers = set(client.scheduler_info()["workers"])
            summary.workers_lost += len(seen_workers - now_workers)
            seen_workers = now_workers
            if progress:
                progress(done, len(summary.failed), summary.total)
    finally:
        summary.wall_s = time.perf_counter() - t0
        if own:
            close_client(client)
    for inst in todo:
        n = len(attempts(out, inst.instance_id))
        if n > 1:
            summary.retried[inst.instance_id] = n
    (out / SUMMARY_FILE).write_text(json.dumps(summary.as_dict(), indent=1, default=str) + "\n")
    return summary


def read_results(out_dir: str | Path) -> Any:
    """Every complete partition as one DataFrame with a `feeder` column."""
    import pandas as pd

    frames = []
    for path in sorted(Path(out_dir).glob(f"feeder=*/{PARTITION_FILE}")):
        frame = pd.read_parquet(path)
        frame.insert(0, "feeder", path.parent.name.split("=", 1)[1])
        frames.append(frame)
    if not frames:
        return pd.DataFrame()
    return pd.concat(frames, ignore_index=True)
