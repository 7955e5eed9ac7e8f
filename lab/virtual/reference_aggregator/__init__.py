"""The reference aggregator: several homes on a shared transformer, run as its own process.

    python -m flexbench.lab.virtual.reference_aggregator SITE_FILE [--fault NAME]

One aggregator certificate manages every home (CSIP-AUS): for each home it
reads the home's import and export limits from the utility's IEEE 2030.5
server (the home's EndDevice, a client per home with the aggregator's
certificate) and mirrors the home's PCC power back; it reads each home's
meter and writes each home's PV, battery and EV charger over SunSpec Modbus
(reusing the reference controller's device links). It exists so the
aggregator plans are tested without third-party software; its fault
variants (faults.py) fail them on purpose.

Declared behaviour (the numbers the aggregator profile checks against):

- control period CONTROL_PERIOD_S; a new limit is met within a few periods;
- every home held to the import limit published for it, unless the group
  re-allocates (group.py): a home using less than its share lends the rest
  to homes that want more, each up to its own service limit, the group never
  above the sum of the published limits;
- a home whose meter or a device does not answer (HOME_FAILURES reads in a row) is lost:
  counted at its own service limit (its worst case), the others held tighter
  so the group still fits; retried every RETRY_S;
- caps and setpoints carry the devices' revert timers (REVERT_S), refreshed
  at half that: a lost home's battery returns to idle, its PV to no export.
"""

from __future__ import annotations

CONTROL_PERIOD_S = 1.0
HOME_FAILURES = 1
RETRY_S = 5.0
REVERT_S = 30.0
MARGIN_W = 150.0

from .faults import FAULTS  # noqa: E402  (the bench lists them as the aggregator site's DUT profiles)

__all__ = ["FAULTS"]
