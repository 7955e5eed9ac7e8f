"""The operator API over HTTPS: the same calls as `HeadEnd`, for a head-end in another process.

Authenticated by the operator certificate of the test PKI (mutual TLS); the
server runs the call on its `HeadEnd` and answers JSON, from which records (devices, Responses,
readings) are built back as the `HeadEnd` returns them. Synchronous on purpose:
the CLI and scripts call it one request at a time.
"""

from __future__ import annotations

import http.client
import json
import os
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit

from flexbench.core import Envelope, Interval, to_envelope
from flexbench.signals.csip import uris
from flexbench.signals.csip.controls import ControlValues
from flexbench.signals.csip.defaults import DefaultSettings
from flexbench.signals.csip.prices import PriceInterval
from flexbench.signals.csip.record_types import ResponseRecord, TelemetryRecord
from flexbench.signals.csip.registry import Device
from flexbench.signals.csip.tls import INTEROP_CIPHERS, client_context

PathLike = str | os.PathLike[str]


class OperatorError(Exception):
    """The server refused an operator call; the message is the server's reason."""


class OperatorClient:
    """Remote operator: register devices, publish envelopes and controls, read back what devices sent."""

    def __init__(
        self,
        server_url: str,
        ca_cert: PathLike,
        cert: PathLike,
        key: PathLike,
        ciphers: str = INTEROP_CIPHERS,
        timeout_s: float = 30.0,
    ) -> None:
        parts = urlsplit(server_url)
        if parts.scheme != "https" or not parts.hostname:
            raise ValueError(f"server URL must be https://host:port, got {server_url!r}")
        self.host = parts.hostname
        self.port = parts.port or 443
        self.context = client_context(ca_cert, cert, key, ciphers=ciphers)
        self.timeout_s = timeout_s

    @classmethod
    def from_certs_dir(cls, server_url: str, certs_dir: PathLike, **kwargs: Any) -> OperatorClient:
        from flexbench.signals.pki.authority import TestPKI

        pki = TestPKI(certs_dir)
        operator = pki.operator
        return cls(server_url, pki.ca_cert_path, operator.cert_path, operator.key_path, **kwargs)

    def call(self, method: str, **kwargs: Any) -> Any:
        body = json.dumps(kwargs).encode()
        conn = http.client.HTTPSConnection(self.host, self.port, context=self.context, timeout=self.timeout_s)
        try:
            conn.request("POST", uris.ADMIN_CALL.href(method), body=body, headers={"Content-Type": "application/json"})
            response = conn.getresponse()
            data = response.read()
        finally:
            conn.close()
        try:
            payload = json.loads(data)
        except ValueError:
            raise OperatorError(f"{method}: HTTP {response.status}: {data[:200]!r}") from None
        if response.status != 200:
            raise OperatorError(f"{method}: {payload.get('error', response.status)}")
        return payload["result"]

    # The HeadEnd operator calls ------------------------------------------------------
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
        row = self.call(
            "register_device",
            lfdi=lfdi,
            sfdi=sfdi,
            kind=kind,
            aggregator_lfdi=aggregator_lfdi,
            pin=pin,
            limit_mode=limit_mode,
            rated_w=rated_w,
            connection_point_id=connection_point_id,
            csipaus_version=csipaus_version,
            post_rate_s=post_rate_s,
            description=description,
        )
        return Device(**row)

    def set_client_access(self, lfdi: str, granted: bool) -> Device:
        return Device(**self.call("set_client_access", lfdi=lfdi, granted=granted))

    def set_poll_rate(self, resource: str, rate_s: int | None, lfdi: str | None = None) -> dict[str, Any]:
        return self.call("set_poll_rate", resource=resource, rate_s=rate_s, lfdi=lfdi)

    def put_program(
        self, lfdi: str, name: str, primacy: int, fsa: int = 1, description: str | None = None
    ) -> dict[str, Any]:
        return self.call("put_program", lfdi=lfdi, name=name, primacy=primacy, fsa=fsa, description=description)

    def cancel_controls(self, lfdi: str, newest_only: bool = False) -> list[dict[str, Any]]:
        return self.call("cancel_controls", lfdi=lfdi, newest_only=newest_only)

    def put_fsa(self, lfdi: str, fsa: int, description: str) -> dict[str, Any]:
        return self.call("put_fsa", lfdi=lfdi, fsa=fsa, description=description)

    def programs(self, lfdi: str) -> list[dict[str, Any]]:
        return self.call("programs", lfdi=lfdi)

    def deregister_device(self, lfdi: str) -> Device:
        return Device(**self.call("deregister_device", lfdi=lfdi))

    def delete_program(self, lfdi: str, program: str) -> dict[str, Any]:
        return self.call("delete_program", lfdi=lfdi, program=program)

    def delete_control(self, mrid: str) -> dict[str, Any]:
        return self.call("delete_control", mrid=mrid)

    def reset_device(self, lfdi: str) -> dict[str, int]:
        return self.call("reset_device", lfdi=lfdi)

    def delete_mirror_usage_points(self, lfdi: str, mrid: str | None = None) -> int:
        return self.call("delete_mirror_usage_points", lfdi=lfdi, mrid=mrid)

    def devices(self) -> list[Device]:
        return [Device(**row) for row in self.call("devices")]

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
        rows = [
            {
                "start": i.start_s,
                "duration_s": i.duration_s,
                "import_limit_w": i.import_limit_w,
                "export_limit_w": i.export_limit_w,
            }
            for i in to_envelope(envelope)
        ]
        return self.call(
            "publish_envelope",
            lfdi=lfdi,
            intervals=rows,
            program=program,
            mode=mode,
            randomize_start_s=randomize_start_s,
            randomize_duration_s=randomize_duration_s,
            response_required=response_required,
            ramp_time_s=ramp_time_s,
        )

    def publish_prices(
        self, lfdi: str, intervals: Sequence[PriceInterval | dict[str, Any]], **kwargs: Any
    ) -> dict[str, Any]:
        rows = [i.as_dict() if isinstance(i, PriceInterval) else dict(i) for i in intervals]
        return self.call("publish_prices", lfdi=lfdi, intervals=rows, **kwargs)

    def prices(self, lfdi: str, listed_only: bool = False) -> list[dict[str, Any]]:
        return self.call("prices", lfdi=lfdi, listed_only=listed_only)

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
        return self.call(
            "publish_control",
            lfdi=lfdi,
            start=start,
            duration_s=duration_s,
            values=values.as_dict() if isinstance(values, ControlValues) else values,
            program=program,
            randomize_start_s=randomize_start_s,
            randomize_duration_s=randomize_duration_s,
            response_required=response_required,
            description=description,
        )

    def supersede_control(
        self, mrid: str, values: ControlValues | dict[str, Any], start: Any = None, duration_s: int | None = None
    ) -> dict[str, Any]:
        values = values.as_dict() if isinstance(values, ControlValues) else values
        return self.call("supersede_control", mrid=mrid, values=values, start=start, duration_s=duration_s)

    def cancel_control(self, mrid: str, randomized: bool = False) -> dict[str, Any]:
        return self.call("cancel_control", mrid=mrid, randomized=randomized)

    def set_default_control(
        self,
        lfdi: str,
        import_limit_w: float | None = None,
        export_limit_w: float | None = None,
        program: str = "envelope",
        values: ControlValues | dict[str, Any] | None = None,
        settings: DefaultSettings | dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        return self.call(
            "set_default_control",
            lfdi=lfdi,
            import_limit_w=import_limit_w,
            export_limit_w=export_limit_w,
            program=program,
            values=values.as_dict() if isinstance(values, ControlValues) else values,
            settings=settings.as_dict() if isinstance(settings, DefaultSettings) else settings,
        )

    def signal_abnormal(
        self,
        lfdis: str | list[str],
        max_import_w: float,
        duration_s: int = 3600,
        start: Any = None,
        program: str = "abnormal",
    ) -> dict[str, str]:
        return self.call(
            "signal_abnormal",
            lfdis=lfdis,
            max_import_w=max_import_w,
            duration_s=duration_s,
            start=start,
            program=program,
        )

    def controls(self, lfdi: str, program: str | None = None, listed_only: bool = False) -> list[dict[str, Any]]:
        return self.call("controls", lfdi=lfdi, program=program, listed_only=listed_only)

    def default_control(self, lfdi: str, program: str = "envelope") -> dict[str, Any] | None:
        return self.call("default_control", lfdi=lfdi, program=program)

    def responses(self, lfdi: str | None = None, subject: str | None = None) -> list[ResponseRecord]:
        return [ResponseRecord(**row) for row in self.call("responses", lfdi=lfdi, subject=subject)]

    def telemetry(self, lfdi: str, since: Any = None) -> list[TelemetryRecord]:
        return [TelemetryRecord(**row) for row in self.call("telemetry", lfdi=lfdi, since=since)]

    def der_reports(self, lfdi: str) -> dict[str, Any]:
        return self.call("der_reports", lfdi=lfdi)

    def limit_mode(self, lfdi: str) -> str:
        return self.call("limit_mode", lfdi=lfdi)
