"""The shared service transformer: its rating from an IEEE 8500 secondary, its capacity shared by the twin.

A home's import (export) limit is its share of the transformer's rating, as
the twin allocates headroom among sites that load the same constraint
(twin.allocation): one constraint, the transformer, loaded one watt per watt
by every site; each site bounded by its own limit (its service). "equal" is
max-min fair, "proportional" rises in proportion to each site's own limit,
"max-total" gives the largest total (a linear program: some sites may get
their whole limit and one the rest).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from flexbench.twin.allocation import ALLOCATIONS, JointRows, allocate
from flexbench.twin.feeders import FEEDER_DIR

IEEE8500_SERVICE_TRANSFORMERS = FEEDER_DIR / "ieee8500" / "LoadXfmrCodes.dss"
_CODE = re.compile(r"^New\s+XfmrCode\.(\S+)\s.*?kVAs=\[\s*([\d.]+)", re.IGNORECASE)
_TRANSFORMER = re.compile(r"^New\s+Transformer\.(\S+)\s+XfmrCode=(\S+)", re.IGNORECASE)


def service_transformer_kva(name: str, path: Path = IEEE8500_SERVICE_TRANSFORMERS) -> float:
    """The rating (kVA) of a named service transformer of the IEEE 8500 feeder; KeyError names a few known ones."""
    codes: dict[str, float] = {}
    transformers: dict[str, str] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if m := _CODE.match(line):
            codes[m.group(1).upper()] = float(m.group(2))
        elif m := _TRANSFORMER.match(line):
            transformers[m.group(1).upper()] = m.group(2).upper()
    code = transformers.get(name.upper())
    if code is None or code not in codes:
        known = ", ".join(sorted(transformers)[:5])
        raise KeyError(f"no service transformer {name!r} on IEEE 8500 (e.g. {known}; {len(transformers)} in all)")
    return codes[code]


def allocate_capacity(capacity_w: float, own_limits_w: Sequence[float], method: str) -> list[float]:
    """Each site's share (W) of a capacity every site loads one for one, each at most its own limit."""
    if method not in ALLOCATIONS:
        raise ValueError(f"unknown allocation {method!r}; use one of {', '.join(ALLOCATIONS)}")
    own = np.asarray(own_limits_w, dtype=float)
    if not len(own):
        return []
    if capacity_w <= 0:
        return [0.0] * len(own)
    rows = JointRows(codes=np.array([0]), s=np.full((1, len(own)), 1.0 / capacity_w), margin=np.array([1.0]))
    shares, _ = allocate(rows, own, own, method)
    return [float(np.floor(x)) for x in np.minimum(shares, own)]  # whole watts, never above the capacity


__all__ = ["allocate_capacity", "service_transformer_kva"]
