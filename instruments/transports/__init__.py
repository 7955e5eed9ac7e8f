"""Byte-level links to instruments: VISA message sessions and Modbus register access."""

from .modbus import ModbusExceptionResponse, ModbusTransport
from .visa import VisaTransport

__all__ = ["ModbusExceptionResponse", "ModbusTransport", "VisaTransport"]
