"""Modbus RTU on a serial line: frame sizes, wire times, and the emulated line keeping its baud's time."""

from __future__ import annotations

import time

import pytest

from flexbench.instruments.addresses import parse_address
from flexbench.instruments.drivers.sunspec_der import SunSpecDER
from flexbench.instruments.emulators.sunspec_der import SunSpecDEREmulator
from flexbench.instruments.transports.modbus import ModbusTransport
from flexbench.instruments.transports.serial_line import SerialLine, frame_sizes


def test_frame_sizes_follow_the_protocol():
    # unit, function, 4 bytes of fields, CRC | unit, function, byte count, 2 bytes a register, CRC
    assert frame_sizes(3, read_count=76) == (8, 157)
    assert frame_sizes(4, read_count=1) == (8, 7)
    assert frame_sizes(6, write_count=1) == (8, 8)
    assert frame_sizes(16, write_count=10) == (29, 8)
    assert frame_sizes(23, read_count=2, write_count=3) == (19, 9)
    with pytest.raises(ValueError, match="function 5"):
        frame_sizes(5)


def test_a_character_is_the_configured_bits_and_a_frame_ends_with_its_silence():
    assert SerialLine(9600).bits_per_char == 10  # start, 8 data, stop
    assert SerialLine(9600, "E").bits_per_char == 11  # and parity
    assert SerialLine(9600, "N", 2).bits_per_char == 11  # or a second stop bit
    line = SerialLine(9600)
    assert line.silence_s == pytest.approx(3.5 * 10 / 9600)
    assert SerialLine(38400).silence_s == pytest.approx(1.75e-3)  # fixed above 19200 baud
    # a 76-register read at 9600 baud: 8 + 157 characters of 10 bits and two silences
    assert line.exchange_s(3, read_count=76) == pytest.approx((165 + 7) * 10 / 9600)
    assert line.exchange_s(3, read_count=76) == pytest.approx(0.179, abs=0.001)


@pytest.fixture
def der_at_9600():
    with SunSpecDEREmulator(link="rtu", baud=9600) as emulator:
        yield emulator


def timed(call) -> float:
    start = time.monotonic()
    call()
    return time.monotonic() - start


def test_the_emulated_line_takes_the_baud_rates_time_both_ways(der_at_9600):
    address = parse_address(der_at_9600.address)
    line = SerialLine.of(address)
    transport = ModbusTransport(address, timeout_s=2.0)
    try:
        transport.read_holding_registers(40000, 2)  # opens the port
        # a long reply
        computed_s = line.exchange_s(3, read_count=76)
        elapsed_s = timed(lambda: transport.read_holding_registers(40000, 76))
        assert 0.9 * computed_s <= elapsed_s < 3 * computed_s
        # a long request: model 704's writable points from WMaxLimPctEna on, written back as read
        start = next(loc.start for loc in _models(der_at_9600.address)[704])
        registers = transport.read_holding_registers(start + 2, 60)
        computed_s = line.exchange_s(16, write_count=60)
        elapsed_s = timed(lambda: transport.write_registers(start + 2, registers))
        assert 0.9 * computed_s <= elapsed_s < 3 * computed_s
    finally:
        transport.close()


def _models(address: str):
    der = SunSpecDER(address, timeout_s=2.0)
    try:
        return der.discover()
    finally:
        der.close()


def test_recording_lists_the_requests_of_a_measurement(der_at_9600):
    der = SunSpecDER(der_at_9600.address, timeout_s=2.0)
    try:
        der.connect()
        size = der.models[701][0].size
        with der.transport.recording() as requests:
            der.measure()
        reads = [(3, min(125, size - k), 0) for k in range(0, size, 125)]
        assert requests == reads and len(reads) == 2
        with der.transport.recording() as requests:
            der.set_active_power_limit_pct(50.0)
        assert requests and all(r[0] in (3, 16) for r in requests)
        assert any(r[0] == 16 and r[2] >= 1 for r in requests)
    finally:
        der.close()
