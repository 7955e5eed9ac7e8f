"""What test plans ask about controller mode, at collection time (before any bench opens)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from flexbench.lab.errors import UserError


def controller_bench(config: pytest.Config) -> bool:
    """Whether the run's bench file has a controller under test ([controller])."""
    from flexbench.lab.bench_config import load_bench

    try:
        return load_bench(config.getoption("--bench")).controller is not None
    except UserError:
        return False  # the bench's own error is reported when it opens


def skip_in_controller_mode(
    config: pytest.Config, items: list[Any], folder: str | Path, requirement_id: str, reason: str
) -> None:
    """Mark the tests of `folder` that check `requirement_id` as skipped, with the reason, on a controller bench."""
    if not controller_bench(config):
        return
    folder = Path(folder).resolve()
    for item in items:
        ids = [str(a) for m in item.iter_markers("requirement") for a in m.args]
        if requirement_id in ids and folder in Path(str(item.fspath)).resolve().parents:
            item.add_marker(pytest.mark.skip(reason=f"controller mode: {reason}"))
