"""SQLite state of the head-end: one file per bench run, kept across restarts.

Plain SQL over the standard library's sqlite3: the state is small, writes are
short transactions, and WAL lets an operator read while the server writes.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import Any

SCHEMA_VERSION = 1

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS changes (seq INTEGER PRIMARY KEY, edev_id INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS end_devices (
    id INTEGER PRIMARY KEY,
    lfdi TEXT NOT NULL UNIQUE,
    sfdi INTEGER NOT NULL,
    kind TEXT NOT NULL DEFAULT 'device',
    aggregator_id INTEGER REFERENCES end_devices(id),
    pin INTEGER NOT NULL,
    registered_s INTEGER NOT NULL,
    changed_s INTEGER NOT NULL,
    enabled INTEGER NOT NULL DEFAULT 1,
    csipaus_version TEXT,
    post_rate_s INTEGER,
    connection_point_id TEXT,
    limit_mode TEXT NOT NULL DEFAULT 'auto',
    rated_w REAL,
    description TEXT,
    device_category TEXT
);
CREATE TABLE IF NOT EXISTS poll_rates (
    edev_id INTEGER NOT NULL,
    resource TEXT NOT NULL,
    rate_s INTEGER NOT NULL,
    PRIMARY KEY (edev_id, resource)
);
CREATE TABLE IF NOT EXISTS programs (
    id INTEGER PRIMARY KEY,
    edev_id INTEGER NOT NULL REFERENCES end_devices(id),
    name TEXT NOT NULL,
    mrid TEXT NOT NULL UNIQUE,
    primacy INTEGER NOT NULL,
    description TEXT,
    version INTEGER NOT NULL DEFAULT 0,
    UNIQUE (edev_id, name)
);
CREATE TABLE IF NOT EXISTS program_fsas (
    program_id INTEGER PRIMARY KEY REFERENCES programs(id),
    fsa INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS fsa_descriptions (
    edev_id INTEGER NOT NULL REFERENCES end_devices(id),
    fsa INTEGER NOT NULL,
    description TEXT NOT NULL,
    version INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (edev_id, fsa)
);
CREATE TABLE IF NOT EXISTS controls (
    id INTEGER PRIMARY KEY,
    program_id INTEGER NOT NULL REFERENCES programs(id),
    mrid TEXT NOT NULL UNIQUE,
    description TEXT,
    creation_s INTEGER NOT NULL,
    start_s INTEGER NOT NULL,
    duration_s INTEGER NOT NULL,
    randomize_start_s INTEGER,
    randomize_duration_s INTEGER,
    response_required TEXT NOT NULL DEFAULT '03',
    values_json TEXT NOT NULL,
    elements TEXT NOT NULL,
    cancelled_s INTEGER,
    cancel_randomized INTEGER NOT NULL DEFAULT 0,
    superseded_at_s INTEGER,
    potentially_superseded_s INTEGER,
    superseded_by TEXT,
    version INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS controls_by_program ON controls (program_id, start_s);
CREATE TABLE IF NOT EXISTS default_controls (
    program_id INTEGER PRIMARY KEY REFERENCES programs(id),
    mrid TEXT NOT NULL,
    values_json TEXT NOT NULL,
    updated_s INTEGER NOT NULL,
    version INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS tariff_profiles (
    id INTEGER PRIMARY KEY,
    edev_id INTEGER NOT NULL REFERENCES end_devices(id),
    name TEXT NOT NULL,
    mrid TEXT NOT NULL UNIQUE,
    fsa INTEGER NOT NULL,
    primacy INTEGER NOT NULL,
    currency INTEGER NOT NULL,
    price_multiplier INTEGER NOT NULL,
    rate_code TEXT,
    version INTEGER NOT NULL DEFAULT 0,
    UNIQUE (edev_id, name)
);
CREATE TABLE IF NOT EXISTS rate_components (
    id INTEGER PRIMARY KEY,
    tariff_id INTEGER NOT NULL REFERENCES tariff_profiles(id),
    flow TEXT NOT NULL,
    mrid TEXT NOT NULL UNIQUE,
    UNIQUE (tariff_id, flow)
);
CREATE TABLE IF NOT EXISTS tariff_intervals (
    id INTEGER PRIMARY KEY,
    rate_component_id INTEGER NOT NULL REFERENCES rate_components(id),
    mrid TEXT NOT NULL UNIQUE,
    creation_s INTEGER NOT NULL,
    start_s INTEGER NOT NULL,
    duration_s INTEGER NOT NULL,
    tou_tier INTEGER NOT NULL,
    blocks_json TEXT NOT NULL,
    cancelled_s INTEGER,
    superseded_at_s INTEGER,
    version INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS tariff_intervals_by_component ON tariff_intervals (rate_component_id, start_s);
CREATE TABLE IF NOT EXISTS der_documents (
    edev_id INTEGER NOT NULL REFERENCES end_devices(id),
    kind TEXT NOT NULL,
    xml BLOB NOT NULL,
    summary_json TEXT NOT NULL,
    updated_s INTEGER NOT NULL,
    PRIMARY KEY (edev_id, kind)
);
CREATE TABLE IF NOT EXISTS responses (
    id INTEGER PRIMARY KEY,
    edev_id INTEGER NOT NULL REFERENCES end_devices(id),
    lfdi TEXT NOT NULL,
    subject TEXT NOT NULL,
    status INTEGER,
    created_s INTEGER,
    received_s INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS responses_by_device ON responses (edev_id, id);
CREATE TABLE IF NOT EXISTS mirror_usage_points (
    id INTEGER PRIMARY KEY,
    edev_id INTEGER NOT NULL REFERENCES end_devices(id),
    mrid TEXT NOT NULL,
    description TEXT,
    role_flags TEXT NOT NULL,
    service_category INTEGER NOT NULL,
    status INTEGER NOT NULL,
    post_rate_s INTEGER,
    UNIQUE (edev_id, mrid)
);
CREATE INDEX IF NOT EXISTS mirror_usage_points_by_mrid ON mirror_usage_points (mrid);
CREATE TABLE IF NOT EXISTS mirror_meter_readings (
    id INTEGER PRIMARY KEY,
    mup_id INTEGER NOT NULL REFERENCES mirror_usage_points(id),
    mrid TEXT NOT NULL,
    description TEXT,
    reading_type_json TEXT NOT NULL,
    UNIQUE (mup_id, mrid)
);
CREATE INDEX IF NOT EXISTS mirror_meter_readings_by_mrid ON mirror_meter_readings (mrid);
CREATE TABLE IF NOT EXISTS readings (
    id INTEGER PRIMARY KEY,
    mmr_id INTEGER NOT NULL REFERENCES mirror_meter_readings(id),
    time_s INTEGER NOT NULL,
    duration_s INTEGER,
    value INTEGER NOT NULL,
    quality_flags TEXT,
    received_s INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS readings_by_mmr ON readings (mmr_id, time_s);
CREATE TABLE IF NOT EXISTS subscriptions (
    id INTEGER PRIMARY KEY,
    edev_id INTEGER NOT NULL REFERENCES end_devices(id),
    resource TEXT NOT NULL,
    notification_uri TEXT NOT NULL,
    list_limit INTEGER NOT NULL,
    level TEXT NOT NULL,
    created_s INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS subscriptions_by_resource ON subscriptions (resource);
CREATE TABLE IF NOT EXISTS log_events (
    id INTEGER PRIMARY KEY,
    edev_id INTEGER NOT NULL REFERENCES end_devices(id),
    created_s INTEGER NOT NULL,
    function_set INTEGER NOT NULL,
    log_event_code INTEGER NOT NULL,
    log_event_id INTEGER NOT NULL,
    log_event_pen INTEGER NOT NULL,
    profile_id INTEGER NOT NULL,
    details TEXT,
    extended_data INTEGER,
    received_s INTEGER NOT NULL
);
"""


class Store:
    """One SQLite connection shared by the server loop and operator calls, behind a lock."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        if str(path) != ":memory:":
            self.path.parent.mkdir(parents=True, exist_ok=True)
        self.lock = threading.RLock()
        self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self._db.row_factory = sqlite3.Row
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute("PRAGMA foreign_keys=ON")
        with self.lock:
            self._db.executescript(SCHEMA)
            found = self.one("SELECT value FROM meta WHERE key='schema_version'")
            if found is None:
                self.run("INSERT INTO meta (key, value) VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),))
            elif int(found["value"]) != SCHEMA_VERSION:
                raise RuntimeError(
                    f"{path}: state file has schema version {found['value']}, this server reads {SCHEMA_VERSION}"
                )

    def close(self) -> None:
        with self.lock:
            self._db.close()

    def run(self, sql: str, params: Iterable[Any] = ()) -> int:
        """Execute one statement; returns lastrowid."""
        with self.lock:
            return self._db.execute(sql, tuple(params)).lastrowid or 0

    def one(self, sql: str, params: Iterable[Any] = ()) -> sqlite3.Row | None:
        with self.lock:
            return self._db.execute(sql, tuple(params)).fetchone()

    def all(self, sql: str, params: Iterable[Any] = ()) -> list[sqlite3.Row]:
        with self.lock:
            return self._db.execute(sql, tuple(params)).fetchall()

    def data_version(self) -> int:
        """A number that differs from the last one read whenever another connection (another server process,
        an operator command on the file) committed a change since: one cheap look per request."""
        with self.lock:
            return int(self._db.execute("PRAGMA data_version").fetchone()[0])

    def transaction(self) -> _Transaction:
        """`with store.transaction():` groups writes so a failure changes nothing."""
        return _Transaction(self)


class _Transaction:
    def __init__(self, store: Store) -> None:
        self.store = store

    def __enter__(self) -> Store:
        self.store.lock.acquire()
        self.outer = not self.store._db.in_transaction
        if self.outer:
            self.store._db.execute("BEGIN IMMEDIATE")
        return self.store

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        try:
            if self.outer:
                self.store._db.execute("COMMIT" if exc_type is None else "ROLLBACK")
        finally:
            self.store.lock.release()
