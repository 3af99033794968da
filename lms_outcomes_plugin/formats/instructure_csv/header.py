"""The header row: Canvas's file-level checks, in Canvas's order, and where each column is."""

from __future__ import annotations

from dataclasses import dataclass

from lms_outcomes_plugin.records import DataFormatError
from lms_outcomes_plugin.ruby import inspect_list, is_blank

RATINGS = "ratings"
#: Missing ones are listed in this order, whatever the header's order.
REQUIRED = ("title", "vendor_guid", "object_type")
OPTIONAL = (
    "canvas_id",
    "course_id",
    "description",
    "friendly_description",
    "display_name",
    "parent_guids",
    "calculation_method",
    "calculation_int",
    "mastery_points",
    "workflow_state",
)
_ALLOWED = frozenset(REQUIRED + OPTIONAL)
#: The columns a row is read into, in the order :attr:`Header.positions` gives them.
COLUMNS = (
    "canvas_id",
    "vendor_guid",
    "object_type",
    "title",
    "description",
    "display_name",
    "friendly_description",
    "parent_guids",
    "calculation_method",
    "calculation_int",
    "mastery_points",
    "workflow_state",
    "course_id",
)
#: Non-blank on a group row: "Invalid fields for a group" (ratings are listed after these).
OUTCOME_ONLY = ("calculation_method", "calculation_int")


@dataclass(frozen=True, slots=True)
class Header:
    """Where a row's values are."""

    #: The main columns; every cell after them is a rating cell, ``ratings`` header or not.
    width: int
    #: The main columns' names, in the header's order (a name may repeat).
    names: tuple[str, ...]
    #: The cell index of each of :data:`COLUMNS`: the last column of that name (Canvas zips the
    #: row into a hash), or ``width`` for an absent column, which the row parser pads with "".
    positions: tuple[int, ...]
    #: The :data:`OUTCOME_ONLY` columns present, in header order.
    outcome_only: tuple[str, ...]
    #: A ``course_id`` column changes how outcome parents resolve, even when blank.
    has_course_id: bool


def parse_header(cells: list[str]) -> Header:
    """Check the header as Canvas's ``validate_headers`` does; raise DataFormatError if bad."""
    width = cells.index(RATINGS) if RATINGS in cells else len(cells)
    after = [cell for cell in cells[width + 1 :] if not is_blank(cell)]
    if after:
        raise DataFormatError(f"Invalid fields after ratings: {inspect_list(after)}")
    names = cells[:width]
    missing = [name for name in REQUIRED if name not in names]
    if missing:
        raise DataFormatError(f"Missing required fields: {inspect_list(missing)}")
    # Canvas crashes on an empty cell here (nil.to_sym); decision 7 names it as "".
    invalid = [name for name in names if name not in _ALLOWED]
    if invalid:
        raise DataFormatError(f"Invalid fields: {inspect_list(invalid)}")
    last = {name: index for index, name in enumerate(names)}
    return Header(
        width=width,
        names=tuple(names),
        positions=tuple(last.get(name, width) for name in COLUMNS),
        outcome_only=tuple(name for name in dict.fromkeys(names) if name in OUTCOME_ONLY),
        has_course_id="course_id" in last,
    )
