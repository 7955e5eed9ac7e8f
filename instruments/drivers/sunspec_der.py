"""A DER that speaks SunSpec Modbus over Modbus TCP or RTU: models 1, 701, 702, 704, 705,
or the legacy 101-103, 120, 121, 123.

Role: DER. Address: ``modbus+tcp://host:port/unit`` or
``modbus+rtu:///dev/ttyUSB0?baud=...&unit=...``. Options: ``base_address``
(skip the search for the "SunS" marker at 40000, 0, 50000),
``adopt_timeout_s`` (how long 705 AdptCrvRslt may stay "in progress" after a
curve adoption request; 10 s by default).

Discovery, layouts, scale factors, "not implemented" sentinels (read as None)
and reconnection: see instruments.sunspec.device. The driver uses the
DER information models (70x) where the device has them, else the legacy
ones, so equipment that speaks only the older family still works:

==========================  ==============================  =================================
role method                 70x models                      legacy models
==========================  ==============================  =================================
identity()                  1 Mn, Md, SN, Vr                1
nameplate()                 702 WMaxRtg, VAMaxRtg,          120 WRtg, VARtg, VArRtgQ1
                            VarMaxInjRtg
measure()                   701 W, Var, LNV (LLV), Hz       103/102/101 W, VAr, mean PhVph*, Hz
set_active_power_limit_pct  704 WMaxLimPct, WMaxLimPctEna   123 WMaxLimPct, WMaxLim_Ena
set_active_power_w          704 WSet, WSetEna               (none: InstrumentError)
volt-var curve              705 Crv[n].Pt[k].V/.Var,        (none)
                            AdptCrvReq, Ena
==========================  ==============================  =================================

Positive power is export. ``measure().extra`` holds further points by
name in their model's units, except PF: cos φ (-1..1) on every model (the
legacy models give percent). read_point / write_point / write_points reach any
point of any model present, in engineering units; every point of a
write_points call is checked before the first request.

Safety: a power limit is converted to watts with the rated power (702
WMaxRtg, else 121 WMax, else 120 WRtg) and checked against
SafetyLimits.power_max_w before anything is written. Timeouts, reconnection,
exception responses and threads: see transports.modbus.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from typing import Any

from ..roles import DER, DERMeasurement, Identity, InstrumentError, Nameplate
from ..sunspec.device import ModelLocation, SunSpecModbusDevice
from ..sunspec.layout import ModelBlock

__all__ = ["ModelLocation", "SunSpecDER"]

MEASUREMENT_EXTRAS = ("VA", "PF", "A", "LLV", "LNV", "WL1", "WL2", "WL3", "VL1", "VL2", "VL3", "TmpAmb")
LEGACY_EXTRAS = ("VA", "PF", "A", "PhVphA", "PhVphB", "PhVphC", "DCV", "DCA", "DCW", "TmpCab")
LEGACY_INVERTERS = (103, 102, 101)
ADOPT_RESULTS: dict[object, str] = {0: "in progress", 1: "completed", 2: "failed"}
ADOPT_TIMEOUT_S = 10.0  # how long a device may take to adopt a curve, unless the option says otherwise
ADOPT_POLL_S = 0.1


class SunSpecDER(SunSpecModbusDevice, DER):
    """SunSpec DER (inverter, PCS) over Modbus."""

    model = "SunSpec DER (models 1, 701-705; legacy 101-103, 120, 121, 123)"

    def __init__(self, address: str, **kwargs: Any) -> None:
        super().__init__(address, **kwargs)
        self.init_sunspec(address, self.options)
        timeout = self.options.get("adopt_timeout_s", ADOPT_TIMEOUT_S)
        if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not timeout >= 0:
            raise ValueError(f"option adopt_timeout_s must be a number of seconds >= 0, got {timeout!r}")
        self.adopt_timeout_s = float(timeout)
        self._rated_power_w: float | None = None

    # -- connection -------------------------------------------------------------------
    def connect(self) -> None:
        with self.lock:
            self.transport.connect()
            self.discover()
            self._identity = None
            self._rated_power_w = self._rating_for_limits()

    def _rating_for_limits(self) -> float | None:
        if 702 in self.models:
            return self.nameplate().max_power_w
        if 121 in self.models:
            wmax = self.read_point(121, "WMax")
            if wmax is not None:
                return float(wmax)
        if 120 in self.models:
            return self.nameplate().max_power_w
        return None

    # -- DER role --------------------------------------------------------------------------
    def identity(self) -> Identity:
        return self.common_identity()

    def nameplate(self) -> Nameplate:
        if 702 in self.models:
            capacity = self.read_model(702)
            w, va, var = capacity.get("WMaxRtg"), capacity.get("VAMaxRtg"), capacity.get("VarMaxInjRtg")
            where = "model 702 does not implement WMaxRtg and VAMaxRtg"
        elif 120 in self.models:
            plate = self.read_model(120)
            w, va, var = plate.get("WRtg"), plate.get("VARtg"), plate.get("VArRtgQ1")
            where = "model 120 does not implement WRtg and VARtg"
        else:
            raise InstrumentError(
                "the device has neither model 702 nor model 120: no nameplate ratings", address=self.address
            )
        if w is None or va is None:
            raise InstrumentError(where, address=self.address)
        return Nameplate(
            max_power_w=float(w),
            max_apparent_power_va=float(va),
            max_reactive_power_var=None if var is None else float(var),
        )

    def measure(self) -> DERMeasurement:
        if 701 in self.models:
            return self._measure_701()
        legacy = self.first_model(*LEGACY_INVERTERS)
        if legacy is None:
            raise InstrumentError(
                "the device has neither model 701 nor a legacy inverter model (101-103)", address=self.address
            )
        return self._measure_legacy(legacy)

    def _measure_701(self) -> DERMeasurement:
        ac = self.read_model(701)
        voltage = ac.get("LNV")
        if voltage is None:
            voltage = ac.get("LLV")
        return DERMeasurement(
            power_w=_number(ac, "W"),
            reactive_power_var=_number(ac, "Var"),
            voltage_v=math.nan if voltage is None else float(voltage),
            frequency_hz=_number(ac, "Hz"),
            extra=_extras(ac, MEASUREMENT_EXTRAS),
        )

    def _measure_legacy(self, model_id: int) -> DERMeasurement:
        inv = self.read_model(model_id)
        phases = [
            float(v)
            for name in ("PhVphA", "PhVphB", "PhVphC")
            if name in inv.layout.points and (v := inv.get(name)) is not None
        ]
        return DERMeasurement(
            power_w=_number(inv, "W"),
            reactive_power_var=_number(inv, "VAr"),
            voltage_v=sum(phases) / len(phases) if phases else math.nan,
            frequency_hz=_number(inv, "Hz"),
            extra=_extras(inv, LEGACY_EXTRAS, pf_full_scale=100.0),  # 101-103 give PF in percent
        )

    def _controls(self) -> int:
        model = self.first_model(704, 123)
        if model is None:
            raise InstrumentError(
                "the device has neither model 704 nor model 123: no power limit control", address=self.address
            )
        return model

    def set_active_power_limit_pct(self, limit_pct: float | None) -> None:
        model = self._controls()
        enable = "WMaxLimPctEna" if model == 704 else "WMaxLim_Ena"
        if limit_pct is None:
            self.write_point(model, enable, 0)
            return
        limit_pct = float(limit_pct)
        if not 0.0 <= limit_pct <= 100.0:
            raise ValueError(f"active power limit must be 0..100 % of rated power, got {limit_pct:g}")
        if self.safety.power_max_w is not None:
            if self._rated_power_w is None:
                raise InstrumentError(
                    "cannot check the limit against power_max_w: the device's rated power (702 WMaxRtg, 121 WMax "
                    "or 120 WRtg) is unknown",
                    address=self.address,
                )
            self.safety.check("power", limit_pct / 100.0 * self._rated_power_w, "w", address=self.address)
        self.write_points(model, {"WMaxLimPct": limit_pct, enable: 1})

    def set_active_power_w(self, power_w: float | None) -> None:
        """Model 704 WSet (positive = injection, e.g. discharge) with WSetEna; None releases it."""
        if 704 not in self.models:
            raise InstrumentError("an active power setpoint needs model 704 (WSet)", address=self.address)
        if power_w is None:
            self.write_point(704, "WSetEna", 0)
            return
        power_w = float(power_w)
        if self.safety.power_max_w is not None:
            self.safety.check("power", abs(power_w), "w", address=self.address)
        with self.lock:
            self.write_point(704, "WSet", power_w)
            self.write_point(704, "WSetEna", 1)

    def active_power_limit_pct(self) -> float | None:
        model = self._controls()
        controls = self.read_model(model)
        if controls.get("WMaxLimPctEna" if model == 704 else "WMaxLim_Ena") != 1:
            return None
        value = controls.get("WMaxLimPct")
        return None if value is None else float(value)

    # -- volt-var (model 705) -----------------------------------------------------------------
    def volt_var_curve(self, curve: int = 0) -> list[tuple[float, float]]:
        """Active points of a curve as (voltage % of VRef, reactive power % of the var reference); curve 0 is the one in use."""
        block = self._volt_var()
        prefix = f"Crv[{curve}]"
        if f"{prefix}.ActPt" not in block.layout.points:
            raise InstrumentError(f"model 705 has no curve {curve} (NCrv = {block.get('NCrv')})", address=self.address)
        points = []
        for k in range(int(block.get(f"{prefix}.ActPt") or 0)):
            v, var = block.get(f"{prefix}.Pt[{k}].V"), block.get(f"{prefix}.Pt[{k}].Var")
            points.append((math.nan if v is None else float(v), math.nan if var is None else float(var)))
        return points

    def volt_var_enabled(self) -> bool:
        return self._volt_var().get("Ena") == 1

    def set_volt_var_curve(self, points: Sequence[tuple[float, float]], *, curve: int = 1, enable: bool = True) -> None:
        """Write a curve into a writable slot, have the device adopt it, then enable volt-var.

        Points are (voltage % of VRef, reactive power % of the var reference),
        with voltages strictly increasing; checked before anything is sent.
        """
        block = self._volt_var()
        prefix = f"Crv[{curve}]"
        n_points = int(block.get("NPt") or 0)
        if f"{prefix}.ActPt" not in block.layout.points:
            raise ValueError(f"model 705 has curves 0..{int(block.get('NCrv') or 0) - 1}, not {curve}")
        if block.get(f"{prefix}.ReadOnly") == 1:
            raise ValueError(f"volt-var curve {curve} is read-only on this device: write another curve")
        if not 2 <= len(points) <= n_points:
            raise ValueError(f"a volt-var curve needs 2..{n_points} points (NPt), got {len(points)}")
        volts = [float(v) for v, _ in points]
        if any(b <= a for a, b in zip(volts, volts[1:])):
            raise ValueError(f"volt-var curve voltages must increase strictly, got {volts}")
        values: dict[str, float] = {f"{prefix}.ActPt": len(points)}
        for k, (v, var) in enumerate(points):
            values[f"{prefix}.Pt[{k}].V"] = float(v)
            values[f"{prefix}.Pt[{k}].Var"] = float(var)
        with self.lock:
            self.write_points(705, values)
            self.write_point(705, "AdptCrvReq", curve + 1)
            result = self._adoption_result()
            if result != 1:
                raise InstrumentError(
                    f"the device did not adopt volt-var curve {curve}: AdptCrvRslt = {result} "
                    f"({ADOPT_RESULTS.get(result, 'unknown')})"
                    + (f" after {self.adopt_timeout_s:g} s (option adopt_timeout_s)" if result == 0 else ""),
                    address=self.address,
                    command="write 705 AdptCrvReq",
                )
            self.write_point(705, "Ena", 1 if enable else 0)

    def _adoption_result(self) -> int | float | str | None:
        """AdptCrvRslt once it leaves 0 (in progress), or 0 when adopt_timeout_s passes first."""
        deadline = time.monotonic() + self.adopt_timeout_s
        while True:
            result = self.read_point(705, "AdptCrvRslt")
            if result != 0 or time.monotonic() >= deadline:
                return result
            time.sleep(ADOPT_POLL_S)

    def _volt_var(self) -> ModelBlock:
        if 705 not in self.models:
            raise InstrumentError("the device has no model 705 (volt-var)", address=self.address)
        return self.read_model(705)

    # -- records ------------------------------------------------------------------------------------
    def snapshot(self) -> dict[str, Any]:
        with self.lock:
            ident = self.identity()
            snap: dict[str, Any] = {
                "driver": "sunspec-der",
                "address": self.address,
                "manufacturer": ident.manufacturer,
                "model": ident.model,
                "serial": ident.serial,
                "firmware": ident.firmware,
                "base_address": self.base_address,
                "models": self.model_list(),
            }
            if 702 in self.models or 120 in self.models:
                plate = self.nameplate()
                snap["rated_power_w"] = plate.max_power_w
                snap["rated_apparent_power_va"] = plate.max_apparent_power_va
                snap["rated_reactive_power_var"] = plate.max_reactive_power_var
            if 704 in self.models:
                controls = self.read_model(704)
                for name in (
                    "WMaxLimPctEna",
                    "WMaxLimPct",
                    "WMaxLimPctRvrt",
                    "WMaxLimPctEnaRvrt",
                    "WMaxLimPctRvrtTms",
                    "WSetEna",
                    "WSet",
                    "WRmp",
                ):
                    snap[f"704.{name}"] = controls.get(name)
            if 123 in self.models:
                controls = self.read_model(123)
                for name in ("Conn", "WMaxLim_Ena", "WMaxLimPct", "WMaxLimPct_RvrtTms", "OutPFSet_Ena", "VArPct_Ena"):
                    snap[f"123.{name}"] = controls.get(name)
            if 705 in self.models:
                snap["705.Ena"] = self._volt_var().get("Ena")
                snap["705.curve"] = self.volt_var_curve(0)
            return snap


def _number(block: ModelBlock, name: str) -> float:
    value = block.get(name)
    return math.nan if value is None else float(value)


def _extras(block: ModelBlock, names: Sequence[str], pf_full_scale: float = 1.0) -> dict[str, float]:
    """Implemented points by name; PF divided by the model's unity value, so it is cos φ on every model."""
    extra = {name: float(v) for name in names if name in block.layout.points and (v := block.get(name)) is not None}
    if "PF" in extra:
        extra["PF"] /= pf_full_scale
    return extra
