"""The built-in ``instructure_csv`` import format: Canvas's outcomes CSV, at Canvas parity.

Two passes over the upload. Pass 1 reads the whole file once for what fails a file as a whole
(no data, malformed CSV anywhere, a bad header, no rows) and raises before anything is yielded,
so a bad file writes nothing (decision 5). Pass 2 re-reads it and yields one record or row error
per data row, lazily; memory grows neither with the file nor with its longest line.

The file is decoded as :mod:`lms_outcomes_plugin.formats.encoding` says (UTF-8 unless the client
chose another ``encoding`` or a byte-order mark says otherwise); how it was read, when the user
should know, is a warning on row 1, yielded before the first record.

A data cell over ``max_cell_bytes`` is a row error. A header cell needs no limit of its own: the
reader keeps only its first characters, and a long one is never a column name, so Canvas's own
file-level message ("Invalid fields: [...]") reports it, or, blank after ``ratings``, Canvas
ignores it.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import BinaryIO

from lms_outcomes_plugin.formats import FormatOptions, ImportFormatRegistry
from lms_outcomes_plugin.formats.encoding import decoding_for
from lms_outcomes_plugin.formats.instructure_csv.header import parse_header
from lms_outcomes_plugin.formats.instructure_csv.reader import (
    Bounds,
    detect_layout,
    read_rows,
    scan,
)
from lms_outcomes_plugin.formats.instructure_csv.rows import RowParser
from lms_outcomes_plugin.hookspecs import hookimpl
from lms_outcomes_plugin.records import DataFormatError, ParsedItem, RowWarning

NO_OUTCOMES_DATA = "File has no outcomes data"


class InstructureCsv:
    """``import_type=instructure_csv``: bytes -> GroupRecord / OutcomeRecord / RowError."""

    name = "instructure_csv"

    def parse(self, source: BinaryIO, options: FormatOptions) -> Iterator[ParsedItem]:
        """Raise DataFormatError on the first ``next()`` for a bad file, else yield items in
        row order (row 1 is the header; blank rows yield nothing but keep their number)."""
        bounds = Bounds.for_cells_of(options.max_cell_bytes)
        decoding = decoding_for(source, options.encoding)
        layout = detect_layout(source, decoding)
        scanned = scan(source, layout, bounds)
        header = parse_header(scanned.header)
        if not scanned.has_rows:
            raise DataFormatError(NO_OUTCOMES_DATA)
        if decoding.warning is not None:
            yield RowWarning(1, decoding.warning)
        parser = RowParser(
            header, options, layout.separator, scanned.undecodable, decoding.name
        )
        rows = read_rows(source, layout, bounds)
        next(rows)  # the header, checked above
        for number, (cells, raw) in enumerate(rows, start=2):
            item = parser.parse(number, cells, raw)
            if item is not None:
                yield item

    def __repr__(self) -> str:
        return "InstructureCsv()"


@hookimpl
def lms_outcomes_register_import_formats(registry: ImportFormatRegistry) -> None:
    """Register the built-in format (the default ``import_type``)."""
    registry.add(InstructureCsv())
