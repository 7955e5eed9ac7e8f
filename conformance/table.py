"""The parts of the conformance run that need no harness: which procedures, which clients, the table.

Kept free of flexbench and cactus imports so the unit tests run in the project's own environment.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

PREFIXES = ("S-ALL-", "S-OPT-")
BASE_TIMEOUT_S = 300  # every procedure polls; a failing repeat-until-pass step runs until this
OWN_TIME_FACTOR = 1.25  # a procedure's own waits and simulations, with room for the polling around them
CUT_SHORT = "cut short"  # the result of a procedure stopped at the run's cap before its own end


@dataclass(frozen=True)
class Row:
    """One procedure's outcome: 'pass', 'fail' or 'cut short', and cactus's words for the failure."""

    procedure: str
    result: str
    failing_check: str = ""
    run: str = ""  # when the run that gave this result started ("2026-12-03 15:35 UTC")


def select_procedures(listing: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The S-ALL and S-OPT procedures of a harness listing, in natural order (S-ALL-2 before S-ALL-10)."""
    chosen = [p for p in listing if str(p["procedure"]).startswith(PREFIXES)]
    return sorted(chosen, key=lambda p: _natural_key(str(p["procedure"])))


def _natural_key(name: str) -> tuple[Any, ...]:
    return tuple(int(part) if part.isdigit() else part for part in re.split(r"(\d+)", name))


def natural_timeout_s(procedure: dict[str, Any]) -> int:
    """Seconds a procedure may take: the polling allowance plus its own waits and simulations."""
    return BASE_TIMEOUT_S + int(OWN_TIME_FACTOR * int(procedure.get("own_s") or 0))


def timeout_s(procedure: dict[str, Any], cap_s: int | None = None) -> int:
    natural = natural_timeout_s(procedure)
    return natural if cap_s is None else min(natural, cap_s)


def is_cut_short(procedure: dict[str, Any], cap_s: int | None) -> bool:
    """True when the cap stops the procedure before the end its own waits and simulations need."""
    return cap_s is not None and natural_timeout_s(procedure) > cap_s


def assign_clients(required: list[str | None], configured: dict[str, str]) -> list[str]:
    """Configured client ids (id -> 'device' or 'aggregator') filling each required slot (None: any type).

    Typed slots are filled first so that an untyped one cannot take the only client of a type.
    """
    free = dict(configured)
    chosen: dict[int, str] = {}
    order = sorted(range(len(required)), key=lambda i: required[i] is None)
    for i in order:
        wanted = required[i]
        match = next((cid for cid, kind in free.items() if wanted is None or kind == wanted), None)
        if match is None:
            raise ValueError(f"no configured client left for a required {wanted or 'client'} (have {configured})")
        chosen[i] = match
        del free[match]
    return [chosen[i] for i in range(len(required))]


# Reading cactus's output --------------------------------------------------------------------
STEP_FAILURE = re.compile(
    r"add_log - (?P<step>.+?)\[\d+\] Attempt \d+: (?:Check Failure|Exception raised during action/check): (?P<why>.+)$"
)
STEP_MARKED = re.compile(r"add_log - (?P<step>.+?)\[\d+\] .*?has been marked as failed: (?P<why>.+)$")
EXCEPTION = re.compile(r"^(?:[\w.]+\.)?\w*(?:Error|Exception): (?P<why>.+)$")
XSD_ERROR = re.compile(r"XSD validation error\(s\) encountered: \[[\"'](?P<why>.+?)[\"']\]")
TIMEOUT = re.compile(r"Aborting test due to timeout after (?P<s>\d+) seconds")


def failing_check(text: str) -> str:
    """cactus's words for why a run failed, from its console output ('' when it names nothing).

    The last failure of a step is the one that stood (repeated steps fail the same way until then);
    an exception outside the checks, an XSD error, and a timeout are named when they are the cause.
    """
    step, why = "", ""
    exception, xsd, timed_out = "", "", ""
    for line in text.splitlines():
        if m := STEP_MARKED.search(line) or STEP_FAILURE.search(line):
            step, why = m["step"], m["why"]
        elif m := EXCEPTION.match(line.strip()):
            exception = m["why"]
        elif (m := XSD_ERROR.search(line)) and not xsd:
            xsd = "XSD: " + m["why"]
        elif m := TIMEOUT.search(line):
            timed_out = f"timed out after {m['s']} s"
    reason = f"{step}: {why}" if step else exception or xsd
    if timed_out:
        reason = f"{reason} ({timed_out})" if reason else timed_out
    return " ".join(reason.split())[:400]


# Writing the table -----------------------------------------------------------------------------
def read_table(json_path: Path) -> list[Row]:
    """The rows of a table written before ([] when there is none), so that a partial run can update it."""
    if not json_path.exists():
        return []
    try:
        return [Row(**item) for item in json.loads(json_path.read_text())]
    except (ValueError, TypeError) as exc:
        raise ValueError(f"{json_path}: not a conformance table ({exc})") from None


def merge(previous: list[Row], fresh: list[Row]) -> list[Row]:
    """The previous table with the procedures run again replaced by their new results, in natural order."""
    by_procedure = {r.procedure: r for r in previous} | {r.procedure: r for r in fresh}
    return [by_procedure[name] for name in sorted(by_procedure, key=_natural_key)]


def write_table(rows: list[Row], out_dir: Path, versions: dict[str, str]) -> tuple[Path, Path]:
    """latest.json (a list of {procedure, result, failing_check}) and latest.md beside it."""
    out_dir.mkdir(parents=True, exist_ok=True)
    json_path = out_dir / "latest.json"
    json_path.write_text(json.dumps([asdict(r) for r in rows], indent=1) + "\n")
    md_path = out_dir / "latest.md"
    md_path.write_text(markdown(rows, versions))
    return json_path, md_path


def markdown(rows: list[Row], versions: dict[str, str]) -> str:
    passed = sum(r.result == "pass" for r in rows)
    used = ", ".join(f"{name} {version}" for name, version in sorted(versions.items()))
    lines = [f"{passed} of {len(rows)} procedures pass ({used}).", "", *_runs(rows)]
    lines += [
        "| procedure | result | cactus's failing check |",
        "| --- | --- | --- |",
    ]
    for r in rows:
        lines.append(f"| {r.procedure} | {r.result} | {r.failing_check.replace('|', '/')} |")
    return "\n".join(lines) + "\n"


def _runs(rows: list[Row]) -> list[str]:
    """Which run each result comes from, when the table merges several (the largest run named last)."""
    by_run: dict[str, list[str]] = {}
    for r in rows:
        by_run.setdefault(f"the run of {r.run}" if r.run else "an earlier run", []).append(r.procedure)
    if len(by_run) < 2:
        return [f"All from {next(iter(by_run))}.", ""] if by_run and rows[0].run else []
    ordered = sorted(by_run.items(), key=lambda item: len(item[1]))
    parts = [f"{', '.join(names)} from {run}" for run, names in ordered[:-1]]
    parts.append(f"the other {len(ordered[-1][1])} from {ordered[-1][0]}")
    return ["Results by run: " + "; ".join(parts) + ".", ""]


README_START, README_END = "<!-- conformance:start -->", "<!-- conformance:end -->"


def update_readme(readme: Path, table_markdown: str) -> None:
    """Put the table between the README's conformance markers, so the README shows the latest run."""
    text = readme.read_text()
    head, found, rest = text.partition(README_START)
    _, found_end, tail = rest.partition(README_END)
    if not (found and found_end):
        raise ValueError(f"{readme}: no {README_START} ... {README_END} section")
    readme.write_text(f"{head}{README_START}\n{table_markdown}{README_END}{tail}")
