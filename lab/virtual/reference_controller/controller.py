"""The reference controller's main loop: meter in, caps and setpoints out, once a control period."""

from __future__ import annotations

import json
import logging
import math
import sys
import threading
from collections import deque
from pathlib import Path

from flexbench.instruments.emulators.modbus_pcs import ModbusPCSEmulator

from . import CONTROL_PERIOD_S, MARGIN_W, METER_FAILURES, METER_TIMEOUT_S, RETRY_S, REVERT_S
from .control import Commands, DeviceView, dispatch, fail_safe
from .devices import DeviceSilent, Inverter, SiteMeter
from .faults import Fault
from .ramp import LimitRamp
from .site_file import BenchTime, SiteFile
from .utility import UtilityLink

log = logging.getLogger(__name__)
OBEY_TOLERANCE_PCT = 3.0  # an output above its cap by more than this share of rating ...
OBEY_DETECT_S = 5.0  # ... for this long: the inverter does not follow its cap
MODBUS_TIMEOUT_S = 2.0  # bench seconds, at least MIN_WALL_TIMEOUT_S of wall time
MIN_WALL_TIMEOUT_S = 0.2


def say(message: str) -> None:
    """One line on stderr: the bench keeps it in the run folder."""
    print(message, file=sys.stderr, flush=True)


class ReferenceController:
    def __init__(self, site: SiteFile, fault: Fault, settings_path: Path | None = None) -> None:
        self.site = site
        self.settings_path = settings_path  # its own configuration file of site settings, if any
        self._settings_mtime_ns: int | None = None
        self.fault = fault
        self.clock = BenchTime(site.time_scale, site.bench_s, site.wall_s)
        timeout_s = max(MIN_WALL_TIMEOUT_S, MODBUS_TIMEOUT_S / site.time_scale)
        self.meter = SiteMeter(site.meter, timeout_s)
        self.inverters = [Inverter(e, timeout_s, REVERT_S, fault.whole_models_only) for e in site.inverters]
        self.api = ModbusPCSEmulator(
            clock=self.clock,
            identity={
                "manufacturer": "flexbench",
                "model": "Reference controller",
                "serial": "REF-0001",
                "firmware": f"1.0.0{'-' + fault.name if fault.name != 'healthy' else ''}"[:8],
            },
        )
        self.api.listen = (site.api_host, site.api_port)
        rated_w = sum(e.rated_w for e in site.inverters)
        self.utility = (
            UtilityLink(
                site.utility,
                self.clock,
                trusts_time=fault.trusts_time,
                freezes_on_loss=fault.freezes_on_loss,
                rated_w=rated_w,
            )
            if site.utility
            else None
        )
        self._stop = threading.Event()
        self._last_meter: tuple[float, float] | None = None
        self._export_ramp, self._import_ramp = LimitRamp(), LimitRamp()  # the utility's limits, moved over rampTms
        self._meter_failures = 0
        self._silent_until: dict[str, float] = {}
        self._over_cap_since: dict[str, float] = {}
        self._disobeying: set[str] = set()
        self._cap_pct = 100.0
        self._caps: deque[tuple[float, float]] = deque([(0.0, 100.0)])  # (bench time, PV cap %) as applied
        self._pending: deque[tuple[float, Commands]] = deque()
        self.fail_safe = False
        self._started_s = 0.0
        self._outputs: dict[str, float | None] = {}
        self._last_w: dict[str, float] = {}
        self._retrying: set[str] = set()
        self._answered: set[str] = set()

    # -- lifecycle ---------------------------------------------------------------------
    def run(self) -> None:
        self.api.start()
        if self.utility is not None:
            self.utility.start()
        self._started_s = self.clock.now()
        say(
            f"reference controller ({self.fault.name}) up: local API {self.api.address}, "
            f"{len(self.inverters)} inverters, meter {self.site.meter.host}:{self.site.meter.port}"
        )
        try:
            self.clock.run_every(CONTROL_PERIOD_S, self._stop, self.cycle)
        finally:
            self.close()

    def stop(self) -> None:
        self._stop.set()

    def close(self) -> None:
        if self.utility is not None:
            self.utility.stop()
        for inv in self.inverters:
            inv.close()
        self.meter.close()
        self.api.stop()

    def reload_settings(self) -> bool:
        """Take the site settings from its configuration file when the file changed; ValueError naming the file
        on a bad one. True when settings were taken."""
        path = self.settings_path
        if path is None:
            return False
        try:
            mtime_ns = path.stat().st_mtime_ns
        except FileNotFoundError:
            return False
        if mtime_ns == self._settings_mtime_ns:
            return False
        self._settings_mtime_ns = mtime_ns
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            if not isinstance(data, dict):
                raise ValueError("expected a JSON object of settings")
            self.api.apply_settings(**data)
        except (ValueError, TypeError) as exc:
            raise ValueError(f"{path}: {exc}") from None
        say(f"settings from {path}: {data}")
        return True

    # -- one control period ---------------------------------------------------------------
    def cycle(self) -> None:
        try:
            self.reload_settings()
        except ValueError as exc:  # keeps the settings it had, as a field controller does with a bad file
            log.warning("%s", exc)
        now_s = self.clock.now()
        if self.fault.crash_after_s is not None and now_s - self._started_s > self.fault.crash_after_s:
            raise RuntimeError(f"internal error after {now_s - self._started_s:.0f} s (fault variant 'crash')")
        try:
            self._last_meter = (now_s, self.meter.read_import_w())
            self._meter_failures = 0
        except DeviceSilent as exc:
            self._meter_failures += 1
            log.debug("%s", exc)
        views = self._read_inverters(now_s)
        if views is None:
            return  # fault halts-on-silent
        now_s = self.clock.now()  # reads may have waited for a silent device
        meter_ok = self._last_meter is not None and (
            self._meter_failures < METER_FAILURES or now_s - self._last_meter[0] <= METER_TIMEOUT_S
        )
        if not meter_ok and self.fault.no_fail_safe:
            # keeps its last commands, does not say it is in fail-safe, and mirrors its last reading as new
            self._publish(fresh=True)
            return
        if not meter_ok:
            if not self.fail_safe:
                say(f"meter silent for over {METER_TIMEOUT_S:g} s ({self._meter_failures} reads failed): fail-safe")
            self.fail_safe = True
            commands = fail_safe(views)
        else:
            if self.fail_safe:
                say("meter back: leaving fail-safe")
            self.fail_safe = False
            assert self._last_meter is not None
            export_w, import_w = self.limits()
            grid_charging = self.fault.ignores_limits or self.api.settings().mode not in ("export-only", "no-exchange")
            commands = dispatch(self._last_meter[1], views, export_w, import_w, MARGIN_W, grid_charging=grid_charging)
        self._pending.append((now_s + self.fault.delay_s, commands))
        while self._pending and self._pending[0][0] <= now_s:
            self._apply(self._pending.popleft()[1], now_s)
        self._publish()

    def _read_inverters(self, now_s: float) -> list[DeviceView] | None:
        """Outputs of the inverters that answer; a silent one is retried in the background, never waited for."""
        views = []
        for inv in self.inverters:
            output: float | None = None
            if inv.name in self._answered:  # a background retry got an answer
                self._answered.discard(inv.name)
                self._silent_until.pop(inv.name, None)
                say(f"inverter {inv.name} answers again")
            if self.fault.halts_on_silent or inv.name not in self._silent_until:
                try:
                    output = inv.output_w()
                    if math.isnan(output):
                        output = None
                except DeviceSilent as exc:
                    if self.fault.halts_on_silent:
                        return None
                    say(f"inverter {inv.name} silent ({exc}); the others hold the limits")
                    self._silent_until[inv.name] = self.clock.now() + RETRY_S
            elif now_s >= self._silent_until[inv.name] and inv.name not in self._retrying:
                self._retry(inv)
            if output is not None:
                self._last_w[inv.name] = output
            self._outputs[inv.name] = output
            views.append(
                DeviceView(
                    inv.name,
                    inv.kind,
                    inv.rated_w,
                    output,
                    self._obeys(inv, output, now_s),
                    self._last_w.get(inv.name, 0.0),
                )
            )
        return views

    def _retry(self, inv: Inverter) -> None:
        self._retrying.add(inv.name)

        def attempt() -> None:
            try:
                inv.output_w()
                self._answered.add(inv.name)
            except DeviceSilent:
                self._silent_until[inv.name] = self.clock.now() + RETRY_S
            finally:
                self._retrying.discard(inv.name)

        threading.Thread(target=attempt, name=f"retry-{inv.name}", daemon=True).start()

    def _obeys(self, inv: Inverter, output_w: float | None, now_s: float) -> bool:
        """Whether a PV inverter follows its cap (always, for the trusts-inverters fault)."""
        if inv.kind != "pv" or output_w is None or self.fault.trusts_inverters:
            return True
        while len(self._caps) > 1 and self._caps[1][0] <= now_s - OBEY_DETECT_S:
            self._caps.popleft()
        cap_pct = max(pct for _, pct in self._caps)  # a device still ramping down from a higher cap is not disobeying
        over = output_w > (cap_pct + OBEY_TOLERANCE_PCT) / 100.0 * inv.rated_w
        if not over:
            self._over_cap_since.pop(inv.name, None)
            if inv.name in self._disobeying:
                self._disobeying.discard(inv.name)
                say(f"inverter {inv.name} follows its cap again")
            return True
        since = self._over_cap_since.setdefault(inv.name, now_s)
        if now_s - since >= OBEY_DETECT_S and inv.name not in self._disobeying:
            self._disobeying.add(inv.name)
            say(
                f"inverter {inv.name} does not follow its cap ({output_w:.0f} W over {cap_pct:.1f} %): "
                "counted as uncontrolled"
            )
        return inv.name not in self._disobeying

    def limits(self) -> tuple[float | None, float | None]:
        """(export, import) limits now: the strictest of the local settings and the utility's."""
        if self.fault.ignores_limits:
            return None, None
        s = self.api.settings()
        exports = [s.export_limit_w]
        imports = [s.import_limit_w]
        if s.mode in ("import-only", "no-exchange"):
            exports.append(0.0)
        if s.mode == "no-exchange":
            imports.append(0.0)
        firm_e, firm_i = self.site.firm_export_limit_w, self.site.firm_import_limit_w
        if self.utility is not None:
            values, _ = self.utility.values()
            now_s, import_w = self.clock.now(), self._last_meter[1] if self._last_meter is not None else None
            export_target = values.export_limit_w if values.export_limit_w is not None else firm_e
            import_target = values.import_limit_w if values.import_limit_w is not None else firm_i
            flows = (None, None) if import_w is None else (-import_w, import_w)
            exports.append(self._export_ramp.move(export_target, now_s, values.ramp_time_s, flows[0]))
            imports.append(self._import_ramp.move(import_target, now_s, values.ramp_time_s, flows[1]))
        else:
            exports.append(firm_e)
            imports.append(firm_i)
        e = [x for x in exports if x is not None]
        i = [x for x in imports if x is not None]
        return (min(e) if e else None), (min(i) if i else None)

    def _apply(self, commands: Commands, now_s: float) -> None:
        if commands.pv_cap_pct != self._cap_pct:
            self._caps.append((now_s, commands.pv_cap_pct))
        self._cap_pct = commands.pv_cap_pct
        for inv in self.inverters:
            if inv.name in self._silent_until and not self.fault.halts_on_silent:
                continue
            try:
                if inv.kind == "pv":
                    inv.set_cap_pct(commands.pv_cap_pct, now_s)
                elif inv.name in commands.battery_max_w:
                    inv.set_battery_window(commands.battery_min_w[inv.name], commands.battery_max_w[inv.name], now_s)
            except DeviceSilent as exc:
                say(f"inverter {inv.name} refused or did not answer a write ({exc})")
                if not self.fault.halts_on_silent:
                    self._silent_until[inv.name] = self.clock.now() + RETRY_S

    def _publish(self, fresh: bool = False) -> None:
        """State to the local API, readings to the utility stamped when the meter was read (`fresh`:
        stamped when posted, as a controller that passes an old reading off as new)."""
        pcc_w = self._last_meter[1] if self._last_meter is not None else 0.0
        self.api.publish_state(fail_safe=self.fail_safe, pcc_import_w=pcc_w, busbar_current_a=0.0)
        if self.utility is None:
            return
        if self._last_meter is None or self.fail_safe:
            self.utility.report(None)  # nothing to mirror without a fresh PCC reading
            return
        der_w = sum(v for v in self._outputs.values() if v is not None)
        self.utility.report(
            {"site_active_power_w": self.fault.telemetry_sign * pcc_w, "der_active_power_w": der_w},
            None if fresh else self._last_meter[0],
        )
