"""flexbench.twin: the feeder twin.

OpenDSS feeder models (embedded IEEE 13, 123, 8500), customer locations and
constraints extracted from them, load/PV time series, and operating envelopes
(static, variable, dynamic) verified by full power flow.

    from flexbench.twin import Twin, compute_envelope
    twin = Twin.from_name("ieee123")
    env = compute_envelope(twin, "variable", horizon="72h", resolution="1h")
    env.save("env.csv")
"""

from typing import TYPE_CHECKING

from flexbench.core.lazy import lazy_exports

if TYPE_CHECKING:
    from flexbench.twin.compute import EnvelopeSettings
    from flexbench.twin.controls import CONTROL_POLICIES, ControlState, ControlStateError, read_control_state
    from flexbench.twin.envelope import EnvelopeSet
    from flexbench.twin.errors import FeederError, ProfileError, SiteError, TwinError
    from flexbench.twin.feeders import feeder_names, resolve_feeder
    from flexbench.twin.model import Site
    from flexbench.twin.operating_envelopes import (
        MeasuredState,
        compute_envelope,
        dynamic_envelope,
        static_envelope,
        variable_envelope,
    )
    from flexbench.twin.profiles import Profiles, forecast, read_profiles, synthetic_profiles
    from flexbench.twin.twin import Limits, Twin

__all__ = [
    "CONTROL_POLICIES",
    "ControlState",
    "ControlStateError",
    "EnvelopeSet",
    "EnvelopeSettings",
    "FeederError",
    "Limits",
    "MeasuredState",
    "ProfileError",
    "Profiles",
    "Site",
    "SiteError",
    "Twin",
    "TwinError",
    "compute_envelope",
    "dynamic_envelope",
    "feeder_names",
    "forecast",
    "read_control_state",
    "read_profiles",
    "resolve_feeder",
    "static_envelope",
    "synthetic_profiles",
    "variable_envelope",
]

# imported on first use (see flexbench.core.lazy)
_EXPORTS = {
    "EnvelopeSettings": "compute",
    "CONTROL_POLICIES": "controls",
    "ControlState": "controls",
    "ControlStateError": "controls",
    "read_control_state": "controls",
    "EnvelopeSet": "envelope",
    "FeederError": "errors",
    "ProfileError": "errors",
    "SiteError": "errors",
    "TwinError": "errors",
    "feeder_names": "feeders",
    "resolve_feeder": "feeders",
    "Site": "model",
    "MeasuredState": "operating_envelopes",
    "compute_envelope": "operating_envelopes",
    "dynamic_envelope": "operating_envelopes",
    "static_envelope": "operating_envelopes",
    "variable_envelope": "operating_envelopes",
    "Profiles": "profiles",
    "forecast": "profiles",
    "read_profiles": "profiles",
    "synthetic_profiles": "profiles",
    "Limits": "twin",
    "Twin": "twin",
}
__getattr__ = lazy_exports(__name__, _EXPORTS)
