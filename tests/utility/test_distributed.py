"""Envelopes of many feeders on Dask: same values as one process, failures reported, resume, lost workers."""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

import pandas as pd
import pytest

from flexbench.lab.cli import main
from flexbench.twin.distributed import (
    ATTEMPTS_DIR,
    close_client,
    partition_complete,
    partition_path,
    read_results,
    run_feeders,
    start_client,
)
from flexbench.twin.synthetic import FeederInstance, generate_instances, instance_envelope, write_manifest

BROKEN = """Clear
New Circuit.broken basekv=12.47 pu=1.0 phases=3 bus1=src
Redirect no_such_lines.dss
"""


@pytest.fixture(scope="module")
def cluster_client():
    """A LocalCluster of two worker processes, shared by the tests of this module.

    Worker processes, not threads: the OpenDSS library crashes when a Dask worker
    thread opens an engine context inside the test process.
    """
    client = start_client("local", workers=2, processes=True)
    yield client
    close_client(client)


def test_distributed_equals_single_process(tmp_path: Path, small_instances, cluster_client) -> None:
    summary = run_feeders(small_instances, tmp_path, client=cluster_client)
    assert not summary.failed and len(summary.done) == 4
    assert summary.workers == 2
    for inst in small_instances:
        reference = instance_envelope(inst).to_frame()  # fresh twin, this process
        stored = pd.read_parquet(partition_path(tmp_path, inst.instance_id))
        pd.testing.assert_frame_equal(stored, reference, check_exact=True)
    merged = read_results(tmp_path)
    assert set(merged["feeder"]) == {i.instance_id for i in small_instances}


def test_failed_feeder_is_reported_and_others_kept(tmp_path: Path, small_instances, cluster_client) -> None:
    master = tmp_path / "broken.dss"
    master.write_text(BROKEN)
    bad = FeederInstance(instance_id="broken-0", base=str(master), seed=1, horizon="1h")
    summary = run_feeders([bad, *small_instances[:2]], tmp_path / "out", client=cluster_client)
    assert list(summary.failed) == ["broken-0"]
    assert "FeederError" in summary.failed["broken-0"] and "does not compile" in summary.failed["broken-0"]
    assert len(summary.done) == 2
    assert any(line.startswith("FAILED broken-0") for line in summary.lines())
    assert not partition_complete(tmp_path / "out", "broken-0")


def test_resume_skips_complete_feeders(tmp_path: Path, small_instances, cluster_client) -> None:
    first = run_feeders(small_instances[:3], tmp_path, client=cluster_client)
    assert len(first.done) == 3
    partition_path(tmp_path, small_instances[1].instance_id).unlink()  # as if interrupted before this one
    second = run_feeders(small_instances, tmp_path, client=cluster_client)
    assert sorted(second.skipped) == sorted([small_instances[0].instance_id, small_instances[2].instance_id])
    assert sorted(d["instance_id"] for d in second.done) == sorted(
        [small_instances[1].instance_id, small_instances[3].instance_id]
    )


def test_killed_worker_feeder_is_retried(tmp_path: Path) -> None:
    """A worker process killed while it computes a feeder: Dask reruns it elsewhere, the run says so."""
    instances = generate_instances(4, bases=("ieee123",), seed=3, horizon="24h")
    client = start_client("local", workers=2, processes=True)
    result: dict = {}
    runner = threading.Thread(target=lambda: result.update(summary=run_feeders(instances, tmp_path, client=client)))
    try:
        runner.start()
        victim = None
        deadline = time.time() + 120
        while victim is None and time.time() < deadline:
            for inst in instances:
                marks = tmp_path / ATTEMPTS_DIR / inst.instance_id
                if marks.is_file() and not partition_complete(tmp_path, inst.instance_id):
                    victim = (inst.instance_id, int(marks.read_text().split()[1].split(":")[1]))
                    break
            time.sleep(0.05)
        assert victim is not None, "no feeder started"
        os.kill(victim[1], signal.SIGKILL)
        runner.join(180)
    finally:
        close_client(client)
    summary = result["summary"]
    assert not summary.failed and len(summary.done) == 4
    assert victim[0] in summary.retried
    assert any("retried after a lost worker" in line and victim[0] in line for line in summary.lines())
    assert all(partition_complete(tmp_path, i.instance_id) for i in instances)


def test_cli_feeders_and_resume(tmp_path: Path, capsys) -> None:
    manifest = write_manifest(generate_instances(2, bases=("ieee13",), seed=4, horizon="1h"), tmp_path / "m.json")
    out = tmp_path / "out"
    args = ["envelope", "--feeders", str(manifest), "--dask-workers", "1", "--out", str(out)]
    assert main(args) == 0
    assert "2 feeders computed" in capsys.readouterr().out
    assert main(args) == 0
    assert "2 already complete (skipped)" in capsys.readouterr().out
    assert main(["envelope", "--feeders", str(manifest), "--out", str(tmp_path / "x.csv")]) == 2
    assert "--out is a folder" in capsys.readouterr().err
