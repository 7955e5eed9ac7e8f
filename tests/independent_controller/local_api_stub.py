"""A placeholder at the address the bench waits on for a controller's local API: registers that read zero.

The controller has no local API of its own; a bench that waits for one before
its tests, and programs PCS settings through it, gets this instead.
"""

from __future__ import annotations

import socketserver
import struct
import threading

READ_HOLDING, WRITE_SINGLE, WRITE_MULTIPLE = 3, 6, 16


class _Handler(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        while True:
            header = self.request.recv(7)
            if len(header) < 7:
                return
            transaction, protocol, length, unit = struct.unpack(">HHHB", header)
            pdu = self.request.recv(length - 1)
            function = pdu[0]
            if function == READ_HOLDING:
                count = struct.unpack(">H", pdu[3:5])[0]
                reply = bytes([function, 2 * count]) + bytes(2 * count)
            elif function in (WRITE_SINGLE, WRITE_MULTIPLE):
                reply = pdu[:5]
            else:
                reply = bytes([function | 0x80, 1])
            self.request.sendall(struct.pack(">HHHB", transaction, protocol, len(reply) + 1, unit) + reply)


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True


def serve(listen: str) -> None:
    host, _, port = listen.rpartition(":")
    server = _Server((host, int(port)), _Handler)
    threading.Thread(target=server.serve_forever, name="local-api-stub", daemon=True).start()
