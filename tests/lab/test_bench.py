"""The virtual bench assembled from the embedded bench file, talking over its real wire protocols."""

import time
from pathlib import Path

import pytest

from flexbench.core import channels
from flexbench.instruments.roles import InstrumentTimeout, SafetyLimitError
from flexbench.lab import station
from flexbench.lab.bench import Bench
from flexbench.lab.bench_config import BenchError
from flexbench.lab.clock import ScaledClock
from flexbench.lab.recorder import Recorder
from flexbench.lab.report import build_report
from flexbench.lab.results import STATION_FILE, write_json

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def bench():
    b = Bench.open(None, ScaledClock(20.0))
    yield b
    b.close()


def test_analyzer_measures_what_the_virtual_dut_does(bench):
    grid, der, analyzer = bench.grid, bench.der, bench.analyzer
    grid.set_voltage(240.0)
    grid.set_frequency(60.0)
    grid.set_output(True)
    bench.clock.sleep(20.0)
    dut = analyzer.read().elements[bench.element("dut")]
    assert dut.power_w == pytest.approx(10_050, abs=100)  # rated power + 0.5 % steady-state error
    assert der.measure().power_w == pytest.approx(dut.power_w, abs=100)
    der.set_active_power_limit_pct(33.0)
    assert der.active_power_limit_pct() == pytest.approx(33.0)
    bench.clock.sleep(20.0)
    reading = analyzer.read()
    assert reading.elements[bench.element("dut")].power_w == pytest.approx(3_350, abs=100)
    assert reading.elements[bench.element("pcc")].power_w == pytest.approx(2_000 - 3_350, abs=100)


def test_setpoint_beyond_safety_limit_is_refused_before_it_is_sent(bench):
    emulator = bench.virtual_lab.emulator("grid_simulator")
    sent_before = len(emulator.command_log)
    with pytest.raises(SafetyLimitError) as err:
        bench.grid.set_voltage(400.0)
    assert "voltage_max_v" in str(err.value) and "virtual.toml" in str(err.value)
    assert len(emulator.command_log) == sent_before
    assert all("400" not in entry.command for entry in emulator.command_log)  # the message, not its time stamp


def test_instrument_that_stops_answering_times_out_and_safe_state_turns_grid_off(bench):
    bench.grid.set_output(True)
    assert bench.virtual_lab.emulator("grid_simulator").output_on
    bench.virtual_lab.emulator("der").responding = False
    started = time.monotonic()
    with pytest.raises(InstrumentTimeout) as err:
        bench.der.measure()
    assert time.monotonic() - started < 5.0
    assert bench.der.address in str(err.value)
    failures = bench.safe_state("test")
    assert bench.virtual_lab.emulator("grid_simulator").output_on is False
    assert len(failures) == 1 and failures[0].startswith("dut:")


def test_station_snapshot_has_identity_and_settings_of_every_instrument(bench):
    station = bench.snapshot()
    assert set(station["instruments"]) == {"grid", "analyzer", "dut"}
    for entry in station["instruments"].values():
        assert entry["identity"]["model"] and "settings" in entry
    assert station["time_scale"] == 20.0


# -- the station: components the bench treats alike ------------------------------------------


class Thermometer:
    """A kind of component the bench has never heard of, added through the registry alone."""

    kind = "thermometer"
    safe_rank = station.SAFE_INSTRUMENT

    def __init__(self, name: str, fail_safe: bool = False, fail_close: bool = False) -> None:
        self.name = name
        self.fail_safe, self.fail_close = fail_safe, fail_close
        self.calls: list[str] = []

    def start(self) -> None:
        self.calls.append("start")

    def close(self) -> None:
        self.calls.append("close")
        if self.fail_close:
            raise RuntimeError("the thermometer would not let go")

    def safe_state(self) -> None:
        self.calls.append("safe_state")
        if self.fail_safe:
            raise RuntimeError("the thermometer is stuck")

    def snapshot(self) -> dict:
        return {"identity": {"model": "T-1", "firmware": "2.0"}, "settings": {"unit": "degC"}}

    def channels(self) -> list[station.Channels]:
        return [station.Channels(self.name, lambda: {f"{self.name}.temp_c": 21.5}, 0.5)]


@pytest.fixture
def registered():
    """Register factories for the test; gone again afterwards, whatever the test did."""
    kinds: list[str] = []

    def register(kind, factory, **kw):
        station.register(kind, factory, **kw)
        kinds.append(kind)

    yield register
    for kind in kinds:
        station.unregister(kind)


def test_a_component_added_through_the_registry_is_started_recorded_snapshotted_and_made_safe(registered, tmp_path):
    made: list[Thermometer] = []
    registered("thermometer", lambda bench: made.append(Thermometer("thermo")) or made)
    events: list[tuple[str, dict]] = []
    clock = ScaledClock(20.0)
    bench = Bench.open(None, clock, on_event=lambda kind, data: events.append((kind, data)))
    recorder = Recorder(tmp_path, clock)
    try:
        (thermo,) = made
        assert isinstance(thermo, station.Component) and thermo in bench.components
        assert thermo.calls == ["start"] and bench.components[-1] is thermo  # after the kinds registered before
        snap = bench.snapshot()
        assert snap["components"]["thermo"] == {
            "kind": "thermometer",
            "identity": {"model": "T-1", "firmware": "2.0"},
            "settings": {"unit": "degC"},
        }
        assert set(snap["instruments"]) == {"grid", "analyzer", "dut"}  # instruments stay where they were
        recorder.add_channels(bench.channels())
        clock.sleep(5.0)
        assert len(recorder.series("thermo.temp_c")[1]) >= 3 and recorder.series(channels.PCC_P_W)[1].size
    finally:
        recorder.close()
        bench.close()
    assert thermo.calls == ["start", "safe_state", "close"]
    assert ("safe_state", {"instrument": "thermo", "ok": True, "reason": "bench closed"}) in events


def test_safe_state_reaches_every_instrument_when_a_component_fails_its_safe_state_and_close(registered):
    made: list[Thermometer] = []

    def factory(bench):
        stuck = Thermometer("stuck", fail_safe=True, fail_close=True)
        stuck.safe_rank = station.SAFE_FIRST  # asked first: the others must still get their turn
        made.append(stuck)
        return made

    registered("stuck", factory, before="virtual_lab")  # closed among the others, before the virtual lab
    events: list[tuple[str, dict]] = []
    bench = Bench.open(None, ScaledClock(20.0), on_event=lambda kind, data: events.append((kind, data)))
    lab = bench.virtual_lab
    bench.grid.set_output(True)
    assert lab.emulator("grid_simulator").output_on
    assert bench.safe_state("test") == ["stuck: the thermometer is stuck"]
    assert lab.emulator("grid_simulator").output_on is False
    bench.grid.set_output(True)
    bench.close()  # the stuck component raises in safe_state and close: everything else still goes safe and closes
    assert lab.emulator("grid_simulator").output_on is False
    safe = [d["instrument"] for kind, d in events if kind == "safe_state" and d["reason"] == "bench closed"]
    assert safe[0] == "stuck" and safe[1] == "grid" and {"analyzer", "dut", "virtual_lab"} <= set(safe)
    assert made[0].calls == ["start", "safe_state", "safe_state", "close"]
    assert any(kind == "virtual_lab_stopped" for kind, _ in events)  # closed after the stuck one


def test_a_component_that_fails_to_start_closes_those_started_before_it(registered):
    class Broken(Thermometer):
        def start(self) -> None:
            raise BenchError("the broken part will not start")

    registered("broken", lambda bench: [Broken("broken")])
    events: list[tuple[str, dict]] = []
    with pytest.raises(BenchError, match="will not start"):
        Bench.open(None, ScaledClock(20.0), on_event=lambda kind, data: events.append((kind, data)))
    assert any(kind == "virtual_lab_stopped" for kind, _ in events)
    assert {d["instrument"] for kind, d in events if kind == "safe_state"} == {"grid", "analyzer", "dut", "virtual_lab"}


def test_every_part_of_a_virtual_pcs_bench_is_a_component(tmp_path):
    bench = Bench.open(ROOT / "lab/benches/virtual-pcs.toml", ScaledClock(20.0), work_dir=tmp_path)
    try:
        assert all(isinstance(c, station.Component) for c in bench.components)
        kinds = [c.kind for c in bench.components]
        assert kinds[:3] == ["csip", "opcua", "virtual_lab"] and set(kinds[3:]) == {"instrument"}
        assert bench.csip is bench.component("csip") and bench.opcua.endpoint.startswith("opc.tcp://")
        snap = bench.snapshot()
        assert snap["components"]["csip"]["url"].startswith("https://127.0.0.1:")
        assert snap["components"]["virtual_lab"]["site"] == "pcs"
        sources = {group.source for group in bench.channels()}
        assert sources == {"analyzer", "battery", "grid"}  # points of the analyzer, the DER, the grid simulator
    finally:
        bench.close()


def test_the_report_shows_the_station_from_the_components_snapshots(tmp_path):
    with Bench.open(None, ScaledClock(20.0), work_dir=tmp_path) as bench:
        write_json(tmp_path / STATION_FILE, bench.snapshot())
        serial = bench.der.identity().serial
    report = build_report(tmp_path).read_text()
    station = report[report.index("<h2>Equipment</h2>") :]
    assert serial in station and "virtual_lab" in station and "sunspec-der" in station


def analyzer_bench(tmp_path: Path, options: str) -> Path:
    """The embedded virtual bench with options for its analyzer."""
    text = (ROOT / "lab/benches/virtual.toml").read_text()
    anchor = "measures = { dut = 1, pcc = 2 }"
    path = tmp_path / "bench.toml"
    path.write_text(text.replace(anchor, f"{anchor}\n[instruments.analyzer.options]\n{options}\n", 1))
    return path


def test_the_analyzer_is_set_up_from_the_bench_file_and_the_station_records_it(tmp_path):
    path = analyzer_bench(tmp_path, 'voltage_range_v = 300\ncurrent_range_a = "auto"\nline_filter_hz = "off"')
    with Bench.open(path, ScaledClock(20.0), work_dir=tmp_path) as bench:
        settings = bench.snapshot()["instruments"]["analyzer"]["settings"]
        assert settings["inputs"]["voltage_range_v"] == {1: 300.0, 2: 300.0}
        assert settings["inputs"]["current_range_a"] == {1: "auto", 2: "auto"}
        assert settings["inputs"]["sync_source"] == {1: "I1", 2: "I2"}  # not set: as the analyzer had it
        sample = next(g for g in bench.channels() if g.source == "analyzer").read()
        assert {"pcc.thd_v_pct", "dut.thd_i_pct", "analyzer.instrument_time_s"} <= set(sample)


def test_an_analyzer_option_the_model_lacks_names_the_file_and_the_key(tmp_path):
    path = analyzer_bench(tmp_path, "voltage_range_v = 400")
    with pytest.raises(BenchError, match=rf"{path} \[instruments.analyzer\]: option voltage_range_v: 400 is not"):
        Bench.open(path, ScaledClock(20.0), work_dir=tmp_path)


def test_a_hioki_pw3390_serves_as_the_virtual_benchs_analyzer(tmp_path):
    path = analyzer_bench(tmp_path, 'voltage_range_v = 300\ncurrent_range_a = "auto"')
    path.write_text(path.read_text().replace('driver = "yokogawa-wt1800"', 'driver = "hioki-pw3390"', 1))
    with Bench.open(path, ScaledClock(20.0), work_dir=tmp_path) as bench:
        settings = bench.snapshot()["instruments"]["analyzer"]["settings"]
        assert settings["model"] == "PW3390" and settings["inputs"]["voltage_range_v"] == {1: 300.0, 2: 300.0}
        sample = next(g for g in bench.channels() if g.source == "analyzer").read()
        assert {"pcc.p_w", "dut.v_v", "pcc.thd_v_pct"} <= set(sample) and "analyzer.instrument_time_s" not in sample
