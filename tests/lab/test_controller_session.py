"""A controller with no flexbench API: set up through its own configuration, awaited by its traffic, and
brought to a known state before each test.

The reference controller stands in for a third-party one here: it takes its site settings from its own
JSON file (`--settings`), re-read when it changes, and the bench's configure command copies the plans'
settings there; it serves no register the bench reads.
"""

from __future__ import annotations

import json
from pathlib import Path

from flexbench_cli import flexbench

ROOT = Path(__file__).resolve().parents[2]
BENCH = ROOT / "lab/benches/virtual-controller.toml"
PLANS = ["testplans/ul3141/test_limit_change.py", "testplans/ul3141/test_modes.py"]


def _configured_bench(tmp_path: Path) -> Path:
    text = BENCH.read_text()
    command = next(line for line in text.splitlines() if line.startswith("command = "))
    own = (
        'command = ["{python}", "-m", "flexbench.lab.virtual.reference_controller", "{site_file}", '
        '"--fault", "{dut_profile}", "--settings", "{run_dir}/reference-settings.json"]\n'
        'configure = ["cp", "{settings_file}", "{run_dir}/reference-settings.json"]\n'
        "configure_restarts = false\n"
        'settings = ["export_limit_w", "import_limit_w"]'
    )
    text = text.replace(command, own).replace('session = "shared"', 'session = "per-test"')
    assert 'session = "per-test"' in text
    path = tmp_path / "configured-controller.toml"
    path.write_text(text)
    return path


def _events(run_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (run_dir / "events.jsonl").read_text().splitlines()]


def test_settings_through_the_controllers_own_configuration_and_a_clean_controller_for_each_test(tmp_path):
    run_dir = tmp_path / "run"
    proc = flexbench(
        "run",
        *PLANS,
        "--bench",
        str(_configured_bench(tmp_path)),
        "--time-scale",
        "10",
        "--out",
        str(run_dir),
        timeout_s=400,
    )
    results = json.loads((run_dir / "results.json").read_text())
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    tests = {t["nodeid"].split("::")[-1]: t for t in results["tests"]}
    # the export setting reached the controller through its file, and it held it
    changed = tests["test_export_setting_lowered_while_running"]
    assert changed["outcome"] == "passed" and {r["verdict"] for r in changed["requirements"]} == {"pass"}
    # a mode is not among the settings its configuration takes: not applicable, with the reason
    modes = [t for name, t in tests.items() if name.startswith("test_mode_forbids_its_direction")]
    assert modes and all(t["outcome"] == "skipped" for t in modes)
    assert all("does not take mode" in t["message"] and "[controller] settings" in t["message"] for t in modes)

    events = _events(run_dir)
    started = next(e for e in events if e["kind"] == "controller_started")
    assert started["local_api"] is None  # awaited by its traffic: it serves nothing the bench reads
    assert "[local_api]" not in (run_dir / "controller-site.toml").read_text()
    configured = [e["settings"] for e in events if e["kind"] == "controller_configured"]
    assert any(c["export_limit_w"] is not None and c["import_limit_w"] is None for c in configured)
    assert configured[-1] == {"export_limit_w": None, "import_limit_w": None}  # back to none before a test
    resets = [e for e in events if e["kind"] == "controller_reset"]
    assert len(resets) == len(results["tests"]) - 1  # before every test but the first
    assert sum(e["kind"] == "controller_restarted_by_bench" for e in events) >= len(resets)
    assert not any(e["kind"] in ("controller_exit", "controller_restart") for e in events)  # the bench's doing
    findings = [f for t in results["tests"] for f in t.get("findings", [])]
    assert not [f for f in findings if "restart" in f or "crash" in f], findings
    assert json.loads((run_dir / "controller-settings.json").read_text()) == configured[-1]
