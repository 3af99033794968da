"""Domain values shared by the engine, the API and the storage backends."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

ImportState = Literal[
    "initializing", "created", "importing", "succeeded", "failed", "cancelled"
]
#: The states an import ends in.
ENDED_STATES = ("succeeded", "failed", "cancelled")
#: The import type of a revert (an import of its own, with no upload).
REVERT = "revert"
#: What an import's change journal is: ``kept`` (its writes were journaled), ``off`` (it ran
#: with ``journal_days`` 0), ``expired`` (pruned); None before it ran.
JournalState = Literal["kept", "off", "expired"]

#: Canvas keeps stored error messages to 255 characters.
MAX_ERROR_LENGTH = 255
#: Canvas shows the first 25 errors, by row, in the OutcomeImport JSON.
ERRORS_SHOWN = 25
#: The JSON's ``warnings`` shows as many, by row, for the same reason: it is polled.
WARNINGS_SHOWN = 25
#: How an import reads its file unless the client says otherwise (Canvas reads UTF-8 only).
DEFAULT_ENCODING = "utf-8"


def utcnow() -> datetime:
    return datetime.now(UTC)


def canvas_time(value: datetime | None) -> str | None:
    """Canvas API style: ISO 8601 in UTC to the second, with a ``Z``."""
    if value is None:
        return None
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True, slots=True)
class ContextRef:
    """Where an object lives: an account or a course (``type`` None is the global context)."""

    type: str | None
    id: int | None

    @classmethod
    def of(cls, context: Any) -> ContextRef:
        """The ref of a host ``Context`` (anything with ``type`` and ``id``)."""
        return cls(context.type, context.id)


@dataclass(frozen=True, slots=True)
class Attachment:
    id: int
    filename: str
    content_type: str
    size: int


@dataclass(frozen=True, slots=True)
class NewImport:
    """What the API asks to import; the store turns it into an ``initializing`` import."""

    context: ContextRef
    root_account_id: int
    import_type: str
    user_id: int | None
    learning_outcome_group_id: int | None = None
    #: The client's ``encoding`` (see ``formats.encoding``), kept so that a restarted import
    #: reads the file the same way.
    encoding: str = DEFAULT_ENCODING
    #: Run every check and plan every write, then roll them back (``dry_run=true``).
    dry_run: bool = False


@dataclass(frozen=True, slots=True)
class OutcomeImport:
    """An import as stored. ``errors`` and ``warnings`` hold the first ones by row when it was
    read for display (Canvas's ``processing_errors``, and our ``warnings``)."""

    id: int
    context_type: str
    context_id: int
    root_account_id: int
    import_type: str
    user_id: int | None
    learning_outcome_group_id: int | None
    workflow_state: ImportState
    progress: int
    attachment_id: int | None
    created_at: datetime
    updated_at: datetime
    ended_at: datetime | None = None
    errors: tuple[tuple[int, str], ...] = field(default=())
    encoding: str = DEFAULT_ENCODING
    warnings: tuple[tuple[int, str], ...] = field(default=())
    counts: ImportCounts = field(default_factory=lambda: ImportCounts())
    dry_run: bool = False
    #: A revert: the import it reverts. A reverted import: its revert (queued or done).
    reverts: int | None = None
    reverted_by: int | None = None
    #: A DELETE asked for the import to stop (it ends ``cancelled``).
    cancel_requested: bool = False
    journal: JournalState | None = None

    @property
    def context(self) -> ContextRef:
        return ContextRef(self.context_type, self.context_id)

    def as_json(self) -> dict[str, Any]:
        """Canvas's OutcomeImport JSON, without ``user`` (the host renders users)."""
        return {
            "id": self.id,
            "created_at": canvas_time(self.created_at),
            "updated_at": canvas_time(self.updated_at),
            "ended_at": canvas_time(self.ended_at),
            "workflow_state": self.workflow_state,
            "data": {"import_type": self.import_type},
            "progress": self.progress,
            "processing_errors": [[row, message] for row, message in self.errors],
            "learning_outcome_group_id": self.learning_outcome_group_id,
            "warnings": [[row, message] for row, message in self.warnings],
            "counts": self.counts.as_json(),
            "dry_run": self.dry_run,
            "reverts": self.reverts,
            "reverted_by": self.reverted_by,
            "cancel_requested": self.cancel_requested,
        }


@dataclass(slots=True)
class ChangeCounts:
    """What an import's rows did to one kind of object: each row that matched or made an
    object counts once, in the column of what it did to it."""

    created: int = 0
    updated: int = 0
    unchanged: int = 0
    deleted: int = 0

    def count(self, new: bool, changed: bool, deleted: bool) -> None:
        """``deleted``: the row took a live object down (an object already deleted that stays
        deleted is unchanged)."""
        if new:
            self.created += 1
        elif not changed:
            self.unchanged += 1
        elif deleted:
            self.deleted += 1
        else:
            self.updated += 1


@dataclass(slots=True)
class ImportCounts:
    """An import's counts so far (every OutcomeImport JSON carries them)."""

    #: Data rows read (blank rows are not rows), and those with at least one error.
    rows: int = 0
    rows_with_errors: int = 0
    groups: ChangeCounts = field(default_factory=ChangeCounts)
    outcomes: ChangeCounts = field(default_factory=ChangeCounts)
    links_created: int = 0
    links_deleted: int = 0

    def as_json(self) -> dict[str, Any]:
        return {
            "rows": self.rows,
            "rows_with_errors": self.rows_with_errors,
            "groups": _changes_json(self.groups),
            "outcomes": _changes_json(self.outcomes),
            "links": {"created": self.links_created, "deleted": self.links_deleted},
        }

    @classmethod
    def from_json(cls, body: Mapping[str, Any]) -> ImportCounts:
        return cls(
            body["rows"], body["rows_with_errors"], ChangeCounts(**body["groups"]),
            ChangeCounts(**body["outcomes"]), body["links"]["created"], body["links"]["deleted"],
        )


def _changes_json(counts: ChangeCounts) -> dict[str, int]:
    return {"created": counts.created, "updated": counts.updated,
            "unchanged": counts.unchanged, "deleted": counts.deleted}


class RevertRefused(Exception):
    """An import cannot be reverted; the message says why (the API answers 409 with it)."""


def revert_blocked(blocker: int) -> str:
    return (f"Import {blocker} of this root account changed the same rows later and is not "
            "reverted: revert it first")


def journal_expired(import_id: int, days: float) -> str:
    return (f"The change journal of import {import_id} has expired (journals are kept for "
            f"{days:g} days, the journal_days setting)")


def cut_message(message: str) -> str:
    return message[:MAX_ERROR_LENGTH]
