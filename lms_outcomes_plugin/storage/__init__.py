"""Storage: the :class:`Store` protocol every backend implements, and the backend registry.

The protocol is at the level of the domain and batch-oriented: the engine hands a whole batch of
writes to :meth:`Store.apply_batch`, which runs it in one transaction, so an import never costs
one query per row. Canvas's rules live in the engine; backends only store.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, BinaryIO, Protocol
from urllib.parse import urlsplit

from lms_outcomes_plugin.models import (
    Attachment,
    ContextRef,
    ImportState,
    NewImport,
    OutcomeGroup,
    OutcomeImport,
)

#: A group not yet known by id: (context type, context id, vendor_guid).
GroupKey = tuple[str | None, int | None, str]
#: A group by id, or by its key when it is written in the same batch.
GroupRef = int | GroupKey


@dataclass(frozen=True, slots=True)
class GroupWrite:
    """Create or update the group with this key; ``parent`` is its only parent."""

    context: ContextRef
    vendor_guid: str
    title: str
    description: str
    workflow_state: str
    parent: GroupRef


@dataclass(frozen=True, slots=True)
class OutcomeWrite:
    """Create or update the outcome with this vendor_guid (unique across the installation)."""

    context: ContextRef
    vendor_guid: str
    title: str
    description: str | None
    display_name: str | None
    calculation_method: str
    calculation_int: int | None
    mastery_points: float
    points_possible: float
    ratings: tuple[tuple[float, str], ...]
    workflow_state: str


@dataclass(frozen=True, slots=True)
class LinkWrite:
    """Link (or unlink, with ``workflow_state="deleted"``) an outcome into a group."""

    group: GroupRef
    outcome_guid: str
    context: ContextRef
    workflow_state: str = "active"


@dataclass(slots=True)
class BatchWrite:
    """Everything one batch of records changes, applied in one transaction, in this order."""

    import_id: int
    progress: int
    groups: list[GroupWrite] = field(default_factory=list)
    outcomes: list[OutcomeWrite] = field(default_factory=list)
    links: list[LinkWrite] = field(default_factory=list)
    errors: list[tuple[int, str]] = field(default_factory=list)


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
    """What the engine, the runner and the API need of a storage backend."""

    async def open(self) -> None:
        """Connect and apply this backend's pending migrations."""
        ...

    async def close(self) -> None:
        """Close every connection; called once, at shutdown."""
        ...

    # attachments
    def attachment_writer(self) -> AttachmentWriter: ...

    async def open_attachment(self, attachment_id: int) -> BinaryIO:
        """The upload as a seekable binary file; the caller closes it."""
        ...

    # imports
    async def create_import(self, new: NewImport, attachment: Attachment) -> OutcomeImport:
        """``initializing``, then the attachment stored, then ``created`` (Canvas's order)."""
        ...

    async def get_import(self, context: ContextRef, import_id: int) -> OutcomeImport | None:
        """The import with its first errors by row, if it belongs to ``context``."""
        ...

    async def get_latest_import(self, context: ContextRef) -> OutcomeImport | None:
        """The most recently *started* import of exactly this context."""
        ...

    async def claim_next_import(self) -> OutcomeImport | None:
        """Move the oldest ``created`` import whose root account has none ``importing`` to
        ``importing`` and make it its context's latest; ``None`` when none may start."""
        ...

    async def finish_import(
        self, import_id: int, state: ImportState, errors: Sequence[tuple[int, str]] = ()
    ) -> OutcomeImport:
        """End the import ``succeeded`` or ``failed`` (progress 100 on success), adding
        ``errors``, and set ``ended_at``."""
        ...

    async def requeue_import(self, import_id: int) -> None:
        """Put an ``importing`` import back to ``created`` (shutdown stopped it)."""
        ...

    async def requeue_interrupted_imports(self) -> int:
        """At startup: put imports left ``importing`` by a stopped process back to
        ``created``; returns how many."""
        ...

    async def created_group_ids(self, import_id: int) -> list[int]: ...

    # the outcome tree
    async def root_group(self, context: ContextRef, title: str) -> int:
        """The id of the context's root group, created (titled ``title``) when missing."""
        ...

    async def get_group(self, group_id: int) -> OutcomeGroup | None: ...

    async def apply_batch(self, batch: BatchWrite) -> None:
        """Apply a batch of writes, its errors and its progress in one transaction."""
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


