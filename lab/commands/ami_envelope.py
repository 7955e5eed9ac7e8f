"""`flexbench ami-envelope`: static or variable envelopes from meter data alone, where no feeder model exists."""

from __future__ import annotations

import argparse
import time

from flexbench.lab.commands.envelope import output_path
from flexbench.lab.errors import UserError


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "ami-envelope",
        help="static or variable envelopes per meter from AMI data alone (no feeder model)",
        description="Estimate each meter's voltage sensitivity to its own P and Q from its readings (a fit on "
        "consecutive changes, with the median voltage of all meters absorbing the feeder's own movement) and "
        "compute import/export limits that keep its voltage in the band, published at the stated confidence. "
        "Voltage only: no conductor ratings, each meter alone. Written like `flexbench envelope` files, the "
        "method and assumptions in the header.",
    )
    p.add_argument(
        "ami",
        metavar="FILE",
        help="meter readings, CSV or Parquet: meter_id, timestamp, voltage_v, p_w (import positive), q_var "
        "[, nominal_v]; 15min or 1h",
    )
    p.add_argument("--kind", choices=("static", "variable"), default="variable", help="(default: variable)")
    p.add_argument("--meters", metavar="ID,...", help="meters to compute (default: all; all inform the feeder term)")
    p.add_argument("--start", help="first interval of a variable envelope, ISO time (default: after the history)")
    p.add_argument("--horizon", default="72h", help="length of a variable envelope (default: 72h)")
    p.add_argument("--resolution", choices=("15min", "1h"), default="1h", help="interval length (default: 1h)")
    p.add_argument("--vmin", type=float, default=0.95, help="lower voltage limit, pu (default: 0.95)")
    p.add_argument("--vmax", type=float, default=1.05, help="upper voltage limit, pu (default: 1.05)")
    p.add_argument(
        "--confidence",
        type=float,
        default=0.95,
        help="one-sided confidence of the published limits: computed at that upper bound of each "
        "sensitivity (default: 0.95)",
    )
    p.add_argument(
        "--injection-model",
        choices=("load-pf", "unity"),
        default="load-pf",
        help="extra import at the meter's own power factor (load-pf) or at unity (default: load-pf)",
    )
    p.add_argument("--base-violation-rule", choices=("hold", "ignore"), default="hold", help="(default: hold)")
    p.add_argument("--base-violation-tolerance", type=float, default=0.001, metavar="PU", help="(default: 0.001)")
    p.add_argument("--out", required=True, metavar="FILE.(csv|parquet|json)", help="envelope file to write")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from flexbench.twin import Limits, TwinError
    from flexbench.twin.ami import ami_envelope, read_ami

    out = output_path(args.out)
    started = time.monotonic()
    try:
        limits = Limits(
            vmin_pu=args.vmin,
            vmax_pu=args.vmax,
            base_violation_rule=args.base_violation_rule,
            base_violation_tolerance_pu=args.base_violation_tolerance,
        )
        data = read_ami(args.ami)
        meters = [m.strip() for m in args.meters.split(",") if m.strip()] if args.meters else None
        result = ami_envelope(
            data,
            args.kind,
            meters=meters,
            start=args.start,
            horizon=args.horizon,
            resolution=args.resolution,
            limits=limits,
            injection_model=args.injection_model,
            confidence=args.confidence,
        )
        result.save(out)
    except (TwinError, ValueError) as exc:
        raise UserError(str(exc)) from None
    ns, nt = result.envelope.shape
    print(
        f"wrote {out}: {ns} meters x {nt} intervals ({args.kind}, {result.envelope.method}, "
        f"limits at {args.confidence:.0%} confidence, voltage only, not checked by power flow), "
        f"{time.monotonic() - started:.1f} s"
    )
    print(
        "caution: each limit holds only that meter's own voltage; a neighbour's voltage, the primary's and any "
        "conductor or transformer rating are unseen, so these limits can be unsafe where those bind "
        "(benchmarks/ami_envelopes.py measures how often on IEEE 8500). Check them against a network model, or "
        "take them as screening values, before publishing them."
    )
    return 0
