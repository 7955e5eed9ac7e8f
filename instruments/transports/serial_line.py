"""How long Modbus RTU frames take on a serial line, from its baud rate, parity and stop bits.

The Modbus over serial line specification (V1.02, 2.5.1) sends each byte as
one character: a start bit, 8 data bits, a parity bit (or, without parity, a
second stop bit for 11 bits) and a stop bit. Lines set up with no parity and
one stop bit are common all the same, so the character here is what the
address configures: 1 + 8 + (1 if parity) + stopbits bits. A frame ends with
at least 3.5 characters of silence (t3.5), which the specification fixes at
1.75 ms above 19200 baud.

An exchange is the request frame, its silence, the reply frame and its
silence; the device's own turnaround comes on top and is not counted, so a
computed time is the least a real line can do.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..addresses import ModbusRtuAddress

DATA_BITS = 8
FAST_BAUD = 19200  # above this the specification fixes the silence
FAST_SILENCE_S = 1.75e-3
SILENCE_CHARS = 3.5

# Bytes of a frame: unit id and function code, then the PDU's fields, then the 2-byte CRC.
_HEAD = 2
_CRC = 2


@dataclass(frozen=True)
class SerialLine:
    """A serial line's character format, and the wire time of bytes and frames on it."""

    baud: int
    parity: str = "N"
    stopbits: int = 1

    @classmethod
    def of(cls, address: ModbusRtuAddress) -> SerialLine:
        return cls(address.baud, address.parity, address.stopbits)

    @property
    def bits_per_char(self) -> int:
        return 1 + DATA_BITS + (0 if self.parity == "N" else 1) + self.stopbits

    @property
    def char_s(self) -> float:
        return self.bits_per_char / self.baud

    @property
    def silence_s(self) -> float:
        """t3.5: the silence that ends a frame."""
        return FAST_SILENCE_S if self.baud > FAST_BAUD else SILENCE_CHARS * self.char_s

    def frame_s(self, size_bytes: int) -> float:
        """One frame of `size_bytes` on the wire, with the silence that ends it."""
        return size_bytes * self.char_s + self.silence_s

    def exchange_s(self, function_code: int, read_count: int = 0, write_count: int = 0) -> float:
        """A request and its reply: see frame_sizes."""
        request, reply = frame_sizes(function_code, read_count, write_count)
        return self.frame_s(request) + self.frame_s(reply)


def frame_sizes(function_code: int, read_count: int = 0, write_count: int = 0) -> tuple[int, int]:
    """Bytes of the request and of its normal reply, for the register functions flexbench sends.

    3 and 4 read `read_count` registers, 6 writes one, 16 writes `write_count`,
    23 writes `write_count` and reads `read_count`.
    """
    if function_code in (3, 4):  # start, quantity | byte count, registers
        return _HEAD + 4 + _CRC, _HEAD + 1 + 2 * read_count + _CRC
    if function_code == 6:  # register, value | the same echoed
        return _HEAD + 4 + _CRC, _HEAD + 4 + _CRC
    if function_code == 16:  # start, quantity, byte count, registers | start, quantity
        return _HEAD + 5 + 2 * write_count + _CRC, _HEAD + 4 + _CRC
    if (
        function_code == 23
    ):  # read start, quantity, write start, quantity, byte count, registers | byte count, registers
        return _HEAD + 9 + 2 * write_count + _CRC, _HEAD + 1 + 2 * read_count + _CRC
    raise ValueError(f"no frame sizes for Modbus function {function_code}")
