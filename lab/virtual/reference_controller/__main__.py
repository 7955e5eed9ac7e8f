"""python -m flexbench.lab.virtual.reference_controller SITE_FILE [--fault NAME] [--settings FILE]"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
from collections.abc import Iterable
from pathlib import Path

from .faults import FAULTS
from .site_file import SiteFileError, load_site_file


def process_setup(fault: str, faults: Iterable[str]) -> bool:
    """Logging to stderr (the bench keeps it), pymodbus quiet; False, said on stderr, for an unknown fault."""
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("pymodbus").setLevel(logging.CRITICAL)
    if fault not in faults:
        print(f"error: --fault: unknown fault variant {fault!r} (known: {', '.join(faults)})", file=sys.stderr)
        return False
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m flexbench.lab.virtual.reference_controller",
        description="Reference site controller: export/import limiter over SunSpec Modbus, envelope over IEEE 2030.5.",
    )
    parser.add_argument("site_file", help="controller-site.toml written by the bench")
    parser.add_argument("--fault", default="healthy", help=f"fault variant: {', '.join(FAULTS)}")
    parser.add_argument(
        "--settings",
        help="its own configuration: a JSON file of site settings (mode, export_limit_w, import_limit_w, "
        "current_limit_a), taken at start and again whenever the file changes; a missing file means none",
    )
    args = parser.parse_args(argv)
    if not process_setup(args.fault, FAULTS):
        return 2
    try:
        site = load_site_file(args.site_file)
    except SiteFileError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    from .controller import ReferenceController

    controller = ReferenceController(site, FAULTS[args.fault], Path(args.settings) if args.settings else None)
    try:
        controller.reload_settings()
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    signal.signal(signal.SIGTERM, lambda *_: controller.stop())
    signal.signal(signal.SIGINT, lambda *_: controller.stop())
    controller.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
