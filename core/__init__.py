"""The shared vocabulary of flexbench: limits, envelopes, channel names, verdicts and results.

Sign convention, the one used everywhere in flexbench: **active power is in
watts at the point of common coupling (PCC), import-positive**. A site that
draws 3 kW from the grid is at +3000 W; one that exports 2 kW is at -2000 W.
Limits are magnitudes (>= 0 W): ``import_limit_w`` bounds the import
(P <= import_limit_w) and ``export_limit_w`` bounds the export
(-P <= export_limit_w). A device that reports its output export-positive
(an inverter's AC power) is converted at its driver, which says so in its
docstring; nothing above the drivers flips signs.

This package imports nothing of flexbench and only numpy and pydantic from
outside, so the twin, the instruments, the signals and the lab can all share it.
"""

from flexbench.core import channels
from flexbench.core.clock import TimeSource
from flexbench.core.envelope_files import read_envelope_file, read_envelopes
from flexbench.core.limits import Envelope, Interval, IntervalError, SiteLimits, to_envelope, to_epoch_s
from flexbench.core.results import Criterion, Result, Verdict, worst

__all__ = [
    "Criterion",
    "Envelope",
    "Interval",
    "IntervalError",
    "Result",
    "SiteLimits",
    "TimeSource",
    "Verdict",
    "channels",
    "read_envelope_file",
    "read_envelopes",
    "to_envelope",
    "to_epoch_s",
    "worst",
]
