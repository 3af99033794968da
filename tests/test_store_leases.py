"""Leases at the store level, on both backends: an import whose runner died is started again,
and one whose runners keep dying ends ``failed`` with a message that says why."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest

from lms_outcomes_plugin.models import ContextRef, NewImport
from lms_outcomes_plugin.storage import Store
from lms_outcomes_plugin.storage.postgresql import PostgresStore
from lms_outcomes_plugin.storage.sql import MAX_TAKEOVERS, TAKEN_OVER_TOO_OFTEN
from lms_outcomes_plugin.storage.sqlite import SqliteStore

ACCOUNT = ContextRef("account", 1)


@asynccontextmanager
async def opened(url: str) -> AsyncIterator[Store]:
    """The store at ``url``, open (migrated) for the block."""
    store: Store = (
        SqliteStore.from_url(url, {}) if url.startswith("sqlite:")
        else PostgresStore.from_url(url, {})
    )
    await store.open()
    try:
        yield store
    finally:
        await store.close()


async def queue_one(store: Store) -> int:
    writer = store.attachment_writer()
    await writer.write(b"title,vendor_guid,object_type\nG,g,group\n")
    attachment = await writer.commit("g.csv", "text/csv")
    created = await store.create_import(NewImport(ACCOUNT, 1, "instructure_csv", 1), attachment)
    return created.id


@pytest.mark.gen_test(timeout=30)
async def test_an_import_whose_runners_keep_dying_fails_with_a_clear_message(
    storage_url: str,
) -> None:
    async with opened(storage_url) as store:
        import_id = await queue_one(store)
        for death in range(MAX_TAKEOVERS + 1):
            claimed = await store.claim_next_import(f"runner-{death}")
            assert claimed is not None
            assert claimed.id == import_id
            # The runner dies: its lease lapses, and another process takes the import back.
            assert await store.requeue_stale_imports(0) == 1
            state = await store.get_import(ACCOUNT, import_id)
            assert state is not None
            if death < MAX_TAKEOVERS:
                assert state.workflow_state == "created"  # started again from the beginning
        assert state.workflow_state == "failed"
        assert state.ended_at is not None
        assert state.errors == ((1, TAKEN_OVER_TOO_OFTEN),)
        assert await store.claim_next_import("runner-last") is None
        assert await store.requeue_stale_imports(0) == 0


@pytest.mark.gen_test(timeout=30)
async def test_a_live_runner_keeps_its_import_and_a_clean_stop_is_no_takeover(
    storage_url: str,
) -> None:
    async with opened(storage_url) as store:
        import_id = await queue_one(store)
        for _ in range(MAX_TAKEOVERS + 2):  # stopped by shutdowns, never failed for it
            assert (await store.claim_next_import("alive")).id == import_id  # type: ignore[union-attr]
            await store.heartbeat(["alive"])
            assert await store.requeue_stale_imports(30) == 0
            await store.requeue_import(import_id, "alive")
        state = await store.get_import(ACCOUNT, import_id)
        assert state is not None
        assert state.workflow_state == "created"

