"""A SCPI instrument on a loopback TCP socket, for emulators to build on.

It accepts connections on 127.0.0.1 at a port chosen at run time, reads
newline-terminated program messages (several commands may be joined with
';', a header without a leading colon continuing from the previous one's
node), and dispatches each to a handler by its header, matched the way SCPI
instruments match them: long or short form of each mnemonic, any case,
optional nodes, numeric suffixes. Headers without a handler are served from
the model's command specification (instruments.specs) when the emulator
names one. Like a real instrument it keeps the IEEE 488.2 status registers
(*ESR?, *STB?) and an error queue: an unknown header queues "Undefined
header" (113), a bad parameter "Data type error" (104) or "Data out of
range" (222), and an unknown query gets no reply at all, so the client
times out.

Every message received is kept in `command_log` with the clock's timestamp,
so tests can assert what a driver sent. `responding = False` makes the
instrument hang: it keeps reading and logging but neither acts nor answers.
`failing = True` puts it in a fault state (an interlock, an over-temperature):
it refuses every command and query but the error query with "Hardware error"
(240) in its queue, so a query gets no reply and a command's check fails.
"""

from __future__ import annotations

import logging
import math
import re
import socket
import socketserver
import threading
from collections import deque
from collections.abc import Callable
from typing import Any

from ..specs import BadParameter, Spec, load_spec
from ..specs.headers import compile_header as compile_header
from ..specs.headers import resolve, split_units
from ..specs.params import format_number as format_number
from .common import Clock, CommandLog, CommandRecord, WallClock

log = logging.getLogger(__name__)

ERROR_TEXT = {
    0: "No error",
    102: "Syntax error",
    104: "Data type error",
    108: "Parameter not allowed",
    109: "Missing parameter",
    113: "Undefined header",
    114: "Header suffix out of range",
    221: "Settings conflict",
    222: "Data out of range",
    224: "Illegal parameter value",
    230: "Data corrupt or stale",
    240: "Hardware error",
    300: "Device-specific error",
    350: "Queue overflow",
}
ERROR_QUEUE_DEPTH = 30


class ScpiError(Exception):
    """Raised by a handler to queue an instrument error (positive SCPI code)."""

    def __init__(self, code: int, message: str | None = None) -> None:
        self.code = code
        self.message = message or ERROR_TEXT.get(code, "Error")
        super().__init__(f"{code},{self.message}")


# -- handlers ------------------------------------------------------------------------


def scpi(pattern: str, *, takes_args: bool | None = None) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Register a method as the handler of a header pattern (ending in '?' for queries).

    The handler gets (args: str, suffixes: tuple[str, ...]) and returns the
    reply text for a query, or None.
    """

    def mark(fn: Callable[..., Any]) -> Callable[..., Any]:
        patterns = getattr(fn, "_scpi_patterns", [])
        wants = takes_args if takes_args is not None else not pattern.endswith("?")
        fn._scpi_patterns = patterns + [(pattern, wants)]  # type: ignore[attr-defined]
        return fn

    return mark


# -- parameter helpers -------------------------------------------------------------


def number_arg(args: str) -> float:
    text = args.strip()
    if not text:
        raise ScpiError(109)
    try:
        value = float(text)
    except ValueError:
        raise ScpiError(104) from None
    if not math.isfinite(value):
        raise ScpiError(104)
    return value


def int_arg(args: str) -> int:
    value = number_arg(args)
    if not value.is_integer():
        raise ScpiError(104)
    return int(value)


def bool_arg(args: str) -> bool:
    token = args.strip().upper()
    if not token:
        raise ScpiError(109)
    if token in ("ON", "1"):
        return True
    if token in ("OFF", "0"):
        return False
    raise ScpiError(224)


def choice_arg(args: str, choices: dict[str, str]) -> str:
    """Match a character-data token against {accepted form: canonical value}."""
    token = args.strip().upper()
    if not token:
        raise ScpiError(109)
    for form, value in choices.items():
        if token == form.upper():
            return value
    raise ScpiError(224)


def in_range(value: float, low: float, high: float) -> float:
    if not low <= value <= high:
        raise ScpiError(222)
    return value


# -- the server --------------------------------------------------------------------


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True
    block_on_close = False


class _Handler(socketserver.StreamRequestHandler):
    server: _Server

    def handle(self) -> None:
        emulator: ScpiEmulator = self.server.emulator  # type: ignore[attr-defined]
        emulator._register(self.connection)
        try:
            while True:
                try:
                    raw = self.rfile.readline()
                except OSError:
                    return
                if not raw:
                    return
                line = raw.decode("latin-1").strip("\r\n")
                if not line.strip():
                    continue
                reply = emulator.handle_message(line)
                if reply is not None:
                    try:
                        self.wfile.write(reply.encode("latin-1") + b"\n")
                        self.wfile.flush()
                    except OSError:
                        return
        finally:
            emulator._unregister(self.connection)


# Standard event status register bits (IEEE 488.2 11.5.1) and the error classes that set them.
ESR_OPC = 1
ESR_QUERY_ERROR = 4
ESR_DEVICE_ERROR = 8
ESR_EXECUTION_ERROR = 16
ESR_COMMAND_ERROR = 32
STB_ERROR_QUEUE = 4  # SCPI: the error/event queue is not empty
STB_ESB = 32
STB_MSS = 64


def _esr_bit(code: int) -> int:
    """The event status bit an error number sets (SCPI-99 21.8: -1xx command, -2xx execution, ...)."""
    return {1: ESR_COMMAND_ERROR, 2: ESR_EXECUTION_ERROR, 3: ESR_DEVICE_ERROR, 4: ESR_QUERY_ERROR}.get(
        code // 100, ESR_DEVICE_ERROR
    )


class ScpiEmulator:
    """Base of SCPI instrument emulators: dispatch, error queue, status registers, log, a loopback server.

    A message unit goes to a hand-written @scpi handler of the emulator (the
    behaviour tests depend on) if one matches; else, when `spec_name` names
    the model's command specification (instruments.specs), the spec serves
    it: a setting's parameters are checked as the manual defines them and
    kept for its query, a query answers its default; else it is an
    undefined header (113). The IEEE 488.2 common commands are here for all.
    """

    spec_name: str | None = None  # the model's spec, e.g. "chroma-61845"
    negative_error_codes = True  # SCPI style "-113"; Yokogawa queues "113" (a spec's `errors` decides)
    error_query_patterns: tuple[str, ...] = ("SYSTem:ERRor[:NEXT]?",)
    manufacturer = ""
    model = ""
    serial = ""
    firmware = ""

    def __init__(self, clock: Clock | None = None) -> None:
        self.clock: Clock = clock or WallClock()
        self.lock = threading.RLock()
        self.responding = True
        self.failing = False
        self.listen: tuple[str, int] = ("127.0.0.1", 0)  # set before start() to serve a fixed port
        self.command_log = CommandLog()
        self.spec: Spec | None = load_spec(self.spec_name) if self.spec_name else None
        if self.spec is not None:
            self.negative_error_codes = self.spec.manual.negative_errors
        self._spec_settings: dict[tuple[str, tuple[str, ...], str], list[Any]] = {}  # (header, suffixes, channels)
        self._errors: deque[tuple[int, str]] = deque()
        self.event_status = 0  # standard event status register (*ESR?)
        self.event_status_enable = 0  # *ESE
        self.service_request_enable = 0  # *SRE
        self._handlers: list[tuple[re.Pattern[str], bool, bool, Callable[..., Any]]] = []
        self.handler_patterns: list[str] = []  # the header patterns served by hand
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._connections: set[socket.socket] = set()
        self._conn_lock = threading.Lock()
        self._build_table()

    def _build_table(self) -> None:
        for name in dir(type(self)):
            fn = getattr(type(self), name, None)
            for pattern, wants in getattr(fn, "_scpi_patterns", []):
                self._handlers.append((compile_header(pattern), pattern.endswith("?"), wants, getattr(self, name)))
                self.handler_patterns.append(pattern)
        for pattern in self.error_query_patterns:
            self._handlers.append((compile_header(pattern), True, False, self._error_query))
            self.handler_patterns.append(pattern)

    # -- error queue -------------------------------------------------------------
    def push_error(self, code: int, message: str | None = None) -> None:
        with self.lock:
            self.event_status |= _esr_bit(code)
            if len(self._errors) >= ERROR_QUEUE_DEPTH:
                self._errors.pop()
                self._errors.append((350, ERROR_TEXT[350]))
                return
            self._errors.append((code, message or ERROR_TEXT.get(code, "Error")))

    def errors(self) -> list[str]:
        """Queued errors, oldest first, without consuming them."""
        with self.lock:
            return [self._format_error(c, m) for c, m in self._errors]

    def _format_error(self, code: int, message: str) -> str:
        signed = -code if (self.negative_error_codes and code) else code
        return f'{signed},"{message}"'

    def _error_query(self, args: str, suffixes: tuple[str, ...]) -> str:
        with self.lock:
            code, message = self._errors.popleft() if self._errors else (0, ERROR_TEXT[0])
        return self._format_error(code, message)

    def clear_errors(self) -> None:
        with self.lock:
            self._errors.clear()

    # -- dispatch ------------------------------------------------------------------
    def handle_message(self, line: str) -> str | None:
        """Process one program message; return the reply line, or None when there is none."""
        self.command_log.append(CommandRecord(self.clock.now(), line))
        if not self.responding:
            return None
        replies: list[str] = []
        path: list[str] = []
        for unit in split_units(line):
            unit, path = self._resolve(unit, path)
            reply = self._dispatch(unit)
            if reply is not None:
                replies.append(reply)
        try:
            self.after_message()
        except Exception:
            log.exception("%s: after-message hook failed", type(self).__name__)
        if not replies or not self.responding:
            return None
        return ";".join(replies)

    def after_message(self) -> None:
        """Hook run after each program message (emulators notify the plant here)."""

    def _resolve(self, unit: str, path: list[str]) -> tuple[str, list[str]]:
        """Full header of a message unit and the path it leaves (specs.headers.resolve); models that read
        headers their own way override it."""
        return resolve(unit, path, self._knows)

    def handled_by_hand(self, header: str) -> bool:
        """Whether a hand-written handler serves `header` ('?' for the query form), not the spec."""
        return any(regex.match(header) for regex, *_ in self._handlers)

    def _knows(self, header: str) -> bool:
        if self.handled_by_hand(header):
            return True
        if self.spec is None:
            return False
        return self.spec.find(header) is not None or self.spec.find(header + "?") is not None

    def _dispatch(self, unit: str) -> str | None:
        parts = unit.split(None, 1)
        header = parts[0]
        args = parts[1] if len(parts) > 1 else ""
        if header.upper() == "*RST" and not self.failing:
            with self.lock:
                self._spec_settings.clear()
        for regex, is_query, wants_args, handler in self._handlers:
            match = regex.match(header)
            if match is None:
                continue
            if self.failing and handler != self._error_query:
                self.push_error(240)
                return None
            if not wants_args and args.strip():
                self.push_error(108)
                return None
            try:
                result = handler(args, tuple(match.groups()))
            except ScpiError as exc:
                self.push_error(exc.code, exc.message)
                return None
            except Exception:
                # A failing plant hook is a device failure, not a dead server.
                log.exception("%s: handler for %r failed", type(self).__name__, unit)
                self.push_error(300)
                return None
            if not is_query:
                self._remember(header, args)
            return result if is_query else None
        return self._serve_from_spec(header, args)

    def _remember(self, header: str, args: str) -> None:
        """Keep what a hand-written setting was given, for a query form the spec serves."""
        found = self.spec.find(header) if self.spec is not None else None
        if found is None or found.command.kind != "setting" or not found.command.params:
            return
        try:
            values = found.command.parse(args, query=False)
        except BadParameter:
            return
        with self.lock:
            self._spec_settings[(found.command.header, found.suffixes, found.command.channel_list(args))] = values

    def _serve_from_spec(self, header: str, args: str) -> str | None:
        """A command the emulator has no handler for, served as the model's spec defines it."""
        found = self.spec.find(header) if self.spec is not None else None
        if found is None:
            self.push_error(113)
            return None
        if self.failing:
            self.push_error(240)
            return None
        command = found.command
        try:
            values = command.parse(args, found.query)
        except BadParameter as exc:
            self.push_error(exc.code)
            return None
        key = (command.header, found.suffixes, command.channel_list(args))
        with self.lock:
            if not found.query:
                if command.kind == "setting" and command.params:
                    self._spec_settings[key] = values
                return None
            if values:  # MIN or MAX of a setting
                return command.params[0].format(values[0])
            return command.reply_text(self._spec_settings.get(key))

    # -- IEEE 488.2 common commands ------------------------------------------------------
    def identity(self) -> str:
        return f"{self.manufacturer},{self.model},{self.serial},{self.firmware}"

    @scpi("*IDN?")
    def _idn(self, args: str, suffixes: tuple[str, ...]) -> str:
        return self.identity()

    @scpi("*RST")
    def _rst(self, args: str, suffixes: tuple[str, ...]) -> None:
        """Settings the spec serves go back to their defaults (in _dispatch); emulators reset their own."""

    @scpi("*CLS")
    def _cls(self, args: str, suffixes: tuple[str, ...]) -> None:
        with self.lock:
            self.clear_errors()
            self.event_status = 0

    @scpi("*ESR?")
    def _esr(self, args: str, suffixes: tuple[str, ...]) -> str:
        with self.lock:
            value, self.event_status = self.event_status, 0
        return str(value)

    @scpi("*ESE")
    def _ese(self, args: str, suffixes: tuple[str, ...]) -> None:
        self.event_status_enable = int(in_range(int_arg(args), 0, 255))

    @scpi("*ESE?")
    def _ese_q(self, args: str, suffixes: tuple[str, ...]) -> str:
        return str(self.event_status_enable)

    @scpi("*SRE")
    def _sre(self, args: str, suffixes: tuple[str, ...]) -> None:
        self.service_request_enable = int(in_range(int_arg(args), 0, 255))

    @scpi("*SRE?")
    def _sre_q(self, args: str, suffixes: tuple[str, ...]) -> str:
        return str(self.service_request_enable)

    @scpi("*STB?")
    def _stb(self, args: str, suffixes: tuple[str, ...]) -> str:
        with self.lock:
            status = STB_ERROR_QUEUE if self._errors else 0
            if self.event_status & self.event_status_enable:
                status |= STB_ESB
            if status & self.service_request_enable & ~STB_MSS:
                status |= STB_MSS
        return str(status)

    @scpi("*OPC")
    def _opc_set(self, args: str, suffixes: tuple[str, ...]) -> None:
        with self.lock:
            self.event_status |= ESR_OPC

    @scpi("*OPC?")
    def _opc(self, args: str, suffixes: tuple[str, ...]) -> str:
        return "1"

    @scpi("*TST?")
    def _tst(self, args: str, suffixes: tuple[str, ...]) -> str:
        return "0"

    @scpi("*WAI")
    def _wai(self, args: str, suffixes: tuple[str, ...]) -> None:
        """Commands run in order here, so there is nothing to wait for."""

    # -- server ---------------------------------------------------------------------------
    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("emulator is not running")
        return self._server.server_address[1]

    @property
    def address(self) -> str:
        """VISA resource string of the running emulator."""
        return f"TCPIP0::127.0.0.1::{self.port}::SOCKET"

    @property
    def running(self) -> bool:
        return self._server is not None

    def start(self) -> ScpiEmulator:
        if self._server is not None:
            return self
        server = _Server(self.listen, _Handler)
        server.emulator = self  # type: ignore[attr-defined]
        thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.01}, name=f"{type(self).__name__}", daemon=True
        )
        self._server, self._thread = server, thread
        thread.start()
        return self

    def stop(self) -> None:
        server, thread = self._server, self._thread
        if server is None:
            return
        self._server = self._thread = None
        server.shutdown()
        self.drop_connections()
        server.server_close()
        if thread is not None:
            thread.join(timeout=5)

    def drop_connections(self) -> None:
        """Close every client connection, as an instrument that reboots would."""
        with self._conn_lock:
            conns = list(self._connections)
        for conn in conns:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def _register(self, conn: socket.socket) -> None:
        with self._conn_lock:
            self._connections.add(conn)

    def _unregister(self, conn: socket.socket) -> None:
        with self._conn_lock:
            self._connections.discard(conn)

    def __enter__(self) -> ScpiEmulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
