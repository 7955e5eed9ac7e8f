"""flexbench.twin: the feeder twin.

OpenDSS feeder models (embedded IEEE 13, 123, 8500), customer locations and
constraints extracted from them, load/PV time series, and operating envelopes
(static, variable, dynamic) verified by full power flow.

    from flexbench.twin import Twin, compute_envelope
    twin = Twin.from_name("ieee123")
    env = compute_envelope(twin, "variable", horizon="72h", resolution="1h")
    env.save("env.csv")
"""

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
