"""Register maps as data: loading and its errors, block reads, the codec, the client's
checked writes, and the generic emulator answering like a device (TCP and RTU)."""

from __future__ import annotations

import math
import time

import pytest

from flexbench.instruments.addresses import parse_address
from flexbench.instruments.emulators import RegisterMapEmulator
from flexbench.instruments.regmap import MAPS, RegisterMap, RegisterMapClient, RegisterMapError, bundled_map
from flexbench.instruments.regmap.device import RegisterMapDevice
from flexbench.instruments.roles import InstrumentTimeout
from flexbench.instruments.transports.modbus import ModbusExceptionResponse, ModbusTransport

TIMEOUT_S = 1.0

# A settings interface in the style a PCS or inverter exposes: holding registers, a
# SunSpec-style scale-factor register, 32-bit values low word first, single-register writes.
SETTINGS_MAP = """
[device]
manufacturer = "Acme"
model = "PCS-1"
source = "Acme PCS-1 Modbus interface, revision C, table 4"
word_order = "little"
write_function = 6
serial_point = "serial"
firmware_point = "firmware"

[points.mode]
address = 100
type = "uint16"
access = "RW"
range = [0, 3]

[points.export_limit_w]
address = 101
type = "int16"
scale_register = "power_sf"
units = "W"
access = "RW"
range = [0, 50000]
default = 20000

[points.power_sf]
address = 102
type = "int16"
default = 1

[points.site_power_w]
address = 103
type = "int32"
scale = 0.1
units = "W"

[points.energy_wh]
address = 105
type = "uint32"
units = "Wh"

[points.limit_32_w]
address = 110
type = "int32"
access = "RW"
range = [-100000, 100000]

[points.import_limit_w]
address = 120
type = "uint32"
word_order = "big"
access = "RW"
range = [0, 1000000]
none_value = 0xFFFFFFFF
default = 0xFFFFFFFF
units = "W"

[points.trim_pct]
address = 122
type = "int16"
scale = 0.1
access = "RW"
none_value = 0x8000

[points.serial]
address = 200
type = "string"
registers = 4
default = "A1-0042"

[points.firmware]
address = 204
type = "string"
registers = 2
default = "2.1"
"""


@pytest.fixture
def settings_map() -> RegisterMap:
    return RegisterMap.from_toml(SETTINGS_MAP, origin="acme_pcs1.toml")


@pytest.fixture(params=["tcp", "rtu"])
def device(request, settings_map):
    emulator = RegisterMapEmulator(settings_map, link=request.param).start()
    driver = RegisterMapDevice(emulator.address, register_map=settings_map, timeout_s=TIMEOUT_S)
    driver.connect()
    yield driver, emulator
    driver.close()
    emulator.stop()


def requests(emulator, since: int = 0) -> list[tuple[int, int, int, tuple[int, ...]]]:
    return [(r.function_code, r.register, r.count, r.values) for r in emulator.command_log.entries()[since:]]


# -- loading -------------------------------------------------------------------------------------


def test_bundled_maps_load_and_cite_their_source():
    for name in MAPS:
        m = bundled_map(name)
        assert m.source and m.manufacturer and m.model and m.origin.endswith(".toml")
        assert "power_w" in m.points and "frequency_hz" in m.points
    assert bundled_map("eastron-sdm630").point("power_w").address == 0x0034
    assert bundled_map("carlo-gavazzi-em24").point("power_w").word_order == "little"
    with pytest.raises(RegisterMapError, match="bundled maps: carlo-gavazzi-em24, eastron-sdm630"):
        bundled_map("nope")


@pytest.mark.parametrize(
    "change, message",
    [
        (("[points.mode]", "[points.mode]\ncolour = 1"), r"\[points.mode\]: unknown key\(s\) colour"),
        (('type = "uint16"\naccess = "RW"\nrange = [0, 3]', 'type = "uint8"'), r"\[points.mode\]: type must be one of"),
        (("address = 103", "address = 101"), r"overlaps point 'export_limit_w' at holding register 101"),
        (('source = "Acme PCS-1 Modbus interface, revision C, table 4"\n', ""), "source is required"),
        (('scale_register = "power_sf"', 'scale_register = "nope"'), "scale_register 'nope' is not a point"),
        (('scale_register = "power_sf"', 'scale_register = "site_power_w"'), "must be an unscaled int16"),
        (("range = [0, 3]", "range = [3, 0]"), r"range must be \[low, high\]"),
        (("registers = 4", ""), "a string point needs registers"),
        (('word_order = "little"', 'word_order = "middle"'), r"\[device\] word_order: must be one of big, little"),
        (("[points.mode]", '[points.mode]\ntable = "input"'), "input registers are read-only"),
        (("write_function = 6", "write_function = 5"), "write_function: must be 6 or 16"),
    ],
)
def test_map_errors_name_the_file_and_the_point(change, message):
    old, new = change
    assert old in SETTINGS_MAP
    with pytest.raises(RegisterMapError, match=message) as info:
        RegisterMap.from_toml(SETTINGS_MAP.replace(old, new, 1), origin="acme_pcs1.toml")
    assert str(info.value).startswith("acme_pcs1.toml: ")


def test_map_file_errors(tmp_path):
    with pytest.raises(RegisterMapError, match="cannot read"):
        RegisterMap.from_file(tmp_path / "missing.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("[device\n")
    with pytest.raises(RegisterMapError, match="bad.toml: not valid TOML"):
        RegisterMap.from_file(bad)


# -- blocks and codec --------------------------------------------------------------------------------


def test_blocks_group_contiguous_points_and_follow_scale_registers(settings_map):
    blocks = settings_map.blocks()
    assert [(b.table, b.start, b.count) for b in blocks] == [
        ("holding", 100, 7),
        ("holding", 110, 2),
        ("holding", 120, 3),
        ("holding", 200, 6),
    ]
    # A point with a scale register brings it along.
    assert [(b.start, b.count) for b in settings_map.blocks(["export_limit_w"])] == [(101, 2)]
    sdm = bundled_map("eastron-sdm630")
    assert [(b.table, b.start, b.count) for b in sdm.blocks(["power_w", "voltage_l1_v", "frequency_hz"])] == [
        ("input", 0, 2),
        ("input", 0x34, 2),
        ("input", 0x46, 2),
    ]
    # Gaps of at most max_gap_registers (12) are bridged: 0x34..0x3D in one read.
    assert [(b.start, b.count) for b in sdm.blocks(["power_w", "reactive_power_var"])] == [(0x34, 10)]
    gapless = RegisterMap.from_toml(
        SETTINGS_MAP.replace("write_function = 6", "write_function = 6\nmax_registers_per_read = 3")
    )
    assert [(b.start, b.count) for b in gapless.blocks(["mode", "export_limit_w", "power_sf", "site_power_w"])] == [
        (100, 3),
        (103, 2),
    ]


def test_codec_word_order_types_and_scaling(settings_map):
    p = settings_map.point("site_power_w")
    assert settings_map.encode_raw(p, -2) == [0xFFFE, 0xFFFF]  # low word first
    assert settings_map.decode_raw(p, [0x0001, 0x0002]) == 0x00020001
    sdm = bundled_map("eastron-sdm630")
    f = sdm.point("power_w")
    assert sdm.encode_raw(f, 1.5) == [0x3FC0, 0x0000]  # IEEE 754, high word first
    assert sdm.to_engineering(sdm.point("energy_import_wh"), 1.25) == 1250.0
    em24 = bundled_map("carlo-gavazzi-em24")
    assert em24.to_engineering(em24.point("power_factor"), -987) == pytest.approx(-0.987)
    s = settings_map.point("serial")
    assert settings_map.decode_raw(s, settings_map.encode_raw(s, "A1-0042")) == "A1-0042"
    with pytest.raises(RegisterMapError, match="longer than 8"):
        settings_map.encode_raw(s, "A" * 9)
    with pytest.raises(RegisterMapError, match="does not fit int16"):
        settings_map.encode_raw(settings_map.point("export_limit_w"), 40000)


# -- the client against the emulator (TCP and RTU) -----------------------------------------------------


def test_read_by_name_in_block_reads(device):
    driver, emulator = device
    emulator.set("site_power_w", -1234.5)
    emulator.set("energy_wh", 4_000_000_000)
    mark = len(emulator.command_log)
    values = driver.read_points(["site_power_w", "energy_wh", "export_limit_w"])
    assert values == {"site_power_w": -1234.5, "energy_wh": 4_000_000_000, "export_limit_w": 20000.0}
    assert requests(emulator, mark) == [(3, 101, 6, ())]
    assert driver.identity().serial == "A1-0042" and driver.identity().firmware == "2.1"
    assert driver.identity().manufacturer == "Acme"


def test_writes_use_the_scale_register_and_the_map_write_function(device):
    driver, emulator = device
    seen = []
    emulator.on_write = lambda name, value: seen.append((name, value))
    mark = len(emulator.command_log)
    driver.write_points({"mode": 2, "export_limit_w": 12340})
    # power_sf = 1: 12340 W goes out as 1234; single-register points with function 6.
    assert requests(emulator, mark) == [(3, 102, 1, ()), (6, 100, 1, (2,)), (6, 101, 1, (1234,))]
    assert seen == [("mode", 2), ("export_limit_w", 12340.0)]
    mark = len(emulator.command_log)
    driver.write_point("limit_32_w", -70000)  # two registers: function 16
    assert requests(emulator, mark) == [(16, 110, 2, (0xEE90, 0xFFFE))]
    assert driver.read_point("limit_32_w") == -70000
    snap = driver.snapshot()
    assert snap["settings"] == {
        "mode": 2,
        "export_limit_w": 12340.0,
        "limit_32_w": -70000,
        "import_limit_w": None,
        "trim_pct": 0.0,
    }
    assert snap["register_map"] == "acme_pcs1.toml"


def test_refused_writes_send_nothing_and_name_the_range_and_map(device):
    driver, emulator = device
    mark = len(emulator.command_log)
    with pytest.raises(RegisterMapError, match=r"mode = 7 is outside its range 0..3 \(PCS-1 map\) \(acme_pcs1.toml\)"):
        driver.write_point("mode", 7)
    with pytest.raises(RegisterMapError, match="site_power_w is read-only in the PCS-1 map"):
        driver.write_point("site_power_w", 5.0)
    with pytest.raises(RegisterMapError, match="not a finite number"):
        driver.write_points({"mode": 1, "export_limit_w": math.nan})  # checked before the first is sent
    with pytest.raises(KeyError, match="PCS-1 map has no point 'nope'"):
        driver.read_point("nope")
    assert len(emulator.command_log) == mark


@pytest.mark.parametrize(
    "function, register, values, code",
    [
        (16, 103, [1, 2], 2),  # site_power_w is read-only
        (16, 150, [1], 2),  # no point there
        (16, 110, [5], 3),  # half of a 32-bit point
        (6, 100, [9], 3),  # mode outside 0..3
    ],
)
def test_the_emulator_answers_exception_codes_like_a_device(device, function, register, values, code):
    driver, emulator = device
    with pytest.raises(ModbusExceptionResponse) as info:
        if function == 6:
            driver.transport.write_register(register, values[0])
        else:
            driver.transport.write_registers(register, values)
    assert info.value.exception_code == code and info.value.register == register
    assert driver.address in str(info.value)
    assert emulator.get("mode") == 0


def test_reads_of_unmapped_registers_and_the_wrong_table_are_refused(device):
    driver, _ = device
    client = driver.transport._client
    assert client.read_coils(0, count=1, device_id=1).exception_code == 1  # only register functions
    with pytest.raises(ModbusExceptionResponse) as info:
        driver.transport.read_holding_registers(107, 2)  # between points, and the map bridges no gaps
    assert info.value.exception_code == 2
    with pytest.raises(ModbusExceptionResponse) as info:
        driver.transport.read_input_registers(100, 1)
    assert info.value.exception_code == 2


def test_gap_registers_read_zero_only_where_the_device_answers_them():
    with RegisterMapEmulator("eastron-sdm630") as emulator:
        transport = ModbusTransport(parse_address(emulator.address), timeout_s=TIMEOUT_S)
        assert transport.read_input_registers(0x24, 6) == [0] * 6  # phase angles: unmapped, inside the area
        with pytest.raises(ModbusExceptionResponse):
            transport.read_input_registers(0x100, 2)  # far from any parameter
        transport.close()


def test_a_silent_device_times_out_naming_its_address(device):
    driver, emulator = device
    emulator.responding = False
    start = time.monotonic()
    with pytest.raises(InstrumentTimeout) as info:
        driver.read_point("mode")
    assert time.monotonic() - start < TIMEOUT_S + 1.0
    assert info.value.address == driver.address and "read 1 register(s) at 100" in info.value.command
    emulator.responding = True
    assert driver.read_point("mode") == 0


def test_client_is_usable_on_its_own(settings_map):
    with RegisterMapEmulator(settings_map, unit_id=7) as emulator:
        transport = ModbusTransport(parse_address(emulator.address), timeout_s=TIMEOUT_S)
        client = RegisterMapClient(settings_map, transport)
        client.write_point("mode", 3)
        assert client.read_points(["mode"]) == {"mode": 3}
        assert emulator.values()["mode"] == 3
        transport.close()


def test_a_none_value_means_not_set(device):
    driver, emulator = device
    assert driver.read_point("import_limit_w") is None  # the factory value is the 'not set' pattern
    driver.write_point("import_limit_w", 5000)
    assert emulator.get("import_limit_w") == 5000
    mark = len(emulator.command_log)
    driver.write_point("import_limit_w", None)  # lifts the limit
    assert requests(emulator, mark) == [(16, 120, 2, (0xFFFF, 0xFFFF))]
    assert driver.read_point("import_limit_w") is None
    mark = len(emulator.command_log)
    driver.write_point("trim_pct", None)
    assert requests(emulator, mark) == [(6, 122, 1, (0x8000,))]  # int16 'not set' written as its register pattern
    assert driver.read_point("trim_pct") is None
    with pytest.raises(RegisterMapError, match="mode has no 'not set' value"):
        driver.write_point("mode", None)
