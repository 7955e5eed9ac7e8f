"""`flexbench emulate MODEL`: one emulated instrument on loopback, for driver work and training without hardware."""

from __future__ import annotations

import argparse
import signal
import threading

from flexbench.instruments.emulators import EMULATORS
from flexbench.lab.errors import UserError


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "emulate",
        help="serve one emulated instrument on loopback until interrupted",
        description="Serve the emulator of one registered driver on 127.0.0.1 until Ctrl-C. The first line "
        "printed is its address: a VISA resource string (SCPI models) or modbus+tcp://host:port/unit "
        "(Modbus and SunSpec models), to give to pyvisa, pymodbus or a bench file.",
    )
    p.add_argument("model", metavar="MODEL", help=f"the driver's registry name: {', '.join(sorted(EMULATORS))}")
    p.add_argument("--port", type=int, default=0, metavar="P", help="TCP port (default 0: a free port chosen at start)")
    p.set_defaults(func=emulate)


def emulate(args: argparse.Namespace) -> int:
    emulator_cls = EMULATORS.get(args.model)
    if emulator_cls is None:
        raise UserError(f"no emulated model {args.model!r}; models: {', '.join(sorted(EMULATORS))}")
    if not 0 <= args.port <= 65535:
        raise UserError(f"--port {args.port} is not a TCP port (0 to 65535)")
    emulator = emulator_cls()
    emulator.listen = ("127.0.0.1", args.port)
    try:
        emulator.start()
    except (OSError, RuntimeError) as exc:  # a port in use: OSError from a SCPI server, RuntimeError from Modbus
        raise UserError(f"cannot serve {args.model} on 127.0.0.1:{args.port}: {exc}") from None
    # Ctrl-C ends it even when started from a shell that ignores SIGINT for background jobs
    signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        print(emulator.address, flush=True)
        threading.Event().wait()  # until Ctrl-C
    except KeyboardInterrupt:
        pass
    finally:
        emulator.stop()
    return 0
