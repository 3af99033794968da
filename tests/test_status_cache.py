"""Statuses kept between changes (storage/shown.py): on PostgreSQL each host process answers a
polled status from what it last read, until PostgreSQL notifies it that the import's row
changed (migration 0015's trigger) or until a write transaction of its own ends; while it is
not listening, it reads every time. On SQLite, until any connection commits (``PRAGMA
data_version``).

The stores here are real PostgresStores on the session's server; "another process" is a second
store, or a plain connection that writes with the trigger off (``session_replication_role``) to
make a change nobody is told of.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from lms_outcomes_plugin.dbutil import AtOnceReader
from lms_outcomes_plugin.models import REVERT, ContextRef, NewImport, OutcomeImport
from lms_outcomes_plugin.storage.postgresql import PostgresStore
from lms_outcomes_plugin.storage.shown import LATEST, Key, ShownImports
from lms_outcomes_plugin.storage.sqlite import SqliteStore
from lms_outcomes_plugin.testing.store import ACCOUNT, queue
from tests.conftest import Api, World, until

#: The tests of PostgresStore and of the route on it (ShownImports' own need no database).
ON_POSTGRESQL = pytest.mark.parametrize("storage_backend", ["postgresql"], indirect=True)

OTHER = ContextRef("course", 5)


def shown(import_id: int, progress: int = 0) -> OutcomeImport:
    moment = datetime(2026, 1, 1, tzinfo=UTC)
    return OutcomeImport(import_id, "account", 1, 1, "instructure_csv", None, None,
                         "importing", progress, None, moment, moment)


def reader(
    reads: list[Key], key: Key, found: OutcomeImport | None
) -> Callable[[], Awaitable[OutcomeImport | None]]:
    """A read that notes ``key`` in ``reads`` and finds ``found``."""
    async def read() -> OutcomeImport | None:
        reads.append(key)
        return found
    return read


# ShownImports on its own --------------------------------------------------------------------


@pytest.mark.gen_test
async def test_a_read_under_way_when_its_import_changes_is_answered_but_not_kept() -> None:
    kept = ShownImports(10)
    kept.listening = True
    reads = 0
    release = asyncio.Event()

    async def read() -> OutcomeImport:
        nonlocal reads
        reads += 1
        await release.wait()
        return shown(1, progress=reads)

    pending = asyncio.ensure_future(kept.get(ACCOUNT, 1, read))
    await asyncio.sleep(0)
    kept.changed(ACCOUNT, 1)  # committed while the read was under way: it may predate it
    release.set()
    assert (await pending).progress == 1
    assert (await kept.get(ACCOUNT, 1, read)).progress == 2  # read again, and now kept
    assert (await kept.get(ACCOUNT, 1, read)).progress == 2
    assert reads == 2


@pytest.mark.gen_test
async def test_nothing_is_kept_unless_listening_and_the_first_kept_goes_first() -> None:
    kept = ShownImports(2)
    reads: list[Key] = []

    async def get(import_id: int) -> None:
        found = None if import_id == 99 else shown(import_id)
        await kept.get(ACCOUNT, import_id, reader(reads, (ACCOUNT, import_id), found))

    await get(1)
    await get(1)
    assert [key for _, key in reads] == [1, 1]  # not listening: every get reads
    kept.listening = True
    for import_id in (1, 1, 2, 99, 99, 3, 2, 1):
        await get(import_id)
    # 1 kept, 2 kept, 99 not found (never kept), 3 pushes 1 out; 2 still kept; 1 read again.
    assert [key for _, key in reads] == [1, 1, 1, 2, 99, 99, 3, 1]


@pytest.mark.gen_test
async def test_a_change_forgets_its_import_and_its_contexts_latest_only() -> None:
    kept = ShownImports(10)
    kept.listening = True
    reads: list[Key] = []

    async def fill(context: ContextRef, key: int | str) -> None:
        found = shown(key if isinstance(key, int) else 0)
        await kept.get(context, key, reader(reads, (context, key), found))

    everything = [(ACCOUNT, 1), (ACCOUNT, 2), (ACCOUNT, LATEST), (OTHER, 1), (OTHER, LATEST)]
    for context, key in everything:
        await fill(context, key)
    kept.changed(ACCOUNT, 1)
    reads.clear()
    for context, key in everything:
        await fill(context, key)
    assert reads == [(ACCOUNT, 1), (ACCOUNT, LATEST)]
    kept.forget_all()
    reads.clear()
    for context, key in everything:
        await fill(context, key)
    assert reads == everything


# PostgresStore -------------------------------------------------------------------------------


@asynccontextmanager
async def opened(url: str) -> AsyncIterator[PostgresStore]:
    store = PostgresStore(url)
    await store.open()
    try:
        await until(lambda: store._shown.listening)
        yield store
    finally:
        await store.close()


async def queued_elsewhere(url: str) -> OutcomeImport:
    """An import queued by another process, before the store under test listens (so that the
    notification of its creation, which would arrive whenever it does, never reaches it)."""
    store = PostgresStore(url, status_cache=0)
    await store.open()
    try:
        return await queue(store)
    finally:
        await store.close()


async def eventually(check: Callable[[], Awaitable[bool]], seconds: float = 10.0) -> None:
    """Notifications arrive when they arrive: wait for what they must bring."""
    deadline = asyncio.get_running_loop().time() + seconds
    while not await check():
        assert asyncio.get_running_loop().time() < deadline, f"not within {seconds}s"
        await asyncio.sleep(0.01)


@asynccontextmanager
async def untold_writes(url: str) -> AsyncIterator[Callable[[int, int], Awaitable[None]]]:
    """Sets an import's progress without firing a trigger: PostgreSQL tells no process."""
    db = await asyncpg.connect(url)
    try:
        await db.execute("SET session_replication_role = replica")

        async def set_progress(import_id: int, progress: int) -> None:
            await db.execute("UPDATE lms_outcomes_imports SET progress = $1 WHERE id = $2",
                             progress, import_id)

        yield set_progress
    finally:
        await db.close()


async def db_notify(url: str, payload: str) -> None:
    db = await asyncpg.connect(url)
    try:
        await db.execute("SELECT pg_notify('lms_outcomes_imports', $1)", payload)
    finally:
        await db.close()


async def progress_of(store: PostgresStore, import_id: int) -> int:
    found = await store.get_import(ACCOUNT, import_id)
    assert found is not None
    return found.progress


async def is_cancelled(store: PostgresStore, import_id: int) -> bool:
    return await state_of(store, import_id) == "cancelled"


async def shows_progress(store: PostgresStore, import_id: int, progress: int) -> bool:
    return await progress_of(store, import_id) == progress


@pytest.mark.gen_test(timeout=60)
@ON_POSTGRESQL
async def test_a_status_is_kept_until_postgresql_tells_of_a_change(
    storage_backend: str, storage_url: str
) -> None:
    created = await queued_elsewhere(storage_url)
    async with (opened(storage_url) as store, opened(storage_url) as other,
                untold_writes(storage_url) as set_progress_untold):
        assert await progress_of(store, created.id) == 0
        await set_progress_untold(created.id, 42)
        assert await progress_of(store, created.id) == 0  # kept: nobody said it changed
        assert await progress_of(other, created.id) == 42  # read by a process that had not
        await db_notify(storage_url, f"{created.id} account 1")
        await eventually(lambda: shows_progress(store, created.id, 42))
        # A notification it cannot read (not the trigger's) forgets everything.
        await set_progress_untold(created.id, 43)
        await db_notify(storage_url, "garbled")
        await eventually(lambda: shows_progress(store, created.id, 43))
        # A change made by another process's store: its trigger tells every process.
        await other.cancel_import(ACCOUNT, created.id)
        await eventually(lambda: is_cancelled(store, created.id))


@pytest.mark.gen_test(timeout=60)
@ON_POSTGRESQL
async def test_a_process_shows_its_own_writes_at_once(
    storage_backend: str, storage_url: str
) -> None:
    async with opened(storage_url) as store:
        db = await asyncpg.connect(storage_url)
        try:  # no notification at all: only the process's own bookkeeping can show them
            await db.execute("ALTER TABLE lms_outcomes_imports "
                             "DISABLE TRIGGER lms_outcomes_import_changed")
        finally:
            await db.close()
        first = await queue(store)
        assert await store.get_latest_import(ACCOUNT) is None  # latest: the last claimed
        await store.claim_next_import("runner-1")
        assert await latest(store) == (first.id, False)
        assert await state_of(store, first.id) == "importing"
        await store.cancel_import(ACCOUNT, first.id)  # running: asked to stop
        assert await latest(store) == (first.id, True)
        second = await queue(store)
        await store.cancel_import(ACCOUNT, second.id)  # queued: ends at once
        assert await state_of(store, second.id) == "cancelled"


async def latest(store: PostgresStore) -> tuple[int, bool]:
    """The latest import's id, and whether it was asked to cancel."""
    found = await store.get_latest_import(ACCOUNT)
    assert found is not None
    return found.id, found.cancel_requested


async def state_of(store: PostgresStore, import_id: int) -> str:
    found = await store.get_import(ACCOUNT, import_id)
    assert found is not None
    return found.workflow_state


@pytest.mark.gen_test(timeout=60)
@ON_POSTGRESQL
async def test_statuses_are_read_each_time_while_nothing_listens(
    storage_backend: str, storage_url: str
) -> None:
    created = await queued_elsewhere(storage_url)
    server, name = storage_url.rsplit("/", 1)
    async with opened(storage_url) as store, untold_writes(storage_url) as set_progress_untold:
        assert await progress_of(store, created.id) == 0
        await set_progress_untold(created.id, 10)
        assert await progress_of(store, created.id) == 0
        admin = await asyncpg.connect(f"{server}/postgres")
        try:  # the listening connection is lost, and cannot come back for now
            await admin.execute(f"ALTER DATABASE {name} WITH ALLOW_CONNECTIONS false")
            terminated = await admin.fetchval(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE application_name = 'lms-outcomes-listen' AND datname = $1", name
            )
            assert terminated == 1
            # What changed before is read, however it was kept; and so is every change since.
            await eventually(lambda: shows_progress(store, created.id, 10))
            await set_progress_untold(created.id, 15)
            assert await progress_of(store, created.id) == 15
        finally:
            await admin.execute(f"ALTER DATABASE {name} WITH ALLOW_CONNECTIONS true")
            await admin.close()
        # Once it listens again, statuses are kept again.
        await until(lambda: store._shown.listening)
        assert await progress_of(store, created.id) == 15
        await set_progress_untold(created.id, 20)
        assert await progress_of(store, created.id) == 15


# over HTTP ------------------------------------------------------------------------------------


@pytest.mark.gen_test(timeout=60)
@ON_POSTGRESQL
async def test_the_status_route_shows_what_another_process_changed(
    storage_backend: str, storage_url: str, api: Api, world: World
) -> None:
    base = f"/api/v1/accounts/{world.account_id}/outcome_imports"
    posted = await api.post_csv(base, b"vendor_guid,object_type,title,parent_guids\n"
                                      b"g1,group,Group 1,\n")
    assert posted.status == 200, posted.body
    path = f"{base}/{posted.body['id']}"
    ended = await api.wait_for_import(path)
    assert ended.body["workflow_state"] == "succeeded"
    assert (await api.get(path)).body["reverted_by"] is None
    async with opened(storage_url) as other:  # another host process
        revert = await other.queue_revert(
            NewImport(ContextRef("account", world.account_id), world.account_id, REVERT,
                      user_id=world.admin_id),
            posted.body["id"],
        )

    async def reverted() -> bool:
        return bool((await api.get(path)).body["reverted_by"] == revert.id)

    await eventually(reverted)
    await api.wait_for_import(f"{base}/{revert.id}")


# SqliteStore: kept while no connection has committed (PRAGMA data_version) -------------------


class CountingReader(AtOnceReader):
    """The store's read at once, noting each query it is asked."""

    def __init__(self, path: Path) -> None:
        super().__init__(sqlite3.connect(path, isolation_level=None, check_same_thread=False))
        self.queries: list[str] = []

    def read(self, query: str, params: Any = ()) -> list[Any] | None:
        self.queries.append(" ".join(query.split()[:2]))
        return super().read(query, params)


@pytest.mark.gen_test
async def test_on_sqlite_a_status_is_kept_until_any_connection_commits(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "store.db")
    await store.open()
    try:
        queued = await queue(store)
        store._at_once = counting = CountingReader(store.path)
        first = await store.get_import(ACCOUNT, queued.id)
        assert first is not None
        assert first == await store.get_import(ACCOUNT, queued.id)
        # Each poll asks SQLite whether anything was committed; the import is read once.
        assert counting.queries == ["PRAGMA data_version", "WITH found", "PRAGMA data_version"]
        # Another process's commit (a plain connection) shows at the next poll, as does one of
        # this store's own.
        with sqlite3.connect(store.path) as other:
            other.execute("UPDATE lms_outcomes_imports SET progress = 42 WHERE id = ?",
                          (queued.id,))
        other.close()
        assert (await store.get_import(ACCOUNT, queued.id)).progress == 42  # type: ignore[union-attr]
        await store.cancel_import(ACCOUNT, queued.id)
        assert (await store.get_import(ACCOUNT, queued.id)).workflow_state == "cancelled"  # type: ignore[union-attr]
    finally:
        await store.close()
