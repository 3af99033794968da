"""Checks an import format against bytes, the way an import runs it (see :func:`check_format`)."""

from __future__ import annotations

import contextlib
import os
import pickle
import tempfile
import tracemalloc
import uuid
from collections.abc import Iterator
from pathlib import Path

from lms_outcomes_plugin.formats import FormatOptions, ImportFormat, ImportFormatRegistry
from lms_outcomes_plugin.imports import parsing
from lms_outcomes_plugin.records import (
    DataFormatError,
    GroupRecord,
    OutcomeRecord,
    ParsedItem,
    Progress,
    RowError,
    RowWarning,
)

MiB = 1024 * 1024
#: The default bound on what a parse may hold in memory at once (a batch of records included).
DEFAULT_MAX_MEMORY = 16 * MiB
_ITEMS = (GroupRecord, OutcomeRecord, RowError, RowWarning)


def check_format(
    import_format: ImportFormat,
    data: bytes,
    options: FormatOptions | None = None,
    *,
    max_memory: int = DEFAULT_MAX_MEMORY,
) -> list[ParsedItem]:
    """The records, row errors and warnings ``import_format`` makes of ``data``, checked
    against the rules an import relies on; or the format's :class:`DataFormatError`, raised.

    The format is registered (so it must pickle, as it does to reach the parse worker), and its
    unpickled copy parses ``data`` from a real file, as in an import. An ``AssertionError``
    says which rule it broke: ``parse`` returns an iterator; it yields only records, row
    errors, :class:`RowWarning` and :class:`Progress`, with rows that never go back; it raises
    ``DataFormatError`` only before its first item; a format that reports progress does so
    before its first record; and, run by the parse worker's own code, it never holds more than
    ``max_memory`` bytes at once (give it a file larger than that to check memory does not grow
    with the file).
    """
    registry = ImportFormatRegistry()
    registry.add(import_format)  # refuses a format that does not pickle, naming it
    parsed_copy = pickle.loads(pickle.dumps(import_format))
    options = options or FormatOptions()
    with _upload(data) as path:
        items = _checked_items(parsed_copy, path, options)
        peak = _peak_memory(parsed_copy, path, options)
    _require(
        peak <= max_memory,
        f"{import_format!r} held {peak} bytes at once parsing {len(data)} bytes (the bound is "
        f"{max_memory}): a format must read and yield lazily",
    )
    return items


@contextlib.contextmanager
def _upload(data: bytes) -> Iterator[str]:
    """``data`` in a real file, as the store keeps an upload."""
    descriptor, path = tempfile.mkstemp(prefix="lms-outcomes-check-", suffix=".upload")
    try:
        with os.fdopen(descriptor, "wb") as file:
            file.write(data)
        yield path
    finally:
        Path(path).unlink(missing_ok=True)


def _checked_items(
    import_format: ImportFormat, path: str, options: FormatOptions
) -> list[ParsedItem]:
    name = import_format.name
    _require(isinstance(name, str) and bool(name), f"{import_format!r}: name must be a str")
    rules = _Rules(name)
    source = parsing.open_upload(path)
    try:
        parsed = import_format.parse(source, options)
        _require(iter(parsed) is parsed, f"{name}: parse must return an iterator (generator)")
        try:
            for item in parsed:
                rules.check(item)
        except DataFormatError:
            _require(
                not rules.items,
                f"{name}: DataFormatError after {len(rules.items)} item(s); a format checks "
                "the whole file before it yields its first record, so a bad file writes nothing",
            )
            raise
    finally:
        source.release()
    return rules.items


class _Rules:
    """What the engine and the progress bar rely on, item by item."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.items: list[ParsedItem] = []
        self.reports_progress = False

    def check(self, item: object) -> None:
        name = self.name
        if isinstance(item, Progress):
            _require(
                self.reports_progress or not self.items,
                f"{name}: the first Progress came after {len(self.items)} item(s); report "
                "progress before the first record, or the first batches are measured in bytes",
            )
            self.reports_progress = True
            return
        _require(
            isinstance(item, _ITEMS),
            f"{name}: yielded {item!r}; a format yields GroupRecord, OutcomeRecord, RowError, "
            "RowWarning and Progress only",
        )
        _require(isinstance(item.row, int) and item.row >= 1, f"{name}: bad row in {item!r}")
        last = self.items[-1].row if self.items else 1
        _require(item.row >= last, f"{name}: row {item.row} came after row {last} (row order)")
        self.items.append(item)


def _peak_memory(import_format: ImportFormat, path: str, options: FormatOptions) -> int:
    """Parse with the worker's own functions (batches of 1,000, each dropped once taken) and
    return the most memory held at once, in bytes."""
    job = f"check-{uuid.uuid4().hex}"
    started = not tracemalloc.is_tracing()
    if started:
        tracemalloc.start()
    try:
        baseline = tracemalloc.get_traced_memory()[0]
        tracemalloc.reset_peak()
        parsing._start(job, import_format, path, options, 1000)
        try:
            while parsing._next(job) is not None:
                pass
        finally:
            parsing._close(job)
        return tracemalloc.get_traced_memory()[1] - baseline
    finally:
        if started:
            tracemalloc.stop()


def _require(condition: bool, message: str) -> None:
    """An assertion that ``python -O`` keeps."""
    if not condition:
        raise AssertionError(message)
