"""``lms_outcomes_plugin.testing.check_format``: a format author's check of a format against
bytes. It passes formats that keep the rules and names the rule each broken one breaks."""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO

import pytest

from benchmarks.generate import write
from lms_outcomes_plugin import (
    DataFormatError,
    FormatOptions,
    FormatOutput,
    GroupRecord,
    OutcomeRecord,
    Progress,
    RowError,
    hookimpl,
)
from lms_outcomes_plugin.extensions import Extensions, make_plugin_manager
from lms_outcomes_plugin.formats import UnpicklableImportFormat
from lms_outcomes_plugin.formats.instructure_csv import InstructureCsv
from lms_outcomes_plugin.testing import check_format
from tests.conftest import fixture_bytes
from tests.toy_formats import ReadAllFormat, TextLinesFormat

MiB = 1024 * 1024


def test_the_built_in_format_passes_with_bounded_memory(tmp_path: Path) -> None:
    data = write(10_000, tmp_path / "big.csv").read_bytes()
    assert len(data) > 3 * MiB

    items = check_format(InstructureCsv(), data, max_memory=2 * MiB)

    assert len(items) == 10_000
    assert items[0].row == 2


def test_it_returns_row_errors_and_raises_the_formats_data_format_error() -> None:
    items = check_format(InstructureCsv(), fixture_bytes("canvas/demo.csv"))
    assert {type(item) for item in items} == {GroupRecord, OutcomeRecord}
    with pytest.raises(DataFormatError, match=r"^File has no outcomes data$"):
        check_format(InstructureCsv(), b"vendor_guid,object_type,title\r\n")
    bad_row = b"vendor_guid,object_type,title\r\na,nothing,A\r\n"
    assert check_format(InstructureCsv(), bad_row) == [
        RowError(2, 'Invalid object_type: "nothing"')
    ]


def test_a_format_may_close_its_source_and_report_progress(tmp_path: Path) -> None:
    assert [g.vendor_guid for g in check_format(TextLinesFormat(), b"a\r\n\r\nb\n")] == ["a", "b"]
    gate = tmp_path / "open"
    gate.touch()
    items = check_format(ReadAllFormat(str(gate), 0), b'["x", "y"]')
    assert [item.row for item in items] == [1, 2]


class Broken:
    """A format that breaks one rule, by name."""

    def __init__(self, name: str) -> None:
        self.name = name

    def parse(self, source: BinaryIO, options: FormatOptions) -> Iterator[FormatOutput]:
        return getattr(self, self.name)(source)

    def __repr__(self) -> str:
        return f"Broken({self.name!r})"

    def late_error(self, source: BinaryIO) -> Iterator[FormatOutput]:
        yield GroupRecord(row=1, vendor_guid="a", title="A")
        raise DataFormatError("Bad file")

    def backwards(self, source: BinaryIO) -> Iterator[FormatOutput]:
        yield GroupRecord(row=3, vendor_guid="a", title="A")
        yield GroupRecord(row=2, vendor_guid="b", title="B")

    def dicts(self, source: BinaryIO) -> Iterator[Any]:
        yield {"row": 1}

    def late_progress(self, source: BinaryIO) -> Iterator[FormatOutput]:
        yield GroupRecord(row=1, vendor_guid="a", title="A")
        yield Progress(1, 2)

    def eager(self, source: BinaryIO) -> Any:
        return [GroupRecord(row=1, vendor_guid="a", title="A")]

    def greedy(self, source: BinaryIO) -> Iterator[FormatOutput]:
        lines = source.read().splitlines()
        yield GroupRecord(row=1, vendor_guid="a", title=str(len(lines)))


@pytest.mark.parametrize(("rule", "message"), [
    ("late_error", "late_error: DataFormatError after 1 item(s); a format checks the whole file "
                   "before it yields its first record, so a bad file writes nothing"),
    ("backwards", "backwards: row 2 came after row 3 (row order)"),
    ("dicts", "dicts: yielded {'row': 1}; a format yields GroupRecord, OutcomeRecord, RowError, "
              "RowWarning and Progress only"),
    ("late_progress", "late_progress: the first Progress came after 1 item(s); report progress "
                      "before the first record, or the first batches are measured in bytes"),
    ("eager", "eager: parse must return an iterator (generator)"),
])  # fmt: skip
def test_a_broken_rule_is_named(rule: str, message: str) -> None:
    with pytest.raises(AssertionError) as raised:
        check_format(Broken(rule), b"a\n")
    assert str(raised.value) == message


def test_a_format_that_reads_its_file_at_once_holds_too_much() -> None:
    data = b"x\n" * (2 * MiB)
    pattern = (
        r"Broken\('greedy'\) held \d+ bytes at once parsing 4194304 bytes \(the bound is "
        r"1048576\): a format must read and yield lazily"
    )
    with pytest.raises(AssertionError, match=f"^{pattern}$"):
        check_format(Broken("greedy"), data, max_memory=MiB)


class LockedFormat:
    """Holds a lock: it registers nowhere, since the parse worker gets a pickled copy."""

    name = "locked"

    def __init__(self) -> None:
        self.lock = threading.Lock()

    def parse(self, source: BinaryIO, options: FormatOptions) -> Iterator[FormatOutput]:
        yield from ()

    def __repr__(self) -> str:
        return "LockedFormat()"


UNPICKLABLE = (
    "import_type 'locked' cannot be sent to the parse worker: pickling LockedFormat() failed "
    "(TypeError: cannot pickle '_thread.lock' object). Define the format's class at module "
    "level and keep no locks, open files or connections on it"
)


def test_a_format_that_does_not_pickle_is_refused_at_registration() -> None:
    class Registers:
        @hookimpl
        def lms_outcomes_register_import_formats(self, registry: Any) -> None:
            registry.add(LockedFormat())

    pm = make_plugin_manager([Registers()], load_entry_points=False)
    with pytest.raises(UnpicklableImportFormat, match=f"^{re.escape(UNPICKLABLE)}$"):
        Extensions.collect(pm, host=None)  # type: ignore[arg-type]
    with pytest.raises(UnpicklableImportFormat, match=f"^{re.escape(UNPICKLABLE)}$"):
        check_format(LockedFormat(), b"")
