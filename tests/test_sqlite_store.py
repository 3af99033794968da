"""The SQLite store: migrations recorded by name, WAL, foreign keys, every connection closed."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest

from lms_outcomes_plugin.models import ContextRef, NewImport
from lms_outcomes_plugin.storage import BatchWrite, GroupWrite, Lookup
from lms_outcomes_plugin.storage.migrate import load_migrations
from lms_outcomes_plugin.storage.sqlite import CHECKPOINT_EVERY, SqliteStore, sqlite_path
from tests.sqlite_busy import would_wait


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
async def test_foreign_keys_are_enforced_and_a_failed_batch_leaves_nothing(
    tmp_path: Path,
) -> None:
    store = SqliteStore(tmp_path / "store.db")
    await store.open()
    try:
        account = ContextRef("account", 1)
        root = await store.root_group(account, "District")
        assert await store.root_group(account, "ignored") == root
        attachment = await store.add_attachment("g.csv", "text/csv", 1, "key")
        await store.create_import(NewImport(account, 1, "instructure_csv", 1), attachment)
        claimed = await store.claim_next_import("r")
        assert claimed is not None
        group = GroupWrite(root + 1, account, "g1", "G", "", "active", parent_id=root)
        orphan = GroupWrite(root + 2, account, "g2", "G", "", "active", parent_id=root + 99)
        with pytest.raises(sqlite3.IntegrityError):
            async with store.batch(claimed.id, "r") as tx:  # no group root + 99: all fails
                await tx.apply(BatchWrite(import_id=claimed.id, runner="r", progress=0,
                                          groups=[group, orphan], errors=[(2, "x")]))
        async with store.batch(claimed.id, "r") as tx:
            existing = await tx.lookup(Lookup(group_keys={("account", 1, "g1")}))
        assert existing.groups_by_key == {}
    finally:
        await store.close()


@pytest.mark.gen_test(timeout=30)
async def test_commits_are_copied_into_the_database_file_in_the_background(
    tmp_path: Path,
) -> None:
    """The writer never checkpoints on its own below its backstop: without the background
    checkpointer, every commit would stay in the WAL until the store closes."""
    path = tmp_path / "store.db"
    store = SqliteStore(path)
    await store.open()
    try:
        header_only = path.stat().st_size  # the migrations are still in the WAL
        for number in range(CHECKPOINT_EVERY):
            await store.add_attachment(f"f{number}.csv", "text/csv", 1, f"key{number}")
        for _ in range(400):  # at most 20 s
            if path.stat().st_size > header_only:
                break
            await asyncio.sleep(0.05)
        assert path.stat().st_size > header_only
    finally:
        await store.close()


@pytest.mark.gen_test
async def test_status_reads_at_once_see_every_commit_and_wait_only_on_the_reader(
    tmp_path: Path,
) -> None:
    """A status read runs on the IOLoop (no thread hop) on a connection that never waits: it
    finds each commit as soon as it is made, and a read SQLite would make wait goes to the
    reader's thread instead of holding up the IOLoop."""
    path = tmp_path / "store.db"
    store = SqliteStore(path)
    await store.open()
    try:
        account = ContextRef("account", 1)
        attachment = await store.add_attachment("g.csv", "text/csv", 1, "key")
        created = await store.create_import(NewImport(account, 1, "instructure_csv", 1),
                                            attachment)
        assert (await store.get_import(account, created.id)).workflow_state == "created"  # type: ignore[union-attr]
        claimed = await store.claim_next_import("r")
        assert claimed is not None
        assert (await store.get_latest_import(account)).id == created.id  # type: ignore[union-attr]
        async with store.batch(claimed.id, "r") as tx:
            await tx.apply(BatchWrite(import_id=claimed.id, runner="r", progress=40,
                                      errors=[(2, "x")]))
        shown = await store.get_import(account, created.id)
        assert shown is not None
        assert (shown.workflow_state, shown.progress, shown.errors) == ("importing", 40,
                                                                         ((2, "x"),))

        store._at_once = would_wait(path)
        assert await store.get_import(account, created.id) == shown  # through the reader
    finally:
        await store.close()
