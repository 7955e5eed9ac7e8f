"""`flexbench envelope`: operating envelopes for the customer locations of a feeder."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from flexbench.lab.errors import UserError

FORMATS = (".csv", ".parquet", ".json")
CHECKED = {True: "checked by full power flow", False: "NOT fully verified (see binding columns)"}


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "envelope",
        help="compute static, variable or dynamic operating envelopes",
        description="Compute import/export limits (firm and non-firm) per customer location and interval "
        "on a feeder model, keeping voltages within ANSI C84.1 range A and conductors within their "
        "ratings; every published limit is checked by full power flow. The CSV and JSON files go to a "
        "site as they are: `flexbench csip publish` / `flexbench opcua publish --envelope-site ID FILE`.",
    )
    p.add_argument(
        "--feeder",
        required=True,
        metavar="NAME|MASTER.dss",
        help="embedded feeder (ieee13, ieee123, ieee8500) or an OpenDSS master file",
    )
    p.add_argument(
        "--kind",
        choices=("static", "variable", "dynamic"),
        default="variable",
        help="static: month x hour profile from a year; variable: day-ahead schedule; "
        "dynamic: one near-real-time interval (default: variable)",
    )
    p.add_argument("--sites", metavar="ID,...", help="customer locations (load names; default: all)")
    p.add_argument(
        "--group",
        metavar="ID,...|FILE|transformer:NAME",
        help="sites that share equipment (a list, a file of site ids, or the sites behind a transformer): "
        "the group's own import/export limit per interval (any split among its sites, each at or above its "
        "forecast, is safe) beside the per-site allocation of it; writes --out (per-site, publishable as is) "
        "and OUT.group.EXT (the group's rows); variable envelopes",
    )
    p.add_argument("--horizon", default="72h", help="length of a variable envelope (default: 72h)")
    p.add_argument("--resolution", choices=("15min", "1h"), help="interval length (default: 1h; 15min for dynamic)")
    p.add_argument(
        "--allocation",
        choices=("equal", "proportional", "max-total"),
        default="equal",
        help="how sites sharing a constraint share it (default: equal)",
    )
    p.add_argument(
        "--method",
        choices=("fast", "reference"),
        default="fast",
        help="fast: sensitivities with power-flow checks; reference: bisection with full power flows (slow)",
    )
    p.add_argument(
        "--profiles",
        metavar="FILE",
        help="AMI/SCADA history, CSV or Parquet (default: synthetic daily and seasonal shapes)",
    )
    p.add_argument("--start", help="first interval, ISO time (default: next midnight UTC)")
    p.add_argument("--vmin", type=float, default=0.95, help="lower voltage limit, pu (default: 0.95)")
    p.add_argument("--vmax", type=float, default=1.05, help="upper voltage limit, pu (default: 1.05)")
    p.add_argument(
        "--vmin-ll",
        type=float,
        metavar="PU",
        help="lower limit of line-to-line voltages on ungrounded (3-wire delta) sections, pu of the "
        "line-to-line base (default: --vmin); grounded sections are held line-to-neutral",
    )
    p.add_argument("--vmax-ll", type=float, metavar="PU", help="upper line-to-line limit, pu (default: --vmax)")
    p.add_argument(
        "--injection-model",
        choices=("load-pf", "unity"),
        default="load-pf",
        help="how a site's extra import enters the feeder: load-pf: on its own load, at the load's power "
        "factor and load model; unity: a constant-power load at unity power factor (default: load-pf); "
        "extra export is at unity power factor under both",
    )
    p.add_argument(
        "--base-violation-rule",
        choices=("hold", "ignore"),
        default="hold",
        help="a voltage already outside the band at the forecast: hold: no site may push it further out "
        "than --base-violation-tolerance; ignore: it bounds no envelope (default: hold)",
    )
    p.add_argument(
        "--base-violation-tolerance",
        type=float,
        default=0.001,
        metavar="PU",
        help="how far the hold rule lets such a voltage move further out, pu (default: 0.001)",
    )
    p.add_argument(
        "--regulators",
        default="settle-half-load",
        metavar="POLICY|STATE.csv",
        help="regulator taps and capacitor states: settle-half-load: settled by the model's controls from "
        "the state at half of peak load (default); settle-file: settled from the model file's state; file: "
        "held at the model file's; or a measured state file (CSV element,state: regcontrol.NAME,STEP and "
        "capacitor.NAME,open|closed), held",
    )
    p.add_argument("--workers", type=int, default=1, help="processes sharing the intervals (default: 1)")
    p.add_argument("--out", required=True, metavar="FILE.(csv|parquet|json)", help="envelope file to write")
    p.set_defaults(func=run)
    add_distributed_options(p)


def limits_of(args: argparse.Namespace):
    """The feeder limits the options state (ValueError names a bad value)."""
    from flexbench.twin import Limits

    return Limits(
        vmin_pu=args.vmin,
        vmax_pu=args.vmax,
        vmin_ll_pu=args.vmin_ll,
        vmax_ll_pu=args.vmax_ll,
        base_violation_rule=args.base_violation_rule,
        base_violation_tolerance_pu=args.base_violation_tolerance,
    )


def settings_of(args: argparse.Namespace):
    """How envelopes are computed, from the options (ValueError names a bad value)."""
    from flexbench.twin.compute import EnvelopeSettings
    from flexbench.twin.controls import control_state

    return EnvelopeSettings(
        limits=limits_of(args),
        method=args.method,
        allocation=args.allocation,
        injection_model=args.injection_model,
        controls=control_state(args.regulators),
    )


def output_path(text: str) -> Path:
    """--out of an envelope file: a known format in a folder that exists, or a UserError naming it."""
    out = Path(text)
    if out.suffix.lower() not in FORMATS:
        raise UserError(f"--out {out}: use a .csv, .parquet or .json file")
    if not out.parent.exists():
        raise UserError(f"--out {out}: folder {out.parent} does not exist")
    return out


def run(args: argparse.Namespace) -> int:
    from flexbench.twin import Twin, TwinError, compute_envelope, read_profiles

    out = output_path(args.out)
    if args.group is not None:
        return run_group(args, out)
    if args.workers < 1:
        raise UserError(f"--workers must be at least 1, got {args.workers}")
    resolution = args.resolution or ("15min" if args.kind == "dynamic" else "1h")
    try:
        limits = limits_of(args)
        twin = Twin.load(args.feeder)
        sites = [s for s in args.sites.split(",") if s.strip()] if args.sites else None
        if sites is not None:
            twin.site_numbers(sites)  # unknown sites fail before any work
        profiles = read_profiles(args.profiles, site_ids=twin.site_ids) if args.profiles else None
        bar = ProgressBar(f"{args.kind} envelope, {twin.name}")
        started = time.monotonic()
        env = compute_envelope(
            twin,
            args.kind,
            sites=sites,
            profiles=profiles,
            start=args.start,
            horizon=args.horizon,
            resolution=resolution,
            allocation=args.allocation,
            method=args.method,
            injection_model=args.injection_model,
            limits=limits,
            controls=args.regulators,
            workers=args.workers,
            progress=bar,
        )
        bar.close()
        env.save(out)
    except (TwinError, ValueError) as exc:
        raise UserError(str(exc)) from None
    ns, nt = env.shape
    checked = CHECKED[bool(env.verified)]
    print(
        f"wrote {out}: {ns} sites x {nt} intervals ({env.kind}, {env.method}, {env.allocation}, "
        f"injection {env.injection_model}), "
        f"{checked}, {time.monotonic() - started:.1f} s"
    )
    return 0 if env.verified else 1


def run_group(args: argparse.Namespace, out: Path) -> int:
    """--group: the group envelope and its per-site allocation, two files."""
    from flexbench.twin import Twin, TwinError, read_profiles
    from flexbench.twin.group import group_envelope, group_file, group_sites

    if args.sites:
        raise UserError("give --sites or --group, not both")
    if args.kind != "variable":
        raise UserError(f"--group computes variable (day-ahead) envelopes, not {args.kind}")
    try:
        twin = Twin.load(args.feeder)
        sites = group_sites(twin, args.group)
        profiles = read_profiles(args.profiles, site_ids=twin.site_ids) if args.profiles else None
        bar = ProgressBar(f"group envelope of {len(sites)} sites, {twin.name}")
        started = time.monotonic()
        group = group_envelope(
            twin,
            sites,
            name=args.group,
            profiles=profiles,
            start=args.start,
            horizon=args.horizon,
            resolution=args.resolution or "1h",
            settings=settings_of(args),
            progress=bar,
        )
        bar.close()
        group.sites.save(out)
        group_out = group.save(group_file(out))
    except (TwinError, ValueError) as exc:
        raise UserError(str(exc)) from None
    print(
        f"wrote {out}: {len(sites)} sites x {group.sites.shape[1]} intervals ({group.sites.allocation} allocation "
        f"of the group limit), and {group_out}: the group's limits (shared: {group.shared_equipment}); "
        f"{CHECKED[bool(group.verified)]}, {time.monotonic() - started:.1f} s"
    )
    return 0 if group.verified else 1


class ProgressBar:
    """A one-line progress bar on stderr (redrawn on a terminal, every 10 % otherwise)."""

    def __init__(self, label: str, stream=None) -> None:
        self.label = label
        self.stream = stream or sys.stderr
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.last = -1

    def __call__(self, done: int, total: int) -> None:
        total = max(total, 1)
        tenth = 10 * done // total
        if not self.tty and tenth == self.last and done != total:
            return
        self.last = tenth
        width = 30
        filled = width * done // total
        line = f"{self.label}: [{'#' * filled}{'.' * (width - filled)}] {done}/{total} intervals"
        if self.tty:
            self.stream.write("\r" + line)
        else:
            self.stream.write(line + "\n")
        self.stream.flush()

    def close(self) -> None:
        if self.tty:
            self.stream.write("\n")
            self.stream.flush()


# -- many feeders on Dask (--feeders) ---------------------------------------------------------
def add_distributed_options(p: argparse.ArgumentParser) -> None:
    """--feeders and --scheduler: day-ahead envelopes of many feeders on Dask, into a Parquet folder."""
    for action in p._actions:
        if action.dest == "feeder":
            action.required = False  # either --feeder or --feeders
    group = p.add_argument_group("many feeders on Dask (with --feeders, --out is a folder)")
    group.add_argument(
        "--feeders",
        metavar="DIR|MANIFEST",
        help="feeder manifest (JSON, see twin/synthetic.py), a folder holding manifest.json, "
        "or a folder of OpenDSS master files",
    )
    group.add_argument(
        "--scheduler",
        default="local",
        metavar="local|ADDRESS",
        help="local: start a LocalCluster (default); or a Dask scheduler address (tcp://host:8786)",
    )
    group.add_argument(
        "--dask-workers", type=int, metavar="N", help="workers of the local cluster (default: number of cores)"
    )
    group.add_argument(
        "--fresh",
        action="store_true",
        help="recompute every feeder (default: resume, skipping feeders already in --out)",
    )
    p.set_defaults(func=run_any)


def run_any(args: argparse.Namespace) -> int:
    if args.feeders:
        if args.feeder:
            raise UserError("give --feeder (one feeder) or --feeders (many), not both")
        return run_distributed(args)
    if not args.feeder:
        raise UserError("give --feeder NAME|MASTER.dss, or --feeders DIR|MANIFEST")
    return run(args)


def run_distributed(args: argparse.Namespace) -> int:
    from flexbench.twin import TwinError
    from flexbench.twin.distributed import run_feeders
    from flexbench.twin.synthetic import load_instances

    if args.kind != "variable":
        raise UserError("--feeders computes day-ahead (variable) envelopes; the horizon comes from the manifest")
    out = Path(args.out)
    if out.suffix.lower() in FORMATS:
        raise UserError(f"--out {out}: with --feeders, --out is a folder (Parquet partitioned by feeder)")
    if out.exists() and not out.is_dir():
        raise UserError(f"--out {out}: exists and is not a folder")
    if not out.parent.exists():
        raise UserError(f"--out {out}: folder {out.parent} does not exist")
    if args.dask_workers is not None and args.dask_workers < 1:
        raise UserError(f"--dask-workers must be at least 1, got {args.dask_workers}")
    try:
        instances = load_instances(args.feeders)
        settings = settings_of(args)
    except (TwinError, ValueError) as exc:
        raise UserError(str(exc)) from None
    bar = FeederProgress(f"envelopes of {len(instances)} feeders")
    try:
        summary = run_feeders(
            instances,
            out,
            scheduler=args.scheduler,
            workers=args.dask_workers,
            settings=settings,
            progress=bar,
            resume=not args.fresh,
        )
    except OSError as exc:
        raise UserError(f"scheduler {args.scheduler}: {exc}") from None
    bar.close()
    for line in summary.lines():
        print(line)
    print(f"results in {out}/feeder=<id>/envelope.parquet")
    return 1 if summary.failed else 0


class FeederProgress:
    """Feeders done (and failed) of the total on stderr: redrawn on a terminal, every 10 % otherwise."""

    def __init__(self, label: str, stream=None) -> None:
        self.label = label
        self.stream = stream or sys.stderr
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.last = -1

    def __call__(self, done: int, failed: int, total: int) -> None:
        tenth = 10 * done // max(total, 1)
        if not self.tty and tenth == self.last and done != total:
            return
        self.last = tenth
        width = 30
        filled = width * done // max(total, 1)
        line = f"{self.label}: [{'#' * filled}{'.' * (width - filled)}] {done}/{total} feeders" + (
            f", {failed} failed" if failed else ""
        )
        self.stream.write(("\r" + line) if self.tty else line + "\n")
        self.stream.flush()

    def close(self) -> None:
        if self.tty:
            self.stream.write("\n")
            self.stream.flush()
