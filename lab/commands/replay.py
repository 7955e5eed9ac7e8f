"""`flexbench replay EVENT_FILE`: play a field event on a bench and score the lab against the field trace."""

from __future__ import annotations

import argparse
import datetime as dt
import signal
import sys
from pathlib import Path

from flexbench.lab.errors import UserError
from flexbench.lab.live import add_live_option, start_live

DEFAULT_BENCH = "virtual-pcs.toml"  # the embedded virtual PCS bench: a 2030.5 server and a PCS site


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    from flexbench.lab.virtual.lab import fault_names

    p = subparsers.add_parser(
        "replay",
        help="replay a field event on a bench and score the match",
        description="Run a field event (testplans/events/*.toml) on a bench: the twin applies the timeline, the "
        "bench sets conditions and sends the operator's signals over 2030.5, the recorder keeps the lab's "
        "response; writes report.html (lab and field overlaid, match score) and results.json to the run folder. "
        "Exit status 0 when the match is within the event's pass band, 1 when not, 2 on bad input.",
    )
    p.add_argument("event", metavar="EVENT_FILE", help="field event file, e.g. testplans/events/abnormal-import.toml")
    p.add_argument("--bench", help="bench file (default: the event's bench, else the embedded virtual PCS bench)")
    p.add_argument(
        "--dut-profile",
        default="healthy",
        choices=fault_names(),
        help="behaviour of the virtual DUT (virtual bench only)",
    )
    p.add_argument(
        "--time-scale",
        type=float,
        default=1.0,
        help="run bench time this many times faster than wall time (virtual bench only)",
    )
    p.add_argument("--out", help="run folder (default: reports/<date-time>-replay-<event>)")
    add_live_option(p)
    p.set_defaults(func=replay)


def replay(args: argparse.Namespace) -> int:
    from flexbench.lab.replay import read_replay_event
    from flexbench.lab.replay import replay as run_replay
    from flexbench.twin import TwinError

    if args.time_scale <= 0:
        raise UserError(f"--time-scale must be positive, got {args.time_scale}")
    try:
        event = read_replay_event(args.event)
    except TwinError as exc:
        raise UserError(str(exc)) from None
    bench = _bench_path(args.bench, event.bench, Path(args.event))
    run_dir = Path(args.out) if args.out else _default_run_dir(Path(args.event), args.dut_profile)
    previous = signal.signal(signal.SIGTERM, _terminate)
    live = start_live(f"flexbench replay {args.event}", sys.stdout) if args.live else None
    try:
        results = run_replay(
            event,
            run_dir=run_dir,
            bench_path=bench,
            dut_profile=args.dut_profile,
            time_scale=args.time_scale,
            progress=lambda text: print(text, flush=True),
            live=live,
        )
    except TwinError as exc:
        raise UserError(str(exc)) from None
    finally:
        signal.signal(signal.SIGTERM, previous)
        if live is not None:
            live.close()
    replay = results["replay"]
    print()
    for test in results["tests"]:
        for r in test["requirements"]:
            print(f"  {r['requirement_id']:<13} {r['verdict'].upper():<6} {r['message']}")
    print(f"\nmatch: {replay['score']['verdict'].upper()}")
    print(f"report: {run_dir / 'report.html'}")
    return 0 if replay["score"]["verdict"] == "pass" else 1


def _terminate(signum: int, frame: object) -> None:
    """SIGTERM ends a replay like Ctrl-C: the bench goes to its safe state, the samples are kept."""
    raise KeyboardInterrupt


def _bench_path(given: str | None, expected: str | None, event_file: Path) -> Path:
    """--bench, else the bench the event names (from here, beside the event, or embedded), else the default."""
    from importlib import resources

    embedded = Path(str(resources.files("flexbench.lab") / "benches"))
    if given:
        return Path(given)
    name = expected or DEFAULT_BENCH
    for candidate in (Path(name), event_file.parent / name, embedded / Path(name).name):
        if candidate.is_file():
            return candidate
    raise UserError(f"{event_file}: [event] bench: {name} not found (give --bench FILE)")


def _default_run_dir(event_file: Path, dut_profile: str) -> Path:
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    suffix = "" if dut_profile == "healthy" else f"-{dut_profile}"
    base = Path("reports") / f"{stamp}-replay-{event_file.stem}{suffix}"
    path, n = base, 1
    while path.exists():
        n += 1
        path = base.with_name(f"{base.name}-{n}")
    return path
