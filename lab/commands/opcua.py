"""`flexbench opcua certs|serve|publish|signal-abnormal|clear-abnormal|read`: OPC-UA limit signals.

`serve` runs the envelope server until Ctrl-C (or SIGTERM); the other actions
are the operator's remote tools against a running server. Client actions log
in as the PKI's `operator` account unless told otherwise.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import signal
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from asyncua import ua

from flexbench.core import IntervalError, read_envelope_file
from flexbench.lab.errors import UserError
from flexbench.signals.opcua.accounts import AccountStore
from flexbench.signals.opcua.connection import ClientSecurity
from flexbench.signals.opcua.envelope import EnvelopeError
from flexbench.signals.opcua.model import NAMESPACE_URI, SiteSpec
from flexbench.signals.opcua.operator_client import OperatorClient
from flexbench.signals.opcua.pki import OpcuaPKI
from flexbench.signals.opcua.provisioning import OPERATOR_ACCOUNT, USERS_FILE, passwords_dir, provision
from flexbench.signals.opcua.security import MODES, POLICIES
from flexbench.signals.opcua.server import DEFAULT_ENDPOINT, EnvelopeServer, EnvelopeServerConfig
from flexbench.signals.opcua.site_client import WriteRefused


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "opcua",
        help="OPC-UA envelope server and operator tools",
        description="OPC-UA limit signals: a secured envelope server for sites and SCADA, and the operator's "
        "tools against it.",
    )
    sub = p.add_subparsers(dest="opcua_command", metavar="ACTION", required=True)

    certs = sub.add_parser("certs", help="create the OPC-UA test PKI and accounts (operator, sites, viewers)")
    certs.add_argument("dir", metavar="DIR", help="PKI directory")
    _site_arguments(certs)
    certs.add_argument("--viewer", action="append", default=[], metavar="NAME", help="a read-only account")
    certs.add_argument(
        "--host",
        action="append",
        default=[],
        metavar="HOST",
        help="host name or IP for the server certificate (default: localhost, 127.0.0.1, this host)",
    )
    certs.set_defaults(func=make_certs)

    serve = sub.add_parser("serve", help="run the envelope server until interrupted")
    serve.add_argument(
        "--endpoint",
        default=DEFAULT_ENDPOINT,
        help=f"opc.tcp URL to listen on; port 0 picks a free port (default: {DEFAULT_ENDPOINT})",
    )
    serve.add_argument(
        "--certs",
        required=True,
        metavar="DIR",
        help="OPC-UA PKI directory; created with an account per site when it holds none",
    )
    _site_arguments(serve)
    serve.add_argument("--rated-import-w", type=float, default=100_000.0, help="physical import range per site, W")
    serve.add_argument("--rated-export-w", type=float, default=100_000.0, help="physical export range per site, W")
    serve.add_argument("--firm-import-w", type=float, help="firm import limit, W (default: the rated import)")
    serve.add_argument("--firm-export-w", type=float, help="firm export limit, W (default: the rated export)")
    serve.add_argument(
        "--site-file",
        metavar="FILE",
        help="JSON list of sites: name, rated_import_w, rated_export_w, firm_import_limit_w, "
        "firm_export_limit_w (replaces --site/--sites and the rating options)",
    )
    serve.add_argument("--heartbeat-s", type=float, default=5.0, help="heartbeat interval, s (default 5)")
    serve.add_argument(
        "--security-mode",
        action="append",
        choices=sorted(MODES),
        metavar="MODE",
        help="sign or sign-encrypt; repeat for both (default: both)",
    )
    serve.add_argument("--allow-anonymous", action="store_true", help="let anonymous clients read (never write)")
    serve.set_defaults(func=serve_command)

    publish = sub.add_parser("publish", help="publish an envelope (CSV or JSON) to a site")
    _client_arguments(publish)
    publish.add_argument("--site", required=True, help="site name")
    publish.add_argument(
        "envelope",
        metavar="ENVELOPE_FILE",
        help="CSV or JSON with start, duration_s, import_limit_w, export_limit_w (and optional site_id); "
        "what `flexbench envelope --out` writes",
    )
    publish.add_argument(
        "--envelope-site",
        metavar="ID",
        help="the file's site to publish (default: the one named like --site, or the file's only site)",
    )
    publish.set_defaults(func=publish_command)

    abnormal = sub.add_parser("signal-abnormal", help="signal abnormal operation: cap the sites' import")
    _client_arguments(abnormal)
    abnormal.add_argument("--site", action="append", required=True, metavar="NAME", help="site; repeat for more")
    abnormal.add_argument("--max-import-w", type=float, required=True, help="maximum import, W")
    abnormal.add_argument("--duration-s", type=float, default=0.0, help="how long, s (default: until cleared)")
    abnormal.set_defaults(func=signal_abnormal_command)

    clear = sub.add_parser("clear-abnormal", help="return the sites to normal operation")
    _client_arguments(clear)
    clear.add_argument("--site", action="append", required=True, metavar="NAME", help="site; repeat for more")
    clear.set_defaults(func=clear_abnormal_command)

    read = sub.add_parser("read", help="print a site's limits, mode, heartbeat and write-back as JSON")
    _client_arguments(read)
    read.add_argument("--site", action="append", required=True, metavar="NAME", help="site; repeat for more")
    read.set_defaults(func=read_command)


def _site_arguments(p: argparse.ArgumentParser) -> None:
    group = p.add_mutually_exclusive_group()
    group.add_argument("--site", action="append", default=[], metavar="NAME", help="a site; repeat for more")
    group.add_argument("--sites", type=int, metavar="N", help="N sites named site-001 ... site-N")


def _client_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--endpoint", required=True, help="the envelope server's opc.tcp URL")
    p.add_argument(
        "--certs", required=True, metavar="DIR", help="OPC-UA PKI directory holding the client's certificate"
    )
    p.add_argument(
        "--user", default=OPERATOR_ACCOUNT, help=f"account and client certificate name (default {OPERATOR_ACCOUNT})"
    )
    p.add_argument("--password-file", metavar="FILE", help="file holding the password (default: the PKI's)")
    p.add_argument("--policy", default="Basic256Sha256", choices=sorted(POLICIES), help="security policy")
    p.add_argument("--mode", default="sign-encrypt", choices=sorted(MODES), help="security mode")
    p.add_argument("--timeout-s", type=float, default=10.0, help="request timeout, s")


def _site_names(args: argparse.Namespace) -> list[str]:
    if args.sites is not None:
        if args.sites < 1:
            raise UserError(f"--sites must be at least 1, got {args.sites}")
        return [f"site-{i:03d}" for i in range(1, args.sites + 1)]
    return list(args.site)


# certs --------------------------------------------------------------------------
def make_certs(args: argparse.Namespace) -> int:
    try:
        result = provision(args.dir, _site_names(args), hosts=tuple(args.host) or None, viewers=args.viewer)
    except (ValueError, OSError) as exc:
        raise UserError(str(exc)) from exc
    pki = OpcuaPKI(result.directory)
    print(f"{'created' if result.created_pki else 'extended'} OPC-UA test PKI in {pki.directory}")
    print(f"trust list: {pki.trust_dir}   server certificate: {pki.server.cert_path}")
    print(f"accounts ({pki.directory / USERS_FILE}), passwords in {passwords_dir(pki.directory)}:")
    for account in AccountStore.load(pki.directory / USERS_FILE):
        suffix = f" of {account.site}" if account.site else ""
        print(f"  {account.name:24s} {account.role}{suffix}")
    return 0


# serve --------------------------------------------------------------------------
def _site_specs(args: argparse.Namespace) -> list[SiteSpec]:
    try:
        if args.site_file:
            rows = json.loads(Path(args.site_file).read_text())
            if not isinstance(rows, list):
                raise ValueError("expected a JSON list of sites")
            return [SiteSpec(**row) for row in rows]
        names = _site_names(args)
        if not names:
            raise UserError("name the sites: --site NAME (repeatable), --sites N or --site-file FILE")
        return [
            SiteSpec(name, args.rated_import_w, args.rated_export_w, args.firm_import_w, args.firm_export_w)
            for name in names
        ]
    except (OSError, TypeError, ValueError) as exc:
        raise UserError(f"sites: {exc}") from exc


def serve_command(args: argparse.Namespace) -> int:
    sites = _site_specs(args)
    pki = OpcuaPKI(args.certs)
    if not pki.exists():
        try:
            provision(args.certs, [s.name for s in sites])
        except (ValueError, OSError) as exc:
            raise UserError(str(exc)) from exc
        print(f"created an OPC-UA test PKI with an account per site in {pki.directory}", flush=True)
    accounts = AccountStore.load(pki.directory / USERS_FILE)
    missing = [s.name for s in sites if accounts.get(s.name) is None]
    if missing:
        print(
            f"warning: no account for site(s) {', '.join(missing)}; run `flexbench opcua certs {args.certs} "
            f"--site NAME` to add them",
            file=sys.stderr,
        )
    try:
        config = EnvelopeServerConfig(
            sites=sites,
            certs_dir=pki.directory,
            endpoint=args.endpoint,
            heartbeat_interval_s=args.heartbeat_s,
            allow_anonymous=args.allow_anonymous,
            security_modes=tuple(args.security_mode or ("sign", "sign-encrypt")),
            accounts=accounts,
        )
    except ValueError as exc:
        raise UserError(str(exc)) from exc
    return asyncio.run(_serve(config))


async def _serve(config: EnvelopeServerConfig) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(signum, stop.set)
        except (NotImplementedError, RuntimeError):  # not on this platform / not the main thread
            pass
    server = EnvelopeServer(config)
    _quiet_asyncua(logging.CRITICAL)  # a failed start is reported in one line below
    try:
        await server.start()
    except OSError as exc:
        raise UserError(f"cannot listen on {config.endpoint}: {exc.strerror or exc}") from exc
    except (ValueError, FileNotFoundError) as exc:
        raise UserError(str(exc)) from exc
    _quiet_asyncua(logging.ERROR)
    try:
        print(f"endpoint: {server.endpoint}", flush=True)
        print(
            f"namespace: {server.namespace_index} ({NAMESPACE_URI}); {len(config.sites)} site(s); Ctrl-C to stop",
            flush=True,
        )
        await stop.wait()
    finally:
        await server.stop()
    return 0


# operator tools ----------------------------------------------------------------------
def _security(args: argparse.Namespace) -> ClientSecurity:
    try:
        security = ClientSecurity.from_pki(
            args.certs, args.user, args.policy, args.mode, login=args.password_file is None
        )
        if args.password_file is not None:
            security = security.with_login(args.user, Path(args.password_file).read_text().strip())
    except (FileNotFoundError, ValueError) as exc:
        raise UserError(str(exc)) from exc
    return security


def _quiet_asyncua(level: int) -> None:
    """asyncua logs refusals it receives or sends; the CLI reports them itself, in one line."""
    logging.getLogger("asyncua").setLevel(level)


def _with_operator(args: argparse.Namespace, action: Callable[[OperatorClient], Awaitable[Any]]) -> Any:
    _quiet_asyncua(logging.CRITICAL)

    async def main() -> Any:
        async with OperatorClient(args.endpoint, _security(args), args.timeout_s) as client:
            return await action(client)

    try:
        return asyncio.run(main())
    except UserError:
        raise
    except ua.UaStatusCodeError as exc:
        raise UserError(f"{args.endpoint}: server refused: {ua.StatusCode(exc.code).name}") from exc
    except WriteRefused as exc:
        raise UserError(f"{args.endpoint}: {exc}") from exc
    except (EnvelopeError, LookupError) as exc:
        raise UserError(str(exc).strip("'\"")) from exc
    except (TimeoutError, OSError, ua.UaError) as exc:
        raise UserError(f"{args.endpoint}: {exc or type(exc).__name__}") from exc


def publish_command(args: argparse.Namespace) -> int:
    try:
        envelope = read_envelope_file(args.envelope, args.envelope_site, default_site=args.site)
    except IntervalError as exc:
        raise UserError(str(exc)) from None
    version = _with_operator(args, lambda c: c.publish_envelope(args.site, envelope))
    print(f"site {args.site}: published {len(envelope)} interval(s), envelope version {version}")
    return 0


def signal_abnormal_command(args: argparse.Namespace) -> int:
    async def action(client: OperatorClient) -> None:
        for site in args.site:
            await client.signal_abnormal(site, args.max_import_w, args.duration_s)

    _with_operator(args, action)
    until = f"for {args.duration_s:g} s" if args.duration_s else "until cleared"
    print(f"abnormal operation signalled to {', '.join(args.site)}: import at most {args.max_import_w:g} W {until}")
    return 0


def clear_abnormal_command(args: argparse.Namespace) -> int:
    async def action(client: OperatorClient) -> None:
        for site in args.site:
            await client.clear_abnormal(site)

    _with_operator(args, action)
    print(f"normal operation restored for {', '.join(args.site)}")
    return 0


def read_command(args: argparse.Namespace) -> int:
    async def action(client: OperatorClient) -> dict[str, Any]:
        return {site: await client.read(site) for site in args.site}

    values = _with_operator(args, action)
    print(json.dumps(values, indent=1, default=str))
    return 0
