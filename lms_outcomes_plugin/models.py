"""Domain values shared by the engine, the API and the storage backends."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

ImportState = Literal["initializing", "created", "importing", "succeeded", "failed"]

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
        }


def cut_message(message: str) -> str:
    return message[:MAX_ERROR_LENGTH]
