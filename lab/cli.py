"""The `flexbench` command line: one entry point, subcommands in flexbench.lab.commands."""

from __future__ import annotations

import argparse
import importlib
import sys

from flexbench.lab.commands import COMMANDS
from flexbench.lab.errors import CONFIGURATION_ERROR, UserError


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The parser; only `command`'s module is imported (every one when None), the rest are listed."""
    parser = argparse.ArgumentParser(
        prog="flexbench",
        description="Digital twin and conformance test bench for flexible DER connections.",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, summary in COMMANDS.items():
        if command is None or name == command:
            importlib.import_module(f"flexbench.lab.commands.{name.replace('-', '_')}").add_parser(subparsers)
        else:
            subparsers.add_parser(name, help=summary)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    command = next((a for a in argv if not a.startswith("-")), None)
    parser = build_parser(command if command in COMMANDS else "")
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except UserError as exc:
        print(f"flexbench {args.command}: {exc}", file=sys.stderr)
        return CONFIGURATION_ERROR
    except KeyboardInterrupt:
        print(f"flexbench {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
