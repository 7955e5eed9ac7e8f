"""Errors of the twin: bad feeders, unknown sites, bad time series.

Each message names the file, element or row at fault so a user can fix the input
without reading a traceback. All derive from ValueError: they are input problems.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class TwinError(ValueError):
    """Base of every input error raised by flexbench.twin."""


class FeederError(TwinError):
    """A feeder that cannot be found, compiled or solved."""


class SiteError(TwinError):
    """A customer location that is not on the feeder."""


class ProfileError(TwinError):
    """A load/PV time series that is malformed (gaps, duplicates, bad columns)."""


def suggest(name: str, known: Iterable[str], limit: int = 3) -> str:
    """Return ' (did you mean a, b?)' with the nearest known names, or ''."""
    known = list(known)
    lowered = {k.lower(): k for k in known}
    near = difflib.get_close_matches(name.lower(), list(lowered), n=limit, cutoff=0.6)
    if not near:
        near = [k for k in lowered if name.lower() in k or k in name.lower()][:limit]
    if not near:
        return ""
    return " (did you mean " + ", ".join(lowered[n] for n in near) + "?)"
