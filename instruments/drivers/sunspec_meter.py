"""A SunSpec meter (models 201-204, or their float variants 211-214) over Modbus TCP or RTU.

Role: Meter. Address: ``modbus+tcp://host:port/unit`` or
``modbus+rtu:///dev/ttyUSB0?baud=9600&unit=...``. Options: ``base_address``
(skip the search for "SunS"), ``meter_model`` (one of 201-204, 211-214; by
default the first the device has, three-phase first), ``meter_instance``
(which instance of that model, from 0: a device may chain several meters).

Discovery, layouts, scale factors, "not implemented" sentinels and
reconnection: see instruments.sunspec.device. read() reads the meter model in
one request and maps it to a MeterReading:

===============================  =========================================
MeterReading                     SunSpec point
===============================  =========================================
phases[k].voltage_v              PhVphA / PhVphB / PhVphC (NaN on delta 204)
phases[k].current_a              AphA / AphB / AphC
phases[k].power_w                WphA / WphB / WphC
phases[k].reactive_power_var     VARphA / VARphB / VARphC
power_w, reactive_power_var      W, VAR
voltage_v, current_a             PhV (mean L-N; PPV on delta), A
frequency_hz                     Hz
energy_import_wh / _export_wh    TotWhImp / TotWhExp
===============================  =========================================

Phases: one on 201, two on 202, three on 203/204. Positive power is import,
the SunSpec meter models' convention. A meter only measures: no safety limits
apply. Timeouts, reconnection, exception responses and threads: see
transports.modbus.
"""

from __future__ import annotations

import math
from typing import Any

from ..roles import Identity, InstrumentError, Meter, MeterReading, PhaseReading
from ..sunspec.device import SunSpecModbusDevice

METER_MODELS = (203, 204, 202, 201, 213, 214, 212, 211)
PHASES = {201: "A", 202: "AB", 203: "ABC", 204: "ABC", 211: "A", 212: "AB", 213: "ABC", 214: "ABC"}


class SunSpecMeter(SunSpecModbusDevice, Meter):
    """SunSpec meter (201-204, 211-214) over Modbus."""

    model = "SunSpec meter (models 201-204, 211-214)"

    def __init__(self, address: str, **kwargs: Any) -> None:
        super().__init__(address, **kwargs)
        self.init_sunspec(address, self.options)
        model = self.options.get("meter_model")
        if model is not None and model not in METER_MODELS:
            raise ValueError(
                f"option meter_model must be one of {', '.join(map(str, sorted(METER_MODELS)))}, got {model!r}"
            )
        instance = self.options.get("meter_instance", 0)
        if not isinstance(instance, int) or isinstance(instance, bool) or instance < 0:
            raise ValueError(f"option meter_instance must be a non-negative integer, got {instance!r}")
        self.requested_model: int | None = model
        self.meter_instance = instance
        self.meter_model: int | None = None

    def connect(self) -> None:
        with self.lock:
            self.transport.connect()
            self.discover()
            self._identity = None
            self.meter_model = self._pick_model()

    def _pick_model(self) -> int:
        if self.requested_model is not None:
            self.location(self.requested_model, self.meter_instance)  # InstrumentError naming the models present
            return self.requested_model
        model = self.first_model(*METER_MODELS)
        if model is None:
            present = ", ".join(str(m) for m in sorted(self.models)) or "none"
            raise InstrumentError(
                f"the device has no SunSpec meter model (201-204, 211-214; present: {present})", address=self.address
            )
        return model

    def identity(self) -> Identity:
        return self.common_identity()

    def read(self) -> MeterReading:
        if self.meter_model is None:
            self.discover()
            self.meter_model = self._pick_model()
        block = self.read_model(self.meter_model, self.meter_instance)

        def get(name: str) -> float:
            value = block.get(name)
            return math.nan if value is None else float(value)

        phases = tuple(
            PhaseReading(
                voltage_v=get(f"PhVph{p}"),
                current_a=get(f"Aph{p}"),
                power_w=get(f"Wph{p}"),
                reactive_power_var=get(f"VARph{p}"),
                frequency_hz=get("Hz"),
            )
            for p in PHASES[self.meter_model]
        )
        voltage = get("PhV")
        if math.isnan(voltage):
            voltage = get("PPV")
        return MeterReading(
            phases=phases,
            power_w=get("W"),
            reactive_power_var=get("VAR"),
            voltage_v=voltage,
            current_a=get("A"),
            frequency_hz=get("Hz"),
            energy_import_wh=get("TotWhImp"),
            energy_export_wh=get("TotWhExp"),
        )

    def snapshot(self) -> dict[str, Any]:
        with self.lock:
            ident = self.identity()
            return {
                "driver": "sunspec-meter",
                "address": self.address,
                "manufacturer": ident.manufacturer,
                "model": ident.model,
                "serial": ident.serial,
                "firmware": ident.firmware,
                "base_address": self.base_address,
                "models": self.model_list(),
                "meter_model": self.meter_model,
                "meter_instance": self.meter_instance,
            }
