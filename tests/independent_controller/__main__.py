"""python -m independent_controller CONFIG.json [--variant NAME]  (run from tests/)"""

from __future__ import annotations

import argparse
import signal
import sys

from .config import ConfigError, load
from .controller import VARIANTS, Controller


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m independent_controller", description=__doc__)
    parser.add_argument("config", help="the controller's JSON configuration")
    parser.add_argument("--variant", default="healthy", choices=VARIANTS, help="a fault variant, or healthy")
    args = parser.parse_args(argv)
    try:
        config = load(args.config)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    controller = Controller(config, VARIANTS[args.variant])
    signal.signal(signal.SIGTERM, lambda *_: controller.stop())
    signal.signal(signal.SIGINT, lambda *_: controller.stop())
    controller.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
