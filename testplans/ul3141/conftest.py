"""What every UL 3141 PCS plan shares: the declaration, and the site judged against it."""

from __future__ import annotations

import pytest

from flexbench.lab.declaration import PCSDeclaration, load_pcs_declaration
from flexbench.lab.site_control import SiteControl

PLAN = "pcs"


@pytest.fixture(scope="module")
def declaration(declaration_file) -> PCSDeclaration:
    return load_pcs_declaration(declaration_file)


class Site(SiteControl):
    """The PCS site, with the declared values each verdict is judged against."""

    def __init__(self, bench, requirements, declaration: PCSDeclaration, recorder, clock) -> None:
        super().__init__(
            bench, requirements.plan(PLAN), recorder, clock, declaration.phases, declaration.open_loop_response_time_s
        )
        self.requirements = requirements
        self.declaration = declaration

    def declared(self, requirement_id: str) -> str:
        """The declaration fields the profile lists for a requirement, with this device's values."""
        parts = []
        for name in self.requirements.requirement(requirement_id).data.get("declared", []):
            attr = "modes" if name == "modes.supported" else name.split(".", 1)[-1]
            if not hasattr(self.declaration, attr):
                raise ValueError(
                    f"{self.requirements.path}: [requirements.{requirement_id}] declared: no declaration field {name!r}"
                )
            value = getattr(self.declaration, attr)
            parts.append(f"{attr} = {', '.join(value) if isinstance(value, tuple) else f'{value:g}'}")
        return "; ".join(parts)

    def check(self, verdicts, result):
        """Record a result with the declared values it is judged against."""
        return verdicts.check(result, declared=self.declared(result.requirement_id))


@pytest.fixture(scope="module")
def site(bench, requirements, declaration, recorder, clock) -> Site:
    s = Site(bench, requirements, declaration, recorder, clock)
    s.energize()
    return s


def pytest_collection_modifyitems(config, items) -> None:
    """In controller mode the PCS's own sensor is the site meter: its loss is a controller plan."""
    from pathlib import Path

    from flexbench.lab.controller.plans import skip_in_controller_mode

    skip_in_controller_mode(
        config,
        items,
        Path(__file__).parent,
        "PCS-FS",
        "the controller's PCC sensor is the site meter; its loss is checked by testplans/controller (CTL-METER)",
    )
