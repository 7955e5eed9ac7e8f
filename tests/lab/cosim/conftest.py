"""Helpers of the PHIL loop tests: the PHIL virtual bench with a known power program at the PCC."""

from __future__ import annotations

import contextlib
import math
import sys
import tempfile
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

from flexbench.instruments.roles import ElementReading
from flexbench.lab.bench import Bench
from flexbench.lab.bench_config import load_bench
from flexbench.lab.clock import ScaledClock
from flexbench.lab.cosim.config import CosimSettings, GuardSettings

ROOT = Path(__file__).resolve().parents[3]
PHIL_BENCH = ROOT / "lab" / "benches" / "virtual-phil.toml"
CLI = [sys.executable, "-m", "flexbench.lab.cli"]


class PowerProgram:
    """The PCC power the emulated analyzer reports, one value per reading, in order.

    The plant's own physics depend on wall-clock timing; a program makes two
    runs see the same power step by step, so their setpoints can be compared.
    """

    def __init__(self, import_w: Sequence[float]) -> None:
        self.import_w = list(import_w)
        self.readings = 0

    def __call__(self) -> dict[int, ElementReading]:
        p = self.import_w[min(self.readings, len(self.import_w) - 1)]
        self.readings += 1
        pcc = ElementReading(240.0, abs(p) / 720.0, p, 0.1 * p, abs(p), 1.0, 60.0)
        dut = ElementReading(240.0, 0.0, 0.0, 0.0, 0.0, 1.0, 60.0)
        return {1: dut, 2: pcc}


def swinging_import_w(steps: int, amplitude_w: float = 400e3, period_steps: int = 30) -> list[float]:
    """A site swinging between import and export: the twin's voltage moves by several volts."""
    return [amplitude_w * math.sin(2 * math.pi * k / period_steps) for k in range(steps + 5)]


def loop_settings(**guard: float) -> CosimSettings:
    """IEEE 123 bus 48 at 50 Hz; guard limits wide enough that the setpoint is the twin's own value."""
    limits = {"max_step_v": 20.0, "max_ramp_v_per_s": 2000.0, **guard}
    return CosimSettings(
        feeder="ieee123",
        bus="48",
        rate_hz=50.0,
        nominal_voltage_v=240.0,
        measure=("pcc",),
        guard=GuardSettings(**limits),
    )


GRID_DRIVERS = ("chroma-61845", "ametek-rs", "nhr-9410", "pacific-afx")


@contextlib.contextmanager
def phil_bench(
    program: Callable[[], dict[int, ElementReading]],
    grid_driver: str = "chroma-61845",
    measures: str = "{ dut = 1, pcc = 2 }",
) -> Iterator[Bench]:
    """The virtual PHIL bench, connected, with the analyzer reporting `program` at the PCC."""
    text = PHIL_BENCH.read_text().replace('driver = "chroma-61845"', f'driver = "{grid_driver}"')
    text = text.replace("measures = { dut = 1, pcc = 2 }", f"measures = {measures}")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench.toml"
        path.write_text(text)
        config = load_bench(path)
    bench = Bench(config, ScaledClock(1.0))
    bench.connect()
    try:
        bench.virtual_lab.emulator("power_analyzer").source = program
        yield bench
    finally:
        bench.close()
