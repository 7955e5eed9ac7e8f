"""`flexbench instruments list | probe BENCH`: supported models, and what a bench's instruments say."""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path
from typing import Any

from flexbench.instruments.registry import DRIVERS
from flexbench.instruments.roles import InstrumentError
from flexbench.lab.bench import Bench
from flexbench.lab.bench_config import load_bench
from flexbench.lab.clock import ScaledClock


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("instruments", help="list supported instruments or probe a bench")
    sub = p.add_subparsers(dest="instruments_command", metavar="ACTION", required=True)
    lst = sub.add_parser("list", help="supported models by role")
    lst.set_defaults(func=list_models)
    probe = sub.add_parser("probe", help="connect to each instrument of a bench and print what it reports")
    probe.add_argument("bench", metavar="BENCH", nargs="?", help="bench file (default: the embedded virtual bench)")
    probe.set_defaults(func=probe_bench)


def _table(headers: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(str(x)) for x in col) for col in zip(headers, *rows)]
    line = "  ".join(h.ljust(w) for h, w in zip(headers, widths))
    out = [line, "  ".join("-" * w for w in widths)]
    out += ["  ".join(str(c).ljust(w) for c, w in zip(row, widths)) for row in rows]
    return "\n".join(out)


def list_models(args: argparse.Namespace) -> int:
    rows = sorted(
        (
            [cls.role, name, getattr(cls, "model", ""), (cls.__doc__ or "").strip().splitlines()[0]]
            for name, cls in DRIVERS.items()
        ),
        key=lambda r: (r[0], r[1]),
    )
    print(_table(["role", "driver", "model", "about"], rows))
    return 0


_IDENTITY_KEYS = {"driver", "address", "manufacturer", "model", "serial", "firmware", "identity"}


def _state(settings: dict[str, Any]) -> str:
    """Settings worth a glance: everything the identity columns do not already show."""
    return ", ".join(f"{k}={v}" for k, v in settings.items() if k not in _IDENTITY_KEYS and not isinstance(v, dict))[
        :100
    ]


def probe_bench(args: argparse.Namespace) -> int:
    """Every instrument of the bench in one table, reachable or not; exit 1 when any is not."""
    rows: list[list[str]] = []
    with tempfile.TemporaryDirectory(prefix="flexbench-probe-") as work_dir:
        bench = Bench(load_bench(args.bench), ScaledClock(1.0), work_dir=Path(work_dir))
        with bench:
            bench.connect(unreachable_ok=True)
            connected = bench.instruments
            for name, conf in bench.config.instruments.items():
                driver = connected.get(name)
                if driver is None:
                    rows.append([name, conf.role, conf.address, "UNREACHABLE", "", "", bench.unreachable.get(name, "")])
                    continue
                try:
                    ident = driver.identity()
                    settings = driver.snapshot()
                    identity = f"{ident.manufacturer} {ident.model}"
                    rows.append(
                        [name, conf.role, driver.address, identity, ident.serial, ident.firmware, _state(settings)]
                    )
                except InstrumentError as exc:
                    rows.append([name, conf.role, driver.address, "ERROR", "", "", str(exc)])
    print(f"bench: {bench.config.name} ({bench.config.path})")
    print(_table(["name", "role", "address", "identity", "serial", "firmware", "state"], rows))
    failed = [row[0] for row in rows if row[3] in ("UNREACHABLE", "ERROR")]
    if failed:
        print(f"not answering: {', '.join(failed)}")
    return 1 if failed else 0
