"""Modbus emulators as a controller meets them: whole-model block writes, the exchange hook, a fixed address."""

from __future__ import annotations

import socket
import time

import pytest
from pymodbus.client import ModbusTcpClient

from flexbench.instruments.emulators.modbus_server import ModbusExchange
from flexbench.instruments.emulators.sunspec_der import SunSpecDEREmulator


@pytest.fixture
def der():
    emulator = SunSpecDEREmulator(models=(1, 701, 702, 704, 123))
    exchanges: list[ModbusExchange] = []
    emulator.on_exchange = exchanges.append
    with emulator:
        client = ModbusTcpClient("127.0.0.1", port=emulator.port, timeout=1, retries=0)
        assert client.connect()
        yield emulator, client, exchanges
        client.close()


def start_of(emulator: SunSpecDEREmulator, model_id: int) -> int:
    return next(address for address, block in emulator._starts if block.model_id == model_id)


def test_a_whole_model_written_back_has_its_read_only_points_ignored(der):
    emulator, client, _ = der
    start = start_of(emulator, 704)
    layout = emulator.blocks[704].layout
    body = client.read_holding_registers(start + 2, count=layout.length, device_id=1).registers
    body[layout.point("WMaxLimPct").offset - 2] = 420
    body[layout.point("WMaxLimPct_SF").offset - 2] = 2  # read-only: ignored
    assert not client.write_registers(start + 2, body, device_id=1).isError()
    assert emulator.get(704, "WMaxLimPct") == 42.0 and emulator.blocks[704].raw("WMaxLimPct_SF") == -1
    # read-only points alone, a model header, or a writable point's out-of-range value are refused as before
    assert client.write_registers(start + layout.point("WMaxLimPct_SF").offset, [0], device_id=1).exception_code == 2
    assert client.write_registers(start, [704, 65], device_id=1).exception_code == 2
    body[layout.point("WMaxLimPct").offset - 2] = 1500
    assert client.write_registers(start + 2, body, device_id=1).exception_code == 3
    assert emulator.get(704, "WMaxLimPct") == 42.0


def test_every_exchange_is_reported_with_its_answer(der):
    emulator, client, exchanges = der
    start = start_of(emulator, 123)
    client.read_holding_registers(40000, count=4, device_id=1)
    client.write_register(start + 5, 500, device_id=1)  # function 6: one exchange, not a write and a read
    client.write_registers(start + 5, [5000], device_id=1)  # 500 %: exception 3
    assert [
        (e.function_code, e.operation, e.address, e.count, e.values[:1], e.exception_code, e.answered)
        for e in exchanges
    ] == [
        (3, "read", 40000, 4, (0x5375,), None, True),
        (6, "write", start + 5, 1, (500,), None, True),
        (16, "write", start + 5, 1, (5000,), 3, True),
    ]
    assert all(e.unit == 1 and e.time_s > 0 for e in exchanges)
    emulator.responding = False
    try:
        response = client.read_holding_registers(40000, count=2, device_id=1)
        timed_out = response.isError() and getattr(response, "exception_code", None) is None
    except Exception:  # pymodbus raises on a timeout
        timed_out = True
    assert timed_out
    deadline = time.monotonic() + 2
    while len(exchanges) < 4 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert exchanges[-1].answered is False and exchanges[-1].operation == "read"


def test_a_failing_observer_changes_nothing_the_device_answers(der):
    emulator, client, _ = der

    def broken(exchange: ModbusExchange) -> None:
        raise RuntimeError("observer failed")

    emulator.on_exchange = broken
    assert client.read_holding_registers(40000, count=2, device_id=1).registers == [0x5375, 0x6E53]


def test_points_at_names_what_a_request_covers(der):
    emulator, _, _ = der
    start = start_of(emulator, 704)
    covered = [(m, p.name) for m, p in emulator.points_at(start + 14, 3)]
    assert covered == [(704, "WMaxLimPctEna"), (704, "WMaxLimPct"), (704, "WMaxLimPctRvrt")]
    assert [m for m, _ in emulator.points_at(40000, 2)] == []  # the SunS marker belongs to no model


def test_a_fixed_listen_address():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    emulator = SunSpecDEREmulator()
    emulator.listen = ("127.0.0.1", port)
    with emulator:
        assert emulator.port == port and emulator.address == f"modbus+tcp://127.0.0.1:{port}/1"
        client = ModbusTcpClient("127.0.0.1", port=port, timeout=1, retries=0)
        assert client.connect()
        assert client.read_holding_registers(40000, count=2, device_id=1).registers == [0x5375, 0x6E53]
        client.close()
