"""A link names a group and an outcome that exist, and a group's parent exists, on both
backends: SQLite by its foreign keys, PostgreSQL by a check per statement (migrations 0016 and
0018; its foreign keys locked each new row's group, outcome or parent one at a time, most of
the time an import spent writing its links and groups). A batch that would break the rule fails
whole, and so does a delete of a row a link or a group still names."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable

import asyncpg
import pytest

from lms_outcomes_plugin.storage import BatchWrite, GroupWrite, LinkWrite, OutcomeWrite, Store
from lms_outcomes_plugin.storage.postgresql import PostgresStore
from lms_outcomes_plugin.storage.sqlite import SqliteStore
from lms_outcomes_plugin.testing.store import ACCOUNT, FIELDS, running
from tests.store_tables import Tree

MISSING = 10_000_000
#: What each backend raises when a link would name a row that is not there.
BROKEN = (sqlite3.IntegrityError, asyncpg.ForeignKeyViolationError)


def open_store(storage_url: str) -> Store:
    if storage_url.startswith("sqlite:"):
        return SqliteStore.from_url(storage_url, {})
    return PostgresStore.from_url(storage_url, {})


async def batch_fails(
    store: Store, import_id: int, build: Callable[[list[int], list[int]], BatchWrite]
) -> str:
    """Applies one batch (``build`` given a reserved group and outcome id) that must fail;
    returns the error's message."""
    with pytest.raises(BROKEN) as failed:
        async with store.batch(import_id, "runner-1") as tx:
            await tx.apply(build(*await tx.reserve_ids(1, 1)))
    return str(failed.value)


async def group_with_link(store: Store, outcomes: int = 1) -> tuple[int, int, int, list[int]]:
    """A running import that made a group below the root and ``outcomes`` outcomes, the first
    linked into the group: root group, import, group and outcome ids."""
    root = await store.root_group(ACCOUNT, "Account 1")
    claimed = await running(store)
    async with store.batch(claimed.id, "runner-1") as tx:
        [group], made = await tx.reserve_ids(1, outcomes)
        await tx.apply(BatchWrite(
            claimed.id, "runner-1", 5,
            groups=[GroupWrite(group, ACCOUNT, "g", "G", "", "active", root)],
            outcomes=[OutcomeWrite(o, ACCOUNT, f"o{o}", FIELDS) for o in made],
            links=[LinkWrite(group, made[0], ACCOUNT)],
        ))
    return root, claimed.id, group, made


async def stored_group_with_link(
    storage_url: str, outcomes: int = 1
) -> tuple[int, int, int, list[int]]:
    """:func:`group_with_link` through a store opened and closed for it (the test then works
    on the database directly)."""
    store = open_store(storage_url)
    await store.open()
    try:
        return await group_with_link(store, outcomes)
    finally:
        await store.close()


@pytest.mark.gen_test(timeout=60)
async def test_a_link_must_name_a_group_and_an_outcome_that_exist(
    storage_backend: str, storage_url: str, tree: Tree
) -> None:
    store = open_store(storage_url)
    await store.open()
    try:
        root, claimed, _, [outcome] = await group_with_link(store)
        before = tree.snapshot()
        # Into an existing group (INSERT ... ON CONFLICT on PostgreSQL), to a missing outcome.
        message = await batch_fails(store, claimed, lambda _g, _o: BatchWrite(
            claimed, "runner-1", 10,
            links=[LinkWrite(root, outcome, ACCOUNT), LinkWrite(root, MISSING, ACCOUNT)],
        ))
        # Into a group the batch creates (COPY on PostgreSQL), to a missing outcome; and from
        # an outcome the batch creates into a missing group.
        copied = await batch_fails(store, claimed, lambda g, _o: BatchWrite(
            claimed, "runner-1", 10,
            groups=[GroupWrite(g[0], ACCOUNT, "f", "F", "", "active", root)],
            links=[LinkWrite(g[0], outcome, ACCOUNT), LinkWrite(g[0], MISSING, ACCOUNT)],
        ))
        to_missing_group = await batch_fails(store, claimed, lambda _g, o: BatchWrite(
            claimed, "runner-1", 10,
            outcomes=[OutcomeWrite(o[0], ACCOUNT, "n", FIELDS)],
            links=[LinkWrite(MISSING, o[0], ACCOUNT)],
        ))
        assert tree.snapshot() == before  # each failed batch left nothing behind
        if storage_backend == "postgresql":
            assert message.startswith("link ")
            assert message.endswith(f"names outcome {MISSING}, which does not exist")
            assert copied.endswith(f"names outcome {MISSING}, which does not exist")
            assert to_missing_group.endswith(f"names group {MISSING}, which does not exist")
    finally:
        await store.close()


@pytest.mark.gen_test(timeout=60)
async def test_a_group_must_be_under_a_group_that_exists(
    storage_backend: str, storage_url: str, tree: Tree
) -> None:
    store = open_store(storage_url)
    await store.open()
    try:
        root, claimed, group, _ = await group_with_link(store)
        before = tree.snapshot()
        # A new group (inserted from arrays on PostgreSQL) under a missing one, beside one
        # under the root.
        created = await batch_fails(store, claimed, lambda g, _o: BatchWrite(
            claimed, "runner-1", 10,
            groups=[GroupWrite(g[0], ACCOUNT, "h", "H", "", "active", root),
                    GroupWrite(MISSING + 1, ACCOUNT, "i", "I", "", "active", MISSING)],
        ))
        # An existing group moved under a missing one.
        moved = await batch_fails(store, claimed, lambda _g, _o: BatchWrite(
            claimed, "runner-1", 10,
            groups=[GroupWrite(group, ACCOUNT, "g", "G", "", "active", MISSING, new=False)],
        ))
        assert tree.snapshot() == before
        if storage_backend == "postgresql":
            assert created == (
                f"group {MISSING + 1} names parent group {MISSING}, which does not exist"
            )
            assert moved == f"group {group} names parent group {MISSING}, which does not exist"
    finally:
        await store.close()


@pytest.mark.gen_test(timeout=60)
@pytest.mark.parametrize("storage_backend", ["postgresql"], indirect=True)
async def test_a_group_with_groups_under_it_cannot_be_deleted(
    storage_backend: str, storage_url: str
) -> None:
    root, _, group, _ = await stored_group_with_link(storage_url)
    db = await asyncpg.connect(storage_url)
    try:
        with pytest.raises(asyncpg.ForeignKeyViolationError) as failed:
            await db.execute("DELETE FROM lms_outcomes_groups WHERE id = $1", root)
        assert str(failed.value) == f"group {root} is deleted, but group {group} is still under it"
        # A group deleted with every group under it, in one statement, leaves none behind.
        await db.execute("DELETE FROM lms_outcomes_links")
        assert await db.execute(
            "DELETE FROM lms_outcomes_groups WHERE id = ANY($1::BIGINT[])", [root, group]
        ) == "DELETE 2"
    finally:
        await db.close()


@pytest.mark.gen_test(timeout=60)
@pytest.mark.parametrize("storage_backend", ["postgresql"], indirect=True)
async def test_a_group_or_an_outcome_a_link_names_cannot_be_deleted(
    storage_backend: str, storage_url: str
) -> None:
    _, _, group, [outcome, loose] = await stored_group_with_link(storage_url, outcomes=2)
    db = await asyncpg.connect(storage_url)
    try:
        link = await db.fetchval("SELECT id FROM lms_outcomes_links WHERE outcome_id = $1", outcome)
        for table, row, what in (("groups", group, "group"), ("outcomes", outcome, "outcome")):
            with pytest.raises(asyncpg.ForeignKeyViolationError) as failed:
                await db.execute(f"DELETE FROM lms_outcomes_{table} WHERE id = $1", row)
            assert str(failed.value) == f"{what} {row} is deleted, but link {link} still names it"
        assert await db.execute("DELETE FROM lms_outcomes_outcomes WHERE id = $1", loose) == (
            "DELETE 1"
        )
        await db.execute("DELETE FROM lms_outcomes_links WHERE id = $1", link)
        assert await db.execute("DELETE FROM lms_outcomes_outcomes WHERE id = $1", outcome) == (
            "DELETE 1"
        )
    finally:
        await db.close()
