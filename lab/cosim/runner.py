"""One PHIL run on a bench: open it, run the loop for a duration, keep everything in a run folder.

The run folder holds what any run holds (samples.parquet, events.jsonl,
station.json) and summary.json: the settings, the rate achieved, jitter
p50/p99, the largest |V_set - V_twin|, and why the loop stopped if it did.
The bench is closed (every instrument to its safe state) whatever happens.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from flexbench.lab.bench import Bench
from flexbench.lab.clock import ScaledClock
from flexbench.lab.cosim.config import CosimSettings
from flexbench.lab.cosim.loop import LoopStopped, PhilLoop, StepSample
from flexbench.lab.recorder import Recorder

if TYPE_CHECKING:
    from flexbench.lab.live import LiveView

SUMMARY_FILE = "summary.json"
STATION_FILE = "station.json"


def make_twin(settings: CosimSettings) -> Any:
    """The in-process twin at the device's bus; an unknown feeder or bus names its key."""
    from flexbench.twin import Twin, TwinError
    from flexbench.twin.phil import PhilBus

    try:
        twin = Twin.load(settings.feeder)
    except TwinError as exc:
        raise settings.located("feeder", str(exc)) from None
    try:
        return PhilBus(twin, settings.bus, controls=settings.controls)
    except TwinError as exc:
        raise settings.located("bus", str(exc)) from None


def run_cosim(
    config: Any,
    settings: CosimSettings,
    run_dir: Path,
    duration_s: float,
    *,
    time_scale: float = 1.0,
    federated: bool = False,
    start_own_broker: bool = False,
    dut_profile: str = "healthy",
    on_step: Callable[[StepSample], None] | None = None,
    on_broker: Callable[[str], None] | None = None,
    live: LiveView | None = None,
) -> dict[str, Any]:
    """Run the loop on the bench for `duration_s` of bench time; returns the summary (also written).

    federated: the twin is a HELICS federate elsewhere (start_own_broker: the
    broker runs in this process, and `on_broker` hears its address). live: a live
    view (lab.live) that follows the run.
    """
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    clock = ScaledClock(time_scale)
    recorder = Recorder(run_dir, clock)
    if live is not None:
        live.show_bench(config)
        live.watch(recorder)
        live.test_started(f"PHIL loop: {settings.feeder} bus {settings.bus}, {duration_s:g} s")
    broker = None
    link: Any = None
    summary: dict[str, Any] = {}
    try:
        recorder.event("cosim_settings", settings=_plain(settings), federated=federated)
        if not federated:  # build the twin first: a bad feeder or bus fails before the bench is energized
            link = make_twin(settings)
        bench = Bench(
            config,
            clock,
            dut_profile=dut_profile,
            on_event=lambda kind, data: recorder.event(kind, **data),
            work_dir=run_dir,
            guarded=True,
        )
        bench.connect()
        try:
            (run_dir / STATION_FILE).write_text(json.dumps(bench.snapshot(), indent=1, default=str))
            if federated:
                from flexbench.lab.cosim.federation import HelicsTwinLink, start_broker

                if start_own_broker:
                    broker, helics = start_broker(settings.helics)
                    settings = replace(settings, helics=helics)
                    recorder.event("helics_broker", address=helics.broker)
                    if on_broker is not None:
                        on_broker(helics.broker)
                link = HelicsTwinLink(settings)
            loop = PhilLoop.on_bench(bench, settings, link, recorder=recorder, on_step=on_step, keep_samples=False)
            try:
                result = loop.run(duration_s=duration_s)
            except LoopStopped as exc:
                result = exc.result
            summary = result.summary()
        finally:
            if link is not None:
                link.close()
            bench.close()
    finally:
        if broker is not None:
            from flexbench.lab.cosim.federation import stop_broker

            stop_broker(broker, settings.helics.timeout_s)
        summary = {"settings": _plain(settings), "federated": federated, "time_scale": time_scale, **summary}
        (run_dir / SUMMARY_FILE).write_text(json.dumps(summary, indent=1, default=str))
        recorder.close()
        if live is not None:
            live.finish("stopped" if summary.get("stopped") or "steps" not in summary else "complete")
    return summary


def _plain(settings: CosimSettings) -> dict[str, Any]:
    data = asdict(settings)
    data.pop("where", None)
    return data
