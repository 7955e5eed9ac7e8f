"""Build the 2030.5 resources of one device's tree from the head-end's state.

Each builder returns the resource model and the server time until which it is
valid (event statuses change with time), so the server can cache the bytes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from flexbench.signals.csip import models as m
from flexbench.signals.csip import uris
from flexbench.signals.csip.controls import encode
from flexbench.signals.csip.headend import HeadEnd
from flexbench.signals.csip.record_types import MirrorUsagePointRecord, SubscriptionRecord
from flexbench.signals.csip.registry import Device
from flexbench.signals.csip.schedule import Control, Program

FOREVER = math.inf
FIRST_FSA = 1
DER_ID = 1
_NOT_SUBSCRIBABLE = m.SubscribableType.resource_does_not_support_subscriptions
_SUBSCRIBABLE = m.SubscribableType.resource_supports_non_conditional_subscriptions


@dataclass(frozen=True)
class Page:
    """List paging from the query string: start index s, after-time a, limit l."""

    start: int = 0
    after_s: int | None = None
    limit: int = 1


def response_list_href(headend: HeadEnd) -> str:
    return uris.RSP_LIST.href(headend.config.response_set_id)


def fixed_mrid(prefix: str, number: int) -> str:
    """Stable 128-bit mRID for resources the server makes one of per device."""
    return f"{prefix}{number:0{32 - len(prefix)}X}"


def device_capability(headend: HeadEnd, caller: Device | None) -> m.DeviceCapability:
    visible = headend.registry.visible_ids(caller) if caller else []
    mups = headend.records.count_mirror_usage_points(visible) if visible else 0
    return m.DeviceCapability(
        href=uris.DCAP.template,
        pollRate=headend.poll_rates.rate_s("DeviceCapability", caller.id if caller else None),
        TimeLink=m.Link(href=uris.TIME.template),
        EndDeviceListLink=m.ListLink(href=uris.EDEV_LIST.template, all_=len(visible)),
        MirrorUsagePointListLink=m.ListLink(href=uris.MUP_LIST.template, all_=mups),
    )


def time_resource(headend: HeadEnd) -> m.Time:
    now_s = headend.now_s()
    return m.Time(
        href=uris.TIME.template,
        currentTime=now_s,
        dstEndTime=0,
        dstOffset=0,
        dstStartTime=0,
        localTime=now_s,
        quality=m.TimeQualityType.level_3_source,
        tzOffset=0,
    )


def end_device(headend: HeadEnd, device: Device) -> m.EndDevice:
    edev = device.id
    return m.EndDevice(
        href=uris.EDEV.href(edev),
        subscribable=_NOT_SUBSCRIBABLE,
        lFDI=device.lfdi,
        sFDI=device.sfdi,
        changedTime=device.changed_s,
        enabled=device.enabled,
        postRate=device.post_rate_s,
        DERListLink=m.ListLink(href=uris.DER_LIST.href(edev), all_=1),
        FunctionSetAssignmentsListLink=m.ListLink(
            href=uris.FSA_LIST.href(edev), all_=len(headend.book.fsas(device.id))
        ),
        RegistrationLink=m.Link(href=uris.REGISTRATION.href(edev)),
        SubscriptionListLink=m.ListLink(href=uris.SUB_LIST.href(edev), all_=headend.records.count_subscriptions(edev))
        if headend.registry.holds_subscriptions(device)
        else None,
        LogEventListLink=m.ListLink(href=uris.LEL_LIST.href(edev), all_=headend.records.count_log_events(edev)),
        ConnectionPointLink=m.ConnectionPointLink(href=uris.CONNECTION_POINT.href(edev)),
    )


def end_device_list(headend: HeadEnd, caller: Device | None, page: Page) -> m.EndDeviceList:
    devices = [headend.registry.by_id(i) for i in headend.registry.visible_ids(caller)] if caller else []
    items = [d for d in devices if d is not None]
    if page.after_s is not None:
        items = [d for d in items if d.changed_s >= page.after_s]
    chosen = items[page.start : page.start + page.limit]
    return m.EndDeviceList(
        href=uris.EDEV_LIST.template,
        all_=len(items),
        results=len(chosen),
        subscribable=_SUBSCRIBABLE,
        pollRate=headend.poll_rates.rate_s("EndDeviceList", caller.id if caller else None),
        EndDevice=[end_device(headend, d) for d in chosen] or None,
    )


def registration(headend: HeadEnd, device: Device) -> m.Registration:
    return m.Registration(
        href=uris.REGISTRATION.href(device.id),
        pollRate=headend.poll_rates.rate_s("Registration", device.id),
        dateTimeRegistered=device.registered_s,
        pIN=device.pin,
    )


def connection_point(device: Device) -> m.ConnectionPointResponse:
    return m.ConnectionPointResponse(href=uris.CONNECTION_POINT.href(device.id), id=device.connection_point_id or "")


def function_set_assignments(headend: HeadEnd, device: Device, fsa: int) -> m.FunctionSetAssignments:
    description, version = headend.book.fsa_description(device.id, fsa)
    tariffs = len(headend.tariffs.tariffs(device.id, fsa))
    return m.FunctionSetAssignments(
        href=uris.FSA.href(device.id, fsa),
        mRID=fixed_mrid("F5A" if fsa == FIRST_FSA else f"F5A{fsa:04X}", device.id),
        description=description or "DER programs",
        version=version,
        subscribable=_NOT_SUBSCRIBABLE,
        DERProgramListLink=m.ListLink(href=uris.DERP_LIST.href(device.id, fsa), all_=None),
        TariffProfileListLink=m.ListLink(href=uris.TP_LIST.href(device.id, fsa), all_=tariffs) if tariffs else None,
        TimeLink=m.Link(href=uris.TIME.template),
    )


def fsa_list(headend: HeadEnd, device: Device, page: Page) -> m.FunctionSetAssignmentsList:
    fsas = headend.book.fsas(device.id)
    items = [function_set_assignments(headend, device, n) for n in fsas[page.start : page.start + page.limit]]
    return m.FunctionSetAssignmentsList(
        href=uris.FSA_LIST.href(device.id),
        all_=len(fsas),
        results=len(items),
        subscribable=_SUBSCRIBABLE,
        pollRate=headend.poll_rates.rate_s("FunctionSetAssignmentsList", device.id),
        FunctionSetAssignments=items or None,
    )


def der_program(headend: HeadEnd, device: Device, prog: Program, now_s: float) -> m.DERProgram:
    listed = headend.book.controls(prog.id, now_s)
    active = [c for c in listed if c.is_active(now_s)]
    return m.DERProgram(
        href=uris.DERP.href(device.id, prog.id),
        mRID=prog.mrid,
        description=prog.description,
        version=prog.version,
        primacy=prog.primacy,
        subscribable=_NOT_SUBSCRIBABLE,
        ActiveDERControlListLink=m.ListLink(href=uris.ACTDERC_LIST.href(device.id, prog.id), all_=len(active)),
        DefaultDERControlLink=m.Link(href=uris.DDERC.href(device.id, prog.id)),
        DERControlListLink=m.ListLink(href=uris.DERC_LIST.href(device.id, prog.id), all_=len(listed)),
    )


def der_program_list(
    headend: HeadEnd, device: Device, fsa: int, page: Page, now_s: float
) -> tuple[m.DERProgramList | None, float]:
    """The DERPrograms of one FunctionSetAssignments (None: the device has no such FSA)."""
    if fsa not in headend.book.fsas(device.id):
        return None, FOREVER
    programs = [p for p in headend.book.programs(device.id) if p.fsa == fsa]
    chosen = programs[page.start : page.start + page.limit]
    expires = min([headend.book.next_boundary_s(p.id, now_s) for p in programs] or [FOREVER])
    resource = m.DERProgramList(
        href=uris.DERP_LIST.href(device.id, fsa),
        all_=len(programs),
        results=len(chosen),
        subscribable=_SUBSCRIBABLE,
        pollRate=headend.poll_rates.rate_s("DERProgramList", device.id),
        DERProgram=[der_program(headend, device, p, now_s) for p in chosen] or None,
    )
    return resource, expires


def der_control(headend: HeadEnd, device: Device, prog: Program, control: Control, now_s: float) -> m.DERControl:
    status, status_s = control.status(now_s)
    return m.DERControl(
        href=uris.DERC.href(device.id, prog.id, control.id),
        mRID=control.mrid,
        description=control.description,
        version=control.version,
        subscribable=_NOT_SUBSCRIBABLE,
        replyTo=response_list_href(headend),
        responseRequired=control.response_required,
        creationTime=control.creation_s,
        EventStatus_=m.EventStatus(
            currentStatus=status,
            dateTime=status_s,
            potentiallySuperseded=control.potentially_superseded_s is not None,
            potentiallySupersededTime=control.potentially_superseded_s,
        ),
        interval=m.DateTimeIntervalType(start=control.start_s, duration=control.duration_s),
        randomizeStart=control.randomize_start_s,
        randomizeDuration=control.randomize_duration_s,
        DERControlBase_=encode(control.values),
    )


def der_control_list(
    headend: HeadEnd, device: Device, prog: Program, page: Page, now_s: float, active_only: bool = False
) -> tuple[m.DERControlList, float]:
    controls = headend.book.controls(prog.id, now_s)
    if active_only:
        controls = [c for c in controls if c.is_active(now_s)]
    if page.after_s is not None:
        controls = [c for c in controls if c.start_s >= page.after_s]
    chosen = controls[page.start : page.start + page.limit]
    listing = uris.ACTDERC_LIST if active_only else uris.DERC_LIST
    resource = m.DERControlList(
        href=listing.href(device.id, prog.id),
        all_=len(controls),
        results=len(chosen),
        subscribable=_SUBSCRIBABLE,
        DERControl=[der_control(headend, device, prog, c, now_s) for c in chosen] or None,
    )
    return resource, headend.book.next_boundary_s(prog.id, now_s)


def default_der_control(device: Device, prog: Program, headend: HeadEnd) -> m.DefaultDERControl:
    """The program's DefaultDERControl; one with no controls until the operator sets one, so that a client can
    subscribe to it before then (CSIP-AUS S-ALL-35)."""
    default = headend.book.default(prog.id)
    if default is None:
        return m.DefaultDERControl(
            href=uris.DDERC.href(device.id, prog.id),
            mRID=fixed_mrid("DDC", prog.id),
            version=0,
            subscribable=_SUBSCRIBABLE,
            DERControlBase_=m.DERControlBase(),
        )
    settings: dict[str, Any] = default.settings.wire()  # setGradW and the enter-service elements present
    return m.DefaultDERControl(
        href=uris.DDERC.href(device.id, prog.id),
        mRID=default.mrid,
        version=default.version,
        subscribable=_SUBSCRIBABLE,
        DERControlBase_=encode(default.values),
        **settings,
    )


def der(device: Device, headend: HeadEnd, now_s: float) -> m.DER:
    current = None
    for prog in headend.book.programs(device.id):
        if any(c.is_active(now_s) for c in headend.book.controls(prog.id, now_s)):
            current = m.Link(href=uris.DERP.href(device.id, prog.id))
            break
    return m.DER(
        href=uris.DER.href(device.id, DER_ID),
        subscribable=_NOT_SUBSCRIBABLE,
        AssociatedDERProgramListLink=m.ListLink(
            href=uris.DERP_LIST.href(device.id, FIRST_FSA),
            all_=len([p for p in headend.book.programs(device.id) if p.fsa == FIRST_FSA]),
        ),
        CurrentDERProgramLink=current,
        DERAvailabilityLink=m.Link(href=uris.DER_DOCUMENT.href(device.id, DER_ID, "dera")),
        DERCapabilityLink=m.Link(href=uris.DER_DOCUMENT.href(device.id, DER_ID, "dercap")),
        DERSettingsLink=m.Link(href=uris.DER_DOCUMENT.href(device.id, DER_ID, "derg")),
        DERStatusLink=m.Link(href=uris.DER_DOCUMENT.href(device.id, DER_ID, "ders")),
    )


def der_list(device: Device, headend: HeadEnd, page: Page, now_s: float) -> m.DERList:
    items = [der(device, headend, now_s)][page.start : page.start + page.limit]
    return m.DERList(
        href=uris.DER_LIST.href(device.id),
        all_=1,
        results=len(items),
        pollRate=headend.poll_rates.rate_s("DERList", device.id),
        DER_=items or None,
    )


def response_list(headend: HeadEnd, edev_ids: list[int], page: Page) -> m.ResponseList:
    rows = headend.records.responses(edev_ids)
    if page.after_s is not None:
        rows = [r for r in rows if r.sent_s >= page.after_s]
    rows.sort(key=lambda r: (-r.sent_s, -r.id))
    chosen = rows[page.start : page.start + page.limit]
    rs_id = headend.config.response_set_id
    return m.ResponseList(
        href=uris.RSP_LIST.href(rs_id),
        all_=len(rows),
        results=len(chosen),
        Response_=[
            m.Response(
                href=uris.RSP.href(rs_id, r.id),
                createdDateTime=r.created_s,
                endDeviceLFDI=r.lfdi,
                status=None if r.status is None else m.ResponseType(r.status),
                subject=r.subject,
            )
            for r in chosen
        ]
        or None,
    )


def mirror_usage_point(headend: HeadEnd, mup: MirrorUsagePointRecord) -> m.MirrorUsagePoint:
    device = headend.registry.by_id(mup.edev_id)
    assert device is not None
    readings = []
    for mmr in headend.records.meter_readings(mup.id):
        readings.append(
            m.MirrorMeterReading(
                mRID=mmr.mrid, description=mmr.description, readingType=m.ReadingType(**mmr.reading_type)
            )
        )
    return m.MirrorUsagePoint(
        href=uris.MUP.href(mup.id),
        mRID=mup.mrid,
        description=mup.description,
        roleFlags=mup.role_flags,
        serviceCategoryKind=m.ServiceKind(mup.service_category),
        status=mup.status,
        deviceLFDI=device.lfdi,
        postRate=mup.post_rate_s,
        mirrorMeterReadings=readings or None,
    )


def mirror_usage_point_list(headend: HeadEnd, edev_ids: list[int], page: Page) -> m.MirrorUsagePointList:
    """The MirrorUsagePoints of `edev_ids`: the caller's visible ids, itself first."""
    rows = headend.records.mirror_usage_points(edev_ids) if edev_ids else []
    chosen = rows[page.start : page.start + page.limit]
    return m.MirrorUsagePointList(
        href=uris.MUP_LIST.template,
        all_=len(rows),
        results=len(chosen),
        pollRate=headend.poll_rates.rate_s("MirrorUsagePointList", edev_ids[0] if edev_ids else None),
        mirrorUsagePoints=[mirror_usage_point(headend, r) for r in chosen],
    )


def subscription_list(headend: HeadEnd, device: Device, page: Page) -> m.SubscriptionList | None:
    if not headend.registry.holds_subscriptions(device):
        return None
    rows = headend.records.subscriptions(device.id)
    chosen = rows[page.start : page.start + page.limit]
    return m.SubscriptionList(
        href=uris.SUB_LIST.href(device.id),
        all_=len(rows),
        results=len(chosen),
        subscriptions=[subscription(device, r) for r in chosen] or None,
    )


def subscription(device: Device, sub: SubscriptionRecord) -> m.Subscription:
    return m.Subscription(
        href=uris.SUB.href(device.id, sub.id),
        subscribedResource=sub.resource,
        encoding=m.SubscriptionEncoding.XML,
        level=sub.level,
        limit=sub.list_limit,
        notificationURI=sub.notification_uri,
    )


def log_event_list(headend: HeadEnd, device: Device, page: Page) -> m.LogEventList:
    rows = headend.records.log_events(device.id)
    if page.after_s is not None:
        rows = [r for r in rows if r.created_s >= page.after_s]
    chosen = rows[page.start : page.start + page.limit]
    return m.LogEventList(
        href=uris.LEL_LIST.href(device.id),
        all_=len(rows),
        results=len(chosen),
        pollRate=headend.poll_rates.rate_s("LogEventList", device.id),
        LogEvent_=[
            m.LogEvent(
                href=uris.LEL.href(device.id, r.id),
                createdDateTime=r.created_s,
                details=r.details,
                extendedData=r.extended_data,
                functionSet=m.FunctionSetIdentifier(r.function_set),
                logEventCode=r.log_event_code,
                logEventID=r.log_event_id,
                logEventPEN=r.log_event_pen,
                profileID=m.ProfileIdentifier(r.profile_id),
            )
            for r in chosen
        ]
        or None,
    )
