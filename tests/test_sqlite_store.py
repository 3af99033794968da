"""The SQLite store: migrations recorded by name, WAL, foreign keys, every connection closed."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from lms_outcomes_plugin.storage.migrate import load_migrations
from lms_outcomes_plugin.storage.sqlite import SqliteStore, sqlite_path


def test_storage_urls() -> None:
    assert sqlite_path("sqlite:///relative/lms.db") == Path("relative/lms.db")
    assert sqlite_path("sqlite:////abs/lms.db") == Path("/abs/lms.db")
    with pytest.raises(ValueError, match="names no database file"):
        sqlite_path("sqlite://")


@pytest.mark.gen_test
async def test_migrations_are_named_ordered_and_applied_once(tmp_path: Path) -> None:
    path = tmp_path / "store.db"
    for _ in range(2):  # the second open finds nothing to do
        store = SqliteStore(path)
        await store.open()
        await store.close()

    with sqlite3.connect(path) as db:
        applied = [row[0] for row in db.execute("SELECT name FROM lms_outcomes_migrations")]
        journal = db.execute("PRAGMA journal_mode").fetchone()[0]
    db.close()
    assert applied == [m.name for m in load_migrations("sqlite")]
    assert applied[0] == "0001_initial"
    assert journal == "wal"


@pytest.mark.gen_test
async def test_foreign_keys_are_enforced(tmp_path: Path) -> None:
    from lms_outcomes_plugin.models import ContextRef
    from lms_outcomes_plugin.storage import BatchWrite, LinkWrite

    store = SqliteStore(tmp_path / "store.db")
    await store.open()
    try:
        batch = BatchWrite(import_id=12345, progress=0, errors=[(2, "x")])
        with pytest.raises(sqlite3.IntegrityError):
            await store.apply_batch(batch)
        root = await store.root_group(ContextRef("account", 1), "District")
        assert await store.root_group(ContextRef("account", 1), "ignored") == root
        with pytest.raises(sqlite3.IntegrityError):
            await store.apply_batch(
                BatchWrite(
                    import_id=12345,
                    progress=0,
                    links=[LinkWrite(root, "no-such-outcome", ContextRef("account", 1))],
                )
            )
    finally:
        await store.close()
