"""A price schedule as the operator gives it: intervals with a start, a duration and a price per kWh.

Each interval has the price of energy imported, and of energy exported where
the tariff pays for it; an import price may rise in consumption blocks (the
price from a number of kWh on within the interval, 2030.5 ConsumptionTariffInterval
startValue). Files are CSV (columns ``start``, ``duration_s``,
``import_price_per_kwh`` and optionally ``export_price_per_kwh``) or JSON (a list
of such records, or an object with ``intervals``; a record may add
``import_blocks``: ``[[from_kwh, price_per_kwh], ...]``). Errors name the file,
the row and the column.
"""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flexbench.core import IntervalError, to_epoch_s

MAX_BLOCKS = 16  # ConsumptionBlockType 1-16
COLUMNS = ("start", "duration_s", "import_price_per_kwh", "export_price_per_kwh")


class PriceError(ValueError):
    """A price schedule that cannot be: the message names the file, row and column where there is one."""


@dataclass(frozen=True)
class PriceInterval:
    """One interval of a price schedule: prices in the tariff's currency per kWh."""

    start_s: int
    duration_s: int
    import_price_per_kwh: float
    export_price_per_kwh: float | None = None
    import_blocks: tuple[tuple[float, float], ...] = ()  # (from kWh, price per kWh) above the first block

    @property
    def end_s(self) -> int:
        return self.start_s + self.duration_s

    def __post_init__(self) -> None:
        if self.duration_s <= 0:
            raise PriceError(f"duration_s: must be positive, got {self.duration_s}")
        for name in ("import_price_per_kwh", "export_price_per_kwh"):
            value = getattr(self, name)
            if value is not None and not math.isfinite(value):
                raise PriceError(f"{name}: must be a finite number, got {value}")
        starts = [0.0] + [kwh for kwh, _ in self.import_blocks]
        if any(b <= a for a, b in zip(starts, starts[1:])):
            raise PriceError(f"import_blocks: each block starts above the one before it (from 0 kWh), got {starts}")
        if any(kwh != int(kwh) for kwh in starts) or len(starts) > MAX_BLOCKS:
            raise PriceError(
                f"import_blocks: at most {MAX_BLOCKS} blocks, each from a whole number of kWh, got {starts}"
            )

    @classmethod
    def parse(cls, record: Mapping[str, Any]) -> PriceInterval:
        """From a record of a file or a JSON call; PriceError names the column at fault."""
        start = record.get("start", record.get("start_s"))
        if start in (None, ""):
            raise PriceError("start: missing")
        try:
            start_s = int(to_epoch_s(start))
        except IntervalError as exc:
            raise PriceError(str(exc)) from None
        return cls(
            start_s=start_s,
            duration_s=int(_number(record, "duration_s")),
            import_price_per_kwh=_number(record, "import_price_per_kwh"),
            export_price_per_kwh=_number(record, "export_price_per_kwh", optional=True),
            import_blocks=_blocks(record.get("import_blocks")),
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "start_s": self.start_s,
            "duration_s": self.duration_s,
            "import_price_per_kwh": self.import_price_per_kwh,
            "export_price_per_kwh": self.export_price_per_kwh,
            "import_blocks": [list(b) for b in self.import_blocks],
        }


def _number(record: Mapping[str, Any], key: str, optional: bool = False) -> Any:
    value = record.get(key)
    if value in (None, ""):
        if optional:
            return None
        raise PriceError(f"{key}: missing")
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise PriceError(f"{key}: expected a number, got {value!r}") from None
    if not math.isfinite(number):
        raise PriceError(f"{key}: must be a finite number, got {value!r}")
    return number


def _blocks(value: Any) -> tuple[tuple[float, float], ...]:
    if value in (None, ""):
        return ()
    try:
        return tuple((float(kwh), float(price)) for kwh, price in value)
    except (TypeError, ValueError):
        raise PriceError(f"import_blocks: expected [[from_kwh, price_per_kwh], ...], got {value!r}") from None


def price_schedule(intervals: Sequence[PriceInterval | Mapping[str, Any]]) -> list[PriceInterval]:
    """Intervals in time order, none overlapping another; records are parsed (the error names the interval)."""
    out: list[PriceInterval] = []
    for n, item in enumerate(intervals):
        try:
            out.append(item if isinstance(item, PriceInterval) else PriceInterval.parse(item))
        except PriceError as exc:
            raise PriceError(f"interval {n}: {exc}") from None
    if not out:
        raise PriceError("the price schedule has no intervals")
    out.sort(key=lambda i: i.start_s)
    for a, b in zip(out, out[1:]):
        if b.start_s < a.end_s:
            raise PriceError(f"intervals starting at {a.start_s} and {b.start_s} overlap")
    return out


def read_price_file(path: str | Path) -> list[PriceInterval]:
    """A price schedule from a CSV or JSON file; PriceError names the file, the row and the column."""
    path = Path(path)
    if not path.is_file():
        raise PriceError(f"{path}: no such price file")
    reader = {".csv": _csv_rows, ".json": _json_rows}.get(path.suffix.lower())
    if reader is None:
        raise PriceError(f"{path}: price files are .csv or .json, got {path.suffix or 'no suffix'!r}")
    intervals = []
    for where, record in reader(path):
        try:
            intervals.append(PriceInterval.parse(record))
        except PriceError as exc:
            raise PriceError(f"{path}: {where}: {exc}") from None
    try:
        return price_schedule(intervals)
    except PriceError as exc:
        raise PriceError(f"{path}: {exc}") from None


def _csv_rows(path: Path) -> Iterator[tuple[str, Mapping[str, Any]]]:
    with path.open(newline="") as fh:
        lines = fh.readlines()
    skipped = 0
    while skipped < len(lines) and lines[skipped].lstrip().startswith("#"):
        skipped += 1
    reader = csv.DictReader(lines[skipped:])
    header = reader.fieldnames or []
    missing = [c for c in COLUMNS[:3] if c not in header and not (c == "start" and "start_s" in header)]
    if missing:
        raise PriceError(f"{path}: line {skipped + 1} (header): missing column(s) {', '.join(missing)}")
    for record in reader:
        yield f"line {skipped + reader.line_num}", record


def _json_rows(path: Path) -> Iterator[tuple[str, Mapping[str, Any]]]:
    try:
        data = json.loads(path.read_text())
    except (ValueError, UnicodeDecodeError) as exc:
        raise PriceError(f"{path}: not JSON: {exc}") from None
    if isinstance(data, dict):
        data = data.get("intervals")
    if not isinstance(data, list):
        raise PriceError(f"{path}: expected a list of intervals or an object with 'intervals'")
    for n, record in enumerate(data):
        if not isinstance(record, dict):
            raise PriceError(f"{path}: interval {n}: expected an object, got {record!r}")
        yield f"interval {n}", record
