"""`flexbench cosim`: the PHIL loop on a bench, in one process or as two HELICS federates.

    flexbench cosim run  [--bench FILE] --duration S [--out DIR] [--federated [--start-broker]] [setting flags]
    flexbench cosim twin [--bench FILE] [--start-broker] [setting flags]      (the twin federate)

Settings come from the bench file's [cosim] table (see lab.cosim.config);
flags override them. `run` writes a run folder with samples.parquet,
events.jsonl, station.json and summary.json, and prints the summary: rate,
jitter p50/p99 and the largest |V_set - V_twin|. It exits 1 when the guard
stopped the loop (the grid simulator is then off and the samples are kept).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from pathlib import Path

from flexbench.lab.errors import UserError
from flexbench.lab.live import LiveView, add_live_option, start_live

_SETTING_FLAGS = (
    ("--feeder", str, "embedded feeder (ieee13, ieee123, ieee8500) or an OpenDSS master file"),
    ("--bus", str, "the device's bus on the feeder"),
    ("--rate-hz", float, "loop rate, bench time (default 50)"),
    ("--nominal-voltage-v", float, "bench line-to-neutral voltage that 1.0 pu at the bus maps to"),
    ("--measure", str, "analyzer point(s): one for the total, or one per phase (comma-separated)"),
    ("--power-scale", float, "twin watts per measured watt"),
    ("--broker", str, "HELICS broker address HOST[:PORT]; port 0 with --start-broker: a free port (printed)"),
    ("--core", str, "HELICS core type (zmq, tcp, tcp_ss, ...)"),
    ("--lab-name", str, "name of the lab federate"),
    ("--twin-name", str, "name of the twin federate"),
    ("--interface", str, "this host's address as the other federates reach it (separate hosts)"),
    ("--timeout-s", float, "how long a federate waits for the other"),
)


def _add_settings(p: argparse.ArgumentParser) -> None:
    p.add_argument("--bench", help="bench file (default: the embedded virtual bench); its [cosim] table sets defaults")
    group = p.add_argument_group("loop settings (override the bench file's [cosim])")
    for flag, kind, text in _SETTING_FLAGS:
        group.add_argument(flag, type=kind, help=text)
    group.add_argument(
        "--realtime",
        action="store_true",
        default=None,
        help="run the loop thread at real-time priority (SCHED_FIFO, needs CAP_SYS_NICE)",
    )
    p.add_argument("--start-broker", action="store_true", help="start the HELICS broker in this process")


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "cosim",
        help="PHIL co-simulation: the feeder twin drives the grid simulator",
        description="Power-hardware-in-the-loop: each step the device's P and Q at the PCC go into the feeder "
        "twin at its bus, and the grid simulator is set to the twin's voltage, angle and frequency there.",
    )
    sub = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    run = sub.add_parser("run", help="run the loop on a bench for a duration and write a run folder")
    _add_settings(run)
    run.add_argument("--duration", type=float, required=True, metavar="S", help="bench seconds to run")
    run.add_argument("--time-scale", type=float, default=1.0, help="bench time speed-up (virtual bench only)")
    run.add_argument("--dut-profile", default="healthy", help="behaviour of the virtual DUT (virtual bench only)")
    run.add_argument(
        "--federated",
        action="store_true",
        help="the twin is a HELICS federate (`flexbench cosim twin`), here or on another host",
    )
    run.add_argument("--out", help="run folder (default: reports/<date-time>-cosim)")
    add_live_option(run)
    run.set_defaults(func=run_lab)
    twin = sub.add_parser("twin", help="serve the twin as a HELICS federate until the lab federate leaves")
    _add_settings(twin)
    twin.set_defaults(func=run_twin)


def _settings(args: argparse.Namespace):
    from flexbench.lab.bench_config import load_bench
    from flexbench.lab.cosim.config import check_for_bench, settings_for_bench, with_flags

    config = load_bench(args.bench)
    base = settings_for_bench(config)
    flags = {
        flag.lstrip("-").replace("-", "_"): getattr(args, flag.lstrip("-").replace("-", "_"))
        for flag, _, _ in _SETTING_FLAGS
    }
    flags["realtime"] = args.realtime
    settings = with_flags(base, **flags)
    check_for_bench(settings, config)
    return config, settings


def run_lab(args: argparse.Namespace) -> int:
    from flexbench.lab.cosim.runner import run_cosim

    if not args.duration > 0:
        raise UserError(f"--duration must be positive, got {args.duration:g}")
    if not args.time_scale > 0:
        raise UserError(f"--time-scale must be positive, got {args.time_scale:g}")
    if args.start_broker and not args.federated:
        raise UserError("--start-broker goes with --federated")
    config, settings = _settings(args)
    if config.virtual is None and args.time_scale != 1.0:
        raise UserError(f"{config.path}: a real bench runs at time scale 1 (got --time-scale {args.time_scale:g})")
    run_dir = Path(args.out) if args.out else Path("reports") / f"{dt.datetime.now():%Y%m%d-%H%M%S}-cosim"
    where = "over HELICS at " + settings.helics.broker if args.federated else "in one process"
    print(
        f"PHIL loop: {settings.feeder} bus {settings.bus} at {settings.rate_hz:g} Hz, {where}, "
        f"{args.duration:g} s -> {run_dir}",
        file=sys.stderr,
    )
    live = start_live(f"flexbench cosim run {settings.feeder} bus {settings.bus}", sys.stderr) if args.live else None
    try:
        summary = run_cosim(
            config,
            settings,
            run_dir,
            args.duration,
            time_scale=args.time_scale,
            federated=args.federated,
            start_own_broker=args.start_broker,
            dut_profile=args.dut_profile,
            on_step=_progress(settings.rate_hz, args.duration, live),
            on_broker=_say_broker,
            live=live,
        )
    finally:
        if live is not None:
            live.close()
    figures = {k: v for k, v in summary.items() if k != "settings"}
    print(json.dumps(figures, indent=1))
    if summary.get("stopped"):
        print(f"flexbench cosim: {summary['stopped']}; samples kept in {run_dir}", file=sys.stderr)
        return 1
    return 0


def _progress(rate_hz: float, duration_s: float, live: LiveView | None, every_s: float = 5.0):
    """A line on stderr (and the live view) every `every_s` bench seconds: where the loop is and what it sends."""
    every = max(1, round(rate_hz * every_s))
    total = round(rate_hz * duration_s)

    def show(sample) -> None:
        if sample.k % every == 0 and sample.k:
            volts = "/".join(f"{v:.1f}" for v in sample.set_v)
            power_kw = sum(sample.injected_w) / 1000
            text = f"step {sample.k}/{total}: P {power_kw:.1f} kW into the twin, grid simulator {volts} V"
            print(f"  {text}", file=sys.stderr, flush=True)
            if live is not None:
                live.step(text)

    return show


def _say_broker(address: str) -> None:
    """The broker's address, for the other federate (with port 0, the port it took)."""
    print(f"HELICS broker at {address}", file=sys.stderr, flush=True)


def run_twin(args: argparse.Namespace) -> int:
    from flexbench.lab.cosim.federation import run_twin_federate

    _, settings = _settings(args)
    print(
        f"twin federate {settings.helics.twin_name!r}: {settings.feeder} bus {settings.bus}, broker "
        f"{settings.helics.broker} ({settings.helics.core})",
        file=sys.stderr,
        flush=True,
    )
    steps = run_twin_federate(
        settings,
        start_own_broker=args.start_broker,
        on_ready=lambda: print("twin federate ready", file=sys.stderr, flush=True),
        on_broker=_say_broker,
    )
    print(f"twin federate: served {steps} steps", file=sys.stderr)
    return 0
