"""What the emulated one-output solar array simulators share: a coupled I-V curve and the DC readings.

The four curve parameters are staged as a message sets them and checked
together at its terminator (``curve_accepted``: VOC > VMP > 0, ISC > IMP > 0
by default); a curve refused there queues -221 "Settings conflict" and the
previous one stays, as the instruments do.

Hooks for the virtual lab: ``output_on``, ``curve`` (the IVCurve as
programmed), ``measurement_source`` (called on each MEAS query, returning a
DCReading; None reads Voc and no current while the output is on),
``on_change`` (called without the lock held after any change of curve or
output), ``responding``.
"""

from __future__ import annotations

from collections.abc import Callable

from ..roles import DCReading, IVCurve
from .scpi_server import Clock, ScpiEmulator, format_number, scpi


class SasEmulator(ScpiEmulator):
    """Base of emulated PV simulators: subclasses add the model's own curve and output commands."""

    reset_curve: IVCurve  # the curve after *RST

    def __init__(self, clock: Clock | None = None) -> None:
        self.measurement_source: Callable[[], DCReading] | None = None
        self.on_change: Callable[[], None] | None = None
        self._changed = False
        self._reset_state()
        super().__init__(clock)

    def _reset_state(self) -> None:
        """The state after *RST (subclasses extend it)."""
        self.output_on = False
        self.curve: IVCurve = self.reset_curve
        self._staged: dict[str, float] = {}

    def curve_accepted(self, curve: IVCurve) -> bool:
        return (
            0.0 < curve.max_power_voltage_v < curve.open_circuit_voltage_v
            and 0.0 < curve.max_power_current_a < curve.short_circuit_current_a
        )

    def stage(self, field: str, value: float) -> None:
        """Set one IVCurve field for the check at the end of the message."""
        with self.lock:
            self._staged[field] = value

    def programmed(self, field: str) -> float:
        """An IVCurve field as this message has it so far."""
        with self.lock:
            return self._staged.get(field, getattr(self.curve, field))

    def set_output(self, state: bool) -> None:
        with self.lock:
            self.output_on = state
            self._changed = True

    def after_message(self) -> None:
        with self.lock:
            staged, self._staged = self._staged, {}
            if staged:
                candidate = IVCurve(**{**vars(self.curve), **staged})
                if self.curve_accepted(candidate):
                    self.curve = candidate
                    self._changed = True
                else:
                    self.push_error(221)
            changed, self._changed = self._changed, False
        if changed and self.on_change is not None:
            self.on_change()

    @scpi("*RST")
    def _rst(self, args: str, suffixes: tuple[str, ...]) -> None:
        with self.lock:
            self._reset_state()
            self._changed = True

    def reading(self) -> DCReading:
        source = self.measurement_source
        if source is not None:
            return source()
        with self.lock:
            if not self.output_on:
                return DCReading(0.0, 0.0, 0.0)
            return DCReading(self.curve.open_circuit_voltage_v, 0.0, 0.0)

    @scpi("MEASure[:SCALar]:VOLTage[:DC]?")
    def _meas_v(self, args: str, suffixes: tuple[str, ...]) -> str:
        return format_number(self.reading().voltage_v)

    @scpi("MEASure[:SCALar]:CURRent[:DC]?")
    def _meas_i(self, args: str, suffixes: tuple[str, ...]) -> str:
        return format_number(self.reading().current_a)

    @scpi("MEASure[:SCALar]:POWer[:DC]?")
    def _meas_p(self, args: str, suffixes: tuple[str, ...]) -> str:
        return format_number(self.reading().power_w)
