"""Emulated SunSpec DER: a SunSpec Modbus map on loopback TCP or a virtual serial pair (RTU).

The map (see sunspec_device.SunSpecEmulator) holds the requested models,
default 1, 701, 702, 704. Supported and populated: 1 (common), 701 (AC
measurement), 702 (capacity), 704 (AC controls), 705 (volt-var curves), and
the legacy 101/102/103 (inverter measurements), 120 (nameplate), 121
(settings), 123 (immediate controls), so drivers of either family meet a
device that speaks theirs. Points the emulator does not implement hold their
"not implemented" sentinel (e.g. 701 TmpAmb, 103 TmpSnk).

Device behaviour beyond the map's checks: percentages outside 0-100 % are
refused with exception 3 (704 WMaxLimPct, 123 WMaxLimPct, ...); writing 705
AdptCrvReq = n copies curve n over the active curve 1 (which is read-only)
and reports AdptCrvRslt = 1 (completed), or 2 (failed) for a curve that does
not exist; with ``adopt_time_s`` > 0 it reports 0 (in progress) until the
first read that much later, as a device that takes time to adopt a curve.

Hooks for the virtual lab:

- ``get(model_id, point)`` / ``set(model_id, point, value)`` in engineering units
  (scale factors applied; None for, or to make, an unimplemented point);
- ``on_write(model_id, point, value)``: called, without the lock held, for each
  point a client wrote;
- ``responding``: False accepts connections and requests but never replies;
- ``drop_connections()``: close every client connection, as a device that reboots would.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from .common import Clock
from .modbus_server import ModbusRequestRecord
from .sunspec_device import DEFAULT_BASE, SunSpecEmulator

__all__ = ["DEFAULT_BASE", "ModbusRequestRecord", "SunSpecDEREmulator"]

# Engineering ranges a device enforces on its control points.
VALUE_RANGES: dict[tuple[int, str], tuple[float, float]] = {
    (704, "WMaxLimPct"): (0.0, 100.0),
    (704, "WMaxLimPctRvrt"): (0.0, 100.0),
    (704, "WSetPct"): (-100.0, 100.0),
    (704, "WSetPctRvrt"): (-100.0, 100.0),
    (704, "VarSetPct"): (-100.0, 100.0),
    (704, "VarSetPctRvrt"): (-100.0, 100.0),
    (123, "WMaxLimPct"): (0.0, 100.0),
    (123, "OutPFSet"): (-1.0, 1.0),
    (123, "VArWMaxPct"): (-100.0, 100.0),
    (123, "VArMaxPct"): (-100.0, 100.0),
    (705, "AdptCrvReq"): (0.0, 100.0),
}

DEFAULT_IDENTITY = {"manufacturer": "flexbench", "model": "Virtual DER", "serial": "EMU-0001", "firmware": "1.0.0"}
DEFAULT_RATED_POWER_W = 10000.0
DEFAULT_REACTIVE_RATIO = 0.44  # rated var per rated VA when no reactive rating is given
DEFAULT_NOMINAL_VOLTAGE_V = 240.0
_IDENTITY_POINTS = {"manufacturer": "Mn", "model": "Md", "serial": "SN", "firmware": "Vr", "options": "Opt"}
_NAMEPLATE_ALIASES = {
    "rated_power_w": "max_power_w",
    "rated_apparent_power_va": "max_apparent_power_va",
    "rated_reactive_power_var": "max_reactive_power_var",
}
_NAMEPLATE_POINTS = {
    "max_power_w": ("WMaxRtg", "WMax"),
    "max_apparent_power_va": ("VAMaxRtg", "VAMax"),
    "max_reactive_power_var": ("VarMaxInjRtg", "VarMaxInj", "VarMaxAbsRtg", "VarMaxAbs"),
    "nominal_voltage_v": ("VNomRtg", "VNom"),
}
# A default volt-var curve (percent of nominal voltage, percent of var rating), as 705 points.
DEFAULT_VOLT_VAR_CURVE = ((92.0, 30.0), (98.0, 0.0), (102.0, 0.0), (108.0, -30.0))


def _nameplate(given: Mapping[str, Any]) -> dict[str, Any]:
    """Ratings by canonical key, then any 702 points given by name (those win).

    Keys: Nameplate's field names (max_power_w, max_apparent_power_va,
    max_reactive_power_var), the bench's rated_* names, nominal_voltage_v, or
    702 point names (WMaxRtg, VAMaxRtg, VarMaxInjRtg, VNomRtg, ...).
    """
    plate = {_NAMEPLATE_ALIASES.get(k, k): v for k, v in given.items()}

    def pick(key: str, point: str, default: float) -> float:
        value = plate.get(key, plate.get(point))
        return float(default if value is None else value)

    canonical = {"max_power_w": pick("max_power_w", "WMaxRtg", DEFAULT_RATED_POWER_W)}
    canonical["max_apparent_power_va"] = pick("max_apparent_power_va", "VAMaxRtg", canonical["max_power_w"])
    canonical["max_reactive_power_var"] = pick(
        "max_reactive_power_var", "VarMaxInjRtg", DEFAULT_REACTIVE_RATIO * canonical["max_apparent_power_va"]
    )
    if "nominal_voltage_v" in plate:
        canonical["nominal_voltage_v"] = float(plate["nominal_voltage_v"])
    points = {k: v for k, v in plate.items() if k not in _NAMEPLATE_POINTS}
    return {**canonical, **points}


def _exponent_for(value: float, limit: int) -> int:
    """Smallest scale-factor exponent (>= 0) at which 1.2 x value fits the register."""
    exponent = 0
    while abs(value) * 1.2 / (10.0**exponent) > limit and exponent < 10:
        exponent += 1
    return exponent


class SunSpecDEREmulator(SunSpecEmulator):
    """A SunSpec DER's Modbus map, served on 127.0.0.1 (or a serial pair) at start()."""

    value_ranges = VALUE_RANGES

    def __init__(
        self,
        models: Iterable[int] = (1, 701, 702, 704),
        unit_id: int = 1,
        nameplate: Mapping[str, float] | None = None,
        identity: Mapping[str, str] | None = None,
        clock: Clock | None = None,
        *,
        base_address: int = DEFAULT_BASE,
        counts: Mapping[str, int] | None = None,
        link: str = "tcp",
        baud: int = 115200,
    ) -> None:
        super().__init__(models, unit_id, clock, base_address=base_address, counts=counts, link=link, baud=baud)
        self.adopt_time_s = 0.0  # how long a 705 curve adoption stays IN_PROGRESS
        self._adoption: tuple[int, float] | None = None  # (curve from 1, clock time it completes)
        self._populate(_nameplate(nameplate or {}), dict(DEFAULT_IDENTITY, **(identity or {})))

    # -- initial content -------------------------------------------------------------
    def _populate(self, nameplate: dict[str, Any], identity: dict[str, Any]) -> None:
        b = self.blocks
        if 1 in b:
            for key, value in identity.items():
                point = _IDENTITY_POINTS.get(key, key)
                b[1].set(point, None if value is None else str(value))
            b[1].set("DA", self.unit_id)
        rated_w = nameplate["max_power_w"]
        rated_va = nameplate["max_apparent_power_va"]
        rated_var = nameplate["max_reactive_power_var"]
        w_sf = _exponent_for(max(rated_w, rated_va, rated_var), 32767)
        # Centiamps where they fit: at 100 V or more the current in centiamps is at most the VA rating.
        a_sf = -2 + _exponent_for(rated_va, 32767)
        if 701 in b:
            m = b[701]
            for sf, value in (
                ("W_SF", w_sf),
                ("VA_SF", w_sf),
                ("Var_SF", w_sf),
                ("PF_SF", -3),
                ("A_SF", a_sf),
                ("V_SF", -1),
                ("Hz_SF", -2),
                ("TotWh_SF", 0),
                ("TotVarh_SF", 0),
                ("Tmp_SF", -1),
            ):
                m.set_raw(sf, value)
            for point, value in (
                ("ACType", 2),
                ("St", 1),
                ("InvSt", 3),
                ("ConnSt", 1),
                ("W", 0.0),
                ("VA", 0.0),
                ("Var", 0.0),
                ("PF", 1.0),
                ("A", 0.0),
                ("LLV", 0.0),
                ("LNV", 0.0),
                ("Hz", 0.0),
                ("TotWhInj", 0),
                ("TotWhAbs", 0),
            ):
                m.set(point, value)
        if 702 in b:
            m = b[702]
            for sf, value in (
                ("W_SF", w_sf),
                ("VA_SF", w_sf),
                ("Var_SF", w_sf),
                ("PF_SF", -3),
                ("V_SF", -1),
                ("A_SF", a_sf),
            ):
                m.set_raw(sf, value)
            for key, value in nameplate.items():
                for point in _NAMEPLATE_POINTS.get(key, (key,)):
                    m.set(point, value)
        if 704 in b:
            m = b[704]
            for sf, value in (
                ("PF_SF", -3),
                ("WMaxLimPct_SF", -1),
                ("WSet_SF", w_sf),
                ("WSetPct_SF", -1),
                ("VarSet_SF", w_sf),
                ("VarSetPct_SF", -1),
            ):
                m.set_raw(sf, value)
            for point, value in (
                ("WMaxLimPctEna", 0),
                ("WMaxLimPct", 100.0),
                ("WMaxLimPctRvrt", 100.0),
                ("WMaxLimPctEnaRvrt", 0),
                ("WMaxLimPctRvrtTms", 0),
                ("WMaxLimPctRvrtRem", 0),
                ("WSetEna", 0),
                ("WSetMod", 0),
                ("WSet", 0.0),
                ("WSetPct", 0.0),
                ("VarSetEna", 0),
                ("WRmp", 0),
                ("WRmpRef", 1),
            ):
                m.set(point, value)
        if 705 in b:
            self._populate_705(b[705])
        for legacy in (101, 102, 103):
            if legacy in b:
                self._populate_inverter(b[legacy], w_sf, a_sf)
        if 120 in b:
            m = b[120]
            for sf, value in (
                ("WRtg_SF", w_sf),
                ("VARtg_SF", w_sf),
                ("VArRtg_SF", w_sf),
                ("ARtg_SF", -1),
                ("PFRtg_SF", -3),
            ):
                m.set_raw(sf, value)
            m.set("DERTyp", 4)  # PV
            for point, value in (
                ("WRtg", rated_w),
                ("VARtg", rated_va),
                ("VArRtgQ1", rated_var),
                ("VArRtgQ2", rated_var),
                ("VArRtgQ3", -rated_var),
                ("VArRtgQ4", -rated_var),
                ("ARtg", rated_va / nameplate.get("nominal_voltage_v", DEFAULT_NOMINAL_VOLTAGE_V)),
                ("PFRtgQ1", -0.9),  # the sign follows the quadrant's reactive power
                ("PFRtgQ2", -0.9),
                ("PFRtgQ3", 0.9),
                ("PFRtgQ4", 0.9),
            ):
                m.set(point, value)
        if 121 in b:
            m = b[121]
            for sf, value in (
                ("WMax_SF", w_sf),
                ("VRef_SF", -1),
                ("VRefOfs_SF", -1),
                ("VMinMax_SF", -1),
                ("VAMax_SF", w_sf),
                ("VArMax_SF", w_sf),
                ("WGra_SF", -1),
                ("PFMin_SF", -3),
                ("MaxRmpRte_SF", 0),
                ("ECPNomHz_SF", -2),
            ):
                m.set_raw(sf, value)
            nominal_v = nameplate.get("nominal_voltage_v", DEFAULT_NOMINAL_VOLTAGE_V)
            for point, value in (
                ("WMax", rated_w),
                ("VRef", nominal_v),
                ("VRefOfs", 0.0),
                ("VMax", 1.1 * nominal_v),
                ("VMin", 0.88 * nominal_v),
                ("VAMax", rated_va),
                ("VArMaxQ1", rated_var),
                ("VArMaxQ4", -rated_var),
                ("ECPNomHz", 60.0),
            ):
                m.set(point, value)
        if 123 in b:
            m = b[123]
            for sf, value in (("WMaxLimPct_SF", -1), ("OutPFSet_SF", -3), ("VArPct_SF", -1)):
                m.set_raw(sf, value)
            for point, value in (
                ("Conn", 1),
                ("WMaxLimPct", 100.0),
                ("WMaxLim_Ena", 0),
                ("OutPFSet", 1.0),
                ("OutPFSet_Ena", 0),
                ("VArPct_Ena", 0),
                ("Conn_WinTms", 0),
                ("Conn_RvrtTms", 0),
                ("WMaxLimPct_WinTms", 0),
                ("WMaxLimPct_RvrtTms", 0),
                ("WMaxLimPct_RmpTms", 0),
            ):
                m.set(point, value)

    def _populate_inverter(self, m, w_sf: int, a_sf: int) -> None:
        """Legacy 101/102/103 inverter measurements: zeros, with temperatures other than the cabinet's unimplemented."""
        for sf, value in (
            ("A_SF", a_sf),
            ("V_SF", -1),
            ("W_SF", w_sf),
            ("Hz_SF", -2),
            ("VA_SF", w_sf),
            ("VAr_SF", w_sf),
            ("PF_SF", -1),
            ("WH_SF", 0),
            ("DCA_SF", -2),
            ("DCV_SF", -1),
            ("DCW_SF", w_sf),
            ("Tmp_SF", -1),
        ):
            m.set_raw(sf, value)
        for point in m.layout.points:
            if point in ("A", "W", "VA", "VAr", "Hz", "DCA", "DCV", "DCW") or point.startswith(("Aph", "PhV", "PPV")):
                m.set(point, 0.0)
        m.set("PF", 100.0)
        m.set("WH", 1)
        m.set("TmpCab", 25.0)
        m.set("St", 4)  # MPPT
        m.set("Evt1", 0)
        m.set("Evt2", 0)

    def _populate_705(self, m) -> None:
        for sf, value in (("V_SF", -2), ("DeptRef_SF", -2), ("RspTms_SF", 0)):
            m.set_raw(sf, value)
        m.set("Ena", 0)
        m.set("AdptCrvReq", 0)  # no request yet
        m.set("AdptCrvRslt", 1)
        m.set("RvrtTms", 0)
        m.set("RvrtCrv", 0)
        for c in range(int(m.raw("NCrv") or 0)):
            prefix = f"Crv[{c}]"
            m.set(f"{prefix}.ActPt", len(DEFAULT_VOLT_VAR_CURVE))
            m.set(f"{prefix}.DeptRef", 1)  # percent of maximum vars
            m.set(f"{prefix}.Pri", 1)  # active power priority
            m.set(f"{prefix}.VRef", 100.0)
            m.set(f"{prefix}.VRefAutoEna", 0)
            m.set(f"{prefix}.RspTms", 10)
            m.set(f"{prefix}.ReadOnly", 1 if c == 0 else 0)
            for p in range(int(m.raw("NPt") or 0)):
                v_pct, var_pct = DEFAULT_VOLT_VAR_CURVE[min(p, len(DEFAULT_VOLT_VAR_CURVE) - 1)]
                m.set(f"{prefix}.Pt[{p}].V", v_pct)
                m.set(f"{prefix}.Pt[{p}].Var", var_pct)

    # -- device behaviour after a write -------------------------------------------------------
    def after_write(self, model_id: int, point: str) -> None:
        if model_id == 705 and point == "AdptCrvReq":
            m = self.blocks[705]
            requested = int(m.raw("AdptCrvReq") or 0)
            curves = int(m.raw("NCrv") or 0)
            if not 1 <= requested <= curves:
                m.set("AdptCrvRslt", 2)  # FAILED
                return
            if self.adopt_time_s > 0:
                m.set("AdptCrvRslt", 0)  # IN_PROGRESS until a read after adopt_time_s
                self._adoption = (requested, self.clock.now() + self.adopt_time_s)
                return
            self._adopt(requested)

    def read_registers(self, table: str, address: int, count: int):
        with self.lock:
            if self._adoption is not None and self.clock.now() >= self._adoption[1]:
                self._adopt(self._adoption[0])
        return super().read_registers(table, address, count)

    def _adopt(self, requested: int) -> None:
        """Copy curve `requested` (from 1) over the active curve and report COMPLETED."""
        m = self.blocks[705]
        self._adoption = None
        source, target = f"Crv[{requested - 1}].", "Crv[0]."
        for name, spec in m.layout.points.items():
            if name.startswith(source) and not name.endswith(".ReadOnly"):
                other = m.layout.point(target + name[len(source) :])
                m.registers[other.offset : other.end] = m.registers[spec.offset : spec.end]
        m.set("AdptCrvRslt", 1)  # COMPLETED
