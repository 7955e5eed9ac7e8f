"""Device declarations: the ratings, settings and performance a manufacturer declares for a DUT.

UL 3141 / UL 1741 PCS tests hold a device to its own declared values (open-loop
response time, accuracy, settings), so they are read from a file per DUT,
checked for missing or contradictory fields, and printed beside each verdict.

An optional [functions] table lists the control functions the device declares
(`declared = [...]`, of FUNCTIONS; all of them when absent); a plan for a
function the device does not declare is not applicable to it, and the
settings and accuracies of that function may be left out.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from flexbench.instruments.roles import PCS_MODES
from flexbench.lab.errors import UserError


class DeclarationError(UserError):
    pass


FUNCTIONS = ("export-limiting", "import-limiting", "current-limiting", "modes")
_FUNCTION_FIELDS = {"current-limiting": ("current_limit_a", "current_accuracy_a")}  # needed only when declared


@dataclass(frozen=True)
class PCSDeclaration:
    path: Path
    manufacturer: str
    model: str
    serial: str
    firmware: str
    pv_rated_power_w: float
    battery_rated_power_w: float
    ev_rated_power_w: float
    nominal_voltage_v: float
    phases: int
    modes: tuple[str, ...]
    export_limit_w: float
    import_limit_w: float
    current_limit_a: float
    open_loop_response_time_s: float
    export_accuracy_w: float
    import_accuracy_w: float
    current_accuracy_a: float
    fail_safe_time_s: float
    functions: tuple[str, ...] = FUNCTIONS

    @property
    def max_export_w(self) -> float:
        """The most the site's sources can export."""
        return self.pv_rated_power_w + self.battery_rated_power_w

    @property
    def max_busbar_current_a(self) -> float:
        return self.max_export_w / (self.phases * self.nominal_voltage_v)

    def as_table(self) -> list[tuple[str, str]]:
        """(field, value) rows for reports."""
        return [(f.name, str(getattr(self, f.name))) for f in fields(self) if f.name != "path"]


_LAYOUT: dict[str, dict[str, type]] = {
    "device": {"manufacturer": str, "model": str, "serial": str, "firmware": str},
    "ratings": {
        "pv_rated_power_w": float,
        "battery_rated_power_w": float,
        "ev_rated_power_w": float,
        "nominal_voltage_v": float,
        "phases": int,
    },
    "modes": {"supported": list},
    "settings": {"export_limit_w": float, "import_limit_w": float, "current_limit_a": float},
    "declared": {
        "open_loop_response_time_s": float,
        "export_accuracy_w": float,
        "import_accuracy_w": float,
        "current_accuracy_a": float,
        "fail_safe_time_s": float,
    },
}


def load_pcs_declaration(path: str | Path) -> PCSDeclaration:
    """Read and check a PCS declaration file; every problem names the file, table and field."""
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DeclarationError(f"{path}: declaration file not found") from None
    except tomllib.TOMLDecodeError as exc:
        raise DeclarationError(f"{path}: not valid TOML: {exc}") from None
    functions = _functions(path, data.get("functions", {"declared": list(FUNCTIONS)}))
    optional = {f for fn, names in _FUNCTION_FIELDS.items() if fn not in functions for f in names}
    values: dict[str, Any] = {}
    for table, layout in _LAYOUT.items():
        section = data.get(table)
        if not isinstance(section, dict):
            raise DeclarationError(f"{path}: missing table [{table}]")
        for key in section:
            if key not in layout:
                raise DeclarationError(f"{path}: [{table}] {key}: unknown field (fields: {', '.join(layout)})")
        for key, kind in layout.items():
            if key not in section and key in optional:
                values[key] = 0.0  # the function is not declared: its plan is not applicable
                continue
            if key not in section:
                raise DeclarationError(f"{path}: [{table}] {key}: missing")
            value = section[key]
            if kind is float:
                if isinstance(value, bool) or not isinstance(value, (int, float)):
                    raise DeclarationError(f"{path}: [{table}] {key}: expected a number, got {value!r}")
                if value < 0:
                    raise DeclarationError(f"{path}: [{table}] {key}: must not be negative, got {value}")
                value = float(value)
            elif kind is int and (isinstance(value, bool) or not isinstance(value, int) or value not in (1, 3)):
                raise DeclarationError(f"{path}: [{table}] {key}: expected 1 or 3, got {value!r}")
            elif kind is str and not isinstance(value, str):
                raise DeclarationError(f"{path}: [{table}] {key}: expected a string, got {value!r}")
            values["modes" if table == "modes" else key] = value
    modes = values.pop("modes")
    if not isinstance(modes, list) or not modes or not all(isinstance(m, str) for m in modes):
        raise DeclarationError(f"{path}: [modes] supported: expected a non-empty list of mode names")
    for mode in modes:
        if mode not in PCS_MODES:
            raise DeclarationError(f"{path}: [modes] supported: unknown mode {mode!r} (modes: {', '.join(PCS_MODES)})")
    declaration = PCSDeclaration(path=path, modes=tuple(modes), functions=functions, **values)
    _check_consistency(declaration)
    return declaration


def _functions(path: Path, table: Any) -> tuple[str, ...]:
    if not isinstance(table, dict) or set(table) != {"declared"}:
        raise DeclarationError(f"{path}: [functions]: expected one key, declared = [...] (of {', '.join(FUNCTIONS)})")
    names = table["declared"]
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise DeclarationError(f"{path}: [functions] declared: expected a list of function names")
    for name in names:
        if name not in FUNCTIONS:
            raise DeclarationError(
                f"{path}: [functions] declared: unknown function {name!r} (functions: {', '.join(FUNCTIONS)})"
            )
    return tuple(names)


def not_applicable(d: PCSDeclaration, function: str) -> str | None:
    """Why a plan for `function` does not apply to this device (None: it does)."""
    if function in d.functions:
        return None
    return f"not applicable: {d.path.name} does not declare {function} ([functions] declared)"


def _check_consistency(d: PCSDeclaration) -> None:
    if d.export_limit_w > d.max_export_w:
        raise DeclarationError(
            f"{d.path}: [settings] export_limit_w: {d.export_limit_w:g} W is above what the sources can export "
            f"(pv_rated_power_w + battery_rated_power_w = {d.max_export_w:g} W)"
        )
    max_import_w = d.ev_rated_power_w + d.battery_rated_power_w
    if d.import_limit_w > max_import_w:
        raise DeclarationError(
            f"{d.path}: [settings] import_limit_w: {d.import_limit_w:g} W is above what the controlled loads "
            f"can draw (ev_rated_power_w + battery_rated_power_w = {max_import_w:g} W)"
        )
    if "current-limiting" in d.functions and d.current_limit_a > d.max_busbar_current_a:
        raise DeclarationError(
            f"{d.path}: [settings] current_limit_a: {d.current_limit_a:g} A is above what the sources can feed "
            f"({d.max_busbar_current_a:.1f} A)"
        )
    if d.open_loop_response_time_s <= 0:
        raise DeclarationError(f"{d.path}: [declared] open_loop_response_time_s: must be positive")


def require_mode(d: PCSDeclaration, mode: str) -> None:
    if mode not in d.modes:
        raise DeclarationError(f"{d.path}: [modes] supported: the plan needs mode {mode!r}, which is not declared")
