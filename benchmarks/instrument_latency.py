"""Instrument round trips per transport, against the emulators on this machine.

Each case times one request and its reply, through the same transports the
drivers use, after a warm-up:

- VISA socket: a SCPI query (``OUTP?``) to the Chroma 61845 emulator over
  pyvisa-py's TCPIP SOCKET session, and a driver-level setpoint (``VOLT:AC``
  followed by the ``SYST:ERR?`` check every write makes);
- Modbus TCP: a 2-register read of the SunSpec DER emulator, and a driver
  read of a whole model (701, one request of 155 registers);
- Modbus RTU over a virtual serial pair (two pseudo-terminals joined by a
  thread; pyserial on both ends): the same two requests at 115200 baud. The
  pair holds each frame back for its time on a real line, so the figure is
  that wire time (about 31 ms for the 701 read) plus the software path.

Prints a table and writes JSON (median, p90, p99, max in milliseconds).

    python benchmarks/instrument_latency.py                 # 500 round trips per case
    python benchmarks/instrument_latency.py --samples 2000 --out results.json
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

from flexbench.instruments.addresses import parse_address
from flexbench.instruments.drivers.chroma_61845 import Chroma61845
from flexbench.instruments.drivers.sunspec_der import SunSpecDER
from flexbench.instruments.emulators import ChromaGridEmulator, SunSpecDEREmulator
from flexbench.instruments.transports.modbus import ModbusTransport

DEFAULT_OUT = Path(__file__).resolve().parent / "results" / "instrument_latency.json"


def percentile(sorted_ms: list[float], p: float) -> float:
    k = min(len(sorted_ms) - 1, max(0, round(p / 100.0 * (len(sorted_ms) - 1))))
    return sorted_ms[k]


def time_case(fn: Callable[[], object], samples: int, warmup: int) -> dict[str, float]:
    for _ in range(warmup):
        fn()
    times_ms = []
    for _ in range(samples):
        start = time.perf_counter()
        fn()
        times_ms.append((time.perf_counter() - start) * 1000.0)
    times_ms.sort()
    return {
        "samples": samples,
        "median_ms": round(statistics.median(times_ms), 3),
        "p90_ms": round(percentile(times_ms, 90), 3),
        "p99_ms": round(percentile(times_ms, 99), 3),
        "max_ms": round(times_ms[-1], 3),
    }


def run(samples: int, warmup: int) -> dict[str, dict[str, float]]:
    results: dict[str, dict[str, float]] = {}

    with ChromaGridEmulator() as grid:
        driver = Chroma61845(grid.address, timeout_s=2.0)
        driver.connect()
        results["visa_socket_query"] = time_case(lambda: driver.query("OUTP?"), samples, warmup)
        results["visa_socket_setpoint_with_error_check"] = time_case(
            lambda: driver.set_voltage(240.0, phase=None), samples, warmup
        )
        driver.close()

    for link in ("tcp", "rtu"):
        with SunSpecDEREmulator(link=link) as der:
            transport = ModbusTransport(parse_address(der.address), timeout_s=2.0)
            transport.connect()
            results[f"modbus_{link}_read_2_registers"] = time_case(
                lambda: transport.read_holding_registers(40000, 2),  # noqa: B023
                samples,
                warmup,
            )
            transport.close()
            driver = SunSpecDER(der.address, timeout_s=2.0)
            driver.connect()
            results[f"modbus_{link}_read_model_701"] = time_case(lambda: driver.read_model(701), samples, warmup)  # noqa: B023
            driver.close()
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=500, help="round trips per case (default 500)")
    parser.add_argument("--warmup", type=int, default=20, help="round trips discarded first (default 20)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"JSON file (default {DEFAULT_OUT})")
    args = parser.parse_args(argv)
    if args.samples < 1 or args.warmup < 0:
        parser.error("--samples must be positive and --warmup non-negative")

    results = run(args.samples, args.warmup)
    width = max(len(name) for name in results)
    print(f"{'case':<{width}}  {'median ms':>9}  {'p90 ms':>7}  {'p99 ms':>7}  {'max ms':>7}")
    for name, r in results.items():
        print(f"{name:<{width}}  {r['median_ms']:>9.3f}  {r['p90_ms']:>7.3f}  {r['p99_ms']:>7.3f}  {r['max_ms']:>7.3f}")
    report = {
        "benchmark": "instrument_latency",
        "samples_per_case": args.samples,
        "warmup": args.warmup,
        "host": {"python": platform.python_version(), "platform": platform.platform()},
        "cases": results,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=1) + "\n")
    print(f"written: {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
