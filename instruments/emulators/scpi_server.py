"""A SCPI instrument on a loopback TCP socket, for emulators to build on.

It accepts connections on 127.0.0.1 at a port chosen at run time, reads
newline-terminated program messages (several commands may be joined with
';', a header without a leading colon continuing from the previous one's
node), and dispatches each to a handler by its header, matched the way SCPI
instruments match them: long or short form of each mnemonic, any case,
optional nodes, numeric suffixes. Like a real instrument it keeps an error
queue: an unknown header queues "Undefined header" (113), a bad parameter
"Data type error" (104) or "Data out of range" (222), and an unknown query
gets no reply at all, so the client times out.

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


# -- header matching -------------------------------------------------------------


def _mnemonic_regex(mnemonic: str) -> str:
    suffix = mnemonic.endswith("#")
    word = mnemonic[:-1] if suffix else mnemonic
    short = ""
    for ch in word:
        if ch.isupper() or ch.isdigit() or ch in "*_":
            short += ch
        else:
            break
    long = word.upper()
    options = {re.escape(short), re.escape(long)} if short else {re.escape(long)}
    body = "(?:" + "|".join(sorted(options, key=len, reverse=True)) + ")"
    return body + (r"(\d*)" if suffix else "")


def compile_header(pattern: str) -> re.Pattern[str]:
    """Regex for a header pattern like '[SOURce:]VOLTage[:LEVel]:AC?' or ':NUMeric[:NORMal]:ITEM#'."""
    query = pattern.endswith("?")
    body = pattern[:-1] if query else pattern
    body = body[1:] if body.startswith(":") else body  # the leading colon is always optional
    out = []
    i = 0
    while i < len(body):
        if body[i] == "[":
            j = body.index("]", i)
            inner = body[i + 1 : j]
            parts = [p for p in inner.split(":") if p]
            lead = inner.startswith(":")
            seg = ""
            for k, p in enumerate(parts):
                if lead or k > 0:
                    seg += ":"
                seg += _mnemonic_regex(p)
            if inner.endswith(":"):
                seg += ":"
            out.append(f"(?:{seg})?")
            i = j + 1
        elif body[i] == ":":
            out.append(":")
            i += 1
        else:
            j = i
            while j < len(body) and body[j] not in ":[":
                j += 1
            out.append(_mnemonic_regex(body[i:j]))
            i = j
    regex = "^:?" + "".join(out) + (r"\?" if query else "") + "$"
    return re.compile(regex, re.IGNORECASE)


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


def format_number(value: float) -> str:
    if math.isnan(value):
        return "NAN"
    if math.isinf(value):
        return "INF" if value > 0 else "-INF"
    return format(value, ".9g")


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


class ScpiEmulator:
    """Base of SCPI instrument emulators: dispatch, error queue, log, and a loopback server."""

    negative_error_codes = True  # SCPI style "-113"; Yokogawa queues "113"
    error_query_patterns: tuple[str, ...] = ("SYSTem:ERRor[:NEXT]?",)

    def __init__(self, clock: Clock | None = None) -> None:
        self.clock: Clock = clock or WallClock()
        self.lock = threading.RLock()
        self.responding = True
        self.failing = False
        self.listen: tuple[str, int] = ("127.0.0.1", 0)  # set before start() to serve a fixed port
        self.command_log = CommandLog()
        self._errors: deque[tuple[int, str]] = deque()
        self._handlers: list[tuple[re.Pattern[str], bool, bool, Callable[..., Any]]] = []
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
        for pattern in self.error_query_patterns:
            self._handlers.append((compile_header(pattern), True, False, self._error_query))

    # -- error queue -------------------------------------------------------------
    def push_error(self, code: int, message: str | None = None) -> None:
        with self.lock:
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
        for unit in line.split(";"):
            unit = unit.strip()
            if not unit:
                continue
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
        """Full header of a message unit, as SCPI's tree traversal reads it, and the path it leaves.

        A header without a leading colon continues from the node of the
        previous unit in the same message (``CURR:SAS:ISC 5;IMP 4`` sets
        CURR:SAS:IMP); where that names no command, it is read from the root,
        as lenient instruments do. Common commands (``*...``) leave the path alone.
        """
        header = unit.split(None, 1)[0]
        rest = unit[len(header) :]
        if header.startswith("*"):
            return unit, path
        full = header.lstrip(":")
        if path and not header.startswith(":"):
            candidate = ":".join([*path, header])
            if any(regex.match(candidate) for regex, *_ in self._handlers):
                full = candidate
        return full + rest, full.split(":")[:-1]

    def _dispatch(self, unit: str) -> str | None:
        parts = unit.split(None, 1)
        header = parts[0]
        args = parts[1] if len(parts) > 1 else ""
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
            return result if is_query else None
        self.push_error(113)
        return None

    # -- common commands -------------------------------------------------------------
    @scpi("*CLS")
    def _cls(self, args: str, suffixes: tuple[str, ...]) -> None:
        self.clear_errors()

    @scpi("*OPC?")
    def _opc(self, args: str, suffixes: tuple[str, ...]) -> str:
        return "1"

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
