"""The PCS settings driver against its emulator, over Modbus TCP."""

import pytest

from flexbench.instruments.addresses import parse_address
from flexbench.instruments.drivers.modbus_pcs import ModbusPCS
from flexbench.instruments.emulators.modbus_pcs import ModbusPCSEmulator
from flexbench.instruments.roles import InstrumentError, InstrumentTimeout, SafetyLimitError, SafetyLimits
from flexbench.instruments.transports.modbus import ModbusTransport


@pytest.fixture
def emulator():
    emu = ModbusPCSEmulator().start()
    yield emu
    emu.stop()


@pytest.fixture
def pcs(emulator):
    driver = ModbusPCS(
        emulator.address, safety=SafetyLimits(power_max_w=20_000, current_max_a=60, source="bench.toml"), timeout_s=1.0
    )
    driver.connect()
    yield driver
    driver.close()


def test_settings_round_trip_and_reach_the_device(pcs, emulator):
    pcs.set_mode("import-only")
    pcs.set_export_limit_w(3000)
    pcs.set_import_limit_w(None)
    pcs.set_current_limit_a(18.5)
    status = pcs.status()
    assert (status.mode, status.export_limit_w, status.import_limit_w, status.current_limit_a) == (
        "import-only",
        3000.0,
        None,
        18.5,
    )
    s = emulator.settings()
    assert s.mode == "import-only" and s.export_limit_w == 3000.0 and s.current_limit_a == 18.5
    emulator.publish_state(fail_safe=True, pcc_import_w=-1234, busbar_current_a=10)
    assert pcs.status().fail_safe is True
    assert pcs.identity().model == "Virtual PCS"


def test_setting_beyond_safety_limit_is_refused_before_sending(pcs, emulator):
    before = len(emulator.command_log)
    with pytest.raises(SafetyLimitError, match="power_max_w"):
        pcs.set_export_limit_w(25_000)
    assert len(emulator.command_log) == before


def test_device_rejects_read_only_writes_and_bad_values(emulator):
    transport = ModbusTransport(parse_address(emulator.address), timeout_s=1.0)
    transport.connect()
    try:
        with pytest.raises(InstrumentError, match="illegal data address"):
            transport.write_registers(6, [1])  # fail_safe is read-only
        with pytest.raises(InstrumentError, match="illegal data value"):
            transport.write_registers(0, [9])  # no mode 9
        assert emulator.settings().mode == "unrestricted"
    finally:
        transport.close()


def test_hung_pcs_times_out_naming_its_address(pcs, emulator):
    emulator.responding = False
    with pytest.raises(InstrumentTimeout) as err:
        pcs.status()
    assert emulator.address in str(err.value)
