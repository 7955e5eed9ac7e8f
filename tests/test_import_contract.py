"""The checks of `make lint` can fail: the import contract (the layers of DESIGN.md) and ruff.

The contract is checked as the Makefile does, on a tree of links that maps the
one namespace `flexbench` onto the code folders; here one folder of that tree
is a copy of links with one module added that breaks a contract.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("core", "twin", "instruments", "signals", "lab")
BIN = Path(sys.executable).parent
CONTRACTS = {
    c["name"] for c in tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]["contracts"]
}


def link_tree(root: Path, extra: dict[str, str] | None = None) -> Path:
    """build/imports as `make lint` makes it; `extra` adds modules ("twin/_bad.py": source) to the packages.

    A folder that gets a module is made of links to the real folder's entries, so nothing is written
    into the code itself.
    """
    top = root / "imports" / "flexbench"
    top.mkdir(parents=True)
    (top / "__init__.py").write_text("")
    for package in PACKAGES:
        (top / package).symlink_to(ROOT / package)
    for name, text in (extra or {}).items():
        folder = Path(name).parent
        for depth in range(1, len(folder.parts) + 1):
            part = Path(*folder.parts[:depth])
            if (top / part).is_symlink():
                (top / part).unlink()
                (top / part).mkdir()
                for child in (ROOT / part).iterdir():
                    (top / part / child.name).symlink_to(child)
        (top / name).write_text(text)
    return root / "imports"


def lint_imports(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / "lint-imports"), "--no-cache", "--no-logo", str(ROOT / "pyproject.toml")],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(path), "COLUMNS": "200"},
        capture_output=True,
        text=True,
        timeout=120,
    )


def contract_lines(output: str) -> str:
    return " ".join(output.split())  # the report wraps long contract names


def test_the_contract_holds_on_the_code(tmp_path) -> None:
    proc = lint_imports(link_tree(tmp_path))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    report = contract_lines(proc.stdout)
    assert all(f"{name} KEPT" in report for name in CONTRACTS), report


@pytest.mark.parametrize(
    ("module", "source", "broken"),
    [
        ("twin/_reaches_across.py", "import flexbench.signals\n", "those three independent"),
        ("core/_reaches_up.py", "from flexbench.lab import errors\n", "lab above them"),
        ("core/_frames.py", "import pandas\n", "core imports only numpy and pydantic from outside"),
        ("instruments/drivers/_peeks.py", "import flexbench.instruments.emulators\n", "drivers never import emulators"),
    ],
)
def test_the_contract_fails_on_a_violation(tmp_path, module, source, broken) -> None:
    proc = lint_imports(link_tree(tmp_path, {module: source}))
    assert proc.returncode != 0, proc.stdout
    report = contract_lines(proc.stdout)
    names = [name for name in CONTRACTS if broken in name]
    assert len(names) == 1 and f"{names[0]} BROKEN" in report, report
    dotted = "flexbench." + module.removesuffix(".py").replace("/", ".")
    assert dotted in report  # the offending module is named


def ruff(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / "ruff"), *args, "--config", str(ROOT / "pyproject.toml")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_ruff_fails_on_a_bad_file_and_passes_a_clean_one(tmp_path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("import os\nimport sys\n\n\ndef f(x=[]):\n    return x == None\ny = {'a':1}\n")
    proc = ruff("check", "--no-cache", str(bad))
    assert proc.returncode != 0
    assert all(code in proc.stdout for code in ("F401", "B006", "E711")), proc.stdout
    proc = ruff("format", "--check", "--no-cache", str(bad))
    assert proc.returncode != 0 and "bad.py" in proc.stdout + proc.stderr
    good = tmp_path / "good.py"
    good.write_text('"""A clean module."""\n\n\ndef f(x: int) -> int:\n    return x + 1\n')
    assert ruff("check", "--no-cache", str(good)).returncode == 0
    assert ruff("format", "--check", "--no-cache", str(good)).returncode == 0
