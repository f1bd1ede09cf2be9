"""The schema of `PROJECT/errors.sqlite` and how a connection to it is opened (see `store`).

`split_predictions` pins each split to the predictions it was drawn from (folder and SHA-256 of
predictions.csv), so that predictions replaced afterwards are named as such; it is added to an
older database as it opens, and a split made before it has no pin.
"""

from __future__ import annotations

import sqlite3
from datetime import datetime, timezone
from pathlib import Path

from medgen.exceptions import InputError

BUSY_TIMEOUT_MS = 60_000  # how long a writer waits for another one's lock before giving up

SCHEMA = (
    """CREATE TABLE IF NOT EXISTS schema_version (
        version INTEGER PRIMARY KEY,
        applied_at TEXT NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS model_versions (
        model_version TEXT PRIMARY KEY,
        first_seen TEXT NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS splits (
        split_id INTEGER PRIMARY KEY,
        content_hash TEXT NOT NULL,          -- the dataset, by content
        split_name TEXT NOT NULL,            -- usually 'dev'
        generation INTEGER NOT NULL CHECK (generation >= 0),  -- 0, then +1 per refresh
        created_at TEXT NOT NULL,
        seed INTEGER NOT NULL,
        target_errors INTEGER NOT NULL,
        error_rate REAL NOT NULL,            -- the error rate the eyeball size was sized with
        model_version TEXT,                  -- whose predictions sized it
        reason TEXT NOT NULL CHECK (reason IN ('initial', 'refresh')),
        UNIQUE (content_hash, split_name, generation))""",
    """CREATE TABLE IF NOT EXISTS split_members (
        split_id INTEGER NOT NULL REFERENCES splits(split_id) ON DELETE CASCADE,
        example_id INTEGER NOT NULL,
        part TEXT NOT NULL CHECK (part IN ('eyeball', 'blackbox', 'retired')),
        PRIMARY KEY (split_id, example_id)) WITHOUT ROWID""",
    """CREATE TABLE IF NOT EXISTS categories (
        name TEXT PRIMARY KEY,
        description TEXT NOT NULL DEFAULT '',
        source TEXT NOT NULL CHECK (source IN ('metadata', 'tag')),
        created_at TEXT NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS tags (
        content_hash TEXT NOT NULL,
        example_id INTEGER NOT NULL,
        category TEXT NOT NULL REFERENCES categories(name),
        author TEXT NOT NULL,
        created_at TEXT NOT NULL,
        PRIMARY KEY (content_hash, example_id, category)) WITHOUT ROWID""",
    """CREATE TABLE IF NOT EXISTS evaluations (
        evaluation_id INTEGER PRIMARY KEY,
        model_version TEXT NOT NULL REFERENCES model_versions(model_version),
        split_id INTEGER NOT NULL REFERENCES splits(split_id),
        created_at TEXT NOT NULL,
        eyeball_error REAL NOT NULL,
        blackbox_error REAL NOT NULL,
        n_eyeball INTEGER NOT NULL,
        n_blackbox INTEGER NOT NULL,
        predictions_path TEXT NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS split_predictions (
        split_id INTEGER PRIMARY KEY REFERENCES splits(split_id) ON DELETE CASCADE,
        folder TEXT NOT NULL,                -- the predictions folder it was drawn from, resolved
        sha256 TEXT NOT NULL,                -- of its predictions.csv then
        model_version TEXT NOT NULL)""",
)


def now() -> str:
    """The current UTC time as ISO text (sortable)."""
    return datetime.now(timezone.utc).isoformat(timespec="microseconds")


def connect(path: Path) -> sqlite3.Connection:
    """Open `path` in autocommit mode (transactions are explicit), WAL, FKs on, busy timeout."""
    conn = sqlite3.connect(path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None)
    conn.row_factory = sqlite3.Row
    try:
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = FULL")
        conn.execute("PRAGMA foreign_keys = ON")
    except sqlite3.OperationalError as err:  # a sound file this process cannot write
        conn.close()
        raise InputError(path, f"cannot be opened for writing ({err})") from None
    except sqlite3.DatabaseError as err:
        conn.close()
        raise InputError(path, f"is not a medgen errors database ({err})") from None
    return conn
