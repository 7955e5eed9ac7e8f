"""python -m flexbench.lab.virtual.reference_aggregator SITE_FILE [--fault NAME]"""

from __future__ import annotations

import argparse
import signal
import sys

from flexbench.lab.virtual.reference_controller.__main__ import process_setup
from flexbench.lab.virtual.reference_controller.site_file import SiteFileError

from .faults import FAULTS
from .site_file import load_aggregator_site_file


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m flexbench.lab.virtual.reference_aggregator",
        description="Reference aggregator: homes on a shared transformer over SunSpec Modbus, limits over IEEE 2030.5.",
    )
    parser.add_argument("site_file", help="aggregator-site.toml written by the bench")
    parser.add_argument("--fault", default="healthy", help=f"fault variant: {', '.join(FAULTS)}")
    args = parser.parse_args(argv)
    if not process_setup(args.fault, FAULTS):
        return 2
    try:
        site = load_aggregator_site_file(args.site_file)
    except SiteFileError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    from .aggregator import ReferenceAggregator

    aggregator = ReferenceAggregator(site, FAULTS[args.fault])
    signal.signal(signal.SIGTERM, lambda *_: aggregator.stop())
    signal.signal(signal.SIGINT, lambda *_: aggregator.stop())
    aggregator.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
