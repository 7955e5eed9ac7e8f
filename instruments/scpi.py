"""SCPI drivers: a base class over VISA and declarative settings.

A driver declares each setting once, with the query that reads it, the
command that writes it and the safety quantity that bounds it::

    frequency_hz = scpi_control("FREQ?", "FREQ {:.3f}", safety=("frequency", "hz"))

Reading the attribute queries the instrument; assigning it checks the value
against the bench's SafetyLimits *before anything is sent*, writes the
command, then reads the instrument's error queue. Any queued error is raised
as InstrumentError naming the command that caused it (for instance
``-222,"Data out of range"`` after ``VOLT:AC 400.00``), so a setting that the
instrument refused never passes silently.

Transport policy (timeouts, lost connections, threads) is VisaTransport's.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Mapping
from typing import Any, ClassVar

from .addresses import VisaAddress, parse_address
from .roles import Identity, Instrument, InstrumentError, InstrumentTimeout, SafetyLimits
from .transports.visa import VisaTransport

MAX_QUEUED_ERRORS = 32


def parse_bool(reply: str) -> bool:
    """SCPI boolean replies: 1/0 or ON/OFF."""
    token = reply.strip().upper()
    if token in ("1", "ON", "+1"):
        return True
    if token in ("0", "OFF", "+0"):
        return False
    raise ValueError(f"not a boolean reply: {reply!r}")


def parse_float(reply: str) -> float:
    """SCPI numeric reply; NAN, INF and the 9.9E+37 'not a number' marker become NaN."""
    token = reply.strip().upper()
    if token in ("NAN", "INF", "+INF", "-INF"):
        return math.nan
    value = float(token)
    if not math.isfinite(value) or abs(value) >= 9.9e37:
        return math.nan
    return value


def parse_error(reply: str) -> tuple[int, str]:
    """Split an error-queue entry such as '-222,"Data out of range"' into (code, message)."""
    code_text, _, message = reply.strip().partition(",")
    code = int(code_text.strip())
    return code, message.strip().strip('"')


class scpi_measurement:
    """A read-only value the instrument reports: reading the attribute sends `query`."""

    def __init__(self, query: str, *, parse: Callable[[str], Any] = parse_float, doc: str = "") -> None:
        self.query = query
        self.parse = parse
        self.name = ""
        self.__doc__ = doc or f"Reads {query}"

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    def __get__(self, obj: Any, objtype: type | None = None) -> Any:
        if obj is None:
            return self
        reply = obj.query(self.query)
        try:
            return self.parse(reply)
        except ValueError:
            raise InstrumentError(f"unreadable reply {reply!r}", address=obj.address, command=self.query) from None

    def __set__(self, obj: Any, value: Any) -> None:
        raise AttributeError(f"{self.name} is a measurement and cannot be set")


class scpi_control(scpi_measurement):
    """A setting: read with `query`, written with `command` (a str.format template).

    safety=(quantity, unit) checks the value against SafetyLimits before sending;
    check(driver, value) runs a driver's own check (one that spans quantities);
    values restricts it to a set or an inclusive (low, high) range; mapping
    turns the Python value into the instrument's token (True -> "ON").
    """

    def __init__(
        self,
        query: str,
        command: str,
        *,
        parse: Callable[[str], Any] = parse_float,
        safety: tuple[str, str] | None = None,
        values: tuple[float, float] | set[Any] | frozenset[Any] | None = None,
        mapping: Mapping[Any, str] | None = None,
        check: Callable[[Any, Any], None] | None = None,
        doc: str = "",
    ) -> None:
        super().__init__(query, parse=parse, doc=doc or f"Reads {query}, writes {command}")
        self.command = command
        self.safety = safety
        self.check = check
        self.values = values
        self.mapping = mapping

    def __set__(self, obj: Any, value: Any) -> None:
        obj.write(self.render(obj, value))

    def render(self, obj: Any, value: Any) -> str:
        """Check `value` and return the command that would set it; sends nothing."""
        if self.safety is not None:
            quantity, unit = self.safety
            obj.check_safety(quantity, float(value), unit)
        if self.check is not None:
            self.check(obj, value)
        if isinstance(self.values, tuple):
            lo, hi = self.values
            if not lo <= value <= hi:
                raise ValueError(f"{self.name} = {value!r} is outside {lo}..{hi}")
        elif self.values is not None and value not in self.values:
            raise ValueError(f"{self.name} = {value!r} is not one of {sorted(map(str, self.values))}")
        token = self.mapping[value] if self.mapping is not None else value
        return self.command.format(token)


class ScpiInstrument(Instrument):
    """Base of SCPI drivers: a VISA transport, error-queue checks, and *IDN? identity."""

    error_query: ClassVar[str] = "SYST:ERR?"

    def __init__(
        self,
        address: str,
        *,
        safety: SafetyLimits | None = None,
        options: Mapping[str, Any] | None = None,
        timeout_s: float = 2.0,
    ) -> None:
        super().__init__(address, safety=safety, options=options, timeout_s=timeout_s)
        parsed = parse_address(address)
        if not isinstance(parsed, VisaAddress):
            raise ValueError(f"{self.model} is reached over VISA: give a VISA resource string, not {address!r}")
        self.visa_address = parsed
        self.transport = VisaTransport(parsed, timeout_s=timeout_s)
        self._identity: Identity | None = None

    @property
    def lock(self) -> threading.RLock:
        """Hold across a sequence of commands that must not interleave with another thread's."""
        return self.transport.lock

    # -- connection --------------------------------------------------------
    def connect(self) -> None:
        with self.lock:
            self.transport.open()
            self._identity = None
            self.on_connect()

    def on_connect(self) -> None:
        """Configure the instrument after the session opens (drivers override)."""

    def close(self) -> None:
        self.transport.close()

    # -- messages ----------------------------------------------------------
    def check_safety(self, quantity: str, value: float, unit: str) -> None:
        self.safety.check(quantity, value, unit, address=self.address)

    def command_for(self, setting: str, value: Any) -> str:
        """The command that would set a declared setting to `value`, checked but not sent."""
        return getattr(type(self), setting).render(self, value)

    def write(self, command: str) -> None:
        """Send a command, then raise InstrumentError if the instrument queued an error for it."""
        with self.lock:
            self.transport.write(command)
            self.check_errors(command)

    def query(self, command: str) -> str:
        return self.transport.query(command)

    def check_errors(self, command: str) -> None:
        """Drain the error queue; raise with the first error and the command that caused it."""
        found: list[str] = []
        with self.lock:
            for _ in range(MAX_QUEUED_ERRORS):
                try:
                    reply = self.transport.query(self.error_query)
                except InstrumentTimeout as exc:
                    raise InstrumentTimeout(
                        f"timed out: no answer to the error query {self.error_query!r}",
                        address=self.address,
                        command=command,
                    ) from exc
                except InstrumentError as exc:
                    raise InstrumentError(
                        f"error query {self.error_query!r} failed: {exc.reason}", address=self.address, command=command
                    ) from exc
                try:
                    code, _ = parse_error(reply)
                except ValueError:
                    raise InstrumentError(
                        f"unreadable reply {reply!r} to {self.error_query}", address=self.address, command=command
                    ) from None
                if code == 0:
                    break
                found.append(reply.strip())
        if found:
            more = f" (and {len(found) - 1} more: {'; '.join(found[1:])})" if len(found) > 1 else ""
            raise InstrumentError(f"instrument error {found[0]}{more}", address=self.address, command=command)

    # -- identity ----------------------------------------------------------
    def identity(self) -> Identity:
        if self._identity is None:
            reply = self.query("*IDN?")
            fields = [f.strip() for f in reply.split(",")]
            if len(fields) < 4:
                raise InstrumentError(f"unreadable *IDN? reply {reply!r}", address=self.address, command="*IDN?")
            self._identity = Identity(
                manufacturer=fields[0], model=fields[1], serial=fields[2], firmware=",".join(fields[3:])
            )
        return self._identity
