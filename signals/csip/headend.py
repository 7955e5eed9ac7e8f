"""The head-end's domain: registrations, schedules, and what devices report, over one SQLite store.

`HeadEnd` is also the operator's Python API (the in-process one; `OperatorClient`
offers the same calls over HTTPS). Every method is thread-safe, so a bench can
publish from its own thread while the server runs in another.
"""

from __future__ import annotations

import functools
import math
import os
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, TypeVar

from envoy_schema.server.schema.sep2.der import DERControlType, DOESupportedMode

from flexbench.core import Envelope, Interval, SiteLimits, TimeSource, to_envelope, to_epoch_s
from flexbench.signals.csip import uris
from flexbench.signals.csip.controls import ControlValues, encode, wire_values
from flexbench.signals.csip.defaults import DefaultSettings
from flexbench.signals.csip.poll_rates import EVERY_DEVICE, PollRates, href, per_device
from flexbench.signals.csip.prices import PriceInterval, price_schedule
from flexbench.signals.csip.record_types import ResponseRecord, TelemetryRecord
from flexbench.signals.csip.records import Records
from flexbench.signals.csip.registry import DEFAULT_PIN, Device, Registry
from flexbench.signals.csip.schedule import (
    ACTIVE,
    DEFAULT_PROGRAMS,
    SCHEDULED,
    Control,
    DefaultControl,
    Program,
    ScheduleBook,
)
from flexbench.signals.csip.store import Store
from flexbench.signals.csip.tariffs import TariffBook, TariffTerms, interval_dict
from flexbench.signals.pki.identity import normalize_lfdi

Clock = Callable[[], float]
CHANGES_KEPT = 4096  # rows of the store's changes log kept for processes that look at it late
F = TypeVar("F", bound=Callable[..., Any])


@dataclass
class HeadEndConfig:
    """Server behaviour that a utility or a test plan may want to change."""

    poll_rate_s: int = 900
    allow_in_band_registration: bool = False
    default_pin: int = DEFAULT_PIN
    csipaus_version: str = "1.3"
    program_primacies: dict[str, int] = field(default_factory=lambda: dict(DEFAULT_PROGRAMS))
    response_set_id: int = 1


def active_power_w(power: dict[str, Any]) -> float | None:
    """An ActivePower as a device reported it (value x 10^multiplier W), if it is a usable rating:
    positive and finite."""
    try:
        watts = float(power["value"]) * 10.0 ** int(power["multiplier"])
    except (KeyError, TypeError, ValueError, OverflowError):
        return None
    return watts if 0.0 < watts < math.inf else None


def _locked(method: F) -> F:
    @functools.wraps(method)
    def wrapper(self: HeadEnd, *args: Any, **kwargs: Any) -> Any:
        with self.store.lock:
            return method(self, *args, **kwargs)

    return wrapper  # type: ignore[return-value]


class HeadEnd:
    """Registrations, DER programs and controls, and device reports; the operator API."""

    def __init__(
        self,
        db_path: str | os.PathLike[str],
        config: HeadEndConfig | None = None,
        clock: TimeSource | Clock = time.time,
    ) -> None:
        self.config = config or HeadEndConfig()
        self.clock: Clock = clock.now if isinstance(clock, TimeSource) else clock
        self.time_scale = float(getattr(clock, "time_scale", 1.0))
        self.store = Store(db_path)
        self.registry = Registry(self.store)
        self.book = ScheduleBook(self.store)
        self.records = Records(self.store)
        self.tariffs = TariffBook(self.store)
        self.poll_rates = PollRates(self.store, self.config.poll_rate_s)
        self.generation: dict[int, int] = {}
        self.listeners: list[Callable[[int, set[str]], None]] = []
        # True when other processes serve the same store (server workers): changes are logged for them
        self.shares_store = False
        # what this process has seen of the store: its data_version, and the last row of the changes log
        self._data_version = self.store.data_version()
        last = self.store.one("SELECT MAX(seq) AS n FROM changes")
        self._change_seq = int(last["n"] or 0) if last is not None else 0

    def close(self) -> None:
        self.store.close()

    def now_s(self) -> int:
        return int(self.clock())

    # Change tracking ------------------------------------------------------------------
    def touch(self, edev_id: int, hrefs: Iterable[str] = ()) -> None:
        """Record that the device's tree changed: drops cached renderings, tells listeners (here: so the change
        is notified once, by the process that made it), and logs it in the store for the other processes."""
        self.generation[edev_id] = self.generation.get(edev_id, 0) + 1
        if self.shares_store:
            seq = self.store.run("INSERT INTO changes (edev_id) VALUES (?)", (edev_id,))
            if seq % CHANGES_KEPT == 0:
                self.store.run("DELETE FROM changes WHERE seq <= ?", (seq - CHANGES_KEPT,))
        changed = set(hrefs)
        for listener in list(self.listeners):
            listener(edev_id, changed)

    def sync(self) -> None:
        """Take in what other processes changed in the store since the last look: their devices re-read, their
        cached renderings dropped. Cheap when nothing changed (one PRAGMA); called before each request."""
        version = self.store.data_version()
        if version == self._data_version:
            return
        with self.store.lock:
            self._data_version = version
            rows = self.store.all("SELECT seq, edev_id FROM changes WHERE seq > ? ORDER BY seq", (self._change_seq,))
            if not rows:
                return
            if rows[0]["seq"] != self._change_seq + 1:  # the log was pruned past what this process saw
                self.registry.reload()
                changed = {*self.generation, *(d.id for d in self.registry.all())}
            else:
                changed = {r["edev_id"] for r in rows}
                for edev_id in changed:
                    self.registry.refresh(edev_id)
            self._change_seq = rows[-1]["seq"]
            self.poll_rates.reload()
            for edev_id in changed:
                self.generation[edev_id] = self.generation.get(edev_id, 0) + 1

    # Registration ----------------------------------------------------------------------
    @_locked
    def register_device(
        self,
        lfdi: str,
        sfdi: int | None = None,
        kind: str = "device",
        aggregator_lfdi: str | None = None,
        pin: int | None = None,
        limit_mode: str = "auto",
        rated_w: float | None = None,
        connection_point_id: str | None = None,
        csipaus_version: str | None = None,
        post_rate_s: int | None = None,
        description: str | None = None,
    ) -> Device:
        """Register a device (or an aggregator) ahead of time; idempotent, updates what is given."""
        device, _ = self.registry.register(
            lfdi,
            self.now_s(),
            sfdi=sfdi,
            kind=kind,
            aggregator_lfdi=aggregator_lfdi,
            pin=pin if pin is not None else self.config.default_pin,
            limit_mode=limit_mode,
            rated_w=rated_w,
            connection_point_id=connection_point_id,
            csipaus_version=csipaus_version,
            post_rate_s=post_rate_s,
            description=description,
        )
        self.book.ensure_programs(device.id, self.config.program_primacies)
        self.touch(device.id, {uris.EDEV.href(device.id)})
        return device

    @_locked
    def set_client_access(self, lfdi: str, granted: bool) -> Device:
        """Revoke (granted False) or restore a client's access: a revoked certificate gets 403 on every
        resource until restored. Its registration and records stay, so restoring gives back its tree as it was."""
        device = self.device(lfdi)
        self.registry.set_enabled(device.id, granted, self.now_s())
        self.touch(device.id, {uris.EDEV.href(device.id)})
        return self.device(lfdi)

    @_locked
    def set_poll_rate(self, resource: str, rate_s: int | None, lfdi: str | None = None) -> dict[str, Any]:
        """Set the pollRate a resource announces (its 2030.5 name, e.g. EndDeviceList, DERProgramList): to one
        device's client, or to every client without its own; None clears it back to the next fallback."""
        devices = [self.device(lfdi)] if lfdi is not None else self.registry.all()
        self.poll_rates.set(resource, rate_s, devices[0].id if lfdi is not None else EVERY_DEVICE)
        for device in devices:  # drop cached renderings; notify subscribers once per list
            owns_list = per_device(resource) or self.registry.holds_subscriptions(device)
            self.touch(device.id, {href(resource, device.id)} if owns_list else set())
        return {"resource": resource, "rate_s": rate_s, "lfdi": devices[0].lfdi if lfdi is not None else None}

    @_locked
    def deregister_device(self, lfdi: str) -> Device:
        """Remove a device and all it left on the server (programs, controls, reports, readings, subscriptions):
        its certificate is unregistered again. An aggregator is removed only after its sites."""
        device = self.device(lfdi)
        sites = [d.lfdi for d in self.registry.all() if d.aggregator_id == device.id]
        if sites:
            raise ValueError(f"aggregator {device.lfdi} still manages {len(sites)} sites: deregister them first")
        with self.store.transaction():
            for prog in self.book.programs(device.id):
                self.book.delete_program(prog.id)
            self.book.forget_fsas(device.id)
            self.tariffs.clear(device.id)
            self.records.delete_device_records(device.id)
            self.poll_rates.forget(device.id)
            self.registry.delete(device.id)
        self.touch(device.id)  # drops its cached renderings
        if device.aggregator_id is not None:
            self.touch(device.aggregator_id, {uris.EDEV_LIST.template})
        return device

    @_locked
    def delete_program(self, lfdi: str, program: str) -> dict[str, Any]:
        """Remove a DERProgram with its controls and default control (put_program adds one again)."""
        device = self.device(lfdi)
        prog = self.book.program_by_name(device.id, program)
        self.book.delete_program(prog.id)
        self._changed_programs(device.id, prog.fsa, prog.id)
        return self._program_dict(device, prog)

    @_locked
    def delete_control(self, mrid: str) -> dict[str, Any]:
        """Remove a DERControl from its list altogether: devices see it gone, not cancelled."""
        control = self.book.control(mrid)
        if control is None:
            raise KeyError(f"no DERControl with mRID {mrid}")
        device, prog = self._owner(control)
        self.book.delete_control(control)
        self._changed_program(device.id, prog)
        return {"mrid": mrid, "program": prog.name}

    @_locked
    def delete_mirror_usage_points(self, lfdi: str, mrid: str | None = None) -> int:
        """Remove the device's MirrorUsagePoint with this mRID (None: all of them) and their readings; how many."""
        device = self.device(lfdi)
        rows = [
            r for r in self.records.mirror_usage_points([device.id]) if mrid is None or r.mrid.upper() == mrid.upper()
        ]
        if mrid is not None and not rows:
            raise KeyError(f"device {device.lfdi} has no MirrorUsagePoint with mRID {mrid}")
        with self.store.transaction():
            for row in rows:
                self.records.delete_mirror_usage_point(row.id)
        return len(rows)

    @_locked
    def put_program(
        self, lfdi: str, name: str, primacy: int, fsa: int = 1, description: str | None = None
    ) -> dict[str, Any]:
        """Add a DERProgram to a device, in FunctionSetAssignments number `fsa` (made when first used), or move
        an existing one (same name) to this primacy and FSA. A lower primacy wins where programs overlap."""
        device = self.device(lfdi)
        if not name:
            raise ValueError("a DERProgram needs a name")
        if isinstance(primacy, bool) or not isinstance(primacy, int) or not 0 <= primacy <= 255:
            raise ValueError(f"primacy must be a whole number from 0 to 255 (UInt8), got {primacy!r}")
        if isinstance(fsa, bool) or not isinstance(fsa, int) or not 1 <= fsa <= 255:
            raise ValueError(f"fsa must be a whole number from 1 to 255, got {fsa!r}")
        prog = self.book.put_program(device.id, name, primacy, fsa, description)
        self._changed_programs(device.id, fsa, prog.id)
        return self._program_dict(device, prog)

    @_locked
    def put_fsa(self, lfdi: str, fsa: int, description: str) -> dict[str, Any]:
        """Make FunctionSetAssignments number `fsa` with this description, or describe an existing one; a change
        notifies the subscribers of the device's FunctionSetAssignmentsList."""
        device = self.device(lfdi)
        if isinstance(fsa, bool) or not isinstance(fsa, int) or not 1 <= fsa <= 255:
            raise ValueError(f"fsa must be a whole number from 1 to 255, got {fsa!r}")
        if not isinstance(description, str) or not 0 < len(description.encode()) <= 32:
            raise ValueError(f"an FSA description is a String32 of 1 to 32 bytes, got {description!r}")
        if self.book.describe_fsa(device.id, fsa, description):
            e = device.id
            self.touch(e, {uris.EDEV.href(e), uris.FSA_LIST.href(e), uris.FSA.href(e, fsa)})
        description_now, version = self.book.fsa_description(device.id, fsa)
        return {"fsa": fsa, "description": description_now, "version": version, "href": uris.FSA.href(device.id, fsa)}

    @_locked
    def programs(self, lfdi: str) -> list[dict[str, Any]]:
        """The device's DERPrograms with their primacy and FunctionSetAssignments, highest priority first."""
        device = self.device(lfdi)
        return [self._program_dict(device, p) for p in self.book.programs(device.id)]

    @staticmethod
    def _program_dict(device: Device, prog: Program) -> dict[str, Any]:
        return {
            "name": prog.name,
            "primacy": prog.primacy,
            "fsa": prog.fsa,
            "mrid": prog.mrid,
            "href": uris.DERP.href(device.id, prog.id),
        }

    @_locked
    def devices(self) -> list[Device]:
        return self.registry.all()

    def device(self, lfdi: str) -> Device:
        device = self.registry.by_lfdi(normalize_lfdi(lfdi))
        if device is None:
            raise KeyError(f"no device registered with LFDI {lfdi}")
        return device

    # Publishing ---------------------------------------------------------------------
    @_locked
    def limit_mode(self, lfdi: str) -> str:
        """'site' (CSIP-AUS import/export limits) or 'max_w' (opModMaxLimW) for this device."""
        device = self.device(lfdi)
        if device.limit_mode != "auto":
            return device.limit_mode
        capability = self.records.der_document(device.id, "dercap")
        if capability is not None:
            summary = capability.summary
            doe = int(summary.get("doeModesSupported") or "0", 16)
            site_bits = DOESupportedMode.OP_MOD_EXPORT_LIMIT_W | DOESupportedMode.OP_MOD_IMPORT_LIMIT_W
            if doe & site_bits:
                return "site"
            if int(summary.get("modesSupported") or "0", 16) & DERControlType.OP_MOD_MAX_LIM_W:
                return "max_w"
        return "site"

    def _rated_w(self, device: Device) -> float:
        """The rating opModMaxLimW is a percentage of: the device's setMaxW, else its rtgMaxW, else the
        registered rated_w. A reported rating that is not a positive finite number (setMaxW 0, say) is
        passed over, so what a device reports can never break the operator's call."""
        settings = self.records.der_document(device.id, "derg")
        for doc, key in ((settings, "setMaxW"), (self.records.der_document(device.id, "dercap"), "rtgMaxW")):
            if doc is not None and key in doc.summary:
                rated_w = active_power_w(doc.summary[key])
                if rated_w is not None:
                    return rated_w
        if device.rated_w is not None and 0.0 < device.rated_w < math.inf:
            return float(device.rated_w)
        raise ValueError(
            f"device {device.lfdi} takes only opModMaxLimW, but its rating is unknown: it has not PUT a positive "
            "setMaxW (DERSettings) or rtgMaxW (DERCapability) and none was registered (rated_w)"
        )

    def _values_for(self, device: Device, mode: str, limits: SiteLimits) -> ControlValues:
        if mode == "site":
            return ControlValues(limits=limits)
        if limits.export_limit_w is None:
            raise ValueError("opModMaxLimW needs an export (generation) limit")
        pct = min(100.0, max(0.0, limits.export_limit_w / self._rated_w(device) * 100.0))
        return ControlValues(max_limit_pct=round(pct, 2))

    @_locked
    def publish_envelope(
        self,
        lfdi: str,
        envelope: Envelope | Sequence[Interval],
        program: str = "envelope",
        mode: str | None = None,
        randomize_start_s: int | None = None,
        randomize_duration_s: int | None = None,
        response_required: str = "03",
        ramp_time_s: float | None = None,
    ) -> dict[str, Any]:
        """Publish an envelope as one DERControl per interval; overlapping older controls are superseded.

        Times go out in whole seconds (2030.5 carries them so). The envelope's firm
        limits are not sent here: set_default_control sends them. `ramp_time_s` goes out as every
        interval's rampTms: how long the device may take to move to that interval's limit.
        """
        device = self.device(lfdi)
        mode = mode or self.limit_mode(lfdi)
        if mode not in ("site", "max_w"):
            raise ValueError(f"mode must be 'site' or 'max_w', got {mode!r}")
        items = to_envelope(envelope).intervals
        if not items:
            raise ValueError("the envelope has no intervals")
        prog = self.book.program_by_name(device.id, program)
        values = [replace(self._values_for(device, mode, i.limits), ramp_time_s=ramp_time_s) for i in items]
        for v in values:
            encode(v)  # refuse unencodable values before anything is stored
        mrids: list[str] = []
        superseded: list[str] = []
        now_s = self.now_s()
        with self.store.transaction():
            for interval, value in zip(items, values):
                start_s = int(interval.start_s)
                control, gone = self.book.add_control(
                    prog,
                    start_s,
                    int(interval.duration_s),
                    value,
                    now_s,
                    description=f"envelope interval {start_s}",
                    randomize_start_s=randomize_start_s,
                    randomize_duration_s=randomize_duration_s,
                    response_required=response_required,
                )
                mrids.append(control.mrid)
                superseded += gone
        self._changed_program(device.id, prog)
        return {"mrids": mrids, "superseded": superseded, "mode": mode, "program": program}

    @_locked
    def publish_control(
        self,
        lfdi: str,
        start: Any,
        duration_s: int,
        values: ControlValues | dict[str, Any],
        program: str = "envelope",
        randomize_start_s: int | None = None,
        randomize_duration_s: int | None = None,
        response_required: str = "03",
        description: str | None = None,
    ) -> dict[str, Any]:
        """Publish one DERControl with any control values (ControlValues fields)."""
        device = self.device(lfdi)
        if isinstance(values, dict):
            values = ControlValues.from_dict(values)
        encode(values)
        prog = self.book.program_by_name(device.id, program)
        start_s = self.now_s() if start is None else int(to_epoch_s(start))
        control, gone = self.book.add_control(
            prog,
            start_s,
            int(duration_s),
            values,
            self.now_s(),
            description=description,
            randomize_start_s=randomize_start_s,
            randomize_duration_s=randomize_duration_s,
            response_required=response_required,
        )
        self._changed_program(device.id, prog)
        return {"mrid": control.mrid, "superseded": gone, "program": program}

    @_locked
    def supersede_control(
        self, mrid: str, values: ControlValues | dict[str, Any], start: Any = None, duration_s: int | None = None
    ) -> dict[str, Any]:
        """Replace a control by a new one with the same elements over the same (or a given) period."""
        old = self.book.control(mrid)
        if old is None:
            raise KeyError(f"no DERControl with mRID {mrid}")
        if isinstance(values, dict):
            values = ControlValues.from_dict(values)
        if values.elements() != old.values.elements():
            raise ValueError(
                f"superseding needs the same control elements: {sorted(old.values.elements())},"
                f" got {sorted(values.elements())}"
            )
        device, prog = self._owner(old)
        return self.publish_control(
            device.lfdi,
            old.start_s if start is None else start,
            old.duration_s if duration_s is None else duration_s,
            values,
            program=prog.name,
            randomize_start_s=old.randomize_start_s,
            randomize_duration_s=old.randomize_duration_s,
            response_required=old.response_required,
        )

    @_locked
    def cancel_control(self, mrid: str, randomized: bool = False) -> dict[str, Any]:
        """Cancel a control (EventStatus 2, or 3 with randomization)."""
        control = self.book.cancel(mrid, self.now_s(), randomized)
        device, prog = self._owner(control)
        self._changed_program(device.id, prog)
        return self._control_dict(control, prog)

    @_locked
    def cancel_controls(self, lfdi: str, newest_only: bool = False) -> list[dict[str, Any]]:
        """Cancel the device's controls that are still Scheduled or Active (only the newest one if asked);
        they stay listed with their cancelled status. Returns them as cancelled."""
        device = self.device(lfdi)
        now_s = self.clock()
        live = [
            (control, prog)
            for prog in self.book.programs(device.id)
            for control in self.book.controls(prog.id, now_s)
            if control.status(now_s)[0] in (SCHEDULED, ACTIVE)
        ]
        live.sort(key=lambda pair: pair[0].creation_s)
        return [self.cancel_control(control.mrid) for control, _ in (live[-1:] if newest_only else live)]

    @_locked
    def set_default_control(
        self,
        lfdi: str,
        import_limit_w: float | None = None,
        export_limit_w: float | None = None,
        program: str = "envelope",
        values: ControlValues | dict[str, Any] | None = None,
        settings: DefaultSettings | dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Set DefaultDERControl (the firm limits a device falls back to) of a program.

        `settings` (ramp rate setGradW and the enter-service fields, signals.csip.defaults) replace the
        program's; None keeps them. Settings alone, with no limits or values, keep the limits too.
        """
        device = self.device(lfdi)
        prog = self.book.program_by_name(device.id, program)
        if isinstance(settings, dict):
            settings = DefaultSettings.from_dict(settings)
        if settings is not None:
            settings.wire()  # refuse a setting that does not fit its element before anything is stored
        existing = self.book.default(prog.id)
        if values is None and import_limit_w is None and export_limit_w is None and settings is not None:
            values = existing.values if existing is not None else ControlValues()
        elif values is None:
            mode = self.limit_mode(lfdi)
            limits = SiteLimits(import_limit_w=import_limit_w, export_limit_w=export_limit_w)
            values = self._values_for(device, mode, limits)
        elif isinstance(values, dict):
            values = ControlValues.from_dict(values)
        encode(values)
        default = self.book.set_default(prog.id, values, self.now_s(), settings)
        self.touch(device.id, {uris.DDERC.href(device.id, prog.id)})
        return {**self._default_dict(default), "program": program}

    @staticmethod
    def _default_dict(default: DefaultControl) -> dict[str, Any]:
        return {
            "mrid": default.mrid,
            "values": default.values.as_dict(),
            "settings": default.settings.as_dict(),
            "wire": {**wire_values(encode(default.values)), **default.settings.wire()},
        }

    @_locked
    def reset_device(self, lfdi: str) -> dict[str, int]:
        """Clear what a device's last test left on the server: the controls still in its lists, its default
        controls and its subscriptions (counts removed). Registration, readings and Responses are kept: they
        are the run's record, not state the device acts on."""
        device = self.device(lfdi)
        now_s = self.now_s()
        removed = {"controls": 0, "default_controls": 0, "price_intervals": 0, "subscriptions": 0}
        with self.store.transaction():
            for prog in self.book.programs(device.id):
                listed = [c.mrid for c in self.book.controls(prog.id, now_s)]
                for mrid in listed:
                    self.store.run("DELETE FROM controls WHERE mrid=?", (mrid,))
                removed["controls"] += len(listed)
                if self.book.default(prog.id) is not None:
                    self.store.run("DELETE FROM default_controls WHERE program_id=?", (prog.id,))
                    removed["default_controls"] += 1
            removed["price_intervals"] = self.tariffs.clear(device.id)
            removed["subscriptions"] = self.records.count_subscriptions(device.id)
            self.store.run("DELETE FROM subscriptions WHERE edev_id=?", (device.id,))
        for prog in self.book.programs(device.id):
            self._changed_program(device.id, prog)
            self.touch(device.id, {uris.DDERC.href(device.id, prog.id)})
        self.touch(device.id, {uris.SUB_LIST.href(device.id), uris.FSA_LIST.href(device.id)})
        return removed

    @_locked
    def signal_abnormal(
        self,
        lfdis: str | list[str],
        max_import_w: float,
        duration_s: int = 3600,
        start: Any = None,
        program: str = "abnormal",
    ) -> dict[str, str]:
        """Abnormal operation: an immediate maximum import at each site, in the higher-priority program."""
        if isinstance(lfdis, str):
            lfdis = [lfdis]
        out = {}
        for lfdi in lfdis:
            device = self.device(lfdi)
            if self.limit_mode(lfdi) == "site":
                values = ControlValues(limits=SiteLimits(import_limit_w=max_import_w))
            else:
                values = ControlValues(load_limit_w=max_import_w)
            out[device.lfdi] = self.publish_control(
                lfdi, start, duration_s, values, program=program, description="abnormal operation: maximum import"
            )["mrid"]
        return out

    @_locked
    def publish_prices(
        self, lfdi: str, intervals: Sequence[PriceInterval | dict[str, Any]], **terms: Any
    ) -> dict[str, Any]:
        """Publish a price schedule (2030.5 Pricing): each interval a TimeTariffInterval of the import
        RateComponent of the device's TariffProfile, and of its export one where it has an export price; older
        intervals they overlap are superseded. `terms` (tariffs.TariffTerms: name, fsa, primacy, currency,
        price_multiplier, rate_code) describe the TariffProfile."""
        device = self.device(lfdi)
        tariff = TariffTerms(**terms)
        fsa = tariff.fsa
        if fsa not in self.book.fsas(device.id):
            raise ValueError(f"device {device.lfdi} has no FunctionSetAssignments {fsa}: make it first (put_fsa)")
        profile, mrids, superseded = self.tariffs.publish(device.id, price_schedule(intervals), self.now_s(), tariff)
        e, tp = device.id, profile.id
        lists = {
            listing.href(e, tp, c.id)
            for c in self.tariffs.rate_components(tp)
            for listing in (uris.TTI_LIST, uris.ACTTTI_LIST)
        }
        changed = {uris.FSA_LIST.href(e), uris.FSA.href(e, fsa), uris.TP_LIST.href(e, fsa), uris.TP.href(e, tp)}
        self.touch(e, {*changed, uris.RC_LIST.href(e, tp), *lists})
        return {"tariff": tariff.name, "mrids": mrids, "superseded": superseded, "href": uris.TP.href(e, tp)}

    @_locked
    def prices(self, lfdi: str, listed_only: bool = False) -> list[dict[str, Any]]:
        """The device's published price intervals, each with its tariff, flow, status and prices per kWh."""
        device = self.device(lfdi)
        now_s = self.clock()
        return [
            interval_dict(profile, component.flow, interval, now_s)
            for profile in self.tariffs.tariffs(device.id)
            for component in self.tariffs.rate_components(profile.id)
            for interval in self.tariffs.intervals(component.id, now_s if listed_only else None)
        ]

    # Reading back ------------------------------------------------------------------------
    @_locked
    def controls(self, lfdi: str, program: str | None = None, listed_only: bool = False) -> list[dict[str, Any]]:
        """The device's controls as published, with status now and the exact wire values."""
        device = self.device(lfdi)
        now_s = self.clock()
        out = []
        for prog in self.book.programs(device.id):
            if program is not None and prog.name != program:
                continue
            for control in self.book.controls(prog.id, now_s if listed_only else None):
                out.append(self._control_dict(control, prog))
        return out

    @_locked
    def default_control(self, lfdi: str, program: str = "envelope") -> dict[str, Any] | None:
        device = self.device(lfdi)
        default = self.book.default(self.book.program_by_name(device.id, program).id)
        if default is None:
            return None
        return self._default_dict(default)

    @_locked
    def responses(self, lfdi: str | None = None, subject: str | None = None) -> list[ResponseRecord]:
        """Responses posted by devices (status 1 received, 2 started, 3 completed, 6 cancelled, 7 superseded...)."""
        ids = [self.device(lfdi).id] if lfdi is not None else None
        return self.records.responses(ids, subject)

    @_locked
    def telemetry(self, lfdi: str, since: Any = None) -> list[TelemetryRecord]:
        """Readings the device mirrored (MirrorUsagePoint), scaled to engineering units."""
        since_s = None if since is None else int(to_epoch_s(since))
        return self.records.telemetry([self.device(lfdi).id], since_s)

    @_locked
    def der_reports(self, lfdi: str) -> dict[str, Any]:
        """What the device PUT: DERCapability, DERSettings, DERStatus, DERAvailability (as dicts)."""
        device = self.device(lfdi)
        names = {"dercap": "capability", "derg": "settings", "ders": "status", "dera": "availability"}
        out: dict[str, Any] = {}
        for kind, name in names.items():
            doc = self.records.der_document(device.id, kind)
            out[name] = doc.summary if doc else None
        return out

    # Helpers --------------------------------------------------------------------------
    def _owner(self, control: Control) -> tuple[Device, Program]:
        row = self.store.one("SELECT edev_id FROM programs WHERE id=?", (control.program_id,))
        assert row is not None
        device = self.registry.by_id(row["edev_id"])
        prog = self.book.program(row["edev_id"], control.program_id)
        assert device is not None and prog is not None
        return device, prog

    def _control_dict(self, control: Control, prog: Program) -> dict[str, Any]:
        status, status_s = control.status(self.clock())
        return {
            "mrid": control.mrid,
            "program": prog.name,
            "primacy": prog.primacy,
            "start_s": control.start_s,
            "duration_s": control.duration_s,
            "creation_s": control.creation_s,
            "status": status,
            "status_s": status_s,
            "values": control.values.as_dict(),
            "wire": wire_values(encode(control.values)),
            "superseded_by": control.superseded_by,
            "randomize_start_s": control.randomize_start_s,
            "randomize_duration_s": control.randomize_duration_s,
        }

    def _changed_program(self, edev_id: int, prog: Program) -> None:
        e, p = edev_id, prog.id
        self.touch(e, {uris.DERC_LIST.href(e, p), uris.ACTDERC_LIST.href(e, p), uris.DERP.href(e, p)})

    def _changed_programs(self, edev_id: int, fsa: int, program_id: int) -> None:
        """A program was added, changed or removed: so were the lists that hold it."""
        e = edev_id
        changed = {uris.EDEV.href(e), uris.FSA_LIST.href(e), uris.DERP_LIST.href(e, fsa)}
        self.touch(e, {*changed, uris.DERP.href(e, program_id)})
