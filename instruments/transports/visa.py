"""Message transport over VISA (pyvisa with its pure-Python backend, '@py').

Policy, stated once for every SCPI driver built on it:

- **Terminations**: '\\n' for reads and writes, as SCPI instruments on a raw
  socket (TCPIP SOCKET, port 5025 and vendor ports) expect.
- **Timeout**: each read waits at most `timeout_s`; on expiry InstrumentTimeout
  names the address and the command. The session is then closed and reopened
  by the next call, so a late answer can never be taken as the reply to a
  later query.
- **Lost connection**: a peer that closed the socket, or any other VISA or OS
  failure, raises InstrumentError naming the address. Nothing is retried
  behind the caller's back: an instrument that restarted has lost its
  settings, and the test must know. The next call reopens the session, so a
  probe or a safe-state attempt can still get through.
- **Threads**: one re-entrant lock per transport serialises every
  write/read pair. Drivers hold `lock` across multi-command sequences (select a
  phase, then query it) so the recorder polling from one thread and a test
  plan writing from another never interleave.
"""

from __future__ import annotations

import socket
import threading
from typing import Any, NoReturn

import pyvisa
from pyvisa import constants, errors

from ..addresses import VisaAddress
from ..roles import InstrumentError, InstrumentTimeout

BACKEND = "@py"

# One resource manager per backend for the whole process: closing a pyvisa
# ResourceManager closes every session of its library, so a transport must
# close only its own session, never the manager.
_MANAGERS: dict[str, pyvisa.ResourceManager] = {}
_MANAGERS_LOCK = threading.Lock()


def resource_manager(backend: str = BACKEND) -> pyvisa.ResourceManager:
    with _MANAGERS_LOCK:
        manager = _MANAGERS.get(backend)
        if manager is None:
            manager = _MANAGERS[backend] = pyvisa.ResourceManager(backend)
        return manager


class VisaTransport:
    """Line-oriented request/response over one VISA session."""

    def __init__(self, address: VisaAddress, *, timeout_s: float = 2.0, backend: str = BACKEND) -> None:
        self.address = address
        self.timeout_s = timeout_s
        self.backend = backend
        self.lock = threading.RLock()
        self._resource: Any = None

    # -- session ---------------------------------------------------------
    @property
    def is_open(self) -> bool:
        return self._resource is not None

    def open(self) -> None:
        with self.lock:
            if self._resource is not None:
                return
            timeout_ms = max(1, int(round(self.timeout_s * 1000)))
            try:
                self._resource = resource_manager(self.backend).open_resource(
                    self.address.resource,
                    read_termination="\n",
                    write_termination="\n",
                    timeout=timeout_ms,
                    open_timeout=timeout_ms,
                )
            except Exception as exc:  # pyvisa-py raises bare Exception on refused connections
                self._resource = None
                raise InstrumentError(f"cannot open VISA session: {_reason(exc)}", address=str(self.address)) from exc
            if self.address.is_socket:
                # A write that gets no reply, followed by the error query, would
                # otherwise wait out Nagle's algorithm against delayed ACKs (~40 ms).
                try:
                    self._resource.set_visa_attribute(constants.ResourceAttribute.tcpip_nodelay, True)
                except Exception:
                    sock = self._socket()
                    if sock is not None:
                        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def close(self) -> None:
        with self.lock:
            self._drop_session()

    def _drop_session(self) -> None:
        resource, self._resource = self._resource, None
        if resource is not None:
            try:
                resource.close()
            except Exception:  # closing a dead session must never mask the original error
                pass

    # -- I/O ---------------------------------------------------------------
    def write(self, command: str) -> None:
        with self.lock:
            resource = self._ready(command)
            try:
                resource.write(command)
            except Exception as exc:
                self._fail(exc, command)

    def query(self, command: str) -> str:
        """Send `command` and return its reply without the termination."""
        with self.lock:
            resource = self._ready(command)
            try:
                resource.write(command)
                reply = resource.read()
            except Exception as exc:
                self._fail(exc, command)
            return reply.strip()

    def _ready(self, command: str) -> Any:
        if self._resource is None:
            self.open()
        if self._peer_closed():
            self._drop_session()
            raise InstrumentError(
                "connection lost (the instrument closed it)", address=str(self.address), command=command
            )
        return self._resource

    def _fail(self, exc: Exception, command: str) -> NoReturn:
        address = str(self.address)
        if isinstance(exc, errors.VisaIOError) and exc.error_code == constants.StatusCode.error_timeout:
            closed = self._peer_closed()
            self._drop_session()
            if closed:
                raise InstrumentError(
                    "connection lost (the instrument closed it)", address=address, command=command
                ) from exc
            raise InstrumentTimeout(
                f"timed out: no answer within {self.timeout_s:g} s", address=address, command=command
            ) from exc
        self._drop_session()
        if isinstance(exc, (OSError, errors.VisaIOError)):
            raise InstrumentError(f"connection lost: {_reason(exc)}", address=address, command=command) from exc
        raise InstrumentError(f"VISA failure: {_reason(exc)}", address=address, command=command) from exc

    def _peer_closed(self) -> bool:
        """True when a raw socket session's peer has closed (pyvisa-py only reports a timeout)."""
        sock = self._socket()
        if sock is None:
            return False
        try:
            data = sock.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT)
        except (BlockingIOError, InterruptedError):
            return False
        except OSError:
            return True
        return data == b""

    def _socket(self) -> socket.socket | None:
        resource = self._resource
        if resource is None:
            return None
        try:
            session = resource.visalib.sessions[resource.session]
        except Exception:
            return None
        sock = getattr(session, "interface", None)
        return sock if isinstance(sock, socket.socket) else None


def _reason(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0]
