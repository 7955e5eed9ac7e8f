"""`flexbench certs`: the test PKI for IEEE 2030.5 (CA, server, operator and device certificates)."""

from __future__ import annotations

import argparse

from flexbench.lab.errors import UserError
from flexbench.signals.pki import TestPKI


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("certs", help="test PKI: CA, server and device certificates (P-256)")
    actions = parser.add_subparsers(dest="certs_action", metavar="ACTION", required=True)

    init = actions.add_parser("init", help="create a test CA, the server certificate and an operator certificate")
    init.add_argument("directory", metavar="DIR")
    init.add_argument(
        "--host",
        action="append",
        dest="hosts",
        metavar="NAME",
        help="server name or IP in its certificate (repeatable; default localhost, 127.0.0.1, ::1)",
    )
    init.add_argument("--force", action="store_true", help="replace an existing PKI in DIR")
    init.set_defaults(func=_init)

    device = actions.add_parser("device", help="issue a device certificate; prints its LFDI and SFDI")
    device.add_argument("directory", metavar="DIR")
    device.add_argument("name", metavar="NAME")
    device.add_argument("--serial", help="hardware serial number in the certificate (default: NAME)")
    device.set_defaults(func=_device)


def _init(args: argparse.Namespace) -> int:
    pki = TestPKI(args.directory)
    try:
        pki.init(
            server_hosts=tuple(args.hosts) if args.hosts else ("localhost", "127.0.0.1", "::1"), overwrite=args.force
        )
    except FileExistsError as exc:
        raise UserError(f"{exc} (use --force to replace it)") from None
    except OSError as exc:
        raise UserError(f"{args.directory}: {exc.strerror or exc}") from None
    print(f"CA        {pki.ca_cert_path}")
    print(f"server    {pki.server.cert_path}  LFDI {pki.server.lfdi}")
    print(f"operator  {pki.operator.cert_path}  LFDI {pki.operator.lfdi}")
    return 0


def _device(args: argparse.Namespace) -> int:
    pki = TestPKI(args.directory)
    try:
        identity = pki.device(args.name, serial=args.serial)
    except (FileNotFoundError, ValueError) as exc:
        raise UserError(str(exc)) from None
    pki.write_index()
    print(f"LFDI {identity.lfdi}")
    print(f"SFDI {identity.sfdi}")
    print(f"certificate {identity.cert_path}")
    return 0
