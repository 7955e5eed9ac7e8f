"""IEEE 2030.5 over mutual TLS with http.client, ssl and lxml: the schedule in, Responses out.

dcap -> EndDeviceList (the EndDevice with our LFDI) -> FunctionSetAssignmentsList
-> DERProgramList -> each program's DERControlList and DefaultDERControl. Lists
are read page by page (s, l). The server's pollRate (on DeviceCapability and
the lists) sets how often the schedule is read again; its Time resource
corrects the controller's clock when the two agree within MAX_SKEW_S.
"""

from __future__ import annotations

import hashlib
import http.client
import ssl
import time
import uuid
from dataclasses import dataclass
from urllib.parse import urlsplit

from lxml import etree

from .events import Control, Default, Limits

NS = "urn:ieee:std:2030.5:ns"
MEDIA_TYPE = "application/sep+xml"
PAGE = 50
MAX_SKEW_S = 60.0
DEFAULT_POLL_S = 60.0
# The site's net active power as this controller mirrors it: a premises aggregation point (roleFlags 03),
# real power (kind 37) in W (uom 38), import positive (flowDirection 1, forward), all phases (0)
SITE_POWER = {
    "description": "Site Avg Real Power (W) - Net",
    "role_flags": "03",
    "reading_type": (
        ("accumulationBehaviour", "12"),
        ("commodity", "1"),
        ("dataQualifier", "2"),
        ("flowDirection", "1"),
        ("kind", "37"),
        ("phase", "0"),
        ("powerOfTenMultiplier", "0"),
        ("uom", "38"),
    ),
}


class ServerError(Exception):
    """The server could not be reached or answered what the controller cannot use."""


class Refused(ServerError):
    """The server answered a POST with an error status: sending it again would not help."""


@dataclass(frozen=True)
class Schedule:
    controls: list[Control]
    defaults: list[Default]
    poll_rate_s: float


def lfdi_of(cert_pem: str) -> str:
    """The LFDI of a certificate: the first 160 bits of the SHA-256 of its DER encoding."""
    der = ssl.PEM_cert_to_DER_cert(cert_pem)
    return hashlib.sha256(der).hexdigest()[:40].upper()


def _local(element: etree._Element) -> str:
    return etree.QName(element).localname


def child(element: etree._Element, name: str) -> etree._Element | None:
    """The first child of that local name, whatever its namespace (2030.5 or a CSIP-AUS extension)."""
    for c in element:
        if isinstance(c.tag, str) and _local(c) == name:
            return c
    return None


def text(element: etree._Element | None, *path: str) -> str | None:
    for name in path:
        if element is None:
            return None
        element = child(element, name)
    return None if element is None or element.text is None else element.text.strip()


def number(element: etree._Element | None, *path: str) -> int | None:
    value = text(element, *path)
    return None if value is None else int(value)


def link(element: etree._Element, name: str) -> str | None:
    found = child(element, name)
    return None if found is None else found.get("href")


def active_power(base: etree._Element | None, name: str) -> float | None:
    """An ActivePower element (value x 10^multiplier) of a DERControlBase, in W."""
    found = None if base is None else child(base, name)
    if found is None:
        return None
    return int(text(found, "value") or 0) * 10.0 ** int(text(found, "multiplier") or 0)


def limits_of(base: etree._Element | None) -> Limits:
    return Limits(export_w=active_power(base, "opModExpLimW"), import_w=active_power(base, "opModImpLimW"))


class Server:
    """The utility's 2030.5 server as this controller's EndDevice sees it."""

    def __init__(
        self, url: str, ca_file: str, cert_file: str, key_file: str, ciphers: str, lfdi: str | None, timeout_s: float
    ) -> None:
        parts = urlsplit(url)
        if parts.scheme != "https" or not parts.hostname:
            raise ValueError(f"expected an https:// URL, got {url!r}")
        self.host, self.port = parts.hostname, parts.port or 443
        self.dcap_href = parts.path.rstrip("/") + "/dcap" if not parts.path.endswith("/dcap") else parts.path
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.minimum_version = context.maximum_version = ssl.TLSVersion.TLSv1_2  # 2030.5: TLS 1.2
        if ciphers:
            context.set_ciphers(ciphers)
        context.load_verify_locations(ca_file)
        context.load_cert_chain(cert_file, key_file)
        self.context = context
        self.timeout_s = timeout_s
        with open(cert_file, encoding="ascii") as f:
            self.lfdi = (lfdi or lfdi_of(f.read())).upper()
        self.clock_offset_s = 0.0  # server Time minus own clock, when they agree within MAX_SKEW_S
        self.time_skewed = False
        self._conn: http.client.HTTPSConnection | None = None
        self._mup_list: str | None = None  # DeviceCapability's MirrorUsagePointListLink
        self._mirror: tuple[str, str] | None = None  # (MirrorUsagePoint href, MirrorMeterReading mRID)

    def now(self) -> float:
        return time.time() + self.clock_offset_s

    # -- HTTP ---------------------------------------------------------------------------
    def _request(self, method: str, href: str, body: bytes | None = None) -> tuple[int, bytes, str | None]:
        for attempt in (1, 2):  # a kept-alive connection the server closed is opened again once
            if self._conn is None:
                self._conn = http.client.HTTPSConnection(
                    self.host, self.port, context=self.context, timeout=self.timeout_s
                )
            headers = {"Accept": MEDIA_TYPE}
            if body is not None:
                headers["Content-Type"] = MEDIA_TYPE
            try:
                self._conn.request(method, href, body=body, headers=headers)
                reply = self._conn.getresponse()
                return reply.status, reply.read(), reply.getheader("Location")
            except (OSError, http.client.HTTPException) as exc:
                self.close()
                if attempt == 2:
                    raise ServerError(f"{method} {href}: {exc}") from None
        raise AssertionError("unreachable")

    def get(self, href: str) -> etree._Element:
        status, body, _ = self._request("GET", href)
        if status != 200:
            raise ServerError(f"GET {href}: HTTP {status} {body[:120]!r}")
        try:
            return etree.fromstring(body, etree.XMLParser(resolve_entities=False, no_network=True))
        except etree.XMLSyntaxError as exc:
            raise ServerError(f"GET {href}: not XML: {exc}") from None

    def get_list(self, href: str, item: str) -> tuple[list[etree._Element], etree._Element]:
        """Every item of a list resource, page by page; and the first page (its pollRate)."""
        items: list[etree._Element] = []
        first = None
        while True:
            sep = "&" if "?" in href else "?"
            page = self.get(f"{href}{sep}s={len(items)}&l={PAGE}")
            first = first if first is not None else page
            got = [c for c in page if isinstance(c.tag, str) and _local(c) == item]
            items += got
            if not got or len(items) >= int(page.get("all", len(items))):
                return items, first

    def post(self, href: str, xml: bytes) -> str | None:
        """POST a resource; the Location the server answers with, if any."""
        status, body, location = self._request("POST", href, xml)
        if status not in (200, 201, 204):
            raise Refused(f"POST {href}: HTTP {status} {body[:120]!r}")
        return location

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    # -- resources ----------------------------------------------------------------------
    def sync_time(self, href: str) -> None:
        server_s = number(self.get(href), "currentTime")
        if server_s is None:
            return
        skew_s = server_s + 0.5 - time.time()  # currentTime is whole seconds
        self.time_skewed = abs(skew_s) > MAX_SKEW_S
        self.clock_offset_s = 0.0 if self.time_skewed else skew_s

    def schedule(self) -> Schedule:
        dcap = self.get(self.dcap_href)
        self._mup_list = link(dcap, "MirrorUsagePointListLink")
        poll_rate_s = float(dcap.get("pollRate", DEFAULT_POLL_S))
        if (tm := link(dcap, "TimeLink")) is not None:
            self.sync_time(tm)
        edev_list = link(dcap, "EndDeviceListLink")
        if edev_list is None:
            raise ServerError("DeviceCapability has no EndDeviceListLink")
        devices, _ = self.get_list(edev_list, "EndDevice")
        mine = next((d for d in devices if (text(d, "lFDI") or "").upper() == self.lfdi), None)
        if mine is None:
            raise ServerError(f"no EndDevice with LFDI {self.lfdi} (not registered?)")
        controls: list[Control] = []
        defaults: list[Default] = []
        fsa_list = link(mine, "FunctionSetAssignmentsListLink")
        for fsa in self.get_list(fsa_list, "FunctionSetAssignments")[0] if fsa_list else []:
            derp_list = link(fsa, "DERProgramListLink")
            if derp_list is None:
                continue
            programs, page = self.get_list(derp_list, "DERProgram")
            poll_rate_s = float(page.get("pollRate", poll_rate_s))
            for program in programs:
                controls += self._controls(program)
                if (dderc := link(program, "DefaultDERControlLink")) is not None:
                    base = child(self.get(dderc), "DERControlBase")
                    defaults.append(Default(program.get("href", ""), number(program, "primacy") or 0, limits_of(base)))
        return Schedule(controls, defaults, poll_rate_s)

    def _controls(self, program: etree._Element) -> list[Control]:
        href = link(program, "DERControlListLink")
        if href is None:
            return []
        out = []
        for c in self.get_list(href, "DERControl")[0]:
            out.append(
                Control(
                    mrid=text(c, "mRID") or "",
                    program=program.get("href", ""),
                    primacy=number(program, "primacy") or 0,
                    created_s=number(c, "creationTime") or 0,
                    start_s=number(c, "interval", "start") or 0,
                    duration_s=number(c, "interval", "duration") or 0,
                    status=number(c, "EventStatus", "currentStatus") or 0,
                    limits=limits_of(child(c, "DERControlBase")),
                    reply_to=c.get("replyTo"),
                    response_required=int(c.get("responseRequired", "0"), 16),
                )
            )
        return out

    def respond(self, control: Control, status: int) -> None:
        """POST a DERControlResponse to the control's replyTo."""
        root = _element("DERControlResponse")
        for name, value in (
            ("createdDateTime", str(int(self.now()))),
            ("endDeviceLFDI", self.lfdi),
            ("status", str(status)),
            ("subject", control.mrid),
        ):
            _add(root, name, value)
        assert control.reply_to is not None
        self.post(control.reply_to, etree.tostring(root))

    def mirror(self, import_w: float, measured_s: float) -> None:
        """The site's net power, import positive, stamped when it was measured (server time, whole seconds)."""
        if self._mirror is None:
            if self._mup_list is None:
                raise ServerError("no MirrorUsagePointListLink known (the schedule was not read yet)")
            mmr_mrid = uuid.uuid4().hex.upper()
            mup = _element("MirrorUsagePoint")
            _add(mup, "mRID", uuid.uuid4().hex.upper())
            _add(mup, "description", "Site")
            _add(mup, "roleFlags", SITE_POWER["role_flags"])
            _add(mup, "serviceCategoryKind", "0")
            _add(mup, "status", "1")
            _add(mup, "deviceLFDI", self.lfdi)
            mmr = _add(mup, "MirrorMeterReading")
            _add(mmr, "mRID", mmr_mrid)
            _add(mmr, "description", SITE_POWER["description"])
            reading_type = _add(mmr, "ReadingType")
            for name, value in SITE_POWER["reading_type"]:
                _add(reading_type, name, value)
            location = self.post(self._mup_list, etree.tostring(mup))
            if not location:
                raise Refused("the server answered the MirrorUsagePoint without its Location")
            self._mirror = (urlsplit(location).path, mmr_mrid)
        href, mmr_mrid = self._mirror
        mmr = _element("MirrorMeterReading")
        _add(mmr, "mRID", mmr_mrid)
        reading = _add(mmr, "Reading")
        period = _add(reading, "timePeriod")
        _add(period, "duration", "0")
        _add(period, "start", str(int(measured_s)))
        _add(reading, "value", str(round(import_w)))
        self.post(href, etree.tostring(mmr))


def _element(name: str) -> etree._Element:
    return etree.Element(f"{{{NS}}}{name}", nsmap={None: NS})


def _add(parent: etree._Element, name: str, value: str | None = None) -> etree._Element:
    element = etree.SubElement(parent, f"{{{NS}}}{name}")
    if value is not None:
        element.text = value
    return element
