"""What every registered driver does against its emulator: connect, identify, snapshot, use its
role, time out naming its address when the instrument hangs, and recover when it answers again."""

from __future__ import annotations

import time

import pytest

from flexbench.instruments.emulators import EMULATORS
from flexbench.instruments.registry import DRIVERS
from flexbench.instruments.roles import InstrumentTimeout

TIMEOUT_S = 1.0
OPTIONS = {"modbus-meter": {"map": "eastron-sdm630"}}
# One call per role that always reaches the instrument.
ROLE_CALL = {
    "grid_simulator": lambda d: d.output_enabled(),
    "pv_simulator": lambda d: d.output_enabled(),
    "ac_load": lambda d: d.input_enabled(),
    "power_analyzer": lambda d: d.read(),
    "meter": lambda d: d.read(),
    "der": lambda d: d.measure(),
    "pcs": lambda d: d.status(),
}


@pytest.mark.parametrize("name", sorted(DRIVERS))
def test_driver_against_its_emulator(name):
    emulator = EMULATORS[name]().start()
    try:
        driver = DRIVERS[name](emulator.address, options=OPTIONS.get(name), timeout_s=TIMEOUT_S)
        driver.connect()
        ident = driver.identity()
        assert ident.manufacturer and ident.model
        snap = driver.snapshot()
        assert snap and snap.get("address", emulator.address) == emulator.address
        assert snap.get("model", ident.model) == ident.model
        call = ROLE_CALL[driver.role]
        call(driver)
        emulator.responding = False
        start = time.monotonic()
        with pytest.raises(InstrumentTimeout) as info:
            call(driver)
        assert time.monotonic() - start < TIMEOUT_S + 1.0
        assert info.value.address == emulator.address and emulator.address in str(info.value) and info.value.command
        emulator.responding = True
        call(driver)  # the next request reopens the session or connection
        driver.safe_state()
        driver.close()
    finally:
        emulator.stop()
