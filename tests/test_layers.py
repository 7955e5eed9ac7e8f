"""The house rules of DESIGN.md: twin, instruments and signals import neither lab nor each other,
and no driver imports an emulator."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LIBRARIES = ("twin", "instruments", "signals")


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


@pytest.mark.parametrize("package", LIBRARIES)
def test_library_packages_do_not_import_lab_or_each_other(package):
    forbidden = {f"flexbench.{other}" for other in (*LIBRARIES, "lab") if other != package}
    offenders = []
    for path in (ROOT / package).rglob("*.py"):
        for module in imported_modules(path):
            if any(module == f or module.startswith(f + ".") for f in forbidden):
                offenders.append(f"{path.relative_to(ROOT)} imports {module}")
    assert not offenders, "\n".join(offenders)


def test_drivers_do_not_import_emulators():
    offenders = [
        f"{path.relative_to(ROOT)} imports {module}"
        for path in (ROOT / "instruments" / "drivers").rglob("*.py")
        for module in imported_modules(path)
        if "emulators" in module
    ]
    assert not offenders, "\n".join(offenders)


def test_the_check_sees_a_violation(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("from flexbench.lab.bench import Bench\nimport flexbench.signals.csip\n")
    assert imported_modules(bad) == {"flexbench.lab.bench", "flexbench.signals.csip"}
