"""Bench-file addresses: VISA resource strings, modbus+tcp and modbus+rtu URLs."""

from __future__ import annotations

import pytest

from flexbench.instruments.addresses import ModbusRtuAddress, ModbusTcpAddress, VisaAddress, parse_address


@pytest.mark.parametrize(
    "text, interface, resource_class",
    [
        ("TCPIP0::192.0.2.10::5025::SOCKET", "TCPIP", "SOCKET"),
        ("TCPIP::192.0.2.11::INSTR", "TCPIP", "INSTR"),
        ("GPIB0::7::INSTR", "GPIB", "INSTR"),
        ("ASRL/dev/ttyUSB0::INSTR", "ASRL", "INSTR"),
        ("USB0::0x0A69::0x086C::662040000329::0::INSTR", "USB", "INSTR"),
    ],
)
def test_visa_resource_strings(text, interface, resource_class):
    address = parse_address(text)
    assert isinstance(address, VisaAddress)
    assert address.interface.upper().startswith(interface)
    assert address.resource_class == resource_class
    assert address.is_socket == (resource_class == "SOCKET")


def test_modbus_tcp_with_every_part():
    assert parse_address("modbus+tcp://192.0.2.20:1502/3") == ModbusTcpAddress("192.0.2.20", 1502, 3)


def test_modbus_tcp_defaults_port_502_and_unit_1():
    assert parse_address("modbus+tcp://inverter.lab") == ModbusTcpAddress("inverter.lab", 502, 1)
    assert parse_address("modbus+tcp://inverter.lab:5020") == ModbusTcpAddress("inverter.lab", 5020, 1)
    assert parse_address("modbus+tcp://inverter.lab/7").unit == 7


def test_modbus_rtu_with_every_part():
    address = parse_address("modbus+rtu:///dev/ttyUSB0?baud=19200&parity=E&stopbits=2&unit=4")
    assert address == ModbusRtuAddress("/dev/ttyUSB0", baud=19200, parity="E", stopbits=2, unit=4)


def test_modbus_rtu_defaults():
    assert parse_address("modbus+rtu:///dev/ttyS1") == ModbusRtuAddress("/dev/ttyS1", 9600, "N", 1, 1)


@pytest.mark.parametrize(
    "text",
    [
        "TCPIP0::192.0.2.10::5025::SOCKET",
        "modbus+tcp://192.0.2.20:1502/3",
        "modbus+rtu:///dev/ttyUSB0?baud=19200&parity=E&stopbits=2&unit=4",
    ],
)
def test_addresses_print_back_as_parsable_text(text):
    address = parse_address(text)
    assert parse_address(str(address)) == address


@pytest.mark.parametrize(
    "text, words",
    [
        ("", ["empty"]),
        ("TCPIP0::192.0.2.10::SOCKET", ["VISA", "port"]),
        ("NOSUCH0::1::INSTR", ["VISA", "interface"]),
        ("http://192.0.2.1/", ["scheme", "http"]),
        ("modbus+tcp://:502/1", ["no host"]),
        ("modbus+tcp://host:port/1", ["invalid port"]),
        ("modbus+tcp://host:502/abc", ["unit", "abc"]),
        ("modbus+tcp://host:502/300", ["unit", "300"]),
        ("modbus+tcp://host:502/1/2", ["single unit"]),
        ("modbus+tcp://host:502/1?unit=2", ["query"]),
        ("modbus+rtu://dev/ttyUSB0", ["three slashes"]),
        ("modbus+rtu:///dev/ttyUSB0?baud=12345", ["baud", "12345"]),
        ("modbus+rtu:///dev/ttyUSB0?baud=fast", ["baud", "fast"]),
        ("modbus+rtu:///dev/ttyUSB0?parity=X", ["parity"]),
        ("modbus+rtu:///dev/ttyUSB0?stopbits=3", ["stopbits"]),
        ("modbus+rtu:///dev/ttyUSB0?speed=9600", ["unknown parameter", "speed"]),
        ("modbus+rtu:///dev/ttyUSB0?unit=1&unit=2", ["more than once"]),
    ],
)
def test_bad_addresses_name_what_is_wrong_in_one_line(text, words):
    with pytest.raises(ValueError) as info:
        parse_address(text)
    message = str(info.value)
    assert "\n" not in message
    for word in words:
        assert word in message


def test_non_string_address_is_refused():
    with pytest.raises(ValueError, match="string"):
        parse_address(502)  # type: ignore[arg-type]
