"""The :class:`~lms_outcomes_plugin.storage.Store` conformance suite (pytest).

A storage backend's tests subclass :class:`StoreConformance` under a name pytest collects and
override its one fixture, ``store``: a new store on empty storage, not yet opened::

    from lms_outcomes_plugin.testing import StoreConformance

    class TestMyStore(StoreConformance):
        @pytest.fixture
        def store(self, tmp_path):
            return MyStore.from_url(f"my:///{tmp_path}/outcomes", {})

Each test opens the store in an event loop of its own, uses it as the plugin does, and closes
it; no pytest plugin for asyncio is needed. Both built-in backends pass it.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import os
import subprocess
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import TypeVar

import pytest

from lms_outcomes_plugin.models import (
    ERRORS_SHOWN,
    MAX_ERROR_LENGTH,
    REVERT,
    WARNINGS_SHOWN,
    Attachment,
    ContextRef,
    NewImport,
    OutcomeImport,
    RevertRefused,
    journal_expired,
    revert_blocked,
    utcnow,
)
from lms_outcomes_plugin.storage import (
    BatchWrite,
    FriendlyDescriptionWrite,
    GroupWrite,
    ImportCancelled,
    ImportEnded,
    ImportQueueFull,
    ImportTakenOver,
    KeyClaim,
    KeyedRequest,
    KeyTakenOver,
    LinkWrite,
    Lookup,
    OutcomeFields,
    OutcomeWrite,
    Page,
    Store,
    StoredGroup,
    TreeGroup,
)

#: Root account 1 with a course, and root account 2.
ACCOUNT = ContextRef("account", 1)
COURSE = ContextRef("course", 10)
OTHER_ROOT = ContextRef("account", 2)
ROOTS = {ACCOUNT: 1, COURSE: 1, OTHER_ROOT: 2}
#: More than one chunk of the PostgreSQL backend (1 MiB), bytes of every value.
UPLOAD = bytes(range(256)) * 6144
FIELDS = OutcomeFields(
    title="Decode words",
    description="<p>Reads</p>",
    display_name="Decoding",
    calculation_method="n_mastery",
    calculation_int=3,
    mastery_points=3.0,
    points_possible=5.0,
    ratings=((5.0, "Exceeds"), (3.0, "Meets"), (0.0, "Does not meet")),
    workflow_state="active",
)
EVERYTHING = Page(offset=0, limit=100)

StoreTest = TypeVar("StoreTest", bound="StoreConformance")


def with_open_store(
    check: Callable[[StoreTest, Store], Awaitable[None]],
) -> Callable[[StoreTest, Store], None]:
    """A test of ``check``, run in an event loop of its own on the ``store`` fixture, opened
    before and closed after."""

    @functools.wraps(check)
    def test(self: StoreTest, store: Store) -> None:
        async def run() -> None:
            await store.open()
            try:
                await check(self, store)
            finally:
                await store.close()

        asyncio.run(run())

    return test


async def upload(store: Store, data: bytes = b"title,vendor_guid\n") -> Attachment:
    """``data`` stored as an upload, in 64 KiB chunks as the API writes them."""
    writer = store.attachment_writer()
    for start in range(0, len(data), 65536):
        await writer.write(data[start : start + 65536])
    return await writer.commit("outcomes.csv", "text/csv")


async def queue(
    store: Store, context: ContextRef = ACCOUNT, max_queued: int | None = None
) -> OutcomeImport:
    """A new import of ``context``, queued."""
    new = NewImport(context, ROOTS[context], "instructure_csv", user_id=7)
    return await store.create_import(new, await upload(store), max_queued)


async def running(store: Store, runner: str = "runner-1") -> OutcomeImport:
    """A new import of ACCOUNT, claimed by ``runner``."""
    queued = await queue(store)
    claimed = await store.claim_next_import(runner)
    assert claimed is not None
    assert claimed.id == queued.id
    return claimed


RENAMED = OutcomeFields("Renamed", None, None, "highest", None, 2.0, 4.0, ((4.0, "Top"),),
                        "active")


@dataclass(frozen=True)
class UndoBase:
    """The tree an import made, for later imports to change: below the root ``top`` (with
    ``child``), ``side`` and ``doomed``; outcome ``kept`` linked in ``top`` with a friendly
    description, ``linked`` in ``child`` (that link: ``link``)."""

    import_id: int
    root: int
    top: int
    child: int
    side: int
    doomed: int
    kept: int
    linked: int
    link: int


async def undo_base(store: Store) -> UndoBase:
    """The base tree, imported by an import that has ended."""
    root = await store.root_group(ACCOUNT, "Account 1")
    claimed = await running(store)
    async with store.batch(claimed.id, "runner-1") as tx:
        (top, child, side, doomed), (kept, linked) = await tx.reserve_ids(4, 2)
        await tx.apply(BatchWrite(
            claimed.id, "runner-1", 100,
            groups=[GroupWrite(top, ACCOUNT, "top", "Top", "first", "active", root),
                    GroupWrite(child, ACCOUNT, "child", "Child", "", "active", top),
                    GroupWrite(side, ACCOUNT, "side", "Side", "", "active", root),
                    GroupWrite(doomed, ACCOUNT, "doomed", "Doomed", "", "active", root)],
            outcomes=[OutcomeWrite(kept, ACCOUNT, "o-kept", FIELDS),
                      OutcomeWrite(linked, ACCOUNT, "o-linked", FIELDS)],
            links=[LinkWrite(top, kept, ACCOUNT), LinkWrite(child, linked, ACCOUNT)],
            friendly_descriptions=[FriendlyDescriptionWrite(ACCOUNT, kept, "Friendly")],
        ))  # fmt: skip
    await store.finish_import(claimed.id, "runner-1", "succeeded")
    [in_child], _ = await store.group_links(child, EVERYTHING)
    return UndoBase(claimed.id, root, top, child, side, doomed, kept, linked, in_child.link.id)


async def snapshot(store: Store, base: UndoBase) -> tuple[object, ...]:
    """The account's tree as the read side shows it: its groups, its active links with their
    outcomes, and the friendly descriptions of the base's outcomes."""
    return (
        await store.context_groups(ACCOUNT, EVERYTHING),
        await store.context_links(ACCOUNT, EVERYTHING),
        await store.friendly_descriptions(ACCOUNT, [base.kept, base.linked]),
        await store.get_outcome(base.kept),
        await store.get_outcome(base.linked),
    )


def rename_top(import_id: int, runner: str, base: UndoBase, fresh: int, new: bool) -> BatchWrite:
    """Renames ``top`` and creates ``fresh`` below it."""
    return BatchWrite(import_id, runner, 50, groups=[
        GroupWrite(base.top, ACCOUNT, "top", "Top renamed", "", "active", base.root, new=False),
        GroupWrite(fresh, ACCOUNT, "fresh", "Fresh", "", "active", base.top, new=new),
    ])


async def ended(
    store: Store,
    runner: str,
    write: Callable[[int, tuple[list[int], list[int]]], BatchWrite],
    groups: int = 0,
    outcomes: int = 0,
) -> tuple[OutcomeImport, tuple[list[int], list[int]]]:
    """A new import of ACCOUNT, run as one batch of ``write(import id, reserved ids)`` and
    ended ``succeeded``; with the ids."""
    claimed = await running(store, runner)
    async with store.batch(claimed.id, runner) as tx:
        ids = await tx.reserve_ids(groups, outcomes)
        await tx.apply(write(claimed.id, ids))
    finished = await store.finish_import(claimed.id, runner, "succeeded")
    assert finished is not None
    return finished, ids


def revert_of() -> NewImport:
    return NewImport(ACCOUNT, ROOTS[ACCOUNT], REVERT, user_id=7)


async def reverted(store: Store, target: int) -> OutcomeImport:
    """``target`` reverted: the revert queued, claimed and run."""
    revert = await store.queue_revert(revert_of(), target)
    claimed = await store.claim_next_import("reverter")
    assert claimed is not None
    assert claimed.id == revert.id
    done = await store.revert_import(revert.id, "reverter", 30)
    assert done is not None
    return done


async def blocks_then_reverted(store: Store, target: int, blocker: int) -> None:
    """Reverting ``target`` is refused, naming ``blocker``; then ``blocker`` is reverted."""
    with pytest.raises(RevertRefused) as refused:
        await store.queue_revert(revert_of(), target)
    assert str(refused.value) == revert_blocked(blocker)
    await reverted(store, blocker)


def sha256_in_another_process(path: str) -> str:
    """What a process that opens ``path`` by name reads there, as the parse worker does."""
    code = "import hashlib, sys; print(hashlib.sha256(open(sys.argv[1], 'rb').read()).hexdigest())"
    done = subprocess.run(
        [sys.executable, "-c", code, path], capture_output=True, text=True, check=True
    )
    return done.stdout.strip()


class StoreConformance:
    """What the engine, the runner and the API rely on a :class:`Store` for. See the module."""

    @pytest.fixture
    def store(self) -> Store:
        """A new store on empty storage, not yet opened: override it."""
        raise NotImplementedError("override the 'store' fixture with a new, unopened store")

    # uploads ---------------------------------------------------------------------------------

    @with_open_store
    async def test_an_upload_is_a_file_the_parse_worker_opens_by_name(self, store: Store) -> None:
        attachment = await upload(store, UPLOAD)
        assert (attachment.filename, attachment.content_type) == ("outcomes.csv", "text/csv")
        assert attachment.size == len(UPLOAD)
        source = await store.open_attachment(attachment.id)
        try:
            assert isinstance(source.name, str), f"name must be a path, not {source.name!r}"
            assert await asyncio.to_thread(os.path.isfile, source.name)
            assert source.seekable()
            assert source.tell() == 0
            assert await asyncio.to_thread(source.read) == UPLOAD
            digest = await asyncio.to_thread(sha256_in_another_process, source.name)
            assert digest == hashlib.sha256(UPLOAD).hexdigest()
        finally:
            source.close()

    @with_open_store
    async def test_an_aborted_or_deleted_upload_is_gone(self, store: Store) -> None:
        writer = store.attachment_writer()
        await writer.write(b"half an upload")
        await writer.abort()
        attachment = await upload(store)
        await store.delete_attachment(attachment.id)
        with pytest.raises(LookupError):
            await store.open_attachment(attachment.id)

    # the queue -------------------------------------------------------------------------------

    @with_open_store
    async def test_an_import_is_queued_and_shown_to_its_context_only(self, store: Store) -> None:
        first = await queue(store)
        assert (first.workflow_state, first.progress, first.errors) == ("created", 0, ())
        assert (first.context, first.root_account_id, first.user_id) == (ACCOUNT, 1, 7)
        assert first.attachment_id is not None
        assert first.ended_at is None
        shown = await store.get_import(ACCOUNT, first.id)
        assert shown is not None
        assert (shown.id, shown.workflow_state) == (first.id, "created")
        assert await store.get_import(COURSE, first.id) is None
        assert await store.get_import(OTHER_ROOT, first.id) is None
        second = await queue(store, COURSE)
        assert second.id > first.id
        assert await store.count_queued_imports(1) == 2
        assert await store.count_queued_imports(2) == 0

    @with_open_store
    async def test_a_full_queue_refuses_an_import_and_stores_none(self, store: Store) -> None:
        await queue(store, max_queued=1)
        with pytest.raises(ImportQueueFull):
            await queue(store, max_queued=1)
        assert await store.count_queued_imports(1) == 1
        await queue(store, OTHER_ROOT, max_queued=1)  # another root account's queue

    @with_open_store
    async def test_an_idempotency_key_is_held_bound_and_forgotten(self, store: Store) -> None:
        first, rival = KeyClaim(7, "key", "first"), KeyClaim(7, "key", "rival")
        asked = KeyedRequest(ACCOUNT, None)
        now = utcnow()
        fresh = (now - timedelta(days=1), now - timedelta(minutes=2))
        assert await store.reserve_key(first, asked, *fresh) is None
        held = await store.reserve_key(rival, asked, *fresh)
        assert held is not None
        assert (held.request, held.outcome_import_id) == (asked, None)
        assert await store.reserve_key(KeyClaim(8, "key", "other user"), asked, *fresh) is None

        whole = KeyedRequest(ACCOUNT, None, '{"dry_run": false}', "ab" * 32)
        new = NewImport(ACCOUNT, 1, "instructure_csv", user_id=7)
        created = await store.create_import(new, await upload(store), None, (first, whole))
        held = await store.reserve_key(rival, asked, *fresh)
        assert held is not None
        assert (held.request, held.outcome_import_id) == (whole, created.id)
        # Past its day the key is free again; a released key at once.
        later = (now + timedelta(seconds=1), now - timedelta(minutes=2))
        assert await store.reserve_key(rival, asked, *later) is None
        await store.release_key(rival)
        assert await store.reserve_key(first, asked, *fresh) is None

    @with_open_store
    async def test_a_key_taken_over_creates_no_import(self, store: Store) -> None:
        stalled, retry = KeyClaim(7, "key", "stalled"), KeyClaim(7, "key", "retry")
        asked = KeyedRequest(ACCOUNT, None)
        now = utcnow()
        assert await store.reserve_key(stalled, asked, now - timedelta(days=1), now) is None
        await store.renew_key(stalled)
        # Renewed just now: not abandoned unless the cut-off is later than that.
        assert await store.reserve_key(retry, asked, now - timedelta(days=1), now) is not None
        later = utcnow() + timedelta(seconds=1)
        assert await store.reserve_key(retry, asked, now - timedelta(days=1), later) is None
        new = NewImport(ACCOUNT, 1, "instructure_csv", user_id=7)
        with pytest.raises(KeyTakenOver):
            await store.create_import(new, await upload(store), None, (stalled, asked))
        assert await store.count_queued_imports(1) == 0

    @with_open_store
    async def test_a_root_account_runs_one_import_at_a_time_oldest_first(
        self, store: Store
    ) -> None:
        first, second, other = (
            await queue(store), await queue(store, COURSE), await queue(store, OTHER_ROOT)
        )
        claimed = [await store.claim_next_import(f"runner-{n}") for n in range(3)]
        assert [c.id if c else None for c in claimed] == [first.id, other.id, None]
        assert claimed[0] is not None
        assert claimed[0].workflow_state == "importing"
        latest = await store.get_latest_import(ACCOUNT)
        assert latest is not None
        assert latest.id == first.id
        assert await store.get_latest_import(COURSE) is None  # not started yet
        await store.finish_import(first.id, "runner-0", "succeeded")
        next_one = await store.claim_next_import("runner-0")
        assert next_one is not None
        assert next_one.id == second.id
        latest = await store.get_latest_import(COURSE)
        assert latest is not None
        assert latest.id == second.id

    @with_open_store
    async def test_an_import_ends_once_with_its_first_errors_by_row(self, store: Store) -> None:
        claimed = await running(store)
        assert await store.finish_import(claimed.id, "another-runner", "succeeded") is None
        errors = [(row, f"error {row}" * (100 if row == 1 else 1)) for row in range(30, 0, -1)]
        done = await store.finish_import(claimed.id, "runner-1", "succeeded", errors)
        assert done is not None
        assert (done.workflow_state, done.progress) == ("succeeded", 100)
        assert done.ended_at is not None
        assert await store.finish_import(claimed.id, "runner-1", "failed") is None
        shown = await store.get_import(ACCOUNT, claimed.id)
        assert shown is not None
        assert shown.workflow_state == "succeeded"
        assert [row for row, _ in shown.errors] == list(range(1, ERRORS_SHOWN + 1))
        assert shown.errors[0][1] == ("error 1" * 100)[:MAX_ERROR_LENGTH]
        assert shown.errors[1] == (2, "error 2")

    @with_open_store
    async def test_a_failed_import_keeps_its_progress(self, store: Store) -> None:
        claimed = await running(store)
        done = await store.finish_import(claimed.id, "runner-1", "failed", [(1, "Bad file")])
        assert done is not None
        assert (done.workflow_state, done.progress) == ("failed", 0)
        shown = await store.get_import(ACCOUNT, claimed.id)
        assert shown is not None
        assert shown.errors == ((1, "Bad file"),)

    @with_open_store
    async def test_an_import_keeps_the_encoding_it_was_created_with(self, store: Store) -> None:
        new = NewImport(ACCOUNT, 1, "instructure_csv", user_id=7, encoding="windows-1252")
        created = await store.create_import(new, await upload(store))
        default = await queue(store, OTHER_ROOT)
        assert (created.encoding, default.encoding) == ("windows-1252", "utf-8")
        claimed = await store.claim_next_import("runner-1")
        assert claimed is not None
        assert (claimed.id, claimed.encoding) == (created.id, "windows-1252")
        shown = await store.get_import(ACCOUNT, created.id)
        assert shown is not None
        assert shown.encoding == "windows-1252"

    @with_open_store
    async def test_batches_add_warnings_shown_first_by_row(self, store: Store) -> None:
        claimed = await running(store)
        assert claimed.warnings == ()
        warnings = [(row, f"warning {row}" * (100 if row == 1 else 1)) for row in range(30, 0, -1)]
        async with store.batch(claimed.id, "runner-1") as tx:
            await tx.apply(BatchWrite(claimed.id, "runner-1", 10, warnings=warnings[:10]))
        async with store.batch(claimed.id, "runner-1") as tx:
            await tx.apply(BatchWrite(claimed.id, "runner-1", 20, warnings=warnings[10:]))
        shown = await store.get_import(ACCOUNT, claimed.id)
        assert shown is not None
        assert [row for row, _ in shown.warnings] == list(range(1, WARNINGS_SHOWN + 1))
        assert shown.warnings[0][1] == ("warning 1" * 100)[:MAX_ERROR_LENGTH]
        assert shown.warnings[1] == (2, "warning 2")
        assert shown.errors == ()
        latest = await store.get_latest_import(ACCOUNT)
        assert latest is not None
        assert latest.warnings == shown.warnings

    @with_open_store
    async def test_every_error_reads_by_row_in_pages_and_in_chunks(self, store: Store) -> None:
        claimed = await running(store)
        # Rows out of order, a row with two errors (kept in the order recorded), across batches.
        errors = [(row, f"error {row}") for row in range(2, 2502)]
        errors[10:10] = [(5, "error 5 again")]
        async with store.batch(claimed.id, "runner-1") as tx:
            await tx.apply(BatchWrite(claimed.id, "runner-1", 10, errors=errors[1500:]))
        async with store.batch(claimed.id, "runner-1") as tx:
            await tx.apply(BatchWrite(claimed.id, "runner-1", 20, errors=errors[:1500]))
        await store.finish_import(claimed.id, "runner-1", "failed", [(1, "Bad file")])
        expected = sorted([(1, "Bad file"), *errors], key=lambda error: error[0])
        page, total = await store.import_errors(claimed.id, Page(offset=0, limit=4))
        assert (page, total) == (expected[:4], len(expected))
        assert page[3:] == [(4, "error 4")]
        later, _ = await store.import_errors(claimed.id, Page(offset=4, limit=3))
        assert later == [(5, "error 5"), (5, "error 5 again"), (6, "error 6")]
        assert await store.import_errors(claimed.id, Page(offset=5000, limit=10)) == ([], total)
        chunks = [chunk async for chunk in store.import_error_chunks(claimed.id, 1000)]
        assert [len(chunk) for chunk in chunks] == [1000, 1000, 502]
        assert [error for chunk in chunks for error in chunk] == expected
        assert [chunk async for chunk in store.import_error_chunks(claimed.id + 1, 10)] == []

    # leases ----------------------------------------------------------------------------------

    @with_open_store
    async def test_an_import_whose_runner_stopped_is_queued_again(self, store: Store) -> None:
        claimed = await running(store)
        async with store.batch(claimed.id, "runner-1") as tx:
            await tx.apply(BatchWrite(
                claimed.id, "runner-1", 10, errors=[(2, "Bad row")], warnings=[(1, "Noted")]
            ))
        await store.heartbeat(["runner-1"])
        assert await store.requeue_stale_imports(300) == 0  # renewed within 5 minutes
        assert await store.requeue_stale_imports(-1) == 1  # every lease is older than -1 s
        shown = await store.get_import(ACCOUNT, claimed.id)
        assert shown is not None
        assert shown.workflow_state == "created"
        assert (shown.errors, shown.warnings) == ((), ())  # its batches will be applied again
        again = await store.claim_next_import("runner-2")
        assert again is not None
        assert again.id == claimed.id
        await store.requeue_import(claimed.id, "runner-2")  # stopped by a shutdown
        shown = await store.get_import(ACCOUNT, claimed.id)
        assert shown is not None
        assert shown.workflow_state == "created"

    @with_open_store
    async def test_an_import_without_progress_fails(self, store: Store) -> None:
        claimed = await running(store)
        assert await store.fail_stalled_imports(utcnow() - timedelta(minutes=5)) == []
        assert await store.fail_stalled_imports(utcnow() + timedelta(seconds=1)) == [claimed.id]
        shown = await store.get_import(ACCOUNT, claimed.id)
        assert shown is not None
        assert shown.workflow_state == "failed"
        assert shown.ended_at is not None
        assert [row for row, _ in shown.errors] == [1]

    @with_open_store
    async def test_old_uploads_of_ended_imports_are_deleted(self, store: Store) -> None:
        ended = await running(store)
        await store.finish_import(ended.id, "runner-1", "succeeded")
        waiting = await queue(store)
        assert await store.delete_old_uploads(utcnow() - timedelta(days=1)) == 0
        assert await store.delete_old_uploads(utcnow() + timedelta(seconds=1)) == 1
        assert ended.attachment_id is not None
        with pytest.raises(LookupError):
            await store.open_attachment(ended.attachment_id)
        kept = await store.get_import(ACCOUNT, ended.id)
        assert kept is not None
        assert (kept.workflow_state, kept.attachment_id) == ("succeeded", None)
        assert waiting.attachment_id is not None
        (await store.open_attachment(waiting.attachment_id)).close()

    # the tree --------------------------------------------------------------------------------

    @with_open_store
    async def test_a_batch_writes_the_tree_that_the_read_side_finds(self, store: Store) -> None:
        claimed = await running(store)
        root = await store.root_group(ACCOUNT, "Account 1")
        assert await store.root_group(ACCOUNT, "Another title") == root
        async with store.batch(claimed.id, "runner-1") as tx:
            (beta, alpha), (outcome,) = await tx.reserve_ids(2, 1)
            await tx.apply(BatchWrite(
                claimed.id, "runner-1", 40,
                groups=[GroupWrite(beta, ACCOUNT, "g-beta", "Beta", "first", "active", root),
                        GroupWrite(alpha, ACCOUNT, "g-alpha", "alpha", "second", "active", beta)],
                outcomes=[OutcomeWrite(outcome, ACCOUNT, "o-1", FIELDS)],
                links=[LinkWrite(alpha, outcome, ACCOUNT)],
                friendly_descriptions=[FriendlyDescriptionWrite(ACCOUNT, outcome, "Friendly")],
                errors=[(5, "Row five")],
            ))  # fmt: skip
        assert len({root, beta, alpha}) == 3
        assert await store.get_group(alpha) == StoredGroup(
            alpha, ACCOUNT, beta, "g-alpha", "alpha", "second", "active", claimed.id
        )
        assert sorted(await store.group_ancestors(alpha)) == sorted([alpha, beta, root])
        assert [g.id for g in (await store.subgroups(root, EVERYTHING))[0]] == [beta]
        groups, total = await store.context_groups(ACCOUNT, EVERYTHING)
        assert ([g.id for g in groups], total) == (sorted([root, beta, alpha]), 3)
        stored = await store.get_outcome(outcome)
        assert stored is not None
        assert (stored.vendor_guid, stored.title, stored.ratings) == (
            "o-1", FIELDS.title, FIELDS.ratings
        )
        assert (stored.calculation_method, stored.calculation_int) == ("n_mastery", 3)
        [linked], total = await store.group_links(alpha, EVERYTHING)
        assert (linked.outcome.id, linked.group.id, linked.link.context, total) == (
            outcome, alpha, ACCOUNT, 1
        )
        assert (await store.context_links(ACCOUNT, EVERYTHING))[1] == 1
        assert await store.friendly_descriptions(ACCOUNT, [outcome]) == {outcome: "Friendly"}
        assert await store.created_group_ids(claimed.id) == sorted([beta, alpha])
        shown = await store.get_import(ACCOUNT, claimed.id)
        assert shown is not None
        assert (shown.progress, shown.errors) == (40, ((5, "Row five"),))

    @with_open_store
    async def test_a_batch_looks_up_what_it_names(self, store: Store) -> None:
        claimed = await running(store)
        root = await store.root_group(ACCOUNT, "Account 1")
        async with store.batch(claimed.id, "runner-1") as tx:
            (group,), (outcome,) = await tx.reserve_ids(1, 1)
            await tx.apply(BatchWrite(
                claimed.id, "runner-1", 10,
                groups=[GroupWrite(group, ACCOUNT, "g-1", "G", "", "active", root)],
                outcomes=[OutcomeWrite(outcome, ACCOUNT, "o-1", FIELDS)],
                links=[LinkWrite(group, outcome, ACCOUNT)],
            ))  # fmt: skip
        async with store.batch(claimed.id, "runner-1") as tx:
            found = await tx.lookup(Lookup(
                outcome_guids={"o-1"}, outcome_ids={outcome}, group_keys={("account", 1, "g-1")},
                group_ids={group}, import_id=claimed.id, parent_guids={"g-1", "missing"},
            ))  # fmt: skip
        assert found.outcomes_by_guid["o-1"].id == outcome
        assert set(found.outcomes_by_id) == {outcome}
        assert [link.group_id for link in found.links_by_outcome[outcome]] == [group]
        assert found.groups_by_key[("account", 1, "g-1")].id == group
        assert set(found.groups_by_id) == {group}
        assert [g.id for g in found.parents_by_guid["g-1"]] == [group]
        assert "missing" not in found.parents_by_guid

    @with_open_store
    async def test_a_lookup_shows_what_lies_below_the_groups_a_batch_deletes(
        self, store: Store
    ) -> None:
        """Down through active groups only (a deleted group's active children are not
        reached), with the active links in each group reached."""
        claimed = await running(store)
        root = await store.root_group(ACCOUNT, "Account 1")
        async with store.batch(claimed.id, "runner-1") as tx:
            (top, below, hidden, under), (outcome,) = await tx.reserve_ids(4, 1)
            await tx.apply(BatchWrite(
                claimed.id, "runner-1", 10,
                groups=[GroupWrite(top, ACCOUNT, "top", "Top", "", "active", root),
                        GroupWrite(below, ACCOUNT, "below", "Below", "", "active", top),
                        GroupWrite(hidden, ACCOUNT, "hidden", "Hidden", "", "deleted", top),
                        GroupWrite(under, ACCOUNT, "under", "Under", "", "active", hidden)],
                outcomes=[OutcomeWrite(outcome, ACCOUNT, "o-1", FIELDS)],
                links=[LinkWrite(below, outcome, ACCOUNT), LinkWrite(under, outcome, ACCOUNT)],
            ))  # fmt: skip
        key = (ACCOUNT.type, ACCOUNT.id, "top")
        async with store.batch(claimed.id, "runner-1") as tx:
            existing = await tx.lookup(Lookup(
                group_keys={key}, deleting_keys={key}, import_id=claimed.id
            ))  # fmt: skip
        assert existing.children == {top: [below]}
        assert [(link.group_id, link.outcome_id) for link in existing.links_in[below]] == [
            (below, outcome)
        ]
        assert set(existing.links_in) == {below}

    @with_open_store
    async def test_deleted_groups_and_unlinks_retire_what_they_list(self, store: Store) -> None:
        claimed = await running(store)
        root = await store.root_group(ACCOUNT, "Account 1")
        async with store.batch(claimed.id, "runner-1") as tx:
            (top, below), (outcome,) = await tx.reserve_ids(2, 1)
            await tx.apply(BatchWrite(
                claimed.id, "runner-1", 10,
                groups=[GroupWrite(top, ACCOUNT, "top", "Top", "", "active", root),
                        GroupWrite(below, ACCOUNT, "below", "Below", "", "active", top)],
                outcomes=[OutcomeWrite(outcome, ACCOUNT, "o-1", FIELDS)],
                links=[LinkWrite(below, outcome, ACCOUNT)],
            ))  # fmt: skip
        [link], _ = await store.group_links(below, EVERYTHING)
        async with store.batch(claimed.id, "runner-1") as tx:
            await tx.apply(BatchWrite(
                claimed.id, "runner-1", 20, deleted_groups={below}, unlinks={link.link.id}
            ))  # fmt: skip
        assert await store.group_links(below, EVERYTHING) == ([], 0)
        gone, kept = await store.get_group(below), await store.get_group(top)
        assert gone is not None
        assert kept is not None
        assert (gone.workflow_state, kept.workflow_state) == ("deleted", "active")

    @with_open_store
    async def test_the_tree_reads_in_chunks_parents_first_as_the_read_side_shows_it(
        self, store: Store
    ) -> None:
        """Groups by depth (a parent before its children) below the root group; outcomes by
        id with every group they are linked in but the root group; nothing below a deleted
        group; an outcome of another context linked here is the context's too."""
        claimed = await running(store)
        root = await store.root_group(ACCOUNT, "Account 1")
        course_root = await store.root_group(COURSE, "Course 10")
        async with store.batch(claimed.id, "runner-1") as tx:
            (deep, top, hidden, under, plain), outcomes = await tx.reserve_ids(5, 5)
            linked, hidden_only, at_root, unlinked, foreign = outcomes
            await tx.apply(BatchWrite(
                claimed.id, "runner-1", 10,
                groups=[GroupWrite(top, ACCOUNT, "top", "Top", "", "active", root),
                        GroupWrite(deep, ACCOUNT, None, "Deep", "d", "active", top),
                        GroupWrite(hidden, ACCOUNT, "hidden", "Hidden", "", "deleted", top),
                        GroupWrite(under, ACCOUNT, "under", "Under", "", "active", hidden),
                        GroupWrite(plain, COURSE, "plain", "Plain", "", "active", course_root)],
                outcomes=[OutcomeWrite(o, ACCOUNT, f"o-{o}", FIELDS)
                          for o in (linked, hidden_only, at_root, unlinked)]
                + [OutcomeWrite(foreign, COURSE, "o-foreign", FIELDS)],
                links=[LinkWrite(deep, linked, ACCOUNT), LinkWrite(top, linked, ACCOUNT),
                       LinkWrite(root, linked, ACCOUNT), LinkWrite(under, hidden_only, ACCOUNT),
                       LinkWrite(root, at_root, ACCOUNT), LinkWrite(top, unlinked, ACCOUNT),
                       LinkWrite(deep, foreign, ACCOUNT), LinkWrite(plain, foreign, COURSE)],
                friendly_descriptions=[FriendlyDescriptionWrite(ACCOUNT, linked, "Friendly")],
            ))  # fmt: skip
        retired = next(linked_ for linked_ in (await store.group_links(top, EVERYTHING))[0]
                       if linked_.outcome.id == unlinked)
        async with store.batch(claimed.id, "runner-1") as tx:
            await tx.apply(BatchWrite(claimed.id, "runner-1", 20, unlinks={retired.link.id}))
        chunks = [chunk async for chunk in store.tree_group_chunks(ACCOUNT, 1)]
        assert [len(chunk) for chunk in chunks] == [1, 1]
        assert [tree_group for [tree_group] in chunks] == [
            TreeGroup(await store.get_group(top), None),  # type: ignore[arg-type]
            TreeGroup(await store.get_group(deep), (top, "top")),  # type: ignore[arg-type]
        ]
        found = [item async for chunk in store.tree_outcome_chunks(ACCOUNT, 2) for item in chunk]
        assert [(item.outcome.id, item.parents, item.friendly_description) for item in found] == (
            sorted([(linked, tuple(sorted([(deep, None), (top, "top")])), "Friendly"),
                    (at_root, (), None), (foreign, ((deep, None),), None)])
        )
        assert found[[item.outcome.id for item in found].index(foreign)].outcome.context == COURSE
        course = [item async for chunk in store.tree_outcome_chunks(COURSE, 10) for item in chunk]
        assert [(item.outcome.id, item.parents) for item in course] == [
            (foreign, ((plain, "plain"),))
        ]
        empty = ContextRef("account", 3)
        assert [chunk async for chunk in store.tree_group_chunks(empty, 10)] == []
        assert [chunk async for chunk in store.tree_outcome_chunks(empty, 10)] == []

    @with_open_store
    async def test_a_batch_may_name_a_link_or_a_description_twice(self, store: Store) -> None:
        """Written as row by row: a link once, the last description given, errors and warnings
        in their order; updates change every field (a backend may write a batch set-based)."""
        claimed = await running(store)
        root = await store.root_group(ACCOUNT, "Account 1")
        async with store.batch(claimed.id, "runner-1") as tx:
            (group,), (outcome,) = await tx.reserve_ids(1, 1)
            await tx.apply(BatchWrite(
                claimed.id, "runner-1", 10,
                groups=[GroupWrite(group, ACCOUNT, "g-1", "G", "", "active", root)],
                outcomes=[OutcomeWrite(outcome, ACCOUNT, "o-1", FIELDS)],
                links=[LinkWrite(group, outcome, ACCOUNT), LinkWrite(group, outcome, ACCOUNT)],
                friendly_descriptions=[FriendlyDescriptionWrite(ACCOUNT, outcome, "First"),
                                       FriendlyDescriptionWrite(ACCOUNT, outcome, "Last")],
                errors=[(3, "c"), (1, "b"), (1, "a")],
                warnings=[(2, "y"), (2, "x")],
            ))  # fmt: skip
        assert (await store.group_links(group, EVERYTHING))[1] == 1
        assert await store.friendly_descriptions(ACCOUNT, [outcome]) == {outcome: "Last"}
        shown = await store.get_import(ACCOUNT, claimed.id)
        assert shown is not None
        assert (shown.errors, shown.warnings) == (
            ((1, "b"), (1, "a"), (3, "c")), ((2, "y"), (2, "x"))
        )
        changed = OutcomeFields("Renamed", None, None, "highest", None, 2.0, 4.0,
                                ((4.0, "Top"),), "deleted")  # fmt: skip
        async with store.batch(claimed.id, "runner-1") as tx:
            await tx.apply(BatchWrite(
                claimed.id, "runner-1", 20,
                groups=[GroupWrite(group, ACCOUNT, "g-1", "H", "new", "deleted", root,
                                   new=False)],
                outcomes=[OutcomeWrite(outcome, ACCOUNT, "o-1", changed, new=False)],
                friendly_descriptions=[FriendlyDescriptionWrite(ACCOUNT, outcome, None),
                                       FriendlyDescriptionWrite(ACCOUNT, outcome, None)],
            ))  # fmt: skip
        assert await store.get_group(group) == StoredGroup(
            group, ACCOUNT, root, "g-1", "H", "new", "deleted", claimed.id
        )
        stored = await store.get_outcome(outcome)
        assert stored is not None
        assert (stored.title, stored.description, stored.display_name, stored.calculation_method,
                stored.calculation_int, stored.mastery_points, stored.points_possible,
                stored.ratings, stored.workflow_state) == (
            "Renamed", None, None, "highest", None, 2.0, 4.0, ((4.0, "Top"),), "deleted"
        )  # fmt: skip
        assert await store.friendly_descriptions(ACCOUNT, [outcome]) == {}

    @with_open_store
    async def test_a_batch_of_an_import_taken_over_writes_nothing(self, store: Store) -> None:
        claimed = await running(store)
        root = await store.root_group(ACCOUNT, "Account 1")
        # The whole transaction: the refusal must roll back what apply() wrote before it.
        with pytest.raises(ImportTakenOver):  # noqa: PT012
            async with store.batch(claimed.id, "runner-1") as tx:
                (group,), _ = await tx.reserve_ids(1, 0)
                await tx.apply(BatchWrite(
                    claimed.id, "another-runner", 50,
                    groups=[GroupWrite(group, ACCOUNT, "g-1", "G", "", "active", root)],
                ))  # fmt: skip
        assert await store.get_group(group) is None
        shown = await store.get_import(ACCOUNT, claimed.id)
        assert shown is not None
        assert shown.progress == 0


    @with_open_store
    async def test_a_dry_run_sees_its_writes_and_leaves_nothing(self, store: Store) -> None:
        claimed = await running(store)
        root = await store.root_group(ACCOUNT, "Account 1")
        async with store.dry_run() as tx:
            course_root = await tx.root_group(COURSE, "Course 5")
            (group,), (outcome,) = await tx.reserve_ids(1, 1)
            # Not the owner's: a dry run's apply does not touch the import's row at all.
            await tx.apply(BatchWrite(
                claimed.id, "not-the-owner", 50,
                groups=[GroupWrite(group, ACCOUNT, "g-1", "G", "", "active", root)],
                outcomes=[OutcomeWrite(outcome, ACCOUNT, "o-1", FIELDS)],
                links=[LinkWrite(group, outcome, ACCOUNT)],
                errors=[(2, "Row two")], warnings=[(1, "Read as windows-1252")],
            ))  # fmt: skip
            # Its later batches find what its earlier ones wrote.
            existing = await tx.lookup(Lookup(
                import_id=claimed.id, group_keys={("account", 1, "g-1")}, outcome_guids={"o-1"},
            ))  # fmt: skip
            assert [g.id for g in existing.groups_by_key.values()] == [group]
            assert list(existing.outcomes_by_guid) == ["o-1"]
        for missing in (await store.get_group(group), await store.get_group(course_root),
                        await store.get_outcome(outcome)):
            assert missing is None
        assert (await store.context_links(ACCOUNT, EVERYTHING))[1] == 0
        shown = await store.get_import(ACCOUNT, claimed.id)
        assert shown is not None
        assert (shown.progress, shown.errors, shown.warnings) == (0, (), ())
        assert shown.updated_at == claimed.updated_at

    # undo: the change journal, revert and cancel ---------------------------------------------

    @with_open_store
    async def test_a_revert_puts_every_row_back_and_removes_what_the_import_created(
        self, store: Store
    ) -> None:
        """Changed, moved, deleted, merely stamped, unlinked and created rows, descriptions
        set and added: the tree reads exactly as before the import, stamps included."""
        base = await undo_base(store)
        before = await snapshot(store, base)

        def write(import_id: int, ids: tuple[list[int], list[int]]) -> BatchWrite:
            (fresh,), (brand,) = ids
            return BatchWrite(
                import_id, "runner-2", 100,
                groups=[GroupWrite(base.top, ACCOUNT, "top", "Top renamed", "new", "active",
                                   base.root, new=False),
                        GroupWrite(base.child, ACCOUNT, "child", "Child", "", "active",
                                   base.side, new=False),
                        GroupWrite(base.side, ACCOUNT, "side", "Side", "", "active", base.root,
                                   new=False, changed=False),
                        GroupWrite(fresh, ACCOUNT, "fresh", "Fresh", "", "active", base.top)],
                deleted_groups={base.doomed},
                outcomes=[OutcomeWrite(base.kept, ACCOUNT, "o-kept", RENAMED, new=False),
                          OutcomeWrite(base.linked, ACCOUNT, "o-linked", FIELDS, new=False,
                                       changed=False),
                          OutcomeWrite(brand, ACCOUNT, "o-brand", FIELDS)],
                links=[LinkWrite(fresh, brand, ACCOUNT), LinkWrite(base.side, base.kept, ACCOUNT)],
                unlinks={base.link},
                friendly_descriptions=[FriendlyDescriptionWrite(ACCOUNT, base.kept, "Changed"),
                                       FriendlyDescriptionWrite(ACCOUNT, brand, "Brand")],
            )  # fmt: skip

        changed, ((fresh,), (brand,)) = await ended(store, "runner-2", write, 1, 1)
        assert await snapshot(store, base) != before
        revert = await reverted(store, changed.id)
        assert (revert.workflow_state, revert.progress, revert.reverts) == (
            "succeeded", 100, changed.id
        )
        assert await snapshot(store, base) == before
        assert (await store.get_group(fresh), await store.get_outcome(brand)) == (None, None)
        assert await store.friendly_descriptions(ACCOUNT, [brand]) == {}
        shown = await store.get_import(ACCOUNT, changed.id)
        assert shown is not None
        assert shown.reverted_by == revert.id

    @with_open_store
    async def test_a_run_started_again_journals_each_row_once_per_import(
        self, store: Store
    ) -> None:
        """After a takeover the run writes again what its first run wrote: the first
        before-image is kept, so the revert goes back to the tree before the first run."""
        base = await undo_base(store)
        before = await snapshot(store, base)
        first = await running(store, "runner-2")
        async with store.batch(first.id, "runner-2") as tx:
            (fresh,), _ = await tx.reserve_ids(1, 0)
            await tx.apply(rename_top(first.id, "runner-2", base, fresh, new=True))
        assert await store.requeue_stale_imports(-1) == 1
        again = await store.claim_next_import("runner-3")
        assert again is not None
        assert again.id == first.id
        async with store.batch(again.id, "runner-3") as tx:
            # What the first run wrote is found: the group exists, the title is the new one.
            await tx.apply(rename_top(again.id, "runner-3", base, fresh, new=False))
        await store.finish_import(again.id, "runner-3", "succeeded")
        await reverted(store, again.id)
        assert await snapshot(store, base) == before
        assert await store.get_group(fresh) is None

    @with_open_store
    async def test_a_later_import_of_the_same_rows_blocks_a_revert(self, store: Store) -> None:
        base = await undo_base(store)
        first, ((fresh,), _) = await ended(store, "runner-2", lambda import_id, ids: rename_top(
            import_id, "runner-2", base, ids[0][0], new=True
        ), groups=1)
        later, _ = await ended(store, "runner-3", lambda import_id, _: BatchWrite(
            import_id, "runner-3", 100,
            groups=[GroupWrite(base.top, ACCOUNT, "top", "Top again", "", "active", base.root,
                               new=False)],
        ))
        await blocks_then_reverted(store, first.id, later.id)
        # A group created under one the first import created depends on it.
        under, _ = await ended(store, "runner-4", lambda import_id, ids: BatchWrite(
            import_id, "runner-4", 100,
            groups=[GroupWrite(ids[0][0], ACCOUNT, "under", "Under", "", "active", fresh)],
        ), groups=1)
        await blocks_then_reverted(store, first.id, under.id)
        # Another root account's imports never block.
        other = await queue(store, OTHER_ROOT)
        claimed = await store.claim_next_import("runner-5")
        assert claimed is not None
        assert claimed.id == other.id
        assert (await reverted(store, first.id)).workflow_state == "succeeded"
        assert await store.get_group(fresh) is None

    @with_open_store
    async def test_a_later_link_between_its_new_rows_and_the_targets_blocks_a_revert(
        self, store: Store
    ) -> None:
        """A later import's outcome linked, as it is created, into a group the target created
        (or a new group of it given an outcome the target created) names the target's rows:
        reverting the target first would take the later import's link with them."""
        root = await store.root_group(ACCOUNT, "Account 1")
        first, ((group,), (outcome,)) = await ended(
            store, "runner-1", lambda import_id, ids: BatchWrite(
                import_id, "runner-1", 100,
                groups=[GroupWrite(ids[0][0], ACCOUNT, "g", "G", "", "active", root)],
                outcomes=[OutcomeWrite(ids[1][0], ACCOUNT, "o", FIELDS)],
                links=[LinkWrite(ids[0][0], ids[1][0], ACCOUNT)],
            ), groups=1, outcomes=1)
        into_group, _ = await ended(store, "runner-2", lambda import_id, ids: BatchWrite(
            import_id, "runner-2", 100, outcomes=[OutcomeWrite(ids[1][0], ACCOUNT, "n", FIELDS)],
            links=[LinkWrite(group, ids[1][0], ACCOUNT)],
        ), outcomes=1)
        await blocks_then_reverted(store, first.id, into_group.id)
        to_outcome, _ = await ended(store, "runner-3", lambda import_id, ids: BatchWrite(
            import_id, "runner-3", 100,
            groups=[GroupWrite(ids[0][0], ACCOUNT, "h", "H", "", "active", root)],
            links=[LinkWrite(ids[0][0], outcome, ACCOUNT)],
        ), groups=1)
        await blocks_then_reverted(store, first.id, to_outcome.id)
        assert (await reverted(store, first.id)).workflow_state == "succeeded"
        assert await store.get_group(group) is None
        assert await store.get_outcome(outcome) is None
        assert await store.context_links(ACCOUNT, EVERYTHING) == ([], 0)

    @with_open_store
    async def test_a_revert_checks_again_as_it_runs(self, store: Store) -> None:
        """An import running as the revert is queued may change the target's rows after: the
        revert then fails with the reason, and its target is no longer reverted."""
        base = await undo_base(store)
        first, _ = await ended(store, "runner-2", lambda import_id, ids: rename_top(
            import_id, "runner-2", base, ids[0][0], new=True
        ), groups=1)
        later = await running(store, "runner-3")
        revert = await store.queue_revert(revert_of(), first.id)
        async with store.batch(later.id, "runner-3") as tx:
            await tx.apply(BatchWrite(later.id, "runner-3", 100, groups=[
                GroupWrite(base.top, ACCOUNT, "top", "Top again", "", "active", base.root,
                           new=False)
            ]))  # fmt: skip
        await store.finish_import(later.id, "runner-3", "succeeded")
        assert await store.claim_next_import("runner-4") is not None
        failed = await store.revert_import(revert.id, "runner-4", 30)
        assert failed is not None
        shown = await store.get_import(ACCOUNT, revert.id)
        assert shown is not None
        assert (failed.workflow_state, shown.errors) == (
            "failed", ((1, revert_blocked(later.id)),)
        )
        shown = await store.get_import(ACCOUNT, first.id)
        assert shown is not None
        assert shown.reverted_by is None

    @with_open_store
    async def test_a_created_import_is_cancelled_at_once_and_never_runs(
        self, store: Store
    ) -> None:
        waiting = await queue(store)
        cancelled = await store.cancel_import(ACCOUNT, waiting.id)
        assert cancelled is not None
        assert (cancelled.workflow_state, cancelled.cancel_requested) == ("cancelled", True)
        assert cancelled.ended_at is not None
        assert await store.claim_next_import("runner-1") is None
        with pytest.raises(ImportEnded):
            await store.cancel_import(ACCOUNT, waiting.id)
        assert await store.cancel_import(COURSE, waiting.id) is None  # another context's

    @with_open_store
    async def test_a_running_import_is_undone_at_its_next_batch(self, store: Store) -> None:
        base = await undo_base(store)
        before = await snapshot(store, base)
        claimed = await running(store, "runner-2")
        async with store.batch(claimed.id, "runner-2") as tx:
            (fresh,), _ = await tx.reserve_ids(1, 0)
            await tx.apply(rename_top(claimed.id, "runner-2", base, fresh, new=True))
        asked = await store.cancel_import(ACCOUNT, claimed.id)
        assert asked is not None
        assert (asked.workflow_state, asked.cancel_requested) == ("importing", True)
        with pytest.raises(ImportCancelled) as stopped:
            async with store.batch(claimed.id, "runner-2") as tx:
                await tx.apply(BatchWrite(claimed.id, "runner-2", 100))
        assert stopped.value.outcome_import.workflow_state == "cancelled"
        assert await snapshot(store, base) == before
        assert await store.get_group(fresh) is None

    @with_open_store
    async def test_a_run_asked_to_cancel_after_its_last_batch_is_undone_as_it_finishes(
        self, store: Store
    ) -> None:
        base = await undo_base(store)
        before = await snapshot(store, base)
        claimed = await running(store, "runner-2")
        async with store.batch(claimed.id, "runner-2") as tx:
            (fresh,), _ = await tx.reserve_ids(1, 0)
            await tx.apply(rename_top(claimed.id, "runner-2", base, fresh, new=True))
        await store.cancel_import(ACCOUNT, claimed.id)
        finished = await store.finish_import(claimed.id, "runner-2", "succeeded")
        assert finished is not None
        assert finished.workflow_state == "cancelled"
        assert await snapshot(store, base) == before
        assert await store.get_group(fresh) is None

    @with_open_store
    async def test_a_run_asked_to_cancel_is_undone_after_takeovers_or_a_stall(
        self, store: Store
    ) -> None:
        """However often it is taken over, the next run undoes it (never failed for it); a
        stalled one is undone by the watchdog, not failed."""
        base = await undo_base(store)
        before = await snapshot(store, base)
        for stop in ("takeovers", "stall"):
            claimed = await running(store, "runner-2")
            async with store.batch(claimed.id, "runner-2") as tx:
                (fresh,), _ = await tx.reserve_ids(1, 0)
                await tx.apply(rename_top(claimed.id, "runner-2", base, fresh, new=True))
            await store.cancel_import(ACCOUNT, claimed.id)
            if stop == "stall":
                assert await store.fail_stalled_imports(utcnow() + timedelta(seconds=1)) == [
                    claimed.id
                ]
            else:
                for n in range(4):  # more takeovers than fail an import not asked to cancel
                    assert await store.requeue_stale_imports(-1) == 1
                    again = await store.claim_next_import(f"runner-{n + 3}")
                    assert again is not None
                    assert (again.id, again.cancel_requested) == (claimed.id, True)
                assert await store.cancel_run(claimed.id, "runner-2") is None  # not its run
                await store.cancel_run(claimed.id, "runner-6")
            shown = await store.get_import(ACCOUNT, claimed.id)
            assert shown is not None
            assert (shown.workflow_state, shown.errors) == ("cancelled", ())
            assert await snapshot(store, base) == before
            assert await store.get_group(fresh) is None

    @with_open_store
    async def test_old_journals_are_dropped_and_their_imports_cannot_be_reverted(
        self, store: Store
    ) -> None:
        base = await undo_base(store)
        unjournaled = await queue(store)
        claimed = await store.claim_next_import("runner-2", journal=False)
        assert claimed is not None
        assert (claimed.id, claimed.journal) == (unjournaled.id, "off")
        await store.finish_import(claimed.id, "runner-2", "succeeded")
        assert await store.delete_old_journals(utcnow() - timedelta(days=1)) == 0
        revert = await store.queue_revert(revert_of(), base.import_id)
        assert await store.delete_old_journals(utcnow() + timedelta(seconds=1)) == 1
        shown = await store.get_import(ACCOUNT, base.import_id)
        assert shown is not None
        assert shown.journal == "expired"
        assert await store.claim_next_import("runner-3") is not None
        failed = await store.revert_import(revert.id, "runner-3", 30)
        assert failed is not None
        shown = await store.get_import(ACCOUNT, revert.id)
        assert shown is not None
        assert (failed.workflow_state, shown.errors) == (
            "failed", ((1, journal_expired(base.import_id, 30)),)
        )
        assert await store.get_group(base.top) is not None  # nothing was undone

    # announcing ends -------------------------------------------------------------------------

    @with_open_store
    async def test_every_end_is_unannounced_until_marked(self, store: Store) -> None:
        succeeded = await running(store)
        await store.finish_import(succeeded.id, "runner-1", "succeeded")
        stalled = await running(store, "runner-2")
        await store.fail_stalled_imports(utcnow() + timedelta(seconds=1))
        taken_over = await running(store, "runner-3")
        for _ in range(2):  # its third takeover fails it
            await store.requeue_stale_imports(-1)
            assert await store.claim_next_import("runner-3") is not None
        await store.requeue_stale_imports(-1)
        still_running = await running(store, "runner-4")
        await queue(store)
        ended = await store.unannounced_imports(10)
        assert [i.id for i in ended] == [succeeded.id, stalled.id, taken_over.id]
        assert [i.workflow_state for i in ended] == ["succeeded", "failed", "failed"]
        assert [row for row, _ in ended[1].errors] == [1]  # as get_import shows it
        assert [i.id for i in await store.unannounced_imports(1)] == [succeeded.id]
        await store.mark_announced([succeeded.id, stalled.id])
        assert [i.id for i in await store.unannounced_imports(10)] == [taken_over.id]
        await store.finish_import(still_running.id, "runner-4", "failed", [(1, "Bad file")])
        await store.mark_announced([taken_over.id])
        assert [i.id for i in await store.unannounced_imports(10)] == [still_running.id]

    # extensions' jobs ------------------------------------------------------------------------

    @with_open_store
    async def test_jobs_are_added_once_and_claimed_when_due(self, store: Store) -> None:
        now = utcnow()
        await store.add_jobs("hooks", {"a": {"url": "https://a", "n": [1]}, "b": "text"}, now)
        await store.add_jobs("hooks", {"a": {"changed": True}, "c": None}, now + timedelta(hours=1))
        await store.add_jobs("other", {"a": 1}, now)
        claimed = await store.claim_jobs("hooks", now, lease=60, limit=10)
        assert [(job.key, job.payload, job.attempts) for job in claimed] == [
            ("a", {"url": "https://a", "n": [1]}, 1), ("b", "text", 1)
        ]
        assert {(job.extension, job.state) for job in claimed} == {("hooks", "pending")}
        assert claimed[0].due_at == now + timedelta(seconds=60)
        # Claimed: not due again within the lease, nor is "c" before its time.
        assert await store.claim_jobs("hooks", now + timedelta(seconds=59), 60, 10) == []
        again = await store.claim_jobs("hooks", now + timedelta(seconds=61), 60, 1)
        assert [(job.key, job.attempts) for job in again] == [("a", 2)]
        later = now + timedelta(hours=2)
        due = await store.claim_jobs("hooks", later, 60, 10)
        assert [job.key for job in due] == ["a", "b", "c"]
        assert [job.key for job in await store.claim_jobs("other", now, 60, 10)] == ["a"]

    @with_open_store
    async def test_a_job_is_retried_or_ended_and_stays_listed(self, store: Store) -> None:
        now = utcnow()
        await store.add_jobs("hooks", {"a": 1}, now)
        await store.add_jobs("hooks", {"b": 2}, now)
        await store.add_jobs("hooks", {"c": 3}, now)
        await store.claim_jobs("hooks", now, 60, 10)
        await store.retry_job("hooks", "a", now + timedelta(seconds=5), "HTTP 503")
        await store.end_job("hooks", "b", "done", now)
        await store.end_job("hooks", "c", "failed", now, "gave up")
        await store.retry_job("hooks", "c", now, "too late")  # ended: left as it is
        assert await store.claim_jobs("hooks", now + timedelta(seconds=4), 60, 10) == []
        [retried] = await store.claim_jobs("hooks", now + timedelta(seconds=5), 60, 10)
        assert (retried.key, retried.attempts, retried.last_error) == ("a", 2, "HTTP 503")
        listed, total = await store.jobs("hooks", EVERYTHING)
        assert ([job.key for job in listed], total) == (["c", "b", "a"], 3)
        assert [(job.state, job.last_error) for job in listed] == [
            ("failed", "gave up"), ("done", None), ("pending", "HTTP 503")
        ]
        assert [(job.ended_at, job.due_at) for job in listed[:2]] == [(now, None), (now, None)]
        page, total = await store.jobs("hooks", Page(offset=1, limit=1))
        assert ([job.key for job in page], total) == (["b"], 3)
        assert await store.jobs("nobody", EVERYTHING) == ([], 0)
