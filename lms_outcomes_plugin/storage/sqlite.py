"""The embedded default store: SQLite through aiosqlite.

One writer connection (writes are serialized by a lock and run as ``BEGIN IMMEDIATE``
transactions) and one reader connection, so status reads never queue behind an import's batch;
WAL lets them run side by side. A third connection checkpoints the WAL in the background, so a
commit never waits for the copy into the database file and its fsync. A fourth, plain sqlite3
and never waiting for a lock, answers the polled reads by key on the IOLoop itself (see
``SqliteStore._read_by_key``). Uploads are files in a folder beside the database. The queries
are the shared ones of :mod:`.sql`.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sqlite3
import uuid
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, BinaryIO
from urllib.parse import urlsplit

import aiosqlite

from lms_outcomes_plugin.dbutil import AtOnceReader, use_wal
from lms_outcomes_plugin.hookspecs import hookimpl
from lms_outcomes_plugin.models import Attachment
from lms_outcomes_plugin.storage import StorageBackendRegistry
from lms_outcomes_plugin.storage.shown import ShownImports
from lms_outcomes_plugin.storage.sql import Dialect, SqlBatch, SqlStore, sort_title

log = logging.getLogger("lms_outcomes_plugin.storage")

PRAGMAS = (
    "PRAGMA busy_timeout = 10000",
    "PRAGMA foreign_keys = ON",
    # With WAL, NORMAL loses no committed batch on a process crash (only on power loss).
    "PRAGMA synchronous = NORMAL",
)
#: The writer's own checkpoints are only a backstop (pages; SQLite's default is 1000): the
#: checkpointer runs every CHECKPOINT_EVERY commits, so the WAL stays far smaller.
WRITER_AUTOCHECKPOINT = 10_000
CHECKPOINT_EVERY = 8
SQLITE = Dialect(
    "sqlite",
    macros={
        "ids": "SELECT value FROM json_each(?)",
        "texts": "SELECT value FROM json_each(?)",
        "in_ids": "IN (SELECT value FROM json_each(?))",
        "in_texts": "IN (SELECT value FROM json_each(?))",
        "json_rows": "json_each(?)",
        "greatest": "MAX",
        # One writer at a time (BEGIN IMMEDIATE, across processes too): nothing to skip or to
        # lock, a transaction sees every commit before it, and the writer's clock orders every
        # start and end and measures every lease.
        "skip_locked": "",
        "lock": "",
        "clock": "?",
        "lease_cutoff": "?",
    },
)
# The highest ids in use: a batch's new objects take the ids after them (under the write lock).
MAX_IDS = """
SELECT (SELECT COALESCE(MAX(id), 0) FROM lms_outcomes_groups),
       (SELECT COALESCE(MAX(id), 0) FROM lms_outcomes_outcomes)
"""


def sqlite_path(url: str) -> Path:
    """``sqlite:///relative.db`` or ``sqlite:////absolute.db`` (SQLAlchemy's convention)."""
    parts = urlsplit(url)
    path = parts.path[1:] if parts.path.startswith("/") else parts.path
    if not path:
        raise ValueError(f"storage URL {url!r} names no database file")
    return Path(path)


class SqliteConnection:
    """An aiosqlite connection as the shared store's :class:`~.sql.Connection`."""

    def __init__(self, connection: aiosqlite.Connection) -> None:
        self.connection = connection

    async def fetch(self, query: str, params: Sequence[Any] = ()) -> list[Sequence[Any]]:
        return list(await self.connection.execute_fetchall(query, params))

    async def execute(self, query: str, params: Sequence[Any] = ()) -> int:
        cursor = await self.connection.execute(query, params)
        return cursor.rowcount

    async def executemany(self, query: str, params: Iterable[Sequence[Any]]) -> None:
        await self.connection.executemany(query, params)


class FileAttachmentWriter:
    """Writes an upload to a temporary file, renamed into place on commit."""

    def __init__(self, store: SqliteStore) -> None:
        self._store = store
        self._key = f"{uuid.uuid4().hex}.upload"
        self._path = store.attachments_dir / f"{self._key}.part"
        self._file: BinaryIO | None = None
        self._size = 0

    async def write(self, chunk: bytes) -> None:
        if self._file is None:
            self._file = await asyncio.to_thread(open, self._path, "wb")
        # Chunks are Tornado's (64 KiB at most): a buffered write to the page cache is
        # cheaper than a thread hop.
        self._file.write(chunk)
        self._size += len(chunk)

    async def commit(self, filename: str, content_type: str) -> Attachment:
        await self.write(b"")
        assert self._file is not None
        self._file.close()
        os.replace(self._path, self._store.attachments_dir / self._key)
        return await self._store.add_attachment(filename, content_type, self._size, self._key)

    async def abort(self) -> None:
        if self._file is not None:
            self._file.close()
        self._path.unlink(missing_ok=True)


class SqliteStore(SqlStore):
    """The :class:`~lms_outcomes_plugin.storage.Store` on one SQLite file."""

    dialect = SQLITE

    def __init__(
        self, path: Path, attachments_dir: Path | None = None, status_cache: int = 1000
    ) -> None:
        self.path = path
        self.attachments_dir = attachments_dir or path.with_name(path.name + ".attachments")
        self._writer: SqliteConnection | None = None
        self._reader_connection: SqliteConnection | None = None
        self._write_lock = asyncio.Lock()
        self._checkpointer: SqliteConnection | None = None
        self._at_once: AtOnceReader | None = None
        #: Statuses kept while no connection has committed since they were read (see shown).
        self._shown = ShownImports(status_cache)
        self._data_version: int | None = None
        self._checkpoint: asyncio.Task[None] | None = None
        self._commits = 0
        self._closing = False

    @classmethod
    def from_url(cls, url: str, settings: Mapping[str, Any]) -> SqliteStore:
        attachments = settings.get("attachments_dir")
        return cls(sqlite_path(url), Path(attachments) if attachments else None,
                   int(settings.get("status_cache", 1000)))

    async def open(self) -> None:
        self.attachments_dir.mkdir(parents=True, exist_ok=True)
        self._writer = await self._connect()
        async with self._transaction() as db:
            await self._migrate(db)
        self._reader_connection = await self._connect()
        self._checkpointer = await self._connect()
        self._at_once = await AtOnceReader.open(self.path)
        await self._writer.execute(f"PRAGMA wal_autocheckpoint = {WRITER_AUTOCHECKPOINT}")

    async def close(self) -> None:
        self._closing = True
        connections = [c for c in (self._checkpointer, self._reader_connection, self._writer) if c]
        # A statement still running (an import shutdown gave up on) would hold its connection's
        # thread, and so the close queued behind it, for as long as it runs: abort it.
        for connection in connections:
            await connection.connection.interrupt()
        if self._checkpoint is not None:
            await asyncio.gather(self._checkpoint, return_exceptions=True)
        for connection in connections:
            await connection.connection.close()
        self._checkpointer = self._reader_connection = self._writer = None
        if self._at_once is not None:
            at_once, self._at_once = self._at_once, None
            await at_once.close()

    async def _connect(self) -> SqliteConnection:
        connection = await aiosqlite.connect(self.path, isolation_level=None)
        for pragma in PRAGMAS:
            await connection.execute(pragma)
        await use_wal(connection)
        # For the migration that fills in sort titles.
        await connection.create_function("sort_title", 1, sort_title, deterministic=True)
        return SqliteConnection(connection)

    @asynccontextmanager
    async def _transaction(self) -> AsyncIterator[SqliteConnection]:
        assert self._writer is not None, "store is not open"
        async with self._write_lock:
            await self._writer.execute("BEGIN IMMEDIATE")
            try:
                yield self._writer
            except BaseException:
                await self._writer.execute("ROLLBACK")
                raise
            await self._writer.execute("COMMIT")
        self._commits += 1
        if self._commits % CHECKPOINT_EVERY == 0:
            self._checkpoint_in_background()

    def _checkpoint_in_background(self) -> None:
        """Copy the WAL into the database file on the checkpointer's own thread, where SQLite's
        I/O runs beside the writer; PASSIVE never blocks a reader or the writer."""
        if self._checkpointer is None or not (
            self._checkpoint is None or self._checkpoint.done()
        ):
            return  # closed, or one is still running: the next commits will ask again
        self._checkpoint = asyncio.create_task(
            self._run_checkpoint(self._checkpointer), name="lms-outcomes-sqlite-checkpoint"
        )

    async def _run_checkpoint(self, checkpointer: SqliteConnection) -> None:
        try:
            await checkpointer.execute("PRAGMA wal_checkpoint(PASSIVE)")
        except sqlite3.Error:
            # Nothing is lost: the WAL keeps the commits, and the writer's backstop or the next
            # checkpoint (the next open's, once close() has interrupted this one) copies them.
            if not self._closing:
                log.warning("background WAL checkpoint failed", exc_info=True)

    def _reader(self) -> SqliteConnection:
        assert self._reader_connection is not None, "store is not open"
        return self._reader_connection

    def _notice_changes(self) -> None:
        """Forget the statuses kept once any connection (this process's writer, another
        process) has committed since: SQLite counts them in ``PRAGMA data_version``, read at
        once. A status is then read once per batch of a running import, however often it is
        polled, and a poll between two batches costs a pragma, not a read of the import, its
        errors and warnings."""
        rows = self._at_once.read("PRAGMA data_version") if self._at_once is not None else None
        version = rows[0][0] if rows else None
        if version is None or version != self._data_version:
            self._shown.forget_all()
            self._data_version = version
        self._shown.listening = version is not None

    async def _read_by_key(self, query: str, params: Sequence[Any] = ()) -> list[Sequence[Any]]:
        """Read here, on the IOLoop (a status poll's: one import by its key, and at most 50 of
        its messages; see :class:`~lms_outcomes_plugin.dbutil.AtOnceReader`); when SQLite
        would make the read wait, on the reader's thread as any read."""
        if self._at_once is not None:
            rows = self._at_once.read(self.dialect(query), params)
            if rows is not None:
                return rows
        return await self._read(query, params)

    def _batch_of(self, db: SqliteConnection) -> SqliteBatch:  # type: ignore[override]
        return SqliteBatch(db, self)

    async def _forget_uploads(self, storage_keys: list[str]) -> None:
        for key in storage_keys:
            await asyncio.to_thread((self.attachments_dir / key).unlink, missing_ok=True)

    def attachment_writer(self) -> FileAttachmentWriter:
        return FileAttachmentWriter(self)

    async def open_attachment(self, attachment_id: int) -> BinaryIO:
        rows = await self._read(
            "SELECT storage_key FROM lms_outcomes_attachments WHERE id = ?", (attachment_id,)
        )
        if not rows:
            raise LookupError(f"attachment {attachment_id} does not exist")
        return await asyncio.to_thread(open, self.attachments_dir / rows[0][0], "rb")


class SqliteBatch(SqlBatch):
    async def reserve_ids(self, groups: int, outcomes: int) -> tuple[list[int], list[int]]:
        # One writer holds the lock: the ids after the highest in use are free until it commits.
        rows = await self._db.fetch(MAX_IDS)
        top_group, top_outcome = rows[0]
        return (
            list(range(top_group + 1, top_group + 1 + groups)),
            list(range(top_outcome + 1, top_outcome + 1 + outcomes)),
        )


@hookimpl
def lms_outcomes_register_storage_backends(registry: StorageBackendRegistry) -> None:
    registry.add("sqlite", SqliteStore.from_url)
