"""`flexbench run --live` in a real browser: headless Chromium (Debian's, `make test` installs it) opens
the page during a virtual run and sees the plot update and a verdict appear in the matrix."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
T = TypeVar("T")


class LiveRun:
    """`flexbench run ... --live` in a subprocess; its console lines collected as they come."""

    def __init__(self, run_dir: Path) -> None:
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "flexbench.lab.cli",
                "run",
                "testplans/ieee1547",
                "-k",
                "66pct-run1 or 33pct-run1",
                "--time-scale",
                "20",
                "--out",
                str(run_dir),
                "--live",
            ],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line.rstrip("\n"))

    def url(self) -> str:
        line = wait_for(lambda: next((x for x in self.lines if x.startswith("live view: ")), None), 120, self)
        return line.removeprefix("live view: ").strip()

    def stop(self) -> None:
        """A run still going is interrupted as Ctrl-C would (its bench to safe state), then waited for."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=90)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._reader.join(timeout=10)


def wait_for(condition: Callable[[], T | None], timeout_s: float, run: LiveRun, what: str = "") -> T:
    """Poll `condition` until it returns something truthy; fail naming `what` with the run's console."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what or condition}; console:\n" + "\n".join(run.lines[-40:]))
        time.sleep(0.25)


@pytest.fixture
def browser() -> Iterator[webdriver.Chrome]:
    options = Options()
    options.binary_location = CHROMIUM
    for arg in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--window-size=1400,1000",
    ):
        options.add_argument(arg)
    driver = webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))
    yield driver
    driver.quit()


def test_live_page_shows_the_run_as_it_goes(tmp_path, browser):
    run = LiveRun(tmp_path / "run")
    try:
        url = run.url()
        assert url.startswith("http://127.0.0.1:")
        browser.get(url)

        def dut_plot() -> tuple[int, str] | None:
            canvases = browser.find_elements(By.CSS_SELECTOR, "#plot-dut canvas")
            if not canvases:
                return None
            points = int(canvases[0].get_attribute("data-points") or 0)
            image = browser.execute_script("return arguments[0].toDataURL();", canvases[0])
            return (points, image) if points > 1 else None

        points, image = wait_for(dut_plot, 180, run, "the DUT power plot to draw")
        wait_for(
            lambda: (p := dut_plot()) is not None and p[0] > points and p[1] != image,
            120,
            run,
            "the DUT power plot to take new samples",
        )
        assert "limit_w" in browser.find_element(By.ID, "plot-dut").text  # the limit in force, beside the power
        assert browser.find_element(By.ID, "bench-name").text == "virtual"
        assert "test_limit_active_power[" in browser.find_element(By.ID, "test").text

        def verdict() -> str | None:  # read in one go: the page redraws the matrix twice a second
            judged = browser.execute_script(
                "return [...document.querySelectorAll('#matrix td.verdict')]"
                ".filter(c => c.dataset.verdict !== 'pending').map(c => c.textContent);"
            )
            return judged[0] if judged else None

        assert wait_for(verdict, 180, run, "a verdict in the requirement matrix") == "PASS"
        assert run.proc.wait(timeout=240) == 0, "\n".join(run.lines[-40:])
        status = wait_for(
            lambda: "ended" in (text := browser.find_element(By.ID, "status").text) and text,
            30,
            run,
            "the page to say the run ended",
        )
        assert "run ended: PASS" in status or "it has ended" in status
    finally:
        run.stop()
