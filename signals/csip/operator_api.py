"""The operator's calls, as one Protocol: `HeadEnd` (in process) and `OperatorClient` (over HTTPS) both are one.

Code written against `OperatorApi` (a test plan, the conformance plugin, a utility's script) runs
unchanged with either. The HTTPS admin API serves exactly these calls, and mypy checks that both
classes keep to the signatures here (`_both_are_operators` below, checked by `make lint`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from flexbench.core import Envelope, Interval
from flexbench.signals.csip.controls import ControlValues
from flexbench.signals.csip.defaults import DefaultSettings
from flexbench.signals.csip.prices import PriceInterval
from flexbench.signals.csip.record_types import ResponseRecord, TelemetryRecord
from flexbench.signals.csip.registry import Device

if TYPE_CHECKING:
    from flexbench.signals.csip.headend import HeadEnd
    from flexbench.signals.csip.operator_client import OperatorClient


@runtime_checkable
class OperatorApi(Protocol):
    """Register devices, publish and withdraw controls, programs and prices, read back what devices sent."""

    # Registration and access
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
    ) -> Device: ...
    def devices(self) -> list[Device]: ...
    def deregister_device(self, lfdi: str) -> Device: ...
    def set_client_access(self, lfdi: str, granted: bool) -> Device: ...
    def set_poll_rate(self, resource: str, rate_s: int | None, lfdi: str | None = None) -> dict[str, Any]: ...
    def limit_mode(self, lfdi: str) -> str: ...

    # Programs and function set assignments
    def put_program(
        self, lfdi: str, name: str, primacy: int, fsa: int = 1, description: str | None = None
    ) -> dict[str, Any]: ...
    def put_fsa(self, lfdi: str, fsa: int, description: str) -> dict[str, Any]: ...
    def programs(self, lfdi: str) -> list[dict[str, Any]]: ...
    def delete_program(self, lfdi: str, program: str) -> dict[str, Any]: ...

    # Controls
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
    ) -> dict[str, Any]: ...
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
    ) -> dict[str, Any]: ...
    def supersede_control(
        self, mrid: str, values: ControlValues | dict[str, Any], start: Any = None, duration_s: int | None = None
    ) -> dict[str, Any]: ...
    def cancel_control(self, mrid: str, randomized: bool = False) -> dict[str, Any]: ...
    def cancel_controls(self, lfdi: str, newest_only: bool = False) -> list[dict[str, Any]]: ...
    def delete_control(self, mrid: str) -> dict[str, Any]: ...
    def reset_device(self, lfdi: str) -> dict[str, int]: ...
    def set_default_control(
        self,
        lfdi: str,
        import_limit_w: float | None = None,
        export_limit_w: float | None = None,
        program: str = "envelope",
        values: ControlValues | dict[str, Any] | None = None,
        settings: DefaultSettings | dict[str, Any] | None = None,
    ) -> dict[str, Any]: ...
    def signal_abnormal(
        self,
        lfdis: str | list[str],
        max_import_w: float,
        duration_s: int = 3600,
        start: Any = None,
        program: str = "abnormal",
    ) -> dict[str, str]: ...
    def controls(self, lfdi: str, program: str | None = None, listed_only: bool = False) -> list[dict[str, Any]]: ...
    def default_control(self, lfdi: str, program: str = "envelope") -> dict[str, Any] | None: ...

    # Prices
    def publish_prices(
        self, lfdi: str, intervals: Sequence[PriceInterval | dict[str, Any]], **terms: Any
    ) -> dict[str, Any]: ...
    def prices(self, lfdi: str, listed_only: bool = False) -> list[dict[str, Any]]: ...

    # What devices sent
    def responses(self, lfdi: str | None = None, subject: str | None = None) -> list[ResponseRecord]: ...
    def telemetry(self, lfdi: str, since: Any = None) -> list[TelemetryRecord]: ...
    def der_reports(self, lfdi: str) -> dict[str, Any]: ...
    def delete_mirror_usage_points(self, lfdi: str, mrid: str | None = None) -> int: ...


OPERATOR_CALLS = frozenset(name for name in vars(OperatorApi) if not name.startswith("_"))


def as_json(result: Any) -> Any:
    """An operator call's result as JSON data, where it leaves Python (the HTTPS admin, the CLI's --json): a
    record (Device, ResponseRecord ...) as the dict of its fields, so the JSON keeps the shape it always had."""
    if isinstance(result, list):
        return [as_json(item) for item in result]
    if dataclasses.is_dataclass(result) and not isinstance(result, type):
        return dataclasses.asdict(result)
    return result


if TYPE_CHECKING:

    def _both_are_operators(headend: HeadEnd, client: OperatorClient) -> tuple[OperatorApi, OperatorApi]:
        return headend, client  # mypy: each keeps to every signature of OperatorApi
