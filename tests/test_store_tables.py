"""The tests' direct access to the store (tests/store_tables.py) on SQLite, from async tests.

The store's writer takes SQLite's write lock with ``BEGIN IMMEDIATE`` and keeps it while it
awaits on the event loop that also runs the test. A write from the test that blocked that loop
while waiting for the lock could never get it: the commit that frees it needs the loop.
"""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import aiosqlite
import pytest

from tests.store_tables import Tree


def wal_database(path: Path) -> Tree:
    with sqlite3.connect(path, isolation_level=None) as db:
        db.execute("PRAGMA journal_mode = WAL")
        db.execute("CREATE TABLE t (x TEXT)")
    db.close()
    return Tree(f"sqlite:///{path}")


@pytest.mark.gen_test(timeout=30)
async def test_a_write_waits_for_a_transaction_that_needs_the_loop_to_commit(
    tmp_path: Path,
) -> None:
    tree = wal_database(tmp_path / "store.db")
    writer = await aiosqlite.connect(tmp_path / "store.db", isolation_level=None)
    try:
        # As the store's writer does: the lock is taken, and the commit comes in a later turn
        # of this loop, here once the test's write has started (tasks start in order).
        await writer.execute("BEGIN IMMEDIATE")
        await writer.execute("INSERT INTO t VALUES ('server')")
        write = asyncio.ensure_future(tree.write("INSERT INTO t VALUES ('test') RETURNING x"))
        committing = asyncio.ensure_future(writer.execute("COMMIT"))
        assert await write == [("test",)]
        await committing
    finally:
        await writer.close()
    assert tree.rows("SELECT x FROM t ORDER BY rowid") == [("server",), ("test",)]


@pytest.mark.gen_test(timeout=30)
async def test_rows_refuses_a_write_from_a_running_loop_at_once(tmp_path: Path) -> None:
    tree = wal_database(tmp_path / "store.db")
    insert = "INSERT INTO t VALUES ('test')"
    with pytest.raises(RuntimeError) as refused:
        tree.rows(insert)
    assert str(refused.value) == (
        "Tree.rows only reads when called from a running event loop: "
        "use `await tree.write(...)` for \"INSERT INTO t VALUES ('test')\""
    )
    assert tree.rows("SELECT count(*) FROM t") == [(0,)]


def test_rows_writes_when_no_loop_runs(tmp_path: Path) -> None:
    tree = wal_database(tmp_path / "store.db")
    assert tree.rows("INSERT INTO t VALUES ('test') RETURNING x") == [("test",)]
    assert tree.rows("SELECT x FROM t") == [("test",)]
