"""Storage: the :class:`Store` protocol every backend implements, and the backend registry.

The protocol is at the level of the domain and batch-oriented: the engine hands a whole batch of
writes to :meth:`Store.batch`, which runs it in one transaction, so an import never costs
one query per row. Canvas's rules live in the engine; backends only store.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Callable, Iterable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, BinaryIO, Literal, Protocol
from urllib.parse import urlsplit

from lms_outcomes_plugin.models import (
    Attachment,
    ContextRef,
    ImportCounts,
    ImportState,
    NewImport,
    OutcomeImport,
)

#: How a group is found by the rows that name it: (context type, context id, vendor_guid).
GroupKey = tuple[str | None, int | None, str]


@dataclass(frozen=True, slots=True)
class StoredGroup:
    id: int
    context: ContextRef
    parent_id: int | None
    vendor_guid: str | None
    title: str
    description: str
    workflow_state: str
    #: The import that last processed it (Canvas's stamp).
    outcome_import_id: int | None = None


@dataclass(frozen=True, slots=True)
class StoredOutcome:
    id: int
    context: ContextRef
    vendor_guid: str | None
    title: str
    description: str | None
    display_name: str | None
    calculation_method: str
    calculation_int: int | None
    mastery_points: float | None
    points_possible: float | None
    ratings: tuple[tuple[float, str], ...]
    workflow_state: str
    #: The import that last processed it (only outcomes of the importing context are stamped).
    outcome_import_id: int | None = None


@dataclass(frozen=True, slots=True)
class StoredLink:
    id: int
    group_id: int
    outcome_id: int
    context: ContextRef
    workflow_state: str


@dataclass(frozen=True, slots=True)
class LinkedOutcome:
    """A link with the outcome it links and the group it is in."""

    link: StoredLink
    outcome: StoredOutcome
    group: StoredGroup


#: A group as an export names it: its id and its vendor_guid (None when it has none).
GroupRef = tuple[int, str | None]


@dataclass(frozen=True, slots=True)
class TreeGroup:
    """A group of a context's tree, as the export writes it."""

    group: StoredGroup
    #: Its parent, or None when that is the context's root group.
    parent: GroupRef | None


@dataclass(frozen=True, slots=True)
class TreeOutcome:
    """An outcome linked in a context's tree, as the export writes it."""

    outcome: StoredOutcome
    #: The context's friendly description of it, if any.
    friendly_description: str | None
    #: The groups it is linked in, by id, but the context's root group.
    parents: tuple[GroupRef, ...]


@dataclass(frozen=True, slots=True)
class Page:
    """Which slice of a listing to read."""

    offset: int
    limit: int


@dataclass(slots=True)
class Lookup:
    """What one batch needs to know of the existing tree, asked for in one call."""

    outcome_guids: set[str] = field(default_factory=set)
    outcome_ids: set[int] = field(default_factory=set)
    group_keys: set[GroupKey] = field(default_factory=set)
    group_ids: set[int] = field(default_factory=set)
    #: Groups this import processed in earlier batches that rows name as parents.
    import_id: int | None = None
    parent_guids: set[str] = field(default_factory=set)
    #: The group keys and ids of rows that delete a group: the store also answers with what
    #: lies below those groups (:attr:`Existing.children`, :attr:`Existing.links_in`).
    deleting_keys: set[GroupKey] = field(default_factory=set)
    deleting_ids: set[int] = field(default_factory=set)


@dataclass(slots=True)
class Existing:
    """The answer to a :class:`Lookup`; links are every link of every outcome found."""

    outcomes_by_guid: dict[str, StoredOutcome] = field(default_factory=dict)
    outcomes_by_id: dict[int, StoredOutcome] = field(default_factory=dict)
    groups_by_key: dict[GroupKey, StoredGroup] = field(default_factory=dict)
    groups_by_id: dict[int, StoredGroup] = field(default_factory=dict)
    links_by_outcome: dict[int, list[StoredLink]] = field(default_factory=dict)
    #: The parents found, by vendor_guid (one per context).
    parents_by_guid: dict[str, list[StoredGroup]] = field(default_factory=dict)
    #: Below each group a row deletes, down through active groups only (what Canvas's
    #: ``destroy`` walks): the active child groups of each group, by parent id ...
    children: dict[int, list[int]] = field(default_factory=dict)
    #: ... and the active links in each of those groups, by group id.
    links_in: dict[int, list[StoredLink]] = field(default_factory=dict)


# The write values below are made once per row: they are not frozen, because a frozen
# dataclass's __init__ costs a setattr call per field. Every id is known: new objects take ids
# the transaction reserved (BatchTransaction.reserve_ids), so writes need no lookups by key.
@dataclass(slots=True)
class GroupWrite:
    """Create (``new``) or update a group; ``parent_id`` is its only parent. ``changed``
    False only re-stamps the import on an unchanged group."""

    id: int
    context: ContextRef
    vendor_guid: str | None
    title: str
    description: str
    workflow_state: str
    parent_id: int
    new: bool = True
    changed: bool = True


@dataclass(slots=True)
class OutcomeFields:
    title: str
    description: str | None
    display_name: str | None
    calculation_method: str
    calculation_int: int | None
    mastery_points: float | None
    points_possible: float | None
    ratings: tuple[tuple[float, str], ...]
    workflow_state: str


@dataclass(slots=True)
class OutcomeWrite:
    """Create (``new``) or update an outcome. ``changed`` False only re-stamps the import."""

    id: int
    context: ContextRef
    vendor_guid: str | None
    fields: OutcomeFields
    new: bool = True
    changed: bool = True


@dataclass(slots=True)
class LinkWrite:
    """Make an outcome's link into a group active, creating it when missing."""

    group_id: int
    outcome_id: int
    context: ContextRef


@dataclass(slots=True)
class FriendlyDescriptionWrite:
    """Set (``description``) or retire (None) an outcome's friendly description in a context."""

    context: ContextRef
    outcome_id: int
    description: str | None


@dataclass(frozen=True, slots=True)
class KeyClaim:
    """A create request's claim on its user's ``Idempotency-Key``: ``token`` names the request,
    so that only it renews, releases or binds the key."""

    user_id: int
    key: str
    token: str


@dataclass(frozen=True, slots=True)
class KeyedRequest:
    """What a keyed create request asks for; the first two known from its headers, the rest
    once its body has been read. ``parameters`` is the canonical text of what decides the
    import (type, encoding, dry run), ``body_sha256`` the hex digest of the file."""

    context: ContextRef
    learning_outcome_group_id: int | None
    parameters: str | None = None
    body_sha256: str | None = None


@dataclass(frozen=True, slots=True)
class StoredKey:
    """A key held by an earlier request: still uploading while ``outcome_import_id`` is None."""

    request: KeyedRequest
    outcome_import_id: int | None


class KeyTakenOver(Exception):
    """The request's ``Idempotency-Key`` was taken over by another request (this one's upload
    was judged abandoned): no import was created."""


class ImportQueueFull(Exception):
    """The root account has as many imports waiting as it may."""


class ImportCancelled(Exception):
    """A cancel was asked for: the store has undone what the run wrote (through the journal)
    and ended the import ``cancelled``, in the transaction that found the request; the run
    stops."""

    def __init__(self, outcome_import: OutcomeImport) -> None:
        super().__init__(outcome_import.id)
        self.outcome_import = outcome_import


class ImportEnded(Exception):
    """The import has already ended: it cannot be cancelled."""

    def __init__(self, outcome_import: OutcomeImport) -> None:
        super().__init__(outcome_import.id)
        self.outcome_import = outcome_import


class ImportTakenOver(Exception):
    """The run no longer owns the import (its lease lapsed and it was taken over, or the
    watchdog failed it); the transaction wrote nothing, and the run must write nothing more."""


@dataclass(slots=True)
class BatchWrite:
    """Everything one batch of records changes, applied in one transaction, in field order.
    It is applied only while ``runner`` (the run's claim token) still owns the import (else
    ImportTakenOver)."""

    import_id: int
    runner: str
    progress: int
    groups: list[GroupWrite] = field(default_factory=list)
    #: Ids of existing groups to mark deleted (what lies below a deleted group: the planner
    #: lists each one).
    deleted_groups: set[int] = field(default_factory=set)
    outcomes: list[OutcomeWrite] = field(default_factory=list)
    links: list[LinkWrite] = field(default_factory=list)
    #: Ids of links to retire.
    unlinks: set[int] = field(default_factory=set)
    friendly_descriptions: list[FriendlyDescriptionWrite] = field(default_factory=list)
    errors: list[tuple[int, str]] = field(default_factory=list)
    #: The import's counts with this batch's (so far: each batch carries the running total).
    counts: ImportCounts | None = None
    #: ``[row, message]`` pairs of what was accepted but should be known (the format's
    #: ``RowWarning`` items, or the engine's own).
    warnings: list[tuple[int, str]] = field(default_factory=list)


#: A job waits (``pending``) until its extension ends it ``done`` or ``failed``.
JobState = Literal["pending", "done", "failed"]


@dataclass(frozen=True, slots=True)
class Job:
    """One piece of an extension's pending work, kept in the store (see :meth:`Store.add_jobs`)
    so that a restart, or a killed host, loses none."""

    extension: str
    #: Unique within the extension, of its choosing (adding a key again adds nothing).
    key: str
    #: What :meth:`Store.add_jobs` was given, read back from JSON.
    payload: Any
    state: JobState
    #: How many times it was claimed.
    attempts: int
    #: When a pending job is due (a claim pushes it back by the claim's lease); None once ended.
    due_at: datetime | None
    #: The error its extension recorded last (:meth:`Store.retry_job`, :meth:`Store.end_job`).
    last_error: str | None
    created_at: datetime
    updated_at: datetime
    ended_at: datetime | None


class AttachmentWriter(Protocol):
    """Spools one upload into the store's attachment space."""

    async def write(self, chunk: bytes) -> None: ...

    async def commit(self, filename: str, content_type: str) -> Attachment:
        """Keep what was written; returns the stored attachment."""
        ...

    async def abort(self) -> None:
        """Forget what was written; nothing stays behind."""
        ...


class Store(Protocol):
    """What the engine, the runner and the API need of a storage backend.

    ``lms_outcomes_plugin.testing.StoreConformance`` checks a backend against it.
    """

    async def open(self) -> None:
        """Connect and apply this backend's pending migrations."""
        ...

    async def close(self) -> None:
        """Close every connection; called once, at shutdown."""
        ...

    # attachments
    def attachment_writer(self) -> AttachmentWriter: ...

    async def open_attachment(self, attachment_id: int) -> BinaryIO:
        """The upload as an open, seekable binary file at position 0; the caller closes it.

        Its ``name`` must be the path (a ``str``) of a regular file on this machine that holds
        exactly the upload's bytes while the returned file is open: the runner hands that path
        to the parse worker, another process of the same user, which opens it by name. (The
        PostgreSQL backend copies the upload to an unnamed temporary file and names it by its
        ``/proc/<pid>/fd/<n>`` path.) An in-memory file does not do. Closing it may delete the
        file. Raises ``LookupError`` when the attachment does not exist (or was deleted).
        """
        ...

    # imports
    async def create_import(
        self,
        new: NewImport,
        attachment: Attachment,
        max_queued: int | None = None,
        key: tuple[KeyClaim, KeyedRequest] | None = None,
    ) -> OutcomeImport:
        """``initializing``, then the attachment stored, then ``created`` (Canvas's order).
        Raises :class:`ImportQueueFull` (and creates nothing) when the root account already
        has ``max_queued`` imports waiting, checked in the transaction that creates it. A
        ``key`` the request reserved is bound to the import in the same transaction, with
        the whole request it answers; :class:`KeyTakenOver` (and nothing created) when the
        request no longer holds it."""
        ...

    async def reserve_key(
        self,
        claim: KeyClaim,
        request: KeyedRequest,
        expired_before: datetime,
        abandoned_before: datetime,
    ) -> StoredKey | None:
        """Reserve the user's key for this request, in one transaction: None when it is now
        the request's, or the key an earlier request holds. Keys created before
        ``expired_before`` (any user's) are forgotten first, and so is this key when its
        upload stopped without an answer (not renewed since ``abandoned_before``)."""
        ...

    async def renew_key(self, claim: KeyClaim) -> None:
        """The claim's upload is still arriving (see ``abandoned_before``)."""
        ...

    async def release_key(self, claim: KeyClaim) -> None:
        """The claim's request ended without an import: the key is free again."""
        ...

    async def count_queued_imports(self, root_account_id: int) -> int:
        """How many imports of the root account wait to run (or are still uploading)."""
        ...

    async def delete_attachment(self, attachment_id: int) -> None:
        """Forget an upload no import was created for."""
        ...

    async def delete_old_uploads(self, created_before: datetime) -> int:
        """Delete the uploads stored before ``created_before`` whose imports have ended (their
        records stay, without an upload); returns how many."""
        ...

    async def get_import(self, context: ContextRef, import_id: int) -> OutcomeImport | None:
        """The import with its first ``models.ERRORS_SHOWN`` (25) errors and first
        ``models.WARNINGS_SHOWN`` (25) warnings by row, if it belongs to exactly ``context``."""
        ...

    async def import_errors(
        self, import_id: int, page: Page
    ) -> tuple[list[tuple[int, str]], int]:
        """A page of the import's errors, ``(row, message)`` by row and then in the order they
        were recorded, and how many there are in all."""
        ...

    def import_error_chunks(
        self, import_id: int, size: int
    ) -> AsyncGenerator[list[tuple[int, str]], None]:
        """Every error of the import, in :meth:`import_errors`' order, ``size`` at a time, each
        chunk read on its own (keyset pagination: no read stays open between chunks, and
        memory holds one chunk)."""
        ...

    async def get_latest_import(self, context: ContextRef) -> OutcomeImport | None:
        """The most recently *started* import of exactly this context."""
        ...

    async def claim_next_import(
        self, runner: str, journal: bool = True
    ) -> OutcomeImport | None:
        """Move the oldest ``created`` import whose root account has none ``importing`` to
        ``importing``, owned by ``runner``, and make it its context's latest; ``None`` when
        none may start. ``runner`` is a token new to this claim: every write of the run it
        starts names it, and is refused once the run no longer owns the import. ``journal``:
        the run's batches journal what they change (an import journaled before stays so)."""
        ...

    async def cancel_import(self, context: ContextRef, import_id: int) -> OutcomeImport | None:
        """Cancel the import of exactly ``context``: a ``created`` one ends ``cancelled`` at
        once (what an earlier run of it wrote is undone), an ``importing`` one gets
        ``cancel_requested`` (its run sees it at its next batch or its finish; a takeover
        hands it to the next run, which undoes instead). Raises :class:`ImportEnded` for one
        that has ended; ``None`` when there is no such import."""
        ...

    async def cancel_run(self, import_id: int, runner: str) -> OutcomeImport | None:
        """Undo what the import's runs wrote and end it ``cancelled``, if ``runner`` owns it
        (None otherwise): for a claimed import that was already asked to cancel."""
        ...

    async def queue_revert(
        self, new: NewImport, target: int, max_queued: int | None = None
    ) -> OutcomeImport:
        """Queue a revert of import ``target`` (``new.import_type`` is ``revert``), and mark
        the target ``reverted_by`` it, in one transaction. Raises
        :class:`~lms_outcomes_plugin.models.RevertRefused` when the target is already
        reverted or a later import of its root account that is in effect changed its rows;
        :class:`ImportQueueFull` (and queues nothing) as :meth:`create_import` does: a revert
        waits in its root account's queue like any import."""
        ...

    async def revert_import(
        self, import_id: int, runner: str, journal_days: float
    ) -> OutcomeImport | None:
        """Run the revert ``import_id`` in one transaction: its target's rows get their
        before-images back (rows it created go), and the revert ends ``succeeded``; or it
        fails with the reason (a later import now blocks it, the journal expired), its target
        no longer reverted. None when ``runner`` no longer owns it."""
        ...

    async def delete_old_journals(self, ended_before: datetime) -> int:
        """Drop the change journals of imports that ended before ``ended_before`` (they can no
        longer be reverted); returns how many imports."""
        ...

    async def heartbeat(self, runners: Sequence[str]) -> None:
        """Renew the leases of the imports these runs (claim tokens) still own."""
        ...

    async def finish_import(
        self,
        import_id: int,
        runner: str,
        state: ImportState,
        errors: Sequence[tuple[int, str]] = (),
    ) -> OutcomeImport | None:
        """End the import ``succeeded`` or ``failed`` (progress 100 on success), adding
        ``errors``, and set ``ended_at``; ``None`` when ``runner`` no longer owns it."""
        ...

    async def requeue_import(self, import_id: int, runner: str) -> None:
        """Put an import ``runner`` stopped (at shutdown) back to ``created``."""
        ...

    async def fail_stalled_imports(self, no_progress_since: datetime) -> list[int]:
        """Fail the running imports (any runner's) that applied no batch since
        ``no_progress_since``, with a message that says so; one asked to cancel is undone
        instead and ends ``cancelled`` (as :meth:`cancel_run` would). Returns their ids."""
        ...

    async def requeue_stale_imports(self, lease: float) -> int:
        """Take over the imports whose run has not renewed its lease for ``lease`` seconds (a
        process that died or froze): put them back to ``created``, without their errors and
        stamps, to start over. One whose runs were taken over too often ends ``failed``
        instead, with a message that says so. One decision per import, in one transaction: the
        import's row is locked first and the lease checked as the lock found it, so a write of
        its run in flight is either all before the decision or refused after it. Returns
        how many."""
        ...

    async def created_group_ids(self, import_id: int) -> list[int]: ...

    # announcing ends (see lms_outcomes_import_finished)
    async def unannounced_imports(self, limit: int) -> list[OutcomeImport]:
        """Up to ``limit`` imports that have ended (any final state, whoever ended them: a
        run, the watchdog, a takeover) and are not yet marked announced, earliest end first,
        each as :meth:`get_import` shows it. The end itself makes an import unannounced, in
        the transaction that stores it, so an end stored before a crash is found after it."""
        ...

    async def mark_announced(self, import_ids: Sequence[int]) -> None:
        """Mark these imports' ends announced: :meth:`unannounced_imports` no longer lists
        them."""
        ...

    # extensions' jobs: durable pending work, by extension name and a key of its choosing
    async def add_jobs(
        self, extension: str, payloads: Mapping[str, Any], due_at: datetime
    ) -> None:
        """Add a ``pending`` job of ``extension`` for each key of ``payloads`` (a value any
        ``json.dumps`` accepts), due at ``due_at``, in one transaction. A key the extension
        already has (in any state) is left as it is, so adding again is harmless."""
        ...

    async def claim_jobs(
        self, extension: str, now: datetime, lease: float, limit: int
    ) -> list[Job]:
        """Claim up to ``limit`` of the extension's pending jobs due at ``now``, soonest due
        first, in one transaction: each one's ``attempts`` goes up by one and it is due again
        ``lease`` seconds after ``now``, so that a claim its process never ended or retried
        (the process died) is claimed again then, and no other claim takes it meanwhile.
        ``now`` is the caller's clock (an extension's tests may pass their own). Returns
        the claimed jobs in the order they were added."""
        ...

    async def retry_job(
        self, extension: str, key: str, due_at: datetime, error: str | None = None
    ) -> None:
        """Keep a pending job pending, due at ``due_at``, recording ``error``."""
        ...

    async def end_job(
        self,
        extension: str,
        key: str,
        state: Literal["done", "failed"],
        now: datetime,
        error: str | None = None,
    ) -> None:
        """End a job ``done`` or ``failed`` at ``now``, recording ``error``: it is never
        claimed again and stays listed (:meth:`jobs`)."""
        ...

    async def jobs(self, extension: str, page: Page) -> tuple[list[Job], int]:
        """A page of the extension's jobs, in every state, the latest added first, and how
        many it has in all."""
        ...

    # the outcome tree
    async def root_group(self, context: ContextRef, title: str) -> int:
        """The id of the context's root group, created (titled ``title``) when missing."""
        ...

    async def get_group(self, group_id: int) -> StoredGroup | None: ...

    async def group_ancestors(self, group_id: int) -> list[int]:
        """The ids of the group and every group above it (in no particular order)."""
        ...

    # reading the tree (the read API)
    async def get_outcome(self, outcome_id: int) -> StoredOutcome | None: ...

    async def subgroups(self, group_id: int, page: Page) -> tuple[list[StoredGroup], int]:
        """Active child groups by title, and how many there are in all."""
        ...

    async def group_links(self, group_id: int, page: Page) -> tuple[list[LinkedOutcome], int]:
        """Active outcome links of a group by outcome title, and how many there are."""
        ...

    async def context_links(
        self, context: ContextRef, page: Page
    ) -> tuple[list[LinkedOutcome], int]:
        """Active outcome links of a context by id, and how many there are."""
        ...

    async def context_groups(
        self, context: ContextRef, page: Page
    ) -> tuple[list[StoredGroup], int]:
        """Active groups of a context by id, and how many there are."""
        ...

    async def friendly_descriptions(
        self, context: ContextRef, outcome_ids: Iterable[int]
    ) -> dict[int, str]:
        """The context's active friendly descriptions of these outcomes, by outcome id."""
        ...

    # exporting the tree
    def tree_group_chunks(
        self, context: ContextRef, size: int
    ) -> AsyncGenerator[list[TreeGroup], None]:
        """The groups of the context's tree below its root group, reached from it through
        active groups only (what :meth:`subgroups` shows), every parent before its children
        (by depth, then id), ``size`` at a time. Each chunk is read on its own (keyset
        pagination: no read stays open between chunks, and memory holds one chunk)."""
        ...

    def tree_outcome_chunks(
        self, context: ContextRef, size: int
    ) -> AsyncGenerator[list[TreeOutcome], None]:
        """The active outcomes (of any context) that have an active link in a group of
        :meth:`tree_group_chunks` or in the root group, by id, each once with every such group
        it is linked in, read as that method reads; a chunk may hold fewer than ``size`` (an
        outcome linked only below a deleted group is left out)."""
        ...

    def batch(self, import_id: int, runner: str) -> AbstractAsyncContextManager[BatchTransaction]:
        """One write transaction for one batch of the run ``runner`` (a claim token): look up
        what it names, then apply it. Other writers wait, so what the engine looked up still
        holds when it writes. It begins by holding the import's row, and raises
        :class:`ImportTakenOver` (writing nothing) when the run no longer owns the import."""
        ...

    def dry_run(self) -> AbstractAsyncContextManager[BatchTransaction]:
        """One write transaction for a whole dry run, always rolled back at its exit (its body
        raising or not). Its batches see one another's writes; its ``apply`` writes only the
        tree (groups, outcomes, links, friendly descriptions): not the import's progress,
        counts, errors or warnings, so that the import's row stays free for the runner's
        heartbeat; the engine writes those with :meth:`batch` once it was rolled back. Other
        tree writers wait for it, as for a batch."""
        ...


class BatchTransaction(Protocol):
    async def root_group(self, context: ContextRef, title: str) -> int:
        """:meth:`Store.root_group` inside this transaction (a dry run creates course root
        groups through it)."""
        ...

    async def lookup(self, lookup: Lookup) -> Existing:
        """The existing objects a batch names, in any state (deleted ones too)."""
        ...

    async def reserve_ids(self, groups: int, outcomes: int) -> tuple[list[int], list[int]]:
        """Ids that no other group or outcome has or will get, for the batch's new objects
        (unused ones are simply never seen)."""
        ...

    async def apply(self, batch: BatchWrite) -> None:
        """Apply the batch's writes, errors and progress."""
        ...


StoreFactory = Callable[[str, Mapping[str, Any]], Store]


class DuplicateStorageBackend(ValueError):
    """Two plugins registered a storage backend for the same URL scheme."""


class UnknownStorageBackend(ValueError):
    """No registered backend serves a storage URL's scheme."""


class StorageBackendRegistry:
    """Storage backends by URL scheme (``sqlite``, ``postgresql``)."""

    def __init__(self) -> None:
        self._factories: dict[str, StoreFactory] = {}

    def add(self, scheme: str, factory: StoreFactory) -> None:
        if scheme in self._factories:
            raise DuplicateStorageBackend(f"storage scheme {scheme!r} is registered twice")
        self._factories[scheme] = factory

    def schemes(self) -> list[str]:
        return sorted(self._factories)

    def create(self, url: str, settings: Mapping[str, Any]) -> Store:
        scheme = urlsplit(url).scheme.split("+", 1)[0]
        factory = self._factories.get(scheme)
        if factory is None:
            raise UnknownStorageBackend(
                f"no storage backend for {url!r}; registered schemes: {self.schemes()}"
            )
        return factory(url, settings)


