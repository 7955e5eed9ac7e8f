"""Requirement profiles: every number a test plan uses, in a TOML file a lab can edit.

A plan never hard-codes a criterion: its typed parameters (lab.plan) are read
from the profile when pytest collects it, and a missing or mistyped number is
an error naming the file, line and key.

Per-bench values: a table [benches.BENCH.plans.PLAN] (or .requirements.ID)
sets those keys of [plans.PLAN] (of [requirements.ID]) when the run's
bench file is named BENCH ([bench] name), so one profile serves benches whose
sites differ (conditions a controller site can make, ...) without a copy.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import pytest

from flexbench.lab.errors import UserError


class ProfileError(UserError):
    pass


_CACHE_KEY = pytest.StashKey[dict]()  # profiles loaded in one pytest session, by resolved path


class Profile:
    def __init__(self, path: Path, data: dict[str, Any], lines: list[str] | None = None, bench: str | None = None):
        self.path = path
        self.data = data
        self.lines = lines or []  # the file's text, to name the line of a key in an error
        self.bench = bench  # the bench whose [benches.BENCH] values are in place (None: the shared ones)
        self.name = str(data.get("profile", {}).get("name", path.stem))

    @classmethod
    def load(cls, path: str | Path) -> Profile:
        path = Path(path)
        try:
            text = path.read_text(encoding="utf-8")
            data = tomllib.loads(text)
        except FileNotFoundError:
            raise ProfileError(f"{path}: requirement profile not found") from None
        except tomllib.TOMLDecodeError as exc:
            raise ProfileError(f"{path}: not valid TOML: {exc}") from None
        for table in ("requirements", "plans", "benches"):
            if table in data and not isinstance(data[table], dict):
                raise ProfileError(f"{path}: [{table}] must be a table")
        return cls(path, data, text.splitlines())

    def for_bench(self, bench_name: str | None) -> Profile:
        """This profile with the [benches.<bench_name>] values in place of the shared ones."""
        overrides = self.data.get("benches", {}).get(bench_name) if bench_name else None
        if not overrides:
            return self
        data = {**self.data}
        for kind, tables in overrides.items():
            if kind not in ("plans", "requirements") or not isinstance(tables, dict):
                raise ProfileError(
                    f"{self.path}: [benches.{bench_name}.{kind}]: only plans and requirements "
                    "tables may be replaced per bench"
                )
            data[kind] = dict(data.get(kind, {}))
            for name, values in tables.items():
                base = data[kind].get(name)
                if not isinstance(base, dict) or not isinstance(values, dict):
                    raise ProfileError(
                        f"{self.path}: [benches.{bench_name}.{kind}.{name}]: no [{kind}.{name}] "
                        "table to replace values of"
                    )
                data[kind][name] = {**base, **values}
        return Profile(self.path, data, self.lines, bench_name)

    def origin(self, kind: str, name: str, key: str) -> str:
        """The table a value comes from: `benches.BENCH.kind.name` when the bench's table sets it."""
        if self.bench is not None:
            override = self.data.get("benches", {}).get(self.bench, {}).get(kind, {}).get(name, {})
            if isinstance(override, dict) and key in override:
                return f"benches.{self.bench}.{kind}.{name}"
        return f"{kind}.{name}"


def profile_for(config: Any, plan_file: str, default_name: str | None) -> Profile:
    """The profile a plan runs with: --profile when given, else testplans/profiles/<default_name>.toml.

    Used at collection (to parametrize test points) and by the `requirements` fixture, so both agree.
    """
    path = config.getoption("--profile")
    if path is None:
        if default_name is None:
            raise ProfileError(f"{plan_file}: set PROFILE = '<name>' in the plan or pass --profile FILE")
        path = Path(plan_file).resolve().parents[1] / "profiles" / f"{default_name}.toml"
        if path.is_relative_to(Path.cwd()):
            path = path.relative_to(Path.cwd())  # errors name the file as the user sees it
    cache = config.stash.setdefault(_CACHE_KEY, {})
    key = str(Path(path).resolve())
    if key not in cache:
        cache[key] = Profile.load(path).for_bench(_bench_name(config.getoption("--bench")))
    return cache[key]


def _bench_name(bench_path: str | None) -> str | None:
    """[bench] name of the run's bench file (None: the embedded bench, or a file its own checks will refuse)."""
    if bench_path is None:
        return None
    try:
        name = tomllib.loads(Path(bench_path).read_text(encoding="utf-8")).get("bench", {}).get("name")
    except (OSError, tomllib.TOMLDecodeError, AttributeError):
        return None
    return name if isinstance(name, str) else None
