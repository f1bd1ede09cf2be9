"""The SQLite store: schema, transactions, concurrent writers, crashed writers."""

from __future__ import annotations

import multiprocessing
import sqlite3
from pathlib import Path

import numpy as np
import pytest
from errors_support import HASH, add_tags, die_mid_transaction

from medgen.errors.store import DB_NAME, SCHEMA_VERSION, ErrorStore
from medgen.exceptions import InputError


def test_a_new_store_has_the_schema_wal_and_the_builtin_category(tmp_path: Path) -> None:
    with ErrorStore(tmp_path / "proj") as store:
        assert [c.name for c in store.categories()] == ["mislabeled"]
    conn = sqlite3.connect(tmp_path / "proj" / DB_NAME)
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert {"schema_version", "splits", "split_members", "tags", "categories"} <= tables
    assert {"evaluations", "model_versions"} <= tables
    assert conn.execute("SELECT version FROM schema_version").fetchall() == [(SCHEMA_VERSION,)]
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_tags_are_idempotent_and_removable(tmp_path: Path) -> None:
    with ErrorStore(tmp_path) as store:
        assert store.add_tag(HASH, 7, "blurry", "ann") is True
        assert store.add_tag(HASH, 7, "blurry", "bob") is False
        assert [(t.example_id, t.category, t.author) for t in store.tags(HASH)] == [
            (7, "blurry", "ann")
        ]
        assert store.remove_tag(HASH, 7, "blurry") is True
        assert store.remove_tag(HASH, 7, "blurry") is False
        assert store.tags("another-dataset") == []
        with pytest.raises(InputError, match="tag category name"):
            store.add_tag(HASH, 7, "Bad Name", "ann")


def test_an_exception_inside_a_transaction_leaves_nothing(tmp_path: Path) -> None:
    with ErrorStore(tmp_path) as store:
        with pytest.raises(RuntimeError), store.transaction():
            store.add_tag(HASH, 1, "blurry", "ann")
            store.add_split(
                HASH,
                "dev",
                {"eyeball": np.array([1]), "blackbox": np.array([2])},
                seed=0,
                target_errors=100,
                error_rate=0.2,
                model_version="v1",
                reason="initial",
            )
            raise RuntimeError("crash")
        assert store.tags(HASH) == []
        assert store.current_split(HASH, "dev") is None
        assert store.model_versions() == []
        assert "blurry" not in [c.name for c in store.categories()]


def test_concurrent_writers_lose_no_tag(tmp_path: Path) -> None:
    ctx = multiprocessing.get_context("spawn")
    workers, per_worker = 4, 40
    procs = [
        ctx.Process(target=add_tags, args=(str(tmp_path / "new"), w, per_worker))
        for w in range(workers)
    ]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=120)
    assert [p.exitcode for p in procs] == [0] * workers
    with ErrorStore(tmp_path / "new") as store:  # the workers raced to create it, too
        tags = store.tags(HASH)
    assert sorted(t.example_id for t in tags) == list(range(workers * per_worker))


def test_a_writer_killed_mid_transaction_leaves_nothing_and_no_lock(tmp_path: Path) -> None:
    ErrorStore(tmp_path).close()
    proc = multiprocessing.get_context("spawn").Process(
        target=die_mid_transaction, args=(str(tmp_path),)
    )
    proc.start()
    proc.join(timeout=60)
    assert proc.exitcode == 3
    with ErrorStore(tmp_path) as store:
        assert store.tags(HASH) == []
        assert store.add_tag(HASH, 2, "after", "ann")  # the lock died with the process


def test_a_database_from_a_newer_medgen_is_refused(tmp_path: Path) -> None:
    ErrorStore(tmp_path).close()
    with sqlite3.connect(tmp_path / DB_NAME) as conn:
        conn.execute("INSERT INTO schema_version VALUES (?, 'later')", (SCHEMA_VERSION + 1,))
    with pytest.raises(InputError, match="newer than this medgen"):
        ErrorStore(tmp_path)


def test_a_file_that_is_not_sqlite_is_one_input_error(tmp_path: Path) -> None:
    (tmp_path / DB_NAME).write_text("not a database at all, " * 100)
    with pytest.raises(InputError, match="not a medgen errors database"):
        ErrorStore(tmp_path)


def test_reading_a_missing_store_is_refused_without_creating_it(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="medgen errors split"):
        ErrorStore(tmp_path / "nowhere", create=False)
    assert not (tmp_path / "nowhere").exists()
