"""Properties of the instructure_csv format: what Python's csv writer writes reads back cell for
cell, the strictness check agrees with a plain reference grammar, arbitrary bytes never raise
anything but DataFormatError, and memory does not grow with the file."""

from __future__ import annotations

import csv
import io
import tracemalloc
from collections import deque
from pathlib import Path

from formats_helpers import errors, outcomes, parse
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from lms_outcomes_plugin.formats import FormatOptions
from lms_outcomes_plugin.formats.instructure_csv import InstructureCsv
from lms_outcomes_plugin.formats.instructure_csv.reader import (
    Bounds,
    detect_layout,
    quoted_cells,
    read_rows,
    scan,
)
from lms_outcomes_plugin.records import DataFormatError, GroupRecord, OutcomeRecord, RowError

BOUNDED = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
SEPARATORS = st.sampled_from([",", ";"])
LINE_ENDS = st.sampled_from(["\r\n", "\n", "\r"])
QUOTING = st.sampled_from([csv.QUOTE_MINIMAL, csv.QUOTE_ALL])


def cells(line_end: str, quoting: int) -> st.SearchStrategy[str]:
    """Text csv.writer writes readably: under QUOTE_MINIMAL it quotes a CR or LF only when
    that character is part of its line terminator, so leave the other one out there."""
    avoid = ""
    if quoting == csv.QUOTE_MINIMAL and line_end != "\r\n":
        avoid = "\r" if line_end == "\n" else "\n"
    return st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters=avoid))


def write(rows: list[list[str]], separator: str, line_end: str, quoting: int) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, delimiter=separator, lineterminator=line_end, quoting=quoting)
    writer.writerows(rows)
    return out.getvalue().encode()


def canvas_separator(data: bytes) -> str:
    """Canvas counts separators in the first "\\n"-terminated line. The header decides it,
    except in a CR-only file, where that line is the whole file and cells count too."""
    first_line = data.partition(b"\n")[0]
    return ";" if first_line.count(b";") > first_line.count(b",") else ","


#: Bounds no test record reaches: every record is read whole.
WHOLE = Bounds(cell=1 << 20, record=1 << 20)


def read_back(data: bytes, bounds: Bounds = WHOLE) -> list[tuple[list[str], list[bool]]]:
    """Every record through the reader layer, with the quoting of its cells; pass 1 agrees with
    pass 2 on the header and on whether records follow it."""
    source = io.BytesIO(data)
    layout = detect_layout(source)
    scanned = scan(source, layout, bounds)
    records = []
    for row, raw in read_rows(source, layout, bounds):
        quoted = quoted_cells(raw, layout.separator) if raw else [False] * len(row)
        records.append((row, quoted))
    assert scanned.header == records[0][0]
    assert scanned.has_rows == (len(records) > 1)
    return records


@BOUNDED
@given(data=st.data(), separator=SEPARATORS, line_end=LINE_ENDS, quoting=QUOTING)
def test_written_grids_read_back_cell_for_cell(
    data: st.DataObject, separator: str, line_end: str, quoting: int
) -> None:
    width = data.draw(st.integers(2, 5), label="width")
    row = st.lists(cells(line_end, quoting), min_size=width, max_size=width)
    grid = data.draw(st.lists(row, max_size=6), label="grid")
    header = [f"h{i}" for i in range(width)]
    written = write([header, *grid], separator, line_end, quoting)
    assume(canvas_separator(written) == separator)
    records = read_back(written)
    assert [cells for cells, _ in records] == [header, *grid]
    for cells_read, quoted in records:
        assert len(quoted) == len(cells_read)
        if quoting == csv.QUOTE_ALL:
            assert all(quoted)


@BOUNDED
@given(data=st.data(), separator=SEPARATORS, line_end=LINE_ENDS, quoting=QUOTING)
def test_written_values_come_back_in_records(
    data: st.DataObject, separator: str, line_end: str, quoting: int
) -> None:
    text = cells(line_end, quoting)
    values = data.draw(st.lists(st.tuples(text, text, text), min_size=1, max_size=5))
    header = ["vendor_guid", "object_type", "title", "description", "display_name"]
    rows = [[f"g{i}", "outcome", "t" + a, b, c] for i, (a, b, c) in enumerate(values)]
    written = write([header, *rows], separator, line_end, quoting)
    assume(canvas_separator(written) == separator)
    items = parse(written)
    assert errors(items) == []
    found = [(o.title, o.description, o.display_name) for o in outcomes(items)]
    assert found == [("t" + a, b or None, c or None) for a, b, c in values]


@BOUNDED
@given(
    data=st.data(), separator=SEPARATORS, line_end=LINE_ENDS, quoting=QUOTING,
    record=st.integers(1, 12), cell=st.integers(1, 6),
)
def test_records_too_long_to_hold_are_cut_cell_by_cell(
    data: st.DataObject, separator: str, line_end: str, quoting: int, record: int, cell: int
) -> None:
    """A record over ``Bounds.record`` characters is split as it streams by (in pieces of that
    many characters: a CRLF split in two included) into the same cells as a record read whole,
    cut to ``Bounds.cell`` characters."""
    width = data.draw(st.integers(1, 4), label="width")
    row = st.lists(cells(line_end, quoting), min_size=width, max_size=width)
    grid = data.draw(st.lists(row, min_size=1, max_size=4), label="grid")
    written = write(grid, separator, line_end, quoting)
    assume(canvas_separator(written) == separator)
    whole = read_back(written)
    assert read_back(written, Bounds(cell=1 << 20, record=record)) == whole
    cut = [([text[:cell] for text in found], quoted) for found, quoted in whole]
    assert read_back(written, Bounds(cell=cell, record=1)) == cut


# --- arbitrary bytes --------------------------------------------------------------------------

HEADERS = [
    b"",
    b"vendor_guid,object_type,title,parent_guids,calculation_int,mastery_points,ratings\n",
    b"\xef\xbb\xbftitle;vendor_guid;object_type;workflow_state;course_id\r\n",
    b"title,vendor_guid,object_type,description,friendly_description\r",
]
TOKENS = [
    b",", b";", b'"', b'""', b"\r", b"\n", b"\r\n", b" ", b"\t", b"a", b"g", b"1", b"2.5",
    b"0x1A", b"-3", b"group", b"outcome", b"active", b"\xff", b"\xc3\xa9", b"\xc3",
    b"\xef\xbb\xbf", b"\x00", b"\xe2\x80\xa8", b"\xc2\xa0",
]  # fmt: skip
ANY_BYTES = st.one_of(
    st.binary(max_size=300),
    st.tuples(st.sampled_from(HEADERS), st.lists(st.sampled_from(TOKENS), max_size=120)).map(
        lambda parts: parts[0] + b"".join(parts[1])
    ),
)


@BOUNDED
@given(data=ANY_BYTES, locale=st.sampled_from(["en", "fr"]))
def test_arbitrary_bytes_give_row_errors_or_one_data_format_error(data: bytes, locale: str) -> None:
    try:
        items = parse(data, locale=locale)
    except DataFormatError:
        return
    rows = [item.row for item in items]
    assert rows == sorted(set(rows))
    assert all(row >= 2 for row in rows)
    assert all(isinstance(item, GroupRecord | OutcomeRecord | RowError) for item in items)


def reference_is_valid(text: str, separator: str) -> bool:
    """Ruby CSV's quoting rules, one character at a time (slow and obvious)."""
    state = "cell start"
    position = 0
    while position < len(text):
        char = text[position]
        boundary = char in (separator, "\r", "\n")
        if state == "cell start":
            state = "quoted" if char == '"' else "cell start" if boundary else "unquoted"
        elif state == "unquoted":
            if char == '"':
                return False
            state = "cell start" if boundary else "unquoted"
        elif state == "quoted" and char == '"':
            if text.startswith('"', position + 1):
                position += 1
            else:
                state = "closed"
        elif state == "closed":
            if not boundary:
                return False
            state = "cell start"
        position += 1
    return state != "quoted"


@BOUNDED
@given(data=ANY_BYTES)
def test_strictness_agrees_with_the_reference_grammar(data: bytes) -> None:
    separator = canvas_separator(data)
    text = data.removeprefix(b"\xef\xbb\xbf").decode("utf-8", "surrogateescape")
    try:
        parse(data)
        message = None
    except DataFormatError as failure:
        message = str(failure)
    if text:
        assert (message == "Invalid CSV File") == (not reference_is_valid(text, separator))
    else:
        assert message == "File has no data"


# --- memory -----------------------------------------------------------------------------------


def write_groups(path: Path, rows: int) -> None:
    with path.open("w", newline="") as out:
        out.write("vendor_guid,object_type,title\n")
        out.writelines(f"g{i},group,T\n" for i in range(rows))


def parse_with_peak(path: Path) -> tuple[int, int]:
    """The last row parsed, and the parser's peak traced memory in bytes."""
    with path.open("rb") as source:
        tracemalloc.start()
        try:
            # consumed in C and dropped as it goes, like the engine's batches would
            (last,) = deque(InstructureCsv().parse(source, FormatOptions()), maxlen=1)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    return last.row, peak


def test_memory_stays_flat_as_the_file_grows(tmp_path: Path) -> None:
    small, large = tmp_path / "small.csv", tmp_path / "large.csv"
    write_groups(small, 10_000)
    write_groups(large, 300_000)  # 30 times the rows: memory that grew with them would show
    parse(b"title,vendor_guid,object_type\nt,g,group\n")  # one-time loads: locale data, regexes
    small_last, small_peak = parse_with_peak(small)
    large_last, large_peak = parse_with_peak(large)
    assert (small_last, large_last) == (10_001, 300_001)
    assert large_peak < 1024 * 1024, large_peak  # a 4.5 MB file, parsed within 1 MiB
    assert large_peak < small_peak + 64 * 1024, (small_peak, large_peak)
