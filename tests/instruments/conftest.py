"""Emulators on loopback ports, drivers connected to them, and a scripted SCPI peer;
all torn down after each test."""

from __future__ import annotations

import socket
import threading
from collections import deque
from collections.abc import Callable

import pytest

from flexbench.instruments.drivers.chroma_61845 import Chroma61845
from flexbench.instruments.drivers.sunspec_der import SunSpecDER
from flexbench.instruments.drivers.yokogawa_wt1800 import YokogawaWT1800
from flexbench.instruments.emulators import ChromaGridEmulator, SunSpecDEREmulator, YokogawaWTEmulator
from flexbench.instruments.roles import SafetyLimits

# Short enough to keep timeout tests quick, long enough for a loaded 2-core machine where the
# suite's open benches run ahead of this process (lab.priority).
TIMEOUT_S = 1.0
GRID_LIMITS = SafetyLimits(
    voltage_min_v=0.0,
    voltage_max_v=264.0,
    frequency_min_hz=57.0,
    frequency_max_hz=63.0,
    source="lab/benches/test.toml [instruments.grid.safety]",
)


@pytest.fixture
def chroma_emulator():
    emulator = ChromaGridEmulator().start()
    yield emulator
    emulator.stop()


@pytest.fixture
def chroma(chroma_emulator):
    driver = Chroma61845(chroma_emulator.address, safety=GRID_LIMITS, timeout_s=TIMEOUT_S)
    driver.connect()
    yield driver
    driver.close()


@pytest.fixture
def yokogawa_emulator():
    emulator = YokogawaWTEmulator().start()
    yield emulator
    emulator.stop()


@pytest.fixture
def yokogawa(yokogawa_emulator):
    driver = YokogawaWT1800(yokogawa_emulator.address, timeout_s=TIMEOUT_S)
    driver.connect()
    yield driver
    driver.close()


@pytest.fixture
def der_emulator():
    emulator = SunSpecDEREmulator().start()
    yield emulator
    emulator.stop()


@pytest.fixture
def der(der_emulator):
    driver = SunSpecDER(
        der_emulator.address,
        safety=SafetyLimits(power_max_w=8000.0, source="lab/benches/test.toml [instruments.dut.safety]"),
        timeout_s=TIMEOUT_S,
    )
    driver.connect()
    yield driver
    driver.close()


# -- a scripted SCPI peer for expected-protocol tests -------------------------------------


class ScriptedScpiPeer:
    def __init__(
        self, replies: dict[str, str] | None = None, *, error_query: str = "SYST:ERR?", no_error: str = '0,"No error"'
    ) -> None:
        self.replies: dict[str, str | Callable[[], str]] = dict(replies or {})
        self.error_query = error_query
        self.no_error = no_error
        self.errors: deque[str] = deque()
        self.received: list[str] = []
        self._lock = threading.Lock()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    @property
    def address(self) -> str:
        return f"TCPIP0::127.0.0.1::{self._listener.getsockname()[1]}::SOCKET"

    def queue_error_after(self, command: str, error: str) -> None:
        """Queue `error` when `command` arrives (as an instrument would on a refused setting)."""
        self.replies[command] = lambda: (self.errors.append(error), None)[1]  # type: ignore[assignment]

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return
            threading.Thread(target=self._talk, args=(conn,), daemon=True).start()

    def _talk(self, conn: socket.socket) -> None:
        with conn, conn.makefile("rb") as stream:
            for raw in stream:
                line = raw.decode().rstrip("\r\n")
                with self._lock:
                    self.received.append(line)
                if line == self.error_query:
                    reply = self.errors.popleft() if self.errors else self.no_error
                else:
                    reply = self.replies.get(line)
                    if callable(reply):
                        reply = reply()
                if reply is not None:
                    conn.sendall(reply.encode() + b"\n")

    def sent(self) -> list[str]:
        with self._lock:
            return list(self.received)

    def close(self) -> None:
        self._listener.close()


@pytest.fixture
def make_peer():
    """Factory of scripted peers: make_peer(replies, error_query=...)."""
    peers: list[ScriptedScpiPeer] = []

    def make(replies=None, **kwargs):
        peer = ScriptedScpiPeer(replies, **kwargs)
        peers.append(peer)
        return peer

    yield make
    for peer in peers:
        peer.close()


def front_panel_of_a_wt(elements):
    """Replies of a WT that reads back its input set-up: 1000 V and 50 A ranges, no filter."""
    replies = {":INPut:WIRing?": ",".join(["P1W2"] * len(elements)), ":RATE?": "100.0E-03"}
    for e in elements:
        for quantity, top in (("VOLTage", "1.000E+03"), ("CURRent", "50.00E+00")):
            replies[f":INPut:{quantity}:AUTO:ELEMent{e}?"] = "0"
            replies[f":INPut:{quantity}:RANGe:ELEMent{e}?"] = top
        replies[f":INPut:SYNChronize:ELEMent{e}?"] = f"I{e}"
        replies[f":INPut:FILTer:LINE:ELEMent{e}?"] = "OFF"
    return replies


@pytest.fixture
def wt_front_panel():
    """front_panel_of_a_wt, for scripted peers that play a WT."""
    return front_panel_of_a_wt
