"""The type checker of `make lint` can fail: on a wrong type anywhere, and on an untyped function at a seam.

mypy runs with the project's configuration on small modules placed in a tree
of their own under the one namespace `flexbench`, so the check names the
module as the project's own would be named and takes the per-module settings
(the strict seams) that apply to it.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent

UNTYPED = "def read(timeout_s):\n    return timeout_s\n"


def mypy(tmp_path: Path, modules: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """mypy over `modules` ("core/_x.py": source), each checked as flexbench.<folder>.<name>."""
    top = tmp_path / "imports" / "flexbench"
    for name, text in modules.items():
        path = top / name
        path.parent.mkdir(parents=True, exist_ok=True)
        for folder in [top, *path.parent.relative_to(top).parents, path.parent.relative_to(top)]:
            init = top / folder / "__init__.py"
            if not init.exists():
                init.write_text("")
        path.write_text(text)
    targets = [arg for name in modules for arg in ("-m", "flexbench." + name.removesuffix(".py").replace("/", "."))]
    return subprocess.run(
        [str(BIN / "mypy"), "--config-file", str(ROOT / "pyproject.toml"), "--cache-dir", str(tmp_path / "cache")]
        + targets,
        cwd=tmp_path,
        env={**os.environ, "MYPYPATH": str(tmp_path / "imports")},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_a_wrong_type_fails_the_check(tmp_path) -> None:
    proc = mypy(tmp_path, {"core/_wrong.py": "def half(x: int) -> int:\n    return x / 2\n"})
    assert proc.returncode != 0
    assert "_wrong.py:2: error" in proc.stdout and "[return-value]" in proc.stdout, proc.stdout


def test_an_untyped_function_fails_at_a_seam_only(tmp_path) -> None:
    proc = mypy(tmp_path, {"instruments/transports/_loose.py": UNTYPED, "instruments/drivers/_loose.py": UNTYPED})
    assert proc.returncode != 0
    assert "transports/_loose.py:1: error" in proc.stdout and "[no-untyped-def]" in proc.stdout, proc.stdout
    assert "drivers/_loose.py" not in proc.stdout  # not a seam: an untyped function is allowed there


def test_a_typed_module_passes(tmp_path) -> None:
    proc = mypy(tmp_path, {"lab/_typed.py": "def half(x: float) -> float:\n    return x / 2\n"})
    assert proc.returncode == 0, proc.stdout + proc.stderr
