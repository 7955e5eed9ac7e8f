"""Harmonic orders an emulated power analyzer reads of a plant that gives only rms totals and THD.

The plant reports totals (U, I, P, Q) and THD relative to the fundamental (IEC 61000-4-7, as inverters
and grid codes state it). The spectrum here agrees with them: the fundamental is total / sqrt(1 + THD²),
the distortion sits on the odd orders 3..49 falling as 1/k, DC is zero (an AC plant), and each order
carries real and reactive power in proportion to its volt-amperes, so the orders' powers sum to the
totals. A test can then read order 1, the THD and the totals and find them consistent.
"""

from __future__ import annotations

import math

from ..roles import ElementReading

MAX_ORDER = 500
DISTORTION_ORDERS = tuple(range(3, 50, 2))
_NORM = math.sqrt(sum(1.0 / k**2 for k in DISTORTION_ORDERS))
_SHARES = {k: 1.0 / k / _NORM for k in DISTORTION_ORDERS}  # the distortion's rms split over its orders

# Functions read per order (the others: FU, UTHD, ITHD, are per element only).
ORDER_FUNCTIONS = ("U", "I", "P", "S", "Q", "LAMBda", "PHI", "UHDF", "IHDF", "PHDF")


def spectrum(total_rms: float, thd_pct: float | None) -> dict[int, float]:
    """Rms of each order (0 is DC) of a quantity with this total and THD; orders not listed are zero."""
    distortion = (thd_pct or 0.0) / 100.0
    fundamental = total_rms / math.sqrt(1.0 + distortion**2)
    orders = {0: 0.0, 1: fundamental}
    orders.update({k: fundamental * distortion * share for k, share in _SHARES.items()})
    return orders


def _ratio_pct(part: float, whole: float) -> float:
    return 100.0 * part / whole if whole else math.nan


def order_value(reading: ElementReading, function: str, order: int | None) -> float:
    """`function` (one of ORDER_FUNCTIONS) of one order (0: DC, 1..MAX_ORDER), or of the total (None)."""
    voltages = spectrum(reading.voltage_v, reading.voltage_thd_pct)
    currents = spectrum(reading.current_a, reading.current_thd_pct)
    volt_amperes = {k: voltages[k] * currents.get(k, 0.0) for k in voltages}
    total_va = sum(volt_amperes.values())

    def power(k: int) -> tuple[float, float]:
        share = volt_amperes.get(k, 0.0) / total_va if total_va else 0.0
        return reading.power_w * share, reading.reactive_power_var * share

    if order is None:
        u, i, s = reading.voltage_v, reading.current_a, reading.apparent_power_va
        p, q = reading.power_w, reading.reactive_power_var
    else:
        u, i = voltages.get(order, 0.0), currents.get(order, 0.0)
        s = u * i
        p, q = power(order)
    values = {
        "U": u,
        "I": i,
        "P": p,
        "S": s,
        "Q": q,
        "LAMBda": p / s if s else math.nan,
        "PHI": math.degrees(math.atan2(q, p)) if s else math.nan,
        "UHDF": _ratio_pct(u, voltages[1]),
        "IHDF": _ratio_pct(i, currents[1]),
        "PHDF": _ratio_pct(p, power(1)[0]),
    }
    return values[function]
