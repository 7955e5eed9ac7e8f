"""Any feeder compiles safely: what a model writes goes to its engine's own folder.

The test feeder is the shipped IEEE 13 with regulator debug traces and an export
in the file; OpenDSS used to write them next to the model, where a second engine
(in process or in a worker) failed with "Unable to create file ... Bad file number".
"""

from __future__ import annotations

import gc
import os
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

from flexbench.twin import Twin, compute_envelope
from flexbench.twin.compute import EnvelopeSettings
from flexbench.twin.engine import Engine
from flexbench.twin.errors import FeederError
from flexbench.twin.feeders import FEEDER_DIR, FeederSource
from flexbench.twin.operating_envelopes import _init_worker, _pool_start, _run_chunk

DEBUGTRACE = Path(__file__).parent / "feeders" / "ieee13_debugtrace.dss"
TRACES = {"REG_reg1.csv", "REG_reg2.csv"}


def _listings() -> dict[Path, set[str]]:
    folders = (DEBUGTRACE.parent, FEEDER_DIR / "ieee13", Path.cwd())
    return {f: set(os.listdir(f)) for f in folders}


def test_two_engines_alive_at_once_compile_a_tracing_feeder():
    before = _listings()
    first = Twin.from_file(DEBUGTRACE)
    second = Twin.from_file(DEBUGTRACE)
    assert first.engine.output_dir != second.engine.output_dir
    for twin in (first, second):
        written = set(os.listdir(twin.engine.output_dir))
        assert TRACES <= written, written
        assert any("EXP_VOLTAGES" in name for name in written), written
        twin.solve_forecast()
    # both keep tracing while they solve; nothing lands beside the model or in the cwd
    assert _listings() == before
    np.testing.assert_allclose(first.state().vm_pu, second.state().vm_pu)


# A caller with no other thread: a fresh interpreter, since earlier tests may leave threads in this one.
_FORKED = """
import sys
import numpy as np
from flexbench.twin import Twin, compute_envelope
from flexbench.twin.operating_envelopes import _pool_start
twin = Twin.from_file(sys.argv[1])
env = compute_envelope(twin, "variable", workers=2, start="2025-07-14", horizon="24h", resolution="1h", allocation="equal")
np.savez(sys.argv[2], imp=env.import_limit_w, exp=env.export_limit_w, verified=env.verified,
         method=_pool_start(twin)[0].get_start_method())
"""


@pytest.mark.parametrize("caller", ["single-threaded", "threaded"])
def test_two_workers_compile_a_tracing_feeder(caller, tmp_path):
    """Forked workers share the caller's compiled twin; a threaded caller's workers are
    spawned and each compiles the feeder itself."""
    before = _listings()
    twin = Twin.from_file(DEBUGTRACE)
    kwargs = dict(start="2025-07-14", horizon="24h", resolution="1h", allocation="equal")
    if caller == "single-threaded":
        out = tmp_path / "pooled.npz"
        subprocess.run([sys.executable, "-c", _FORKED, str(DEBUGTRACE), str(out)], check=True, timeout=600)
        got = np.load(out)
        method, verified, imp, exp = str(got["method"]), bool(got["verified"]), got["imp"], got["exp"]
    else:
        stop = threading.Event()
        other = threading.Thread(target=stop.wait)
        other.start()
        try:
            method = _pool_start(twin)[0].get_start_method()
            pooled = compute_envelope(twin, "variable", workers=2, **kwargs)
        finally:
            stop.set()
            other.join()
        verified, imp, exp = pooled.verified, pooled.import_limit_w, pooled.export_limit_w
    assert method == ("fork" if caller == "single-threaded" else "spawn")
    alone = compute_envelope(twin, "variable", workers=1, **kwargs)
    assert verified and imp.shape == (len(twin.site_ids), 24)
    np.testing.assert_allclose(imp, alone.import_limit_w, rtol=1e-4, atol=1.0)
    np.testing.assert_allclose(exp, alone.export_limit_w, rtol=1e-4, atol=1.0)
    assert _listings() == before


def test_an_engines_folder_goes_with_it():
    engine = Engine()
    engine.compile(FeederSource("trace", DEBUGTRACE))
    folder = engine.output_dir
    assert TRACES <= set(os.listdir(folder))
    del engine
    gc.collect()
    assert not folder.exists()


def test_divergence_names_the_node_and_the_load_there(tmp_path):
    heavy = tmp_path / "heavy.dss"
    heavy.write_text(
        "Clear\nNew Circuit.heavy basekv=4.16 pu=1.0 r1=50 x1=50\n"
        "New Line.l1 bus1=sourcebus bus2=b2 r1=30 x1=30\n"
        "New Load.big bus1=b2 kW=90000 kv=4.16 vminpu=0.0 vlowpu=0 model=1\n"
        "Set voltagebases=[4.16]\ncalcv\n"
    )
    with pytest.raises(FeederError) as err:
        Twin.from_file(heavy)
    msg = str(err.value)
    assert "heavy.dss" in msg and "did not converge" in msg
    assert "at node b2." in msg and "Load.big" in msg


def test_a_worker_whose_feeder_fails_reports_the_feeder_error(tmp_path):
    bad = tmp_path / "gone.dss"
    bad.write_text("Clear\nNew Circuit.gone basekv=4.16\nNew Line.l1 bus1=sourcebus bus2=b2 lenght=1\n")
    _init_worker(FeederSource("gone", bad), np.arange(1), EnvelopeSettings())
    try:
        with pytest.raises(FeederError, match="gone.dss"):
            _run_chunk([])
    finally:
        from flexbench.twin.operating_envelopes import _WORKER

        _WORKER.clear()
