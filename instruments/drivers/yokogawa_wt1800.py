"""Yokogawa WT1800-class power analyzer over its ``:NUMeric`` interface.

Role: PowerAnalyzer. Address: a VISA resource string (the WT1800's Ethernet
option, VXI-11 ``TCPIP0::<host>::INSTR``, or a raw socket). Options:
``elements`` (input element numbers to read, default [1, 2]; up to 6) and
``update_period_s`` (0.05-20 s: streams successive updates).

Commands, reply parsing, streaming and error checks are the WT family's:
see instruments.drivers.yokogawa_wt. A power analyzer only measures: no
setpoints, so no safety limits apply. Timeouts, lost connections and
threads: see transports.visa.
"""

from __future__ import annotations

from .yokogawa_wt import FUNCTIONS, YokogawaWTNumeric

__all__ = ["FUNCTIONS", "MAX_ELEMENTS", "YokogawaWT1800"]

MAX_ELEMENTS = 6


class YokogawaWT1800(YokogawaWTNumeric):
    """Yokogawa WT1800 series power analyzer."""

    model = "Yokogawa WT1800"
    driver_name = "yokogawa-wt1800"
    max_elements = MAX_ELEMENTS
