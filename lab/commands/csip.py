"""`flexbench csip`: run the IEEE 2030.5 head-end, and act as the utility operator against one."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import sys
from typing import Any

from flexbench.core import IntervalError, read_envelope_file
from flexbench.lab.commands.csip_prices import add_prices_parser
from flexbench.lab.errors import UserError
from flexbench.signals.csip import (
    CSIP_CIPHERS,
    INTEROP_CIPHERS,
    CsipServer,
    HeadEndConfig,
    OperatorClient,
    OperatorError,
)
from flexbench.signals.csip.operator_api import as_json
from flexbench.signals.csip.poll_rates import POLLED_RESOURCES
from flexbench.signals.csip.server import ServerConfig
from flexbench.signals.csip.workers import Workers

CERTS_ENV = "FLEXBENCH_CERTS"


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("csip", help="IEEE 2030.5 (CSIP, CSIP-AUS) head-end and operator actions")
    actions = parser.add_subparsers(dest="csip_action", metavar="ACTION", required=True)

    serve = actions.add_parser("serve", help="run the 2030.5 server (mutual TLS) until interrupted")
    serve.add_argument("--db", required=True, metavar="FILE", help="SQLite state file (kept across restarts)")
    serve.add_argument("--certs", required=True, metavar="DIR", help="test PKI directory (flexbench certs init)")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=0, help="0 picks a free port (printed)")
    serve.add_argument(
        "--workers",
        type=int,
        default=os.cpu_count() or 1,
        metavar="N",
        help="server processes sharing the port and the state file (default: the machine's cores)",
    )
    serve.add_argument(
        "--ciphers", default=CSIP_CIPHERS, help=f"OpenSSL cipher list (default CSIP-strict {CSIP_CIPHERS})"
    )
    serve.add_argument(
        "--interop",
        action="store_true",
        help=f"also accept AES-128-GCM for TLS stacks without CCM-8 ({INTEROP_CIPHERS})",
    )
    serve.add_argument("--allow-in-band", action="store_true", help="let unknown certificates register themselves")
    serve.add_argument("--poll-rate-s", type=int, default=900, help="pollRate announced to clients")
    serve.add_argument(
        "--csipaus-version",
        choices=("1.2", "1.3"),
        default="1.3",
        help="CSIP-AUS namespace for devices without their own setting",
    )
    serve.add_argument(
        "--notification-host",
        action="append",
        default=[],
        metavar="HOST",
        help="a host a notificationURI may name (repeatable; '*' any host). "
        "Default: only the subscribing client's own address",
    )
    serve.add_argument(
        "--max-subscriptions",
        type=int,
        default=ServerConfig.max_subscriptions,
        metavar="N",
        help=f"subscriptions a SubscriptionList holds, per EndDevice it serves (default {ServerConfig.max_subscriptions})",
    )
    serve.add_argument(
        "--header-timeout-s",
        type=float,
        default=ServerConfig.header_timeout_s,
        metavar="S",
        help="close a connection whose TLS handshake, or a request's line and headers, take longer "
        f"(default {ServerConfig.header_timeout_s:g})",
    )
    serve.add_argument(
        "--keepalive-timeout-s",
        type=float,
        metavar="S",
        help="close a connection idle this long between requests (default: the pollRate plus a minute, at least 75)",
    )
    serve.set_defaults(func=_serve)

    def operator(
        name: str, help_text: str, parent: argparse._SubParsersAction | None = None
    ) -> argparse.ArgumentParser:
        sub = (parent or actions).add_parser(name, help=help_text)
        sub.add_argument("--server", required=True, metavar="URL", help="https://host:port of the head-end")
        sub.add_argument(
            "--certs",
            default=os.environ.get(CERTS_ENV, "certs"),
            metavar="DIR",
            help=f"test PKI with operator.crt (default ${CERTS_ENV} or ./certs)",
        )
        sub.add_argument("--json", action="store_true", help="print the result as JSON")
        return sub

    register = operator("register", "register a device (or aggregator) ahead of time")
    register.add_argument("lfdi", metavar="LFDI")
    register.add_argument("--kind", choices=("device", "aggregator"), default="device")
    register.add_argument("--aggregator", metavar="LFDI", help="register the device under this aggregator")
    register.add_argument("--limit-mode", choices=("auto", "site", "max_w"), default="auto")
    register.add_argument("--rated-w", type=float, help="rating used for opModMaxLimW when the DER sent none")
    register.add_argument("--pin", type=int, help="registration PIN with check digit (default 111115)")
    register.add_argument("--nmi", help="connection point id")
    register.set_defaults(func=_register)

    publish = operator("publish", "publish an envelope file (CSV or JSON) as a DERControl schedule")
    publish.add_argument("--site", required=True, metavar="LFDI", help="the site's EndDevice LFDI")
    publish.add_argument(
        "envelope",
        metavar="ENVELOPE_FILE",
        help="columns start, duration_s, import_limit_w, export_limit_w (and site_id if several); "
        "what `flexbench envelope --out` writes",
    )
    publish.add_argument("--envelope-site", metavar="ID", help="that site's rows, when the file holds several")
    publish.add_argument("--mode", choices=("site", "max_w"), help="default: from the device's DERCapability")
    publish.add_argument("--program", default="envelope")
    publish.add_argument("--firm-import-w", type=float, help="also set DefaultDERControl import limit (firm)")
    publish.add_argument("--firm-export-w", type=float, help="also set DefaultDERControl export limit (firm)")
    publish.set_defaults(func=_publish)

    default = operator("default", "set DefaultDERControl: the firm limits a site falls back to")
    default.add_argument("--site", required=True, metavar="LFDI")
    default.add_argument("--import-w", type=float)
    default.add_argument("--export-w", type=float)
    default.add_argument(
        "--ramp-pct-per-s", type=float, help="setGradW: default ramp rate, percent of setMaxW per second (0: none)"
    )
    default.add_argument("--soft-ramp-pct-per-s", type=float, help="setSoftGradW: soft-start ramp rate")
    default.set_defaults(func=_default)

    abnormal = operator("signal-abnormal", "abnormal operation: an immediate maximum import at sites")
    abnormal.add_argument("--site", required=True, action="append", metavar="LFDI", help="repeatable")
    abnormal.add_argument("--max-import-w", required=True, type=float)
    abnormal.add_argument("--duration-s", type=int, default=3600)
    abnormal.set_defaults(func=_abnormal)

    cancel = operator("cancel", "cancel a DERControl, or with --site every Scheduled or Active one of a device")
    cancel.add_argument("mrid", nargs="?", metavar="MRID")
    cancel.add_argument("--site", metavar="LFDI", help="the device whose live controls to cancel (instead of MRID)")
    cancel.add_argument("--newest", action="store_true", help="with --site: only the newest live control")
    cancel.add_argument("--randomized", action="store_true", help="EventStatus 3 (cancel with randomization)")
    cancel.set_defaults(func=_cancel)

    supersede = operator("supersede", "replace a DERControl by one with new values (same elements)")
    supersede.add_argument("mrid", metavar="MRID")
    supersede.add_argument("--import-w", type=float)
    supersede.add_argument("--export-w", type=float)
    supersede.add_argument("--max-limit-pct", type=float)
    supersede.set_defaults(func=_supersede)

    access = operator("access", "revoke or restore a client's access (a revoked certificate gets 403 everywhere)")
    access.add_argument("--site", required=True, metavar="LFDI")
    access.add_argument("action", choices=("revoke", "restore"))
    access.set_defaults(func=_access)

    poll = operator("poll-rate", "set the pollRate a resource announces, to every client or to one")
    poll.add_argument("resource", choices=sorted(POLLED_RESOURCES))
    poll.add_argument("rate_s", metavar="SECONDS", help="a whole number of seconds, or 'clear' to fall back")
    poll.add_argument("--site", metavar="LFDI", help="only to this device's client (default: every client)")
    poll.set_defaults(func=_poll_rate)

    program = operator("program", "add a DERProgram (or move one) to a primacy and FunctionSetAssignments")
    program.add_argument("--site", required=True, metavar="LFDI")
    program.add_argument("name", metavar="NAME", help="the name publish and default take as --program")
    program.add_argument("--primacy", required=True, type=int, help="0-255; the lower wins where programs overlap")
    program.add_argument("--fsa", type=int, default=1, help="FunctionSetAssignments number (default 1)")
    program.set_defaults(func=_program)

    fsa = operator("fsa", "make a FunctionSetAssignments with a description, or describe one")
    fsa.add_argument("--site", required=True, metavar="LFDI")
    fsa.add_argument("number", type=int, metavar="N", help="FunctionSetAssignments number, 1-255")
    fsa.add_argument("description", metavar="TEXT", help="at most 32 bytes")
    fsa.set_defaults(func=_fsa)

    deregister = operator("deregister", "remove a device and all it left on the server")
    deregister.add_argument("lfdi", metavar="LFDI")
    deregister.set_defaults(func=_deregister)

    delete = operator("delete", "remove a DERControl, a DERProgram, or a device's MirrorUsagePoints")
    delete.add_argument("what", choices=("control", "program", "mup"))
    delete.add_argument("name", nargs="?", metavar="ID", help="the control's mRID, the program's name, a mup's mRID")
    delete.add_argument("--site", metavar="LFDI", help="the device (program, mup)")
    delete.set_defaults(func=_delete)

    add_prices_parser(actions, operator)

    for name, help_text, func in (
        ("controls", "list a site's DERControls with status and wire values", _controls),
        ("responses", "list Responses posted by devices", _responses),
        ("telemetry", "list readings a site mirrored", _telemetry),
        ("der", "show a site's DERCapability, DERSettings, DERStatus, DERAvailability", _der),
    ):
        sub = operator(name, help_text)
        sub.add_argument("--site", required=name != "responses", metavar="LFDI")
        sub.set_defaults(func=func)


# Serve -----------------------------------------------------------------------------------
def _serve(args: argparse.Namespace) -> int:
    config = HeadEndConfig(
        poll_rate_s=args.poll_rate_s,
        allow_in_band_registration=args.allow_in_band,
        csipaus_version=args.csipaus_version,
    )
    ciphers = INTEROP_CIPHERS if args.interop else args.ciphers
    if args.workers < 1:
        raise UserError(f"--workers must be at least 1, got {args.workers}")

    def make_server(port: int, shared_store: bool = False) -> CsipServer:
        return CsipServer(
            args.db,
            args.certs,
            host=args.host,
            port=port,
            ciphers=ciphers,
            config=config,
            notification_hosts=args.notification_host,
            max_subscriptions=args.max_subscriptions,
            header_timeout_s=args.header_timeout_s,
            keepalive_timeout_s=args.keepalive_timeout_s,
            shared_store=shared_store,
        )

    try:
        server = make_server(args.port)  # checks the options and the files; with workers, makes the store
        if args.workers > 1:
            server.headend.close()
            return _serve_workers(args, lambda port: make_server(port, shared_store=True))
        asyncio.run(_serve_until_stopped(server))
    except (FileNotFoundError, ValueError, RuntimeError) as exc:
        raise UserError(str(exc)) from None
    except OSError as exc:
        raise UserError(f"cannot listen on {args.host}:{args.port}: {exc.strerror or exc}") from None
    return 0


def _serve_workers(args: argparse.Namespace, make_server: Any) -> int:
    workers = Workers(args.workers, args.host, args.port, make_server)
    url = workers.start()
    print(f"serving {url}", flush=True)
    print(f"{args.workers} server processes", file=sys.stderr, flush=True)
    print(f"port {workers.port}", flush=True)
    code = workers.wait()
    print("stopped", file=sys.stderr, flush=True)
    return code


async def _serve_until_stopped(server: CsipServer) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(sig, stop.set)
        except (NotImplementedError, RuntimeError):
            pass
    await server.start()
    print(f"serving {server.url}", flush=True)
    print(f"port {server.port}", flush=True)
    try:
        await stop.wait()
    finally:
        await server.stop()
        print("stopped", file=sys.stderr, flush=True)


# Operator --------------------------------------------------------------------------------
def _client(args: argparse.Namespace) -> OperatorClient:
    try:
        return OperatorClient.from_certs_dir(args.server, args.certs)
    except (FileNotFoundError, ValueError) as exc:
        raise UserError(str(exc)) from None


def _call(args: argparse.Namespace, fn: Any, *a: Any, **kw: Any) -> Any:
    try:
        return fn(*a, **kw)
    except OperatorError as exc:
        raise UserError(str(exc)) from None
    except ValueError as exc:
        raise UserError(str(exc)) from None
    except OSError as exc:
        raise UserError(f"cannot reach {args.server}: {exc.strerror or exc}") from None


def _print(args: argparse.Namespace, result: Any, lines: list[str] | None = None) -> int:
    if args.json or lines is None:
        print(json.dumps(as_json(result), indent=1))
    else:
        print("\n".join(lines))
    return 0


def _register(args: argparse.Namespace) -> int:
    result = _call(
        args,
        _client(args).register_device,
        args.lfdi,
        kind=args.kind,
        aggregator_lfdi=args.aggregator,
        limit_mode=args.limit_mode,
        rated_w=args.rated_w,
        pin=args.pin,
        connection_point_id=args.nmi,
    )
    return _print(args, result, [f"registered {result.lfdi} as EndDevice /edev/{result.id}"])


def _publish(args: argparse.Namespace) -> int:
    try:
        envelope = read_envelope_file(args.envelope, site=args.envelope_site)
    except IntervalError as exc:
        raise UserError(str(exc)) from None
    client = _client(args)
    result = _call(args, client.publish_envelope, args.site, envelope, program=args.program, mode=args.mode)
    if args.firm_import_w is not None or args.firm_export_w is not None:
        result["default"] = _call(
            args, client.set_default_control, args.site, args.firm_import_w, args.firm_export_w, program=args.program
        )
    return _print(
        args,
        result,
        [
            f"published {len(result['mrids'])} DERControls ({result['mode']} limits) to {args.site}",
            f"superseded {len(result['superseded'])} earlier controls",
        ],
    )


def _default(args: argparse.Namespace) -> int:
    settings = {
        k: v
        for k, v in (
            ("ramp_rate_pct_per_s", args.ramp_pct_per_s),
            ("soft_ramp_rate_pct_per_s", args.soft_ramp_pct_per_s),
        )
        if v is not None
    }
    if args.import_w is None and args.export_w is None and not settings:
        raise UserError("give --import-w and/or --export-w, or a ramp rate")
    kwargs = {"settings": settings} if settings else {}
    result = _call(args, _client(args).set_default_control, args.site, args.import_w, args.export_w, **kwargs)
    lines = [f"DefaultDERControl {result['mrid']}: {result['values']}"]
    if result.get("settings"):
        lines.append(f"  settings: {result['settings']}")
    return _print(args, result, lines)


def _access(args: argparse.Namespace) -> int:
    result = _call(args, _client(args).set_client_access, args.site, granted=args.action == "restore")
    state = "restored" if result.enabled else "revoked"
    return _print(args, result, [f"{result.lfdi}: access {state}"])


def _poll_rate(args: argparse.Namespace) -> int:
    if args.rate_s == "clear":
        rate_s = None
    elif args.rate_s.isdigit():
        rate_s = int(args.rate_s)
    else:
        raise UserError(f"poll-rate: SECONDS must be a whole number of seconds or 'clear', got {args.rate_s!r}")
    result = _call(args, _client(args).set_poll_rate, args.resource, rate_s, lfdi=args.site)
    who = args.site or "every client"
    return _print(args, result, [f"{args.resource} pollRate to {who}: {args.rate_s}"])


def _program(args: argparse.Namespace) -> int:
    result = _call(args, _client(args).put_program, args.site, args.name, args.primacy, fsa=args.fsa)
    line = f"DERProgram {result['name']} at {result['href']}: primacy {result['primacy']}, FSA {result['fsa']}"
    return _print(args, result, [line])


def _deregister(args: argparse.Namespace) -> int:
    result = _call(args, _client(args).deregister_device, args.lfdi)
    return _print(args, result, [f"deregistered {result.lfdi} (was /edev/{result.id})"])


def _delete(args: argparse.Namespace) -> int:
    client = _client(args)
    if args.what == "control":
        if not args.name:
            raise UserError("delete control: give the control's mRID")
        result = _call(args, client.delete_control, args.name)
        return _print(args, result, [f"deleted DERControl {args.name} of program {result['program']}"])
    if not args.site:
        raise UserError(f"delete {args.what}: give the device with --site")
    if args.what == "program":
        if not args.name:
            raise UserError("delete program: give the program's name")
        result = _call(args, client.delete_program, args.site, args.name)
        return _print(args, result, [f"deleted DERProgram {args.name} of {args.site}"])
    count = _call(args, client.delete_mirror_usage_points, args.site, args.name)
    return _print(args, count, [f"deleted {count} MirrorUsagePoints of {args.site}"])


def _abnormal(args: argparse.Namespace) -> int:
    result = _call(args, _client(args).signal_abnormal, args.site, args.max_import_w, args.duration_s)
    return _print(args, result, [f"{lfdi}: DERControl {mrid}" for lfdi, mrid in result.items()])


def _cancel(args: argparse.Namespace) -> int:
    if (args.mrid is None) == (args.site is None):
        raise UserError("cancel: give a control's MRID or a device with --site, not both")
    if args.site is not None:
        cancelled = _call(args, _client(args).cancel_controls, args.site, args.newest)
        return _print(args, cancelled, [f"cancelled {c['mrid']} (EventStatus {c['status']})" for c in cancelled])
    result = _call(args, _client(args).cancel_control, args.mrid, args.randomized)
    return _print(args, result, [f"cancelled {result['mrid']} (EventStatus {result['status']})"])


def _fsa(args: argparse.Namespace) -> int:
    result = _call(args, _client(args).put_fsa, args.site, args.number, args.description)
    return _print(args, result, [f"FunctionSetAssignments {result['href']}: {result['description']}"])


def _supersede(args: argparse.Namespace) -> int:
    values = {
        k: v
        for k, v in (
            ("import_limit_w", args.import_w),
            ("export_limit_w", args.export_w),
            ("max_limit_pct", args.max_limit_pct),
        )
        if v is not None
    }
    if not values:
        raise UserError("give the new values: --import-w, --export-w or --max-limit-pct")
    result = _call(args, _client(args).supersede_control, args.mrid, values)
    return _print(args, result, [f"{result['mrid']} supersedes {', '.join(result['superseded']) or 'nothing'}"])


def _controls(args: argparse.Namespace) -> int:
    result = _call(args, _client(args).controls, args.site)
    return _print(
        args,
        result,
        [
            f"{c['mrid']} {c['program']:<9} start {c['start_s']} {c['duration_s']:>6} s status {c['status']} {c['values']}"
            for c in result
        ],
    )


def _responses(args: argparse.Namespace) -> int:
    result = _call(args, _client(args).responses, args.site)
    return _print(args, result, [f"{r.lfdi} {r.subject} status {r.status} at {r.created_s}" for r in result])


def _telemetry(args: argparse.Namespace) -> int:
    result = _call(args, _client(args).telemetry, args.site)
    return _print(args, result, [f"{r.time_s} {r.description}: {r.scaled_value:g}" for r in result])


def _der(args: argparse.Namespace) -> int:
    return _print(args, _call(args, _client(args).der_reports, args.site))
