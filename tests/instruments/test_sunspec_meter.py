"""SunSpec meters (201-204, 211-214) against their emulator over Modbus TCP and RTU."""

from __future__ import annotations

import math
import time

import pytest
from sunspec2.modbus.client import SunSpecModbusClientDeviceTCP

from flexbench.instruments.drivers.sunspec_meter import SunSpecMeter
from flexbench.instruments.emulators import SunSpecDEREmulator, SunSpecMeterEmulator
from flexbench.instruments.roles import InstrumentError, InstrumentTimeout, MeterReading, PhaseReading

TIMEOUT_S = 1.0
PHASE = PhaseReading(240.5, 10.25, 2300.0, -150.0, 59.98)
READING = MeterReading(
    phases=(PHASE, PHASE, PHASE),
    power_w=6900.0,
    reactive_power_var=-450.0,
    voltage_v=240.5,
    current_a=30.75,
    frequency_hz=59.98,
    energy_import_wh=12345.0,
    energy_export_wh=678.0,
)


def meter_for(emulator: SunSpecMeterEmulator, **options) -> SunSpecMeter:
    driver = SunSpecMeter(emulator.address, options=options, timeout_s=TIMEOUT_S)
    driver.connect()
    return driver


@pytest.mark.parametrize("model, phases", [(201, 1), (202, 2), (203, 3), (204, 3), (211, 1), (213, 3), (214, 3)])
def test_every_meter_model_maps_to_a_reading(model, phases):
    with SunSpecMeterEmulator(model) as emulator:
        emulator.measurement_source = lambda: READING
        driver = meter_for(emulator)
        reading = driver.read()
        assert driver.meter_model == model and len(reading.phases) == phases
        assert reading.power_w == 6900.0 and reading.reactive_power_var == -450.0
        assert reading.current_a == pytest.approx(30.75) and reading.frequency_hz == pytest.approx(59.98)
        assert (reading.energy_import_wh, reading.energy_export_wh) == (12345.0, 678.0)
        assert reading.voltage_v == pytest.approx(240.5)
        phase = reading.phases[0]
        assert (phase.current_a, phase.power_w, phase.reactive_power_var) == pytest.approx((10.25, 2300.0, -150.0))
        if model in (204, 214):  # delta: no line-to-neutral voltages, so unimplemented
            assert math.isnan(phase.voltage_v)
        else:
            assert phase.voltage_v == pytest.approx(240.5)
        driver.close()


@pytest.mark.parametrize(
    "model, point, volts",
    [
        (202, "PhVphAB", 2 * 240.5),  # split phase: the halves add
        (212, "PPVphAB", 2 * 240.5),
        (203, "PhVphBC", math.sqrt(3) * 240.5),  # wye: 120 degrees apart
        (213, "PPVphCA", math.sqrt(3) * 240.5),
        (204, "PhVphAB", 240.5),  # delta: the meter measures line to line
        (214, "PPVphBC", 240.5),
    ],
)
def test_line_to_line_voltages_follow_the_wiring(model, point, volts):
    with SunSpecMeterEmulator(model) as emulator:
        emulator.publish(READING)
        assert emulator.get(model, point) == pytest.approx(volts, abs=0.1)
        assert emulator.get(model, "PPV") == pytest.approx(volts, abs=0.1)
        assert emulator.get(model, "Evt") == 0


def test_discovery_then_one_request_per_reading():
    with SunSpecMeterEmulator(203) as emulator:
        driver = meter_for(emulator)
        requested = [(r.function_code, r.register, r.count) for r in emulator.command_log.entries()]
        # 'SunS' at 40000, the chain of model headers, the end model.
        assert requested == [(3, 40000, 2), (3, 40002, 2), (3, 40070, 2), (3, 40177, 2)]
        mark = len(emulator.command_log)
        driver.read()
        assert [(r.register, r.count) for r in emulator.command_log.entries()[mark:]] == [(40070, 107)]
        snap = driver.snapshot()
        assert snap["meter_model"] == 203 and snap["serial"] == "MTR-0001" and snap["driver"] == "sunspec-meter"
        driver.close()


def test_large_ratings_use_scale_factors():
    with SunSpecMeterEmulator(203, rated_power_w=500_000.0) as emulator:
        emulator.measurement_source = lambda: MeterReading(
            (PHASE,) * 3, 412_340.0, -20_000.0, 277.0, 1500.0, 60.0, 1e9, 5.0
        )
        driver = meter_for(emulator)
        assert driver.read_point(203, "W_SF") == 2
        assert driver.read().power_w == 412_300.0  # hundreds of watts
        driver.close()


def test_unimplemented_points_read_as_nan(tmp_path):
    with SunSpecMeterEmulator(203) as emulator:
        emulator.set(203, "VAR", None)
        emulator.set(203, "TotWhExp", None)
        driver = meter_for(emulator)
        reading = driver.read()
        assert math.isnan(reading.reactive_power_var) and math.isnan(reading.energy_export_wh)
        assert driver.read_point(203, "TotVArhImpQ1") is None
        driver.close()


def test_options_choose_the_model_and_say_what_is_missing():
    with SunSpecMeterEmulator(201) as emulator:
        with pytest.raises(InstrumentError, match=r"no SunSpec model 203 \(models present: 1, 201\)"):
            meter_for(emulator, meter_model=203)
        with pytest.raises(ValueError, match="meter_model"):
            SunSpecMeter(emulator.address, options={"meter_model": 205})
    with SunSpecDEREmulator() as der:
        with pytest.raises(InstrumentError, match="no SunSpec meter model"):
            meter_for(der)


def test_rtu_on_a_virtual_serial_pair():
    with SunSpecMeterEmulator(203, unit_id=3, link="rtu") as emulator:
        assert emulator.address.startswith("modbus+rtu:///dev/") and emulator.address.endswith("unit=3")
        emulator.measurement_source = lambda: READING
        driver = meter_for(emulator)
        assert driver.read().power_w == 6900.0
        emulator.responding = False
        start = time.monotonic()
        with pytest.raises(InstrumentTimeout) as info:
            driver.read()
        assert time.monotonic() - start < TIMEOUT_S + 1.0 and info.value.address == emulator.address
        emulator.responding = True
        assert driver.read().power_w == 6900.0
        driver.close()


def test_a_dropped_tcp_connection_is_reconnected():
    with SunSpecMeterEmulator(203) as emulator:
        emulator.measurement_source = lambda: READING
        driver = meter_for(emulator)
        emulator.drop_connections()
        time.sleep(0.05)
        assert driver.read().power_w == 6900.0
        driver.close()


def test_pysunspec2_reads_the_meter_emulator():
    with SunSpecMeterEmulator(203) as emulator:
        emulator.measurement_source = lambda: READING
        device = SunSpecModbusClientDeviceTCP(slave_id=1, ipaddr="127.0.0.1", ipport=emulator.port, timeout=2)
        try:
            device.scan()
            meter = device.models[203][0]
            assert meter.W.cvalue == 6900.0 and meter.TotWhImp.cvalue == 12345.0
            assert meter.PhVphA.cvalue == pytest.approx(240.5)
        finally:
            device.close()
