"""The virtual PCS's own OPC-UA server: limit setpoints a client writes, measurements it reads.

Many PCS and site controllers are reached not as clients of a utility server
but through their own OPC-UA server, into which a gateway or SCADA writes
limits. The virtual PCS serves such a server (a DevicePointServer) with its
own, fixed node IDs, which a bench file maps like any vendor's:

    nsu=urn:flexbench:virtual-pcs;s=PCS.ExportLimitKW     Float, writable (kW, NaN = no limit)
    nsu=urn:flexbench:virtual-pcs;s=PCS.ImportLimitKW     Float, writable (kW, NaN = no limit)
    nsu=urn:flexbench:virtual-pcs;s=PCS.LimitEnable       Boolean, writable: the limits apply only while true
    nsu=urn:flexbench:virtual-pcs;s=PCS.PccActivePowerKW  Float (import positive)
    nsu=urn:flexbench:virtual-pcs;s=PCS.PccReactivePowerKVar, AppliedExportLimitKW, AppliedImportLimitKW (Float),
    FailSafe (Boolean)

Kilowatts on purpose: the bench's node map must carry its scale. Written
limits go to the PCS controller as one more utility channel, so the fault
profiles (ignores-utility, slow, ...) act on them as on the other channels.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Callable
from typing import Any

from asyncua import ua

from flexbench.lab.clock import Clock
from flexbench.signals.opcua import DevicePoint, DevicePointServer, DeviceServerSecurity, LoopThread

log = logging.getLogger(__name__)
NAMESPACE_URI = "urn:flexbench:virtual-pcs"
PREFIX = "PCS"
PUBLISH_PERIOD_S = 0.5  # bench seconds between measurement updates
_F, _B = ua.VariantType.Float, ua.VariantType.Boolean
NAN = float("nan")
POINTS = (
    DevicePoint("ExportLimitKW", _F, writable=True, initial=NAN),
    DevicePoint("ImportLimitKW", _F, writable=True, initial=NAN),
    DevicePoint("LimitEnable", _B, writable=True, initial=False),
    DevicePoint("PccActivePowerKW", _F, initial=0.0),
    DevicePoint("PccReactivePowerKVar", _F, initial=0.0),
    DevicePoint("AppliedExportLimitKW", _F, initial=NAN),
    DevicePoint("AppliedImportLimitKW", _F, initial=NAN),
    DevicePoint("FailSafe", _B, initial=False),
)
_LIMIT_POINTS = {"ExportLimitKW", "ImportLimitKW", "LimitEnable"}
_STATE_POINTS = {  # device state key -> (point, scale from SI)
    "pcc_import_w": ("PccActivePowerKW", 0.001),
    "pcc_reactive_var": ("PccReactivePowerKVar", 0.001),
    "applied_export_limit_w": ("AppliedExportLimitKW", 0.001),
    "applied_import_limit_w": ("AppliedImportLimitKW", 0.001),
    "fail_safe": ("FailSafe", None),
}


def node_id(point: str) -> str:
    return f"nsu={NAMESPACE_URI};s={PREFIX}.{point}"


class OpcuaDeviceServer:
    """Serves the virtual PCS's points; `apply(import_w, export_w)` gets the limits clients write."""

    def __init__(
        self,
        name: str,
        clock: Clock,
        apply: Callable[[float | None, float | None], None],
        read_state: Callable[[], dict[str, Any]],
        security: DeviceServerSecurity | None = None,
        thread: LoopThread | None = None,
    ) -> None:
        self.name = name
        self.clock = clock
        self.apply = apply
        self.read_state = read_state
        self.server = DevicePointServer(
            POINTS, prefix=PREFIX, namespace_uri=NAMESPACE_URI, security=security, on_write=self._written
        )
        self._written_values: dict[str, Any] = {p.name: p.initial for p in POINTS if p.name in _LIMIT_POINTS}
        self._own_thread = thread is None
        self._thread = thread or LoopThread(f"opcua-device-{name}")
        self._publisher: asyncio.Task | None = None

    @property
    def endpoint(self) -> str:
        return self.server.endpoint

    def start(self) -> None:
        self._thread.start()
        self._thread.call(self.server.start(), 120)
        self._publisher = self._thread.call_sync(lambda: asyncio.ensure_future(self._publish()))

    def limits(self) -> tuple[float | None, float | None]:
        """(import W, export W) the written setpoints ask for; None where there is no limit."""
        if not self._written_values["LimitEnable"]:
            return None, None
        return tuple(_watts(self._written_values[p]) for p in ("ImportLimitKW", "ExportLimitKW"))  # type: ignore[return-value]

    def _written(self, point: str, value: Any) -> None:
        """A client's write landed (on the server's loop): the limits are handed to the PCS at once."""
        if point in _LIMIT_POINTS:
            self._written_values[point] = value
            self.apply(*self.limits())

    async def _publish(self) -> None:
        last: dict[str, Any] = {}
        while True:
            await asyncio.sleep(max(0.02, PUBLISH_PERIOD_S / self.clock.time_scale))
            try:
                for key, value in self.read_state().items():
                    point, scale = _STATE_POINTS[key]
                    if scale is not None:
                        value = NAN if value is None else round(float(value) * scale, 4)
                    else:
                        value = bool(value)
                    if point not in last or not _same(last[point], value):
                        await self.server.set(point, value)
                        last[point] = value
            except Exception:  # the device keeps serving its setpoints whatever a reading does
                log.exception("virtual PCS %s: publishing its measurements failed", self.name)

    def stop(self) -> None:
        try:
            if self._publisher is not None:
                self._thread.call_sync(self._publisher.cancel)
            self._thread.call(self.server.stop())
        except Exception as exc:
            log.debug("stopping the OPC-UA server of %s: %s", self.name, exc)
        finally:
            if self._own_thread:
                self._thread.stop()


def _same(a: Any, b: Any) -> bool:
    return a == b or (isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b))


def _watts(kilowatts: Any) -> float | None:
    value = float(kilowatts)
    return None if math.isnan(value) else value * 1000.0
