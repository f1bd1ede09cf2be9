"""The project's error-analysis state in one SQLite file: splits, tags, categories, evaluations.

`PROJECT/errors.sqlite`, shared by the CLI, the web app and the remedy loop, possibly at the
same time. WAL mode lets readers run while one writer writes; every write is one
`BEGIN IMMEDIATE` transaction (the write lock is taken up front, so two writers queue on
`busy_timeout` instead of deadlocking on a lock upgrade); an exception inside a transaction rolls
it back whole; `synchronous=FULL` makes a committed transaction survive a power cut. The tables
are in `schema`.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from types import TracebackType

import numpy as np

from medgen.errors.records import (
    BUILTIN_CATEGORIES,
    PARTS,
    Category,
    EvaluationRecord,
    Pin,
    StoredSplit,
    Tag,
    check_category_name,
)
from medgen.errors.schema import SCHEMA, connect, now
from medgen.exceptions import InputError

DB_NAME = "errors.sqlite"
SCHEMA_VERSION = 1


class ErrorStore:
    """A context-managed connection to `PROJECT/errors.sqlite`; every write is one transaction."""

    def __init__(self, project: str | Path, *, create: bool = True) -> None:
        project = Path(project)
        self.path = project / DB_NAME
        if not self.path.exists():
            if not create:
                raise InputError(self.path, "no such file (run `medgen errors split` first)")
            project.mkdir(parents=True, exist_ok=True)
        self._conn = connect(self.path)
        self._depth = 0
        try:
            self._migrate()
        except BaseException:
            self._conn.close()
            raise

    def __enter__(self) -> ErrorStore:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Close the connection (an open transaction is rolled back by SQLite)."""
        self._conn.close()

    @contextlib.contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """`BEGIN IMMEDIATE` ... `COMMIT`, or `ROLLBACK` on any exception; nested calls join."""
        if self._depth:
            self._depth += 1
            try:
                yield self._conn
            finally:
                self._depth -= 1
            return
        self._conn.execute("BEGIN IMMEDIATE")
        self._depth = 1
        try:
            yield self._conn
        except BaseException:
            self._conn.execute("ROLLBACK")
            raise
        else:
            self._conn.execute("COMMIT")
        finally:
            self._depth = 0

    def _migrate(self) -> None:
        """Create the schema (version 1) if missing; refuse a database from a newer medgen."""
        try:
            with self.transaction() as conn:
                for statement in SCHEMA:
                    conn.execute(statement)
                found = conn.execute("SELECT MAX(version) FROM schema_version").fetchone()[0]
                if found is None:
                    conn.execute(
                        "INSERT INTO schema_version VALUES (?, ?)", (SCHEMA_VERSION, now())
                    )
                elif found > SCHEMA_VERSION:
                    raise InputError(
                        self.path,
                        f"schema version {found} is newer than this medgen's ({SCHEMA_VERSION})",
                    )
                self._upsert_categories(
                    conn, [(n, d, "tag") for n, d in BUILTIN_CATEGORIES.items()], replace=False
                )
        except sqlite3.DatabaseError as err:
            raise InputError(self.path, f"is not a medgen errors database ({err})") from None

    # ---- model versions -------------------------------------------------------------------

    def add_model_version(self, model_version: str) -> None:
        """Record a model version (idempotent)."""
        with self.transaction() as conn:
            conn.execute(
                "INSERT OR IGNORE INTO model_versions VALUES (?, ?)", (model_version, now())
            )

    def model_versions(self) -> list[str]:
        """All recorded model versions, oldest first."""
        rows = self._conn.execute("SELECT model_version FROM model_versions ORDER BY first_seen")
        return [r[0] for r in rows]

    # ---- splits -----------------------------------------------------------------------------

    def add_split(
        self,
        content_hash: str,
        split_name: str,
        members: Mapping[str, np.ndarray],
        *,
        seed: int,
        target_errors: int,
        error_rate: float,
        model_version: str | None,
        reason: str,
    ) -> StoredSplit:
        """Store a new generation (previous + 1) of the split of `content_hash`/`split_name`."""
        with self.transaction() as conn:
            previous = self.current_split(content_hash, split_name)
            generation = 0 if previous is None else previous.generation + 1
            if model_version is not None:
                self.add_model_version(model_version)
            cur = conn.execute(
                "INSERT INTO splits (content_hash, split_name, generation, created_at, seed,"
                " target_errors, error_rate, model_version, reason)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    content_hash,
                    split_name,
                    generation,
                    now(),
                    seed,
                    target_errors,
                    error_rate,
                    model_version,
                    reason,
                ),
            )
            split_id = cur.lastrowid
            conn.executemany(
                "INSERT INTO split_members VALUES (?, ?, ?)",
                (
                    (split_id, int(i), part)
                    for part in PARTS
                    for i in np.asarray(members.get(part, ()), dtype=np.int64)
                ),
            )
            stored = self.current_split(content_hash, split_name)
        assert stored is not None and stored.split_id == split_id
        return stored

    def current_split(self, content_hash: str, split_name: str) -> StoredSplit | None:
        """The latest generation of the split of this dataset split, or None."""
        row = self._conn.execute(
            "SELECT * FROM splits WHERE content_hash = ? AND split_name = ?"
            " ORDER BY generation DESC LIMIT 1",
            (content_hash, split_name),
        ).fetchone()
        return None if row is None else self._split_from_row(row)

    def latest_split(self) -> StoredSplit | None:
        """The most recently made split of any dataset in the project, or None."""
        row = self._conn.execute("SELECT * FROM splits ORDER BY split_id DESC LIMIT 1").fetchone()
        return None if row is None else self._split_from_row(row)

    def _split_from_row(self, row: sqlite3.Row) -> StoredSplit:
        members = self._conn.execute(
            "SELECT example_id, part FROM split_members WHERE split_id = ? ORDER BY example_id",
            (row["split_id"],),
        ).fetchall()
        by_part = {
            part: np.array([m[0] for m in members if m[1] == part], dtype=np.int64)
            for part in PARTS
        }
        return StoredSplit(
            split_id=int(row["split_id"]),
            content_hash=str(row["content_hash"]),
            split_name=str(row["split_name"]),
            generation=int(row["generation"]),
            created_at=str(row["created_at"]),
            seed=int(row["seed"]),
            target_errors=int(row["target_errors"]),
            error_rate=float(row["error_rate"]),
            model_version=row["model_version"],
            reason=str(row["reason"]),
            eyeball=by_part["eyeball"],
            blackbox=by_part["blackbox"],
            retired=by_part["retired"],
        )

    def pin_predictions(self, split_id: int, folder: str, sha256: str, model_version: str) -> None:
        """Record the predictions split `split_id` was drawn from (see `Pin`)."""
        with self.transaction() as conn:
            conn.execute(
                "INSERT OR REPLACE INTO split_predictions VALUES (?, ?, ?, ?)",
                (split_id, folder, sha256, model_version),
            )

    def pins(self, *, split_id: int | None = None, folder: str | None = None) -> list[Pin]:
        """The pins of split `split_id`, or of splits drawn from `folder`, newest first."""
        rows = self._conn.execute(
            "SELECT p.split_id, s.content_hash, s.split_name, p.folder, p.sha256, p.model_version"
            " FROM split_predictions p JOIN splits s USING (split_id)"
            " WHERE p.split_id = ? OR p.folder = ? ORDER BY p.split_id DESC",
            (split_id, folder),
        )
        return [Pin(*r) for r in rows]

    # ---- categories and tags ----------------------------------------------------------------

    @staticmethod
    def _upsert_categories(
        conn: sqlite3.Connection, items: Iterable[tuple[str, str, str]], *, replace: bool
    ) -> None:
        verb = "INSERT OR REPLACE" if replace else "INSERT OR IGNORE"
        conn.executemany(
            f"{verb} INTO categories (name, description, source, created_at) VALUES (?, ?, ?, ?)",
            ((name, description, source, now()) for name, description, source in items),
        )

    def upsert_categories(self, items: Iterable[tuple[str, str, str]]) -> None:
        """Record (name, description, source) categories, replacing descriptions of known ones."""
        with self.transaction() as conn:
            self._upsert_categories(conn, items, replace=True)

    def categories(self) -> list[Category]:
        """All known categories, by name."""
        rows = self._conn.execute("SELECT name, description, source FROM categories ORDER BY name")
        return [Category(*r) for r in rows]

    def add_tag(
        self,
        content_hash: str,
        example_id: int,
        category: str,
        author: str,
        description: str = "",
    ) -> bool:
        """Tag one example with `category` (created as a tag category if new); False if present."""
        check_category_name(category)
        with self.transaction() as conn:
            # a new name becomes a tag category; metadata ones hold "=", which tags cannot
            self._upsert_categories(conn, [(category, description, "tag")], replace=False)
            cur = conn.execute(
                "INSERT OR IGNORE INTO tags VALUES (?, ?, ?, ?, ?)",
                (content_hash, int(example_id), category, author, now()),
            )
            return cur.rowcount == 1

    def remove_tag(self, content_hash: str, example_id: int, category: str) -> bool:
        """Remove one tag; False if it was not there."""
        with self.transaction() as conn:
            cur = conn.execute(
                "DELETE FROM tags WHERE content_hash = ? AND example_id = ? AND category = ?",
                (content_hash, int(example_id), category),
            )
            return cur.rowcount == 1

    def tags(self, content_hash: str) -> list[Tag]:
        """Every tag on examples of the dataset `content_hash`."""
        rows = self._conn.execute(
            "SELECT example_id, category, author, created_at FROM tags WHERE content_hash = ?"
            " ORDER BY example_id, category",
            (content_hash,),
        )
        return [Tag(*r) for r in rows]

    # ---- evaluations ------------------------------------------------------------------------

    def add_evaluation(
        self,
        model_version: str,
        split: StoredSplit,
        *,
        eyeball_error: float,
        blackbox_error: float,
        n_eyeball: int,
        n_blackbox: int,
        predictions_path: str,
    ) -> EvaluationRecord:
        """Record one evaluation of `model_version` on `split` (MLY ch. 18: watch both errors)."""
        with self.transaction() as conn:
            self.add_model_version(model_version)
            cur = conn.execute(
                "INSERT INTO evaluations (model_version, split_id, created_at, eyeball_error,"
                " blackbox_error, n_eyeball, n_blackbox, predictions_path)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    model_version,
                    split.split_id,
                    now(),
                    eyeball_error,
                    blackbox_error,
                    n_eyeball,
                    n_blackbox,
                    predictions_path,
                ),
            )
            evaluation_id = cur.lastrowid
        return next(e for e in self.evaluations() if e.evaluation_id == evaluation_id)

    def evaluations(self, split_id: int | None = None) -> list[EvaluationRecord]:
        """Recorded evaluations, oldest first; only those on `split_id` if given."""
        query = (
            "SELECT e.evaluation_id, e.model_version, e.split_id, s.generation, e.created_at,"
            " e.eyeball_error, e.blackbox_error, e.n_eyeball, e.n_blackbox, e.predictions_path"
            " FROM evaluations e JOIN splits s USING (split_id)"
        )
        args: tuple[int, ...] = ()
        if split_id is not None:
            query += " WHERE e.split_id = ?"
            args = (split_id,)
        rows = self._conn.execute(query + " ORDER BY e.evaluation_id", args)
        return [EvaluationRecord(*r) for r in rows]
