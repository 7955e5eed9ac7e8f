"""Whether the instruments on a Modbus RTU line can be polled as often as the bench asks.

At 9600 baud one read of SunSpec model 701 (about 155 registers, two
requests) is some 0.35 s on the wire, so a 0.1 s sample period cannot be met,
however fast the device answers. When an instrument is connected, its
recorder poll is run once with its RTU transports recording the requests it
sends: the poll's wire time follows from those frames and the line's
settings (instruments.transports.serial_line), whatever the driver reads (the
SunSpec models of a measurement, a register map's blocks). Units on one line
share its time, so what is judged is the line's share the polls take: the
sum of wire time / sample period over the instruments on it so far (for one
instrument alone, its poll's wire time against its period).

- More than all of the line's time: a UserError naming the instrument, baud
  and period. The recorder would take samples only as fast as the line
  carries them, so the bench would silently record at a lower rate than the
  plans' criteria assume; the run must not start.
- More than half: a warning (a ``bench_warning`` event and a log line). The
  rest leaves the devices' turnaround and a retry too little room, so
  samples may come late.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass
from typing import Any

from flexbench.instruments.addresses import ModbusRtuAddress
from flexbench.instruments.roles import Instrument, InstrumentError
from flexbench.instruments.transports.modbus import ModbusTransport
from flexbench.instruments.transports.serial_line import SerialLine
from flexbench.lab.errors import UserError

log = logging.getLogger(__name__)

WARN_SHARE = 0.5  # of the line's time


@dataclass(frozen=True)
class LinePoll:
    """One poll's requests on one serial line, and their time on the wire."""

    address: ModbusRtuAddress
    requests: int
    wire_s: float


def rtu_transports(driver: Instrument) -> list[ModbusTransport]:
    """The driver's Modbus transports on a serial line."""
    found = {id(v): v for v in vars(driver).values() if isinstance(v, ModbusTransport)}
    return [t for t in found.values() if isinstance(t.address, ModbusRtuAddress)]


def poll_on_lines(transports: list[ModbusTransport], read: Callable[[], Any]) -> list[LinePoll]:
    """Run `read` once, recording each transport's requests; their wire time per line."""
    with ExitStack() as stack:
        recorded = [(t, stack.enter_context(t.recording())) for t in transports]
        read()
    polls = []
    for transport, requests in recorded:
        assert isinstance(transport.address, ModbusRtuAddress)  # rtu_transports' choice
        line = SerialLine.of(transport.address)
        polls.append(LinePoll(transport.address, len(requests), sum(line.exchange_s(*r) for r in requests)))
    return polls


def check_sample_period(
    name: str,
    where: str,
    driver: Instrument,
    read: Callable[[], Any],
    period_s: float,
    on_event: Callable[[str, dict[str, Any]], None],
    line_use: dict[str, dict[str, float]],
) -> None:
    """Warn, or raise UserError, when one poll of `read` every `period_s` (wall seconds) takes too much of a line.

    `name` is the instrument's name in the bench file, `where` how a message names it (file and table);
    `line_use` holds, per serial device, each instrument's share of its time (this one's is added).
    """
    transports = rtu_transports(driver)
    if not transports:
        return
    try:
        polls = poll_on_lines(transports, read)
    except InstrumentError as exc:  # the recorder will meet and report it; the check needs a poll that answers
        log.warning("%s: serial timing not checked, the first poll failed: %s", where, exc)
        return
    for poll in polls:
        device, baud = poll.address.device, poll.address.baud
        uses = line_use.setdefault(device, {})
        uses[name] = poll.wire_s / period_s
        share = sum(uses.values())
        others = ", ".join(n for n in uses if n != name)
        said = f"{where}: one poll is {poll.requests} Modbus RTU request(s), {poll.wire_s:.3f} s on the wire at {baud} baud"
        if others:
            said += f"; with {others} on {device} the polls take {share:.0%} of the line's time (sample period {period_s:g} s)"
        if share > 1:
            reason = "" if others else f", longer than the sample period of {period_s:g} s"
            raise UserError(f"{said}{reason}: raise the baud rate or sample_period_s")
        if share > WARN_SHARE:
            reason = "" if others else f", more than half the sample period of {period_s:g} s"
            text = f"{said}{reason}: samples may come late"
            log.warning(text)
            on_event(
                "bench_warning",
                {"instrument": name, "text": text, "wire_s": poll.wire_s, "baud": baud, "period_s": period_s},
            )
