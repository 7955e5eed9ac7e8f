"""`flexbench emulate MODEL`: a separate process serves one emulator until SIGINT, printing its address first;
plain pyvisa and pymodbus clients talk to it as to the instrument."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator

import pytest
import pyvisa
from pymodbus.client import ModbusTcpClient

from flexbench.instruments.emulators import EMULATORS
from flexbench.lab.cli import main

START_DEADLINE_S = 60.0  # a loaded 2-core machine imports flexbench slowly
EXIT_DEADLINE_S = 30.0


def _first_line(proc: subprocess.Popen[str]) -> str:
    lines: list[str] = []
    assert proc.stdout is not None
    reader = threading.Thread(target=lambda: lines.append(proc.stdout.readline()), daemon=True)  # type: ignore[union-attr]
    reader.start()
    reader.join(START_DEADLINE_S)
    assert lines and lines[0], f"no address printed; stderr: {proc.stderr.read() if proc.poll() is not None else ''}"  # type: ignore[union-attr]
    return lines[0].strip()


@pytest.fixture
def serve() -> Iterator:
    procs: list[subprocess.Popen[str]] = []

    def start(*args: str) -> tuple[subprocess.Popen[str], str]:
        proc = subprocess.Popen(
            [sys.executable, "-m", "flexbench.lab.cli", "emulate", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        procs.append(proc)
        return proc, _first_line(proc)

    yield start
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def _interrupt(proc: subprocess.Popen[str]) -> int:
    proc.send_signal(signal.SIGINT)
    return proc.wait(EXIT_DEADLINE_S)


def test_a_scpi_model_answers_plain_pyvisa_and_exits_cleanly_on_ctrl_c(serve):
    proc, address = serve("chroma-62000h")
    assert address.startswith("TCPIP0::127.0.0.1::") and address.endswith("::SOCKET")
    rm = pyvisa.ResourceManager("@py")  # not closed: that would close every pyvisa session of this process
    session = rm.open_resource(address, read_termination="\n", write_termination="\n", timeout=5000)
    try:
        assert session.query("*IDN?").startswith("Chroma ATE,62150H-1000S,")
        session.write("SAS:VOC 800")
        assert float(session.query("SAS:VOC?")) == 800.0
        assert session.query("SYST:ERR?") == '0,"No error"'
    finally:
        session.close()
    assert _interrupt(proc) == 0


def test_a_modbus_model_answers_pymodbus_and_exits_cleanly_on_ctrl_c(serve):
    proc, address = serve("sunspec-der")
    assert address.startswith("modbus+tcp://127.0.0.1:") and address.endswith("/1")
    host, port = address.removeprefix("modbus+tcp://").rsplit("/", 1)[0].rsplit(":", 1)
    client = ModbusTcpClient(host, port=int(port), timeout=5)
    try:
        assert client.connect()
        response = client.read_holding_registers(40000, count=2, device_id=1)
        assert not response.isError() and response.registers == [0x5375, 0x6E53]  # "SunS"
    finally:
        client.close()
    assert _interrupt(proc) == 0


def test_a_port_in_use_is_a_one_line_error(serve):
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        proc = subprocess.run(
            [sys.executable, "-m", "flexbench.lab.cli", "emulate", "chroma-62000h", "--port", str(port)],
            capture_output=True,
            text=True,
            timeout=START_DEADLINE_S,
        )
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.count("\n") == 1 and f"127.0.0.1:{port}" in proc.stderr


def test_an_unknown_model_is_a_one_line_error_listing_the_models(capsys):
    assert main(["emulate", "keysight-n9999"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "'keysight-n9999'" in err
    assert all(name in err for name in EMULATORS)
