"""The shared vocabulary of flexbench: limits, envelopes, channel names, verdicts and results.

Sign convention, the one used everywhere in flexbench: **active power is in
watts at the point of common coupling (PCC), import-positive**. A site that
draws 3 kW from the grid is at +3000 W; one that exports 2 kW is at -2000 W.
Limits are magnitudes (>= 0 W): ``import_limit_w`` bounds the import
(P <= import_limit_w) and ``export_limit_w`` bounds the export
(-P <= export_limit_w). Each driver converts its instrument's own sign to
the one its role states (flexbench.instruments.roles): power at the PCC, from
a meter, a grid simulator or the analyzer's PCC element, is import-positive;
a device's own terminal output (a DER's measurement, the analyzer element at
its terminals) is export-positive by its nature, and its channels are named
for the device, never for the PCC (flexbench.core.channels). Nothing above
the drivers flips a sign.

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
