"""The store for several host processes on one database: PostgreSQL through asyncpg.

The queries are the shared ones of :mod:`.sql`. Each host process has a pool; reads and writes
run side by side. Writes that change the outcome tree (a batch, a root group) take one
transaction-level advisory lock, so what a batch looked up still holds when it writes, across
processes, as the store protocol promises; imports are created under another, so their ids
follow the order they were created in. Imports are claimed with ``FOR UPDATE SKIP LOCKED``; a
takeover locks the import rows it decides on ``FOR UPDATE``, as every write of a run does first.
Uploads are kept in the database in 1 MiB chunks, where every process reaches them; the
process that received one parses its own spool when it runs the import. As imports grow the
tree, each process ANALYZEs its tables whenever its own batches have grown what they wrote
eightfold (see ``PostgresStore._analyze_as_grown``). Each process keeps the statuses it has
shown until PostgreSQL notifies it that their import changed (see :mod:`.shown`).
"""

from __future__ import annotations

import asyncio
import logging
import os
import tempfile
import uuid
from collections import OrderedDict
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from contextlib import asynccontextmanager, suppress
from pathlib import Path
from typing import IO, Any, BinaryIO

from lms_outcomes_plugin.hookspecs import hookimpl
from lms_outcomes_plugin.models import Attachment, ContextRef, cut_message
from lms_outcomes_plugin.storage import (
    BatchWrite,
    Existing,
    FriendlyDescriptionWrite,
    GroupWrite,
    LinkWrite,
    Lookup,
    OutcomeWrite,
    StorageBackendRegistry,
    statements,
)
from lms_outcomes_plugin.storage.shown import ShownImports
from lms_outcomes_plugin.storage.sql import (
    Connection,
    Dialect,
    Serialized,
    SqlBatch,
    SqlStore,
    _found_groups,
    _found_parents,
    _fresh_and_known,
    _groups_named,
    _outcome_fields,
    _parents_named,
    sort_title,
)
from lms_outcomes_plugin.storage.statements import GROUP_COLUMNS

log = logging.getLogger("lms_outcomes_plugin.storage")

try:
    import asyncpg
except ImportError:  # the ``postgres`` extra is not installed
    asyncpg = None

POSTGRESQL = Dialect(
    "postgresql",
    macros={
        "ids": "SELECT value::BIGINT FROM jsonb_array_elements_text(?::JSONB)",
        "texts": "SELECT value FROM jsonb_array_elements_text(?::JSONB)",
        # As an array (an InitPlan): the planner then looks the values up by index. As a
        # semi-join with the list, it could not tell how many rows would match and chose to
        # scan the whole table, in every batch (a batch's links read 20 times slower at
        # 100,000 rows, and slower with every batch).
        "in_ids": "= ANY(ARRAY(SELECT value::BIGINT FROM jsonb_array_elements_text(?::JSONB)))",
        "in_texts": "= ANY(ARRAY(SELECT value FROM jsonb_array_elements_text(?::JSONB)))",
        "json_rows": "jsonb_array_elements(?::JSONB)",
        "greatest": "GREATEST",
        # NO KEY UPDATE: import rows are only updated, never their keys, and a run's
        # key-share locks (its objects name its import) must not hide it from its heartbeat.
        "skip_locked": "FOR NO KEY UPDATE SKIP LOCKED",
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
#: The tables an import grows (their key columns), and the rows a process's batches create in
#: them before it first ANALYZEs them, then each time they have created ANALYZE_GROWTH times
#: as many. Not at each doubling: six ANALYZEs were an eighth of PostgreSQL's work in a
#: 100,000-row import, and the plans did not need them (the planner scales what the statistics
#: say by each table's size as it is; what the plans needed was to know the tables are large).
TREE_TABLES = (
    "lms_outcomes_groups (id, context_type, context_id, parent_id, vendor_guid, workflow_state, "
    "outcome_import_id), "
    "lms_outcomes_outcomes (id, context_type, context_id, vendor_guid, workflow_state, "
    "outcome_import_id), "
    "lms_outcomes_links (id, context_type, context_id, group_id, outcome_id, workflow_state)"
)
FIRST_ANALYZE_AFTER = 5_000
ANALYZE_GROWTH = 8
#: Seconds close() waits for connections still in use before it drops them.
CLOSE_TIMEOUT = 10.0
#: Where PostgreSQL announces each change to an import's row (migration 0015), and how often
#: the connection that listens is checked (a peer gone without a word shows only then), and
#: the longest wait before listening again once it was lost.
IMPORTS_CHANNEL = "lms_outcomes_imports"
LISTENER_NAME = "lms-outcomes-listen"  # its application_name, for pg_stat_activity
LISTEN_CHECK_SECONDS = 10.0
LISTEN_RETRY_SECONDS = 30.0
#: The uploads a process keeps, the latest it received, for when it runs their imports itself.
KEPT_UPLOADS = 4
#: How many batches' worth of ids a process reserves at a time (see SpareIds).
SPARE_BATCHES = 4
# Arbitrary, fixed keys of pg_advisory_xact_lock: migrations, and each kind of serialized write.
MIGRATION_LOCK = 0x6C6D_736F_0001
SERIALIZED_LOCKS: dict[Serialized, int] = {"tree": 0x6C6D_736F_0002, "queue": 0x6C6D_736F_0003}
OUTCOME_COPY_COLUMNS = (
    "id", "context_type", "context_id", "vendor_guid", "title", "sort_title", "description",
    "display_name", "calculation_method", "calculation_int", "mastery_points",
    "points_possible", "ratings", "workflow_state", "outcome_import_id", "created_at",
    "updated_at",
)
LINK_COPY_COLUMNS = (
    "context_type", "context_id", "group_id", "outcome_id", "workflow_state", "created_at",
    "updated_at",
)
# The groups and outcomes a batch creates, journaled as not existing before it, in one round
# trip (two COPYs were four, each waiting for the server, in every batch). Their ids were
# reserved by this run: no journal row of this import can name them yet (ON CONFLICT, which
# keeps a taken-over run's first before-image, has nothing to keep here).
# params: import id, group ids, outcome ids
JOURNAL_NEW = """
WITH groups AS (
    INSERT INTO lms_outcomes_journal_groups (outcome_import_id, id, existed)
    SELECT $1, unnest($2::BIGINT[]), FALSE
)
INSERT INTO lms_outcomes_journal_outcomes (outcome_import_id, id, existed)
SELECT $1, unnest($3::BIGINT[]), FALSE
"""
# The batch's changes as arrays, one statement each (see PgBatch).
# A batch's new groups: a few per hundred rows, where COPY's second round trip (it waits for
# the server to accept the data, then for the rows' check) cost more than it saved.
# params: ids, context_types, context_ids, parent_ids, vendor_guids, titles, sort_titles,
# descriptions, workflow_states, import id, now
INSERT_GROUPS = """
INSERT INTO lms_outcomes_groups (id, context_type, context_id, parent_id, vendor_guid, title,
    sort_title, description, workflow_state, outcome_import_id, created_at, updated_at)
SELECT u.*, $10, $11, $11
FROM unnest($1::BIGINT[], $2::TEXT[], $3::BIGINT[], $4::BIGINT[], $5::TEXT[], $6::TEXT[],
    $7::TEXT[], $8::TEXT[], $9::TEXT[]) AS u
"""
# params: ids, parent_ids, titles, sort_titles, descriptions, workflow_states, import id, now
UPDATE_GROUPS = """
UPDATE lms_outcomes_groups AS g SET parent_id = u.parent_id, title = u.title,
    sort_title = u.sort_title, description = u.description, workflow_state = u.workflow_state,
    outcome_import_id = $7, updated_at = $8
FROM unnest($1::BIGINT[], $2::BIGINT[], $3::TEXT[], $4::TEXT[], $5::TEXT[], $6::TEXT[])
    AS u(id, parent_id, title, sort_title, description, workflow_state)
WHERE g.id = u.id
"""
# params: ids, the 10 fields' arrays (sql._outcome_fields' order), import id, now
UPDATE_OUTCOMES = """
UPDATE lms_outcomes_outcomes AS o SET title = u.title, sort_title = u.sort_title,
    description = u.description, display_name = u.display_name,
    calculation_method = u.calculation_method, calculation_int = u.calculation_int,
    mastery_points = u.mastery_points, points_possible = u.points_possible,
    ratings = u.ratings, workflow_state = u.workflow_state, outcome_import_id = $12,
    updated_at = $13
FROM unnest($1::BIGINT[], $2::TEXT[], $3::TEXT[], $4::TEXT[], $5::TEXT[], $6::TEXT[],
    $7::INTEGER[], $8::DOUBLE PRECISION[], $9::DOUBLE PRECISION[], $10::TEXT[], $11::TEXT[])
    AS u(id, title, sort_title, description, display_name, calculation_method,
        calculation_int, mastery_points, points_possible, ratings, workflow_state)
WHERE o.id = u.id
"""
# statements.LINK for a batch's pairs. params: context_types, context_ids, group_ids,
# outcome_ids, now
LINKS = """
INSERT INTO lms_outcomes_links (context_type, context_id, group_id, outcome_id,
    workflow_state, created_at, updated_at)
SELECT u.context_type, u.context_id, u.group_id, u.outcome_id, 'active', $5, $5
FROM unnest($1::TEXT[], $2::BIGINT[], $3::BIGINT[], $4::BIGINT[])
    AS u(context_type, context_id, group_id, outcome_id)
ON CONFLICT (group_id, outcome_id) DO UPDATE SET
    workflow_state = 'active', updated_at = excluded.updated_at
WHERE lms_outcomes_links.workflow_state != 'active'
"""
# ... in a journaled run, journaling the links it wrote as the same statement (statements.
# JOURNAL_NEW_LINKS without a lookup): those it created are new; those it made active again
# were journaled before the batch (existed), which ON CONFLICT DO NOTHING keeps.
# params: LINKS', then import id
JOURNALED = """
WITH written AS ({} RETURNING id)
INSERT INTO lms_outcomes_journal_{} (outcome_import_id, id, existed)
SELECT $6, id, FALSE FROM written ON CONFLICT DO NOTHING
"""
JOURNALED_LINKS = JOURNALED.format(LINKS, "links")
# statements.SET_FRIENDLY and RETIRE_FRIENDLY for a batch's outcomes.
# params: context_types, context_ids, outcome_ids, descriptions, now
SET_FRIENDLY = """
INSERT INTO lms_outcomes_friendly_descriptions (context_type, context_id, outcome_id,
    description, workflow_state, created_at, updated_at)
SELECT u.context_type, u.context_id, u.outcome_id, u.description, 'active', $5, $5
FROM unnest($1::TEXT[], $2::BIGINT[], $3::BIGINT[], $4::TEXT[])
    AS u(context_type, context_id, outcome_id, description)
ON CONFLICT (context_type, context_id, outcome_id) DO UPDATE SET
    description = excluded.description, workflow_state = 'active',
    updated_at = excluded.updated_at
WHERE lms_outcomes_friendly_descriptions.description != excluded.description
    OR lms_outcomes_friendly_descriptions.workflow_state != 'active'
"""
# The same, journaled (see JOURNALED_LINKS). params: SET_FRIENDLY's, then import id
JOURNALED_FRIENDLY = JOURNALED.format(SET_FRIENDLY, "friendly")
# params: context_types, context_ids, outcome_ids, now
RETIRE_FRIENDLY = """
UPDATE lms_outcomes_friendly_descriptions AS f SET workflow_state = 'deleted', updated_at = $4
FROM unnest($1::TEXT[], $2::BIGINT[], $3::BIGINT[]) AS u(context_type, context_id, outcome_id)
WHERE f.context_type = u.context_type AND f.context_id = u.context_id
    AND f.outcome_id = u.outcome_id AND f.workflow_state != 'deleted'
"""
# An import's errors or warnings, in their order. params: import id, rows, messages(, failure)
INSERT_ERRORS = """
INSERT INTO lms_outcomes_import_errors (outcome_import_id, row, message, failure)
SELECT $1, u.row, u.message, $4 FROM unnest($2::BIGINT[], $3::TEXT[]) AS u(row, message)
"""
INSERT_WARNINGS = """
INSERT INTO lms_outcomes_import_warnings (outcome_import_id, row, message)
SELECT $1, u.row, u.message FROM unnest($2::BIGINT[], $3::TEXT[]) AS u(row, message)
"""
# statements.SELECT_PARENTS, one index lookup per guid whatever the statistics say (OFFSET 0
# keeps the planner from flattening the lateral subquery into a join): otherwise the planner,
# which had not seen the running import's id in its statistics, read every group the import
# had stamped and filtered them (a re-import's batches grew slower as it went).
# params: import id, JSON [guid, ...]
SELECT_PARENTS = f"""
SELECT g.* FROM (SELECT CAST(? AS BIGINT) AS id) AS i
CROSS JOIN jsonb_array_elements_text(?::JSONB) AS k(guid)
CROSS JOIN LATERAL (
    SELECT {GROUP_COLUMNS} FROM lms_outcomes_groups
    WHERE outcome_import_id = i.id AND vendor_guid = k.guid OFFSET 0
) AS g
"""
# A batch's groups and parents (statements.SELECT_GROUPS and SELECT_PARENTS) in one round trip,
# each row marked with the lookup it answers (TRUE: a parent).
# params: SELECT_GROUPS', then SELECT_PARENTS'
GROUPS_AND_PARENTS = f"""
SELECT FALSE, named.* FROM ({statements.SELECT_GROUPS}) AS named
UNION ALL
SELECT TRUE, parents.* FROM ({SELECT_PARENTS}) AS parents
"""
# The sequences are looked up once, not per id (OFFSET 0 keeps the planner from inlining the
# lookup into each nextval): pg_get_serial_sequence per id was most of the statement's cost.
RESERVE_IDS = """
SELECT
    ARRAY(SELECT nextval(g.seq) FROM generate_series(1, $1)),
    ARRAY(SELECT nextval(o.seq) FROM generate_series(1, $2))
FROM (SELECT pg_get_serial_sequence('lms_outcomes_groups', 'id')::REGCLASS AS seq OFFSET 0)
    AS g,
    (SELECT pg_get_serial_sequence('lms_outcomes_outcomes', 'id')::REGCLASS AS seq OFFSET 0)
    AS o
"""


class SpareIds:
    """Ids taken from the groups' and outcomes' sequences ahead of need, handed out to the
    process's batches: a batch's own reservation was a round trip in every batch. Taken
    SPARE_BATCHES batches' worth at a time; those a process never hands out are gaps in the
    ids, as a rolled-back batch's are."""

    def __init__(self) -> None:
        self._groups: list[int] = []
        self._outcomes: list[int] = []

    async def take(
        self, db: PgConnection, groups: int, outcomes: int
    ) -> tuple[list[int], list[int]]:
        if len(self._groups) < groups or len(self._outcomes) < outcomes:
            rows = await db.fetch(RESERVE_IDS, (groups * SPARE_BATCHES, outcomes * SPARE_BATCHES))
            self._groups.extend(rows[0][0])
            self._outcomes.extend(rows[0][1])
        taken = self._groups[:groups], self._outcomes[:outcomes]
        del self._groups[:groups], self._outcomes[:outcomes]
        return taken


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

    async def copy(
        self, table: str, columns: Sequence[str], records: Iterable[Sequence[Any]]
    ) -> None:
        """COPY ``records`` into ``table``: one round trip, far less server work per row."""
        await self.connection.copy_records_to_table(table, records=records, columns=columns)


class ChunkedAttachmentWriter:
    """Spools an upload to a local temporary file; on commit, copies it into the database and
    leaves the spool with the store, as the parse copy of its import (see
    ``PostgresStore.open_attachment``)."""

    def __init__(self, store: PostgresStore) -> None:
        self._store = store
        self._file = _parse_copy()
        self._size = 0

    async def write(self, chunk: bytes) -> None:
        # Tornado's chunks are 64 KiB at most: cheaper written here than through a thread.
        self._file.write(chunk)
        self._size += len(chunk)

    async def commit(self, filename: str, content_type: str) -> Attachment:
        self._file.seek(0)
        try:
            attachment = await self._store.add_chunked_attachment(
                filename, content_type, self._size, self._file
            )
        except BaseException:
            self._file.close()
            raise
        self._store.keep_upload(attachment.id, self._file)
        return attachment

    async def abort(self) -> None:
        self._file.close()


class PostgresStore(SqlStore):
    """The :class:`~lms_outcomes_plugin.storage.Store` on a PostgreSQL database."""

    dialect = POSTGRESQL

    def __init__(self, dsn: str, pool_size: int = 10, status_cache: int = 1000) -> None:
        if asyncpg is None:
            raise RuntimeError(
                "the postgresql storage backend needs asyncpg: "
                "pip install 'lms-outcomes[postgres]'"
            )
        self.dsn = dsn
        self.pool_size = pool_size
        self._pool: Any = None
        self._written = 0
        self._analyze_at = FIRST_ANALYZE_AFTER
        self._analyzing: asyncio.Task[None] | None = None
        self._shown = ShownImports(status_cache)
        self._listening: asyncio.Task[None] | None = None
        #: Uploads received here, by attachment id: their spools, the parse copies to be.
        self._uploads: OrderedDict[int, BinaryIO] = OrderedDict()
        self.spare_ids = SpareIds()

    @classmethod
    def from_url(cls, url: str, settings: Mapping[str, Any]) -> PostgresStore:
        return cls(url, pool_size=int(settings.get("pool_size", 10)),
                   status_cache=int(settings.get("status_cache", 1000)))

    async def open(self) -> None:
        self._pool = await asyncpg.create_pool(
            self.dsn, min_size=1, max_size=self.pool_size, command_timeout=300,
            reset=_keep_session,
        )
        async with self._transaction() as db:
            # Two processes starting together: one migrates, the other then finds it done.
            await db.execute("SELECT pg_advisory_xact_lock($1)", (MIGRATION_LOCK,))
            await self._migrate(db)
        if self._shown.size > 0:
            self._listening = asyncio.create_task(self._listen(), name="lms-outcomes-listen")

    async def close(self) -> None:
        while self._uploads:
            self._uploads.popitem()[1].close()
        for task in (self._analyzing, self._listening):
            if task is not None:
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
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
        try:
            async with self._pool.acquire() as connection, connection.transaction():
                yield PgConnection(connection)
        finally:
            # What this process wrote shows in its next status at once, not once notified.
            self._shown.forget_all()

    def _reader(self) -> PgConnection:
        assert self._pool is not None, "store is not open"
        return PgConnection(self._pool)

    def _batch_of(self, db: PgConnection) -> PgBatch:  # type: ignore[override]
        return PgBatch(db, self)

    # statuses, kept until PostgreSQL tells of a change (see .shown) ---------------------------

    async def _listen(self) -> None:
        """Keep a connection that LISTENs for changes to imports, again whenever it is lost;
        statuses are kept only while it listens."""
        retry = 1.0
        while True:
            try:
                await self._listen_once()
                retry = 1.0  # it listened, then was lost: listen again at once
            except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError):
                log.warning("cannot listen for changes to imports; statuses are read each "
                            "time until it can (again in %g s)", retry, exc_info=True)
                await asyncio.sleep(retry)
                retry = min(2 * retry, LISTEN_RETRY_SECONDS)

    async def _listen_once(self) -> None:
        connection = await asyncpg.connect(
            self.dsn, server_settings={"application_name": LISTENER_NAME}
        )
        try:
            lost = asyncio.Event()
            connection.add_termination_listener(lambda _connection: lost.set())
            await connection.add_listener(IMPORTS_CHANNEL, self._import_changed)
            self._shown.forget_all()  # what changed before it listened was not told
            self._shown.listening = True
            while not lost.is_set():
                with suppress(TimeoutError):
                    await asyncio.wait_for(lost.wait(), LISTEN_CHECK_SECONDS)
                    break
                await connection.execute("SELECT 1", timeout=LISTEN_CHECK_SECONDS)
            log.warning("lost the connection that listens for changes to imports")
        finally:
            self._shown.listening = False
            self._shown.forget_all()
            connection.terminate()

    def _import_changed(self, _connection: Any, _pid: int, _channel: str, payload: str) -> None:
        try:
            import_id, context_type, context_id = payload.split(" ")
            self._shown.changed(ContextRef(context_type, int(context_id)), int(import_id))
        except ValueError:  # not migration 0015's trigger: something changed, but not what
            self._shown.forget_all()

    @asynccontextmanager
    async def batch(self, import_id: int, runner: str) -> AsyncIterator[SqlBatch]:
        async with super().batch(import_id, runner) as tx:
            yield tx
        self._analyze_as_grown(tx.rows_created)  # type: ignore[attr-defined]

    def _analyze_as_grown(self, rows: int) -> None:
        """ANALYZE the tree's tables, in the background, once this process's batches have
        created ANALYZE_GROWTH times the rows they had at the last ANALYZE. Autovacuum looks
        once a minute, and a large import grows a table far faster: its batches were planned on
        the statistics of the tables before it (a few rows), and read groups by scanning."""
        self._written += rows
        if self._written < self._analyze_at or not (
            self._analyzing is None or self._analyzing.done()
        ):
            return
        self._analyze_at = ANALYZE_GROWTH * self._written
        self._analyzing = asyncio.create_task(self._analyze(), name="lms-outcomes-analyze")

    async def _analyze(self) -> None:
        try:
            async with self._transaction() as db:
                await db.execute(f"ANALYZE {TREE_TABLES}")
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError):
            # Nothing is lost: plans stay as they were until the next ANALYZE (autovacuum's).
            log.warning("ANALYZE of the outcome tree failed", exc_info=True)

    async def _insert_errors(
        self,
        db: Connection,
        import_id: int,
        errors: Sequence[tuple[int, str]],
        failure: bool = False,
    ) -> None:
        if errors:
            await db.execute(INSERT_ERRORS, (
                import_id, [row for row, _ in errors],
                [cut_message(message) for _, message in errors], failure,
            ))

    async def _insert_warnings(
        self, db: Connection, import_id: int, warnings: Sequence[tuple[int, str]]
    ) -> None:
        if warnings:
            await db.execute(INSERT_WARNINGS, (
                import_id, [row for row, _ in warnings],
                [cut_message(message) for _, message in warnings],
            ))

    @asynccontextmanager
    async def _serialized(self, writes: Serialized) -> AsyncIterator[PgConnection]:
        """BEGIN and the lock in one round trip, a simple query of two statements (every batch
        is one of these transactions); the transaction is then this method's to end."""
        assert self._pool is not None, "store is not open"
        try:
            async with self._pool.acquire() as connection:
                await connection.execute(
                    f"BEGIN; SELECT pg_advisory_xact_lock({SERIALIZED_LOCKS[writes]})"
                )
                try:
                    yield PgConnection(connection)
                except BaseException:
                    # What failed may have been the connection: then the pool, which rolls
                    # back a transaction left open, drops it, and the first error is the one.
                    with suppress(OSError, asyncpg.PostgresError, asyncpg.InterfaceError):
                        await connection.execute("ROLLBACK")
                    raise
                await connection.execute("COMMIT")
        finally:
            self._shown.forget_all()

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

    def keep_upload(self, attachment_id: int, spool: BinaryIO) -> None:
        """Keep the spool of an upload this process received (the latest KEPT_UPLOADS): the
        process that receives an upload most often runs its import, and reading the upload
        back from the database cost that import a round trip per MiB and a second copy."""
        self._uploads[attachment_id] = spool
        while len(self._uploads) > KEPT_UPLOADS:
            self._uploads.popitem(last=False)[1].close()

    async def open_attachment(self, attachment_id: int) -> BinaryIO:
        """The upload's spool when this process received it, or else the upload copied, chunk
        by chunk, to a temporary file (see :func:`_parse_copy`); it is deleted when closed."""
        rows = await self._read(
            "SELECT 1 FROM lms_outcomes_attachments WHERE id = ?", (attachment_id,)
        )
        kept = self._uploads.pop(attachment_id, None)
        if not rows:
            if kept is not None:
                kept.close()
            raise LookupError(f"attachment {attachment_id} does not exist")
        if kept is not None:
            kept.seek(0)
            return kept
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
        return copy

    async def _read_chunk(self, attachment_id: int, seq: int) -> bytes | None:
        rows = await self._read(
            "SELECT data FROM lms_outcomes_attachment_chunks WHERE attachment_id = ? AND seq = ?",
            (attachment_id, seq),
        )
        return rows[0][0] if rows else None


async def _keep_session(connection: Any) -> None:
    """A connection goes back to the pool as it is (asyncpg still rolls back a transaction
    left open): the store keeps no session state (its advisory locks end with their
    transactions; no LISTEN, cursor or SET outlives a transaction), and asyncpg's default
    reset query was a second round trip for every read, a status poll's included."""


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
    """A batch's writes as a few set-based statements: new outcomes (their ids reserved) and
    links are COPYed into their tables; new groups, changes and the other links arrive as
    arrays and are applied with one ``UPDATE ... FROM unnest(...)`` or ``INSERT ... SELECT``
    each. Row by row (``executemany``) the server's per-row work made PostgreSQL three times
    slower than SQLite; and each statement is a round trip, with the IOLoop (answering status
    requests) in between, so a batch makes few."""

    _db: PgConnection
    _store: PostgresStore
    select_parents = SELECT_PARENTS

    def __init__(self, db: PgConnection, store: PostgresStore) -> None:
        super().__init__(db, store)
        #: Groups, outcomes and links this transaction created (see _analyze_as_grown).
        self.rows_created = 0

    async def reserve_ids(self, groups: int, outcomes: int) -> tuple[list[int], list[int]]:
        return await self._store.spare_ids.take(self._db, groups, outcomes)

    async def _lookup_groups(self, lookup: Lookup, existing: Existing) -> None:
        if not (lookup.parent_guids and (lookup.group_keys or lookup.group_ids)):
            await super()._lookup_groups(lookup, existing)
            return
        rows = await self._db.fetch(
            self._sql(GROUPS_AND_PARENTS), (*_groups_named(lookup), *_parents_named(lookup))
        )
        _found_groups(lookup, existing, [row[1:] for row in rows if not row[0]])
        _found_parents(existing, [row[1:] for row in rows if row[0]])

    async def _insert_groups(self, new: list[GroupWrite], stamp: int, now: Any) -> None:
        self.rows_created += len(new)
        await self._db.execute(INSERT_GROUPS, (
            [g.id for g in new], [g.context.type for g in new], [g.context.id for g in new],
            [g.parent_id for g in new], [g.vendor_guid for g in new], [g.title for g in new],
            [sort_title(g.title) for g in new], [g.description for g in new],
            [g.workflow_state for g in new], stamp, now,
        ))

    async def _update_groups(self, updated: list[GroupWrite], stamp: int, now: Any) -> None:
        latest = {g.id: g for g in updated}  # UPDATE ... FROM takes one source row per id
        await self._db.execute(UPDATE_GROUPS, (
            list(latest), [g.parent_id for g in latest.values()],
            [g.title for g in latest.values()], [sort_title(g.title) for g in latest.values()],
            [g.description for g in latest.values()],
            [g.workflow_state for g in latest.values()], stamp, now,
        ))

    async def _insert_outcomes(self, new: list[OutcomeWrite], stamp: int, now: Any) -> None:
        self.rows_created += len(new)
        await self._db.copy("lms_outcomes_outcomes", OUTCOME_COPY_COLUMNS, [
            (o.id, o.context.type, o.context.id, o.vendor_guid, *_outcome_fields(o.fields),
             stamp, now, now)
            for o in new
        ])

    async def _update_outcomes(self, updated: list[OutcomeWrite], stamp: int, now: Any) -> None:
        latest = {o.id: _outcome_fields(o.fields) for o in updated}
        columns = [list(column) for column in zip(*latest.values(), strict=True)]
        await self._db.execute(UPDATE_OUTCOMES, (list(latest), *columns, stamp, now))

    async def _journal_new(self, stamp: int, groups: list[int], outcomes: list[int]) -> None:
        await self._db.execute(JOURNAL_NEW, (stamp, groups, outcomes))

    async def _journal_created(self, batch: BatchWrite) -> None:
        """Done as the links and descriptions were written (JOURNALED_LINKS)."""

    async def _set_friendly(
        self, setting: list[FriendlyDescriptionWrite], stamp: int, now: Any
    ) -> None:
        # The last description a batch gives a (context, outcome) wins, as row by row.
        last = {(f.context.type, f.context.id, f.outcome_id): f for f in setting}
        columns = (*_friendly_columns(last.values()), now)
        if self.journal:
            await self._db.execute(JOURNALED_FRIENDLY, (*columns, stamp))
        else:
            await self._db.execute(SET_FRIENDLY, columns)

    async def _retire_friendly(self, retiring: list[FriendlyDescriptionWrite], now: Any) -> None:
        await self._db.execute(RETIRE_FRIENDLY, (*_friendly_columns(retiring)[:3], now))

    async def _link(self, batch: BatchWrite, now: Any) -> None:
        # Once per pair: ON CONFLICT DO UPDATE may not meet a row twice in one statement, and
        # a pair's second write in a batch changes nothing.
        pairs = {(k.group_id, k.outcome_id): k for k in batch.links}
        fresh, known = _fresh_and_known(batch, pairs.values())
        if fresh:
            await self._copy_links(fresh, now)
        if not known:
            return
        columns = (
            [k.context.type for k in known], [k.context.id for k in known],
            [k.group_id for k in known], [k.outcome_id for k in known], now,
        )
        if self.journal:
            await self._db.execute(JOURNALED_LINKS, (*columns, batch.import_id))
        else:
            await self._db.execute(LINKS, columns)

    async def _copy_links(self, fresh: list[LinkWrite], now: Any) -> None:
        """Links into a group or to an outcome the batch creates cannot exist: COPYed, without
        ``INSERT ... ON CONFLICT``'s speculative insertion into the pair's index (a tenth of
        their server time), and not journaled (see ``SqlBatch._journal_created``)."""
        self.rows_created += len(fresh)
        await self._db.copy("lms_outcomes_links", LINK_COPY_COLUMNS, [
            (k.context.type, k.context.id, k.group_id, k.outcome_id, "active", now, now)
            for k in fresh
        ])


def _friendly_columns(
    writes: Iterable[FriendlyDescriptionWrite],
) -> tuple[list[Any], list[Any], list[int], list[str | None]]:
    """Context types, context ids, outcome ids and descriptions, as arrays."""
    listed = list(writes)
    return (
        [f.context.type for f in listed], [f.context.id for f in listed],
        [f.outcome_id for f in listed], [f.description for f in listed],
    )


@hookimpl
def lms_outcomes_register_storage_backends(registry: StorageBackendRegistry) -> None:
    registry.add("postgresql", PostgresStore.from_url)
    registry.add("postgres", PostgresStore.from_url)
