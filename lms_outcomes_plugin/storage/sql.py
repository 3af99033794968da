"""The store both SQL backends share: every query of the :class:`~.Store` protocol, written once
over a small connection interface, with the few places the dialects differ named in a
:class:`Dialect`. A backend brings its connections, its transactions, its attachments and how
it reserves ids; the SQL lives in :mod:`.statements`.
"""

from __future__ import annotations

import functools
import json
import unicodedata
from collections.abc import (
    AsyncGenerator,
    AsyncIterator,
    Awaitable,
    Callable,
    Iterable,
    Mapping,
    Sequence,
)
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any, ClassVar, Literal, Protocol

from lms_outcomes_plugin.dbutil import apply_migrations
from lms_outcomes_plugin.models import (
    ENDED_STATES,
    ERRORS_SHOWN,
    WARNINGS_SHOWN,
    Attachment,
    ChangeCounts,
    ContextRef,
    ImportCounts,
    ImportState,
    NewImport,
    OutcomeImport,
    RevertRefused,
    cut_message,
    journal_expired,
    revert_blocked,
    utcnow,
)
from lms_outcomes_plugin.storage import (
    BatchWrite,
    Existing,
    FriendlyDescriptionWrite,
    GroupWrite,
    ImportCancelled,
    ImportEnded,
    ImportQueueFull,
    ImportTakenOver,
    Job,
    KeyClaim,
    KeyedRequest,
    KeyTakenOver,
    LinkedOutcome,
    LinkWrite,
    Lookup,
    OutcomeFields,
    OutcomeWrite,
    Page,
    StoredGroup,
    StoredKey,
    StoredLink,
    StoredOutcome,
    TreeGroup,
    TreeOutcome,
)
from lms_outcomes_plugin.storage import statements as sql
from lms_outcomes_plugin.storage.migrate import load_migrations
from lms_outcomes_plugin.storage.shown import LATEST, ShownImports

MIGRATIONS_TABLE = "lms_outcomes_migrations"
#: How many times an import is started again after its runner died; the next time it fails.
MAX_TAKEOVERS = 2
TAKEN_OVER_TOO_OFTEN = (
    f"The import was stopped {MAX_TAKEOVERS + 1} times because the process running it ended; "
    "it will not be started again"
)
#: The error of an import that applied no batch for import_stall_seconds.
STALLED = (
    "The import made no progress for too long and was stopped; no more of the file will be "
    "imported"
)
#: Below any (row, id) an error can have: where reading every error starts.
FIRST_KEY = -(2**63)
#: The kinds of write transaction that must wait for one another (see SqlStore._serialized).
Serialized = Literal["tree", "queue"]
#: See :attr:`SqlStore.fault_hook`: awaited with a point's name and the claims written for.
FaultHook = Callable[[str, Sequence[str]], Awaitable[None]]


class Connection(Protocol):
    """What the shared store needs of a database connection (or of a transaction on one)."""

    async def fetch(self, query: str, params: Sequence[Any] = ()) -> list[Sequence[Any]]: ...

    async def execute(self, query: str, params: Sequence[Any] = ()) -> int:
        """Run one statement; returns how many rows it changed."""
        ...

    async def executemany(self, query: str, params: Iterable[Sequence[Any]]) -> None: ...


@dataclass(frozen=True)
class Dialect:
    """Where a backend's SQL differs from :mod:`.statements`' qmark text."""

    name: str
    #: The ``{macro}`` texts of the shared statements (see statements' docstring).
    macros: Mapping[str, str]
    #: ``$1, $2, ...`` (asyncpg) instead of ``?`` (sqlite3).
    numbered_params: bool = False
    #: How a time travels to the database (ISO text for SQLite, a datetime for asyncpg).
    encode_time: Callable[[datetime], Any] = datetime.isoformat
    #: The parameter of ``{lease_cutoff}`` for a lease of so many seconds: by default the
    #: moment that long ago on this process's clock, as ISO text (read inside the transaction
    #: that decides, so a wait for its lock does not date it).
    lease_cutoff: Callable[[float], Any] = lambda lease: (
        utcnow() - timedelta(seconds=lease)
    ).isoformat()
    _compiled: dict[str, str] = field(default_factory=dict, compare=False, repr=False)

    def __call__(self, template: str) -> str:
        """The statement in this dialect (compiled once per template)."""
        compiled = self._compiled.get(template)
        if compiled is None:
            compiled = template.format_map(self.macros)
            if self.numbered_params:
                compiled = to_numbered_params(compiled)
            self._compiled[template] = compiled
        return compiled


def to_numbered_params(query: str) -> str:
    """``?`` placeholders as ``$1, $2, ...`` (the statements hold no other ``?``)."""
    parts = query.split("?")
    return parts[0] + "".join(f"${n}{part}" for n, part in enumerate(parts[1:], start=1))


def sort_title(title: str) -> str:
    """How titles sort: case and accents folded, as Canvas's collation key does."""
    if title.isascii():
        return title.casefold()
    decomposed = unicodedata.normalize("NFKD", title)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()


def as_time(value: str | datetime | None) -> datetime | None:
    if value is None or isinstance(value, datetime):
        return value
    return datetime.fromisoformat(value)


class SqlStore:
    """The :class:`~lms_outcomes_plugin.storage.Store` over a backend's connections.

    A backend subclass provides :meth:`_transaction` (a write transaction), :meth:`_reader`
    (a connection for reads outside any write), :meth:`_batch_of` (its :class:`SqlBatch`) and,
    when its writers run side by side, :meth:`_serialized`.
    """

    dialect: Dialect
    #: The statuses this process has shown, kept while the backend knows of every change
    #: (``listening``); each backend makes its own and keeps it told.
    _shown: ShownImports
    #: For tests only, None otherwise: awaited at named points of the transactions that write
    #: for runs' claims (``claim``, ``batch``, ``finish``, ``heartbeat``, ``requeue``,
    #: ``takeover``, ``stall``): ``<name>:begin`` before the transaction opens,
    #: ``<name>:before-commit`` once its writes are done, ``<name>:committed`` after its
    #: commit; with the claim tokens it writes for (possibly none), so a test can hold or freeze
    #: a process exactly there (tests/takeover_faults.py).
    fault_hook: ClassVar[FaultHook | None] = None

    def _transaction(self) -> AbstractAsyncContextManager[Connection]:
        raise NotImplementedError

    def _reader(self) -> Connection:
        raise NotImplementedError

    def _batch_of(self, db: Connection) -> SqlBatch:
        raise NotImplementedError

    def _serialized(self, writes: Serialized) -> AbstractAsyncContextManager[Connection]:
        """A write transaction that waits for every other of the same kind: ``"tree"`` (a
        batch must find what it looked up unchanged when it writes) or ``"queue"`` (imports are
        created, and so ordered, one at a time). A backend whose writers run side by side
        serializes them; one writer at a time already does."""
        return self._transaction()

    async def _read(self, query: str, params: Sequence[Any] = ()) -> list[Sequence[Any]]:
        return await self._reader().fetch(self.dialect(query), params)

    async def _read_by_key(self, query: str, params: Sequence[Any] = ()) -> list[Sequence[Any]]:
        """A read of a few rows found by key, of the kind polled (an import's status): as any
        read here; a backend whose reads cost more to reach than to run may answer it at once."""
        return await self._read(query, params)

    @asynccontextmanager
    async def _for_claims(
        self,
        name: str,
        claims: list[str],
        transaction: AbstractAsyncContextManager[Connection] | None = None,
    ) -> AsyncIterator[Connection]:
        """A write transaction for runs' claims: the body fills in ``claims``, and the fault
        hook, when a test set one, is awaited before the transaction, before its commit and
        after it."""
        hook = SqlStore.fault_hook
        if hook is not None:
            await hook(f"{name}:begin", list(claims))
        async with transaction or self._transaction() as db:
            yield db
            if hook is not None:
                await hook(f"{name}:before-commit", claims)
        if hook is not None:
            await hook(f"{name}:committed", claims)

    def _now(self) -> Any:
        return self.dialect.encode_time(utcnow())

    async def _migrate(self, db: Connection) -> None:
        """Apply this dialect's pending migrations, inside the caller's transaction."""
        migrations = [(m.name, m.sql) for m in load_migrations(self.dialect.name)]
        await apply_migrations(
            db.fetch, db.execute, MIGRATIONS_TABLE, migrations, self.dialect.numbered_params
        )

    # imports ---------------------------------------------------------------------------------

    async def add_attachment(
        self, filename: str, content_type: str, size: int, key: str
    ) -> Attachment:
        async with self._transaction() as db:
            return await self._add_attachment(db, filename, content_type, size, key)

    async def _add_attachment(
        self, db: Connection, filename: str, content_type: str, size: int, key: str
    ) -> Attachment:
        rows = await db.fetch(
            self.dialect(sql.INSERT_ATTACHMENT), (filename, content_type, size, key, self._now())
        )
        return Attachment(rows[0][0], filename, content_type, size)

    async def create_import(
        self,
        new: NewImport,
        attachment: Attachment,
        max_queued: int | None = None,
        key: tuple[KeyClaim, KeyedRequest] | None = None,
    ) -> OutcomeImport:
        d = self.dialect
        async with self._serialized("queue") as db:
            await _check_queue(db, d, new.root_account_id, max_queued)
            now = self._now()
            created = await db.fetch(d(sql.INSERT_IMPORT), (
                new.context.type, new.context.id, new.root_account_id, new.import_type,
                new.user_id, new.learning_outcome_group_id, new.encoding, new.dry_run, now, now,
            ))
            rows = await db.fetch(d(sql.QUEUE_IMPORT), (attachment.id, now, now, created[0][0]))
            if key is not None:
                claim, request = key
                if not await db.execute(d(sql.BIND_KEY), (
                    created[0][0], request.parameters, request.body_sha256,
                    claim.user_id, claim.key, claim.token,
                )):
                    raise KeyTakenOver(claim.key)
        return _import_from_row(rows[0])

    async def reserve_key(
        self,
        claim: KeyClaim,
        request: KeyedRequest,
        expired_before: datetime,
        abandoned_before: datetime,
    ) -> StoredKey | None:
        d, now = self.dialect, self._now()
        async with self._serialized("queue") as db:
            await db.execute(d(sql.DELETE_EXPIRED_KEYS), (d.encode_time(expired_before),))
            await db.execute(d(sql.DELETE_ABANDONED_KEY), (
                claim.user_id, claim.key, d.encode_time(abandoned_before),
            ))
            context = request.context
            await db.execute(d(sql.RESERVE_KEY), (
                claim.user_id, claim.key, claim.token, context.type, context.id,
                request.learning_outcome_group_id, now, now,
            ))
            [held] = await db.fetch(d(sql.SELECT_KEY), (claim.user_id, claim.key))
        token, context_type, context_id, group_id, parameters, digest, import_id = held
        if token == claim.token:
            return None
        return StoredKey(
            KeyedRequest(ContextRef(context_type, context_id), group_id, parameters, digest),
            import_id,
        )

    async def renew_key(self, claim: KeyClaim) -> None:
        async with self._transaction() as db:
            await db.execute(self.dialect(sql.TOUCH_KEY), (
                self._now(), claim.user_id, claim.key, claim.token,
            ))

    async def release_key(self, claim: KeyClaim) -> None:
        async with self._transaction() as db:
            await db.execute(
                self.dialect(sql.RELEASE_KEY), (claim.user_id, claim.key, claim.token)
            )

    # statuses, kept until their import changes (see .shown) ----------------------------------

    async def get_import(self, context: ContextRef, import_id: int) -> OutcomeImport | None:
        self._notice_changes()
        return await self._shown.get(
            context, import_id, functools.partial(self._read_import, context, import_id)
        )

    async def get_latest_import(self, context: ContextRef) -> OutcomeImport | None:
        self._notice_changes()
        return await self._shown.get(
            context, LATEST, functools.partial(self._read_latest_import, context)
        )

    def _notice_changes(self) -> None:
        """Called as a status is asked for: a backend that must ask whether anything changed
        since it kept its statuses, rather than be told, asks here."""

    async def _read_import(self, context: ContextRef, import_id: int) -> OutcomeImport | None:
        return _shown_import(await self._read_by_key(
            sql.SELECT_IMPORT_SHOWN,
            (import_id, context.type, context.id, ERRORS_SHOWN, WARNINGS_SHOWN),
        ))

    async def _read_latest_import(self, context: ContextRef) -> OutcomeImport | None:
        return _shown_import(await self._read_by_key(
            sql.SELECT_LATEST_IMPORT_SHOWN,
            (context.type, context.id, ERRORS_SHOWN, WARNINGS_SHOWN),
        ))

    async def import_errors(
        self, import_id: int, page: Page
    ) -> tuple[list[tuple[int, str]], int]:
        rows = await self._read(sql.IMPORT_ERRORS, (import_id, page.limit, page.offset))
        total = await self._read(sql.COUNT_IMPORT_ERRORS, (import_id,))
        return [(row, message) for row, message in rows], total[0][0]

    async def import_error_chunks(
        self, import_id: int, size: int
    ) -> AsyncGenerator[list[tuple[int, str]], None]:
        after = (FIRST_KEY, FIRST_KEY)
        while True:
            rows = await self._read(sql.IMPORT_ERRORS_AFTER, (import_id, *after, size))
            if rows:
                yield [(row, message) for row, _, message in rows]
            if len(rows) < size:
                return
            after = (rows[-1][0], rows[-1][1])

    async def claim_next_import(
        self, runner: str, journal: bool = True
    ) -> OutcomeImport | None:
        d = self.dialect
        claims: list[str] = []
        async with self._for_claims("claim", claims) as db:
            now = self._now()  # once the connection is ours: a wait must not date the start
            rows = await db.fetch(d(sql.CLAIM_IMPORT), (
                now, now, runner, now, now, "kept" if journal else "off"
            ))
            if not rows:
                return None
            claimed = rows[0]
            await db.execute(d(sql.SET_LATEST_IMPORT), (claimed[1], claimed[2], claimed[0]))
            claims.append(runner)
        return _import_from_row(claimed)

    async def heartbeat(self, runners: Sequence[str]) -> None:
        if not runners:
            return
        claims: list[str] = []
        async with self._for_claims("heartbeat", claims) as db:
            rows = await db.fetch(
                self.dialect(sql.HEARTBEAT), (self._now(), json.dumps(list(runners)))
            )
            claims.extend(row[0] for row in rows)

    async def finish_import(
        self,
        import_id: int,
        runner: str,
        state: ImportState,
        errors: Sequence[tuple[int, str]] = (),
    ) -> OutcomeImport | None:
        claims: list[str] = []
        async with self._for_claims("finish", claims) as db:
            now = self._now()
            # The import's row first, as every write of a run: locked, and checked to be the
            # run's, before anything else is written.
            rows = await db.fetch(
                self.dialect(sql.FINISH_IMPORT), (state, now, now, state, import_id, runner)
            )
            if rows:
                await self._insert_errors(db, import_id, errors, failure=state == "failed")
                claims.append(runner)
        if not rows:  # taken over, or a cancel came after the last batch
            return await self.cancel_run(import_id, runner)
        return _import_from_row(rows[0])

    # undo: cancel and revert -----------------------------------------------------------------

    async def cancel_import(self, context: ContextRef, import_id: int) -> OutcomeImport | None:
        d = self.dialect
        # The tree's lock first, then the import's row, as a batch takes them.
        async with self._serialized("tree") as db:
            rows = await db.fetch(d(sql.LOCK_IMPORT), (import_id, context.type, context.id))
            if not rows:
                return None
            found = _import_from_row(rows[0])
            if found.workflow_state in ENDED_STATES:
                raise ImportEnded(found)
            if found.workflow_state == "created":
                return await self._cancel(db, found.id)
            await db.execute(d(sql.REQUEST_CANCEL), (self._now(), import_id))
        return await self.get_import(context, import_id)

    async def cancel_run(self, import_id: int, runner: str) -> OutcomeImport | None:
        claims = [runner]
        async with self._for_claims("cancel", claims, self._serialized("tree")) as db:
            owned = await db.fetch(self.dialect(sql.OWN_IMPORT), (import_id, runner))
            if not owned or not owned[0][1]:
                claims.clear()
                return None
            return await self._cancel(db, import_id)

    async def _cancel(self, db: Connection, import_id: int) -> OutcomeImport:
        """Undo what the import wrote and end it cancelled, in the caller's transaction (which
        holds the tree's lock and the import's row). A cancelled revert no longer reverts."""
        await self._restore(db, import_id)
        await self._forget_journals(db, [import_id])
        await db.execute(self.dialect(sql.UNREVERT), (import_id,))
        now = self._now()
        rows = await db.fetch(self.dialect(sql.END_CANCELLED), (now, now, import_id))
        return _import_from_row(rows[0])

    async def _restore(self, db: Connection, import_id: int) -> ImportCounts:
        """Put back the rows the import changed and remove those it created; what it did is
        counted as a revert's counts (``updated``: put back, ``deleted``: removed)."""
        q = self.dialect
        restored = [await db.execute(q(statement), (import_id,)) for statement in sql.RESTORE]
        removed = [await db.execute(q(statement), (import_id,))
                   for statement in sql.REMOVE_CREATED]
        # Both in the statements' order: links, friendly descriptions, outcomes (whole, then
        # stamps only), groups (likewise).
        _, _, outcomes, outcome_stamps, groups, group_stamps = restored
        links_gone, _, outcomes_gone, groups_gone = removed
        return ImportCounts(
            rows=sum(restored) + sum(removed),
            groups=ChangeCounts(updated=groups + group_stamps, deleted=groups_gone),
            outcomes=ChangeCounts(updated=outcomes + outcome_stamps, deleted=outcomes_gone),
            links_created=0,
            links_deleted=links_gone,
        )

    async def _forget_journals(self, db: Connection, import_ids: list[int]) -> None:
        ids = json.dumps(import_ids)
        for statement in sql.FORGET_JOURNAL:
            await db.execute(self.dialect(statement), (ids,))

    async def queue_revert(
        self, new: NewImport, target: int, max_queued: int | None = None
    ) -> OutcomeImport:
        d = self.dialect
        async with self._serialized("queue") as db:
            await _check_queue(db, d, new.root_account_id, max_queued)
            [(blocker,)] = await db.fetch(d(sql.REVERT_BLOCKER), (target,))
            if blocker is not None:
                raise RevertRefused(revert_blocked(blocker))
            now = self._now()
            rows = await db.fetch(d(sql.INSERT_REVERT), (
                new.context.type, new.context.id, new.root_account_id, new.user_id, target,
                now, now, now,
            ))
            revert = _import_from_row(rows[0])
            if not await db.execute(d(sql.MARK_REVERTED), (revert.id, target)):
                raise RevertRefused(f"Import {target} is already reverted")
        return revert

    async def revert_import(
        self, import_id: int, runner: str, journal_days: float
    ) -> OutcomeImport | None:
        claims = [runner]
        async with self._for_claims("revert", claims, self._serialized("tree")) as db:
            owned = await db.fetch(self.dialect(sql.OWN_IMPORT), (import_id, runner))
            if not owned:
                claims.clear()
                return None
            _, cancel_requested, _, target = owned[0]
            if cancel_requested:
                return await self._cancel(db, import_id)
            refusal = await self._revert_refusal(db, target, journal_days)
            if refusal is not None:
                return await self._fail_revert(db, import_id, runner, refusal)
            counts = await self._restore(db, target)
            await self._forget_journals(db, [target])
            now = self._now()
            rows = await db.fetch(
                self.dialect(sql.END_REVERT), (_counts_json(counts), now, now, import_id)
            )
        return _import_from_row(rows[0])

    async def _revert_refusal(
        self, db: Connection, target: int, journal_days: float
    ) -> str | None:
        """Why the target cannot be reverted now, as the revert runs (None: it can)."""
        rows = await db.fetch(self.dialect(sql.SELECT_IMPORT_BY_ID), (target,))
        if _import_from_row(rows[0]).journal != "kept":
            return journal_expired(target, journal_days)
        [(blocker,)] = await db.fetch(self.dialect(sql.REVERT_BLOCKER), (target,))
        return None if blocker is None else revert_blocked(blocker)

    async def _fail_revert(
        self, db: Connection, import_id: int, runner: str, refusal: str
    ) -> OutcomeImport:
        """End the revert ``failed`` with the reason, its target no longer reverted by it, in
        the caller's transaction (so a takeover between the two cannot part them)."""
        await db.execute(self.dialect(sql.UNREVERT), (import_id,))
        now = self._now()
        rows = await db.fetch(
            self.dialect(sql.FINISH_IMPORT), ("failed", now, now, "failed", import_id, runner)
        )
        await self._insert_errors(db, import_id, [(1, refusal)], failure=True)
        return _import_from_row(rows[0])

    async def delete_old_journals(self, ended_before: datetime) -> int:
        # Under the tree's lock: a revert running meanwhile reads its target's journal in
        # several statements, and must find all of it or (journal expired) none.
        async with self._serialized("tree") as db:
            rows = await db.fetch(
                self.dialect(sql.EXPIRE_JOURNALS), (self.dialect.encode_time(ended_before),)
            )
            if rows:
                await self._forget_journals(db, [row[0] for row in rows])
        return len(rows)

    async def requeue_import(self, import_id: int, runner: str) -> None:
        claims: list[str] = []
        async with self._for_claims("requeue", claims) as db:
            owned = await db.fetch(self.dialect(sql.LOCK_OWNED), (import_id, runner))
            await self._requeue(db, [row[0] for row in owned], takeovers=0)
            claims.extend(row[1] for row in owned)

    async def requeue_stale_imports(self, lease: float) -> int:
        d = self.dialect
        claims: list[str] = []
        async with self._for_claims("takeover", claims) as db:
            # Locked first, and decided on as the lock found them: see statements.LOCK_LAPSED.
            lapsed = await db.fetch(d(sql.LOCK_LAPSED), (d.lease_cutoff(lease),))
            # One asked to cancel is requeued however often it was taken over: the next run
            # undoes it (SqlStore.cancel_run) rather than import.
            failing = [row[0] for row in lapsed if row[2] >= MAX_TAKEOVERS and not row[3]]
            if failing:
                now = self._now()
                await db.execute(d(sql.FAIL_LAPSED), (now, now, json.dumps(failing)))
                for import_id in failing:
                    await self._insert_errors(
                        db, import_id, [(1, TAKEN_OVER_TOO_OFTEN)], failure=True
                    )
            await self._requeue(db, [row[0] for row in lapsed if row[0] not in failing],
                                takeovers=1)
            claims.extend(row[1] for row in lapsed if row[1] is not None)
        return len(lapsed)

    async def _requeue(self, db: Connection, import_ids: list[int], *, takeovers: int) -> None:
        """Put imports whose rows this transaction has locked back in the queue, without what
        their runs wrote but the tree: they start over."""
        if not import_ids:
            return
        ids = json.dumps(import_ids)
        for template in (sql.REQUEUE_ERRORS, sql.REQUEUE_WARNINGS, sql.REQUEUE_GROUP_STAMPS,
                         sql.REQUEUE_OUTCOME_STAMPS):
            await db.execute(self.dialect(template), (ids,))
        await db.execute(self.dialect(sql.REQUEUE), (self._now(), takeovers, ids))

    async def fail_stalled_imports(self, no_progress_since: datetime) -> list[int]:
        since = self.dialect.encode_time(no_progress_since)
        claims: list[str] = []
        async with self._for_claims("stall", claims) as db:
            now = self._now()
            failed = await db.fetch(self.dialect(sql.FAIL_STALLED), (now, now, since))
            for import_id, _ in failed:
                await self._insert_errors(db, import_id, [(1, STALLED)], failure=True)
            claims.extend(claim for _, claim in failed)
        return [import_id for import_id, _ in failed] + await self._cancel_stalled(since)

    async def _cancel_stalled(self, since: Any) -> list[int]:
        """Undo the stalled imports that were asked to cancel, and end them ``cancelled``: the
        tree's lock is taken only when there is one (the watchdog looks every poll)."""
        if not await self._read(sql.STALLED_CANCELS, (since,)):
            return []
        claims: list[str] = []
        async with self._for_claims("stall", claims, self._serialized("tree")) as db:
            stalled = await db.fetch(self.dialect(sql.LOCK_STALLED_CANCELS), (since,))
            for import_id, _ in stalled:
                await self._cancel(db, import_id)
            claims.extend(claim for _, claim in stalled)
        return [import_id for import_id, _ in stalled]

    async def count_queued_imports(self, root_account_id: int) -> int:
        return int((await self._read(sql.COUNT_QUEUED, (root_account_id,)))[0][0])

    async def delete_attachment(self, attachment_id: int) -> None:
        async with self._transaction() as db:
            rows = await db.fetch(
                self.dialect(sql.DELETE_UPLOADS + " RETURNING storage_key"),
                (json.dumps([attachment_id]),),
            )
        await self._forget_uploads([row[0] for row in rows])

    async def delete_old_uploads(self, created_before: datetime) -> int:
        async with self._transaction() as db:
            rows = await db.fetch(
                self.dialect(sql.OLD_UPLOADS), (self.dialect.encode_time(created_before),)
            )
            ids = json.dumps([row[0] for row in rows])
            await db.execute(self.dialect(sql.UNLINK_UPLOADS), (ids,))
            await db.execute(self.dialect(sql.DELETE_UPLOADS), (ids,))
        await self._forget_uploads([row[1] for row in rows])
        return len(rows)

    async def _forget_uploads(self, storage_keys: list[str]) -> None:
        """After their rows are gone: whatever else the backend kept of these uploads."""

    async def created_group_ids(self, import_id: int) -> list[int]:
        return [row[0] for row in await self._read(sql.CREATED_GROUP_IDS, (import_id,))]

    async def _insert_errors(
        self,
        db: Connection,
        import_id: int,
        errors: Sequence[tuple[int, str]],
        failure: bool = False,
    ) -> None:
        if errors:
            await db.executemany(self.dialect(sql.INSERT_ERROR), [
                (import_id, row, cut_message(message), failure) for row, message in errors
            ])

    async def _insert_warnings(
        self, db: Connection, import_id: int, warnings: Sequence[tuple[int, str]]
    ) -> None:
        if warnings:
            await db.executemany(self.dialect(sql.INSERT_WARNING), [
                (import_id, row, cut_message(message)) for row, message in warnings
            ])

    # announcing ends, and extensions' jobs ---------------------------------------------------

    async def unannounced_imports(self, limit: int) -> list[OutcomeImport]:
        # Ends are few: each is read as the API shows it.
        ended = await self._read(sql.UNANNOUNCED_IMPORTS, (limit,))
        found = [await self.get_import(ContextRef(kind, context_id), import_id)
                 for import_id, kind, context_id in ended]
        return [outcome_import for outcome_import in found if outcome_import is not None]

    async def mark_announced(self, import_ids: Sequence[int]) -> None:
        if import_ids:
            async with self._transaction() as db:
                await db.execute(
                    self.dialect(sql.MARK_ANNOUNCED), (self._now(), json.dumps(list(import_ids)))
                )

    async def add_jobs(
        self, extension: str, payloads: Mapping[str, Any], due_at: datetime
    ) -> None:
        if not payloads:
            return
        d = self.dialect
        async with self._transaction() as db:
            now, due = self._now(), d.encode_time(due_at)
            await db.executemany(d(sql.ADD_JOB), [
                (extension, key, json.dumps(payload), due, now, now)
                for key, payload in payloads.items()
            ])

    async def claim_jobs(
        self, extension: str, now: datetime, lease: float, limit: int
    ) -> list[Job]:
        d = self.dialect
        due_again = d.encode_time(now + timedelta(seconds=lease))
        async with self._transaction() as db:
            rows = await db.fetch(d(sql.CLAIM_JOBS), (
                due_again, self._now(), extension, extension, d.encode_time(now), limit
            ))
        return sorted(map(_job, rows), key=lambda job: (job.created_at, job.key))

    async def retry_job(
        self, extension: str, key: str, due_at: datetime, error: str | None = None
    ) -> None:
        d = self.dialect
        async with self._transaction() as db:
            await db.execute(
                d(sql.RETRY_JOB), (d.encode_time(due_at), error, self._now(), extension, key)
            )

    async def end_job(
        self,
        extension: str,
        key: str,
        state: Literal["done", "failed"],
        now: datetime,
        error: str | None = None,
    ) -> None:
        d = self.dialect
        async with self._transaction() as db:
            await db.execute(
                d(sql.END_JOB),
                (state, error, self._now(), d.encode_time(now), extension, key),
            )

    async def jobs(self, extension: str, page: Page) -> tuple[list[Job], int]:
        rows = await self._read(sql.JOBS, (extension, page.limit, page.offset))
        total = await self._read(sql.COUNT_JOBS, (extension,))
        return [_job(row) for row in rows], int(total[0][0])

    # the outcome tree ------------------------------------------------------------------------

    async def root_group(self, context: ContextRef, title: str) -> int:
        rows = await self._read(sql.SELECT_ROOT, (context.type, context.id))
        if rows:
            return int(rows[0][0])
        async with self._serialized("tree") as db:
            return await self._batch_of(db).root_group(context, title)

    async def get_group(self, group_id: int) -> StoredGroup | None:
        rows = await self._read(sql.SELECT_GROUP, (group_id,))
        return _group(rows[0]) if rows else None

    async def group_ancestors(self, group_id: int) -> list[int]:
        return [row[0] for row in await self._read(sql.SELECT_ANCESTORS, (group_id,))]

    async def get_outcome(self, outcome_id: int) -> StoredOutcome | None:
        rows = await self._read(sql.SELECT_OUTCOME, (outcome_id,))
        return _outcome(rows[0]) if rows else None

    async def subgroups(self, group_id: int, page: Page) -> tuple[list[StoredGroup], int]:
        rows = await self._read(sql.SUBGROUPS, (group_id, page.limit, page.offset))
        total = await self._read(sql.COUNT_SUBGROUPS, (group_id,))
        return [_group(row) for row in rows], total[0][0]

    async def group_links(self, group_id: int, page: Page) -> tuple[list[LinkedOutcome], int]:
        rows = await self._read(sql.GROUP_LINKS, (group_id, page.limit, page.offset))
        total = await self._read(sql.COUNT_GROUP_LINKS, (group_id,))
        return [_linked(row) for row in rows], total[0][0]

    async def context_links(
        self, context: ContextRef, page: Page
    ) -> tuple[list[LinkedOutcome], int]:
        params = (context.type, context.id)
        rows = await self._read(sql.CONTEXT_LINKS, (*params, page.limit, page.offset))
        total = await self._read(sql.COUNT_CONTEXT_LINKS, params)
        return [_linked(row) for row in rows], total[0][0]

    async def context_groups(
        self, context: ContextRef, page: Page
    ) -> tuple[list[StoredGroup], int]:
        params = (context.type, context.id)
        rows = await self._read(sql.CONTEXT_GROUPS, (*params, page.limit, page.offset))
        total = await self._read(sql.COUNT_CONTEXT_GROUPS, params)
        return [_group(row) for row in rows], total[0][0]

    async def friendly_descriptions(
        self, context: ContextRef, outcome_ids: Iterable[int]
    ) -> dict[int, str]:
        rows = await self._read(
            sql.FRIENDLY_DESCRIPTIONS, (context.type, context.id, json.dumps(list(outcome_ids)))
        )
        return {outcome_id: description for outcome_id, description in rows}

    async def tree_group_chunks(
        self, context: ContextRef, size: int
    ) -> AsyncGenerator[list[TreeGroup], None]:
        after = (-1, 0)  # below the root group's depth (0)
        while True:
            rows = await self._read(
                sql.TREE_GROUPS_AFTER, (context.type, context.id, *after, size)
            )
            if rows:
                yield [_tree_group(row) for row in rows]
            if len(rows) < size:
                return
            after = (rows[-1][0], rows[-1][1])

    async def tree_outcome_chunks(
        self, context: ContextRef, size: int
    ) -> AsyncGenerator[list[TreeOutcome], None]:
        after = 0
        while True:
            rows = await self._read(
                sql.TREE_OUTCOMES_AFTER, (context.type, context.id, after, after, size)
            )
            if rows:
                yield await self._tree_outcomes(context, [_outcome(row) for row in rows])
            if len(rows) < size:
                return
            after = rows[-1][0]

    async def _tree_outcomes(
        self, context: ContextRef, outcomes: list[StoredOutcome]
    ) -> list[TreeOutcome]:
        """The chunk's outcomes with their parents (three reads, whatever its size)."""
        ids = [outcome.id for outcome in outcomes]
        links = await self._read(
            sql.TREE_PARENTS, (context.type, context.id, ids[0], ids[-1], json.dumps(ids))
        )
        groups = sorted({group_id for _, group_id, _, is_root in links if not is_root})
        hidden = {row[0] for row in await self._read(sql.HIDDEN_GROUPS, (json.dumps(groups),))}
        parents: dict[int, list[tuple[int, str | None]]] = {}
        for outcome_id, group_id, guid, is_root in links:
            if group_id not in hidden:
                shown = parents.setdefault(outcome_id, [])
                if not is_root:
                    shown.append((group_id, guid))
        friendly = await self.friendly_descriptions(context, parents)
        return [
            TreeOutcome(outcome, friendly.get(outcome.id), tuple(parents[outcome.id]))
            for outcome in outcomes
            if outcome.id in parents
        ]

    @asynccontextmanager
    async def batch(self, import_id: int, runner: str) -> AsyncIterator[SqlBatch]:
        cancelled = None
        async with self._for_claims("batch", [runner], self._serialized("tree")) as db:
            owned = await db.fetch(self.dialect(sql.OWN_IMPORT), (import_id, runner))
            if not owned:
                raise ImportTakenOver(import_id)
            if owned[0][1]:  # a cancel was asked for: undo, in this transaction, and stop
                cancelled = await self._cancel(db, import_id)
            else:
                tx = self._batch_of(db)
                tx.journal = owned[0][2] == "kept"
                yield tx
        if cancelled is not None:
            raise ImportCancelled(cancelled)

    @asynccontextmanager
    async def dry_run(self) -> AsyncIterator[SqlBatch]:
        try:
            async with self._serialized("tree") as db:
                tx = self._batch_of(db)
                tx.dry_run = True
                yield tx
                raise _RolledBack  # the transaction's exit rolls back what the body wrote
        except _RolledBack:
            pass


class _RolledBack(Exception):
    """Ends a dry run's transaction the way an error would: rolled back."""


class SqlBatch:
    """One batch's write transaction (see :meth:`Store.batch`); a backend adds
    :meth:`reserve_ids`."""

    #: Canvas's find_parents (a backend may say it another way).
    select_parents = sql.SELECT_PARENTS

    def __init__(self, db: Connection, store: SqlStore) -> None:
        self._db = db
        self._store = store
        self._sql = store.dialect
        #: In :meth:`SqlStore.dry_run`: apply writes only the tree (see there).
        self.dry_run = False
        #: The run journals what it changes (see statements.JOURNAL_GROUPS).
        self.journal = False

    async def reserve_ids(self, groups: int, outcomes: int) -> tuple[list[int], list[int]]:
        raise NotImplementedError

    async def root_group(self, context: ContextRef, title: str) -> int:
        now = self._store._now()
        await self._db.execute(
            self._sql(sql.INSERT_ROOT),
            (context.type, context.id, title, sort_title(title), now, now),
        )
        rows = await self._db.fetch(self._sql(sql.SELECT_ROOT), (context.type, context.id))
        return int(rows[0][0])

    async def lookup(self, lookup: Lookup) -> Existing:
        existing = Existing()
        if lookup.outcome_guids or lookup.outcome_ids:
            await self._lookup_outcomes(lookup, existing)
        await self._lookup_groups(lookup, existing)
        if lookup.group_keys or lookup.group_ids:
            await self._lookup_below(lookup, existing)
        return existing

    async def _lookup_groups(self, lookup: Lookup, existing: Existing) -> None:
        """The groups the batch names, and the parents its rows name (among the groups its
        import processed)."""
        if lookup.group_keys or lookup.group_ids:
            rows = await self._db.fetch(self._sql(sql.SELECT_GROUPS), _groups_named(lookup))
            _found_groups(lookup, existing, rows)
        if lookup.parent_guids:
            rows = await self._db.fetch(self._sql(self.select_parents), _parents_named(lookup))
            _found_parents(existing, rows)

    async def _lookup_below(self, lookup: Lookup, existing: Existing) -> None:
        """What lies below the existing groups the batch's rows delete."""
        roots = {group.id for key, group in existing.groups_by_key.items()
                 if key in lookup.deleting_keys}
        roots.update(lookup.deleting_ids & existing.groups_by_id.keys())
        if not roots:
            return
        rows = await self._db.fetch(self._sql(sql.SELECT_BELOW), (json.dumps(sorted(roots)),))
        groups = [row[0] for row in rows]
        reached = set(groups)
        for group_id, parent_id, state in rows:
            if state == "active" and parent_id in reached:  # a root may lie below another
                existing.children.setdefault(parent_id, []).append(group_id)
        for row in await self._db.fetch(self._sql(sql.SELECT_LINKS_IN), (json.dumps(groups),)):
            link = _link(row)
            existing.links_in.setdefault(link.group_id, []).append(link)

    async def _lookup_outcomes(self, lookup: Lookup, existing: Existing) -> None:
        rows = await self._db.fetch(
            self._sql(sql.SELECT_OUTCOMES),
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
            links = await self._db.fetch(
                self._sql(sql.SELECT_LINKS), (json.dumps(list(existing.links_by_outcome)),)
            )
            for row in links:
                link = _link(row)
                existing.links_by_outcome[link.outcome_id].append(link)

    async def apply(self, batch: BatchWrite) -> None:
        now = self._store._now()
        if self.journal:
            await self._journal_before(batch)
        await self._apply_groups(batch, now)
        await self._apply_outcomes(batch, now)
        await self._apply_links(batch, now)
        if self.journal:
            await self._journal_created(batch)
        if self.dry_run:
            return
        changed = await self._db.execute(
            self._sql(sql.PROGRESS),
            (batch.progress, now, now, now, _counts_json(batch.counts), batch.import_id,
             batch.runner),
        )
        if changed == 0:
            raise ImportTakenOver(batch.import_id)
        await self._store._insert_errors(self._db, batch.import_id, batch.errors)
        await self._store._insert_warnings(self._db, batch.import_id, batch.warnings)

    async def _journal_before(self, batch: BatchWrite) -> None:
        """The before-image of every row the batch changes, one statement per table. Rows it
        creates cannot have one: their ids are journaled as not existing without a look
        (:meth:`_journal_new`); links and descriptions it creates, whose ids the database
        gives, by :meth:`_journal_created`."""
        db, q, stamp = self._db, self._sql, batch.import_id
        new_groups, new_outcomes = _created_ids(batch)
        # A row written unchanged has only its stamp journaled (unless also changed or deleted).
        changed_groups = ({g.id for g in batch.groups if g.changed}
                          | batch.deleted_groups) - new_groups
        stamped_groups = {g.id for g in batch.groups} - changed_groups - new_groups
        changed_outcomes = {o.id for o in batch.outcomes if o.changed} - new_outcomes
        stamped_outcomes = {o.id for o in batch.outcomes} - changed_outcomes - new_outcomes
        for statement, ids in ((sql.JOURNAL_GROUPS, changed_groups),
                               (sql.JOURNAL_GROUP_STAMPS, stamped_groups),
                               (sql.JOURNAL_OUTCOMES, changed_outcomes),
                               (sql.JOURNAL_OUTCOME_STAMPS, stamped_outcomes)):
            if ids:
                await db.execute(q(statement), (stamp, json.dumps(sorted(ids))))
        if new_groups or new_outcomes:
            await self._journal_new(stamp, sorted(new_groups), sorted(new_outcomes))
        # A link into a group or to an outcome this batch creates cannot exist yet, nor an
        # outcome's description: most of a first import's need no look before (descriptions
        # are journaled as created after; such links not at all, see _journal_created).
        _, existing = _fresh_and_known(batch, batch.links)
        if existing or batch.unlinks:
            await db.execute(q(sql.JOURNAL_LINKS), (
                stamp, json.dumps(sorted(batch.unlinks)), stamp, _link_pairs(existing),
            ))
        described = [f for f in batch.friendly_descriptions if f.outcome_id not in new_outcomes]
        if described:
            await db.execute(q(sql.JOURNAL_FRIENDLY), (stamp, _friendly_keys(described)))

    async def _journal_new(self, stamp: int, groups: list[int], outcomes: list[int]) -> None:
        """Groups and outcomes the batch creates, journaled as not existing before it."""
        for statement, ids in ((sql.JOURNAL_NEW_GROUPS, groups),
                               (sql.JOURNAL_NEW_OUTCOMES, outcomes)):
            if ids:
                await self._db.execute(self._sql(statement), (stamp, json.dumps(ids)))

    async def _journal_created(self, batch: BatchWrite) -> None:
        """Links and descriptions the batch created. Not a link into or to a row the batch
        creates: the revert removes every link that names a row it removes, and such a link of
        a later import blocks the revert (``statements.REVERT_BLOCKER``)."""
        db, q, stamp = self._db, self._sql, batch.import_id
        _, known = _fresh_and_known(batch, batch.links)
        if known:
            await db.execute(q(sql.JOURNAL_NEW_LINKS), (stamp, _link_pairs(known)))
        if any(f.description is not None for f in batch.friendly_descriptions):
            await db.execute(
                q(sql.JOURNAL_NEW_FRIENDLY), (stamp, _friendly_keys(batch.friendly_descriptions))
            )

    async def _apply_groups(self, batch: BatchWrite, now: Any) -> None:
        # New groups first (a parent before its children, in row order), so that an updated
        # group can move under a new one.
        stamp = batch.import_id
        new = [g for g in batch.groups if g.new]
        if new:
            await self._insert_groups(new, stamp, now)
        updated = [g for g in batch.groups if not g.new and g.changed]
        if updated:
            await self._update_groups(updated, stamp, now)
        await self._stamp(sql.STAMP_GROUPS, stamp, [g.id for g in batch.groups if not g.changed])
        if batch.deleted_groups:
            await self._db.execute(
                self._sql(sql.DELETE_GROUPS), (now, json.dumps(sorted(batch.deleted_groups)))
            )

    async def _insert_groups(self, new: list[GroupWrite], stamp: int, now: Any) -> None:
        await self._db.executemany(self._sql(sql.INSERT_GROUP), [
            (g.id, g.context.type, g.context.id, g.parent_id, g.vendor_guid, g.title,
             sort_title(g.title), g.description, g.workflow_state, stamp, now, now)
            for g in new
        ])

    async def _update_groups(self, updated: list[GroupWrite], stamp: int, now: Any) -> None:
        await self._db.executemany(self._sql(sql.UPDATE_GROUP), [
            (g.parent_id, g.title, sort_title(g.title), g.description, g.workflow_state,
             stamp, now, g.id)
            for g in updated
        ])

    async def _apply_outcomes(self, batch: BatchWrite, now: Any) -> None:
        new = [o for o in batch.outcomes if o.new]
        if new:
            await self._insert_outcomes(new, batch.import_id, now)
        updated = [o for o in batch.outcomes if not o.new and o.changed]
        if updated:
            await self._update_outcomes(updated, batch.import_id, now)
        unchanged = [o.id for o in batch.outcomes if not o.changed]
        await self._stamp(sql.STAMP_OUTCOMES, batch.import_id, unchanged)

    async def _insert_outcomes(self, new: list[OutcomeWrite], stamp: int, now: Any) -> None:
        await self._db.executemany(self._sql(sql.INSERT_OUTCOME), [
            (o.id, o.context.type, o.context.id, o.vendor_guid, *_outcome_fields(o.fields),
             stamp, now, now)
            for o in new
        ])

    async def _update_outcomes(self, updated: list[OutcomeWrite], stamp: int, now: Any) -> None:
        await self._db.executemany(self._sql(sql.UPDATE_OUTCOME), [
            (*_outcome_fields(o.fields), stamp, now, o.id) for o in updated
        ])

    async def _stamp(self, statement: str, import_id: int, ids: list[int]) -> None:
        """Re-stamp unchanged objects with the import, all in one statement."""
        if ids:
            await self._db.execute(self._sql(statement), (import_id, json.dumps(ids)))

    async def _apply_links(self, batch: BatchWrite, now: Any) -> None:
        db, q = self._db, self._sql
        if batch.links:
            await self._link(batch, now)
        if batch.unlinks:
            await db.execute(q(sql.UNLINK), (now, json.dumps(sorted(batch.unlinks))))
        setting = [f for f in batch.friendly_descriptions if f.description is not None]
        if setting:
            await self._set_friendly(setting, batch.import_id, now)
        retiring = [f for f in batch.friendly_descriptions if f.description is None]
        if retiring:
            await self._retire_friendly(retiring, now)

    async def _set_friendly(
        self, setting: list[FriendlyDescriptionWrite], stamp: int, now: Any
    ) -> None:
        await self._db.executemany(self._sql(sql.SET_FRIENDLY), [
            (f.context.type, f.context.id, f.outcome_id, f.description, now, now)
            for f in setting
        ])

    async def _retire_friendly(self, retiring: list[FriendlyDescriptionWrite], now: Any) -> None:
        await self._db.executemany(self._sql(sql.RETIRE_FRIENDLY), [
            (now, f.context.type, f.context.id, f.outcome_id) for f in retiring
        ])

    async def _link(self, batch: BatchWrite, now: Any) -> None:
        """The batch's links (in a journaled run, :meth:`_journal_created` journals those it
        created)."""
        await self._db.executemany(self._sql(sql.LINK), [
            (link.context.type, link.context.id, link.group_id, link.outcome_id, now, now)
            for link in batch.links
        ])


async def _check_queue(
    db: Connection, d: Dialect, root_account_id: int, max_queued: int | None
) -> None:
    """ImportQueueFull when the root account already has ``max_queued`` imports waiting (in
    the queue's transaction, so concurrent requests are counted)."""
    if max_queued is not None:
        [(queued,)] = await db.fetch(d(sql.COUNT_QUEUED), (root_account_id,))
        if queued >= max_queued:
            raise ImportQueueFull(queued)


def _import_from_row(
    row: Sequence[Any],
    errors: Iterable[Sequence[Any]] = (),
    warnings: Iterable[Sequence[Any]] = (),
) -> OutcomeImport:
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
        created_at=as_time(row[10]),  # type: ignore[arg-type]
        updated_at=as_time(row[11]),  # type: ignore[arg-type]
        ended_at=as_time(row[12]),
        errors=tuple((r, m) for r, m in errors),
        encoding=row[13],
        warnings=tuple((r, m) for r, m in warnings),
        counts=ImportCounts.from_json(json.loads(row[14])) if row[14] else ImportCounts(),
        dry_run=bool(row[15]),
        reverts=row[16],
        reverted_by=row[17],
        cancel_requested=bool(row[18]),
        journal=row[19],
    )


def _groups_named(lookup: Lookup) -> tuple[str, str]:
    """SELECT_GROUPS' parameters."""
    return json.dumps(sorted(lookup.group_ids)), json.dumps(sorted(lookup.group_keys))


def _found_groups(lookup: Lookup, existing: Existing, rows: Iterable[Sequence[Any]]) -> None:
    for row in rows:
        group = _group(row)
        if group.id in lookup.group_ids:
            existing.groups_by_id[group.id] = group
        key = (group.context.type, group.context.id, group.vendor_guid)
        if key in lookup.group_keys:
            existing.groups_by_key[key] = group  # type: ignore[index]


def _parents_named(lookup: Lookup) -> tuple[int, str]:
    """SELECT_PARENTS' parameters."""
    return lookup.import_id, json.dumps(sorted(lookup.parent_guids))


def _found_parents(existing: Existing, rows: Iterable[Sequence[Any]]) -> None:
    for row in rows:
        parent = _group(row)
        existing.parents_by_guid.setdefault(parent.vendor_guid, []).append(parent)  # type: ignore[arg-type]


def _created_ids(batch: BatchWrite) -> tuple[set[int], set[int]]:
    """The ids of the groups and of the outcomes the batch creates (nothing can name them yet:
    no link into or to them, no description of them)."""
    return {g.id for g in batch.groups if g.new}, {o.id for o in batch.outcomes if o.new}


def _fresh_and_known(
    batch: BatchWrite, links: Iterable[LinkWrite]
) -> tuple[list[LinkWrite], list[LinkWrite]]:
    """``links`` (the batch's) split in two: those into a group or to an outcome the batch
    creates, which cannot exist yet, and the others, which may."""
    new_groups, new_outcomes = _created_ids(batch)
    fresh: list[LinkWrite] = []
    known: list[LinkWrite] = []
    for link in links:
        created = link.group_id in new_groups or link.outcome_id in new_outcomes
        (fresh if created else known).append(link)
    return fresh, known


def _link_pairs(links: Iterable[LinkWrite]) -> str:
    return json.dumps([[link.group_id, link.outcome_id] for link in links])


def _friendly_keys(writes: Iterable[FriendlyDescriptionWrite]) -> str:
    return json.dumps([[f.context.type, f.context.id, f.outcome_id] for f in writes])


def _job(row: Sequence[Any]) -> Job:
    return Job(
        extension=row[0], key=row[1], payload=json.loads(row[2]), state=row[3],
        attempts=row[4], due_at=as_time(row[5]), last_error=row[6],
        created_at=as_time(row[7]), updated_at=as_time(row[8]),  # type: ignore[arg-type]
        ended_at=as_time(row[9]),
    )


def _counts_json(counts: ImportCounts | None) -> str | None:
    return None if counts is None else json.dumps(counts.as_json(), separators=(",", ":"))


def _shown_import(rows: Sequence[Sequence[Any]]) -> OutcomeImport | None:
    """The import of ``statements.with_messages_shown``'s rows, with its errors and warnings
    shown."""
    if not rows:
        return None
    width = len(rows[0]) - 3
    shown: dict[int, list[Sequence[Any]]] = {sql.SHOWN_ERROR: [], sql.SHOWN_WARNING: []}
    for row in rows:
        if row[width] is not None:
            shown[row[width]].append(row[width + 1:])
    return _import_from_row(rows[0][:width], shown[sql.SHOWN_ERROR], shown[sql.SHOWN_WARNING])


def _group(row: Sequence[Any]) -> StoredGroup:
    return StoredGroup(row[0], ContextRef(row[1], row[2]), *row[3:9])


def _tree_group(row: Sequence[Any]) -> TreeGroup:
    """A row of ``statements.TREE_GROUPS_AFTER``: the depth, the group's 9 columns, then its
    parent's vendor_guid and whether the parent is the root group."""
    group = _group(row[1:10])
    return TreeGroup(group, None if row[11] else (row[4], row[10]))


def _outcome(row: Sequence[Any]) -> StoredOutcome:
    return StoredOutcome(
        row[0], ContextRef(row[1], row[2]), *row[3:11], _ratings_of(row[11]), *row[12:14]
    )


@lru_cache(maxsize=4096)
def _ratings_of(stored: str) -> tuple[tuple[float, str], ...]:
    """Cached, as ``_ratings_json``: a re-import reads every outcome it names, and decoding
    each one's JSON was its largest cost."""
    return tuple((float(points), text) for points, text in json.loads(stored))


def _link(row: Sequence[Any]) -> StoredLink:
    return StoredLink(row[0], row[1], row[2], ContextRef(row[3], row[4]), row[5])


def _linked(row: Sequence[Any]) -> LinkedOutcome:
    """A row of ``statements._LINKED``: the link's 6 columns, the outcome's 14, the group's 9."""
    return LinkedOutcome(_link(row[:6]), _outcome(row[6:20]), _group(row[20:29]))


def _outcome_fields(fields: OutcomeFields) -> tuple[Any, ...]:
    return (
        fields.title, sort_title(fields.title), fields.description, fields.display_name,
        fields.calculation_method, fields.calculation_int, fields.mastery_points,
        fields.points_possible, _ratings_json(fields.ratings), fields.workflow_state,
    )


@lru_cache(maxsize=4096)
def _ratings_json(ratings: tuple[tuple[float, str], ...]) -> str:
    """Cached: a file has few distinct scales, and json.dumps per row is a large cost."""
    return json.dumps(ratings)
