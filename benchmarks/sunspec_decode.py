"""CPU time to decode one SunSpec 701 (DER AC measurement) block: flexbench's layout against pysunspec2.

The recorder reads a DER's model 701 at every sample (200 times a wall second
on a 10 Hz bench at time scale 20), so its decoding is on the hot path. The
same registers are decoded three ways: flexbench's ModelBlock
(instruments.sunspec), a pysunspec2 client model made for each read, and one
pysunspec2 model refilled with set_mb. The measurement points a driver reads
(W, VA, Var, PF, A, LLV, LNV, Hz, TotWhInj, TotWhAbs) are decoded with their
scale factors each time.

Prints the median of `--rounds` rounds of `--decodes` decodes each, in
microseconds per decode, and the ratios in the same run; writes JSON.

    python benchmarks/sunspec_decode.py
    python benchmarks/sunspec_decode.py --rounds 15 --out results.json
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import struct
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import sunspec2.device as sunspec_device
import sunspec2.modbus.client as sunspec_client

from flexbench.instruments.sunspec.device import ModelBlock
from flexbench.instruments.sunspec.layout import fixed_layout

DEFAULT_OUT = Path(__file__).resolve().parent / "results" / "sunspec_decode.json"
MODEL_ID = 701
POINTS = ("W", "VA", "Var", "PF", "A", "LLV", "LNV", "Hz", "TotWhInj", "TotWhAbs")


def registers(size: int) -> list[int]:
    """A 701 block with its header and plausible values, scale factors left at 0."""
    regs = [0] * size
    regs[0], regs[1] = MODEL_ID, size - 2
    return regs


def decoders() -> dict[str, Callable[[], dict[str, Any]]]:
    layout = fixed_layout(MODEL_ID)
    regs = registers(layout.size)
    block = ModelBlock(layout)
    block.registers[:] = regs
    data = struct.pack(f">{len(regs)}H", *regs)
    model_def = sunspec_device.get_model_def(MODEL_ID)

    def pysunspec2_model() -> Any:
        return sunspec_client.SunSpecModbusClientModel(
            model_id=MODEL_ID, model_addr=40002, model_len=layout.size - 2, model_def=model_def, data=data
        )

    reused = pysunspec2_model()

    def pysunspec2_refilled() -> dict[str, Any]:
        reused.set_mb(data=data)
        return {n: reused.points[n].cvalue for n in POINTS}

    def pysunspec2_per_read() -> dict[str, Any]:
        model = pysunspec2_model()
        return {n: model.points[n].cvalue for n in POINTS}

    return {
        "flexbench": lambda: {n: block.get(n) for n in POINTS},
        "pysunspec2_per_read": pysunspec2_per_read,
        "pysunspec2_refilled": pysunspec2_refilled,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--decodes", type=int, default=200)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args()
    medians_us: dict[str, float] = {}
    for name, decode in decoders().items():
        decode()  # warm-up
        rounds = []
        for _ in range(args.rounds):
            start = time.process_time()
            for _ in range(args.decodes):
                decode()
            rounds.append((time.process_time() - start) / args.decodes * 1e6)
        medians_us[name] = round(statistics.median(rounds), 1)
    base = medians_us["flexbench"]
    result = {
        "model": MODEL_ID,
        "points": list(POINTS),
        "median_us_per_decode": medians_us,
        "ratio_to_flexbench": {k: round(v / base, 1) for k, v in medians_us.items()},
        "python": platform.python_version(),
    }
    for name, us in medians_us.items():
        print(f"{name:22s} {us:8.1f} us per decode  ({result['ratio_to_flexbench'][name]}x flexbench)")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
