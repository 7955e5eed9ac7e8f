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

from dataclasses import dataclass, fields
from pathlib import Path
from typing import Annotated

from pydantic import Field, field_validator

from flexbench.instruments.roles import PCS_MODES
from flexbench.lab.config_errors import Locator, Table, load_toml, validate
from flexbench.lab.errors import UserError


class DeclarationError(UserError):
    pass


FUNCTIONS = ("export-limiting", "import-limiting", "current-limiting", "modes")
_FUNCTION_FIELDS = {  # needed only when the function is declared
    "current-limiting": (("settings", "current_limit_a"), ("declared", "current_accuracy_a"))
}


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


NonNegative = Annotated[float, Field(ge=0)]


class _Device(Table):
    manufacturer: str
    model: str
    serial: str
    firmware: str


class _Ratings(Table):
    pv_rated_power_w: NonNegative
    battery_rated_power_w: NonNegative
    ev_rated_power_w: NonNegative
    nominal_voltage_v: NonNegative
    phases: int

    @field_validator("phases")
    @classmethod
    def _single_or_three(cls, phases: int) -> int:
        if phases not in (1, 3):
            raise ValueError(f"expected 1 or 3, got {phases}")
        return phases


class _Functions(Table):
    declared: list[str]

    @field_validator("declared")
    @classmethod
    def _known(cls, names: list[str]) -> list[str]:
        for name in names:
            if name not in FUNCTIONS:
                raise ValueError(f"unknown function {name!r} (functions: {', '.join(FUNCTIONS)})")
        return names


class _Modes(Table):
    supported: list[str] = Field(min_length=1)

    @field_validator("supported")
    @classmethod
    def _known(cls, modes: list[str]) -> list[str]:
        for mode in modes:
            if mode not in PCS_MODES:
                raise ValueError(f"unknown mode {mode!r} (modes: {', '.join(PCS_MODES)})")
        return modes


class _Settings(Table):
    export_limit_w: NonNegative
    import_limit_w: NonNegative
    current_limit_a: NonNegative | None = None  # needed only when current-limiting is declared


class _Declared(Table):
    open_loop_response_time_s: Annotated[float, Field(gt=0)]
    export_accuracy_w: NonNegative
    import_accuracy_w: NonNegative
    current_accuracy_a: NonNegative | None = None  # needed only when current-limiting is declared
    fail_safe_time_s: NonNegative


class _DeclarationFile(Table):
    """The tables of a declaration file; [functions] may be left out (every function declared)."""

    device: _Device
    ratings: _Ratings
    functions: _Functions = _Functions(declared=list(FUNCTIONS))
    modes: _Modes
    settings: _Settings
    declared: _Declared


def load_pcs_declaration(path: str | Path) -> PCSDeclaration:
    """Read and check a PCS declaration file; every problem is one line naming the file, line and key."""
    data, locate = load_toml(path, DeclarationError, "declaration file")
    file = validate(_DeclarationFile, data, locate, DeclarationError)
    functions = tuple(file.functions.declared)
    for function, names in _FUNCTION_FIELDS.items():
        for table, key in names:
            if function in functions and getattr(getattr(file, table), key) is None:
                raise locate.error(table, key, f"missing (the device declares {function})", DeclarationError)
    device, ratings, settings, declared = file.device, file.ratings, file.settings, file.declared
    declaration = PCSDeclaration(
        path=locate.path,
        manufacturer=device.manufacturer,
        model=device.model,
        serial=device.serial,
        firmware=device.firmware,
        pv_rated_power_w=ratings.pv_rated_power_w,
        battery_rated_power_w=ratings.battery_rated_power_w,
        ev_rated_power_w=ratings.ev_rated_power_w,
        nominal_voltage_v=ratings.nominal_voltage_v,
        phases=ratings.phases,
        modes=tuple(file.modes.supported),
        export_limit_w=settings.export_limit_w,
        import_limit_w=settings.import_limit_w,
        current_limit_a=settings.current_limit_a or 0.0,  # 0: the function is not declared
        open_loop_response_time_s=declared.open_loop_response_time_s,
        export_accuracy_w=declared.export_accuracy_w,
        import_accuracy_w=declared.import_accuracy_w,
        current_accuracy_a=declared.current_accuracy_a or 0.0,
        fail_safe_time_s=declared.fail_safe_time_s,
        functions=functions,
    )
    _check_consistency(declaration, locate)
    return declaration


def not_applicable(d: PCSDeclaration, function: str) -> str | None:
    """Why a plan for `function` does not apply to this device (None: it does)."""
    if function in d.functions:
        return None
    return f"not applicable: {d.path.name} does not declare {function} ([functions] declared)"


def _check_consistency(d: PCSDeclaration, locate: Locator) -> None:
    """Declared settings the declared ratings cannot reach."""
    max_import_w = d.ev_rated_power_w + d.battery_rated_power_w
    problems = [
        (
            d.export_limit_w > d.max_export_w,
            "export_limit_w",
            f"{d.export_limit_w:g} W is above what the sources can export "
            f"(pv_rated_power_w + battery_rated_power_w = {d.max_export_w:g} W)",
        ),
        (
            d.import_limit_w > max_import_w,
            "import_limit_w",
            f"{d.import_limit_w:g} W is above what the controlled loads can draw "
            f"(ev_rated_power_w + battery_rated_power_w = {max_import_w:g} W)",
        ),
        (
            "current-limiting" in d.functions and d.current_limit_a > d.max_busbar_current_a,
            "current_limit_a",
            f"{d.current_limit_a:g} A is above what the sources can feed ({d.max_busbar_current_a:.1f} A)",
        ),
    ]
    for wrong, key, reason in problems:
        if wrong:
            raise locate.error("settings", key, reason, DeclarationError)


def require_mode(d: PCSDeclaration, mode: str) -> None:
    if mode not in d.modes:
        raise DeclarationError(f"{d.path}: [modes] supported: the plan needs mode {mode!r}, which is not declared")
