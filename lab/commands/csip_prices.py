"""`flexbench csip prices`: publish a price schedule (2030.5 Pricing) to a site, and list what it was sent."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from datetime import UTC, datetime

from flexbench.lab.errors import UserError
from flexbench.signals.csip.prices import PriceError, read_price_file


def add_prices_parser(actions: argparse._SubParsersAction, operator: Callable[..., argparse.ArgumentParser]) -> None:
    """`csip prices publish|list`, each with the operator options (--server, --certs, --json)."""
    parser = actions.add_parser("prices", help="price schedules (2030.5 Pricing: TariffProfile and its intervals)")
    verbs = parser.add_subparsers(dest="prices_action", metavar="VERB", required=True)

    publish = operator("publish", "publish a price schedule file (CSV or JSON) to a site", parent=verbs)
    publish.add_argument("--site", required=True, metavar="LFDI", help="the site's EndDevice LFDI")
    publish.add_argument(
        "prices",
        metavar="FILE",
        help="columns start, duration_s, import_price_per_kwh and optionally export_price_per_kwh "
        "(JSON records may add import_blocks: [[from_kwh, price_per_kwh], ...])",
    )
    publish.add_argument("--tariff", default="tariff", help="the TariffProfile's name (default 'tariff')")
    publish.add_argument("--fsa", type=int, default=1, help="FunctionSetAssignments that lists it (default 1)")
    publish.add_argument("--primacy", type=int, default=1, help="0-255, the lower wins (default 1)")
    publish.add_argument("--currency", type=int, default=840, help="ISO 4217 number (default 840, US dollar)")
    publish.add_argument(
        "--price-multiplier", type=int, default=-4, help="pricePowerOfTenMultiplier of the prices sent (default -4)"
    )
    publish.add_argument("--rate-code", help="rateCode (at most 20 bytes)")
    publish.set_defaults(func=_publish)

    listing = operator("list", "list a site's price intervals with their status", parent=verbs)
    listing.add_argument("--site", required=True, metavar="LFDI")
    listing.set_defaults(func=_list)


def _publish(args: argparse.Namespace) -> int:
    from flexbench.lab.commands.csip import _call, _client, _print

    try:
        schedule = read_price_file(args.prices)
    except PriceError as exc:
        raise UserError(str(exc)) from None
    result = _call(
        args,
        _client(args).publish_prices,
        args.site,
        schedule,
        name=args.tariff,
        fsa=args.fsa,
        primacy=args.primacy,
        currency=args.currency,
        price_multiplier=args.price_multiplier,
        rate_code=args.rate_code,
    )
    counts = ", ".join(f"{len(m)} {flow}" for flow, m in result["mrids"].items())
    return _print(
        args,
        result,
        [
            f"published {len(schedule)} price intervals ({counts} TimeTariffIntervals) to {args.site}"
            f" in TariffProfile {result['href']}",
            f"superseded {len(result['superseded'])} earlier intervals",
        ],
    )


def _list(args: argparse.Namespace) -> int:
    from flexbench.lab.commands.csip import _call, _client, _print

    result = _call(args, _client(args).prices, args.site)
    return _print(
        args,
        result,
        [
            f"{r['mrid']} {r['tariff']} {r['flow']:<6} {_utc(r['start_s'])} {r['duration_s']:>6} s"
            f" status {r['status']} {r['price_per_kwh']:g}/kWh"
            for r in result
        ],
    )


def _utc(epoch_s: int) -> str:
    return datetime.fromtimestamp(epoch_s, UTC).strftime("%Y-%m-%d %H:%M:%SZ")
