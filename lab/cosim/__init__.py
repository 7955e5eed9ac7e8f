"""PHIL co-simulation: the feeder twin holds the device under test at its bus, in a loop with the bench.

    from flexbench.lab.cosim import PhilLoop, settings_for_bench
    from flexbench.twin import Twin
    from flexbench.twin.phil import PhilBus

    settings = settings_for_bench(bench.config)          # [cosim] of the bench file, or the defaults
    twin = PhilBus(Twin.load(settings.feeder), settings.bus)
    loop = PhilLoop.on_bench(bench, settings, twin, recorder=recorder)
    result = loop.run(duration_s=30.0)                   # LoopStopped if the guard stops it

Across machines the twin runs as a HELICS federate (`federation.run_twin_federate`)
and the lab uses `federation.HelicsTwinLink` in place of the PhilBus.
`runner.run_cosim` does all of it on a bench and writes a run folder.
"""

from flexbench.lab.cosim.config import CosimError, CosimSettings, GuardSettings, HelicsSettings, settings_for_bench
from flexbench.lab.cosim.loop import LoopResult, LoopStopped, PhilLoop, StepSample, TwinLink, grid_targets

__all__ = [
    "CosimError",
    "CosimSettings",
    "GuardSettings",
    "HelicsSettings",
    "LoopResult",
    "LoopStopped",
    "PhilLoop",
    "StepSample",
    "TwinLink",
    "grid_targets",
    "settings_for_bench",
]
