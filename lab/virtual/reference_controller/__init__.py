"""The reference site controller: a plain export/import limiter, run as its own process.

    python -m flexbench.lab.virtual.reference_controller SITE_FILE [--fault NAME]

It reads the site meter and writes limits into the site's inverters over
SunSpec Modbus (7xx or legacy models), takes its envelope from the utility's
IEEE 2030.5 server over mutual TLS, mirrors its readings back, and serves the
flexbench PCS settings registers (instruments.pcs_registers) as its local API.
It exists so the bench's controller mode is tested without third-party
software; its fault variants (faults.py) fail the plans on purpose.

Declared behaviour (the numbers the controller-mode profile checks against):

- control period CONTROL_PERIOD_S; a limit is met within a few periods;
- meter silent (METER_FAILURES reads in a row failed, none answered for
  METER_TIMEOUT_S): fail-safe, PV to 0 %, batteries idle,
  the local API's fail_safe register set;
- an inverter silent or not following its cap: counted as uncontrolled, the
  others hold the site's limits, keeping room for a silent PV inverter to
  reach its rating (a legacy one releases its cap when its timer lapses); a
  silent one is retried every RETRY_S, in the background;
- a battery follows its own request (its local dispatch) within the window
  the controller gives it: its discharge capped after PV on an export
  overrun, its charging capped and then a discharge forced on an import
  overrun (control.py);
- caps and setpoints carry a revert timer of REVERT_S (704: revert to 0 %,
  a forced battery setpoint to idle), refreshed at half that: a 7xx site
  whose controller dies exports nothing (a 702 charge cap has no timer and
  stays as last written);
- 2030.5: see utility.py (cached schedule, then DefaultDERControl, then the
  site file's firm limits; a Time skewed by over 60 s is flagged and the
  controller keeps to its own clock).
"""

from __future__ import annotations

CONTROL_PERIOD_S = 1.0
METER_TIMEOUT_S = 4.0
METER_FAILURES = 2
RETRY_S = 20.0
REVERT_S = 30.0
MARGIN_W = 100.0

from .faults import FAULTS  # noqa: E402  (the bench lists them as the controller site's DUT profiles)

__all__ = ["FAULTS"]
