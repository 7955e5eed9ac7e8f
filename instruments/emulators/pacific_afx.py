"""Emulated Pacific Power AFX grid simulator (UPC command set) on a loopback socket.

It accepts the commands of its spec (instruments/specs/pacific-afx.toml, from the
AFX and UPC manuals and the SunSpec SVP driver; those without behaviour here are
served from the spec): phase numbers in the headers (``VOLT2``,
``MEAS:CURR3?``, ``PHAS2``), the manual's comma form of a setting
(``:SOURce:VOLTage1,120``, the header and its value separated by a comma
instead of a space), the output form (``:SOURce:FORM``), and programs with a
steady state and transient segments, run by their number (``:PROG:EXEC 1``,
``:PROG:EXEC:TRANS 1``, ``*TRG`` for the selected one) or the selected one.
Like the instrument, a phase number beyond the output's phases queues -114
"Header suffix out of range", values beyond 0-300 V, 45-65 Hz or 0-360 degrees queue -222, an unknown
program field -224, segments out of order or without LAST -221, and running
a transient of a program that has none -221.

A transient runs on the emulator's clock: each segment ramps to its values
over its TSEG (0 = one cycle); when the last ends, the program's steady
state returns.

Hooks for the virtual lab: see grid_base.GridEmulator.
"""

from __future__ import annotations

from .grid_base import GridEmulator, Segment
from .scpi_server import Clock, ScpiError, format_number, in_range, int_arg, number_arg, scpi

VOLTAGE_RANGE_V = (0.0, 300.0)
FREQUENCY_RANGE_HZ = (45.0, 65.0)
MAX_SEGMENTS = 99


class PacificAFXEmulator(GridEmulator):
    """A Pacific Power AFX with a UPC controller."""

    manufacturer = "Pacific Power Source"
    model = "AFX-3150"
    restores_after_profile = True
    spec_name = "pacific-afx"
    error_query_patterns = ("SYSTem:ERRor?",)

    def __init__(
        self, phases: int = 3, clock: Clock | None = None, *, serial: str = "AFX00001", firmware: str = "2.05"
    ) -> None:
        super().__init__(phases, clock, serial=serial, firmware=firmware)

    def _reset_state(self) -> None:
        super()._reset_state()
        self.program = 0
        self.programs: dict[int, dict] = {}
        self.form = self.phases

    def _resolve(self, unit: str, path: list[str]) -> tuple[str, list[str]]:
        """The UPC's comma form: ``:SOURce:VOLTage1,120`` is ``:SOURce:VOLTage1 120``."""
        header = unit.split(None, 1)[0]
        if "," in header and not header.startswith("*"):
            head, _, first = header.partition(",")
            unit = f"{head} {first}{unit[len(header) :]}"
        return super()._resolve(unit, path)

    def _phase_index(self, sfx: tuple[str, ...], *, default_all: bool = False) -> list[int]:
        token = sfx[-1] if sfx else ""
        if not token:
            if default_all:
                return list(range(self.phases))
            raise ScpiError(114)
        n = int(token)
        if not 1 <= n <= self.phases:
            raise ScpiError(114)
        return [n - 1]

    @scpi("[SOURce:]VOLTage#")
    def _volt(self, args, sfx) -> None:
        value = in_range(number_arg(args), *VOLTAGE_RANGE_V)
        for index in self._phase_index(sfx, default_all=True):
            self.set_voltage_setpoint(value, index)

    @scpi("[SOURce:]VOLTage#?")
    def _volt_q(self, args, sfx) -> str:
        return format_number(self.setpoint_v(self._phase_index(sfx)[0]))

    @scpi("[SOURce:]FREQuency")
    def _freq(self, args, sfx) -> None:
        self.set_frequency_setpoint(in_range(number_arg(args), *FREQUENCY_RANGE_HZ))

    @scpi("[SOURce:]FREQuency?")
    def _freq_q(self, args, sfx) -> str:
        return format_number(self.steady_values()[1])

    @scpi("[SOURce:]PHASe#")
    def _phase(self, args, sfx) -> None:
        (index,) = self._phase_index(sfx)
        if index == 0:
            raise ScpiError(114)
        value = in_range(number_arg(args), 0.0, 360.0)
        with self.lock:
            self.phase_angle_deg[index] = value
            self._changed = True

    @scpi("[SOURce:]PHASe#?")
    def _phase_q(self, args, sfx) -> str:
        return format_number(self.phase_angle_deg[self._phase_index(sfx)[0]])

    def _form_arg(self, args: str) -> int:
        """1 (one phase), 2 (split phase) or 3 (three phase); a one-phase unit has only form 1."""
        form = int_arg(args)
        if form not in (1, 2, 3) or (self.phases == 1 and form != 1):
            raise ScpiError(222)
        return form

    @scpi("[SOURce:]FORM")
    def _form(self, args, sfx) -> None:
        self.form = self._form_arg(args)

    @scpi("[SOURce:]FORM?")
    def _form_q(self, args, sfx) -> str:
        return str(self.form)

    # -- measurements ----------------------------------------------------------------------------
    @scpi("MEASure:VOLTage#?")
    def _meas_v(self, args, sfx) -> str:
        return format_number(self.reading(self._phase_index(sfx)[0]).voltage_v)

    @scpi("MEASure:CURRent#?")
    def _meas_i(self, args, sfx) -> str:
        return format_number(self.reading(self._phase_index(sfx)[0]).current_a)

    @scpi("MEASure:POWer#?")
    def _meas_p(self, args, sfx) -> str:
        return format_number(self.reading(self._phase_index(sfx)[0]).power_w)

    @scpi("MEASure:FREQuency?")
    def _meas_f(self, args, sfx) -> str:
        return format_number(self.reading(0).frequency_hz)

    # -- programs ------------------------------------------------------------------------------------
    @scpi("PROGram:NAME")
    def _prog_name(self, args, sfx) -> None:
        self.program = int(in_range(int_arg(args), 0, 99))

    @scpi("PROGram:NAME?")
    def _prog_name_q(self, args, sfx) -> str:
        return str(self.program)

    @scpi("PROGram:DEFine?")
    def _prog_def_q(self, args, sfx) -> str:
        """The selected program as PROG:DEF takes it: steady-state fields, then segments ending in LAST."""
        with self.lock:
            program = self.programs.get(self.program, {"steady": {}, "segments": []})
            steady = program["steady"]
            fields = [f"FORM,{steady.get('form', self.form)}"]
            if "frequency_hz" in steady:
                fields.append(f"FREQ,{format_number(steady['frequency_hz'])}")
            fields += [f"VOLT{k + 1},{format_number(v)}" for k, v in sorted(steady.get("voltage_v", {}).items())]
            for number, seg in enumerate(program["segments"], start=1):
                fields += [f"SEG,{number}", f"FSEG,{format_number(seg['frequency_hz'])}"]
                fields += [f"VSEG{k + 1},{format_number(v)}" for k, v in sorted(seg["voltage_v"].items())]
                fields.append(f"TSEG,{format_number(seg['duration_s'])}")
            if program["segments"]:
                fields.append("LAST")
        return ",".join(fields)

    @scpi("PROGram:DELete")
    def _prog_del(self, args, sfx) -> None:
        with self.lock:
            self.programs.pop(self.program, None)

    @scpi("PROGram:DEFine")
    def _prog_def(self, args, sfx) -> None:
        tokens = [t.strip() for t in args.split(",") if t.strip()]
        if not tokens:
            raise ScpiError(109)
        with self.lock:
            program = self.programs.setdefault(self.program, {"steady": {}, "segments": []})
            if tokens[0].upper() == "SEG":
                program["segments"] = self._segments(tokens)
            else:
                program["steady"] = self._steady(tokens)

    def _pairs(self, tokens: list[str]) -> list[tuple[str, str]]:
        if len(tokens) % 2:
            raise ScpiError(109)
        return [(tokens[i].upper(), tokens[i + 1]) for i in range(0, len(tokens), 2)]

    def _steady(self, tokens: list[str]) -> dict:
        steady: dict = {}
        for key, value in self._pairs(tokens):
            if key == "FORM":
                steady["form"] = self._form_arg(value)
            elif key == "FREQ":
                steady["frequency_hz"] = in_range(number_arg(value), *FREQUENCY_RANGE_HZ)
            elif key.startswith("VOLT") and key[4:].isdigit() and 1 <= int(key[4:]) <= self.phases:
                steady.setdefault("voltage_v", {})[int(key[4:]) - 1] = in_range(number_arg(value), *VOLTAGE_RANGE_V)
            else:
                raise ScpiError(224)
        return steady

    def _segments(self, tokens: list[str]) -> list[dict]:
        if tokens[-1].upper() != "LAST":
            raise ScpiError(221)
        segments: list[dict] = []
        for key, value in self._pairs(tokens[:-1]):
            if key == "SEG":
                if int_arg(value) != len(segments) + 1:
                    raise ScpiError(221)
                segments.append({"voltage_v": {}})
            elif not segments:
                raise ScpiError(221)
            elif key == "FSEG":
                segments[-1]["frequency_hz"] = in_range(number_arg(value), *FREQUENCY_RANGE_HZ)
            elif key == "TSEG":
                segments[-1]["duration_s"] = in_range(number_arg(value), 0.0, 1.0e5)
            elif key.startswith("VSEG") and key[4:].isdigit() and 1 <= int(key[4:]) <= self.phases:
                segments[-1]["voltage_v"][int(key[4:]) - 1] = in_range(number_arg(value), *VOLTAGE_RANGE_V)
            else:
                raise ScpiError(224)
        if len(segments) > MAX_SEGMENTS or any("duration_s" not in s or "frequency_hz" not in s for s in segments):
            raise ScpiError(221)
        return segments

    def _program_to_run(self, args: str) -> dict:
        """The program named by the optional number (which becomes the selected one), else the selected one."""
        if args.strip():
            self.program = int(in_range(int_arg(args), 0, 99))
        program = self.programs.get(self.program)
        if program is None:
            raise ScpiError(221)
        return program

    @scpi("PROGram:EXECute")
    def _prog_exec(self, args, sfx) -> None:
        with self.lock:
            program = self._program_to_run(args)
            self.stop_profile()
            steady = program["steady"]
            self.form = steady.get("form", self.form)
            for index, value in steady.get("voltage_v", {}).items():
                self.set_voltage_setpoint(value, index)
            if "frequency_hz" in steady:
                self.set_frequency_setpoint(steady["frequency_hz"])

    @scpi("PROGram:EXECute:TRANsient")
    @scpi("PROGram:EXECute:TRANS")  # the UPC's own abbreviation, as lab drivers send it
    @scpi("*TRG")  # the same, for the selected program (SunSpec SVP driver)
    def _prog_trans(self, args, sfx) -> None:
        with self.lock:
            program = self._program_to_run(args)
            if not program["segments"] or not self.output_on:
                raise ScpiError(221)
            volts, freq = self.steady_values()
            segments = []
            for seg in program["segments"]:
                target = tuple(seg["voltage_v"].get(k, volts[k]) for k in range(self.phases))
                duration = seg["duration_s"] or 1.0 / seg["frequency_hz"]
                segments.append(Segment(duration, volts, target, duration, freq, seg["frequency_hz"], duration))
                volts, freq = target, seg["frequency_hz"]
            self.segments = segments
            self.start_profile()
