"""Format-neutral records: what an import format makes of a file, and what the engine applies.

A format turns bytes into a stream of :class:`GroupRecord`, :class:`OutcomeRecord`,
:class:`RowError` and :class:`RowWarning` values, each with the row it came from, or raises one
:class:`DataFormatError` for a problem with the file as a whole. Records carry values already
checked and converted (numbers are floats, blanks are ``None``); the Canvas rules that need the
outcome tree (parents, visibility, "already appeared") belong to the engine.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from operator import attrgetter
from typing import Any, Literal, NamedTuple, TypeVar

T = TypeVar("T")

WorkflowState = Literal["active", "deleted"]


class DataFormatError(Exception):
    """The file as a whole cannot be imported (bad header, malformed CSV, no data).

    The import fails with this message as its single error, on row 1, and nothing of the file
    is written.
    """


@dataclass(frozen=True, slots=True)
class RowError:
    """One row cannot be imported; the import goes on with the other rows."""

    row: int
    message: str


@dataclass(frozen=True, slots=True)
class RowWarning:
    """Something the import accepted but the user should know (e.g. how the file was decoded):
    stored with the import and shown in its JSON's ``warnings``. It changes nothing else. Row 1
    is the header, or the file as a whole."""

    row: int
    message: str


class Rating(NamedTuple):
    """One tier of an outcome's rating scale (a tuple: scales are hashed and compared often)."""

    points: float
    description: str


def _pickled_as_fields(cls: type[T]) -> type[T]:
    """Records travel from the parse worker in pickles: rebuilt from their fields in one call,
    cheaper than the slotted dataclass's default state handling."""
    fields = attrgetter(*(field.name for field in dataclasses.fields(cls)))  # type: ignore[arg-type]

    def __reduce__(self: Any) -> tuple[type[T], tuple[Any, ...]]:
        return cls, fields(self)

    cls.__reduce__ = __reduce__  # type: ignore[assignment,method-assign]
    return cls


# Records are values by convention; they are not frozen because a frozen dataclass's __init__
# costs a setattr call per field, the largest single cost of a parsed row.
@_pickled_as_fields
@dataclass(slots=True)
class GroupRecord:
    """An outcome group to create or update (keyed by ``vendor_guid`` in its context)."""

    row: int
    vendor_guid: str
    title: str
    description: str | None = None
    parent_guids: tuple[str, ...] = ()
    workflow_state: WorkflowState = "active"
    #: Account imports only: the course the group belongs in (Canvas's ``course_id`` column).
    course_id: str | None = None
    #: Informational (an export artefact); Canvas quotes it in "not found" messages.
    canvas_id: str | None = None
    #: The file holds all of this group: once every record is applied, the groups below it and
    #: the links below it to outcomes of the importing context that the import did not process
    #: are deleted (an outcome with its last link), as if rows had deleted them. For a format
    #: that always sends a whole framework, whose new version may drop items it cannot name.
    prune: bool = False


@_pickled_as_fields
@dataclass(slots=True)
class OutcomeRecord:
    """An outcome to create or update (keyed by ``vendor_guid`` across the installation)."""

    row: int
    vendor_guid: str
    title: str
    description: str | None = None
    display_name: str | None = None
    friendly_description: str | None = None
    calculation_method: str | None = None
    calculation_int: int | None = None
    mastery_points: float | None = None
    #: In the file's order; empty when the file gives none.
    ratings: tuple[Rating, ...] = ()
    parent_guids: tuple[str, ...] = ()
    workflow_state: WorkflowState = "active"
    canvas_id: str | None = None
    #: Parents may be groups of courses created by ``course_id`` rows of the same import
    #: (Canvas allows this when the file has a ``course_id`` column).
    indirect_parents: bool = False


@dataclass(frozen=True, slots=True)
class Progress:
    """How far a format is through its work, for a format whose reading says nothing of it.

    An import's progress is how far the format has read its file, which is right for a format
    that reads as it yields. One that reads the whole file first (``json.load``, a zip archive)
    would jump to the end at once: it yields ``Progress(done, total)`` values between its
    records instead (``done`` of ``total`` units of its choosing: records, members), and from
    the first one on, progress follows them. Progress never goes back, whatever they say.
    """

    done: int
    total: int

    def __post_init__(self) -> None:
        if not 0 <= self.done <= self.total or self.total < 1:
            raise ValueError(
                f"Progress(done={self.done}, total={self.total}): done must be from 0 to "
                "total, and total at least 1"
            )


ParsedItem = GroupRecord | OutcomeRecord | RowError | RowWarning
#: What a format's ``parse`` yields: the items the engine applies, and progress markers.
FormatOutput = GroupRecord | OutcomeRecord | RowError | RowWarning | Progress
