"""The DefaultDERControl fields beside its DERControlBase: ramp rates and enter-service settings.

A DefaultDERControl tells a DER how to behave when no event is active: its
DERControlBase (the firm limits) and how fast it may move there (setGradW, the
default ramp rate, in hundredths of a percent of setMaxW per second) and how
it enters service. The operator gives them in engineering units; this module
is the one place they are encoded to and decoded from the wire.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any


@dataclass(frozen=True)
class _Field:
    wire: str  # the DefaultDERControl element
    scale: float  # wire units per engineering unit
    low: int
    high: int


UINT16, UINT32 = 65535, 4294967295
WIRE: dict[str, _Field] = {
    "ramp_rate_pct_per_s": _Field("setGradW", 100, 0, UINT16),  # 0: no limit
    "soft_ramp_rate_pct_per_s": _Field("setSoftGradW", 100, 0, UINT16),
    "enter_service_delay_s": _Field("setESDelay", 100, 0, UINT32),
    "enter_service_ramp_s": _Field("setESRampTms", 100, 0, UINT32),
    "enter_service_random_delay_s": _Field("setESRandomDelay", 100, 0, UINT32),
    "enter_service_high_voltage_pct": _Field("setESHighVolt", 100, -32768, 32767),
    "enter_service_low_voltage_pct": _Field("setESLowVolt", 100, -32768, 32767),
    "enter_service_high_frequency_hz": _Field("setESHighFreq", 100, 0, UINT32),
    "enter_service_low_frequency_hz": _Field("setESLowFreq", 100, 0, UINT32),
}


@dataclass(frozen=True, kw_only=True)
class DefaultSettings:
    """What a DefaultDERControl says besides its limits; None: the element is absent."""

    ramp_rate_pct_per_s: float | None = None  # setGradW: percent of setMaxW per second
    soft_ramp_rate_pct_per_s: float | None = None  # setSoftGradW
    enter_service_delay_s: float | None = None  # setESDelay
    enter_service_ramp_s: float | None = None  # setESRampTms
    enter_service_random_delay_s: float | None = None  # setESRandomDelay
    enter_service_high_voltage_pct: float | None = None  # setESHighVolt, percent of nominal
    enter_service_low_voltage_pct: float | None = None  # setESLowVolt
    enter_service_high_frequency_hz: float | None = None  # setESHighFreq
    enter_service_low_frequency_hz: float | None = None  # setESLowFreq

    def as_dict(self) -> dict[str, float]:
        return {k: v for k, v in asdict(self).items() if v is not None}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DefaultSettings:
        """From engineering units; unknown names are refused, naming the known ones."""
        unknown = set(data) - set(WIRE)
        if unknown:
            raise ValueError(f"unknown default setting(s) {sorted(unknown)}; known: {sorted(WIRE)}")
        return cls(**{k: None if v is None else float(v) for k, v in data.items()})

    def wire(self) -> dict[str, int]:
        """The DefaultDERControl elements; ValueError naming the setting when one does not fit its type."""
        out = {}
        for name, value in self.as_dict().items():
            spec = WIRE[name]
            encoded = round(value * spec.scale)
            if not spec.low <= encoded <= spec.high:
                raise ValueError(
                    f"{name} = {value:g} does not fit {spec.wire} "
                    f"({spec.low / spec.scale:g} to {spec.high / spec.scale:g})"
                )
            out[spec.wire] = encoded
        return out

    @classmethod
    def from_wire(cls, model: Any) -> DefaultSettings:
        """From a DefaultDERControl as a client reads it."""
        values = {f.name: getattr(model, WIRE[f.name].wire, None) for f in fields(cls)}
        return cls(**{k: None if v is None else v / WIRE[k].scale for k, v in values.items()})
