"""The envelope server's information model: sites, their variables, ranges, units and who writes what.

Every site is an object `Sites/<site>` whose variables have string node IDs
`<site>.<Variable>` in namespace NAMESPACE_URI, so SCADA and site controllers
can be configured from this table without browsing. Sign convention at the
PCC: active power is positive when the site imports from the grid.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from enum import IntEnum

from asyncua import ua

from flexbench.signals.opcua.ids import ua_node_id

NAMESPACE_URI = "urn:flexbench:opcua:envelopes"
SITE_NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")
UNECE_UNITS_URI = "http://www.opcfoundation.org/UA/units/un/cefact"


def _unece_unit_id(code: str) -> int:
    """OPC-UA UnitId of a UN/CEFACT Recommendation 20 code: its characters packed into an integer."""
    value = 0
    for ch in code:
        value = (value << 8) | ord(ch)
    return value


def eu_information(code: str, symbol: str, description: str) -> ua.EUInformation:
    return ua.EUInformation(
        NamespaceUri=UNECE_UNITS_URI,
        UnitId=_unece_unit_id(code),
        DisplayName=ua.LocalizedText(symbol),
        Description=ua.LocalizedText(description),
    )


UNIT_W = eu_information("WTT", "W", "watt")
UNIT_VAR = eu_information("D44", "var", "var")
UNIT_S = eu_information("SEC", "s", "second")


class OperatingMode(IntEnum):
    """Values of OperatingMode (a MultiStateDiscrete: EnumStrings Normal, Abnormal)."""

    NORMAL = 0
    ABNORMAL = 1


class Writer:
    """Who may write a variable from outside; the server itself writes everything."""

    NOBODY = "nobody"
    OPERATOR = "operator"
    SITE = "site"


@dataclass(frozen=True)
class SiteSpec:
    """A site's physical range at the PCC and its firm (fallback) limits, in W and var."""

    name: str
    rated_import_w: float
    rated_export_w: float
    firm_import_limit_w: float | None = None
    firm_export_limit_w: float | None = None
    rated_reactive_var: float | None = None

    def __post_init__(self) -> None:
        if not SITE_NAME_PATTERN.match(self.name):
            raise ValueError(f"site name {self.name!r}: use letters, digits, '_', '-' (at most 64)")
        for label, value in (("rated_import_w", self.rated_import_w), ("rated_export_w", self.rated_export_w)):
            if not math.isfinite(value) or value < 0:
                raise ValueError(f"site {self.name}: {label} must be a finite number >= 0, got {value}")
        for label, limit, high in (
            ("firm_import_limit_w", self.firm_import_limit_w, self.rated_import_w),
            ("firm_export_limit_w", self.firm_export_limit_w, self.rated_export_w),
        ):
            if limit is not None and not (math.isfinite(limit) and 0 <= limit <= high):
                raise ValueError(f"site {self.name}: {label} must lie in [0, {high}], got {limit}")

    @property
    def firm_import_w(self) -> float:
        return self.rated_import_w if self.firm_import_limit_w is None else self.firm_import_limit_w

    @property
    def firm_export_w(self) -> float:
        return self.rated_export_w if self.firm_export_limit_w is None else self.firm_export_limit_w

    @property
    def reactive_range_var(self) -> float:
        if self.rated_reactive_var is not None:
            return self.rated_reactive_var
        return max(self.rated_import_w, self.rated_export_w)


@dataclass(frozen=True)
class VariableDef:
    """One variable of every site object."""

    name: str
    variant_type: ua.VariantType
    writer: str = Writer.NOBODY
    unit: ua.EUInformation | None = None
    array: bool = False
    analog: bool = False  # AnalogItemType with EURange

    def eu_range(self, site: SiteSpec) -> tuple[float, float] | None:
        """The physical range a written value must lie in (None: no range)."""
        return RANGES.get(self.name, lambda s: None)(site)


# Limits (operator writes), the active envelope and status (server writes), write-back (site writes).
IMPORT_LIMIT = "ImportLimitW"
EXPORT_LIMIT = "ExportLimitW"
FIRM_IMPORT_LIMIT = "FirmImportLimitW"
FIRM_EXPORT_LIMIT = "FirmExportLimitW"
LIMIT_SOURCE = "LimitSource"
ENVELOPE_START = "EnvelopeStart"
ENVELOPE_DURATION = "EnvelopeDurationS"
ENVELOPE_IMPORT = "EnvelopeImportLimitW"
ENVELOPE_EXPORT = "EnvelopeExportLimitW"
ENVELOPE_VERSION = "EnvelopeVersion"
VALID_UNTIL = "ValidUntil"
HEARTBEAT = "Heartbeat"
HEARTBEAT_INTERVAL = "HeartbeatIntervalS"
OPERATING_MODE = "OperatingMode"
ABNORMAL_IMPORT_LIMIT = "AbnormalImportLimitW"
ABNORMAL_UNTIL = "AbnormalUntil"
MEASURED_P = "MeasuredPW"
MEASURED_Q = "MeasuredQVar"
APPLIED_IMPORT_LIMIT = "AppliedImportLimitW"
APPLIED_EXPORT_LIMIT = "AppliedExportLimitW"
MEASUREMENT_TIME = "MeasurementTime"

_D, _DT, _U32, _S = ua.VariantType.Double, ua.VariantType.DateTime, ua.VariantType.UInt32, ua.VariantType.String

VARIABLES: tuple[VariableDef, ...] = (
    VariableDef(IMPORT_LIMIT, _D, Writer.OPERATOR, UNIT_W, analog=True),
    VariableDef(EXPORT_LIMIT, _D, Writer.OPERATOR, UNIT_W, analog=True),
    VariableDef(FIRM_IMPORT_LIMIT, _D, Writer.OPERATOR, UNIT_W, analog=True),
    VariableDef(FIRM_EXPORT_LIMIT, _D, Writer.OPERATOR, UNIT_W, analog=True),
    VariableDef(LIMIT_SOURCE, _S),
    VariableDef(ENVELOPE_START, _DT, array=True),
    VariableDef(ENVELOPE_DURATION, _D, unit=UNIT_S, array=True),
    VariableDef(ENVELOPE_IMPORT, _D, unit=UNIT_W, array=True),
    VariableDef(ENVELOPE_EXPORT, _D, unit=UNIT_W, array=True),
    VariableDef(ENVELOPE_VERSION, _U32),
    VariableDef(VALID_UNTIL, _DT),
    VariableDef(HEARTBEAT, _U32),
    VariableDef(HEARTBEAT_INTERVAL, _D, unit=UNIT_S),
    VariableDef(OPERATING_MODE, _U32),
    VariableDef(ABNORMAL_IMPORT_LIMIT, _D, unit=UNIT_W, analog=True),
    VariableDef(ABNORMAL_UNTIL, _DT),
    VariableDef(MEASURED_P, _D, Writer.SITE, UNIT_W, analog=True),
    VariableDef(MEASURED_Q, _D, Writer.SITE, UNIT_VAR, analog=True),
    VariableDef(APPLIED_IMPORT_LIMIT, _D, Writer.SITE, UNIT_W, analog=True),
    VariableDef(APPLIED_EXPORT_LIMIT, _D, Writer.SITE, UNIT_W, analog=True),
    VariableDef(MEASUREMENT_TIME, _DT, Writer.SITE),
)
VARIABLES_BY_NAME = {v.name: v for v in VARIABLES}
# Variables a site watches by subscription.
SIGNALS = (
    IMPORT_LIMIT,
    EXPORT_LIMIT,
    FIRM_IMPORT_LIMIT,
    FIRM_EXPORT_LIMIT,
    LIMIT_SOURCE,
    ENVELOPE_VERSION,
    VALID_UNTIL,
    HEARTBEAT,
    HEARTBEAT_INTERVAL,
    OPERATING_MODE,
    ABNORMAL_IMPORT_LIMIT,
    ABNORMAL_UNTIL,
)
WRITE_BACK = (MEASURED_P, MEASURED_Q, APPLIED_IMPORT_LIMIT, APPLIED_EXPORT_LIMIT, MEASUREMENT_TIME)

RANGES = {
    IMPORT_LIMIT: lambda s: (0.0, s.rated_import_w),
    EXPORT_LIMIT: lambda s: (0.0, s.rated_export_w),
    FIRM_IMPORT_LIMIT: lambda s: (0.0, s.rated_import_w),
    FIRM_EXPORT_LIMIT: lambda s: (0.0, s.rated_export_w),
    ABNORMAL_IMPORT_LIMIT: lambda s: (0.0, s.rated_import_w),
    MEASURED_P: lambda s: (-s.rated_export_w, s.rated_import_w),
    MEASURED_Q: lambda s: (-s.reactive_range_var, s.reactive_range_var),
    APPLIED_IMPORT_LIMIT: lambda s: (0.0, s.rated_import_w),
    APPLIED_EXPORT_LIMIT: lambda s: (0.0, s.rated_export_w),
}

PUBLISH_ENVELOPE = "PublishEnvelope"
SIGNAL_ABNORMAL = "SignalAbnormal"
CLEAR_ABNORMAL = "ClearAbnormal"
METHODS = (PUBLISH_ENVELOPE, SIGNAL_ABNORMAL, CLEAR_ABNORMAL)


def node_id_string(site: str, name: str) -> str:
    """String identifier of a site's variable or method (without namespace)."""
    return f"{site}.{name}"


def node_id(site: str, name: str, ns: int) -> ua.NodeId:
    return ua_node_id(node_id_string(site, name), ns)


def site_node_id(site: str, ns: int) -> ua.NodeId:
    return ua_node_id(f"Sites/{site}", ns)
