"""The whole path, command to report: the IEEE 1547.1 plan on the virtual bench, healthy and faulty.

Each fault profile must fail exactly the requirements it breaks; the healthy DUT
must pass them all. Runs go through `flexbench run` in a subprocess, as a user would.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pypdfium2 as pdfium
import pytest
from bench_priority import expected_priority

from flexbench.lab.report_pdf import build_pdf

ROOT = Path(__file__).resolve().parents[2]
PLAN = "testplans/ieee1547"
TIME_SCALE = "50"


def flexbench(*args: str, timeout: float = 240) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "flexbench.lab.cli", *args], cwd=ROOT, capture_output=True, text=True, timeout=timeout
    )


@pytest.fixture(scope="module")
def one_repeat_profile(tmp_path_factory) -> Path:
    """The shipped profile with one repeat per limit, to keep fault runs short."""
    text = (ROOT / "testplans/profiles/ieee1547-2018.toml").read_text()
    assert "repeats = 3" in text
    path = tmp_path_factory.mktemp("profile") / "one-repeat.toml"
    path.write_text(text.replace("repeats = 3", "repeats = 1"))
    return path


def verdicts(run_dir: Path) -> dict[str, str]:
    results = json.loads((run_dir / "results.json").read_text())
    return {row["requirement_id"]: row["verdict"] for row in results["matrix"]}


def test_healthy_dut_passes_the_shipped_plan_with_every_artifact(tmp_path):
    run_dir = tmp_path / "healthy"
    proc = flexbench("run", PLAN, "--time-scale", TIME_SCALE, "--out", str(run_dir))
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert f"report: {run_dir / 'report.html'}" in proc.stdout
    for name in ("report.html", "results.json", "junit.xml", "samples.parquet", "station.json", "events.jsonl"):
        assert (run_dir / name).exists(), name
    results = json.loads((run_dir / "results.json").read_text())
    assert results["summary"]["tests"] == 9 and results["summary"]["passed"] == 9
    assert results["verdict"] == "pass" and results["summary"]["not_run"] == []
    assert proc.stdout.strip().splitlines()[-1].startswith("verdict: PASS (9 tests: 9 passed")
    assert verdicts(run_dir) == {"LAP-RT": "pass", "LAP-SS": "pass"}
    assert results["run"]["time_scale"] == 50.0
    html = (run_dir / "report.html").read_text()
    assert "Requirement matrix" in html and "50x" in html and html.count("data:image/png;base64") >= 9
    assert html.index("Overall verdict") < html.index("<h2>Equipment") < html.index("Requirement matrix")
    assert "renderCollapsed&#34;: [&#34;none&#34;]" in html  # every test's evidence plot open, passed ones too
    samples = pd.read_parquet(run_dir / "samples.parquet")
    assert {"dut.p_w", "pcc.p_w", "limit_w"} <= set(samples["channel"])
    station = json.loads((run_dir / "station.json").read_text())
    assert station["instruments"]["dut"]["identity"]["serial"] == "VDUT-0001"
    junit = (run_dir / "junit.xml").read_text()
    assert junit.count("<testcase") == 9 and "requirement:LAP-RT" in junit
    # the console: each test as it starts with its requirement IDs, its steps, its verdict; no pytest dots
    lines = proc.stdout.splitlines()
    starts = [line for line in lines if line.startswith("[") and "/9] test_limit_active_power.py::" in line]
    assert len(starts) == 9 and all(line.endswith("LAP-RT LAP-SS") for line in starts)
    assert sum(line.strip().startswith("PASS  ") for line in lines) == 9
    assert any(line.strip().endswith("limit set to 66 % of rated power (run 1)") for line in lines)
    assert not any(set(line.strip()) <= {"."} and line.strip() for line in lines)
    # a clean end stands the guardian down and stops the virtual lab's process: neither is left running
    kinds = [e["kind"] for e in events(run_dir)]
    assert "guardian_started" in kinds and not any(k.startswith("guardian_") and k != "guardian_started" for k in kinds)
    assert kinds.count("virtual_lab_stopped") == 1
    # the bench ran ahead of other work on the host where it may (lab.priority), and says so
    assert [e["priority"] for e in events(run_dir) if e["kind"] == "bench_priority"] == [expected_priority()]
    assert f"virtual lab at {expected_priority()}" in (run_dir / "virtual-lab.log").read_text()
    assert not _alive(station["components"]["guardian"]["pid"])
    assert not _alive(station["components"]["virtual_lab"]["pid"])
    # the report a lab signs: `flexbench report --pdf`, its pages rendered and read back
    pdf = flexbench("report", str(run_dir), "--pdf")
    assert pdf.returncode == 0 and f"report: {run_dir / 'report.pdf'}" in pdf.stdout, pdf.stderr
    pages = pdf_pages(run_dir / "report.pdf")
    assert pages[0].text.startswith("flexbench report\r\nOverall verdict: PASS \u2014 9 tests: 9 passed")
    equipment = pages[0].text.split("\r\nEquipment\r\n", 1)[1]
    for name, entry in station["instruments"].items():  # a row per instrument: name, role, model, serial, firmware
        ident = entry["identity"]
        row = f"{name} {entry['role']} {ident['manufacturer']} {ident['model']} {ident['serial']} {ident['firmware']}"
        assert f"\r\n{row} " in equipment, (row, equipment)
    for test in results["tests"]:  # one plot per test, on the page of its heading
        page = next(p for p in pages if f"{test['nodeid']} \u2014 passed" in p.text)
        assert page.images >= 1, test["nodeid"]
    assert sum(p.images for p in pages) == 9
    for number, page in enumerate(pages, 1):
        assert "run healthy \u2014 overall verdict PASS" in page.text and f"page {number} of {len(pages)}" in page.text
        assert page.inked > 0.002, f"page {number} renders blank"
        assert page.colored >= 200 * page.images, f"page {number}: a plot renders without its coloured traces"
    assert all(word in pages[-1].text for word in ("Sign-off", "Operator", "Reviewer", "Signature", "Date"))


@pytest.mark.parametrize(
    "dut_profile, expected",
    [
        ("slow", {"LAP-RT": "fail", "LAP-SS": "pass"}),
        ("overshoot", {"LAP-RT": "pass", "LAP-SS": "fail"}),
        ("ignores-limit", {"LAP-RT": "fail", "LAP-SS": "fail"}),
    ],
)
def test_fault_profile_fails_exactly_the_requirements_it_breaks(tmp_path, one_repeat_profile, dut_profile, expected):
    run_dir = tmp_path / dut_profile
    proc = flexbench(
        "run",
        PLAN,
        "--time-scale",
        TIME_SCALE,
        "--profile",
        str(one_repeat_profile),
        "--dut-profile",
        dut_profile,
        "--out",
        str(run_dir),
    )
    assert proc.returncode == 1, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert verdicts(run_dir) == expected
    results = json.loads((run_dir / "results.json").read_text())
    failing = [r for t in results["tests"] for r in t["requirements"] if r["verdict"] == "fail"]
    assert failing and all(r["message"] and r["criterion"] and r["margin"] is None or r["margin"] < 0 for r in failing)
    assert "FAIL" in (run_dir / "report.html").read_text()
    pages = pdf_pages(build_pdf(run_dir))
    assert pages[0].text.startswith("flexbench report\r\nOverall verdict: FAIL \u2014 3 tests:")
    assert sum(p.images for p in pages) == 3 and all(p.inked > 0.002 for p in pages)


def test_dut_that_stops_answering_aborts_with_reason_and_bench_goes_safe(tmp_path, one_repeat_profile):
    run_dir = tmp_path / "drops"
    proc = flexbench(
        "run",
        PLAN,
        "--time-scale",
        TIME_SCALE,
        "--profile",
        str(one_repeat_profile),
        "--dut-profile",
        "drops-comms",
        "--out",
        str(run_dir),
    )
    assert proc.returncode == 2, proc.stdout[-2000:]  # ERROR: the run could not judge the device
    results = json.loads((run_dir / "results.json").read_text())
    assert results["verdict"] == "error" and proc.stdout.strip().splitlines()[-1].startswith("verdict: ERROR")
    aborted = results["summary"]["aborted"]
    assert "did not answer" in aborted or "timed out" in aborted.lower() or "timeout" in aborted.lower()
    assert "modbus+tcp://127.0.0.1:" in aborted
    assert "error" in verdicts(run_dir).values()
    assert results["summary"]["not_run"], "the session stops after the abort"
    events = [json.loads(line) for line in (run_dir / "events.jsonl").read_text().splitlines()]
    kinds = [e["kind"] for e in events]
    abort_at = kinds.index("abort")
    grid_safe = [e for e in events[abort_at:] if e["kind"] == "safe_state" and e["instrument"] == "grid"]
    assert grid_safe and grid_safe[0]["ok"] is True
    # the console tells the story in a few lines; library noise and tracebacks are in the run folder
    assert len(proc.stdout.splitlines()) < 30 and "Traceback" not in proc.stdout and "pymodbus" not in proc.stdout
    assert "      ERROR  " in proc.stdout and "abort: " in proc.stdout
    log = (run_dir / "run.log").read_text()
    assert "test_limit_active_power.py:" in log and "InstrumentTimeout" in log  # where it broke, kept
    final = [e for e in events if e["kind"] == "virtual_lab_stopped"][-1]
    assert final["grid_output_on"] is False


def test_run_killed_with_sigkill_keeps_samples_and_report_rebuilds(tmp_path):
    run_dir = tmp_path / "killed"
    proc = subprocess.Popen(
        [sys.executable, "-m", "flexbench.lab.cli", "run", PLAN, "--time-scale", TIME_SCALE, "--out", str(run_dir)],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 120
        tests_file = run_dir / "tests.jsonl"
        while time.monotonic() < deadline:
            if tests_file.exists() and len(tests_file.read_text().splitlines()) >= 2:
                break
            time.sleep(0.2)
        else:
            pytest.fail("the run never finished two tests")
        time.sleep(1.5)
        killed_wall_s = time.time()
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
        lab_stopped = wait_for_event(run_dir, "guardian_lab_stopped", timeout_s=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    # the guardian saw the run die and turned the emulated grid simulator off over SCPI, then stopped the lab
    kinds = [e["kind"] for e in events(run_dir)]
    assert kinds.index("guardian_triggered") < kinds.index("guardian_safe_state") < kinds.index("virtual_lab_stopped")
    safe = next(e for e in events(run_dir) if e["kind"] == "guardian_safe_state")
    assert safe["instrument"] == "grid" and safe["ok"] is True
    stopped = next(e for e in events(run_dir) if e["kind"] == "virtual_lab_stopped")
    grid = stopped["outputs"]["grid"]
    assert stopped["by"] == "the guardian" and grid["output_on"] is False and stopped["grid_output_on"] is False
    assert 0 < grid["changed_wall_s"] - killed_wall_s < 2.0
    assert lab_stopped["stopped"] is True and not _alive(lab_stopped["pid"])
    assert not (run_dir / "results.json").exists()
    parts = list((run_dir / "samples").glob("part-*.parquet"))
    assert parts
    rebuilt = flexbench("report", str(run_dir))
    assert rebuilt.returncode == 0, rebuilt.stderr
    report = run_dir / "report.html"
    assert report.exists() and f"report: {report}" in rebuilt.stdout
    results = json.loads((run_dir / "results.json").read_text())
    assert results["summary"]["tests"] >= 2
    assert results["verdict"] == "incomplete" and results["summary"]["ended"] is False
    assert results["summary"]["unsafe"] == []  # the guardian confirmed the grid simulator safe
    assert "grid (grid_simulator) driven to its safe state by the guardian" in results["summary"]["guardian"]
    assert "driven to its safe state by the guardian" in report.read_text()
    assert len(results["summary"]["not_run"]) == 9 - results["summary"]["tests"]  # the selected tests it lacks
    assert "Overall verdict" in report.read_text() and results["summary"]["not_run"][-1] in report.read_text()
    samples = pd.read_parquet(run_dir / "samples.parquet")
    finished = max(t["end_s"] for t in results["tests"])
    assert samples["t_s"].max() > finished  # samples after the last finished test were kept too
    assert "data:image/png;base64" in report.read_text()


@dataclass
class PdfPage:
    text: str
    images: int  # image objects on the page
    inked: float  # fraction of the rendered page that is not white
    colored: int  # rendered pixels in colour (plots, verdicts), not grey


def pdf_pages(path: Path) -> list[PdfPage]:
    """Every page of a PDF as a reader sees it: rendered to pixels (PNG's RGB), its text, its images."""
    pdf = pdfium.PdfDocument(path)
    pages = []
    for page in pdf:
        pixels = page.render(scale=1.0).to_numpy().astype(int)
        spread = pixels.max(axis=2) - pixels.min(axis=2)
        pages.append(
            PdfPage(
                text=page.get_textpage().get_text_range(),
                images=sum(1 for _ in page.get_objects(filter=[pdfium.raw.FPDF_PAGEOBJ_IMAGE])),
                inked=float((pixels.min(axis=2) < 200).mean()),
                colored=int((spread > 60).sum()),
            )
        )
    pdf.close()
    return pages


def events(run_dir: Path) -> list[dict]:
    path = run_dir / "events.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def wait_for_event(run_dir: Path, kind: str, timeout_s: float) -> dict:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        found = [e for e in events(run_dir) if e["kind"] == kind]
        if found:
            return found[-1]
        time.sleep(0.05)
    pytest.fail(f"no {kind} event in {timeout_s} s: {[e['kind'] for e in events(run_dir)][-10:]}")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}/stat").exists() and Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"


def _run_until_tests(run_dir: Path, count: int, *extra: str) -> subprocess.Popen:
    """`flexbench run` of the shipped plan, returned once `count` tests have finished."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "flexbench.lab.cli", "run", PLAN, "--time-scale", TIME_SCALE, "--out", str(run_dir)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 120
    tests_file = run_dir / "tests.jsonl"
    while time.monotonic() < deadline:
        if tests_file.exists() and len(tests_file.read_text().splitlines()) >= count:
            return proc
        time.sleep(0.1)
    proc.kill()
    pytest.fail(f"the run never finished {count} tests")


def test_a_run_interrupted_with_ctrl_c_is_incomplete_and_names_what_did_not_run(tmp_path):
    run_dir = tmp_path / "interrupted"
    proc = _run_until_tests(run_dir, 3)
    try:
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 3, out[-2000:] + err[-2000:]  # INCOMPLETE
    results = json.loads((run_dir / "results.json").read_text())
    done = results["summary"]["tests"]
    assert results["verdict"] == "incomplete" and results["summary"]["interrupted"] is True
    assert 3 <= done < 9 and len(results["summary"]["not_run"]) == 9 - done
    assert verdicts(run_dir) == {"LAP-RT": "pass", "LAP-SS": "pass"}  # what ran passed: the run still is not a PASS
    assert out.strip().splitlines()[-1].startswith("verdict: INCOMPLETE")
    html = (run_dir / "report.html").read_text()
    assert "INCOMPLETE" in html and "Selected but not run" in html and results["summary"]["not_run"][0] in html


def test_a_second_run_into_the_same_folder_is_refused(tmp_path):
    run_dir = tmp_path / "once"
    run_dir.mkdir()
    (run_dir / "run.json").write_text("{}")
    proc = flexbench("run", PLAN, "--time-scale", TIME_SCALE, "--out", str(run_dir), timeout=60)
    assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert f"--out {run_dir}: holds a run already (run.json)" in proc.stderr
    assert sorted(p.name for p in run_dir.iterdir()) == ["run.json"]  # nothing written into it
    direct = subprocess.run(
        [sys.executable, "-m", "pytest", PLAN, "-p", "no:cacheprovider", "--run-dir", str(run_dir)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert direct.returncode == pytest.ExitCode.USAGE_ERROR and "holds a run already" in direct.stderr


def test_a_plan_that_cannot_be_collected_is_one_console_line_with_the_story_in_run_log(tmp_path):
    plans = tmp_path / "plans"
    plans.mkdir()
    (plans / "test_broken.py").write_text("def test_x(:\n    pass\n")
    run_dir = tmp_path / "run"
    proc = flexbench("run", str(plans), "--out", str(run_dir), timeout=60)
    assert proc.returncode != 0 and "Traceback" not in proc.stdout
    line = next(line for line in proc.stdout.splitlines() if line.startswith("ERROR collecting"))
    assert "test_broken.py: SyntaxError" in line and line.endswith("(details in run.log)")
    assert "def test_x(:" in (run_dir / "run.log").read_text()
