"""The emulated site for a controller under test, driven as a controller drives it: pymodbus on the wire.

Each test opens the virtual-controller bench (its grid simulator, analyzer, PV
simulator and AC load emulated), energizes the site, and talks to the site's
inverters and meter over Modbus like a site controller; what the meter reports
and the analyzer measures at the PCC is then judged in bench time.
"""

from __future__ import annotations

import re
import socket
import struct
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from pymodbus.client import ModbusSerialClient, ModbusTcpClient

from flexbench.instruments.roles import IVCurve
from flexbench.instruments.sunspec.layout import build_layout
from flexbench.lab.bench import Bench
from flexbench.lab.bench_config import BenchError
from flexbench.lab.clock import ScaledClock
from flexbench.lab.report import build_report
from flexbench.lab.results import STATION_FILE, write_json
from flexbench.lab.virtual.controller_site.wire_log import WIRE_LOG_FILE, read_wire_log, summarize, summary_html

ROOT = Path(__file__).resolve().parents[2]
BENCH = ROOT / "lab/benches/virtual-controller.toml"
PV_DC_W = 9000.0
LOAD_W = 3000.0
EFFICIENCY = 0.97
PV_RATED = {"pv1": 6000.0, "pv2": 4000.0}
AVAILABLE_W = {n: PV_DC_W * EFFICIENCY * r / sum(PV_RATED.values()) for n, r in PV_RATED.items()}


class Device:
    """A controller's connection to one site device: the SunSpec map found by walking it, as controllers do."""

    def __init__(self, address: str, unit: int = 1, client: Any = None) -> None:
        if client is None:
            host, port = address.rsplit(":", 1)
            client = ModbusTcpClient(host, port=int(port), timeout=1, retries=0)
        self.client, self.unit = client, unit
        assert self.client.connect()
        self.starts: dict[int, int] = {}
        address = 40002
        while True:
            model_id, length = self.read(address, 2)
            if model_id == 0xFFFF:
                break
            self.starts[model_id] = address
            address += 2 + length

    def read(self, address: int, count: int) -> list[int]:
        response = self.client.read_holding_registers(address, count=count, device_id=self.unit)
        assert not response.isError(), response
        return list(response.registers)

    def write(self, address: int, values: list[int]) -> Any:
        return self.client.write_registers(address, values, device_id=self.unit)

    def close(self) -> None:
        self.client.close()


def offset(model_id: int, point: str) -> int:
    """Registers from a model's ID register to a point (pysunspec2's definitions)."""
    return build_layout(model_id, count_of=lambda spec: 1).point(point).offset


def no_answer(request: Any) -> bool:
    """True when a request times out (pymodbus raises or returns an error without an exception code)."""
    try:
        response = request()
    except Exception:
        return True
    return response is None or (response.isError() and getattr(response, "exception_code", None) is None)


def meter_w(meter: Device) -> float:
    start = meter.starts[203]
    raw, sf = meter.read(start + offset(203, "W"), 1)[0], meter.read(start + offset(203, "W_SF"), 1)[0]
    raw = raw - 0x10000 if raw & 0x8000 else raw
    sf = sf - 0x10000 if sf & 0x8000 else sf
    return raw * 10.0**sf


def energize(bench: Bench) -> None:
    bench.grid.set_voltage(240.0)
    bench.grid.set_frequency(60.0)
    bench.grid.set_output(True)
    vmp = 750.0
    bench.one("pv_simulator").set_curve(IVCurve(vmp * 1.18, PV_DC_W / (0.8 * vmp * 1.18), vmp, PV_DC_W / vmp))
    bench.one("pv_simulator").set_output(True)
    load = bench.named("load")
    load.set_power_w(LOAD_W / 3)
    load.set_input(True)


def without_tables(text: str, *prefixes: str) -> str:
    """A bench file's text without the tables whose names start with one of the prefixes."""
    kept, keep = [], True
    for line in text.splitlines(keepends=True):
        header = re.match(r"\s*\[+\s*([\w.-]+)", line)
        if header:
            keep = not header.group(1).startswith(prefixes)
        if keep:
            kept.append(line)
    return "".join(kept)


def site_only(text: str) -> str:
    """A bench file without its controller under test: these tests are the controller."""
    return without_tables(text, "controller", "signals", "instruments.pcs")


def bench_text() -> str:
    """The shipped site, its devices at unit ids other than 1 (each answers only its own)."""
    text = site_only(BENCH.read_text())
    assert text.count("unit_id = 1\n") == 4
    for unit in (11, 12, 13, 14):
        text = text.replace("unit_id = 1\n", f"unit_id = {unit}\n", 1)
    return text


def open_bench(path: Path | None, clock: ScaledClock, run_dir: Path, dut_profile: str = "healthy") -> Bench:
    run_dir.mkdir(parents=True, exist_ok=True)
    if path is None:
        path = run_dir.parent / "bench.toml"
        path.write_text(bench_text())
    return Bench.open(path, clock, dut_profile, work_dir=run_dir)


@pytest.fixture
def clock() -> ScaledClock:
    return ScaledClock(5.0)


@pytest.fixture
def site(tmp_path: Path, clock: ScaledClock) -> Iterator[tuple[Bench, Any, dict[str, Device]]]:
    bench = open_bench(None, clock, tmp_path / "run")
    devices: dict[str, Device] = {}
    try:
        energize(bench)
        s = bench.virtual_lab.site
        site_map = s.site_map()
        devices["meter"] = Device(site_map["meter"]["address"], site_map["meter"]["unit_id"])
        for inv in site_map["inverters"]:
            devices[inv["name"]] = Device(inv["address"], inv["unit_id"])
        clock.sleep(3.0)
        yield bench, s, devices
    finally:
        for d in devices.values():
            d.close()
        bench.close()


def pcc_samples(bench: Bench, meter: Device, clock: ScaledClock, duration_s: float, period_s: float = 0.25):
    """(t, meter W, analyzer PCC W) sampled over duration_s of bench time."""
    rows = []
    end_s = clock.now() + duration_s
    while clock.now() < end_s:
        t0 = clock.now()
        m = meter_w(meter)
        a = bench.analyzer.read().elements[bench.element("pcc")].power_w
        rows.append(((t0 + clock.now()) / 2, m, a))
        clock.sleep(period_s)
    return np.array(rows)


def slope(rows: np.ndarray, column: int, lo: float, hi: float) -> float:
    """Least-squares dW/dt of the samples whose value lies strictly inside (lo, hi): the ramp itself."""
    y = rows[:, column]
    inside = (y > lo) & (y < hi)
    assert inside.sum() >= 4, f"too few samples on the ramp: {rows}"
    return float(np.polyfit(rows[inside, 0], y[inside], 1)[0])


def steady_pcc(limits_w: dict[str, float] | None = None) -> float:
    """PCC import with every PV inverter at min(available, limit)."""
    limits_w = limits_w or {}
    return LOAD_W - sum(min(AVAILABLE_W[n], limits_w.get(n, 1e9)) for n in PV_RATED)


# -- limits, ramps, reverts ---------------------------------------------------------------------


def test_wmaxlimpct_on_a_7xx_inverter_ramps_up_at_wrmp_at_the_meter_and_the_analyzer(site, clock):
    bench, s, dev = site
    pv1, start = dev["pv1"], dev["pv1"].starts[704]
    assert pv1.read(start + offset(704, "WMaxLimPct_SF"), 1) == [0xFFFF]  # -1: tenths of a percent
    assert not pv1.write(start + offset(704, "WMaxLimPctEna"), [1, 200]).isError()  # 20.0 %
    clock.sleep(3.0)
    limited = steady_pcc({"pv1": 1200.0})
    rows = pcc_samples(bench, dev["meter"], clock, 1.0)
    assert np.allclose(rows[:, 1:], limited, atol=60), rows
    # 10 %/s of WMax = 600 W/s up to the PV available (87 % of pv1's rating)
    assert not pv1.write(start + offset(704, "WRmp"), [10]).isError()
    assert not pv1.write(start + offset(704, "WMaxLimPct"), [1000]).isError()
    rows = pcc_samples(bench, dev["meter"], clock, 9.0)
    final = steady_pcc()
    for column in (1, 2):  # the meter, the analyzer
        rate = slope(rows, column, final + 400, limited - 400)
        assert -720 < rate < -480, f"PCC should fall at 600 W/s, got {rate:.0f} W/s"
        assert abs(rows[-1, column] - final) < 60
        reached = rows[np.argmax(rows[:, column] < final + 60), 0] - rows[0, 0]
        assert 5.0 < reached < 8.5, f"ramp of {(AVAILABLE_W['pv1'] - 1200) / 600:.1f} s took {reached:.1f} s"
    assert s.truth()["devices"]["pv1"]["limit_pct"] == pytest.approx(100.0)


def test_wmaxlimpct_on_a_legacy_inverter_follows_its_ramp_time(site, clock):
    bench, s, dev = site
    pv2, start = dev["pv2"], dev["pv2"].starts[123]
    assert 103 in pv2.starts and 704 not in pv2.starts
    # 25 % of WMax (121) over WMaxLimPct_RmpTms = 10 s: 7.5 %/s = 300 W/s once below the 87 % available
    assert not pv2.write(start + offset(123, "WMaxLimPct_RmpTms"), [10]).isError()
    assert not pv2.write(start + offset(123, "WMaxLimPct"), [250]).isError()
    assert not pv2.write(start + offset(123, "WMaxLim_Ena"), [1]).isError()
    rows = pcc_samples(bench, dev["meter"], clock, 12.0)
    final = steady_pcc({"pv2": 1000.0})
    for column in (1, 2):
        rate = slope(rows, column, steady_pcc() + 300, final - 300)
        assert 225 < rate < 375, f"PCC should rise at 300 W/s, got {rate:.0f} W/s"
        assert abs(rows[-1, column] - final) < 60
    assert s.truth()["devices"]["pv2"]["limit_w"] == pytest.approx(1000.0)


def test_the_7xx_revert_timer_restores_the_default_when_the_controller_stops_refreshing(site, clock):
    bench, s, dev = site
    pv1, start = dev["pv1"], dev["pv1"].starts[704]
    rvrt_tms = start + offset(704, "WMaxLimPctRvrtTms")
    assert not pv1.write(rvrt_tms, [0, 10]).isError()  # uint32: 10 s
    assert not pv1.write(start + offset(704, "WMaxLimPctEna"), [1, 300]).isError()  # 30 %
    for _ in range(3):  # refreshed every 3 s: the limit holds
        clock.sleep(3.0)
        assert abs(s.truth()["devices"]["pv1"]["p_w"] - 1800.0) < 30
        remaining = pv1.read(start + offset(704, "WMaxLimPctRvrtRem"), 2)[1]
        assert 1 <= remaining <= 8
        assert not pv1.write(start + offset(704, "WMaxLimPct"), [300]).isError()
    assert abs(meter_w(dev["meter"]) - steady_pcc({"pv1": 1800.0})) < 60
    clock.sleep(13.0)  # no refresh: reverts to WMaxLimPctRvrt / WMaxLimPctEnaRvrt (100 %, disabled)
    assert pv1.read(start + offset(704, "WMaxLimPctEna"), 1) == [0]
    assert abs(meter_w(dev["meter"]) - steady_pcc()) < 60
    assert abs(bench.analyzer.read().elements[1].power_w - steady_pcc()) < 60


def test_the_legacy_revert_timer_disables_the_limit(site, clock):
    bench, s, dev = site
    pv2, start = dev["pv2"], dev["pv2"].starts[123]
    assert not pv2.write(start + offset(123, "WMaxLimPct"), [200, 0, 8, 0, 1]).isError()  # 20 %, revert 8 s, enable
    clock.sleep(3.0)
    assert abs(meter_w(dev["meter"]) - steady_pcc({"pv2": 800.0})) < 60
    clock.sleep(8.0)
    assert pv2.read(start + offset(123, "WMaxLim_Ena"), 1) == [0]
    assert abs(meter_w(dev["meter"]) - steady_pcc()) < 60


def test_disconnect_and_the_battery_setpoint_reach_the_pcc(site, clock):
    bench, s, dev = site
    assert not dev["pv1"].write(dev["pv1"].starts[703] + offset(703, "ES"), [0]).isError()
    battery, start = dev["battery"], dev["battery"].starts[704]
    # WSetEna, WSetMod = WATTS, WSet = -2000 W (charging) as int32 with WSet_SF = 0
    assert not battery.write(start + offset(704, "WSetEna"), [1, 1, 0xFFFF, 0x10000 - 2000]).isError()
    clock.sleep(3.0)
    expected = LOAD_W - AVAILABLE_W["pv2"] + 2000.0
    assert abs(meter_w(dev["meter"]) - expected) < 60
    truth = s.truth()
    assert truth["devices"]["pv1"]["p_w"] == 0.0 and not truth["devices"]["pv1"]["connected"]
    assert abs(truth["devices"]["battery"]["p_w"] + 2000.0) < 20 and abs(truth["pcc_p_w"] - expected) < 20
    busbar = bench.analyzer.read().elements[bench.element("busbar")].power_w  # what the inverters feed, net
    assert abs(busbar - (AVAILABLE_W["pv2"] - 2000.0)) < 60


def test_the_battery_follows_its_own_request_within_the_controllers_caps(site, clock):
    """The bench's `battery` instrument is the battery's own dispatch; what the controller writes caps or replaces it."""
    bench, s, dev = site
    own = bench.named("battery")
    battery, start = dev["battery"], dev["battery"].starts[704]

    def output_w() -> float:
        clock.sleep(3.0)
        truth = s.truth()["devices"]["battery"]
        return truth["p_w"]

    own.set_active_power_w(4000.0)
    assert abs(output_w() - 4000.0) < 20 and s.truth()["devices"]["battery"]["battery_request_w"] == 4000.0
    # 704 WMaxLimPctEna = 1, WMaxLimPct = 50 % (WMaxLimPct_SF = -1): discharge capped at 2.5 kW
    assert not battery.write(start + offset(704, "WMaxLimPctEna"), [1, 500]).isError()
    assert abs(output_w() - 2500.0) < 20
    own.set_active_power_w(-4000.0)  # charging is not capped by WMaxLimPct ...
    assert abs(output_w() + 4000.0) < 20
    cha = battery.starts[702] + offset(702, "WChaRteMax")  # ... but by 702 WChaRteMax (W_SF = 0)
    assert not battery.write(cha, [1000]).isError()
    assert abs(output_w() + 1000.0) < 20
    # WSetEna, WSetMod = WATTS, WSet = 1500 W: the controller's setpoint replaces the request
    assert not battery.write(start + offset(704, "WSetEna"), [1, 1, 0, 1500]).isError()
    assert abs(output_w() - 1500.0) < 20
    assert own.measure().power_w == pytest.approx(1500.0, abs=20)  # the dispatch sees the output


# -- what devices accept and refuse -------------------------------------------------------------


def test_a_block_write_of_a_whole_model_is_accepted_and_read_only_points_ignored(site, clock):
    bench, s, dev = site
    pv1, start = dev["pv1"], dev["pv1"].starts[704]
    length = pv1.read(start + 1, 1)[0]
    body = pv1.read(start + 2, length)
    block = list(body)
    block[offset(704, "WMaxLimPctEna") - 2] = 1
    block[offset(704, "WMaxLimPct") - 2] = 400
    block[offset(704, "WMaxLimPct_SF") - 2] = 3  # read-only scale factors: ignored
    block[offset(704, "WSet_SF") - 2] = 5
    assert not pv1.write(start + 2, block).isError()
    after = pv1.read(start + 2, length)
    assert after[offset(704, "WMaxLimPct_SF") - 2] == 0xFFFF and after[offset(704, "WSet_SF") - 2] == 0
    assert after[offset(704, "WMaxLimPct") - 2] == 400
    clock.sleep(3.0)
    assert abs(s.truth()["devices"]["pv1"]["p_w"] - 2400.0) < 30
    # the legacy 123 model as a whole, scale factors included
    pv2, start = dev["pv2"], dev["pv2"].starts[123]
    body = pv2.read(start + 2, 24)
    body[offset(123, "WMaxLimPct") - 2], body[offset(123, "WMaxLim_Ena") - 2] = 500, 1
    body[offset(123, "WMaxLimPct_SF") - 2] = 0
    assert not pv2.write(start + 2, body).isError()
    assert pv2.read(start + offset(123, "WMaxLimPct_SF"), 1) == [0xFFFF]
    clock.sleep(3.0)
    assert abs(meter_w(dev["meter"]) - steady_pcc({"pv1": 2400.0, "pv2": 2000.0})) < 60
    # a write that reaches read-only points only is refused: illegal data address
    response = pv1.write(dev["pv1"].starts[701] + offset(701, "W"), [5])
    assert response.isError() and response.exception_code == 2


def test_out_of_range_setpoints_get_exception_3_and_change_nothing(site, clock):
    bench, s, dev = site
    pv1, start = dev["pv1"], dev["pv1"].starts[704]
    assert not pv1.write(start + offset(704, "WMaxLimPctEna"), [1, 500]).isError()
    clock.sleep(1.0)
    before = pv1.read(start, 60)
    for address, values in (
        (start + offset(704, "WMaxLimPct"), [1500]),  # 150 %
        (start + offset(704, "WMaxLimPctEna"), [1, 1500]),  # the enable with it: all or nothing
        (start + offset(704, "WMaxLimPctEna"), [2]),
    ):  # not an enumerated value
        response = pv1.write(address, values)
        assert response.isError() and response.exception_code == 3, (address, values)
    battery = dev["battery"]
    response = battery.write(battery.starts[704] + offset(704, "WSet"), [0, 6000])  # beyond the 5 kW rating
    assert response.isError() and response.exception_code == 3
    pv2 = dev["pv2"]
    response = pv2.write(pv2.starts[123] + offset(123, "WMaxLimPct"), [1001])
    assert response.isError() and response.exception_code == 3
    clock.sleep(1.0)
    assert pv1.read(start, 60)[:20] == before[:20]
    assert abs(s.truth()["devices"]["pv1"]["p_w"] - 3000.0) < 30
    assert abs(meter_w(dev["meter"]) - steady_pcc({"pv1": 3000.0})) < 60


# -- site-side faults ---------------------------------------------------------------------------


def test_meter_silent_then_restored(site, clock):
    bench, s, dev = site
    meter = dev["meter"]
    bench.operator_action("meter-silent", "unplug the meter's network cable")
    start = time.monotonic()
    assert no_answer(lambda: meter.client.read_holding_registers(meter.starts[203], count=10, device_id=meter.unit))
    assert time.monotonic() - start >= 0.9  # the request timed out: no answer, not an exception response
    assert s.truth()["meter"]["responding"] is False
    bench.operator_action("meter-restore", "plug the meter back in")
    fresh = Device(s.site_map()["meter"]["address"], meter.unit)
    assert abs(meter_w(fresh) - steady_pcc()) < 60
    fresh.close()
    log = read_wire_log(bench.work_dir / WIRE_LOG_FILE)
    assert any(r["device"] == "meter" and not r["answered"] for r in log)


def test_an_inverter_stops_answering_and_comes_back(site, clock):
    bench, s, dev = site
    bench.operator_action("inverter-silent:pv2", "")
    assert no_answer(
        lambda: dev["pv2"].client.write_registers(
            dev["pv2"].starts[123] + offset(123, "WMaxLimPct"), [100], device_id=dev["pv2"].unit
        )
    )
    assert dev["pv1"].read(40000, 2) == [0x5375, 0x6E53]  # the others answer
    bench.operator_action("inverter-restore:pv2", "")
    fresh = Device(s.site_map()["inverters"][1]["address"], dev["pv2"].unit)
    assert fresh.read(fresh.starts[123] + offset(123, "Conn"), 1) == [1]
    fresh.close()
    with pytest.raises(BenchError, match="inverter-silent:NAME"):
        bench.operator_action("inverter-silent:nope", "")


def test_an_inverter_that_ignores_writes_acknowledges_them_and_does_nothing(site, clock):
    bench, s, dev = site
    pv1, start = dev["pv1"], dev["pv1"].starts[704]
    bench.operator_action("inverter-ignores-writes:pv1", "")
    assert not pv1.write(start + offset(704, "WMaxLimPctEna"), [1, 100]).isError()  # 10 %, acknowledged
    assert pv1.read(start + offset(704, "WMaxLimPct"), 1) == [100]  # and read back
    clock.sleep(3.0)
    assert abs(s.truth()["devices"]["pv1"]["p_w"] - AVAILABLE_W["pv1"]) < 30
    assert abs(meter_w(dev["meter"]) - steady_pcc()) < 60
    bench.operator_action("inverter-obeys-writes:pv1", "")
    clock.sleep(3.0)
    assert abs(meter_w(dev["meter"]) - steady_pcc({"pv1": 600.0})) < 60


def test_a_strict_inverter_refuses_model_123_from_its_header_and_the_site_lists_each_write(site, clock):
    """Lenient (as field inverters): the block from the header is taken, header and scale factors ignored;
    strict (the site fault): refused with exception 2. Both are findings of the site, by device."""
    bench, s, dev = site
    pv2, start = dev["pv2"], dev["pv2"].starts[123]
    t0_s = clock.now()
    block = pv2.read(start, 26)
    block[offset(123, "WMaxLimPct")], block[offset(123, "WMaxLim_Ena")] = 500, 1
    assert not pv2.write(start, block).isError()
    assert s.inverters["pv2"].emulator.get(123, "WMaxLimPct") == 50.0
    bench.operator_action("inverter-strict-writes:pv2", "")
    block[offset(123, "WMaxLimPct")] = 300
    response = pv2.write(start, block)
    assert response.isError() and response.exception_code == 2
    assert s.inverters["pv2"].emulator.get(123, "WMaxLimPct") == 50.0
    bench.operator_action("inverter-lenient-writes:pv2", "")
    found = s.write_findings(t0_s, clock.now())
    assert len(found) == 2 and all(f.startswith("pv2: write to registers") for f in found), found
    assert "accepted: ignored model 123 header (ID, L)" in found[0] and "refused (exception 2)" in found[1]
    assert s.write_findings(clock.now() + 1.0, clock.now() + 2.0) == []


# -- the wire log -------------------------------------------------------------------------------


def test_the_wire_log_records_every_write_with_its_time_and_the_report_summarises_it(site, clock):
    bench, s, dev = site
    pv1, start = dev["pv1"], dev["pv1"].starts[704]
    times = []
    for pct in (800, 600, 400):
        t0 = clock.now()
        assert not pv1.write(start + offset(704, "WMaxLimPct"), [pct]).isError()
        times.append((t0, clock.now()))
        clock.sleep(1.0)
    assert pv1.write(start + offset(704, "WMaxLimPct"), [2000]).exception_code == 3
    write_json(bench.work_dir / STATION_FILE, bench.snapshot())  # as a run saves it: the site names its section
    bench.close()  # the log is complete once the site stops
    log = read_wire_log(bench.work_dir / WIRE_LOG_FILE)
    writes = [r for r in log if r["device"] == "pv1" and r["op"] == "write"]
    assert [r["points"] for r in writes[:3]] == [{"704.WMaxLimPct": v} for v in (80.0, 60.0, 40.0)]
    for record, (t0, t1) in zip(writes, times):
        assert t0 <= record["t_s"] <= t1 and record["fc"] == 16 and record["address"] == start + 15
    assert writes[3]["exception"] == 3 and "points" not in writes[3] and writes[3]["values"] == [2000]
    assert any(r["device"] == "meter" and r["op"] == "read" and 203 in r["models"] for r in log)
    rows = {(r["device"], r["point"]): r for r in summarize(log)}
    row = rows[("pv1", "704.WMaxLimPct")]
    assert (row["writes"], row["first"], row["last"], row["min"], row["max"]) == (3, 80.0, 40.0, 40.0, 80.0)
    assert row["writes_per_min"] > 0
    assert rows[("pv1", "model 704")]["refused"] == 1
    html = summary_html(bench.work_dir)
    assert "Wire log" in html and "704.WMaxLimPct" in html and "meter" in html
    report = build_report(bench.work_dir).read_text()  # the report rebuilt from the run folder has it too
    assert "<h2>Wire log</h2>" in report and "704.WMaxLimPct" in report
    (bench.work_dir / STATION_FILE).unlink()  # the report knows of no wire log but through the station
    assert "<h2>Wire log</h2>" not in build_report(bench.work_dir).read_text()


def test_without_pv_simulator_or_loads_the_site_follows_its_profiles(tmp_path):
    text = without_tables(bench_text(), "instruments.pv", "instruments.load")
    text = text.replace(
        "# irradiance_pu = [[0, 0.2], [600, 1.0]]\n# load_w = 3000.0",
        "irradiance_pu = [[0, 0.5], [20, 1.0]]\nload_w = 2000.0",
    )
    path = tmp_path / "bench.toml"
    path.write_text(text)
    clock = ScaledClock(10.0)
    bench = open_bench(path, clock, tmp_path / "run")
    try:
        bench.grid.set_voltage(240.0)
        bench.grid.set_frequency(60.0)
        bench.grid.set_output(True)
        site = bench.virtual_lab.site
        clock.sleep(4.0)
        pcc_w = bench.analyzer.read().elements[1].power_w
        assert site.truth()["t_s"] - site._start_s < 18.0, "the machine is too slow for this profile"
        assert abs(pcc_w - (2000.0 - 5000.0)) < 60  # half of the 10 kW of PV ratings
        clock.sleep_until(site._start_s + 24.0)
        assert abs(bench.analyzer.read().elements[1].power_w - (2000.0 - 10000.0)) < 60
    finally:
        bench.close()


# -- RTU, other device families, bench file errors -------------------------------------------------


def _variant(tmp_path: Path, old: str, new: str) -> Path:
    text = bench_text()
    assert old in text
    path = tmp_path / "bench.toml"
    path.write_text(text.replace(old, new))
    return path


def test_rtu_legacy_battery_and_a_register_map_meter(tmp_path, clock):
    path = _variant(
        tmp_path,
        """family = "sunspec-7xx"            # WSet in 704; "sunspec-legacy" adds model 124 (storage)
rated_w = 5000.0
unit_id = 13""",
        '''family = "sunspec-legacy"
rated_w = 5000.0
unit_id = 3
transport = "rtu"''',
    )
    path.write_text(
        path.read_text().replace(
            'family = "sunspec"                # or "regmap" with map = "eastron-sdm630"\nmodel = 203',
            'family = "regmap"\nmap = "eastron-sdm630"',
        )
    )
    bench = open_bench(path, clock, tmp_path / "run")
    try:
        energize(bench)
        site = bench.virtual_lab.site
        entry = next(i for i in site.site_map()["inverters"] if i["name"] == "battery")
        assert entry["transport"] == "rtu" and entry["address"].startswith("/dev/")
        client = ModbusSerialClient(entry["address"], baudrate=entry["baud"], timeout=1, retries=0)
        battery = Device("", unit=3, client=client)
        assert 124 in battery.starts
        start = battery.starts[124]
        # OutWRte caps discharge, InWRte caps charging (% of WChaMax, InOutWRte_SF = -1): the battery's own
        # request (0 here) is held in [-InWRte, OutWRte], so InWRte = -40 % with CHARGE forces a 2 kW discharge
        assert not battery.write(start + offset(124, "OutWRte"), [400]).isError()
        assert not battery.write(start + offset(124, "StorCtl_Mod"), [2]).isError()
        clock.sleep(3.0)
        assert abs(site.truth()["devices"]["battery"]["p_w"]) < 20  # a cap alone: the request (idle) stands
        assert not battery.write(start + offset(124, "InWRte"), [0x10000 - 400]).isError()
        assert not battery.write(start + offset(124, "StorCtl_Mod"), [3]).isError()
        clock.sleep(3.0)
        assert abs(site.truth()["devices"]["battery"]["p_w"] - 2000.0) < 20
        battery.close()
        meter_entry = site.site_map()["meter"]
        assert meter_entry["family"] == "regmap"
        host, port = meter_entry["address"].rsplit(":", 1)
        meter = ModbusTcpClient(host, port=int(port), timeout=1)
        assert meter.connect()
        # Eastron SDM630 total system power: input registers 52-53, float32, watts (positive import)
        response = meter.read_input_registers(52, count=2, device_id=meter_entry["unit_id"])
        watts = struct.unpack(">f", struct.pack(">HH", *response.registers))[0]
        assert abs(watts - (steady_pcc() - 2000.0)) < 60
        meter.close()
    finally:
        bench.close()
    log = read_wire_log(tmp_path / "run" / WIRE_LOG_FILE)
    assert any(r["device"] == "battery" and r.get("points") == {"124.StorCtl_Mod": 3} for r in log)
    assert any(r["device"] == "meter" and r["fc"] == 4 for r in log)


@pytest.mark.parametrize(
    "old, new, message",
    [
        (
            'kind = "pv"\nfamily = "sunspec-7xx"',
            'kind = "pv"\nfamily = "sunspec-8xx"',
            r"site_devices.pv1\]: family for a pv must be one of sunspec-7xx, sunspec-legacy",
        ),
        ("rated_w = 6000.0", "rated_w = 6000.0\nspeed = 3", r"toml:33: virtual.site_devices.pv1.speed: unknown key"),
        (
            'kind = "battery"\nfamily = "sunspec-7xx"',
            'kind = "meter"\nfamily = "sunspec"',
            r"exactly one meter at the PCC \(found 2: battery, meter\)",
        ),
        (
            'listen = "127.0.0.1:0"\n\n[virtual.site_devices.pv2]',
            'listen = "localhost"\n\n[virtual.site_devices.pv2]',
            r"site_devices.pv1\]: listen: expected \"host:port\"",
        ),
        ("device_time_constant_s = 0.3", "device_time_constant_s = -1", r"\[virtual.plant\]: device_time_constant_s"),
    ],
)
def test_bench_file_mistakes_name_the_table_and_key(tmp_path, clock, old, new, message):
    with pytest.raises(BenchError, match=message):
        open_bench(_variant(tmp_path, old, new), clock, tmp_path / "run")


def test_an_address_already_taken_is_a_clear_error(tmp_path, clock):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        path = _variant(
            tmp_path,
            'listen = "127.0.0.1:0"\n\n[virtual.site_devices.battery]',
            f'listen = "127.0.0.1:{port}"\n\n[virtual.site_devices.battery]',
        )
        with pytest.raises(BenchError, match=rf"site_devices.pv2\]: cannot serve on 127.0.0.1:{port} \(tcp\)"):
            open_bench(path, clock, tmp_path / "run")


def test_a_fixed_listen_address_is_served(tmp_path, clock):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    path = _variant(
        tmp_path,
        'listen = "127.0.0.1:0"\n\n[virtual.site_devices.pv2]',
        f'listen = "127.0.0.1:{port}"\n\n[virtual.site_devices.pv2]',
    )
    bench = open_bench(path, clock, tmp_path / "run")
    try:
        assert bench.virtual_lab.site.site_map()["inverters"][0]["address"] == f"127.0.0.1:{port}"
        device = Device(f"127.0.0.1:{port}", 11)
        assert device.read(40000, 2) == [0x5375, 0x6E53]
        device.close()
    finally:
        bench.close()
