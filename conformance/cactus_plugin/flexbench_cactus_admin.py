"""cactus-client admin plugin: each server-side action of a procedure as a flexbench operator call.

The calls go over flexbench's HTTPS operator interface (POST /admin/call/<method>, mutual TLS
with the test PKI's operator certificate), never to its store. The runner names the server and
the certificates in the environment (FLEXBENCH_ADMIN_URL, _CA, _CERT, _KEY). An action the
operator API cannot perform raises, so the procedure fails naming the missing action rather than
running on against a server in the wrong state.
"""

from __future__ import annotations

import asyncio
import http.client
import json
import os
import ssl
import time
from typing import Any
from urllib.parse import urlsplit

from cactus_client.admin import hookimpl
from cactus_client.model.config import ClientConfig
from cactus_client.model.context import AdminContext
from cactus_client.model.execution import ActionResult, StepExecution
from cactus_client.sep2 import lfdi_from_cert_file
from cactus_test_definitions.server.admin_instructions import AdminInstruction, AdminInstructionType
from cactus_test_definitions.server.test_procedures import ClientType

# cactus parameter -> flexbench ControlValues field (engineering units both sides)
CONTROL_FIELDS = {
    "opModExpLimW": "export_limit_w",
    "opModImpLimW": "import_limit_w",
    "opModGenLimW": "generation_limit_w",
    "opModLoadLimW": "load_limit_w",
    "opModConnect": "connect",
    "opModEnergize": "energize",
    "opModFixedW": "fixed_w_pct",
}
ACTIVE_LEAD_S = 60  # an "active" control started this long ago
SCHEDULED_LEAD_S = 120  # the first "scheduled" control starts this far ahead
DEFAULT_DURATION_S = 600
SCHEDULED_DURATION_S = 60  # a "scheduled" control of no named duration: S-ALL-41 waits for it to complete
ENVELOPE = "envelope"  # the program a control of no named primacy goes to
ENVELOPE_PRIMACY = 2  # its primacy when the server has none (flexbench's default layout)


class OperatorCallError(RuntimeError):
    """The head-end refused an operator call, or the operator API has no such action."""


class AdminApi:
    """Blocking JSON calls to the head-end's operator interface."""

    def __init__(self) -> None:
        url = urlsplit(os.environ["FLEXBENCH_ADMIN_URL"])
        self.host, self.port = url.hostname or "127.0.0.1", url.port or 443
        self.context = ssl.create_default_context(cafile=os.environ["FLEXBENCH_ADMIN_CA"])
        self.context.load_cert_chain(os.environ["FLEXBENCH_ADMIN_CERT"], os.environ["FLEXBENCH_ADMIN_KEY"])

    def call(self, method: str, **kwargs: Any) -> Any:
        conn = http.client.HTTPSConnection(self.host, self.port, context=self.context, timeout=30)
        try:
            body = json.dumps(kwargs).encode()
            conn.request("POST", f"/admin/call/{method}", body, {"Content-Type": "application/json"})
            response = conn.getresponse()
            payload = json.loads(response.read() or b"{}")
        finally:
            conn.close()
        if response.status != 200:
            raise OperatorCallError(f"{method}: HTTP {response.status}: {payload.get('error')}")
        return payload["result"]


def unsupported(what: str) -> OperatorCallError:
    return OperatorCallError(f"flexbench's operator API cannot {what}")


class FlexbenchAdmin:
    """State of one procedure run: where the next scheduled control starts, the FSAs asked for (annotation ->
    number, in the order asked) and the program ensured for each primacy."""

    def __init__(self) -> None:
        self.next_scheduled_s = 0
        self.fsas: dict[str, int] = {}
        self.ensured: dict[int, str] = {}

    @hookimpl
    async def admin_setup(self, context: AdminContext) -> ActionResult:
        self.next_scheduled_s = 0
        self.fsas = {}
        self.ensured = {}
        return ActionResult.done()

    @hookimpl
    async def admin_instruction(
        self, instruction: AdminInstruction, step: StepExecution, context: AdminContext
    ) -> ActionResult | None:
        client = context.client_config_for(instruction.client)
        await asyncio.to_thread(self.perform, AdminApi(), instruction.type, instruction.parameters, client)
        return ActionResult.done()

    # One method per instruction type --------------------------------------------------------
    def perform(self, api: AdminApi, kind: AdminInstructionType, params: dict[str, Any], client: ClientConfig) -> None:
        handlers = {
            AdminInstructionType.ENSURE_END_DEVICE: self.ensure_end_device,
            AdminInstructionType.ENSURE_FSA: self.ensure_fsa,
            AdminInstructionType.ENSURE_DER_PROGRAM: self.ensure_der_program,
            AdminInstructionType.ENSURE_DER_CONTROL_LIST: lambda *_: None,  # every program has its list
            AdminInstructionType.ENSURE_MUP_LIST_EMPTY: self.ensure_mup_list_empty,
            AdminInstructionType.CREATE_DER_CONTROL: self.create_der_control,
            AdminInstructionType.CREATE_DEFAULT_DER_CONTROL: self.create_default_der_control,
            AdminInstructionType.CLEAR_DER_CONTROLS: self.clear_der_controls,
            AdminInstructionType.SET_POLL_RATE: self.set_poll_rate,
            AdminInstructionType.SET_POST_RATE: self.set_post_rate,
            AdminInstructionType.SET_CLIENT_ACCESS: self.set_client_access,
        }
        handlers[kind](api, params, client)

    def ensure_end_device(self, api: AdminApi, params: dict[str, Any], client: ClientConfig) -> None:
        aggregator = None
        if client.type == ClientType.AGGREGATOR:  # the utility provisions the aggregator; its sites register
            aggregator = lfdi_from_cert_file(client.certificate_file)
            api.call("register_device", lfdi=aggregator, kind="aggregator", pin=client.pin)
        if not params.get("registered", True):
            if any(d["lfdi"].upper() == client.lfdi.upper() for d in api.call("devices")):
                api.call("deregister_device", lfdi=client.lfdi)
            return
        api.call("register_device", lfdi=client.lfdi, sfdi=client.sfdi, pin=client.pin, aggregator_lfdi=aggregator)

    def ensure_mup_list_empty(self, api: AdminApi, params: dict[str, Any], client: ClientConfig) -> None:
        if any(d["lfdi"].upper() == client.lfdi.upper() for d in api.call("devices")):
            api.call("delete_mirror_usage_points", lfdi=client.lfdi)

    def ensure_fsa(self, api: AdminApi, params: dict[str, Any], client: ClientConfig) -> None:
        """The annotated FSA, by its description: the first annotation names the first FSA, each new one the next."""
        annotation = str(params.get("annotation"))
        fsa = self.fsas.setdefault(annotation, len(self.fsas) + 1)
        api.call("put_fsa", lfdi=client.lfdi, fsa=fsa, description=annotation)

    def ensure_der_program(self, api: AdminApi, params: dict[str, Any], client: ClientConfig) -> None:
        """The device's program of this primacy in the annotated FSA (the first FSA when none is named)."""
        fsa = self.fsas.get(str(params.get("fsa_annotation")), 1)
        primacy = params.get("primacy")
        if primacy is None:
            self.ensure_only_envelope(api, client, fsa)
            return
        found = [p for p in api.call("programs", lfdi=client.lfdi) if p["primacy"] == primacy and p["fsa"] == fsa]
        if found:
            self.ensured[primacy] = found[0]["name"]
        else:
            name = f"fsa{fsa}-primacy{primacy}"
            self.ensured[primacy] = api.call("put_program", lfdi=client.lfdi, name=name, primacy=primacy, fsa=fsa)[
                "name"
            ]

    def ensure_only_envelope(self, api: AdminApi, client: ClientConfig, fsa: int) -> None:
        """A program of no named primacy: the FSA holds the envelope program and no other, as the procedures
        count exactly one DERProgram in it (S-ALL-25). The others go first, so that the list's notification
        carries the envelope program alone."""
        programs = api.call("programs", lfdi=client.lfdi)
        for other in [p for p in programs if p["fsa"] == fsa and p["name"] != ENVELOPE]:
            api.call("delete_program", lfdi=client.lfdi, program=other["name"])
        envelope = [p for p in programs if p["name"] == ENVELOPE]
        if not envelope or envelope[0]["fsa"] != fsa:
            primacy = envelope[0]["primacy"] if envelope else ENVELOPE_PRIMACY
            api.call("put_program", lfdi=client.lfdi, name=ENVELOPE, primacy=primacy, fsa=fsa)

    def program(self, api: AdminApi, client: ClientConfig, primacy: int | None) -> str:
        """The name of the device's program with this primacy (the envelope program when none is asked)."""
        if primacy is None:
            return ENVELOPE
        if primacy in self.ensured:
            return self.ensured[primacy]
        names = [p["name"] for p in api.call("programs", lfdi=client.lfdi) if p["primacy"] == primacy]
        if not names:
            raise unsupported(f"find a DERProgram of primacy {primacy} (none was ensured)")
        return names[0]

    def create_der_control(self, api: AdminApi, params: dict[str, Any], client: ClientConfig) -> None:
        now_s = int(time.time())
        scheduled = params.get("status", "active") == "scheduled"
        duration_s = int(params.get("duration_seconds") or (SCHEDULED_DURATION_S if scheduled else DEFAULT_DURATION_S))
        if scheduled:
            start_s = max(now_s + int(params.get("start_offset_seconds") or SCHEDULED_LEAD_S), self.next_scheduled_s)
            self.next_scheduled_s = start_s + duration_s
        else:
            start_s = now_s - ACTIVE_LEAD_S
            duration_s += ACTIVE_LEAD_S
        values = control_values(params)
        if "rampTms" in params:
            values["ramp_time_s"] = int(params["rampTms"]) / 100.0
        api.call(
            "publish_control",
            lfdi=client.lfdi,
            start=start_s,
            duration_s=duration_s,
            values=values,
            program=self.program(api, client, params.get("primacy")),
            randomize_start_s=params.get("randomizeStart_seconds"),
        )

    def create_default_der_control(self, api: AdminApi, params: dict[str, Any], client: ClientConfig) -> None:
        values = control_values(params)
        settings = {"ramp_rate_pct_per_s": int(params["setGradW"]) / 100.0} if "setGradW" in params else None
        api.call(
            "set_default_control",
            lfdi=client.lfdi,
            values=values or None,
            settings=settings,
            program=self.program(api, client, params.get("primacy")),
        )

    def clear_der_controls(self, api: AdminApi, params: dict[str, Any], client: ClientConfig) -> None:
        api.call("cancel_controls", lfdi=client.lfdi, newest_only=not params.get("all"))

    def set_poll_rate(self, api: AdminApi, params: dict[str, Any], client: ClientConfig) -> None:
        api.call("set_poll_rate", resource=params["resource"], rate_s=int(params["rate_seconds"]))

    def set_post_rate(self, api: AdminApi, params: dict[str, Any], client: ClientConfig) -> None:
        api.call("register_device", lfdi=client.lfdi, post_rate_s=int(params["rate_seconds"]))

    def set_client_access(self, api: AdminApi, params: dict[str, Any], client: ClientConfig) -> None:
        api.call("set_client_access", lfdi=client.lfdi, granted=bool(params.get("granted", True)))


def control_values(params: dict[str, Any]) -> dict[str, Any]:
    """The flat ControlValues of an instruction's control parameters."""
    return {field: params[name] for name, field in CONTROL_FIELDS.items() if params.get(name) is not None}


PLUGIN = FlexbenchAdmin()
