"""Names of recorded channels: ``<source>.<quantity>_<unit>``, one name per meaning.

Signs: power at the PCC (``pcc.p_w``, a meter's ``<meter>.p_w``) is
import-positive watts, the one convention of flexbench.core. A device's own
terminal output is output-positive by its nature, and only two kinds of
channel carry it: a DER's own report (``<der>.p_w``, from the driver's
DERMeasurement) and an analyzer element wired at a device's terminals
(``dut.p_w``). Nothing above the drivers flips a sign: a channel's sign is
the one stated here for its kind.
"""

from __future__ import annotations

# quantities: the part of a channel name after its source
P_W = "p_w"
"""Active power; its sign is its source's (see the module docstring)."""
Q_VAR = "q_var"
V_V = "v_v"
I_A = "i_a"
F_HZ = "f_hz"
THD_V_PCT = "thd_v_pct"
"""Voltage total harmonic distortion, percent of the fundamental (an analyzer element that reads harmonics)."""
THD_I_PCT = "thd_i_pct"
INSTRUMENT_TIME_S = "instrument_time_s"
"""An instrument's own time stamp of a reading (its clock, Unix seconds), beside the bench's t_s."""

PCC_P_W = "pcc.p_w"
"""Active power at the PCC, import-positive (analyzer or meter)."""
PCC_Q_VAR = "pcc.q_var"
DUT_P_W = "dut.p_w"
"""Active power at the DUT's terminals, as the analyzer measures it: the DUT's output, export-positive."""
BUSBAR_I_A = "busbar.i_a"
BUSBAR_P_W = "busbar.p_w"
TRUTH = "truth"
"""Source name of the virtual plant's own values."""
TRUTH_PCC_P_W = "truth.pcc_p_w"
"""The virtual plant's own PCC power (not a measurement): for checks of what devices report."""

LIMIT_W = "limit_w"
"""The limit a plan commands (the DUT's own power limit)."""
LIMIT_TOLERANCE_W = "limit_tolerance_w"
LIMIT_PCC_MAX_W = "limit.pcc_max_w"
"""The import limit in force at the PCC (NaN: none)."""
LIMIT_PCC_MIN_W = "limit.pcc_min_w"
"""Minus the export limit in force at the PCC (NaN: none)."""
LIMIT_BUSBAR_A = "limit.busbar_a"

COND_VOLTAGE_V = "cond.voltage_v"
COND_PV_DC_W = "cond.pv_dc_w"
COND_LOAD_W = "cond.load_w"
COND_EV_W = "cond.ev_w"
COND_BATTERY_W = "cond.battery_w"

FAULT_METER_SILENT = "fault.meter_silent"
"""1 while the bench keeps a site's meter from the controller under test, 0 after."""

COSIM = "cosim"
"""Source of the PHIL loop's channels (lab.cosim); per phase or node: ``cosim.p1_w``, ``cosim.twin_v48.1_pu``."""
COSIM_PERIOD_S = "cosim.period_s"
COSIM_JITTER_S = "cosim.jitter_s"
COSIM_COMPUTE_S = "cosim.compute_s"
COSIM_P_W = "cosim.p_w"
"""Active power injected into the twin at the DUT's bus (the twin's sign and scale, filtered)."""
COSIM_Q_VAR = "cosim.q_var"
COSIM_P_MEASURED_W = "cosim.p_measured_w"
"""The same, as measured, before the filter."""
COSIM_TWIN_F_HZ = "cosim.twin_f_hz"
COSIM_TWIN_CONVERGED = "cosim.twin_converged"
COSIM_SET_F_HZ = "cosim.set_f_hz"
COSIM_LIMITED = "cosim.limited"
"""1 when the guard bounded or ramp-limited the voltage setpoint."""

FIELD = "field"
"""Source of a field event's recorded trace in a replay: ``field.<column>``."""

TWIN_PCC_V_PU = "twin.pcc_v_pu"
TWIN_IMPORT_LIMIT_W = "twin.import_limit_w"
TWIN_EXPORT_LIMIT_W = "twin.export_limit_w"


def element(name: str, quantity: str) -> str:
    """The channel of one analyzer element or instrument reading: ``<name>.<quantity>``."""
    if not name or "." in name:
        raise ValueError(f"channel source must be a plain name, got {name!r}")
    return f"{name}.{quantity}"


def phase_voltage(phase: int) -> str:
    """The quantity of one phase's voltage (phase 1, 2, 3): ``v1_v``."""
    if phase < 1:
        raise ValueError(f"phases count from 1, got {phase}")
    return f"v{phase}_v"


def limit_of(side: str) -> str:
    """The channel of the PCC limit of one side ('import' or 'export')."""
    if side == "import":
        return LIMIT_PCC_MAX_W
    if side == "export":
        return LIMIT_PCC_MIN_W
    raise ValueError(f"side must be 'import' or 'export', got {side!r}")
