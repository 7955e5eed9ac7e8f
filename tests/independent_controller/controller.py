"""The controller: a control loop on the site's Modbus devices and a 2030.5 thread for the utility's limits.

Every control period it reads the meter and the inverters, takes the limits
in force (utility.py) and writes what changed, refreshing each write well
within its revert time. Without a meter reading for meter_timeout_s it goes
to its fail-safe: PV to 0 %, no battery discharge.
"""

from __future__ import annotations

import sys
import threading
import time
from dataclasses import dataclass

from .config import Config, SiteSettings
from .dispatch import FAIL_SAFE, Commands, SiteNow, dispatch
from .events import Limits
from .sunspec import DeviceError, Inverter, Meter, ModbusDevice
from .utility import Utility

MODBUS_TIMEOUT_S = 1.0
PCT_DEADBAND = 0.5  # a cap this close to the one written is not written again before the refresh
W_DEADBAND = 50.0


@dataclass(frozen=True)
class Variant:
    name: str
    description: str
    ignores_import: bool = False
    keeps_superseded: bool = False
    no_failsafe: bool = False


VARIANTS = {
    v.name: v
    for v in (
        Variant("healthy", "limits export and import, follows the 2030.5 event rules, fails safe"),
        Variant("ignores-import", "never applies an import limit", ignores_import=True),
        Variant("keeps-superseded", "keeps enforcing a control after a newer one supersedes it", keeps_superseded=True),
        Variant("no-failsafe", "keeps its last setting when its meter goes silent", no_failsafe=True),
    )
}


def say(message: str) -> None:
    print(f"{time.strftime('%H:%M:%S')} {message}", file=sys.stderr, flush=True)


class Controller:
    def __init__(self, config: Config, variant: Variant) -> None:
        self.config = config
        self.variant = variant
        m = config.meter
        self.meter = Meter(ModbusDevice(m.name, m.host, m.port, m.unit, MODBUS_TIMEOUT_S))
        self.inverters = [
            Inverter(
                ModbusDevice(d.name, d.host, d.port, d.unit, MODBUS_TIMEOUT_S), d.role, d.rating_w, config.revert_s
            )
            for d in config.inverters
        ]
        firm = Limits(export_w=config.firm_export_w, import_w=config.firm_import_w)
        self.utility = Utility(config.server, firm, variant.keeps_superseded, say) if config.server else None
        self.firm = firm
        self.settings = SiteSettings(config.settings_file)
        self._stop = threading.Event()
        self._last_meter_s = -float("inf")
        self._import_w = 0.0
        self._commands: Commands | None = None
        self._written: dict[tuple[str, str], tuple[float | None, float]] = {}  # (device, what) -> (value, when)
        self._silent: set[str] = set()
        self.fail_safe = False

    def run(self) -> None:
        say(f"independent controller ({self.variant.name}) up: {len(self.inverters)} inverters")
        if self.utility is not None:
            self.utility.start()
        try:
            while not self._stop.is_set():
                started = time.monotonic()
                self.cycle()
                self._stop.wait(max(0.0, self.config.control_period_s - (time.monotonic() - started)))
        finally:
            if self.utility is not None:
                self.utility.stop()
            self.meter.device.close()
            for inv in self.inverters:
                inv.close()

    def stop(self) -> None:
        self._stop.set()

    def limits(self) -> Limits:
        """The strictest of the utility's (or the firm) limits and the site's own settings."""
        utility = self.utility.limits() if self.utility is not None else self.firm
        own = self.settings.limits()
        export_w = min((x for x in (utility.export_w, own.export_w) if x is not None), default=None)
        import_w = min((x for x in (utility.import_w, own.import_w) if x is not None), default=None)
        return Limits(export_w=export_w, import_w=None if self.variant.ignores_import else import_w)

    def cycle(self) -> None:
        now = time.monotonic()
        try:
            self._import_w = self.meter.import_w()
            self._last_meter_s = now
            if self.utility is not None:
                self.utility.report(self._import_w)
        except DeviceError:
            pass
        outputs = {}
        for inv in self.inverters:
            try:
                outputs[inv.name] = inv.output_w()
                if inv.name in self._silent:
                    self._silent.discard(inv.name)
                    say(f"{inv.name} answers again")
            except DeviceError as exc:
                if inv.name not in self._silent:
                    self._silent.add(inv.name)
                    say(f"{inv.name} silent: {exc}")
        meter_ok = now - self._last_meter_s <= self.config.meter_timeout_s
        if not meter_ok and self.variant.no_failsafe and self._commands is not None:
            commands = self._commands  # the fault: carries on with its last setting
        elif not meter_ok:
            if not self.fail_safe:
                say(f"meter silent for over {self.config.meter_timeout_s:g} s: fail-safe")
            self.fail_safe = True
            commands = FAIL_SAFE
        else:
            if self.fail_safe:
                say("meter answers again: leaving fail-safe")
            self.fail_safe = False
            limits = self.limits()
            pvs = [i for i in self.inverters if i.kind == "pv" and i.name in outputs]
            batteries = [i for i in self.inverters if i.kind == "battery" and i.name in outputs]
            site = SiteNow(
                import_w=self._import_w,
                pv_w=sum(outputs[i.name] for i in pvs),
                pv_rated_w=sum(i.rated_w for i in pvs),
                battery_w=sum(outputs[i.name] for i in batteries),
                battery_rated_w=sum(i.rated_w for i in batteries),
            )
            commands = dispatch(site, limits.export_w, limits.import_w, self.config.margin_w)
        self._commands = commands
        self.apply(commands, outputs)

    def _due(self, inv: Inverter, what: str, value: float | None, deadband: float) -> bool:
        last = self._written.get((inv.name, what))
        if last is None or (last[0] is None) != (value is None):
            return True
        changed = value is not None and last[0] is not None and abs(value - last[0]) > deadband
        return changed or time.monotonic() - last[1] >= self.config.revert_s / 3

    def _write(self, inv: Inverter, what: str, value: float | None, deadband: float, action) -> None:
        if not self._due(inv, what, value, deadband):
            return
        try:
            action()
            self._written[(inv.name, what)] = (value, time.monotonic())
        except DeviceError as exc:
            say(f"{inv.name}: {what} not written: {exc}")
            self._written.pop((inv.name, what), None)

    def apply(self, c: Commands, outputs: dict[str, float]) -> None:
        for inv in self.inverters:
            if inv.name not in outputs:
                continue  # silent: tried again once it answers
            if inv.kind == "pv":
                self._write(inv, "cap", c.pv_cap_pct, PCT_DEADBAND, lambda i=inv: i.set_cap_pct(c.pv_cap_pct))
                continue
            share = inv.rated_w / max(sum(i.rated_w for i in self.inverters if i.kind == "battery"), 1.0)
            discharge_pct = (
                100.0 if c.battery_discharge_cap_w is None else 100.0 * c.battery_discharge_cap_w * share / inv.rated_w
            )
            charge_w = inv.rated_w if c.battery_charge_cap_w is None else c.battery_charge_cap_w * share
            setpoint = None if c.battery_setpoint_w is None else c.battery_setpoint_w * share
            self._write(inv, "cap", discharge_pct, PCT_DEADBAND, lambda i=inv, p=discharge_pct: i.set_cap_pct(p))
            self._write(inv, "charge", charge_w, W_DEADBAND, lambda i=inv, w=charge_w: i.set_charge_cap_w(w))
            self._write(inv, "setpoint", setpoint, W_DEADBAND, lambda i=inv, w=setpoint: i.set_setpoint_w(w))
