"""A virtual serial pair: two pseudo-terminals joined like a null-modem cable.

Modbus RTU needs two serial devices, one for the client and one for the
server, and a pseudo-terminal gives only one path (its slave; the master
side is a file descriptor without a name). So the pair opens two ptys and a
thread copies bytes between their masters: whatever the client writes to
``device_a`` the server reads from ``device_b`` and back, as through a cable.

Both ends are opened by path with pyserial (pymodbus's serial client and
serial server both use it), so the RTU framing, CRCs, pyserial's termios
setup and timeouts are the real ones. The line keeps its baud rate's time in
each direction (transports.serial_line.SerialLine): bytes are handed over
when their last character would have arrived and the 3.5-character silence
that ends a frame has passed, and bytes sent while the line is still busy
queue behind those before them, so a request and its reply take what they
take on a real line. Works on Linux and macOS (``os.openpty``).

Alternatives that were weighed: pyserial's ``loop://`` URL echoes back into
the same port (one end only), and ``socket://`` carries RTU frames over TCP,
which pymodbus also accepts, but exercises no serial device at all.
"""

from __future__ import annotations

import os
import select
import threading
import time
import tty
from collections import deque

from ..transports.serial_line import SerialLine


class VirtualSerialPair:
    """Two connected serial device paths, ``device_a`` and ``device_b``, at `line`'s timing until close()."""

    def __init__(self, line: SerialLine) -> None:
        self.line = line
        self._fds: list[int] = []
        self.master_a, slave_a = self._open_pty()
        self.master_b, slave_b = self._open_pty()
        self.device_a = os.ttyname(slave_a)
        self.device_b = os.ttyname(slave_b)
        # The slave descriptors stay open: a pty whose slave was never opened
        # (or was closed by every user) reports hang-up to its master.
        self._wake_read, self._wake_write = os.pipe()  # close() wakes the pump at once
        self._fds += [self._wake_read, self._wake_write]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._pump, name="VirtualSerialPair", daemon=True)
        self._thread.start()

    def _open_pty(self) -> tuple[int, int]:
        master, slave = os.openpty()
        tty.setraw(slave)
        self._fds += [master, slave]
        return master, slave

    def _pump(self) -> None:
        peers = {self.master_a: self.master_b, self.master_b: self.master_a}
        in_flight: dict[int, deque[tuple[float, bytes]]] = {fd: deque() for fd in peers}  # to fd: (due, bytes)
        busy_until = dict.fromkeys(peers, 0.0)  # to fd: when the last character sent its way ends
        while not self._stop.is_set():
            now = time.monotonic()
            for fd, queue in in_flight.items():
                while queue and queue[0][0] <= now:
                    try:
                        os.write(fd, queue.popleft()[1])
                    except OSError:
                        pass  # nobody reads the other end: the bytes are lost, as on an open line
            due = [queue[0][0] for queue in in_flight.values() if queue]
            wait_s = max(0.0, min(due) - now) if due else 1.0
            try:
                ready, _, _ = select.select([*peers, self._wake_read], [], [], wait_s)
            except (OSError, ValueError):
                return
            if self._wake_read in ready:
                return
            for fd in ready:
                try:
                    data = os.read(fd, 4096)
                except OSError:
                    continue  # no slave user at the moment (EIO); keep serving
                if data:
                    to = peers[fd]
                    ends = max(time.monotonic(), busy_until[to]) + len(data) * self.line.char_s
                    busy_until[to] = ends
                    in_flight[to].append((ends + self.line.silence_s, data))

    def close(self) -> None:
        self._stop.set()
        try:
            os.write(self._wake_write, b"x")
        except OSError:
            pass
        self._thread.join(timeout=2)
        fds, self._fds = self._fds, []
        for fd in fds:
            try:
                os.close(fd)
            except OSError:
                pass

    def __enter__(self) -> VirtualSerialPair:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
