"""The embedded default store: SQLite through aiosqlite.

One writer connection (writes are serialized by a lock and run as ``BEGIN IMMEDIATE``
transactions) and one reader connection, so status reads never queue behind an import's batch;
WAL lets them run side by side. Uploads are files in a folder beside the database.
"""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
import unicodedata
import uuid
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from contextlib import asynccontextmanager
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Any, BinaryIO
from urllib.parse import urlsplit

import aiosqlite

from hooks import outcomes_hookimpl
from lms_outcomes_plugin.models import (
    ERRORS_SHOWN,
    Attachment,
    ContextRef,
    ImportState,
    NewImport,
    OutcomeImport,
    cut_message,
    utcnow,
)
from lms_outcomes_plugin.storage import (
    BatchWrite,
    Existing,
    ImportTakenOver,
    LinkedOutcome,
    Lookup,
    OutcomeFields,
    Page,
    StorageBackendRegistry,
    StoredGroup,
    StoredLink,
    StoredOutcome,
)
from lms_outcomes_plugin.storage import tree_sql as tree
from lms_outcomes_plugin.storage.migrate import load_migrations

MIGRATIONS_TABLE = "lms_outcomes_migrations"
PRAGMAS = (
    "PRAGMA busy_timeout = 10000",
    "PRAGMA foreign_keys = ON",
    # With WAL, NORMAL loses no committed batch on a process crash (only on power loss).
    "PRAGMA synchronous = NORMAL",
)
IMPORT_COLUMNS = (
    "id, context_type, context_id, root_account_id, import_type, user_id, "
    "learning_outcome_group_id, workflow_state, progress, attachment_id, created_at, "
    "updated_at, ended_at"
)


async def _use_wal(connection: aiosqlite.Connection, attempts: int = 100) -> None:
    """Switch to WAL. While another connection switches the same new file, SQLite answers
    "database is locked" at once, without waiting for busy_timeout: try again shortly."""
    for attempt in range(attempts):
        try:
            await connection.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as error:
            if "locked" not in str(error) or attempt == attempts - 1:
                raise
            await asyncio.sleep(0.02)


def title_key(title: str | None) -> str:
    """How titles sort: case and accents folded, as Canvas's collation key does."""
    decomposed = unicodedata.normalize("NFKD", title or "")
    return "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()


def sqlite_path(url: str) -> Path:
    """``sqlite:///relative.db`` or ``sqlite:////absolute.db`` (SQLAlchemy's convention)."""
    parts = urlsplit(url)
    path = parts.path[1:] if parts.path.startswith("/") else parts.path
    if not path:
        raise ValueError(f"storage URL {url!r} names no database file")
    return Path(path)


def _now() -> str:
    return utcnow().isoformat()


def _time(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def _import_from_row(row: Sequence[Any], errors: Iterable[tuple[int, str]] = ()) -> OutcomeImport:
    return OutcomeImport(
        id=row[0],
        context_type=row[1],
        context_id=row[2],
        root_account_id=row[3],
        import_type=row[4],
        user_id=row[5],
        learning_outcome_group_id=row[6],
        workflow_state=row[7],
        progress=row[8],
        attachment_id=row[9],
        created_at=datetime.fromisoformat(row[10]),
        updated_at=datetime.fromisoformat(row[11]),
        ended_at=_time(row[12]),
        errors=tuple((r, m) for r, m in errors),
    )


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
        # microseconds, cheaper than a thread hop.
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


class SqliteStore:
    """The :class:`~lms_outcomes_plugin.storage.Store` on one SQLite file."""

    def __init__(self, path: Path, attachments_dir: Path | None = None) -> None:
        self.path = path
        self.attachments_dir = attachments_dir or path.with_name(path.name + ".attachments")
        self._writer: aiosqlite.Connection | None = None
        self._reader: aiosqlite.Connection | None = None
        self._write_lock = asyncio.Lock()

    @classmethod
    def from_url(cls, url: str, settings: Mapping[str, Any]) -> SqliteStore:
        attachments = settings.get("attachments_dir")
        return cls(sqlite_path(url), Path(attachments) if attachments else None)

    # connections -----------------------------------------------------------------------------

    async def open(self) -> None:
        self.attachments_dir.mkdir(parents=True, exist_ok=True)
        self._writer = await self._connect()
        await self._migrate()
        self._reader = await self._connect()

    async def close(self) -> None:
        for connection in (self._reader, self._writer):
            if connection is not None:
                await connection.close()
        self._reader = self._writer = None

    async def _connect(self) -> aiosqlite.Connection:
        connection = await aiosqlite.connect(self.path, isolation_level=None)
        for pragma in PRAGMAS:
            await connection.execute(pragma)
        await _use_wal(connection)
        await connection.create_function("title_key", 1, title_key, deterministic=True)
        return connection

    async def _migrate(self) -> None:
        async with self._transaction() as db:
            await db.execute(
                f"CREATE TABLE IF NOT EXISTS {MIGRATIONS_TABLE} "
                "(name TEXT PRIMARY KEY, applied_at TEXT NOT NULL)"
            )
            done = {row[0] for row in await db.execute_fetchall(
                f"SELECT name FROM {MIGRATIONS_TABLE}"
            )}
            for migration in load_migrations("sqlite"):
                if migration.name in done:
                    continue
                # executescript would commit our transaction; run statement by statement.
                for statement in _statements(migration.sql):
                    await db.execute(statement)
                await db.execute(
                    f"INSERT INTO {MIGRATIONS_TABLE} (name, applied_at) VALUES (?, ?)",
                    (migration.name, _now()),
                )

    @asynccontextmanager
    async def _transaction(self) -> AsyncIterator[aiosqlite.Connection]:
        assert self._writer is not None, "store is not open"
        async with self._write_lock:
            await self._writer.execute("BEGIN IMMEDIATE")
            try:
                yield self._writer
            except BaseException:
                await self._writer.execute("ROLLBACK")
                raise
            await self._writer.execute("COMMIT")

    async def _read(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        assert self._reader is not None, "store is not open"
        return list(await self._reader.execute_fetchall(sql, params))

    # attachments -----------------------------------------------------------------------------

    def attachment_writer(self) -> FileAttachmentWriter:
        return FileAttachmentWriter(self)

    async def add_attachment(
        self, filename: str, content_type: str, size: int, key: str
    ) -> Attachment:
        async with self._transaction() as db:
            cursor = await db.execute(
                "INSERT INTO lms_outcomes_attachments "
                "(filename, content_type, size, storage_key, created_at) VALUES (?, ?, ?, ?, ?)",
                (filename, content_type, size, key, _now()),
            )
            attachment_id = cursor.lastrowid
        assert attachment_id is not None
        return Attachment(attachment_id, filename, content_type, size)

    async def get_attachment(self, attachment_id: int) -> Attachment | None:
        rows = await self._read(
            "SELECT id, filename, content_type, size FROM lms_outcomes_attachments WHERE id = ?",
            (attachment_id,),
        )
        return Attachment(*rows[0]) if rows else None

    async def open_attachment(self, attachment_id: int) -> BinaryIO:
        rows = await self._read(
            "SELECT storage_key FROM lms_outcomes_attachments WHERE id = ?", (attachment_id,)
        )
        if not rows:
            raise LookupError(f"attachment {attachment_id} does not exist")
        return await asyncio.to_thread(open, self.attachments_dir / rows[0][0], "rb")

    # imports ---------------------------------------------------------------------------------

    async def create_import(self, new: NewImport, attachment: Attachment) -> OutcomeImport:
        now = _now()
        async with self._transaction() as db:
            cursor = await db.execute(
                "INSERT INTO lms_outcomes_imports (context_type, context_id, root_account_id, "
                "import_type, user_id, learning_outcome_group_id, workflow_state, progress, "
                "created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, 'initializing', 0, ?, ?)",
                (
                    new.context.type,
                    new.context.id,
                    new.root_account_id,
                    new.import_type,
                    new.user_id,
                    new.learning_outcome_group_id,
                    now,
                    now,
                ),
            )
            import_id = cursor.lastrowid
            rows = await db.execute_fetchall(
                "UPDATE lms_outcomes_imports SET attachment_id = ?, workflow_state = 'created', "
                f"queued_at = ?, updated_at = ? WHERE id = ? RETURNING {IMPORT_COLUMNS}",
                (attachment.id, now, now, import_id),
            )
        return _import_from_row(next(iter(rows)))

    async def get_import(self, context: ContextRef, import_id: int) -> OutcomeImport | None:
        rows = await self._read(
            f"SELECT {IMPORT_COLUMNS} FROM lms_outcomes_imports "
            "WHERE id = ? AND context_type = ? AND context_id = ? "
            "AND workflow_state != 'initializing'",
            (import_id, context.type, context.id),
        )
        return await self._with_errors(rows[0]) if rows else None

    async def get_latest_import(self, context: ContextRef) -> OutcomeImport | None:
        rows = await self._read(
            f"SELECT {IMPORT_COLUMNS} FROM lms_outcomes_imports WHERE id = ("
            "SELECT outcome_import_id FROM lms_outcomes_latest_imports "
            "WHERE context_type = ? AND context_id = ?)",
            (context.type, context.id),
        )
        return await self._with_errors(rows[0]) if rows else None

    async def _with_errors(self, row: Sequence[Any]) -> OutcomeImport:
        errors = await self._read(
            "SELECT row, message FROM lms_outcomes_import_errors WHERE outcome_import_id = ? "
            "ORDER BY row, id LIMIT ?",
            (row[0], ERRORS_SHOWN),
        )
        return _import_from_row(row, errors)

    async def claim_next_import(self, runner: str) -> OutcomeImport | None:
        now = _now()
        async with self._transaction() as db:
            rows = await db.execute_fetchall(
                "UPDATE lms_outcomes_imports SET workflow_state = 'importing', started_at = ?, "
                "updated_at = ?, runner_id = ?, heartbeat_at = ? WHERE id = ("
                "  SELECT i.id FROM lms_outcomes_imports i WHERE i.workflow_state = 'created'"
                "  AND NOT EXISTS (SELECT 1 FROM lms_outcomes_imports r"
                "    WHERE r.root_account_id = i.root_account_id"
                "    AND r.workflow_state = 'importing')"
                "  ORDER BY i.queued_at, i.id LIMIT 1"
                f") RETURNING {IMPORT_COLUMNS}",
                (now, now, runner, now),
            )
            claimed = next(iter(rows), None)
            if claimed is None:
                return None
            await db.execute(
                "INSERT INTO lms_outcomes_latest_imports (context_type, context_id, "
                "outcome_import_id) VALUES (?, ?, ?) ON CONFLICT (context_type, context_id) "
                "DO UPDATE SET outcome_import_id = excluded.outcome_import_id",
                (claimed[1], claimed[2], claimed[0]),
            )
        return _import_from_row(claimed)

    async def heartbeat(self, runner: str) -> None:
        async with self._transaction() as db:
            await db.execute(
                "UPDATE lms_outcomes_imports SET heartbeat_at = ? "
                "WHERE runner_id = ? AND workflow_state = 'importing'",
                (_now(), runner),
            )

    async def finish_import(
        self,
        import_id: int,
        runner: str,
        state: ImportState,
        errors: Sequence[tuple[int, str]] = (),
    ) -> OutcomeImport | None:
        now = _now()
        async with self._transaction() as db:
            rows = list(await db.execute_fetchall(
                "UPDATE lms_outcomes_imports SET workflow_state = ?, ended_at = ?, updated_at = ?, "
                "progress = CASE WHEN ? = 'succeeded' THEN 100 ELSE progress END "
                "WHERE id = ? AND runner_id = ? AND workflow_state = 'importing' "
                f"RETURNING {IMPORT_COLUMNS}",
                (state, now, now, state, import_id, runner),
            ))
            if not rows:
                return None
            await _insert_errors(db, import_id, errors, failure=state == "failed")
        return _import_from_row(rows[0])

    async def requeue_import(self, import_id: int, runner: str) -> None:
        async with self._transaction() as db:
            await self._requeue(db, "id = ? AND runner_id = ?", (import_id, runner))

    async def requeue_stale_imports(self, older_than: datetime) -> int:
        async with self._transaction() as db:
            return await self._requeue(
                db, "(heartbeat_at IS NULL OR heartbeat_at < ?)", (older_than.isoformat(),)
            )

    @staticmethod
    async def _requeue(db: aiosqlite.Connection, where: str, params: Sequence[Any]) -> int:
        # Its batches are applied again from the start, as by a new import: the errors they
        # recorded would be recorded twice, and their stamps would read "already appeared".
        interrupted = (
            f"(SELECT id FROM lms_outcomes_imports WHERE {where} AND workflow_state = 'importing')"
        )
        await db.execute(
            f"DELETE FROM lms_outcomes_import_errors WHERE outcome_import_id IN {interrupted}",
            params,
        )
        for table in ("lms_outcomes_groups", "lms_outcomes_outcomes"):
            await db.execute(
                f"UPDATE {table} SET outcome_import_id = NULL "
                f"WHERE outcome_import_id IN {interrupted}",
                params,
            )
        cursor = await db.execute(
            "UPDATE lms_outcomes_imports SET workflow_state = 'created', updated_at = ? "
            f"WHERE {where} AND workflow_state = 'importing'",
            (_now(), *params),
        )
        return cursor.rowcount

    async def created_group_ids(self, import_id: int) -> list[int]:
        rows = await self._read(
            "SELECT id FROM lms_outcomes_groups WHERE outcome_import_id = ? ORDER BY id",
            (import_id,),
        )
        return [row[0] for row in rows]

    # the outcome tree ------------------------------------------------------------------------

    async def root_group(self, context: ContextRef, title: str) -> int:
        rows = await self._read(SELECT_ROOT, (context.type, context.id))
        if rows:
            return int(rows[0][0])
        async with self._transaction() as db:
            return await SqliteBatch(db).root_group(context, title)

    async def get_group(self, group_id: int) -> StoredGroup | None:
        rows = await self._read(
            f"SELECT {tree.GROUP_COLUMNS} FROM lms_outcomes_groups WHERE id = ?", (group_id,)
        )
        return _group(rows[0]) if rows else None

    async def group_ancestors(self, group_id: int) -> list[int]:
        return [row[0] for row in await self._read(tree.SELECT_ANCESTORS, (group_id,))]

    async def get_outcome(self, outcome_id: int) -> StoredOutcome | None:
        rows = await self._read(
            f"SELECT {tree.OUTCOME_COLUMNS} FROM lms_outcomes_outcomes WHERE id = ?",
            (outcome_id,),
        )
        return _outcome(rows[0]) if rows else None

    async def subgroups(self, group_id: int, page: Page) -> tuple[list[StoredGroup], int]:
        rows = await self._read(tree.SUBGROUPS, (group_id, page.limit, page.offset))
        total = await self._read(tree.COUNT_SUBGROUPS, (group_id,))
        return [_group(row) for row in rows], total[0][0]

    async def group_links(self, group_id: int, page: Page) -> tuple[list[LinkedOutcome], int]:
        rows = await self._read(tree.GROUP_LINKS, (group_id, page.limit, page.offset))
        total = await self._read(tree.COUNT_GROUP_LINKS, (group_id,))
        return [_linked(row) for row in rows], total[0][0]

    async def context_links(
        self, context: ContextRef, page: Page
    ) -> tuple[list[LinkedOutcome], int]:
        params = (context.type, context.id)
        rows = await self._read(tree.CONTEXT_LINKS, (*params, page.limit, page.offset))
        total = await self._read(tree.COUNT_CONTEXT_LINKS, params)
        return [_linked(row) for row in rows], total[0][0]

    async def context_groups(
        self, context: ContextRef, page: Page
    ) -> tuple[list[StoredGroup], int]:
        params = (context.type, context.id)
        rows = await self._read(tree.CONTEXT_GROUPS, (*params, page.limit, page.offset))
        total = await self._read(tree.COUNT_CONTEXT_GROUPS, params)
        return [_group(row) for row in rows], total[0][0]

    async def friendly_descriptions(
        self, context: ContextRef, outcome_ids: Iterable[int]
    ) -> dict[int, str]:
        rows = await self._read(
            tree.FRIENDLY_DESCRIPTIONS, (context.type, context.id, json.dumps(list(outcome_ids)))
        )
        return dict(rows)

    @asynccontextmanager
    async def batch(self) -> AsyncIterator[SqliteBatch]:
        async with self._transaction() as db:
            yield SqliteBatch(db)


SELECT_ROOT = (
    "SELECT id FROM lms_outcomes_groups WHERE context_type IS ? AND context_id IS ? AND is_root"
)
INSERT_ROOT = (
    "INSERT INTO lms_outcomes_groups (context_type, context_id, title, is_root, created_at, "
    "updated_at) VALUES (?, ?, ?, 1, ?, ?) ON CONFLICT DO NOTHING"
)
# Also proves the runner still owns the import: no row changed means another took it over.
PROGRESS = (
    "UPDATE lms_outcomes_imports SET progress = MAX(progress, ?), updated_at = ?, "
    "heartbeat_at = ? WHERE id = ? AND runner_id = ? AND workflow_state = 'importing'"
)


class SqliteBatch:
    """One batch's write transaction (see :meth:`Store.batch`)."""

    def __init__(self, db: aiosqlite.Connection) -> None:
        self._db = db

    async def root_group(self, context: ContextRef, title: str) -> int:
        now = _now()
        await self._db.execute(INSERT_ROOT, (context.type, context.id, title, now, now))
        rows = list(await self._db.execute_fetchall(SELECT_ROOT, (context.type, context.id)))
        return int(rows[0][0])

    async def lookup(self, lookup: Lookup) -> Existing:
        existing = Existing()
        if lookup.outcome_guids or lookup.outcome_ids:
            await self._lookup_outcomes(lookup, existing)
        if lookup.group_keys or lookup.group_ids:
            rows = await self._db.execute_fetchall(
                tree.SELECT_GROUPS,
                (json.dumps(sorted(lookup.group_ids)), json.dumps(sorted(lookup.group_keys))),
            )
            for row in rows:
                group = _group(row)
                if group.id in lookup.group_ids:
                    existing.groups_by_id[group.id] = group
                key = (group.context.type, group.context.id, group.vendor_guid)
                if key in lookup.group_keys:
                    existing.groups_by_key[key] = group  # type: ignore[index]
        if lookup.parent_guids:
            rows = await self._db.execute_fetchall(
                tree.SELECT_PARENTS, (lookup.import_id, json.dumps(sorted(lookup.parent_guids)))
            )
            for row in rows:
                parent = _group(row)
                existing.parents_by_guid.setdefault(parent.vendor_guid, []).append(parent)  # type: ignore[arg-type]
        return existing

    async def _lookup_outcomes(self, lookup: Lookup, existing: Existing) -> None:
        rows = await self._db.execute_fetchall(
            tree.SELECT_OUTCOMES,
            (json.dumps(sorted(lookup.outcome_guids)), json.dumps(sorted(lookup.outcome_ids))),
        )
        for row in rows:
            outcome = _outcome(row)
            if outcome.vendor_guid in lookup.outcome_guids:
                existing.outcomes_by_guid[outcome.vendor_guid] = outcome  # type: ignore[index]
            if outcome.id in lookup.outcome_ids:
                existing.outcomes_by_id[outcome.id] = outcome
            existing.links_by_outcome[outcome.id] = []
        if existing.links_by_outcome:
            links = await self._db.execute_fetchall(
                tree.SELECT_LINKS, (json.dumps(list(existing.links_by_outcome)),)
            )
            for row in links:
                link = _link(row)
                existing.links_by_outcome[link.outcome_id].append(link)

    async def reserve_ids(self, groups: int, outcomes: int) -> tuple[list[int], list[int]]:
        # One writer holds the lock: the ids after the highest in use are free until it commits.
        rows = list(await self._db.execute_fetchall(tree.MAX_IDS))
        top_group, top_outcome = rows[0]
        return (
            list(range(top_group + 1, top_group + 1 + groups)),
            list(range(top_outcome + 1, top_outcome + 1 + outcomes)),
        )

    async def apply(self, batch: BatchWrite) -> None:
        now, db = _now(), self._db
        await self._apply_groups(batch, now)
        await self._apply_outcomes(batch, now)
        await self._apply_links(batch, now)
        cursor = await db.execute(
            PROGRESS, (batch.progress, now, now, batch.import_id, batch.runner)
        )
        if cursor.rowcount == 0:
            raise ImportTakenOver(batch.import_id)
        await _insert_errors(db, batch.import_id, batch.errors)

    async def _apply_groups(self, batch: BatchWrite, now: str) -> None:
        # New groups first (a parent before its children, in row order), so that an updated
        # group can move under a new one.
        stamp = batch.import_id
        new = [g for g in batch.groups if g.new]
        if new:
            await self._db.executemany(tree.INSERT_GROUP, [
                (g.id, g.context.type, g.context.id, g.parent_id, g.vendor_guid, g.title,
                 g.description, g.workflow_state, stamp, now, now)
                for g in new
            ])
        updated = [g for g in batch.groups if not g.new]
        if updated:
            await self._db.executemany(tree.UPDATE_GROUP, [
                (g.parent_id, g.title, g.description, g.workflow_state, stamp, g.changed, now,
                 g.id)
                for g in updated
            ])
        if batch.deleted_groups:
            roots = [(group_id, now) for group_id in batch.deleted_groups]
            await self._db.executemany(tree.DELETE_SUBTREE_LINKS, roots)
            await self._db.executemany(tree.DELETE_SUBTREE_GROUPS, roots)

    async def _apply_outcomes(self, batch: BatchWrite, now: str) -> None:
        new = [o for o in batch.outcomes if o.new]
        if new:
            await self._db.executemany(tree.INSERT_OUTCOME, [
                (o.id, o.context.type, o.context.id, o.vendor_guid, *_outcome_fields(o.fields),
                 batch.import_id, now, now)
                for o in new
            ])
        updated = [o for o in batch.outcomes if not o.new]
        if updated:
            await self._db.executemany(tree.UPDATE_OUTCOME, [
                (*_outcome_fields(o.fields), batch.import_id, o.changed, now, o.id)
                for o in updated
            ])

    async def _apply_links(self, batch: BatchWrite, now: str) -> None:
        db = self._db
        if batch.links:
            await db.executemany(tree.LINK, [
                (link.context.type, link.context.id, link.group_id, link.outcome_id, now, now)
                for link in batch.links
            ])
        if batch.unlinks:
            await db.execute(tree.UNLINK, (now, json.dumps(batch.unlinks)))
        setting = [f for f in batch.friendly_descriptions if f.description is not None]
        if setting:
            await db.executemany(tree.SET_FRIENDLY, [
                (f.context.type, f.context.id, f.outcome_id, f.description, now, now)
                for f in setting
            ])
        retiring = [f for f in batch.friendly_descriptions if f.description is None]
        if retiring:
            await db.executemany(tree.RETIRE_FRIENDLY, [
                (now, f.context.type, f.context.id, f.outcome_id) for f in retiring
            ])


async def _insert_errors(
    db: aiosqlite.Connection,
    import_id: int,
    errors: Sequence[tuple[int, str]],
    failure: bool = False,
) -> None:
    if errors:
        await db.executemany(
            "INSERT INTO lms_outcomes_import_errors (outcome_import_id, row, message, failure) "
            "VALUES (?, ?, ?, ?)",
            [(import_id, row, cut_message(message), failure) for row, message in errors],
        )


def _group(row: Sequence[Any]) -> StoredGroup:
    return StoredGroup(row[0], ContextRef(row[1], row[2]), *row[3:9])


def _outcome(row: Sequence[Any]) -> StoredOutcome:
    ratings = tuple((float(points), text) for points, text in json.loads(row[11]))
    return StoredOutcome(row[0], ContextRef(row[1], row[2]), *row[3:11], ratings, *row[12:14])


def _link(row: Sequence[Any]) -> StoredLink:
    return StoredLink(row[0], row[1], row[2], ContextRef(row[3], row[4]), row[5])


def _linked(row: Sequence[Any]) -> LinkedOutcome:
    """A row of ``tree._LINKED``: the link's 6 columns, the outcome's 14, the group's 9."""
    return LinkedOutcome(_link(row[:6]), _outcome(row[6:20]), _group(row[20:29]))


def _outcome_fields(fields: OutcomeFields) -> tuple[Any, ...]:
    return (
        fields.title, fields.description, fields.display_name, fields.calculation_method,
        fields.calculation_int, fields.mastery_points, fields.points_possible,
        _ratings_json(fields.ratings), fields.workflow_state,
    )


@lru_cache(maxsize=4096)
def _ratings_json(ratings: tuple[tuple[float, str], ...]) -> str:
    """Cached: a file has few distinct scales, and json.dumps per row is a large cost."""
    return json.dumps(ratings)


def _statements(script: str) -> list[str]:
    """Split a migration into statements (they hold no ``;`` inside literals)."""
    lines = [line for line in script.splitlines() if not line.lstrip().startswith("--")]
    return [part.strip() for part in "\n".join(lines).split(";") if part.strip()]


@outcomes_hookimpl
def lms_outcomes_register_storage_backends(registry: StorageBackendRegistry) -> None:
    registry.add("sqlite", SqliteStore.from_url)
