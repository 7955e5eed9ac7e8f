"""The temperature logger against a loopback emulator that answers as the manual says, and on a bench."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from flexbench.instruments.emulators.scpi_server import ScpiEmulator, ScpiError, int_arg, scpi
from flexbench.instruments.registry import driver_class
from flexbench.instruments.roles import InstrumentError
from flexbench.lab.bench import Bench
from flexbench.lab.clock import ScaledClock
from flexbench.lab.recorder import Recorder

HERE = Path(__file__).resolve().parent
DRIVER = "temperature_logger.py:AcmeTL4"


class AcmeTL4Emulator(ScpiEmulator):
    """Answers like the TL-4's manual: an input that does not exist, or averaging beyond 1..64, queues -222."""

    def __init__(self) -> None:
        self.temperatures_c = {1: 41.5, 2: 38.0, 3: 22.0, 4: 22.0}
        self.averaging = 1
        super().__init__()

    @scpi("*IDN?")
    def _idn(self, args: str, sfx: tuple[str, ...]) -> str:
        return "Acme,TL-4,TL4-0042,1.3.0"

    @scpi("*CLS")
    def _cls(self, args: str, sfx: tuple[str, ...]) -> None:
        self.clear_errors()

    @scpi("MEASure:TEMPerature?", takes_args=True)
    def _temperature(self, args: str, sfx: tuple[str, ...]) -> str | None:
        match = re.fullmatch(r"\s*\(@(\d)\)\s*", args)
        if match is None or int(match.group(1)) not in self.temperatures_c:
            raise ScpiError(222)
        return f"{self.temperatures_c[int(match.group(1))]:.2f}"

    @scpi("SENSe:AVERage")
    def _set_averaging(self, args: str, sfx: tuple[str, ...]) -> None:
        value = int_arg(args)
        if not 1 <= value <= 64:
            raise ScpiError(222)
        self.averaging = value

    @scpi("SENSe:AVERage?")
    def _averaging(self, args: str, sfx: tuple[str, ...]) -> str:
        return str(self.averaging)


@pytest.fixture
def emulator():
    emu = AcmeTL4Emulator().start()
    yield emu
    emu.stop()


@pytest.fixture
def bench_file(tmp_path, emulator):
    """The lab's folder: its bench file, naming the driver file beside it."""
    shutil.copy(HERE / "temperature_logger.py", tmp_path)
    path = tmp_path / "bench.toml"
    path.write_text(
        '[bench]\nname = "heat-sink"\n\n'
        f'[instruments.heatsink]\ndriver = "{DRIVER}"\naddress = "{emulator.address}"\n'
        "options = { channels = [1, 2], averaging = 8 }\n"
    )
    return path


def test_the_driver_reads_each_channel_and_says_what_it_sent(emulator):
    logger = driver_class(DRIVER, HERE)(emulator.address, options={"channels": [1, 2]})
    with logger:
        assert logger.identity().model == "TL-4" and logger.identity().firmware == "1.3.0"
        assert logger.record() == {"t1_c": 41.5, "t2_c": 38.0}
        logger.averaging = 16
        assert emulator.averaging == 16 and logger.snapshot() == {"averaging": 16, "channels": [1, 2]}
    sent = [record.command for record in emulator.command_log]
    assert "MEAS:TEMP? (@1)" in sent and "SENS:AVER 16" in sent


def test_a_value_the_instrument_refuses_is_an_error_naming_the_command(emulator):
    logger = driver_class(DRIVER, HERE)(emulator.address)
    with logger:
        with pytest.raises(ValueError, match="outside 1..64"):
            logger.averaging = 100  # refused before it is sent
        with pytest.raises(InstrumentError, match="MEAS:TEMP"):
            logger.write("MEAS:TEMP? (@7)")  # the instrument queues -222 for an input it lacks


def test_the_bench_probes_it_and_records_its_channels(bench_file, emulator, tmp_path):
    probe = subprocess.run(
        [sys.executable, "-m", "flexbench.lab.cli", "instruments", "probe", str(bench_file)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert probe.returncode == 0, probe.stdout + probe.stderr
    row = next(line for line in probe.stdout.splitlines() if line.startswith("heatsink"))
    assert "temperature_logger" in row and "Acme TL-4" in row and "TL4-0042" in row and "averaging=8" in row

    clock = ScaledClock(10.0)
    recorder = Recorder(tmp_path / "run", clock)
    with Bench.open(bench_file, clock) as bench:
        logger = bench.one("temperature_logger")
        assert bench.snapshot()["instruments"]["heatsink"]["identity"]["serial"] == "TL4-0042"
        recorder.add_channels(bench.channels())
        clock.sleep(3.0)
        recorder.stop_polling()
    recorder.close()
    assert logger.temperature_c  # the role's interface, reached by role
    assert set(recorder.series("heatsink.t1_c")[1]) == {41.5} and set(recorder.series("heatsink.t2_c")[1]) == {38.0}
