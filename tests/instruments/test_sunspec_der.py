"""SunSpec DER driver against its emulator over Modbus TCP (pymodbus on both ends)."""

from __future__ import annotations

import math
import threading
import time

import pytest
from pymodbus.client import ModbusTcpClient
from sunspec2.modbus.client import SunSpecModbusClientDeviceTCP

from flexbench.instruments.addresses import ModbusTcpAddress
from flexbench.instruments.drivers.sunspec_der import SunSpecDER
from flexbench.instruments.emulators import SunSpecDEREmulator
from flexbench.instruments.roles import InstrumentError, InstrumentTimeout, SafetyLimitError
from flexbench.instruments.transports.modbus import ModbusExceptionResponse, ModbusTransport

# Where the default emulator places each model (base 40000, models 1, 701, 702, 704).
START = {1: 40002, 701: 40070, 702: 40225, 704: 40277}


def writes(emulator, since: int = 0):
    return [(r.register, list(r.values)) for r in emulator.command_log.entries()[since:] if r.values]


def test_discovery_walks_the_model_chain(der):
    assert {m: locs[0].start for m, locs in der.models.items()} == START
    assert der.base_address == 40000
    assert [loc.length for loc in (der.models[m][0] for m in (1, 701, 702, 704))] == [66, 153, 50, 65]


@pytest.mark.parametrize("base", [0, 50000])
def test_discovery_tries_the_other_base_addresses(base):
    with SunSpecDEREmulator(base_address=base) as emulator:
        driver = SunSpecDER(emulator.address, timeout_s=1.0)
        driver.connect()
        assert driver.base_address == base and driver.identity().serial == "EMU-0001"
        requested = [r.register for r in emulator.command_log.entries()[:3]]
        assert requested[: 2 if base == 0 else 3] == ([40000, 0] if base == 0 else [40000, 0, 50000])
        driver.close()


def test_a_device_without_sunspec_is_reported(der_emulator):
    driver = SunSpecDER(der_emulator.address, options={"base_address": 1000}, timeout_s=1.0)
    with pytest.raises(InstrumentError, match="'SunS' not found at register 1000"):
        driver.connect()
    driver.close()


def test_identity_nameplate_and_measurement(der, der_emulator):
    ident = der.identity()
    assert (ident.manufacturer, ident.model, ident.serial, ident.firmware) == (
        "flexbench",
        "Virtual DER",
        "EMU-0001",
        "1.0.0",
    )
    plate = der.nameplate()
    assert (plate.max_power_w, plate.max_apparent_power_va, plate.max_reactive_power_var) == (10000.0, 10000.0, 4400.0)
    der_emulator.set(701, "W", 6543.0)
    der_emulator.set(701, "Var", -321.0)
    der_emulator.set(701, "LNV", 240.7)
    der_emulator.set(701, "Hz", 59.98)
    m = der.measure()
    assert (m.power_w, m.reactive_power_var, m.voltage_v, m.frequency_hz) == (6543.0, -321.0, 240.7, 59.98)
    assert "TmpAmb" not in m.extra  # not implemented, so not reported


def test_line_to_line_voltage_is_used_when_line_to_neutral_is_not_implemented(der, der_emulator):
    der_emulator.set(701, "LNV", None)
    der_emulator.set(701, "LLV", 415.6)
    assert der.measure().voltage_v == pytest.approx(415.6)


def test_scale_factors_are_applied_for_large_ratings():
    with SunSpecDEREmulator(nameplate={"max_power_w": 250000.0, "max_apparent_power_va": 275000.0}) as emulator:
        assert emulator.get(702, "WMaxRtg") == 250000.0
        driver = SunSpecDER(emulator.address, timeout_s=1.0)
        driver.connect()
        assert driver.nameplate().max_apparent_power_va == 275000.0
        assert driver.read_point(702, "W_SF") == 2  # 275 kVA does not fit int16 watts or tens of watts
        emulator.set(701, "W", 123400.0)
        assert driver.measure().power_w == 123400.0
        driver.close()


def test_active_power_limit_protocol(der, der_emulator):
    events = []
    der_emulator.on_write = lambda model, point, value: events.append((model, point, value))
    mark = len(der_emulator.command_log)
    der.set_active_power_limit_pct(66.0)
    # WMaxLimPct_SF = -1: 66 % goes out as 660, then the enable.
    assert writes(der_emulator, mark) == [(START[704] + 15, [660]), (START[704] + 14, [1])]
    assert events == [(704, "WMaxLimPct", 66.0), (704, "WMaxLimPctEna", 1)]
    assert der.active_power_limit_pct() == 66.0
    assert der_emulator.get(704, "WMaxLimPct") == 66.0 and der_emulator.get(704, "WMaxLimPctEna") == 1
    mark = len(der_emulator.command_log)
    der.set_active_power_limit_pct(None)
    assert writes(der_emulator, mark) == [(START[704] + 14, [0])]
    assert der.active_power_limit_pct() is None
    der.set_active_power_limit_pct(0)
    assert der.active_power_limit_pct() == 0.0
    der.safe_state()
    assert der_emulator.get(704, "WMaxLimPctEna") == 0


def test_a_limit_beyond_the_power_safety_limit_writes_nothing(der, der_emulator):
    mark = len(der_emulator.command_log)
    with pytest.raises(SafetyLimitError) as info:
        der.set_active_power_limit_pct(90.0)  # 9 kW of a 10 kW rating, above power_max_w = 8 kW
    assert "power_max_w = 8000" in str(info.value) and "[instruments.dut.safety]" in str(info.value)
    with pytest.raises(ValueError, match="0..100"):
        der.set_active_power_limit_pct(120.0)
    assert len(der_emulator.command_log) == mark


def test_generic_points_in_engineering_units(der, der_emulator):
    der.write_point(704, "WMaxLimPctRvrt", 50.0)
    der.write_point(704, "WMaxLimPctRvrtTms", 300)
    assert der_emulator.get(704, "WMaxLimPctRvrt") == 50.0
    assert der.read_point(704, "WMaxLimPctRvrtTms") == 300
    assert der.read_point(1, "Opt") is None  # unimplemented points read as None
    assert der.read_point(701, "TmpAmb") is None
    assert der.read_point(704, "PFWInj.PF") is None
    assert der.read_model(701).values(["W", "ACType"]) == {"W": 0.0, "ACType": 2}
    with pytest.raises(InstrumentError, match="no point 'Nope'"):
        der.read_point(704, "Nope")
    with pytest.raises(InstrumentError, match="no SunSpec model 123"):
        der.read_point(123, "Conn")


def test_read_only_points_are_refused_before_sending(der, der_emulator):
    mark = len(der_emulator.command_log)
    with pytest.raises(InstrumentError, match="read-only"):
        der.write_point(701, "W", 5.0)
    assert len(der_emulator.command_log) == mark


@pytest.mark.parametrize(
    "register, values, code",
    [
        (START[701] + 10, [5], 2),  # 701 W is read-only
        (START[704], [704], 2),  # a model header
        (START[704] + 54, [0], 2),  # WMaxLimPct_SF: scale factors are read-only
        (40000, [0x5375], 2),  # the SunS marker
        (45000, [1], 2),  # outside the map
        (START[704] + 15, [2000], 3),  # WMaxLimPct 200 %
        (START[704] + 14, [7], 3),  # WMaxLimPctEna is DISABLED/ENABLED only
        (START[704] + 4, [0], 3),  # half of the 32-bit PFWInjRvrtTms
    ],
)
def test_the_emulator_answers_exception_codes_like_a_device(der, register, values, code):
    with pytest.raises(ModbusExceptionResponse) as info:
        der.transport.write_registers(register, values)
    assert info.value.exception_code == code and info.value.register == register
    assert f"code {code}" in str(info.value) and der.address in str(info.value)


def test_reads_outside_the_map_and_other_functions_are_refused(der, der_emulator):
    with pytest.raises(ModbusExceptionResponse) as info:
        der.transport.read_holding_registers(START[704] + 60, 20)  # runs past the end model
    assert info.value.exception_code == 2
    client = ModbusTcpClient("127.0.0.1", port=der_emulator.port, timeout=1, retries=0)
    assert client.connect()
    assert client.read_input_registers(40000, count=2, device_id=1).exception_code == 1
    assert client.read_coils(0, count=1, device_id=1).exception_code == 1
    client.close()


def test_unknown_unit_gets_a_gateway_exception(der_emulator):
    transport = ModbusTransport(ModbusTcpAddress("127.0.0.1", der_emulator.port, 9), timeout_s=1.0)
    with pytest.raises(ModbusExceptionResponse) as info:
        transport.read_holding_registers(40000, 2)
    assert info.value.exception_code == 11
    transport.close()


def test_a_silent_device_times_out_naming_the_address(der, der_emulator):
    der_emulator.responding = False
    start = time.monotonic()
    with pytest.raises(InstrumentTimeout) as info:
        der.measure()
    assert time.monotonic() - start < der.timeout_s + 1.0
    assert info.value.address == der_emulator.address and "read" in info.value.command
    der_emulator.responding = True
    assert der.active_power_limit_pct() is None  # reconnects on the next request


def test_a_dropped_connection_is_reconnected_once(der, der_emulator):
    der_emulator.drop_connections()
    time.sleep(0.05)
    der.set_active_power_limit_pct(33.0)
    assert der_emulator.get(704, "WMaxLimPct") == 33.0


def test_a_device_that_went_away_is_a_connection_error(der, der_emulator):
    der_emulator.stop()
    with pytest.raises(InstrumentError, match="connection lost") as info:
        der.measure()
    assert info.value.address == der.address and not isinstance(info.value, InstrumentTimeout)


def test_snapshot(der):
    snap = der.snapshot()
    assert snap["serial"] == "EMU-0001" and snap["rated_power_w"] == 10000.0
    assert snap["704.WMaxLimPctEna"] == 0 and [m["id"] for m in snap["models"]] == [1, 701, 702, 704]


def test_the_driver_can_be_shared_between_threads(der, der_emulator):
    der_emulator.set(701, "W", 1000.0)
    failures: list[BaseException] = []

    def poll():
        try:
            for _ in range(25):
                assert der.measure().power_w == 1000.0
        except BaseException as exc:
            failures.append(exc)

    def command():
        try:
            for k in range(25):
                der.set_active_power_limit_pct(float(k))
        except BaseException as exc:
            failures.append(exc)

    threads = [threading.Thread(target=poll), threading.Thread(target=command)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert failures == []
    assert der.active_power_limit_pct() == 24.0


def test_pysunspec2_reads_and_writes_the_emulator(der_emulator):
    """An independent SunSpec client agrees with the emulator's map."""
    der_emulator.set(701, "W", 4321.0)
    device = SunSpecModbusClientDeviceTCP(slave_id=1, ipaddr="127.0.0.1", ipport=der_emulator.port, timeout=2)
    try:
        device.scan()
        assert {1, 701, 702, 704} <= {k for k in device.models if isinstance(k, int)}
        assert device.DERMeasureAC[0].W.cvalue == 4321.0
        assert device.DERCapacity[0].WMaxRtg.cvalue == 10000.0
        assert device.common[0].Mn.value == "flexbench"
        assert device.DERMeasureAC[0].TmpAmb.value is None
        controls = device.DERCtlAC[0]
        controls.WMaxLimPct.cvalue = 42
        controls.WMaxLimPctEna.value = 1
        controls.write()
    finally:
        device.close()
    assert der_emulator.get(704, "WMaxLimPct") == 42.0 and der_emulator.get(704, "WMaxLimPctEna") == 1


def test_driver_needs_a_modbus_address():
    with pytest.raises(ValueError, match="Modbus"):
        SunSpecDER("TCPIP0::127.0.0.1::502::SOCKET")
    with pytest.raises(ValueError, match="base_address"):
        SunSpecDER("modbus+tcp://127.0.0.1:502/1", options={"base_address": -1})


def test_emulator_stop_is_idempotent_and_restartable():
    emulator = SunSpecDEREmulator(models=(1, 704), unit_id=3)
    emulator.start()
    first = emulator.address
    assert first.endswith("/3")
    emulator.stop()
    emulator.stop()
    emulator.start()
    driver = SunSpecDER(emulator.address, timeout_s=1.0)
    driver.connect()
    assert set(driver.models) == {1, 704}
    driver.close()
    emulator.stop()


def test_unimplemented_values_from_the_plant(der, der_emulator):
    der_emulator.set(701, "W", None)
    assert math.isnan(der.measure().power_w)


def test_emulator_takes_ratings_and_identity_by_friendly_or_point_names():
    emulator = SunSpecDEREmulator(
        nameplate={"rated_power_w": 5000.0, "rated_apparent_power_va": 5500.0, "VMaxRtg": 264.0},
        identity={"manufacturer": "Acme", "SN": "A-1"},
    )
    assert emulator.get(702, "WMaxRtg") == 5000.0 and emulator.get(702, "VAMaxRtg") == 5500.0
    assert emulator.get(702, "VarMaxInjRtg") == pytest.approx(0.44 * 5500.0, abs=1.0)
    assert emulator.get(702, "VMaxRtg") == 264.0
    assert emulator.get(1, "Mn") == "Acme" and emulator.get(1, "SN") == "A-1" and emulator.get(1, "Md") == "Virtual DER"
    with pytest.raises(KeyError, match="no point 'Colour'"):
        SunSpecDEREmulator(nameplate={"Colour": 1})
    with pytest.raises(KeyError, match="serves no model 703"):
        emulator.get(703, "Ena")


def test_a_failing_on_write_hook_answers_device_failure(der, der_emulator, caplog):
    def broken(model, point, value):
        raise RuntimeError("plant exploded")

    der_emulator.on_write = broken
    with pytest.raises(ModbusExceptionResponse) as info:
        der.set_active_power_limit_pct(50.0)
    assert info.value.exception_code == 4 and "plant exploded" in caplog.text


def test_ratings_given_as_702_points_are_kept():
    emulator = SunSpecDEREmulator(nameplate={"WMaxRtg": 7600.0, "VAMaxRtg": 8000.0, "WMax": 7000.0, "VNomRtg": 240.0})
    assert emulator.get(702, "WMaxRtg") == 7600.0 and emulator.get(702, "WMax") == 7000.0
    assert emulator.get(702, "VAMaxRtg") == 8000.0 and emulator.get(702, "VAMax") == 8000.0
    assert emulator.get(702, "VNomRtg") == 240.0


def test_points_past_a_short_model_read_as_not_implemented(der, der_emulator):
    # A device on an older revision of model 704 reports a shorter L.
    location = der.models[704][0]
    der.models[704][0] = type(location)(704, location.start, 20)
    der_emulator.set(704, "WSetEna", 1)
    block = der.read_model(704)
    assert block.get("WMaxLimPctEna") == 0  # inside the first 20 registers
    assert block.get("WSetEna") is None  # past them
    assert (
        block.get("WMaxLimPct") == block.raw("WMaxLimPct") == 1000
    )  # its scale factor is past them: raw, as pysunspec2
