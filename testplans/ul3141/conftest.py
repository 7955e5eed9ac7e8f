"""UL 3141 / UL 1741 PCS CRD power control system plans: what every file of this plan shares.

A PCS is held to its own declared values (open-loop response time, accuracy,
settings: the device declaration, --declaration); the profile's [plans.pcs]
table holds the procedure's numbers (how long to settle, how hard to step,
how long to hold), and each [requirements.ID] table lists the declaration
fields its verdicts are judged against, printed beside each verdict.
"""

from __future__ import annotations

from dataclasses import fields
from pathlib import Path

import pytest
from pydantic import field_validator

from flexbench.lab.declaration import PCSDeclaration, load_pcs_declaration
from flexbench.lab.plan import Plan, RequirementParams, Site, SiteParams


class Pcs(SiteParams):
    """[plans.pcs]"""

    hold_s: float
    """Observation after each step; steady state from the declared response time on."""
    light_load_w: float
    """The "load stepped down" value."""
    changed_export_fraction: float
    """Limit-change test: the new export setting as a fraction of the declared one."""


def declaration_field(name: str) -> str:
    """The PCSDeclaration attribute of a declaration field as the profile names it ("settings.export_limit_w")."""
    return "modes" if name == "modes.supported" else name.split(".", 1)[-1]


class Declared(RequirementParams):
    """A requirement judged against the device's declaration: `declared` names the fields."""

    declared: list[str]

    @field_validator("declared")
    @classmethod
    def _fields_of_a_declaration(cls, names: list[str]) -> list[str]:
        known = {f.name for f in fields(PCSDeclaration)}
        for name in names:
            if declaration_field(name) not in known:
                raise ValueError(f"no declaration field {name!r} (fields: {', '.join(sorted(known - {'path'}))})")
        return names


class FailSafe(Declared):
    fail_safe_export_w: float
    """In its fail-safe state the site exports nothing (plus declared accuracy)."""


PLAN = Plan(
    "pcs",
    Pcs,
    profile="ul3141",
    requirements={
        "PCS-EXP": Declared,
        "PCS-IMP": Declared,
        "PCS-CUR": Declared,
        "PCS-MODE": Declared,
        "PCS-CHG": Declared,
        "PCS-FS": FailSafe,
    },
)


@pytest.fixture(scope="module")
def declaration(declaration_file) -> PCSDeclaration:
    return load_pcs_declaration(declaration_file)


@pytest.fixture(scope="module")
def site(bench, recorder, clock, parameters, declaration) -> Site:
    """The PCS site at nominal grid voltage and frequency."""
    s = Site(bench, recorder, clock, parameters.plan, phases=declaration.phases)
    s.energize()
    return s


@pytest.fixture
def declared_values(parameters, declaration):
    """The declaration fields the profile lists for a requirement, with this device's values."""

    def declared(requirement_id: str) -> str:
        parts = []
        for name in parameters.requirement(requirement_id).declared:
            value = getattr(declaration, declaration_field(name))
            parts.append(
                f"{declaration_field(name)} = {', '.join(value) if isinstance(value, tuple) else f'{value:g}'}"
            )
        return "; ".join(parts)

    return declared


def pytest_collection_modifyitems(config, items) -> None:
    """In controller mode the PCS's own sensor is the site meter: its loss is a controller plan."""
    from flexbench.lab.controller.plans import skip_in_controller_mode

    skip_in_controller_mode(
        config,
        items,
        Path(__file__).parent,
        "PCS-FS",
        "the controller's PCC sensor is the site meter; its loss is checked by testplans/controller (CTL-METER)",
    )
