"""Subcommands of the `flexbench` command line.

Each module listed in COMMANDS defines `add_parser(subparsers)`, which adds its
subparser and sets `func(args) -> int` as the parser default. Listed
explicitly so the command set is visible in one place.
"""

COMMANDS: tuple[str, ...] = (
    "run",
    "report",
    "instruments",
    "certs", "csip",
    "opcua",
    "envelope",
)
