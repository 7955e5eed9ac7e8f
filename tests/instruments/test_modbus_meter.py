"""The generic Modbus meter with the bundled maps (Eastron SDM630, Carlo Gavazzi EM24),
against the map-driven emulator over Modbus TCP and RTU on a virtual serial pair."""

from __future__ import annotations

import math

import pytest

from flexbench.instruments.drivers.modbus_meter import ModbusMeter
from flexbench.instruments.emulators import ModbusMeterEmulator
from flexbench.instruments.regmap import RegisterMap, RegisterMapError
from flexbench.instruments.roles import InstrumentTimeout, MeterReading, PhaseReading

TIMEOUT_S = 1.0
READING = MeterReading(
    phases=(
        PhaseReading(240.5, 10.0, 2300.0, -150.0, 59.9),
        PhaseReading(239.5, 11.0, 2500.0, -120.0, 59.9),
        PhaseReading(241.0, 9.0, 2100.0, -90.0, 59.9),
    ),
    power_w=6900.0,
    reactive_power_var=-360.0,
    voltage_v=240.3,
    current_a=30.0,
    frequency_hz=59.9,
    energy_import_wh=12_345_600.0,
    energy_export_wh=234_500.0,
)


@pytest.fixture(
    params=[
        ("eastron-sdm630", "tcp"),
        ("carlo-gavazzi-em24", "tcp"),
        ("eastron-sdm630", "rtu"),
        ("carlo-gavazzi-em24", "rtu"),
    ],
    ids=lambda p: f"{p[0]}-{p[1]}",
)
def meter(request):
    name, link = request.param
    emulator = ModbusMeterEmulator(name, link=link, values={"serial_number": "EM24X0042"} if "em24" in name else None)
    emulator.start()
    driver = ModbusMeter(emulator.address, options={"map": name}, timeout_s=TIMEOUT_S)
    driver.connect()
    yield driver, emulator
    driver.close()
    emulator.stop()


def test_read_gives_phases_totals_and_energy(meter):
    driver, emulator = meter
    emulator.measurement_source = lambda: READING
    reading = driver.read()
    assert len(reading.phases) == 3
    for got, want in zip(reading.phases, READING.phases):
        for field in ("voltage_v", "current_a", "power_w", "reactive_power_var", "frequency_hz"):
            assert getattr(got, field) == pytest.approx(getattr(want, field), abs=0.05), field
    for field in ("power_w", "reactive_power_var", "voltage_v", "frequency_hz", "energy_import_wh", "energy_export_wh"):
        assert getattr(reading, field) == pytest.approx(getattr(READING, field), rel=1e-6, abs=0.05), field
    assert reading.instrument_time_s is None


def test_identity_and_snapshot(meter):
    driver, emulator = meter
    ident = driver.identity()
    assert ident.manufacturer in ("Eastron", "Carlo Gavazzi")
    if ident.manufacturer == "Carlo Gavazzi":
        assert ident.serial == "EM24X0042"
        assert driver.snapshot()["settings"] == {"phase_config": 0, "application": 7}
    else:
        assert driver.snapshot()["settings"] == {"demand_period_min": 60.0, "system_type": 3.0, "modbus_address": 1.0}


def test_sdm630_reads_input_registers_in_few_requests():
    with ModbusMeterEmulator("eastron-sdm630") as emulator:
        driver = ModbusMeter(emulator.address, options={"map": "eastron-sdm630"}, timeout_s=TIMEOUT_S)
        driver.connect()
        mark = len(emulator.command_log)
        driver.read()
        # 0x0000..0x004B in one function-4 request: every gap is at most 12 registers.
        assert [(r.function_code, r.register, r.count) for r in emulator.command_log.entries()[mark:]] == [(4, 0, 76)]
        driver.write_point("system_type", 1)
        assert emulator.get("system_type") == 1.0
        with pytest.raises(RegisterMapError, match=r"system_type = 4 is outside its range 1..3"):
            driver.write_point("system_type", 4)
        driver.close()


def test_em24_int32_words_go_low_word_first():
    with ModbusMeterEmulator("carlo-gavazzi-em24") as emulator:
        emulator.set("power_w", 70000.0)  # 700000 in tenths of a watt: 0x000AAE60
        driver = ModbusMeter(emulator.address, options={"map": "carlo-gavazzi-em24"}, timeout_s=TIMEOUT_S)
        assert driver.transport.read_holding_registers(0x28, 2) == [0xAE60, 0x000A]
        assert driver.read().power_w == 70000.0
        driver.close()


def test_totals_are_derived_from_the_phases_when_the_map_has_none(tmp_path):
    lines = [
        "[device]",
        'manufacturer = "Acme"',
        'model = "M1"',
        'source = "Acme M1 manual, table 2"',
        'table = "input"',
    ]
    for n, base in ((1, 0), (2, 10), (3, 20)):
        for offset, (q, u) in enumerate((("voltage", "v"), ("current", "a"), ("power", "w"))):
            lines += [f"[points.{q}_l{n}_{u}]", f"address = {base + offset}", 'type = "int16"']
    path = tmp_path / "acme_m1.toml"
    path.write_text("\n".join(lines) + "\n")
    with ModbusMeterEmulator(RegisterMap.from_file(path)) as emulator:
        emulator.measurement_source = lambda: READING
        driver = ModbusMeter(emulator.address, options={"map": str(path)}, timeout_s=TIMEOUT_S)
        reading = driver.read()
        assert reading.power_w == 2300 + 2500 + 2100 and reading.current_a == 30.0
        assert reading.voltage_v == pytest.approx((240 + 240 + 241) / 3)  # int16 volts: 240.5 rounds to 240
        assert math.isnan(reading.frequency_hz) and math.isnan(reading.energy_import_wh)
        assert math.isnan(reading.phases[0].reactive_power_var)
        driver.close()


def test_a_map_without_power_points_is_not_a_meter(tmp_path):
    path = tmp_path / "thermo.toml"
    path.write_text(
        '[device]\nmanufacturer = "A"\nmodel = "T"\nsource = "A T manual"\n'
        '[points.temperature_c]\naddress = 0\ntype = "int16"\n'
    )
    with pytest.raises(ValueError, match="neither power_w nor per-phase power points"):
        ModbusMeter("modbus+tcp://127.0.0.1:502/1", options={"map": str(path)})
    with pytest.raises(ValueError, match="option map"):
        ModbusMeter("modbus+tcp://127.0.0.1:502/1")
    with pytest.raises(ValueError, match="Modbus"):
        ModbusMeter("TCPIP0::127.0.0.1::5025::SOCKET", options={"map": "eastron-sdm630"})


def test_units_on_one_serial_bus_share_the_port():
    """Two meters on one RS-485 line: the port opens once; a unit that does not answer times out alone."""
    with ModbusMeterEmulator("eastron-sdm630", link="rtu") as emulator:
        emulator.measurement_source = lambda: READING
        present = ModbusMeter(emulator.address, options={"map": "eastron-sdm630"}, timeout_s=TIMEOUT_S)
        absent = ModbusMeter(
            emulator.address.replace("unit=1", "unit=2"), options={"map": "eastron-sdm630"}, timeout_s=0.2
        )
        present.connect()
        absent.connect()
        assert present.lock is absent.lock
        assert present.read().power_w == pytest.approx(6900.0)
        with pytest.raises(InstrumentTimeout) as info:
            absent.read()
        assert "unit=2" in info.value.address
        assert present.read().power_w == pytest.approx(6900.0)
        present.close()
        absent.close()
