"""Bounded cells, safe numbers and short messages in the instructure_csv format: a cell over
``max_cell_bytes`` or a row over ``max_parents_per_row`` parents is a row error, a number Ruby
would read as infinite or Python cannot convert is a row error, messages quote only what a stored
message shows, and memory does not grow with the longest cell."""

from __future__ import annotations

import io
import itertools
import tracemalloc
from collections import deque
from pathlib import Path

import pytest
from formats_helpers import H, errors, groups, lines, outcome_row, outcomes
from hypothesis import given, settings
from hypothesis import strategies as st

from lms_outcomes_plugin.formats import FormatOptions
from lms_outcomes_plugin.formats.instructure_csv import InstructureCsv
from lms_outcomes_plugin.models import MAX_ERROR_LENGTH, cut_message
from lms_outcomes_plugin.records import DataFormatError, ParsedItem, Rating
from lms_outcomes_plugin.ruby import clip, inspect, inspect_list

KiB = 1024
MiB = 1024 * KiB
LIMIT = 64 * KiB  # the default max_cell_bytes
HR = H + ",mastery_points,description,ratings"


def parse(data: str | bytes, **options: int | str) -> list[ParsedItem]:
    raw = data.encode("utf-8", "surrogateescape") if isinstance(data, str) else data
    return list(InstructureCsv().parse(io.BytesIO(raw), FormatOptions(**options)))  # type: ignore[arg-type]


def too_long(column: str, limit: int = LIMIT) -> str:
    return f'The "{column}" field is too long (maximum is {limit} bytes)'


def row(**cells: str) -> str:
    """An outcome row under :data:`HR` (ratings cells appended by the caller)."""
    mastery, description = cells.pop("mastery_points", ""), cells.pop("description", "")
    return outcome_row(**cells) + f",{mastery},{description}"


# --- max_cell_bytes ---------------------------------------------------------------------------


def test_the_default_is_64_kib_of_utf8_bytes() -> None:
    items = parse(lines(
        HR,
        row(vendor_guid="a", description="x" * LIMIT),
        row(vendor_guid="b", description="x" * (LIMIT + 1)),
        row(vendor_guid="c", description="é" * (LIMIT // 2)),  # 2 bytes each
        row(vendor_guid="d", description="é" * (LIMIT // 2) + "x"),
        row(vendor_guid="e", description="\U0001f600" * (LIMIT // 4) + "x"),  # 4 bytes each
    ))
    assert errors(items) == [(3, too_long("description")), (5, too_long("description")),
                             (6, too_long("description"))]
    assert [o.vendor_guid for o in outcomes(items)] == ["a", "c"]
    assert [len(o.description or "") for o in outcomes(items)] == [LIMIT, LIMIT // 2]


def test_invalid_bytes_count_one_byte_each_and_size_comes_first() -> None:
    limit = 8
    items = parse(lines(
        HR,
        row(vendor_guid="a", description="\udcff" * 8),
        row(vendor_guid="b", description="\udcff" * 9),
    ), max_cell_bytes=limit)
    assert errors(items) == [(2, 'Not a valid utf-8 string: "' + "\\xFF" * 8 + '"'),
                             (3, too_long("description", limit))]


@pytest.mark.parametrize(
    ("cells", "column"),
    [
        ({"vendor_guid": "g" * 11}, "vendor_guid"),
        ({"title": "t" * 11}, "title"),
        ({"object_type": "o" * 11}, "object_type"),
        ({"parent_guids": "p " * 6}, "parent_guids"),
        ({"calculation_method": "m" * 11}, "calculation_method"),
        ({"calculation_int": "1" * 11}, "calculation_int"),
        ({"workflow_state": "w" * 11}, "workflow_state"),
        ({"mastery_points": "1" * 11}, "mastery_points"),
        ({"description": " " * 11}, "description"),
        ({"title": "t" * 11, "description": "d" * 11}, "title"),  # the first in header order
    ],
)
def test_the_error_names_the_first_long_cells_column(cells: dict[str, str], column: str) -> None:
    items = parse(lines(HR, row(**cells) + ",1,ok"), max_cell_bytes=10)
    assert errors(items) == [(2, too_long(column, 10))]


def test_rating_cells_are_the_ratings_column_with_or_without_a_ratings_header() -> None:
    items = parse(lines(
        HR,
        row(vendor_guid="a") + ",3,fine,2," + "r" * 11,
        row(vendor_guid="b") + ",3," + "1" * 11,
    ), max_cell_bytes=10)
    assert errors(items) == [(2, too_long("ratings", 10)), (3, too_long("ratings", 10))]
    items = parse(lines(H, outcome_row() + ",3," + "r" * 11), max_cell_bytes=10)
    assert errors(items) == [(2, too_long("ratings", 10))]


def test_a_repeated_column_is_named_for_its_cell() -> None:
    items = parse(lines("title,vendor_guid,object_type,title", "t" * 11 + ",g,group,T"),
                  max_cell_bytes=10)
    assert errors(items) == [(2, too_long("title", 10))]


def test_a_long_blank_cell_fails_its_row_which_is_not_skipped() -> None:
    items = parse(lines(H, ",,," + " " * 11 + ",,,", outcome_row()), max_cell_bytes=10)
    assert errors(items) == [(2, too_long("parent_guids", 10))]
    assert [o.row for o in outcomes(items)] == [3]


@pytest.mark.parametrize("quoted", [False, True])
def test_a_5_mb_parent_guids_cell_is_its_rows_error(quoted: bool) -> None:
    guids = " ".join(f"p{i}" for i in range(700_000))
    assert len(guids) > 5 * MiB
    cell = f'"{guids}"'.replace(" ", "\n") if quoted else guids
    items = parse(lines(H, outcome_row(vendor_guid="a", parent_guids=cell),
                        outcome_row(vendor_guid="b")))
    assert errors(items) == [(2, too_long("parent_guids"))]
    assert [o.vendor_guid for o in outcomes(items)] == ["b"]


def test_a_long_quoted_cell_keeps_the_row_numbers_after_it() -> None:
    # a record over many lines is one row, however it is read
    cell = '"' + 'line, with ""quotes""\r\n' * 20_000 + '"'
    items = parse(lines(H, outcome_row(vendor_guid="a", title=cell), "", outcome_row(),
                        eol="\r\n"))
    assert errors(items) == [(2, too_long("title"))]
    assert [o.row for o in outcomes(items)] == [4]


# --- the header ------------------------------------------------------------------------------


def test_a_long_header_cell_is_canvass_invalid_fields_quoting_only_its_start() -> None:
    with pytest.raises(DataFormatError) as raised:
        parse(lines("title,vendor_guid,object_type," + "x" * (5 * MiB), outcome_row()))
    message = str(raised.value)
    assert message == 'Invalid fields: ["' + "x" * (MAX_ERROR_LENGTH - 2)
    assert cut_message(message) == cut_message('Invalid fields: ["' + "x" * (5 * MiB) + '"]')


def test_a_long_blank_header_cell_after_ratings_is_ignored_as_canvas_does() -> None:
    header = H + ",ratings," + " " * (5 * MiB) + "," * 100_000
    items = parse(lines(header, outcome_row() + ",3,ok"))
    assert [o.ratings for o in outcomes(items)] == [(Rating(3.0, "ok"),)]


def test_a_header_alone_whose_crlf_the_cap_splits_has_no_outcomes_data() -> None:
    # 64 Ki characters is the least a line is read in: the header's CR ends that piece.
    header = H + ",ratings"
    header += "," * (64 * KiB - 1 - len(header))
    with pytest.raises(DataFormatError, match=r"^File has no outcomes data$"):
        parse(header + "\r\n", max_cell_bytes=1)


# --- max_parents_per_row ---------------------------------------------------------------------


def test_more_parents_than_the_limit_is_a_row_error() -> None:
    parents = " ".join(f"p{i}" for i in range(1001))
    items = parse(lines(
        H,
        outcome_row(vendor_guid="a", parent_guids=parents),
        outcome_row(vendor_guid="b", parent_guids=parents.rsplit(" ", 1)[0]),
        outcome_row(vendor_guid="c", parent_guids=" ".join(["p"] * 5000)),  # one parent
    ))
    assert errors(items) == [(2, "Too many parents: 1001 (maximum is 1000)")]
    assert [len(o.parent_guids) for o in outcomes(items)] == [1000, 1]


def test_max_parents_per_row_is_read_from_the_options() -> None:
    items = parse(lines(H, "t,g,group,a b c", outcome_row(parent_guids="a b")),
                  max_parents_per_row=2)
    assert errors(items) == [(2, "Too many parents: 3 (maximum is 2)")]
    assert [o.parent_guids for o in outcomes(items)] == [("a", "b")]
    assert groups(items) == []


# --- numbers ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("cell", "locale"),
    [
        ("1e400", "en"),
        ("-1e400", "en"),
        ("0x1p99999", "en"),
        ("-0x1p1024", "en"),
        ('"' + ",".join(["999"] * 110) + '"', "en"),  # 330 digits once the delimiters go
        ('"' + " ".join(["999"] * 110) + ',5"', "fr"),
        ("1" * 400, "en"),
    ],
)
def test_numbers_ruby_reads_as_infinite_are_invalid(cell: str, locale: str) -> None:
    shown = cell.strip('"')[:MAX_ERROR_LENGTH]
    items = parse(lines(
        HR,
        row(vendor_guid="a", mastery_points=cell),
        row(vendor_guid="b") + f",{cell},too many",
        row(vendor_guid="c") + f",5,top,{cell},too many",
    ), locale=locale)
    assert errors(items) == [
        (2, f'Invalid value for mastery points: "{shown}"'),
        (3, f'Invalid value for rating tier 1 threshold: "{shown}"'),
        (4, f'Invalid value for rating tier 2 threshold: "{shown}"'),
    ]


def test_the_largest_finite_numbers_are_kept() -> None:
    items = parse(lines(
        HR,
        row(vendor_guid="a", mastery_points="1e308") + ",1.7976931348623157e308,max",
        row(vendor_guid="b", mastery_points="-0x1p1023"),
        row(vendor_guid="c", mastery_points="1e-400"),  # underflows to 0, as in Ruby
    ))
    assert errors(items) == []
    assert [o.mastery_points for o in outcomes(items)] == [1e308, -(2.0**1023), 0.0]
    assert outcomes(items)[0].ratings == (Rating(1.7976931348623157e308, "max"),)


def test_a_calculation_int_python_cannot_convert_is_invalid_and_later_rows_go_on() -> None:
    digits = "9" * 5000
    items = parse(lines(
        H,
        outcome_row(vendor_guid="a", calculation_int=digits),
        outcome_row(vendor_guid="b", calculation_int="-" + digits),
        outcome_row(vendor_guid="c", calculation_int=" " + "0" * 5000 + "7 "),
        outcome_row(vendor_guid="d", calculation_int="9" * 4300),
        outcome_row(vendor_guid="e", calculation_int="12345678901234567890"),
    ))
    assert errors(items) == [
        (2, 'Invalid value for calculation_int: "' + "9" * MAX_ERROR_LENGTH + '"'),
        (3, 'Invalid value for calculation_int: "-' + "9" * (MAX_ERROR_LENGTH - 1) + '"'),
    ]
    # Whole numbers Python converts are left to the engine's range check (Canvas's message).
    assert [o.calculation_int for o in outcomes(items)] == [
        7, int("9" * 4300), 12345678901234567890
    ]


# --- messages quote only what is shown ------------------------------------------------------


@pytest.mark.parametrize(
    ("cells", "start"),
    [
        ({"object_type": "x" * 60_000}, 'Invalid object_type: "'),
        ({"calculation_int": "x" * 60_000}, 'Invalid value for calculation_int: "'),
        ({"mastery_points": "x" * 60_000}, 'Invalid value for mastery points: "'),
        ({"title": "\udcff" * 60_000}, 'Not a valid utf-8 string: "'),
    ],
)
def test_messages_about_long_cells_stay_short(cells: dict[str, str], start: str) -> None:
    [(_, message)] = errors(parse(lines(HR, row(**cells))))
    assert message.startswith(start)
    assert len(message) < len(start) + MAX_ERROR_LENGTH + 2


# --- memory -----------------------------------------------------------------------------------


def peak_while_parsing(path: Path) -> int:
    with path.open("rb") as source:
        tracemalloc.start()
        try:
            deque(InstructureCsv().parse(source, FormatOptions()), maxlen=0)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    return peak


CELLS = {
    "unquoted": lambda size: "p " * (size // 2),  # one line
    "quoted": lambda size: '"' + "p\n" * (size // 2) + '"',  # a quoted cell over many lines
    "non-ascii": lambda size: "é" * (size // 2),  # text Python keeps in 2 bytes a character
}


@pytest.mark.parametrize("kind", CELLS)
def test_memory_does_not_grow_with_a_cell(tmp_path: Path, kind: str) -> None:
    parse(lines(H, outcome_row()))  # one-time loads: locale data, regexes
    peaks = []
    for size in (MiB, 10 * MiB):  # ten times the cell: memory that grew with it would show
        path = tmp_path / f"{size}.csv"
        cell = CELLS[kind](size)
        path.write_text(lines(H, outcome_row(vendor_guid="a", parent_guids=cell), outcome_row()),
                        encoding="utf-8", newline="")
        assert path.stat().st_size >= size
        peaks.append(peak_while_parsing(path))
    small, large = peaks
    assert large < small + 64 * KiB, peaks
    assert large < 8 * MiB, peaks  # a record is held up to 128 Ki characters


# --- the helpers ------------------------------------------------------------------------------

TEXT = st.text(st.characters(blacklist_categories=("Cs",)) | st.sampled_from("#{$@\"\\\n\udcff"))


@settings(max_examples=300, deadline=None)
@given(value=TEXT, limit=st.integers(0, 40))
def test_inspect_with_a_limit_is_the_start_of_the_whole(value: str, limit: int) -> None:
    assert inspect(value, limit=limit) == inspect(value, limit=None)[:limit]
    assert clip(value, limit=limit) == value[:limit]


@settings(max_examples=300, deadline=None)
@given(values=st.lists(TEXT, max_size=8), limit=st.integers(0, 60))
def test_inspect_list_with_a_limit_is_the_start_of_the_whole(values: list[str], limit: int) -> None:
    assert inspect_list(values, limit=limit) == inspect_list(values, limit=None)[:limit]


def test_inspect_list_stops_reading_once_the_limit_is_passed() -> None:
    endless = (f"guid{i}" for i in itertools.count())
    shown = inspect_list(endless)
    assert len(shown) == MAX_ERROR_LENGTH
    assert shown.startswith('["guid0", "guid1", ')
    assert shown == inspect_list([f"guid{i}" for i in range(27)], limit=None)[:MAX_ERROR_LENGTH]
    assert next(endless) == "guid27"  # guid0 to guid26 fill the 255 characters


def test_the_helpers_default_to_what_a_stored_message_shows() -> None:
    assert inspect("x" * 1000) == '"' + "x" * (MAX_ERROR_LENGTH - 1)
    assert inspect_list([]) == "[]"
    assert inspect_list(["a", "b#{"]) == '["a", "b\\#{"]'
    assert clip("y" * 1000) == "y" * MAX_ERROR_LENGTH
