"""The SunSpec DER driver on equipment that speaks only the legacy models (103, 120, 121, 123),
on model 705 volt-var curves, and over Modbus RTU on a virtual serial pair."""

from __future__ import annotations

import math
import time

import pytest
from pymodbus.client import ModbusTcpClient
from sunspec2.modbus.client import SunSpecModbusClientDeviceTCP

from flexbench.instruments.drivers.sunspec_der import SunSpecDER
from flexbench.instruments.emulators import SunSpecDEREmulator
from flexbench.instruments.roles import InstrumentError, InstrumentTimeout, SafetyLimitError, SafetyLimits
from flexbench.instruments.transports.modbus import ModbusExceptionResponse

TIMEOUT_S = 1.0
LEGACY = (1, 103, 120, 121, 123)
LIMITS = SafetyLimits(power_max_w=8000.0, source="lab/benches/test.toml [instruments.dut.safety]")


def connect(emulator, **kwargs) -> SunSpecDER:
    driver = SunSpecDER(emulator.address, timeout_s=TIMEOUT_S, **kwargs)
    driver.connect()
    return driver


def writes(emulator, since: int = 0) -> list[tuple[int, list[int]]]:
    return [(r.register, list(r.values)) for r in emulator.command_log.entries()[since:] if r.values]


@pytest.fixture
def legacy():
    emulator = SunSpecDEREmulator(
        models=LEGACY, nameplate={"max_power_w": 60000.0, "max_apparent_power_va": 66000.0}
    ).start()
    driver = connect(emulator, safety=LIMITS)
    yield driver, emulator
    driver.close()
    emulator.stop()


# -- legacy models ------------------------------------------------------------------------------


def test_legacy_nameplate_and_measurement_with_scale_factors(legacy):
    driver, emulator = legacy
    plate = driver.nameplate()
    assert (plate.max_power_w, plate.max_apparent_power_va) == (60000.0, 66000.0)
    assert driver.read_point(120, "WRtg_SF") == 1  # 66 kVA does not fit int16 watts
    emulator.set(103, "W", 45670.0)
    emulator.set(103, "VAr", -1230.0)
    for phase, volts in zip("ABC", (277.1, 276.9, 277.3)):
        emulator.set(103, f"PhVph{phase}", volts)
    emulator.set(103, "Hz", 60.02)
    m = driver.measure()
    assert (m.power_w, m.reactive_power_var, m.frequency_hz) == (45670.0, -1230.0, 60.02)
    assert m.voltage_v == pytest.approx(277.1)
    assert m.extra["TmpCab"] == 25.0 and "TmpSnk" not in m.extra  # an unimplemented sentinel is left out
    assert driver.read_point(103, "TmpSnk") is None


def test_legacy_power_limit_through_model_123(legacy):
    driver, emulator = legacy
    start = driver.models[123][0].start
    mark = len(emulator.command_log)
    driver.set_active_power_limit_pct(12.5)  # of WMax (121) = 60 kW: 7.5 kW, under power_max_w
    # WMaxLimPct_SF = -1: 12.5 % goes out as 125, then WMaxLim_Ena = 1 (ENABLED).
    layout = driver.read_model(123).layout
    assert writes(emulator, mark) == [
        (start + layout.point("WMaxLimPct").offset, [125]),
        (start + layout.point("WMaxLim_Ena").offset, [1]),
    ]
    assert driver.active_power_limit_pct() == 12.5 and emulator.get(123, "WMaxLim_Ena") == 1
    driver.safe_state()
    assert driver.active_power_limit_pct() is None and emulator.get(123, "WMaxLim_Ena") == 0
    mark = len(emulator.command_log)
    with pytest.raises(SafetyLimitError, match="power_max_w = 8000") as info:
        driver.set_active_power_limit_pct(20.0)  # 12 kW
    assert "[instruments.dut.safety]" in str(info.value)
    assert len(emulator.command_log) == mark
    with pytest.raises(InstrumentError, match="needs model 704"):
        driver.set_active_power_w(1000.0)
    assert driver.snapshot()["123.WMaxLim_Ena"] == 0


@pytest.mark.parametrize(
    "point, raw, code",
    [("WMaxLimPct", 1500, 3), ("WMaxLim_Ena", 5, 3), ("WMaxLimPct_SF", 0, 2)],
)
def test_model_123_answers_exception_codes(legacy, point, raw, code):
    driver, _ = legacy
    loc = driver.models[123][0]
    offset = driver.read_model(123).layout.point(point).offset
    with pytest.raises(ModbusExceptionResponse) as info:
        driver.transport.write_registers(loc.start + offset, [raw])
    assert info.value.exception_code == code


def test_power_factor_is_cos_phi_on_legacy_and_7xx_models(legacy):
    driver, emulator = legacy
    emulator.set(103, "PF", -95.0)  # model 103 gives percent
    assert driver.measure().extra["PF"] == pytest.approx(-0.95)
    with SunSpecDEREmulator() as emulator_7xx:
        emulator_7xx.set(701, "PF", -0.95)  # model 701 gives cos φ
        driver_7xx = connect(emulator_7xx)
        assert driver_7xx.measure().extra["PF"] == pytest.approx(-0.95)
        driver_7xx.close()


def test_pysunspec2_reads_the_legacy_emulator(legacy):
    _, emulator = legacy
    emulator.set(103, "W", 1230.0)  # tens of watts at this rating
    device = SunSpecModbusClientDeviceTCP(slave_id=1, ipaddr="127.0.0.1", ipport=emulator.port, timeout=2)
    try:
        device.scan()
        assert {1, 103, 120, 121, 123} <= {k for k in device.models if isinstance(k, int)}
        assert device.models[103][0].W.cvalue == 1230.0
        assert device.models[120][0].WRtg.cvalue == 60000.0
        assert device.models[103][0].TmpSnk.value is None
    finally:
        device.close()


def model_123_from_its_header(driver, pct_raw: int) -> tuple[int, list[int]]:
    """Model 123 as a controller writes it: read whole, the limit changed, written back as one block from its ID."""
    loc = driver.models[123][0]
    block = driver.read_model(123)
    registers = list(block.registers)
    registers[block.layout.point("WMaxLimPct").offset] = pct_raw
    registers[block.layout.point("WMaxLim_Ena").offset] = 1
    return loc.start, registers


def test_a_model_123_block_write_from_its_header_is_accepted_and_the_header_ignored(legacy):
    driver, emulator = legacy
    start, registers = model_123_from_its_header(driver, 425)  # WMaxLimPct_SF = -1: 42.5 %
    assert len(registers) == 26 and registers[:2] == [123, 24]
    client = ModbusTcpClient("127.0.0.1", port=emulator.port, timeout=2, retries=0)
    assert client.connect()
    try:
        response = client.write_registers(start, registers, device_id=1)
    finally:
        client.close()
    assert not response.isError(), response
    assert (emulator.get(123, "WMaxLimPct"), emulator.get(123, "WMaxLim_Ena")) == (42.5, 1)
    assert emulator.blocks[123].registers[:2] == [123, 24]
    (finding,) = emulator.write_findings
    assert (
        finding.exception_code is None and finding.models == (123,) and (finding.address, finding.count) == (start, 26)
    )
    assert "model 123 header (ID, L)" in finding.why and "read-only 123.WMaxLimPct_SF" in finding.why
    assert "written as the device holds them" in finding.why


def test_a_strict_device_refuses_the_block_write_and_records_why(legacy):
    driver, emulator = legacy
    emulator.strict_writes = True
    start, registers = model_123_from_its_header(driver, 425)
    with pytest.raises(ModbusExceptionResponse) as info:
        driver.transport.write_registers(start, registers)
    assert info.value.exception_code == 2
    assert (emulator.get(123, "WMaxLimPct"), emulator.get(123, "WMaxLim_Ena")) == (100.0, 0)
    (finding,) = emulator.write_findings
    assert finding.exception_code == 2 and "strict device" in finding.why and "header" in finding.why
    assert "refused (exception 2)" in finding.text and f"{start}-{start + 25}" in finding.text
    # the points alone are still taken
    driver.write_points(123, {"WMaxLimPct": 42.5, "WMaxLim_Ena": 1})
    assert emulator.get(123, "WMaxLimPct") == 42.5 and len(emulator.write_findings) == 1


def test_pysunspec2_writing_model_123_whole_is_accepted(legacy):
    _, emulator = legacy
    device = SunSpecModbusClientDeviceTCP(slave_id=1, ipaddr="127.0.0.1", ipport=emulator.port, timeout=2)
    try:
        device.scan()
        model = device.models[123][0]
        for name, point in model.points.items():  # as read, sent back from its ID to WMaxLim_Ena: one block
            point.dirty = True
            if name == "WMaxLim_Ena":
                break
        model.WMaxLimPct.cvalue = 60.0
        model.WMaxLim_Ena.value = 1
        model.write()
    finally:
        device.close()
    assert (emulator.get(123, "WMaxLimPct"), emulator.get(123, "WMaxLim_Ena")) == (60.0, 1)
    (finding,) = emulator.write_findings
    assert finding.count == 10 and "header" in finding.why


def test_a_device_without_power_controls_says_so():
    with SunSpecDEREmulator(models=(1, 103)) as emulator:
        driver = connect(emulator)
        with pytest.raises(InstrumentError, match="neither model 704 nor model 123"):
            driver.set_active_power_limit_pct(50.0)
        with pytest.raises(InstrumentError, match="neither model 702 nor model 120"):
            driver.nameplate()
        assert driver.measure().power_w == 0.0
        driver.close()


# -- model 705 volt-var ------------------------------------------------------------------------------


@pytest.fixture
def volt_var():
    emulator = SunSpecDEREmulator(models=(1, 701, 702, 704, 705)).start()
    driver = connect(emulator)
    yield driver, emulator
    driver.close()
    emulator.stop()


def test_volt_var_curve_is_written_adopted_and_enabled(volt_var):
    driver, emulator = volt_var
    assert driver.models[705][0].length == 67  # 3 curves of 4 points, as the device reports NCrv and NPt
    assert driver.volt_var_curve() == [(92.0, 30.0), (98.0, 0.0), (102.0, 0.0), (108.0, -30.0)]
    assert driver.volt_var_enabled() is False
    curve = [(90.0, 44.0), (96.5, 0.0), (104.0, -22.0)]
    driver.set_volt_var_curve(curve)
    assert driver.volt_var_curve(1) == curve and driver.volt_var_curve(0) == curve  # adopted as the active curve
    assert emulator.get(705, "AdptCrvReq") == 2 and emulator.get(705, "AdptCrvRslt") == 1
    assert driver.volt_var_enabled() is True
    assert driver.snapshot()["705.curve"] == curve


@pytest.mark.parametrize(
    "points, kwargs, match",
    [
        ([(90.0, 10.0)], {}, r"2..4 points"),
        ([(95.0, 10.0), (94.0, 0.0)], {}, "increase strictly"),
        ([(95.0, 10.0), (105.0, -10.0)], {"curve": 0}, "read-only"),
        ([(95.0, 10.0), (105.0, -10.0)], {"curve": 3}, "curves 0..2"),
    ],
)
def test_bad_curves_are_refused_before_sending(volt_var, points, kwargs, match):
    driver, emulator = volt_var
    mark = len(emulator.command_log)
    with pytest.raises(ValueError, match=match):
        driver.set_volt_var_curve(points, **kwargs)
    assert writes(emulator, mark) == []


def test_the_device_refuses_writes_to_its_read_only_curve(volt_var):
    driver, _ = volt_var
    with pytest.raises(ModbusExceptionResponse) as info:
        offset = driver.read_model(705).layout.point("Crv[0].ActPt").offset
        driver.transport.write_registers(driver.models[705][0].start + offset, [5])
    assert info.value.exception_code == 2


def test_adoption_in_progress_is_polled_to_completion(volt_var):
    driver, emulator = volt_var
    emulator.adopt_time_s = 0.3  # AdptCrvRslt reads 0 (in progress) for a while, then 1
    curve = [(93.0, 20.0), (107.0, -20.0)]
    driver.set_volt_var_curve(curve)
    assert driver.volt_var_curve(0) == curve and driver.volt_var_enabled() is True
    entries = emulator.command_log.entries()

    def covers(record, point: str) -> bool:
        return any(spec.name == point for _, spec in emulator.points_at(record.register, record.count))

    request = max(i for i, r in enumerate(entries) if r.values and covers(r, "AdptCrvReq"))
    polls = [r for r in entries[request + 1 :] if not r.values and covers(r, "AdptCrvRslt")]
    assert len(polls) >= 2  # read again while it was in progress


def test_an_adoption_still_in_progress_at_the_timeout_is_an_instrument_error(volt_var):
    _, emulator = volt_var
    emulator.adopt_time_s = 3600.0
    driver = connect(emulator, options={"adopt_timeout_s": 0.3})
    with pytest.raises(InstrumentError, match=r"AdptCrvRslt = 0 \(in progress\) after 0.3 s"):
        driver.set_volt_var_curve([(95.0, 10.0), (105.0, -10.0)])
    assert driver.volt_var_enabled() is False
    driver.close()
    with pytest.raises(ValueError, match="adopt_timeout_s"):
        SunSpecDER(emulator.address, options={"adopt_timeout_s": "soon"})


def test_a_failed_adoption_is_an_instrument_error(volt_var, monkeypatch):
    driver, emulator = volt_var
    driver.write_point(705, "AdptCrvReq", 9)
    assert driver.read_point(705, "AdptCrvRslt") == 2  # FAILED: there is no curve 9
    # A device that refuses the curve it was asked to adopt.
    monkeypatch.setattr(emulator, "after_write", lambda model, point: emulator.blocks[705].set("AdptCrvRslt", 2))
    with pytest.raises(InstrumentError, match=r"did not adopt volt-var curve 1: AdptCrvRslt = 2 \(failed\)"):
        driver.set_volt_var_curve([(95.0, 10.0), (105.0, -10.0)])
    assert driver.volt_var_enabled() is False


# -- RTU --------------------------------------------------------------------------------------------------


def test_the_der_over_rtu_with_exceptions_and_timeouts():
    with SunSpecDEREmulator(link="rtu", unit_id=2) as emulator:
        driver = connect(emulator, safety=LIMITS)
        assert driver.identity().serial == "EMU-0001"
        driver.set_active_power_limit_pct(33.0)
        assert emulator.get(704, "WMaxLimPct") == 33.0 and driver.active_power_limit_pct() == 33.0
        with pytest.raises(ModbusExceptionResponse) as info:
            driver.transport.write_registers(driver.models[704][0].start + 15, [2000])  # 200 %
        assert info.value.exception_code == 3 and info.value.address == emulator.address
        emulator.responding = False
        with pytest.raises(InstrumentTimeout):
            driver.measure()
        emulator.responding = True
        assert not math.isnan(driver.measure().power_w)
        driver.close()
    # The serial device is gone with the emulator: a connection error, not a timeout.
    with pytest.raises(InstrumentError, match="connection lost|cannot connect") as info:
        driver.measure()
    assert not isinstance(info.value, InstrumentTimeout)


def test_a_device_that_drops_the_connection_between_requests_is_reconnected(volt_var):
    driver, emulator = volt_var
    for _ in range(3):
        emulator.drop_connections()
        time.sleep(0.02)
        driver.set_active_power_limit_pct(50.0)
    assert emulator.get(704, "WMaxLimPct") == 50.0
