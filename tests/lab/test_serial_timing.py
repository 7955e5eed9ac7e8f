"""A bench says at start whether its Modbus RTU sources can be polled every sample period."""

from __future__ import annotations

import math

import pytest

from flexbench.instruments.addresses import parse_address
from flexbench.instruments.emulators.sunspec_der import SunSpecDEREmulator
from flexbench.instruments.transports.modbus import ModbusTransport
from flexbench.lab.bench import Bench
from flexbench.lab.clock import ScaledClock
from flexbench.lab.console import event_text
from flexbench.lab.errors import UserError
from flexbench.lab.serial_timing import WARN_SHARE


@pytest.fixture(scope="module")
def der_701_at_9600():
    with SunSpecDEREmulator(models=(1, 701, 702, 704), link="rtu", baud=9600) as emulator:
        yield emulator


def bench_file(tmp_path, address: str, sample_period_s: float, names=("dut",)):
    path = tmp_path / "rtu.toml"
    text = f'[bench]\nname = "rtu"\nsample_period_s = {sample_period_s}\n'
    for name in names:
        text += (
            f'\n[instruments.{name}]\nrole = "der"\ndriver = "sunspec-der"\naddress = "{address}"\ntimeout_s = 2.0\n'
        )
    path.write_text(text)
    return path


def open_bench(path):
    events: list[tuple[str, dict]] = []
    bench = Bench.open(path, ScaledClock(1.0), on_event=lambda kind, data: events.append((kind, data)))
    return bench, events


def test_a_701_device_at_9600_baud_cannot_be_polled_every_0_1_s(tmp_path, der_701_at_9600):
    path = bench_file(tmp_path, der_701_at_9600.address, 0.1)
    with pytest.raises(UserError) as info:
        open_bench(path)
    message = str(info.value)
    assert "\n" not in message
    assert f"{path} [instruments.dut]" in message and "9600 baud" in message and "0.1 s" in message
    assert "2 Modbus RTU request(s)" in message  # model 701 is more than 125 registers
    wire_s = float(message.split(" s on the wire")[0].rsplit(" ", 1)[1])
    assert 0.3 < wire_s < 0.4  # about 155 registers at 960 characters a second
    # the driver let the port go: the line opens again
    transport = ModbusTransport(parse_address(der_701_at_9600.address), timeout_s=2.0)
    try:
        assert transport.read_holding_registers(40000, 2) == [0x5375, 0x6E53]
    finally:
        transport.close()


def test_a_poll_over_half_the_period_is_a_warning(tmp_path, der_701_at_9600):
    bench, events = open_bench(bench_file(tmp_path, der_701_at_9600.address, 0.6))
    with bench:
        warnings = [data for kind, data in events if kind == "bench_warning"]
        assert len(warnings) == 1
        warning = warnings[0]
        assert warning["instrument"] == "dut" and warning["baud"] == 9600 and warning["period_s"] == 0.6
        assert WARN_SHARE * 0.6 < warning["wire_s"] < 0.6
        assert "more than half the sample period of 0.6 s" in warning["text"]
        assert event_text("bench_warning", warning) == f"bench warning: {warning['text']}"
        assert math.isfinite(bench.der.measure().power_w)  # the bench runs


def test_a_poll_well_within_the_period_says_nothing(tmp_path, der_701_at_9600):
    bench, events = open_bench(bench_file(tmp_path, der_701_at_9600.address, 1.0))
    with bench:
        assert not [kind for kind, _ in events if kind == "bench_warning"]


def test_units_on_one_line_share_its_time(tmp_path, der_701_at_9600):
    # alone each would warn at 0.6 s (tested above); two polls every 0.6 s need more than the line has
    path = bench_file(tmp_path, der_701_at_9600.address, 0.6, names=("dut", "dut_again"))
    with pytest.raises(UserError) as info:
        open_bench(path)
    message = str(info.value)
    assert message.startswith(f"{path} [instruments.dut_again]: ") and "9600 baud" in message
    assert f"with dut on {der_701_at_9600.serial_device}" in message and "(sample period 0.6 s)" in message
    share = int(message.split("% of the line's time")[0].rsplit(" ", 1)[1])
    assert 100 < share < 140
