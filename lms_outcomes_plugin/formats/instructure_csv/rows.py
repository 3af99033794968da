"""One data row -> a record or a row error, with Canvas's checks in Canvas's order.

The order is: the size of every cell (``max_cell_bytes``, before any cell is used), the encoding
of every cell (UTF-8 unless the client chose another), the blank-row skip, ratings, mastery
points, calculation_int (decision 11), the friendly description's length, the checks common to
both types, the number of parents (``max_parents_per_row``), then the object_type dispatch. The
first failure is the row's only error. Checks that need the outcome tree (parents, "already
appeared", calculation method names and ranges, lengths) are the engine's. Messages quote at
most what a stored message can show.
"""

from __future__ import annotations

from operator import itemgetter

from lms_outcomes_plugin.formats import FormatOptions
from lms_outcomes_plugin.formats.encoding import ESCAPE
from lms_outcomes_plugin.formats.instructure_csv.header import RATINGS, Header
from lms_outcomes_plugin.formats.instructure_csv.numbers import LocaleNumbers, parse_whole_number
from lms_outcomes_plugin.formats.instructure_csv.reader import quoted_cells
from lms_outcomes_plugin.records import GroupRecord, OutcomeRecord, ParsedItem, Rating, RowError
from lms_outcomes_plugin.ruby import (
    WHITESPACE,
    clip,
    float_to_s,
    has_ascii_space,
    has_invalid_utf8,
    inspect,
    inspect_list,
    is_blank,
    split_words,
)

#: What Canvas's rubric stores for a rating without a description (a nil cell).
NO_COMMENT = "No Comment"
_WORKFLOW_STATES = frozenset({"", "active", "deleted"})
_FRIENDLY_MAX = 255
# Distinct rating scales parsed once per import, if their cells are short: the cache stays small.
_SCALES_CACHED = 1024
_SCALE_CACHED_LENGTH = 4096
# A whole number of up to 18 digits is read by int() directly (it fits in 64 bits).
_FAST_DIGITS = 18


class _Invalid(Exception):
    """The row's error; raised from deep in a check, caught once per row."""


class RowParser:
    """Turns the cells of one data row into a record, a row error, or None for a blank row."""

    def __init__(
        self,
        header: Header,
        options: FormatOptions,
        separator: str,
        check_bytes: bool,
        encoding: str = "utf-8",
    ) -> None:
        self._width = header.width
        self._names = header.names
        self._values = itemgetter(*header.positions)
        # main cells padded to the header's width, plus the "" an absent column reads
        self._padding = [""] * (header.width + 1)
        self._outcome_only = header.outcome_only
        self._indirect_parents = header.has_course_id
        self._numbers = LocaleNumbers(options.locale)
        self._max_cell_bytes = options.max_cell_bytes
        # A UTF-8 character is at most 4 bytes: a cell this short is never too long.
        self._surely_short = options.max_cell_bytes // 4
        self._max_parents = options.max_parents_per_row
        self._separator = separator
        # Only when pass 1 found bytes the file's encoding cannot decode (named in the error).
        self._check_bytes = check_bytes
        self._undecodable = f"Not a valid {encoding} string: "
        self._scales: dict[tuple[str, ...], tuple[Rating, ...]] = {}

    def parse(self, row: int, cells: list[str], raw: str) -> ParsedItem | None:
        """``cells`` as read (the list is consumed); ``raw`` the row's text if it has quotes."""
        if len("".join(cells)) > self._surely_short:  # in C: faster than a length per cell
            too_long = self._too_long(cells)
            if too_long is not None:
                return RowError(row, too_long)
        if self._check_bytes:
            for cell in cells:
                if has_invalid_utf8(cell):
                    return RowError(row, self._undecodable + inspect(cell))
        for cell in cells:
            if cell and cell.strip(WHITESPACE):
                break
        else:
            return None  # a blank row: skipped, but it keeps its row number
        try:
            return self._record(row, cells, raw)
        except _Invalid as invalid:
            return RowError(row, str(invalid))

    def _too_long(self, cells: list[str]) -> str | None:
        limit = self._max_cell_bytes
        for index, cell in enumerate(cells):
            if len(cell) > self._surely_short and _utf8_length(cell) > limit:
                name = self._names[index] if index < self._width else RATINGS
                return f'The "{name}" field is too long (maximum is {limit} bytes)'
        return None

    def _record(self, row: int, cells: list[str], raw: str) -> GroupRecord | OutcomeRecord:
        width = self._width
        count = len(cells)
        if count > width:
            ratings = self._ratings(cells[width:], raw)
            del cells[width:]
        else:
            ratings = ()
        if count >= width:
            cells.append("")
        else:
            cells += self._padding[count:]
        (canvas_id, vendor_guid, object_type, title, description, display_name, friendly,
         parents, method, calculation_int, mastery, workflow,
         course_id) = self._values(cells)  # fmt: skip
        mastery_points = self._mastery_points(mastery) if mastery else None
        calc_int = _calculation_int(calculation_int) if calculation_int else None
        if len(friendly) > _FRIENDLY_MAX and not is_blank(friendly):
            raise _Invalid("Friendly description is too long (maximum is 255 characters)")
        _check_common(vendor_guid, title, workflow)
        parent_guids = _parent_guids(parents) if parents else ()
        if len(parent_guids) > self._max_parents:
            count, limit = len(parent_guids), self._max_parents
            raise _Invalid(f"Too many parents: {count} (maximum is {limit})")
        state = workflow or "active"
        if object_type == "group":
            self._check_group(method, calculation_int, ratings)
            return GroupRecord(
                row=row,
                vendor_guid=vendor_guid,
                title=title,
                description=description or None,
                parent_guids=parent_guids,
                workflow_state=state,
                course_id=_present(course_id),
                canvas_id=canvas_id or None,
            )
        if object_type != "outcome":
            raise _Invalid(f'Invalid object_type: "{clip(object_type)}"')
        if course_id and not is_blank(course_id):
            raise _Invalid('Invalid fields for an outcome: ["course_id"]')
        return OutcomeRecord(
            row=row,
            vendor_guid=vendor_guid,
            title=title,
            description=description or None,
            display_name=display_name or None,
            friendly_description=_present(friendly),
            calculation_method=_present(method),
            calculation_int=calc_int,
            mastery_points=mastery_points,
            ratings=ratings,
            parent_guids=parent_guids,
            workflow_state=state,
            canvas_id=canvas_id or None,
            indirect_parents=self._indirect_parents,
        )

    def _ratings(self, cells: list[str], raw: str) -> tuple[Rating, ...]:
        quoted = self._quoted(raw) if "" in cells else None
        if quoted is not None:
            return self._parse_ratings(cells, quoted)
        # Most files repeat a few scales row after row: parse each distinct one once.
        key = tuple(cells)
        ratings = self._scales.get(key)
        if ratings is None:
            ratings = self._parse_ratings(cells, None)
            if len(self._scales) < _SCALES_CACHED and sum(map(len, key)) <= _SCALE_CACHED_LENGTH:
                self._scales[key] = ratings
        return ratings

    def _parse_ratings(self, cells: list[str], quoted: list[bool] | None) -> tuple[Rating, ...]:
        # Ruby drops trailing nil (unquoted empty) cells and pairs the rest as (points, text).
        end = len(cells)
        while end and not cells[end - 1] and not (quoted and quoted[end - 1]):
            end -= 1
        ratings = []
        prior: float | None = None
        for index in range(0, end, 2):
            tier = index // 2 + 1
            points = self._points(cells[index], tier)
            if prior is not None and prior < points:
                raise _Invalid(
                    f"Points for tier {tier} must be less than points for prior tier "
                    f"({float_to_s(points)} is greater than {float_to_s(prior)})"
                )
            prior = points
            ratings.append(Rating(points, self._description(cells, index + 1, end, quoted)))
        return tuple(ratings)

    @staticmethod
    def _description(cells: list[str], index: int, end: int, quoted: list[bool] | None) -> str:
        # A nil description (unquoted empty, or none after the last points) is "No Comment";
        # a quoted "" stays empty.
        if index < end and (cells[index] or (quoted and quoted[index])):
            return cells[index]
        return NO_COMMENT

    def _quoted(self, raw: str) -> list[bool] | None:
        # Only a quoted empty cell ("") differs from an unquoted one, and it needs `""` in the
        # raw text: most rows never get here.
        if '""' not in raw:
            return None
        return quoted_cells(raw, self._separator)[self._width :]

    def _points(self, raw: str, tier: int) -> float:
        if is_blank(raw):
            raise _Invalid(f"Points for rating tier {tier} not present")
        points = self._numbers.parse(raw)
        if points is None:
            raise _Invalid(f'Invalid value for rating tier {tier} threshold: "{clip(raw)}"')
        return points

    def _mastery_points(self, raw: str) -> float | None:
        if is_blank(raw):
            return None
        value = self._numbers.parse(raw)
        if value is None:
            raise _Invalid(f'Invalid value for mastery points: "{clip(raw)}"')
        return value

    def _check_group(self, method: str, calculation_int: str, ratings: tuple[Rating, ...]) -> None:
        values = {"calculation_method": method, "calculation_int": calculation_int}
        invalid = [name for name in self._outcome_only if not is_blank(values[name])]
        if ratings:
            invalid.append("ratings")
        if invalid:
            raise _Invalid(f"Invalid fields for a group: {inspect_list(invalid)}")


def _parent_guids(raw: str) -> tuple[str, ...]:
    words = raw.split()  # Unicode whitespace: only a shortcut for the usual single guid
    if len(words) == 1 and words[0] == raw:
        return (raw,)
    return () if is_blank(raw) else split_words(raw)


def _calculation_int(raw: str) -> int | None:
    # Decision 11: a whole number or nothing (Rails would read "3.7" as 3 and "abc" as 0).
    # One too long for int() is invalid too; any other is left to the engine's range check.
    if len(raw) <= _FAST_DIGITS and raw.isdigit() and raw.isascii():
        return int(raw)
    if is_blank(raw):
        return None
    value = parse_whole_number(raw)
    if value is None:
        raise _Invalid(f'Invalid value for calculation_int: "{clip(raw)}"')
    return value


def _utf8_length(cell: str) -> int:
    """The value's length in UTF-8 bytes (an undecodable byte, kept as a surrogate, counts one)."""
    return len(cell) if cell.isascii() else len(cell.encode("utf-8", ESCAPE))


def _check_common(vendor_guid: str, title: str, workflow: str) -> None:
    # Canvas's check_object: vendor_guid is required before title is.
    if not vendor_guid or not vendor_guid.strip(WHITESPACE):
        raise _Invalid('The "vendor_guid" field is required')
    if not title or not title.strip(WHITESPACE):
        raise _Invalid('The "title" field is required')
    # A printable string without " " holds none of Ruby's \s: skip the regex then.
    if (" " in vendor_guid or not vendor_guid.isprintable()) and has_ascii_space(vendor_guid):
        raise _Invalid('The "vendor_guid" field must have no spaces')
    if workflow not in _WORKFLOW_STATES:
        raise _Invalid('"workflow_state" must be either "active" or "deleted"')


def _present(value: str) -> str | None:
    """Rails' ``presence``: the value, or None when blank."""
    return value if value and value.strip(WHITESPACE) else None
