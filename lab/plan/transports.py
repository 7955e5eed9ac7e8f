"""Sending a limit: the transports a bench has, each as the plan speaks of it.

- `DutPowerLimit`: the DUT's own maximum active power (SunSpec model 704 WMaxLimPct).
- `Csip`: IEEE 2030.5 controls from the bench's head-end to the DUT's EndDevice
  (CSIP-AUS site limits, DefaultDERControl, cancel, abnormal operation, Responses, prices).
- `Opcua`: the bench's OPC-UA envelope server, for one site.
- PCS settings go through `Site.program` (the PCS's own interface).

Site limits are flexbench.core SiteLimits, schedules core Intervals; every
send is an event in the run's events.jsonl.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from typing import Any

from flexbench.core import Envelope, Interval, SiteLimits, channels
from flexbench.signals.csip.prices import PriceInterval


class DutPowerLimit:
    """The DUT's own limit of maximum active power, as a percent of its rated power (None lifts it)."""

    def __init__(self, bench: Any, recorder: Any, clock: Any) -> None:
        self.der = bench.der
        self.recorder = recorder
        self.clock = clock
        self.nameplate = self.der.nameplate()

    @property
    def rated_w(self) -> float:
        return float(self.nameplate.max_power_w)

    @property
    def rated_va(self) -> float:
        return float(self.nameplate.max_apparent_power_va)

    def send_pct(self, limit_pct: float | None, *, tolerance_w: float | None = None) -> float:
        """Send the limit; returns it in W. Recorded as `limit_w` (and `limit_tolerance_w`: limit + tolerance)."""
        t_s = self.clock.now()
        self.der.set_active_power_limit_pct(limit_pct)
        limit_w = self.rated_w if limit_pct is None else limit_pct / 100.0 * self.rated_w
        band_w = limit_w + tolerance_w if limit_pct is not None and tolerance_w is not None else float("nan")
        self.recorder.record(channels.LIMIT_W, limit_w, t_s)
        self.recorder.record(channels.LIMIT_TOLERANCE_W, band_w, t_s)  # no band while the limit is lifted
        self.recorder.event("dut_limit", limit_pct=limit_pct, limit_w=limit_w)
        return limit_w


def _control_values(limits: SiteLimits) -> dict[str, float]:
    return {
        k: v
        for k, v in (("import_limit_w", limits.import_limit_w), ("export_limit_w", limits.export_limit_w))
        if v is not None
    }


class Csip:
    """The bench's 2030.5 head-end, addressing the first DUT it serves."""

    def __init__(self, csip: Any, recorder: Any) -> None:
        self.csip = csip
        self.recorder = recorder
        self.lfdi: str = next(iter(csip.lfdis.values()))

    @property
    def headend(self) -> Any:
        return self.csip.headend

    @property
    def poll_rate_s(self) -> float:
        return float(self.csip.config.poll_rate_s)

    def control(
        self,
        limits: SiteLimits,
        *,
        start_s: float,
        duration_s: float,
        program: str | None = None,
        ramp_s: float | None = None,
    ) -> str:
        """One DERControl with the site limits and, when given, the ramp time (rampTms) the DUT may take to
        reach them; returns its mRID."""
        extra = {} if program is None else {"program": program}
        values: dict[str, float] = _control_values(limits)
        if ramp_s is not None:
            values["ramp_time_s"] = ramp_s
        mrid: str = self.headend.publish_control(self.lfdi, int(start_s), int(duration_s), values, **extra)["mrid"]
        self.recorder.event(
            "csip_control",
            mrid=mrid,
            start_s=start_s,
            duration_s=duration_s,
            program=program,
            ramp_s=ramp_s,
            **limits.as_dict(),
        )
        return mrid

    def schedule(self, intervals: Sequence[Interval], ramp_s: float | None = None) -> None:
        """A schedule of site limits, one DERControl per interval, each with the ramp time (rampTms) if given."""
        self.headend.publish_envelope(self.lfdi, Envelope.of(intervals), ramp_time_s=ramp_s)
        self.recorder.event(
            "csip_schedule",
            intervals=len(intervals),
            start_s=intervals[0].start_s if intervals else None,
            ramp_s=ramp_s,
        )

    def prices(self, intervals: Sequence[PriceInterval]) -> dict[str, Any]:
        """A price schedule (2030.5 Pricing: TimeTariffIntervals of the DUT's TariffProfile)."""
        result: dict[str, Any] = self.headend.publish_prices(self.lfdi, list(intervals))
        self.recorder.event("csip_prices", intervals=[i.as_dict() for i in intervals], tariff=result["href"])
        return result

    def default_control(self, limits: SiteLimits, ramp_pct_per_s: float | None = None) -> None:
        """DefaultDERControl: the firm limits the DUT falls back to, and the ramp rate (setGradW, percent of
        setMaxW per second) it may move there at; None leaves the ramp the server had."""
        settings = None if ramp_pct_per_s is None else {"ramp_rate_pct_per_s": ramp_pct_per_s}
        self.headend.set_default_control(
            self.lfdi, import_limit_w=limits.import_limit_w, export_limit_w=limits.export_limit_w, settings=settings
        )
        self.recorder.event("csip_default_control", **limits.as_dict(), ramp_pct_per_s=ramp_pct_per_s)

    def cancel(self, mrid: str) -> None:
        self.headend.cancel_control(mrid)
        self.recorder.event("csip_cancel", mrid=mrid)

    def abnormal(self, max_import_w: float, *, start_s: float, duration_s: float) -> None:
        """Abnormal operation: an immediate maximum import in the higher-priority program."""
        self.headend.signal_abnormal(self.lfdi, max_import_w, duration_s=int(duration_s), start=start_s)
        self.recorder.event("csip_abnormal", max_import_w=max_import_w, start_s=start_s, duration_s=duration_s)

    def responses(self, mrid: str) -> list[int]:
        """The Response statuses the DUT posted for a control, oldest first."""
        rows = sorted(self.headend.responses(self.lfdi, subject=mrid), key=lambda r: r.created_s or 0)
        return [int(r.status) for r in rows if r.status is not None]

    def requests(self, since_s: float) -> list[tuple[float, str, str]]:
        """(t_s, method, path) of the DUT's requests to the server since a bench time."""
        return list(self.csip.requests(self.lfdi, since_s=since_s))

    @contextlib.contextmanager
    def outage(self) -> Iterator[None]:
        """The server unreachable inside the block."""
        self.recorder.event("server_outage", started=True)
        with self.csip.outage():
            yield
        self.recorder.event("server_outage", started=False)


class Opcua:
    """The bench's OPC-UA envelope server, for the first site it serves."""

    def __init__(self, opcua: Any, recorder: Any) -> None:
        self.opcua = opcua
        self.recorder = recorder
        self.site: str = next(iter(opcua.config.sites))
        self.rated: dict[str, float] = dict(opcua.config.sites[self.site])
        self.device = opcua.device_for_site(self.site)  # None: the PCS is a client of the envelope server

    @property
    def comm_loss_s(self) -> float:
        return float(self.opcua.config.comm_loss_s)

    def set_limits(self, limits: SiteLimits | None = None) -> None:
        """Limits in force now (None: back to the envelope's)."""
        limits = limits or SiteLimits()
        self.opcua.set_limits(self.site, import_limit_w=limits.import_limit_w, export_limit_w=limits.export_limit_w)
        self.recorder.event("opcua_limits", **limits.as_dict())

    def schedule(self, intervals: Sequence[Interval]) -> None:
        self.opcua.publish_envelope(self.site, Envelope.of(intervals))
        self.recorder.event("opcua_schedule", intervals=len(intervals))

    def abnormal(self, max_import_w: float, *, duration_s: float) -> None:
        self.opcua.signal_abnormal(max_import_w, duration_s, [self.site])
        self.recorder.event("opcua_abnormal", max_import_w=max_import_w, duration_s=duration_s)

    def clear_abnormal(self) -> None:
        self.opcua.clear_abnormal([self.site])

    @contextlib.contextmanager
    def heartbeat_paused(self) -> Iterator[None]:
        """The server stops its heartbeat to the site inside the block; limits back to the envelope's after."""
        self.opcua.pause_heartbeat([self.site])
        self.recorder.event("opcua_heartbeat", paused=True)
        try:
            yield
        finally:
            self.opcua.resume_heartbeat([self.site])
            self.opcua.set_limits(self.site)
            self.recorder.event("opcua_heartbeat", paused=False)
