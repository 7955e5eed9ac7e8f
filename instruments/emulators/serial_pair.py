"""A virtual serial pair: two pseudo-terminals joined like a null-modem cable.

Modbus RTU needs two serial devices, one for the client and one for the
server, and a pseudo-terminal gives only one path (its slave; the master
side is a file descriptor without a name). So the pair opens two ptys and a
thread copies bytes between their masters: whatever the client writes to
``device_a`` the server reads from ``device_b`` and back, as through a cable.

Both ends are opened by path with pyserial (pymodbus's serial client and
serial server both use it), so the RTU framing, CRCs, pyserial's termios
setup and timeouts are the real ones; only the baud rate is not simulated
(bytes pass at memory speed). Works on Linux and macOS (``os.openpty``).

Alternatives that were weighed: pyserial's ``loop://`` URL echoes back into
the same port (one end only), and ``socket://`` carries RTU frames over TCP,
which pymodbus also accepts, but exercises no serial device at all.
"""

from __future__ import annotations

import os
import select
import threading
import tty


class VirtualSerialPair:
    """Two connected serial device paths, ``device_a`` and ``device_b``, until close()."""

    def __init__(self) -> None:
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
        while not self._stop.is_set():
            try:
                ready, _, _ = select.select([*peers, self._wake_read], [], [], 1.0)
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
                    try:
                        os.write(peers[fd], data)
                    except OSError:
                        pass  # nobody reads the other end: the bytes are lost, as on an open line

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
