"""The store for several host processes on one database: PostgreSQL through asyncpg.

The queries are the shared ones of :mod:`.sql`. Each host process has a pool; reads and writes
run side by side. Writes that change the outcome tree (a batch, a root group) take one
transaction-level advisory lock, so what a batch looked up still holds when it writes, across
processes, as the store protocol promises; imports are created under another, so their ids
follow the order they were created in. Imports are claimed with ``FOR UPDATE SKIP LOCKED``; a
takeover locks the import rows it decides on ``FOR UPDATE``, as every write of a run does first.
Uploads are kept in the database in 1 MiB chunks, where every process reaches them.
"""

from __future__ import annotations

import asyncio
import os
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import IO, Any, BinaryIO

from lms_outcomes_plugin.hookspecs import hookimpl
from lms_outcomes_plugin.models import Attachment
from lms_outcomes_plugin.storage import StorageBackendRegistry
from lms_outcomes_plugin.storage.sql import Dialect, Serialized, SqlBatch, SqlStore

try:
    import asyncpg
except ImportError:  # the ``postgres`` extra is not installed
    asyncpg = None

POSTGRESQL = Dialect(
    "postgresql",
    macros={
        "ids": "SELECT value::BIGINT FROM jsonb_array_elements_text(?::JSONB)",
        "texts": "SELECT value FROM jsonb_array_elements_text(?::JSONB)",
        "json_rows": "jsonb_array_elements(?::JSONB)",
        "greatest": "GREATEST",
        "skip_locked": "FOR UPDATE SKIP LOCKED",
        "lock": "FOR UPDATE",
        # The server's clock, read as the statement runs (the parameter is not used): an import
        # that starts once another has ended, seen from any process, starts after that end;
        # and every lease is renewed and measured by the one clock, whatever the hosts' say.
        "clock": "COALESCE(clock_timestamp(), ?)",
        "lease_cutoff": "clock_timestamp() - make_interval(secs => ?)",
    },
    numbered_params=True,
    encode_time=lambda moment: moment,
    lease_cutoff=float,
)
CHUNK_SIZE = 1 << 20
#: Seconds close() waits for connections still in use before it drops them.
CLOSE_TIMEOUT = 10.0
# Arbitrary, fixed keys of pg_advisory_xact_lock: migrations, and each kind of serialized write.
MIGRATION_LOCK = 0x6C6D_736F_0001
SERIALIZED_LOCKS: dict[Serialized, int] = {"tree": 0x6C6D_736F_0002, "queue": 0x6C6D_736F_0003}
RESERVE_IDS = """
SELECT
    ARRAY(SELECT nextval(pg_get_serial_sequence('lms_outcomes_groups', 'id'))
          FROM generate_series(1, $1)),
    ARRAY(SELECT nextval(pg_get_serial_sequence('lms_outcomes_outcomes', 'id'))
          FROM generate_series(1, $2))
"""


class PgConnection:
    """An asyncpg connection (or pool, for single reads) as the shared store's Connection."""

    def __init__(self, connection: Any) -> None:
        self.connection = connection

    async def fetch(self, query: str, params: Sequence[Any] = ()) -> list[Sequence[Any]]:
        return [tuple(record) for record in await self.connection.fetch(query, *params)]

    async def execute(self, query: str, params: Sequence[Any] = ()) -> int:
        status: str = await self.connection.execute(query, *params)
        # asyncpg answers with the command tag, e.g. "UPDATE 3" or "INSERT 0 1".
        count = status.rsplit(" ", 1)[-1]
        return int(count) if count.isdigit() else 0

    async def executemany(self, query: str, params: Iterable[Sequence[Any]]) -> None:
        await self.connection.executemany(query, params)


class ChunkedAttachmentWriter:
    """Spools an upload to a local temporary file; on commit, copies it into the database."""

    def __init__(self, store: PostgresStore) -> None:
        self._store = store
        self._file: IO[bytes] = tempfile.TemporaryFile()  # noqa: SIM115 - closed by commit/abort
        self._size = 0

    async def write(self, chunk: bytes) -> None:
        # Tornado's chunks are 64 KiB at most: cheaper written here than through a thread.
        self._file.write(chunk)
        self._size += len(chunk)

    async def commit(self, filename: str, content_type: str) -> Attachment:
        self._file.seek(0)
        try:
            return await self._store.add_chunked_attachment(
                filename, content_type, self._size, self._file
            )
        finally:
            self._file.close()

    async def abort(self) -> None:
        self._file.close()


class PostgresStore(SqlStore):
    """The :class:`~lms_outcomes_plugin.storage.Store` on a PostgreSQL database."""

    dialect = POSTGRESQL

    def __init__(self, dsn: str, pool_size: int = 10) -> None:
        if asyncpg is None:
            raise RuntimeError(
                "the postgresql storage backend needs asyncpg: "
                "pip install 'lms-outcomes[postgres]'"
            )
        self.dsn = dsn
        self.pool_size = pool_size
        self._pool: Any = None

    @classmethod
    def from_url(cls, url: str, settings: Mapping[str, Any]) -> PostgresStore:
        return cls(url, pool_size=int(settings.get("pool_size", 10)))

    async def open(self) -> None:
        self._pool = await asyncpg.create_pool(
            self.dsn, min_size=1, max_size=self.pool_size, command_timeout=300
        )
        async with self._transaction() as db:
            # Two processes starting together: one migrates, the other then finds it done.
            await db.execute("SELECT pg_advisory_xact_lock($1)", (MIGRATION_LOCK,))
            await self._migrate(db)

    async def close(self) -> None:
        if self._pool is not None:
            pool, self._pool = self._pool, None
            try:
                # Waits for connections in use to be released, as long as their work takes.
                await asyncio.wait_for(pool.close(), CLOSE_TIMEOUT)
            except TimeoutError:
                pool.terminate()

    @asynccontextmanager
    async def _transaction(self) -> AsyncIterator[PgConnection]:
        assert self._pool is not None, "store is not open"
        async with self._pool.acquire() as connection, connection.transaction():
            yield PgConnection(connection)

    def _reader(self) -> PgConnection:
        assert self._pool is not None, "store is not open"
        return PgConnection(self._pool)

    def _batch_of(self, db: PgConnection) -> PgBatch:  # type: ignore[override]
        return PgBatch(db, self)

    @asynccontextmanager
    async def _serialized(self, writes: Serialized) -> AsyncIterator[PgConnection]:
        async with self._transaction() as db:
            await db.execute("SELECT pg_advisory_xact_lock($1)", (SERIALIZED_LOCKS[writes],))
            yield db

    # attachments -----------------------------------------------------------------------------

    def attachment_writer(self) -> ChunkedAttachmentWriter:
        return ChunkedAttachmentWriter(self)

    async def add_chunked_attachment(
        self, filename: str, content_type: str, size: int, source: IO[bytes]
    ) -> Attachment:
        async with self._transaction() as db:
            attachment = await self._add_attachment(
                db, filename, content_type, size, f"{uuid.uuid4().hex}.upload"
            )
            seq = 0
            while chunk := await asyncio.to_thread(source.read, CHUNK_SIZE):
                await db.execute(
                    "INSERT INTO lms_outcomes_attachment_chunks (attachment_id, seq, data) "
                    "VALUES ($1, $2, $3)",
                    (attachment.id, seq, chunk),
                )
                seq += 1
        return attachment

    async def open_attachment(self, attachment_id: int) -> BinaryIO:
        """The upload copied, chunk by chunk, to a temporary file (see :func:`_parse_copy`);
        it is deleted when closed."""
        rows = await self._read(
            "SELECT 1 FROM lms_outcomes_attachments WHERE id = ?", (attachment_id,)
        )
        if not rows:
            raise LookupError(f"attachment {attachment_id} does not exist")
        copy = _parse_copy()
        try:
            seq = 0
            while chunk := await self._read_chunk(attachment_id, seq):
                await asyncio.to_thread(copy.write, chunk)
                seq += 1
            copy.flush()
            copy.seek(0)
        except BaseException:
            copy.close()
            raise
        return copy  # type: ignore[return-value]

    async def _read_chunk(self, attachment_id: int, seq: int) -> bytes | None:
        rows = await self._read(
            "SELECT data FROM lms_outcomes_attachment_chunks WHERE attachment_id = ? AND seq = ?",
            (attachment_id, seq),
        )
        return rows[0][0] if rows else None


def _parse_copy() -> BinaryIO:
    """A temporary file that the parse worker can open by its ``name``.

    On Linux no directory entry names it, so the kernel frees it with its last descriptor, even
    when the host is killed (a named copy would stay behind); its ``name`` is its descriptor's
    path under /proc, valid while the copy is open. Elsewhere, a named temporary file.
    """
    descriptors = Path(f"/proc/{os.getpid()}/fd")
    if not descriptors.is_dir():
        named = tempfile.NamedTemporaryFile(prefix="lms-outcomes-", suffix=".upload")  # noqa: SIM115
        return named  # type: ignore[return-value]
    copy = tempfile.TemporaryFile(prefix="lms-outcomes-", suffix=".upload")  # noqa: SIM115
    copy.raw.name = str(descriptors / str(copy.fileno()))  # type: ignore[attr-defined]
    return copy


class PgBatch(SqlBatch):
    async def reserve_ids(self, groups: int, outcomes: int) -> tuple[list[int], list[int]]:
        rows = await self._db.fetch(RESERVE_IDS, (groups, outcomes))
        return list(rows[0][0]), list(rows[0][1])


@hookimpl
def lms_outcomes_register_storage_backends(registry: StorageBackendRegistry) -> None:
    registry.add("postgresql", PostgresStore.from_url)
    registry.add("postgres", PostgresStore.from_url)
