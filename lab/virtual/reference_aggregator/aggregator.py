"""The reference aggregator's main loop: every home's meter in, the group re-allocated, every home's commands out."""

from __future__ import annotations

import logging
import sys
import threading
from dataclasses import dataclass, field

from flexbench.lab.virtual.reference_controller.devices import DeviceSilent, Inverter, SiteMeter
from flexbench.lab.virtual.reference_controller.utility import UtilityLink
from flexbench.signals.csip.client import CsipClient
from flexbench.signals.pki.identity import sfdi_from_lfdi

from . import CONTROL_PERIOD_S, HOME_FAILURES, MARGIN_W, RETRY_S, REVERT_S
from .faults import Fault
from .group import HomeCommands, HomeView, home_commands, reallocate
from .site_file import AggregatorSiteFile, HomeEntry

log = logging.getLogger(__name__)
MODBUS_TIMEOUT_S = 2.0  # bench seconds, at least MIN_WALL_TIMEOUT_S of wall time
MIN_WALL_TIMEOUT_S = 0.3
EV_CAPPED_TOLERANCE_W = 200.0  # an EV charging within this of its cap may want more: counted at its rating


def say(message: str) -> None:
    """One line on stderr: the bench keeps it in the run folder."""
    print(message, file=sys.stderr, flush=True)


class SiteLink(UtilityLink):
    """One home's EndDevice, reached with the aggregator's certificate (CSIP-AUS: one certificate, many sites)."""

    def __init__(self, home: HomeEntry, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.home = home
        self.name = f"csip-{home.name}"

    def make_client(self) -> CsipClient:
        client = super().make_client()
        client.lfdi = self.home.lfdi.upper()
        client.sfdi = sfdi_from_lfdi(client.lfdi)
        return client


@dataclass
class Home:
    entry: HomeEntry
    meter: SiteMeter
    devices: dict[str, Inverter]
    link: SiteLink
    failures: int = 0
    lost: bool = False
    retrying: bool = False
    retry_at_s: float = 0.0
    pcc_w: float = 0.0
    outputs: dict[str, float] = field(default_factory=dict)
    ev_max_w: float = 0.0

    @property
    def name(self) -> str:
        return self.entry.name

    def rating(self, kind: str) -> float:
        device = self.entry.devices.get(kind)
        return device.rated_w if device is not None else 0.0

    def demand_w(self) -> float:
        """What the home would import with every cap released: its load less PV, and its EV's want."""
        pv, battery, ev = (self.outputs.get(k, 0.0) for k in ("pv", "battery", "ev"))
        load_w = self.pcc_w + pv + battery + ev
        charging_w = max(-ev, 0.0)
        capped = self.ev_max_w < self.rating("ev") and charging_w >= self.ev_max_w - EV_CAPPED_TOLERANCE_W
        return load_w - pv + (self.rating("ev") if capped else charging_w)


class ReferenceAggregator:
    def __init__(self, site: AggregatorSiteFile, fault: Fault) -> None:
        self.site = site
        self.fault = fault
        self.clock = site.clock
        timeout_s = max(MIN_WALL_TIMEOUT_S, MODBUS_TIMEOUT_S / self.clock.time_scale)
        entries = site.homes[1:] if fault.ignores_site else site.homes
        if fault.ignores_site:
            say(f"fault {fault.name}: home {site.homes[0].name} is never controlled")
        self.homes = [
            Home(
                entry,
                SiteMeter(entry.meter, timeout_s),
                {kind: Inverter(e, timeout_s, REVERT_S) for kind, e in entry.devices.items()},
                SiteLink(entry, site.utility, self.clock),
                ev_max_w=entry.devices["ev"].rated_w if "ev" in entry.devices else 0.0,
            )
            for entry in entries
        ]
        self._stop = threading.Event()
        self._loans: dict[str, float] = {}
        self._loan_key: tuple[float | None, ...] = ()

    # -- lifecycle ---------------------------------------------------------------------
    def run(self) -> None:
        for home in self.homes:
            home.link.start()
        say(f"reference aggregator ({self.fault.name}) up: {len(self.homes)} homes")
        try:
            self.clock.run_every(CONTROL_PERIOD_S, self._stop, self.cycle)
        finally:
            self.close()

    def stop(self) -> None:
        self._stop.set()

    def close(self) -> None:
        for home in self.homes:
            home.link.stop()
            home.meter.close()
            for inv in home.devices.values():
                inv.close()

    # -- one control period ---------------------------------------------------------------
    def _read(self, home: Home, now_s: float) -> None:
        """The home's meter and device outputs; a lost home is retried in the background, never waited for."""
        if home.lost:
            if now_s >= home.retry_at_s and not home.retrying:
                home.retrying = True
                threading.Thread(target=self._retry, args=(home,), name=f"retry-{home.name}", daemon=True).start()
            return
        try:
            pcc_w = home.meter.read_import_w()
            outputs = {kind: inv.output_w() for kind, inv in home.devices.items()}
        except DeviceSilent as exc:
            home.failures += 1
            if home.failures >= HOME_FAILURES:
                say(f"home {home.name} lost ({exc}): counted at its worst case")
                home.lost = True
                home.retry_at_s = self.clock.now() + RETRY_S
            return
        home.failures = 0
        home.pcc_w, home.outputs = pcc_w, outputs
        home.link.report({"site_active_power_w": pcc_w}, now_s)

    def _retry(self, home: Home) -> None:
        try:
            home.meter.read_import_w()
            for inv in home.devices.values():
                inv.output_w()
        except DeviceSilent:
            home.retry_at_s = self.clock.now() + RETRY_S
        else:
            say(f"home {home.name} answers again")
            home.failures, home.lost = 0, False
        finally:
            home.retrying = False

    def cycle(self) -> None:
        now_s = self.clock.now()
        for home in self.homes:
            self._read(home, now_s)
        published = {home.name: home.link.values()[0] for home in self.homes}
        views = [
            HomeView(
                home.name,
                published[home.name].import_limit_w,
                None if home.lost else home.demand_w(),
                home.entry.own_import_limit_w,
            )
            for home in self.homes
        ]
        limits = reallocate(views, lost_at_worst=not self.fault.no_fail_safe)
        if self.fault.keeps_loans:
            limits = self._keep_loans(views, limits)
        now_s = self.clock.now()
        for home in self.homes:
            if home.lost:
                continue
            commands = home_commands(
                home.pcc_w,
                home.outputs.get("pv", 0.0),
                home.outputs.get("battery", 0.0),
                home.outputs.get("ev", 0.0),
                (home.rating("pv"), home.rating("battery"), home.rating("ev")),
                limits[home.name],
                published[home.name].export_limit_w,
                MARGIN_W,
            )
            self._apply(home, commands, now_s)

    def _keep_loans(self, views: list[HomeView], limits: dict[str, float | None]) -> dict[str, float | None]:
        """Fault over-allocates: a home lent capacity keeps the most it was lent while the published limits stand."""
        key = tuple(v.limit_w for v in views)
        if key != self._loan_key:
            self._loans.clear()
            self._loan_key = key
        out = dict(limits)
        for v in views:
            limit = limits[v.name]
            if limit is not None and v.limit_w is not None and limit > v.limit_w:
                self._loans[v.name] = max(self._loans.get(v.name, 0.0), limit)
            if v.name in self._loans and limit is not None:
                out[v.name] = max(limit, self._loans[v.name])
        return out

    def _apply(self, home: Home, commands: HomeCommands, now_s: float) -> None:
        for kind, inv in home.devices.items():
            try:
                if kind == "pv":
                    cap_w = commands.pv_cap_w
                    inv.set_cap_pct(100.0 if cap_w is None else 100.0 * cap_w / inv.rated_w, now_s)
                elif kind == "battery":
                    inv.set_battery_window(commands.battery_min_w, commands.battery_max_w, now_s)
                else:  # the EV charger: charging capped, never a discharge
                    inv.set_battery_window(-commands.ev_charge_max_w, 0.0, now_s)
                    home.ev_max_w = commands.ev_charge_max_w
            except DeviceSilent as exc:  # its next read says whether the home is lost
                say(f"home {home.name}: {inv.name} refused or did not answer a write ({exc})")
