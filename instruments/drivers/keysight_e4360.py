"""Keysight E4360 modular solar array simulator (E4361A/E4362A modules) over SCPI.

Role: PVSimulator. Address: a VISA resource string (``TCPIP0::<host>::5025::SOCKET``,
``TCPIP0::<host>::inst0::INSTR``, GPIB, USB). Options: ``channel`` (the
output, 1 or 2; default 1).

Commands used (every command names its output with a channel list ``(@n)``).
The curve, output and list forms are the E4360 user's guide's (chapter 4);
``CURR:MODE`` and ``MEAS`` are the family's forms, not on the guide's pages read
(see instruments/specs/keysight-e4360.toml): check them against the E4360
Programmer's Reference before first use on hardware.

==========================================  ==========================================
``*IDN?``                                   ``Keysight Technologies,E4360A,<serial>,<fw>``
``CURR:MODE SAS,(@n)`` / ``? (@n)``         solar array simulation (the curve drives the output)
``CURR:SAS:ISC`` ``CURR:SAS:IMP``           short-circuit current, current at the maximum power point
``VOLT:SAS:VOC`` ``VOLT:SAS:VMP``           open-circuit voltage, voltage at the maximum power point
``OUTP ON|OFF,(@n)`` / ``OUTP? (@n)``       output on or off
``MEAS:VOLT? (@n)`` ``MEAS:CURR? (@n)``     DC voltage and current (power is their product)
``SYST:ERR?``                               error queue, read after every command
==========================================  ==========================================

The four curve parameters are coupled: set_curve() sends them in one program
message, so the instrument checks the whole curve at its terminator (device
errors +320 Vmp not below Voc, +321 Imp above Isc) rather than refusing an
intermediate one.

Safety, before anything is sent: VOC against voltage_max_v, ISC against
current_max_a, Vmp x Imp against power_max_w; an inconsistent curve is a
ValueError. Safe state: output off. Timeouts, lost connections and threads:
see transports.visa.
"""

from __future__ import annotations

from typing import Any

from ..roles import DCReading, InstrumentError, IVCurve, PVSimulator
from ..scpi import ScpiInstrument, parse_bool, parse_float
from .chroma_62000h import check_curve


class KeysightE4360(ScpiInstrument, PVSimulator):
    """Keysight E4360 solar array simulator."""

    model = "Keysight E4360 (SAS)"
    error_query = "SYST:ERR?"

    def __init__(self, address: str, **kwargs: Any) -> None:
        super().__init__(address, **kwargs)
        channel = self.options.get("channel", 1)
        if channel not in (1, 2):
            raise ValueError(f"option channel must be 1 or 2, got {channel!r}")
        self.channel = int(channel)

    @property
    def ch(self) -> str:
        return f"(@{self.channel})"

    def on_connect(self) -> None:
        self.write("*CLS")

    def _number(self, command: str) -> float:
        reply = self.query(command)
        try:
            return parse_float(reply)
        except ValueError:
            raise InstrumentError(f"unreadable reply {reply!r}", address=self.address, command=command) from None

    def curve_message(self, curve: IVCurve) -> str:
        """The one program message that programs `curve`; checked (consistency, safety) but not sent."""
        check_curve(curve)
        self.check_safety("voltage", curve.open_circuit_voltage_v, "v")
        self.check_safety("current", curve.short_circuit_current_a, "a")
        self.check_safety("power", curve.max_power_w, "w")
        ch = self.ch
        return (
            f"CURR:SAS:ISC {curve.short_circuit_current_a:.4f},{ch};IMP {curve.max_power_current_a:.4f},{ch};"
            f":VOLT:SAS:VOC {curve.open_circuit_voltage_v:.3f},{ch};VMP {curve.max_power_voltage_v:.3f},{ch}"
        )

    def _ensure_sas_mode(self) -> None:
        if self.query(f"CURR:MODE? {self.ch}").strip().upper() != "SAS":
            self.write(f"CURR:MODE SAS,{self.ch}")

    def set_curve(self, curve: IVCurve) -> None:
        message = self.curve_message(curve)
        with self.lock:
            self._ensure_sas_mode()
            self.write(message)

    def curve(self) -> IVCurve:
        with self.lock:
            ch = self.ch
            return IVCurve(
                open_circuit_voltage_v=self._number(f"VOLT:SAS:VOC? {ch}"),
                short_circuit_current_a=self._number(f"CURR:SAS:ISC? {ch}"),
                max_power_voltage_v=self._number(f"VOLT:SAS:VMP? {ch}"),
                max_power_current_a=self._number(f"CURR:SAS:IMP? {ch}"),
            )

    def set_output(self, enabled: bool) -> None:
        with self.lock:
            if enabled:
                self._ensure_sas_mode()
            self.write(f"OUTP {'ON' if enabled else 'OFF'},{self.ch}")

    def output_enabled(self) -> bool:
        command = f"OUTP? {self.ch}"
        reply = self.query(command)
        try:
            return parse_bool(reply)
        except ValueError:
            raise InstrumentError(f"unreadable reply {reply!r}", address=self.address, command=command) from None

    def measure(self) -> DCReading:
        with self.lock:
            voltage = self._number(f"MEAS:VOLT? {self.ch}")
            current = self._number(f"MEAS:CURR? {self.ch}")
        return DCReading(voltage_v=voltage, current_a=current, power_w=voltage * current)

    def snapshot(self) -> dict[str, Any]:
        with self.lock:
            ident = self.identity()
            curve = self.curve()
            return {
                "driver": "keysight-e4360",
                "address": self.address,
                "manufacturer": ident.manufacturer,
                "model": ident.model,
                "serial": ident.serial,
                "firmware": ident.firmware,
                "channel": self.channel,
                "current_mode": self.query(f"CURR:MODE? {self.ch}").strip(),
                "output_enabled": self.output_enabled(),
                "open_circuit_voltage_v": curve.open_circuit_voltage_v,
                "short_circuit_current_a": curve.short_circuit_current_a,
                "max_power_voltage_v": curve.max_power_voltage_v,
                "max_power_current_a": curve.max_power_current_a,
            }
