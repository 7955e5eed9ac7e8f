"""python -m flexbench.lab.virtual.reference_aggregator SITE_FILE [--fault NAME]"""

from __future__ import annotations

import argparse
import logging
import signal
import sys

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
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("pymodbus").setLevel(logging.CRITICAL)
    if args.fault not in FAULTS:
        print(f"error: --fault: unknown fault variant {args.fault!r} (known: {', '.join(FAULTS)})", file=sys.stderr)
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
