"""A controller flexbench has never seen, in the loop: tests/independent_controller on its bench, at time scale 1.

It is written without flexbench's code and started through its adapter by
lab/benches/independent-controller.toml. The healthy controller passes the
export limit over 2030.5 and fails safe when its meter goes silent; each
variant fails exactly the requirement it breaks and passes the rest of the plan
it runs. Profiles are shortened so that each run takes about a minute at time
scale 1.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BENCH = "lab/benches/independent-controller.toml"


def _short(source: str, out: Path, plan: str, values: dict[str, float]) -> Path:
    """A shipped requirement profile with some of its plan's values replaced."""
    text = (ROOT / "testplans/profiles" / source).read_text()
    for key, value in values.items():
        text, count = re.subn(rf"(?m)^{key} = [^#\n]*", f"{key} = {value} ", text)
        assert count == 1, key
    assert {k: tomllib.loads(text)["plans"][plan][k] for k in values} == values
    out.write_text(text)
    return out


@pytest.fixture(scope="module")
def profiles(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("profiles")
    return {
        # 30 s controls: 13 s judged after the 15 s soft-limit window
        "limits": _short(
            "csip-aus.toml", folder / "limits.toml", "csip", {"precondition_s": 5.0, "control_duration_s": 30.0}
        ),
        # the superseding control comes 15 s in and is judged 15 s later
        "supersede": _short(
            "csip-aus.toml", folder / "supersede.toml", "csip", {"precondition_s": 5.0, "control_duration_s": 45.0}
        ),
        "controller": _short(
            "controller.toml", folder / "controller.toml", "controller", {"precondition_s": 6.0, "hold_s": 15.0}
        ),
    }


# each run: the requirements the variant breaks, and those it must still meet (CTL-TELEM: its mirrored site power,
# found by its meaning, agrees with the plant's)
@pytest.mark.parametrize(
    "variant, plan, select, profile, broken, holds",
    [
        ("healthy", "testplans/csip/test_site_limits.py", "export", "limits", set(), {"CSIP-GEN-01", "CSIP-RSP"}),
        ("ignores-import", "testplans/csip/test_site_limits.py", "import", "limits", {"CSIP-LOA-01"}, {"CSIP-RSP"}),
        ("keeps-superseded", "testplans/csip/test_supersede.py", "supersedes", "supersede", {"CSIP-SUP"}, set()),
        ("healthy", "testplans/controller", "meter", "controller", set(), {"CTL-METER"}),
        ("no-failsafe", "testplans/controller", "meter", "controller", {"CTL-METER"}, set()),
    ],
)
def test_the_independent_controller_and_each_variant(
    tmp_path, plans, profiles, variant, plan, select, profile, broken, holds
):
    run_dir = tmp_path / variant
    extra = ["--dut-profile", variant, "--profile", str(profiles[profile]), "-k", select]
    proc, results = plans.run(plan, BENCH, 1, run_dir, *extra)
    assert proc.returncode == (1 if broken else 0), proc.stdout[-3000:] + proc.stderr[-3000:]
    verdicts = {row["requirement_id"]: row["verdict"] for row in results["matrix"]}
    if variant == "no-failsafe":
        # it keeps exporting, as the meter-silent plan's first check says; the fail-safe state a configured
        # controller cannot report is not applicable, so the export alone fails CTL-METER
        messages = [r["message"] for t in results["tests"] for r in t["requirements"] if r["requirement_id"] in broken]
        assert any("still above the limit" in m for m in messages), plans.why(results)
        reported = [r for t in results["tests"] for r in t["requirements"] if "reports its fail-safe" in r["criterion"]]
        assert [r["verdict"] for r in reported] == ["not_applicable"], plans.why(results)
    assert {r for r, v in verdicts.items() if v == "fail"} == broken, plans.why(results)
    assert {r: verdicts.get(r) for r in holds | {"CTL-TELEM"}} == dict.fromkeys(holds | {"CTL-TELEM"}, "pass")
    log = (run_dir / "controller.log").read_text()
    assert f"independent controller ({variant}) up" in log and "2030.5 server reached" in log
    config = json.loads((run_dir / "independent-controller.json").read_text())  # written by the adapter
    assert config["server"]["url"].startswith("https://127.0.0.1:") and len(config["inverters"]) == 3
    wire = (run_dir / "wire-log.jsonl").read_text().splitlines()
    points = {p for line in wire for p in json.loads(line).get("points", {})}
    assert {"704.WMaxLimPct", "123.WMaxLimPct"} <= points  # it found each family by its models and wrote its limit


def test_a_time_scale_other_than_1_is_refused_for_the_controller_on_its_own_clock(tmp_path):
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "flexbench.lab.cli",
            "run",
            "testplans/csip/test_site_limits.py",
            "--bench",
            BENCH,
            "--time-scale",
            "10",
            "--out",
            str(tmp_path / "run"),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert "--time-scale 1" in proc.stderr and 'clock = "own"' in proc.stderr
