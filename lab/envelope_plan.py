"""Envelope test plans: the twin's envelope for the DUT's location, mapped to the site and sent to it.

The plans in testplans/envelopes share this. The twin computes the operating
envelope of one customer location of a feeder (variable over a horizon,
dynamic after a change on the feeder); the values are mapped to the site on
the bench by one documented ratio per direction and the envelope's clock is
compressed to bench time; a link (IEEE 2030.5 or OPC-UA, through the bench's
utility-side servers) carries the limits; the site is judged at its PCC by
the bench's analyzer.

Envelopes are computed on the calling (main) thread, because the OpenDSS
engine must not run in worker threads, and cached in the run folder, so a
plan run computes each envelope once and the report can be traced to the
exact values sent.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import math
import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import Field, PositiveFloat, field_validator

from flexbench.core import Envelope, Interval, SiteLimits, to_epoch_s
from flexbench.lab import evaluate
from flexbench.lab.errors import UserError
from flexbench.lab.plan import Procedure, StressParams, pcc
from flexbench.lab.profile import Profile, ProfileError
from flexbench.lab.toml_lines import where

Side = Literal["import", "export"]
ENVELOPE_H_S = 3600.0
RESOLUTION_S = {"15min": 900.0, "1h": 3600.0}
_TWINS: dict[str, Any] = {}  # one twin per feeder per process: the 8500 model takes a second to compile


# -- the plan table -------------------------------------------------------------------------


class EnvelopeParams(StressParams):
    """[plans.envelopes]: where the DUT is on a feeder, how its envelope maps to the site, how time compresses."""

    transports: list[Literal["csip", "opcua"]] = Field(min_length=1)
    """Each plan runs over each of these the bench has a server for."""
    feeder: str
    """ieee13, ieee123, ieee8500 or an OpenDSS master file."""
    site_id: str
    """The load name of the DUT's location on the feeder."""
    allocation: Literal["equal", "proportional", "max-total"]
    method: Literal["fast", "reference"]
    injection_model: Literal["load-pf", "unity"] = "load-pf"
    """How the site's extra import enters the feeder (see twin/README.md)."""
    base_violation_rule: Literal["hold", "ignore"] = "hold"
    base_violation_tolerance_pu: float = Field(default=0.001, ge=0.0, lt=1.0)
    vmin_ll_pu: PositiveFloat | None = None
    """Line-to-line voltage band on ungrounded (3-wire delta) sections of the feeder; None: the same
    band as line-to-neutral voltages on grounded ones (ANSI C84.1 range A)."""
    vmax_ll_pu: PositiveFloat | None = None
    envelope_start: str
    """First interval of the variable envelope: an ISO time with its zone."""
    horizon_h: PositiveFloat
    resolution: Literal["15min", "1h"]
    seed: int
    site_import_w: PositiveFloat
    """The largest import limit of the variable envelope maps to this; every value scales alike."""
    site_export_w: PositiveFloat
    bench_s_per_envelope_h: PositiveFloat
    """Time compression: each hour of envelope time lasts this many bench seconds (3600 on hardware)."""
    phases: int
    start_delay_s: float
    """A schedule starts this long after it is sent."""
    stress_cycle: list[Side] = Field(min_length=1)
    """OE-FOLLOW: the conditions of interval k stress stress_cycle[k % len]."""
    nrt_time: str
    """OE-NRT: the feeder state the updates start from."""
    nrt_stress: Side
    nrt_load_scales: list[float] = Field(min_length=1)
    abnormal_import_w: float
    abnormal_duration_s: float
    loss_cached_intervals: int
    loss_hold_s: float

    @field_validator("envelope_start", "nrt_time")
    @classmethod
    def _aware_time(cls, value: str) -> str:
        try:
            parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise ValueError(f"an ISO time with a zone (e.g. 2026-07-01T00:00:00Z), got {value!r}") from None
        if parsed.tzinfo is None:
            raise ValueError(f"the time needs its zone (e.g. 2026-07-01T00:00:00Z), got {value!r}")
        return value

    @field_validator("vmax_ll_pu")
    @classmethod
    def _ll_band(cls, value: float | None, info: Any) -> float | None:
        low = info.data.get("vmin_ll_pu")
        if value is not None and low is not None and value <= low:
            raise ValueError(f"must be above vmin_ll_pu ({low:g}), got {value:g}")
        return value

    @field_validator("bench_s_per_envelope_h")
    @classmethod
    def _whole_seconds(cls, value: float, info: Any) -> float:
        resolution = info.data.get("resolution")
        if resolution is not None:
            interval_s = RESOLUTION_S[resolution] * value / ENVELOPE_H_S
            if interval_s < 1 or abs(interval_s - round(interval_s)) > 1e-6:
                raise ValueError(
                    f"{value:g} makes a {resolution} interval last {interval_s:g} bench s: 2030.5 times are "
                    "whole seconds"
                )
        return value

    def site_max_w(self, side: str) -> float:
        return self.site_import_w if side == "import" else self.site_export_w

    def uncontrolled_w(self, side: str) -> float:
        """The flow the stress conditions make with no limit (nominal: before inverter losses)."""
        c = self.stress(side)
        if side == "export":
            return c.pv_dc_w - c.load_w + c.battery_w
        return c.load_w + c.ev_w - c.pv_dc_w - c.battery_w


def transports_on_bench(params: EnvelopeParams, bench_path: str | None) -> list[str]:
    """The profile's transports that the bench has a server for (OPC-UA only where the bench has it).

    With none (or a bench file that does not load), all of them: opening the bench or the
    transport then fails with the reason, as every plan's setup does.
    """
    from flexbench.lab.bench_config import load_bench

    wanted: list[str] = list(params.transports)
    try:
        config = load_bench(bench_path)
    except UserError:
        return wanted
    has = {
        "csip": config.csip is not None and bool(config.csip.devices),
        "opcua": config.opcua is not None and bool(config.opcua.sites),
    }
    return [t for t in wanted if has[t]] or wanted


@dataclass(frozen=True)
class SiteEnvelope:
    """The location's variable envelope on the site's scale, with the ratios that map it.

    `envelope` is the site's: intervals in envelope time (epoch seconds),
    limits and firm limits in site W. The twin's own values per interval
    (feeder W, negative where the location must keep importing or exporting)
    are kept beside it, with the file they were read from.
    """

    feeder: str
    envelope: Envelope
    import_scale: float  # site W per feeder-location W
    export_scale: float
    twin_import_w: tuple[float, ...]
    twin_export_w: tuple[float, ...]
    file: Path

    @property
    def site_id(self) -> str:
        return self.envelope.site_id

    @property
    def intervals(self) -> tuple[Interval, ...]:
        return self.envelope.intervals

    @property
    def firm(self) -> SiteLimits:
        return self.envelope.firm


@dataclass(frozen=True)
class Update:
    """A dynamic envelope update: the site's limits after a change on the feeder, and what binds them."""

    load_scale: float  # every other customer's load, times its value in the base state
    limits: SiteLimits
    binding: dict[str, str]  # side -> the constraint the twin found binding


def limit_w(limits: SiteLimits, side: str) -> float:
    """One side of limits every side of which is set (an envelope mapped to the site)."""
    value = limits.limit_w(side)
    if value is None:
        raise ValueError(f"no {side} limit in {limits}")
    return value


class EnvelopePlan:
    """The twin's side of the plans: the location's envelopes, mapped to the site, in bench time."""

    def __init__(self, params: EnvelopeParams, profile: Profile, run_dir: Path) -> None:
        import pandas as pd

        self.params = params
        self.profile = profile
        self.cache_dir = Path(run_dir) / "envelopes"
        self.start = pd.Timestamp(params.envelope_start).tz_convert("UTC")
        self.nrt_time = pd.Timestamp(params.nrt_time).tz_convert("UTC")
        self.interval_bench_s = int(round(self.bench_s(RESOLUTION_S[params.resolution])))
        self.resolution_h = RESOLUTION_S[params.resolution] / ENVELOPE_H_S

    def error(self, key: str, message: str) -> ProfileError:
        """A value of the plan table that cannot work: one line naming file, line and key."""
        table = self.profile.origin("plans", "envelopes", key)
        return ProfileError(f"{where(self.profile.path, self.profile.lines, table, key)}: {table}.{key}: {message}")

    def check_binds(self, side: str, limit_w: float, accuracy_w: float) -> None:
        """Refuse conditions under which a DUT ignoring the limit could still pass."""
        flow_w = self.params.uncontrolled_w(side)
        if flow_w < 1.05 * (limit_w + accuracy_w):
            raise self.error(
                f"{side}_stress_load_w" if side == "import" else f"{side}_stress_pv_dc_w",
                f"the site would {side} {flow_w:.0f} W uncontrolled, not clearly above the {side} limit "
                f"{limit_w:.0f} W + {accuracy_w:.0f} W: the limit would not bind (lower site_{side}_w or raise "
                "the stress)",
            )

    # -- time -------------------------------------------------------------------------------
    def bench_s(self, envelope_s: float) -> float:
        """Bench seconds for a span of envelope time."""
        return envelope_s * self.params.bench_s_per_envelope_h / ENVELOPE_H_S

    def envelope_s(self, bench_s: float) -> float:
        """Envelope seconds for a span of bench time."""
        return bench_s * ENVELOPE_H_S / self.params.bench_s_per_envelope_h

    def on_bench(self, intervals: Sequence[Interval], t0_s: int) -> list[Interval]:
        """The intervals as sent: the first starts at t0_s (bench time), each lasts its compressed duration.

        Starts and durations are whole seconds, as 2030.5 carries them.
        """
        base = intervals[0].start_s
        return [
            Interval(
                start_s=t0_s + round(self.bench_s(i.start_s - base)),
                duration_s=round(self.bench_s(i.duration_s)),
                limits=i.limits,
            )
            for i in intervals
        ]

    # -- the twin ---------------------------------------------------------------------------
    def _twin(self) -> Any:
        p = self.params
        from flexbench.twin import Twin, TwinError

        if p.feeder not in _TWINS:
            try:
                _TWINS[p.feeder] = Twin.load(p.feeder)
            except (TwinError, ValueError, OSError) as exc:
                raise self.error("feeder", str(exc)) from None
        return _TWINS[p.feeder]

    def _sites(self, twin: Any) -> list[str]:
        """The DUT's location and the customers sharing its service transformer (the allocation's neighbours)."""
        p = self.params
        from flexbench.twin import TwinError

        try:
            site = twin.site(p.site_id)
        except TwinError as exc:
            raise self.error("site_id", str(exc)) from None
        if site.service_transformer is None:
            return [site.site_id]
        return [s.site_id for s in twin.sites if s.service_transformer == site.service_transformer]

    def _assumptions(self) -> dict[str, Any]:
        """The profile's injection model and feeder limits, as compute_envelope takes them."""
        from flexbench.twin import Limits

        p = self.params
        limits = Limits(
            base_violation_rule=p.base_violation_rule,
            base_violation_tolerance_pu=p.base_violation_tolerance_pu,
            vmin_ll_pu=p.vmin_ll_pu,
            vmax_ll_pu=p.vmax_ll_pu,
        )
        return {"injection_model": p.injection_model, "limits": limits}

    def _cached(self, name: str, params: dict[str, Any], compute: Callable[[], Any]) -> tuple[Any, Path]:
        """An envelope from the run folder's cache, else computed here (main thread) and cached."""
        from flexbench.twin import EnvelopeSet, TwinError

        p = self.params

        key = json.dumps(
            {
                "name": name,
                "feeder": p.feeder,
                "site": p.site_id,
                "allocation": p.allocation,
                "method": p.method,
                "injection_model": p.injection_model,
                "base_violation_rule": p.base_violation_rule,
                "base_violation_tolerance_pu": p.base_violation_tolerance_pu,
                "vmin_ll_pu": p.vmin_ll_pu,
                "vmax_ll_pu": p.vmax_ll_pu,
                "resolution": p.resolution,
                "seed": p.seed,
                **params,
            },
            sort_keys=True,
            default=str,
        )
        path = self.cache_dir / f"{name}-{p.site_id}-{hashlib.sha256(key.encode()).hexdigest()[:10]}.json"
        if path.exists():
            return EnvelopeSet.read(path), path
        try:
            env = compute()
        except (TwinError, ValueError) as exc:
            raise self.error(
                "site_id", f"the twin cannot compute the {name} envelope of {p.site_id} on {p.feeder}: {exc}"
            ) from None
        self.cache_dir.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".tmp-{path.name}")
        env.save(tmp)
        os.replace(tmp, path)  # a run killed mid-write leaves no half file in the cache
        return EnvelopeSet.read(path), path  # exactly what the run folder keeps, computed or cached

    def variable(self) -> SiteEnvelope:
        """The location's variable envelope over the horizon, mapped to the site."""
        p = self.params
        from flexbench.twin import compute_envelope

        twin = self._twin()
        sites = self._sites(twin)
        env, path = self._cached(
            "variable",
            {"start": self.start.isoformat(), "horizon_h": p.horizon_h},
            lambda: compute_envelope(
                twin,
                "variable",
                sites=sites,
                start=self.start,
                horizon=f"{p.horizon_h:g}h",
                resolution=p.resolution,
                allocation=p.allocation,
                method=p.method,
                **self._assumptions(),
                seed=p.seed,
            ),
        )
        i = env.site_ids.index(p.site_id)
        imp, exp = env.import_limit_w[i], env.export_limit_w[i]
        scales = {}
        for side, values in (("import", imp), ("export", exp)):
            if not values.max() > 0:
                raise self.error(
                    "site_id",
                    f"{p.site_id} has no {side} capacity over the horizon (largest {side} limit {values.max():.0f} W)",
                )
            scales[side] = p.site_max_w(side) / float(values.max())
        starts = [to_epoch_s(t) for t in env.intervals["start"]]
        intervals = [
            Interval(
                start_s=starts[k],
                duration_s=float(env.intervals["duration_s"].iloc[k]),
                limits=self.to_site(float(imp[k]), float(exp[k]), scales),
            )
            for k in range(len(starts))
        ]
        return SiteEnvelope(
            feeder=p.feeder,
            envelope=Envelope(
                site_id=p.site_id,
                intervals=tuple(intervals),
                firm=self.to_site(float(env.firm_import_w[i]), float(env.firm_export_w[i]), scales),
            ),
            import_scale=scales["import"],
            export_scale=scales["export"],
            twin_import_w=tuple(float(v) for v in imp),
            twin_export_w=tuple(float(v) for v in exp),
            file=path,
        )

    def to_site(self, import_w: float, export_w: float, scales: dict[str, float]) -> SiteLimits:
        """A location's limits on the site's scale, whole watts, each within [0, the site's maximum]."""

        def side_w(side: str, twin_w: float) -> float:
            return float(round(min(max(twin_w * scales[side], 0.0), self.params.site_max_w(side))))

        return SiteLimits(import_limit_w=side_w("import", import_w), export_limit_w=side_w("export", export_w))

    def dynamic_updates(self, variable: SiteEnvelope) -> list[Update]:
        """The dynamic envelope at nrt_time: the base state (load scale 1) first, then after each change."""
        p = self.params
        import pandas as pd

        from flexbench.twin import MeasuredState, Profiles, compute_envelope, synthetic_profiles

        twin = self._twin()
        sites = self._sites(twin)
        ts = self.nrt_time.floor(pd.Timedelta(p.resolution))
        prior = synthetic_profiles(twin.sites, ts, 1, p.resolution, seed=p.seed)
        scales = {"import": variable.import_scale, "export": variable.export_scale}
        out = []
        for load_scale in [1.0, *p.nrt_load_scales]:

            def compute(load_scale: float = load_scale) -> Any:
                load = prior.load_w.copy()
                others = [c for c in load.columns if c not in sites]
                load[others] *= load_scale
                profiles = Profiles(load, prior.pv_w.copy(), f"synthetic, other customers' load x{load_scale:g}")
                return compute_envelope(
                    twin,
                    "dynamic",
                    sites=sites,
                    profiles=profiles,
                    measured=MeasuredState(ts),
                    resolution=p.resolution,
                    allocation=p.allocation,
                    method=p.method,
                    **self._assumptions(),
                    seed=p.seed,
                )

            env, _ = self._cached("dynamic", {"time": ts.isoformat(), "load_scale": load_scale}, compute)
            i = env.site_ids.index(p.site_id)
            out.append(
                Update(
                    load_scale=load_scale,
                    limits=self.to_site(float(env.import_limit_w[i, 0]), float(env.export_limit_w[i, 0]), scales),
                    binding={"import": str(env.binding_import[i, 0]), "export": str(env.binding_export[i, 0])},
                )
            )
        return out


# -- links -------------------------------------------------------------------------------------


class Transport:
    """How limits reach the site: the bench's utility-side server for one protocol.

    `claim` makes this channel the one that governs (its firm limits are the
    envelope's, the other channel's are lifted); `release` puts both back.
    """

    name = ""
    loss_requirement = ""
    through_device = False  # OPC-UA: the PCS written through its own server (never sees the heartbeat)
    own: Any = None  # this channel, with what it held before the plan claimed it
    other: Any = None  # the other channel, lifted out of the way (None: the bench has no other)

    def claim(self, firm: SiteLimits) -> None:
        """Save this channel's firm limits, set the envelope's, and lift the other channel."""
        self.own.saved = self._set_firm(firm)
        if self.other is not None:
            self.other.lift()

    def _set_firm(self, firm: SiteLimits) -> Any:
        """Set this channel's firm limits; returns what it held before."""
        raise NotImplementedError

    def release(self) -> None:
        self.withdraw()
        self.own.restore()
        if self.other is not None:
            self.other.restore()

    def publish(self, schedule: Sequence[Interval]) -> None:
        """Send a schedule (bench time, whole seconds)."""

    def update(self, interval: Interval) -> None:
        """New limits in force at once, for the rest of the interval."""

    def abnormal(self, interval: Interval) -> None:
        """Abnormal operation: the interval's import limit is the signaled maximum import."""

    def withdraw(self) -> None:
        """Take back what this plan sent that is still in force or to come."""

    def lost(self) -> contextlib.AbstractContextManager[None]:
        """Communication lost for the block."""
        raise NotImplementedError


class _QuietOpcua:
    """The OPC-UA channel lifted out of the way: no envelope, firm limits at the site's range."""

    def __init__(self, opcua: Any) -> None:
        self.opcua = opcua
        self.site = next(iter(opcua.config.sites))
        self.rated = opcua.config.sites[self.site]
        self.saved: SiteLimits | None = None

    def firm(self) -> SiteLimits:
        snap = self.opcua.read(self.site)
        return SiteLimits(import_limit_w=snap.firm_import_limit_w, export_limit_w=snap.firm_export_limit_w)

    def lift(self) -> None:
        self.saved = self.firm()
        self.opcua.publish_envelope(self.site, [])
        self.opcua.set_firm_limits(self.site, self.rated["rated_import_w"], self.rated["rated_export_w"])

    def restore(self) -> None:
        if self.saved is not None:
            self.opcua.set_firm_limits(self.site, self.saved.import_limit_w, self.saved.export_limit_w)


class _QuietCsip:
    """The 2030.5 channel lifted out of the way: a DefaultDERControl without limits."""

    def __init__(self, csip: Any) -> None:
        self.csip = csip
        self.lfdi = next(iter(csip.lfdis.values()))
        self.saved: dict[str, Any] | None = None

    def default(self) -> dict[str, Any]:
        found = self.csip.headend.default_control(self.lfdi)
        return dict(found["values"]) if found else {}

    def lift(self) -> None:
        self.saved = self.default()
        self.csip.headend.set_default_control(self.lfdi, values={})

    def restore(self) -> None:
        if self.saved is not None:
            self.csip.headend.set_default_control(self.lfdi, values=self.saved)


class CsipTransport(Transport):
    """IEEE 2030.5: DERControls with CSIP-AUS opModImpLimW / opModExpLimW; firm limits in DefaultDERControl."""

    name = "csip"
    loss_requirement = "CSIP-LOSS"

    def __init__(self, csip: Any, opcua: Any = None) -> None:
        self.csip = csip
        self.own = _QuietCsip(csip)
        self.lfdi = self.own.lfdi
        self.other = _QuietOpcua(opcua) if opcua is not None and opcua.config.sites else None
        self.mrids: list[str] = []

    def _set_firm(self, firm: SiteLimits) -> Any:
        saved = self.own.default()
        self.csip.headend.set_default_control(
            self.lfdi, import_limit_w=firm.import_limit_w, export_limit_w=firm.export_limit_w
        )
        return saved

    def publish(self, schedule: Sequence[Interval]) -> None:
        self.mrids += self.csip.headend.publish_envelope(self.lfdi, list(schedule))["mrids"]

    def update(self, interval: Interval) -> None:
        """A new control over the rest of the period: it supersedes the one in force (same program and elements)."""
        self.mrids.append(
            self.csip.headend.publish_control(
                self.lfdi, round(interval.start_s), round(interval.duration_s), interval.limits.as_dict()
            )["mrid"]
        )

    def abnormal(self, interval: Interval) -> None:
        self.mrids += list(
            self.csip.headend.signal_abnormal(
                self.lfdi,
                limit_w(interval.limits, "import"),
                duration_s=round(interval.duration_s),
                start=round(interval.start_s),
            ).values()
        )

    def withdraw(self) -> None:
        """Cancel what this plan published that is still scheduled or running."""
        now_s = self.csip.headend.now_s()
        mine = set(self.mrids)
        for control in self.csip.headend.controls(self.lfdi):
            if (
                control["mrid"] in mine
                and control["start_s"] + control["duration_s"] > now_s
                and control["status"] in (0, 1)
            ):
                self.csip.headend.cancel_control(control["mrid"])
        self.mrids = []

    def lost(self) -> contextlib.AbstractContextManager[None]:
        return self.csip.outage()


class OpcuaTransport(Transport):
    """OPC-UA: the site's envelope, operator writes and the abnormal signal; firm limits on the site object."""

    name = "opcua"
    loss_requirement = "OPC-LOSS"

    def __init__(self, opcua: Any, csip: Any = None) -> None:
        self.opcua = opcua
        self.own = _QuietOpcua(opcua)
        self.site = self.own.site
        self.comm_loss_s = float(opcua.config.comm_loss_s)
        self.other = _QuietCsip(csip) if csip is not None and csip.lfdis else None
        # a device written through its own server (the bench as its gateway) never sees the heartbeat
        finder = getattr(opcua, "device_for_site", None)
        self.through_device = finder is not None and finder(self.site) is not None

    def _set_firm(self, firm: SiteLimits) -> Any:
        saved = self.own.firm()
        self.opcua.publish_envelope(self.site, [])
        self.opcua.set_firm_limits(self.site, firm.import_limit_w, firm.export_limit_w)
        return saved

    def publish(self, schedule: Sequence[Interval]) -> None:
        self.opcua.publish_envelope(self.site, list(schedule))

    def update(self, interval: Interval) -> None:
        """An operator write of the limits in force: holds for the rest of the interval."""
        limits = interval.limits
        self.opcua.set_limits(self.site, import_limit_w=limits.import_limit_w, export_limit_w=limits.export_limit_w)

    def abnormal(self, interval: Interval) -> None:
        self.opcua.signal_abnormal(limit_w(interval.limits, "import"), interval.duration_s, [self.site])

    def withdraw(self) -> None:
        self.opcua.clear_abnormal([self.site])
        self.opcua.publish_envelope(self.site, [])  # also ends operator writes

    @contextlib.contextmanager
    def lost(self) -> Iterator[None]:
        """The heartbeat stops: after the bench's comm_loss_s the site has lost communication."""
        self.opcua.pause_heartbeat([self.site])
        try:
            yield
        finally:
            self.opcua.resume_heartbeat([self.site])


def transport(name: str, bench: Any) -> Transport:
    """The transport of that name on this bench (its servers as the bench fixtures expose them)."""
    if name == "csip":
        if bench.csip is None:
            raise UserError(f"{bench.config.path}: transport csip needs a [signals.csip] server")
        return CsipTransport(bench.csip, bench.opcua)
    if bench.opcua is None:
        raise UserError(f"{bench.config.path}: transport opcua needs a [signals.opcua] server")
    return OpcuaTransport(bench.opcua, bench.csip)


# -- evaluation -------------------------------------------------------------------------------


@dataclass(frozen=True)
class IntervalWindow:
    """A span the site is judged over: [start_s, end_s] at or below limit_w (accuracy included)."""

    start_s: float
    end_s: float
    limit_w: float
    label: str


def follows_schedule(
    requirement_id: str, t: np.ndarray, y: np.ndarray, windows: list[IntervalWindow], *, side: str
) -> evaluate.Result:
    """Pass when the flow is at or below each window's limit throughout the window.

    Measured: the PCC flow's peak in the window where it came closest to (or
    went furthest over) its limit; Limit: that window's limit; Margin: limit
    minus peak. The details list each window's peak.
    """
    criterion = (
        f"PCC {side} at or below each interval's {side} limit + meter accuracy, from the response "
        f"window after the interval starts to its end ({len(windows)} intervals)"
    )
    t = np.asarray(t, float)
    y = np.asarray(y, float)
    peaks: list[float | None] = []
    for w in windows:
        mask = (t >= w.start_s) & (t <= w.end_s) & np.isfinite(y)
        peaks.append(float(y[mask].max()) if mask.any() else None)
    missing = [w.label for w, p in zip(windows, peaks) if p is None]
    if missing:
        return evaluate.Result.error(requirement_id, criterion, f"no samples in {', '.join(missing[:5])}")
    excess = [p - w.limit_w for w, p in zip(windows, peaks)]  # type: ignore[operator]
    worst = int(np.argmax(excess))
    over = [w.label for w, e in zip(windows, excess) if e > 0]
    details = {"intervals": [{"label": w.label, "limit_w": w.limit_w, "peak_w": p} for w, p in zip(windows, peaks)]}
    w = windows[worst]
    if over:
        message = (
            f"{side} above the schedule in {len(over)} of {len(windows)} intervals; worst {w.label}: "
            f"peak {peaks[worst]:.0f} W, {excess[worst]:.0f} W over {w.limit_w:.0f} W"
        )
    else:
        message = (
            f"{side} within the schedule in all {len(windows)} intervals; closest {w.label}: "
            f"peak {peaks[worst]:.0f} W, {-excess[worst]:.0f} W below {w.limit_w:.0f} W"
        )
    return evaluate.Result(
        requirement_id=requirement_id,
        criterion=criterion,
        measured=peaks[worst],
        limit=w.limit_w,
        unit="W",
        margin=w.limit_w - peaks[worst],  # type: ignore[operator]
        verdict=evaluate.FAIL if over else evaluate.PASS,
        message=message,
        details=details,
    )


def near_real_time(
    requirement_id: str, responses_s: list[float | None], *, typical_s: float, max_s: float, bench_s_per_h: float
) -> list[evaluate.Result]:
    """Two results over the updates' response times (envelope seconds, None: never obeyed).

    The typical response (the median) within typical_s, and every response within max_s.
    """
    scale = f"envelope time; 1 h = {bench_s_per_h:g} bench s"
    ordered = sorted(math.inf if r is None else r for r in responses_s)
    worst = ordered[-1] if ordered else math.inf
    median = float(np.median(ordered)) if ordered else math.inf
    listing = ", ".join("never" if r is None else f"{r / 60:.1f} min" for r in responses_s)

    def result(label: str, measured: float, limit: float) -> evaluate.Result:
        ok = measured <= limit
        finite = math.isfinite(measured)
        return evaluate.Result(
            requirement_id=requirement_id,
            criterion=f"{label} obeyed within {limit:g} s ({limit / 60:g} min) of the signal ({scale})",
            measured=measured if finite else None,
            limit=limit,
            unit="s",
            margin=(limit - measured) if finite else None,
            verdict=evaluate.PASS if ok else evaluate.FAIL,
            message=f"{label}: {'never obeyed' if not finite else f'{measured / 60:.1f} min'} "
            f"({len(responses_s)} updates: {listing})",
            details={"responses_s": responses_s},
        )

    return [result("typical (median) update", median, typical_s), result("every update", worst, max_s)]


def watch(
    procedure: Procedure, side: str, t_signal_s: float, bound_w: float, hold_s: float, give_up_s: float
) -> float | None:
    """Bench seconds from the signal until the PCC flow is at or below bound_w for good (None: not by give_up_s).

    Watches until the flow has stayed at or below the bound for hold_s, or give_up_s has passed.
    """
    while True:
        now_s = procedure.wait(0.5)
        t, y = procedure.series(pcc(side), t_signal_s, now_s)
        above = t[y > bound_w]
        since_s = float(above[-1]) if above.size else t_signal_s
        if (t.size and now_s - since_s >= hold_s) or now_s - t_signal_s >= give_up_s:
            break
    return evaluate.settles_within(
        "", t, y, t_step_s=t_signal_s, end_s=now_s, limit=bound_w, max_time_s=give_up_s
    ).measured
