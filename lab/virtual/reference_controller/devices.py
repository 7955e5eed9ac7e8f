"""The site devices as the controller sees them over Modbus: the meter and the inverters.

Inverters speak either the SunSpec 7xx models or the legacy ones; each family
takes a limit differently, so the family is found from the models the device
serves, not from configuration:

| what | 7xx | legacy |
|---|---|---|
| PV output cap | 704 WMaxLimPct + WMaxLimPctEna | 123 WMaxLimPct + WMaxLim_Ena |
| battery discharge cap | 704 WMaxLimPct + WMaxLimPctEna | 124 StorCtl_Mod bit DISCHARGE, OutWRte (% of WChaMax) |
| battery charge cap | 702 WChaRteMax (W) | 124 StorCtl_Mod bit CHARGE, InWRte (% of WChaMax) |
| battery made to discharge / charge | 704 WSet (WSetMod = 1, watts) + WSetEna | 124 OutWRte = p, InWRte = -p (both bits) |
| revert timer the controller refreshes | 704 WMaxLimPctRvrtTms, WSetRvrtTms | 123 WMaxLimPct_RvrtTms, 124 InOutWRte_RvrtTms |

A battery otherwise follows its own request (its local dispatch): the
controller's window [min_w, max_w] becomes caps while it contains zero, and a
setpoint (7xx WSet) only when it does not.
| output | 701 W | 103/102/101 W |

Values are written in engineering units, scaled by the scale factors the
device reports (instruments.sunspec reads them before each write); a legacy
PV cap is written as field controllers write it, model 123 read whole and
written back as one block from its ID/L header; a device that refuses that
(exception 2, a strict device) gets the points alone from then on. Every
write is sent only when the value changed or its revert timer is half gone,
so a controller's traffic stays proportionate.
"""

from __future__ import annotations

import math
from typing import Any

from flexbench.instruments.registry import DRIVERS
from flexbench.instruments.roles import Meter
from flexbench.instruments.sunspec.device import SunSpecModbusDevice
from flexbench.instruments.transports.modbus import ModbusExceptionResponse

from .site_file import DeviceEntry

LEGACY_MEASUREMENTS = (103, 102, 101)


class DeviceSilent(Exception):
    """A device did not answer (timeout, refused connection, exception response)."""


def _modbus_address(entry: DeviceEntry) -> str:
    return f"modbus+tcp://{entry.host}:{entry.port}/{entry.unit_id}"


class SiteMeter:
    """The PCC meter: SunSpec (201-204) or a register-map meter; import positive."""

    def __init__(self, entry: DeviceEntry, timeout_s: float) -> None:
        driver = "modbus-meter" if entry.family == "regmap" else "sunspec-meter"
        self.entry = entry
        meter = DRIVERS[driver](_modbus_address(entry), options=dict(entry.options), timeout_s=timeout_s)
        assert isinstance(meter, Meter)  # both drivers are meters
        self.driver = meter
        self.connected = False

    def read_import_w(self) -> float:
        try:
            if not self.connected:
                self.driver.connect()
                self.connected = True
            power_w = self.driver.read().power_w
        except Exception as exc:
            self.connected = False
            _close(self.driver)
            raise DeviceSilent(f"meter: {exc}") from None
        if math.isnan(power_w):
            raise DeviceSilent("meter: power not implemented")
        return float(power_w)

    def close(self) -> None:
        _close(self.driver)


class _Link(SunSpecModbusDevice):
    """A bare SunSpec Modbus client (discovery, model reads, scaled point writes)."""

    def __init__(self, address: str, timeout_s: float) -> None:
        self.address = address
        self.options: dict[str, Any] = {}
        self.timeout_s = timeout_s
        self.init_sunspec(address, self.options)


class Inverter:
    """One PV or battery inverter, 7xx or legacy, found out at connect."""

    def __init__(self, entry: DeviceEntry, timeout_s: float, revert_s: float, whole_models_only: bool = False) -> None:
        self.entry = entry
        self.name = entry.name
        self.kind = entry.kind
        self.rated_w = entry.rated_w
        self.revert_s = revert_s
        self.link = _Link(_modbus_address(entry), timeout_s)
        self.family: str | None = None  # "7xx" or "legacy" once connected
        self.cha_max_w = entry.rated_w  # legacy battery: 124 WChaMax, the base of its rates
        self._written: dict[str, tuple[Any, float]] = {}  # what -> (value, bench time written)
        self.connected = False
        self.whole_models = True  # legacy: model 123 written whole, until the device refuses that
        self.whole_models_only = whole_models_only  # fault rigid-writes: never the points alone

    def _connect(self) -> None:
        self.link.transport.connect()
        models = self.link.discover()
        if 704 in models:
            self.family = "7xx"
        elif 123 in models or 124 in models:
            self.family = "legacy"
        else:
            raise DeviceSilent(f"{self.name}: neither model 704 nor 123/124: nothing to control")
        if self.kind == "battery" and self.family == "legacy" and 124 not in models:
            raise DeviceSilent(f"{self.name}: a legacy battery needs model 124")
        self._written.clear()
        if self.kind == "battery" and self.family == "legacy":
            self.cha_max_w = float(self.link.read_point(124, "WChaMax") or self.rated_w)
        self.connected = True

    def _guard(self, what: str, action: Any) -> Any:
        try:
            if not self.connected:
                self._connect()
            return action()
        except DeviceSilent:
            raise
        except Exception as exc:
            self.connected = False
            _close(self.link)
            raise DeviceSilent(f"{self.name}: {what}: {exc}") from None

    def output_w(self) -> float:
        """Present AC output, W (battery: + discharge)."""

        def read() -> float:
            model = 701 if 701 in self.link.models else self.link.first_model(*LEGACY_MEASUREMENTS)
            if model is None:
                raise DeviceSilent(f"{self.name}: no measurement model (701, 101-103)")
            value = self.link.read_point(model, "W")
            return float(value) if value is not None else math.nan

        return self._guard("read output", read)

    def _due(self, what: str, value: Any, now_s: float) -> bool:
        last = self._written.get(what)
        return last is None or last[0] != value or (value is not None and now_s - last[1] >= self.revert_s / 2)

    def _write_whole(self, model_id: int, points: dict[str, Any]) -> None:
        """The model read, changed and written back as one block from its ID/L header, as field controllers do."""
        block = self.link.read_model(model_id)
        for point, value in points.items():
            block.set(point, value)
        self.link.transport.write_registers(self.link.location(model_id).start, list(block.registers))

    def set_cap_pct(self, pct: float, now_s: float) -> bool:
        """PV output cap in percent of rating; True when a write was sent."""
        pct = round(min(max(pct, 0.0), 100.0), 1)
        if not self._due("cap", pct, now_s):
            return False

        def write() -> None:
            tms = max(1, round(self.revert_s))
            if self.family == "7xx":
                self.link.write_points(
                    704,
                    {
                        "WMaxLimPctRvrtTms": tms,
                        "WMaxLimPctRvrt": 0.0,
                        "WMaxLimPctEnaRvrt": 1,
                        "WMaxLimPct": pct,
                        "WMaxLimPctEna": 1,
                    },
                )
            else:
                points = {"WMaxLimPct_RvrtTms": tms, "WMaxLimPct": pct, "WMaxLim_Ena": 1}
                if self.whole_models:
                    try:
                        self._write_whole(123, points)
                        return
                    except ModbusExceptionResponse as exc:
                        if exc.exception_code != 2 or self.whole_models_only:
                            raise
                        self.whole_models = False  # a strict device: the points alone from now on
                self.link.write_points(123, points)

        self._guard("write cap", write)
        self._written["cap"] = (pct, now_s)
        return True

    def set_battery_window(self, min_w: float, max_w: float, now_s: float) -> bool:
        """Hold a battery's output in [min_w, max_w] (+ discharge); True when a write was sent."""
        rated = self.rated_w
        min_w = round(min(max(min_w, -rated), rated))
        max_w = round(min(max(max_w, min_w), rated))
        tms = max(1, round(self.revert_s))
        if self.family != "7xx":  # 124: OutWRte caps discharge, InWRte caps charging (negative: forces)
            window = (round(100.0 * max_w / self.cha_max_w, 1), round(-100.0 * min_w / self.cha_max_w, 1))
            if not self._due("battery", window, now_s):
                return False
            self._guard(
                "write rates",
                lambda: self.link.write_points(
                    124, {"InOutWRte_RvrtTms": tms, "OutWRte": window[0], "InWRte": window[1], "StorCtl_Mod": 3}
                ),
            )
            self._written["battery"] = (window, now_s)
            return True
        sent = False
        discharge_pct = round(100.0 * max(max_w, 0) / rated, 1)
        if self._due("cap", discharge_pct, now_s):
            self._guard(
                "write discharge cap",
                lambda: self.link.write_points(
                    704,
                    {
                        "WMaxLimPctRvrtTms": tms,
                        "WMaxLimPctRvrt": 0.0,
                        "WMaxLimPctEnaRvrt": 1,
                        "WMaxLimPct": discharge_pct,
                        "WMaxLimPctEna": 1,
                    },
                ),
            )
            self._written["cap"] = (discharge_pct, now_s)
            sent = True
        charge_w = float(max(-min_w, 0))
        if self._due("charge", charge_w, now_s):
            self._guard("write charge cap", lambda: self.link.write_points(702, {"WChaRteMax": charge_w}))
            self._written["charge"] = (charge_w, now_s)
            sent = True
        setpoint = min_w if min_w > 0 else max_w if max_w < 0 else None
        if self._due("setpoint", setpoint, now_s):
            points = (
                {"WSetEna": 0}
                if setpoint is None
                else {"WSetRvrtTms": tms, "WSetRvrt": 0, "WSetEnaRvrt": 1, "WSetMod": 1, "WSet": setpoint, "WSetEna": 1}
            )
            self._guard("write setpoint", lambda: self.link.write_points(704, points))
            self._written["setpoint"] = (setpoint, now_s)
            sent = True
        return sent

    def close(self) -> None:
        _close(self.link)


def _close(device: Any) -> None:
    try:
        device.close()
    except Exception:
        pass
