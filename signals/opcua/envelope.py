"""Envelopes on OPC-UA: core Envelopes checked with the status codes a method call returns.

The address space holds every interval's two limits as Doubles, so a limit of
None (not limited by this interval) is resolved before publishing: it takes the
envelope's firm limit, else the site's firm limit (on the server). Rows from a
PublishEnvelope call are read here, at the edge, with the call's statuses.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from asyncua import ua

from flexbench.core import Envelope, Interval, IntervalError, SiteLimits, to_envelope, to_epoch_s

FIELDS = ("start", "duration_s", "import_limit_w", "export_limit_w")


class EnvelopeError(ValueError):
    """An envelope that cannot be published; `status` is the OPC-UA status code a method call returns."""

    def __init__(self, message: str, status: int = ua.StatusCodes.BadInvalidArgument) -> None:
        super().__init__(message)
        self.status = status


def checked(envelope: Envelope | Sequence[Interval], firm: SiteLimits | None = None) -> Envelope:
    """The envelope with every limit set (None sides from its firm limits, then from `firm`).

    Overlapping intervals are BadInvalidArgument; a side left unset by both is too.
    """
    try:
        env = to_envelope(envelope)
    except IntervalError as exc:
        raise EnvelopeError(f"envelope: {exc}") from None
    fallback = env.firm.or_else(firm or SiteLimits())
    intervals = []
    for n, interval in enumerate(env.intervals):
        limits = interval.limits.or_else(fallback)
        if limits.import_limit_w is None or limits.export_limit_w is None:
            raise EnvelopeError(f"envelope interval {n}: both limits are needed (no firm limit to take one from)")
        intervals.append(Interval(start_s=interval.start_s, duration_s=interval.duration_s, limits=limits))
    return Envelope(site_id=env.site_id, intervals=tuple(intervals), firm=env.firm)


def from_rows(rows: Iterable[Mapping[str, Any]]) -> Envelope:
    """An envelope from PublishEnvelope's rows: every field present and finite, limits >= 0, no overlaps.

    A missing field or an overlap is BadInvalidArgument; a value out of range is BadOutOfRange.
    """
    intervals = []
    for n, row in enumerate(rows):
        missing = [k for k in FIELDS if row.get(k) is None]
        if missing:
            raise EnvelopeError(f"envelope interval {n}: missing {', '.join(missing)}")
        try:
            start_s = to_epoch_s(row["start"])
            duration_s, import_w, export_w = (float(row[k]) for k in FIELDS[1:])
        except (TypeError, ValueError) as exc:
            raise EnvelopeError(f"envelope interval {n}: {exc}") from None
        if not all(math.isfinite(x) for x in (start_s, duration_s, import_w, export_w)):
            raise EnvelopeError(f"envelope interval {n}: every number must be finite", ua.StatusCodes.BadOutOfRange)
        try:
            limits = SiteLimits(import_limit_w=import_w, export_limit_w=export_w)
            intervals.append(Interval(start_s=start_s, duration_s=duration_s, limits=limits))
        except IntervalError as exc:
            raise EnvelopeError(f"envelope interval {n}: {exc}", ua.StatusCodes.BadOutOfRange) from None
    try:
        return Envelope(intervals=tuple(intervals))
    except IntervalError as exc:
        raise EnvelopeError(f"envelope: {exc}") from None


def check_within(envelope: Envelope, max_import_w: float, max_export_w: float, site: str) -> None:
    """Refuse limits outside the site's physical range (BadOutOfRange)."""
    for i, interval in enumerate(envelope.intervals):
        imp, exp = interval.import_limit_w or 0.0, interval.export_limit_w or 0.0
        if imp > max_import_w or exp > max_export_w:
            raise EnvelopeError(
                f"site {site}, envelope interval {i}: limits {imp} W import, {exp} W export exceed the site's range "
                f"({max_import_w} W import, {max_export_w} W export)",
                ua.StatusCodes.BadOutOfRange,
            )
