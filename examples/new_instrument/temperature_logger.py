"""Temperature logger: a new role and its first model, in one file of the lab's own.

A bench file names the class by where it lives (a path relative to the bench
file, or an importable "package.module:Class"):

    [instruments.heatsink]
    driver = "temperature_logger.py:AcmeTL4"
    address = "TCPIP0::192.0.2.30::5025::SOCKET"
    options = { channels = [1, 2] }

The role comes from the class; the bench records what `record()` returns as
channels `heatsink.t1_c`, `heatsink.t2_c`.
"""

from __future__ import annotations

from abc import abstractmethod
from typing import Any

from flexbench.instruments.roles import Instrument
from flexbench.instruments.scpi import ScpiInstrument, parse_float, scpi_control


class TemperatureLogger(Instrument):
    """The role: temperatures of numbered channels (thermocouples on a heat sink, the room)."""

    role = "temperature_logger"

    @abstractmethod
    def temperature_c(self, channel: int) -> float: ...

    def channels_read(self) -> list[int]:
        """The channels the bench file asks for (options.channels), channel 1 by default."""
        return [int(c) for c in self.options.get("channels", [1])]

    def record(self) -> dict[str, float]:
        """What the bench records every sample period: quantity -> value, one per channel."""
        return {f"t{channel}_c": self.temperature_c(channel) for channel in self.channels_read()}

    def safe_state(self) -> None:
        """A logger only measures: nothing to make safe."""


class AcmeTL4(ScpiInstrument, TemperatureLogger):
    """Acme TL-4, four thermocouple inputs, SCPI over a TCP socket."""

    model = "Acme TL-4"

    averaging = scpi_control("SENS:AVER?", "SENS:AVER {:d}", parse=lambda reply: int(float(reply)), values=(1, 64))

    def on_connect(self) -> None:
        self.write("*CLS")
        if "averaging" in self.options:
            self.averaging = int(self.options["averaging"])

    def temperature_c(self, channel: int) -> float:
        return parse_float(self.query(f"MEAS:TEMP? (@{channel})"))

    def snapshot(self) -> dict[str, Any]:
        return {"averaging": self.averaging, "channels": self.channels_read()}
