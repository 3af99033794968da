"""On PostgreSQL an upload is kept in the database, where every process reaches it; the process
that received it keeps its spool too (the latest few), and runs the import from that rather than
read the upload back, a round trip per MiB. These tests tell the two apart by changing the
bytes in the database under the spool."""

from __future__ import annotations

import os
import tempfile

import asyncpg
import pytest

from lms_outcomes_plugin.storage.postgresql import KEPT_UPLOADS, PostgresStore
from lms_outcomes_plugin.testing.store import upload

pytestmark = pytest.mark.parametrize("storage_backend", ["postgresql"], indirect=True)
UPLOAD = b"vendor_guid,object_type,title\n" + b"x" * 200_000


async def opened(store: PostgresStore, attachment_id: int) -> bytes:
    source = await store.open_attachment(attachment_id)
    try:
        return source.read()
    finally:
        source.close()


async def rewrite_in_database(url: str, attachment_id: int, data: bytes) -> None:
    db = await asyncpg.connect(url)
    try:
        await db.execute(
            "DELETE FROM lms_outcomes_attachment_chunks WHERE attachment_id = $1", attachment_id
        )
        await db.execute(
            "INSERT INTO lms_outcomes_attachment_chunks (attachment_id, seq, data) "
            "VALUES ($1, 0, $2)", attachment_id, data,
        )
    finally:
        await db.close()


@pytest.mark.gen_test(timeout=60)
async def test_the_process_that_received_an_upload_parses_its_spool_once(
    storage_backend: str, storage_url: str
) -> None:
    received, other = PostgresStore(storage_url), PostgresStore(storage_url)
    await received.open()
    await other.open()
    try:
        attachment = await upload(received, UPLOAD)
        await rewrite_in_database(storage_url, attachment.id, b"as the database has it")
        assert await opened(received, attachment.id) == UPLOAD
        # Another process, and this one again (a takeover's restart), read the database's.
        assert await opened(other, attachment.id) == b"as the database has it"
        assert await opened(received, attachment.id) == b"as the database has it"
    finally:
        await received.close()
        await other.close()


@pytest.mark.gen_test(timeout=60)
async def test_only_the_latest_uploads_are_kept(storage_backend: str, storage_url: str) -> None:
    store = PostgresStore(storage_url)
    await store.open()
    try:
        before = temporary_files()  # pytest's capture has its own
        attachments = [await upload(store, UPLOAD) for _ in range(KEPT_UPLOADS + 3)]
        assert temporary_files() == before + KEPT_UPLOADS
        for attachment in attachments:
            await rewrite_in_database(storage_url, attachment.id, b"as the database has it")
        shown = [await opened(store, attachment.id) for attachment in attachments]
        assert shown == [b"as the database has it"] * 3 + [UPLOAD] * KEPT_UPLOADS
    finally:
        await store.close()
    assert temporary_files() == before


def temporary_files() -> int:
    """The temporary files this process has open (unnamed, or deleted as made, as the
    uploads' spools are)."""
    names = []
    for descriptor in os.listdir("/proc/self/fd"):
        try:
            names.append(os.readlink(f"/proc/self/fd/{descriptor}"))
        except FileNotFoundError:  # listdir's own descriptor, closed since
            continue
    folder = tempfile.gettempdir()
    return sum(1 for name in names if name.startswith(folder) and name.endswith(" (deleted)"))
