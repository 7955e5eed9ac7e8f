"""The server's book of DERPrograms, DERControls and DefaultDERControls, with the event rules.

EventStatus is computed from stored facts (creation, start, cancellation,
supersession) and the server clock at read time, so a restarted server shows
the same schedule. A new control supersedes the controls of the same program
that overlap it in time and carry the same control elements; it takes effect at
the new control's start (at once for one already started), as IEEE 2030.5
prescribes: a later control it overlaps is Superseded from then on, before it
would have started.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass

from flexbench.signals.csip.controls import ControlValues
from flexbench.signals.csip.defaults import DefaultSettings
from flexbench.signals.csip.int_types import RANGES
from flexbench.signals.csip.registry import new_mrid
from flexbench.signals.csip.store import Store

SCHEDULED, ACTIVE, CANCELLED, CANCELLED_RANDOM, SUPERSEDED = 0, 1, 2, 3, 4
DEFAULT_PROGRAMS: dict[str, int] = {"abnormal": 1, "envelope": 2}


def event_status(
    start_s: int,
    creation_s: int,
    now_s: float,
    cancelled_s: int | None = None,
    cancel_randomized: bool = False,
    superseded_at_s: int | None = None,
) -> tuple[int, int]:
    """(EventStatus currentStatus, its dateTime) of an event at server time now_s, from its stored facts."""
    if cancelled_s is not None:
        return (CANCELLED_RANDOM if cancel_randomized else CANCELLED), cancelled_s
    if superseded_at_s is not None and now_s >= superseded_at_s:
        return SUPERSEDED, superseded_at_s
    if now_s >= start_s:
        return ACTIVE, start_s
    return SCHEDULED, creation_s


@dataclass(frozen=True)
class Program:
    id: int
    edev_id: int
    name: str
    mrid: str
    primacy: int
    description: str | None
    version: int
    fsa: int  # the FunctionSetAssignments that lists it


@dataclass(frozen=True)
class Control:
    """One DERControl as stored."""

    id: int
    program_id: int
    mrid: str
    description: str | None
    creation_s: int
    start_s: int
    duration_s: int
    randomize_start_s: int | None
    randomize_duration_s: int | None
    response_required: str
    values: ControlValues
    cancelled_s: int | None
    cancel_randomized: bool
    superseded_at_s: int | None
    potentially_superseded_s: int | None
    superseded_by: str | None
    version: int

    @property
    def end_s(self) -> int:
        return self.start_s + self.duration_s

    def status(self, now_s: float) -> tuple[int, int]:
        """(EventStatus currentStatus, its dateTime) at server time now_s."""
        return event_status(
            self.start_s, self.creation_s, now_s, self.cancelled_s, self.cancel_randomized, self.superseded_at_s
        )

    def is_listed(self, now_s: float) -> bool:
        """Kept in the DERControlList until its scheduled period is over (cancelled ones too)."""
        return self.end_s > now_s

    def is_active(self, now_s: float) -> bool:
        return self.start_s <= now_s < self.end_s and self.status(now_s)[0] == ACTIVE

    def boundaries(self) -> list[int]:
        out = [self.start_s, self.end_s]
        if self.superseded_at_s is not None:
            out.append(self.superseded_at_s)
        return out

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> Control:
        return cls(
            id=row["id"],
            program_id=row["program_id"],
            mrid=row["mrid"],
            description=row["description"],
            creation_s=row["creation_s"],
            start_s=row["start_s"],
            duration_s=row["duration_s"],
            randomize_start_s=row["randomize_start_s"],
            randomize_duration_s=row["randomize_duration_s"],
            response_required=row["response_required"],
            values=ControlValues.from_dict(json.loads(row["values_json"])),
            cancelled_s=row["cancelled_s"],
            cancel_randomized=bool(row["cancel_randomized"]),
            superseded_at_s=row["superseded_at_s"],
            potentially_superseded_s=row["potentially_superseded_s"],
            superseded_by=row["superseded_by"],
            version=row["version"],
        )


@dataclass(frozen=True)
class DefaultControl:
    program_id: int
    mrid: str
    values: ControlValues
    updated_s: int
    version: int
    settings: DefaultSettings = DefaultSettings()


SETTINGS_KEY = "default_settings"  # kept beside the values in values_json


def _default_json(values: ControlValues, settings: DefaultSettings) -> str:
    return json.dumps({**values.as_dict(), SETTINGS_KEY: settings.as_dict()})


def _program(row: sqlite3.Row) -> Program:
    return Program(
        row["id"],
        row["edev_id"],
        row["name"],
        row["mrid"],
        row["primacy"],
        row["description"],
        row["version"],
        row["fsa"],
    )


# a program with no row in program_fsas is in the first FunctionSetAssignments
PROGRAMS = "SELECT p.*, COALESCE(f.fsa, 1) AS fsa FROM programs p LEFT JOIN program_fsas f ON f.program_id = p.id"


class ScheduleBook:
    def __init__(self, store: Store) -> None:
        self.store = store

    # Programs ------------------------------------------------------------------
    def ensure_programs(self, edev_id: int, primacies: dict[str, int]) -> None:
        for name, primacy in primacies.items():
            self.store.run(
                "INSERT OR IGNORE INTO programs (edev_id, name, mrid, primacy, description) VALUES (?,?,?,?,?)",
                (edev_id, name, new_mrid(), primacy, f"{name} limits"),
            )

    def put_program(self, edev_id: int, name: str, primacy: int, fsa: int, description: str | None) -> Program:
        """Add a DERProgram, or move an existing one (same name) to this primacy and FunctionSetAssignments."""
        with self.store.transaction():
            self.store.run(
                "INSERT INTO programs (edev_id, name, mrid, primacy, description) VALUES (?,?,?,?,?)"
                " ON CONFLICT (edev_id, name) DO UPDATE SET primacy=excluded.primacy, version=version+1,"
                " description=COALESCE(?, description)",
                (edev_id, name, new_mrid(), primacy, description or f"{name} limits", description),
            )
            prog = self.program_by_name(edev_id, name)
            self.store.run("INSERT OR REPLACE INTO program_fsas (program_id, fsa) VALUES (?,?)", (prog.id, fsa))
        return self.program_by_name(edev_id, name)

    def delete_program(self, program_id: int) -> None:
        """Remove a program with its controls, its default control and its FSA membership."""
        with self.store.transaction():
            for table in ("controls", "default_controls", "program_fsas"):
                self.store.run(f"DELETE FROM {table} WHERE program_id=?", (program_id,))
            self.store.run("DELETE FROM programs WHERE id=?", (program_id,))

    def delete_control(self, control: Control) -> None:
        """Remove a control from its list altogether (cancel keeps it listed, with its cancelled status)."""
        with self.store.transaction():
            self.store.run("DELETE FROM controls WHERE id=?", (control.id,))
            self.store.run("UPDATE programs SET version=version+1 WHERE id=?", (control.program_id,))

    def fsas(self, edev_id: int) -> list[int]:
        """The device's FunctionSetAssignments: the first always, each one a program is in, each one described."""
        described = {r["fsa"] for r in self.store.all("SELECT fsa FROM fsa_descriptions WHERE edev_id=?", (edev_id,))}
        return sorted({1} | {p.fsa for p in self.programs(edev_id)} | described)

    def fsa_description(self, edev_id: int, fsa: int) -> tuple[str | None, int]:
        """(description, version) of one FunctionSetAssignments; (None, 0) until the operator describes it."""
        row = self.store.one("SELECT * FROM fsa_descriptions WHERE edev_id=? AND fsa=?", (edev_id, fsa))
        return (row["description"], row["version"]) if row else (None, 0)

    def describe_fsa(self, edev_id: int, fsa: int, description: str) -> bool:
        """Make a FunctionSetAssignments with this description (or describe an existing one); False if unchanged."""
        if self.fsa_description(edev_id, fsa)[0] == description:
            return False
        self.store.run(
            "INSERT INTO fsa_descriptions (edev_id, fsa, description) VALUES (?,?,?)"
            " ON CONFLICT (edev_id, fsa) DO UPDATE SET description=excluded.description, version=version+1",
            (edev_id, fsa, description),
        )
        return True

    def forget_fsas(self, edev_id: int) -> None:
        self.store.run("DELETE FROM fsa_descriptions WHERE edev_id=?", (edev_id,))

    def programs(self, edev_id: int) -> list[Program]:
        rows = self.store.all(f"{PROGRAMS} WHERE p.edev_id=? ORDER BY p.primacy, p.id", (edev_id,))
        return [_program(r) for r in rows]

    def program(self, edev_id: int, program_id: int) -> Program | None:
        row = self.store.one(f"{PROGRAMS} WHERE p.edev_id=? AND p.id=?", (edev_id, program_id))
        return _program(row) if row else None

    def program_by_name(self, edev_id: int, name: str) -> Program:
        row = self.store.one(f"{PROGRAMS} WHERE p.edev_id=? AND p.name=?", (edev_id, name))
        if row is None:
            known = [p.name for p in self.programs(edev_id)]
            raise ValueError(f"no DERProgram named {name!r} for this device; known: {known}")
        return _program(row)

    # Controls --------------------------------------------------------------------
    def controls(self, program_id: int, now_s: float | None = None) -> list[Control]:
        """Controls in 2030.5 list order (start, newest creation first, mRID); only listed ones if now_s given."""
        rows = self.store.all(
            "SELECT * FROM controls WHERE program_id=? ORDER BY start_s, creation_s DESC, mrid DESC", (program_id,)
        )
        controls = [Control.from_row(r) for r in rows]
        if now_s is not None:
            controls = [c for c in controls if c.is_listed(now_s)]
        return controls

    def control(self, mrid: str) -> Control | None:
        row = self.store.one("SELECT * FROM controls WHERE mrid=?", (mrid.upper(),))
        return Control.from_row(row) if row else None

    def control_by_id(self, program_id: int, control_id: int) -> Control | None:
        row = self.store.one("SELECT * FROM controls WHERE program_id=? AND id=?", (program_id, control_id))
        return Control.from_row(row) if row else None

    def add_control(
        self,
        program: Program,
        start_s: int,
        duration_s: int,
        values: ControlValues,
        now_s: int,
        description: str | None = None,
        randomize_start_s: int | None = None,
        randomize_duration_s: int | None = None,
        response_required: str = "03",
    ) -> tuple[Control, list[str]]:
        """Store a control and mark what it supersedes; returns it and the superseded mRIDs."""
        if duration_s <= 0:
            raise ValueError(f"a control needs a positive duration, got {duration_s} s")
        for name, value, kind in (
            ("start", start_s, "Int64"),
            ("duration_s", duration_s, "UInt32"),
            ("randomize_start_s", randomize_start_s, "Int16"),
            ("randomize_duration_s", randomize_duration_s, "Int16"),
        ):
            low, high = RANGES[kind]
            if value is not None and not low <= value <= high:
                raise ValueError(f"{name} {value} does not fit its 2030.5 element ({kind}, {low} to {high})")
        if values.is_empty():
            raise ValueError("a control needs at least one control value")
        elements = values.elements()
        mrid = new_mrid()
        end_s = start_s + duration_s
        superseded: list[str] = []
        with self.store.transaction():
            for other in self.controls(program.id):
                if other.cancelled_s is not None or other.superseded_by is not None:
                    continue
                if other.values.elements() != elements or not (other.start_s < end_s and start_s < other.end_s):
                    continue
                if other.end_s <= now_s:
                    continue
                self.store.run(
                    "UPDATE controls SET superseded_at_s=?, potentially_superseded_s=?, superseded_by=?,"
                    " version=version+1 WHERE id=?",
                    (max(start_s, now_s), now_s, mrid, other.id),
                )
                superseded.append(other.mrid)
            self.store.run(
                "INSERT INTO controls (program_id, mrid, description, creation_s, start_s, duration_s,"
                " randomize_start_s, randomize_duration_s, response_required, values_json, elements)"
                " VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                (
                    program.id,
                    mrid,
                    description,
                    now_s,
                    start_s,
                    duration_s,
                    randomize_start_s,
                    randomize_duration_s,
                    response_required,
                    json.dumps(values.as_dict()),
                    ",".join(sorted(elements)),
                ),
            )
            self.store.run("UPDATE programs SET version=version+1 WHERE id=?", (program.id,))
        control = self.control(mrid)
        assert control is not None
        return control, superseded

    def cancel(self, mrid: str, now_s: int, randomized: bool = False) -> Control:
        control = self.control(mrid)
        if control is None:
            raise KeyError(f"no DERControl with mRID {mrid}")
        if control.cancelled_s is None:
            self.store.run(
                "UPDATE controls SET cancelled_s=?, cancel_randomized=?, version=version+1 WHERE id=?",
                (now_s, int(randomized), control.id),
            )
        updated = self.control(mrid)
        assert updated is not None
        return updated

    def next_boundary_s(self, program_id: int, now_s: float) -> float:
        """Next time a listed control of the program changes status or leaves the list."""
        upcoming = [b for c in self.controls(program_id, now_s) for b in c.boundaries() if b > now_s]
        return float(min(upcoming)) if upcoming else float("inf")

    # Defaults ----------------------------------------------------------------------
    def default(self, program_id: int) -> DefaultControl | None:
        row = self.store.one("SELECT * FROM default_controls WHERE program_id=?", (program_id,))
        if row is None:
            return None
        data = json.loads(row["values_json"])
        settings = DefaultSettings.from_dict(data.pop(SETTINGS_KEY, {}))
        return DefaultControl(
            row["program_id"],
            row["mrid"],
            ControlValues.from_dict(data),
            row["updated_s"],
            row["version"],
            settings,
        )

    def set_default(
        self, program_id: int, values: ControlValues, now_s: int, settings: DefaultSettings | None = None
    ) -> DefaultControl:
        """Set a program's default; `settings` None keeps the ramp and enter-service settings it had."""
        existing = self.default(program_id)
        if settings is None:
            settings = existing.settings if existing is not None else DefaultSettings()
        if existing is None:
            self.store.run(
                "INSERT INTO default_controls (program_id, mrid, values_json, updated_s) VALUES (?,?,?,?)",
                (program_id, new_mrid(), _default_json(values, settings), now_s),
            )
        else:
            self.store.run(
                "UPDATE default_controls SET values_json=?, updated_s=?, version=version+1 WHERE program_id=?",
                (_default_json(values, settings), now_s, program_id),
            )
        found = self.default(program_id)
        assert found is not None
        return found
