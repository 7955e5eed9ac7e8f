"""The README's worked example of a new instrument is the code in examples/new_instrument, and it runs."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "new_instrument"


def test_the_readme_shows_the_example_driver_as_it_is():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("### A new instrument") :]
    assert (EXAMPLE / "temperature_logger.py").read_text(encoding="utf-8") in section
    assert 'driver = "temperature_logger.py:AcmeTL4"' in section


def test_the_example_and_its_test_run_probe_and_record_the_new_instrument():
    """The example's own tests: driver against its emulator, `flexbench instruments probe`, the recorder."""
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", str(EXAMPLE)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    assert "3 passed" in proc.stdout
