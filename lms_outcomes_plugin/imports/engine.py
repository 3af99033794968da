"""The import engine: applies a format's records to the outcome tree with Canvas's rules.

Format-neutral (it sees only records) and backend-neutral (it sees only the store protocol).
Records are pulled from the format in a worker thread a batch at a time; each batch costs a
fixed number of store round trips: one lookup of everything the batch names, then one apply of
everything it changes, with its errors and progress, in one transaction.
"""

from __future__ import annotations

import asyncio
import itertools
import os
from collections.abc import Callable, Iterator
from typing import BinaryIO

from lms_outcomes_plugin.formats import FormatOptions, ImportFormat
from lms_outcomes_plugin.imports.planner import BatchPlanner
from lms_outcomes_plugin.imports.scope import ImportScope
from lms_outcomes_plugin.records import ParsedItem
from lms_outcomes_plugin.storage import Store


class ImportStopped(Exception):
    """The host is shutting down; the import stopped between two batches."""


def _take(items: Iterator[ParsedItem], count: int) -> list[ParsedItem]:
    return list(itertools.islice(items, count))


def _progress(source: BinaryIO, size: int) -> int:
    """Bytes read so far, as a percentage below 100 (100 is set when the import ends)."""
    return min(99, source.tell() * 100 // size) if size else 0


async def run_import(
    store: Store,
    import_format: ImportFormat,
    source: BinaryIO,
    scope: ImportScope,
    options: FormatOptions,
    *,
    batch_size: int,
    should_stop: Callable[[], bool] = lambda: False,
) -> None:
    """Apply the whole file, batch by batch. A DataFormatError from the format is raised before
    the first batch is written; ImportStopped is raised between batches when asked to stop."""
    size = os.fstat(source.fileno()).st_size
    planner = BatchPlanner(scope)
    items = import_format.parse(source, options)
    while True:
        # Parsing runs in a thread so the IOLoop keeps serving while a batch is read.
        chunk = await asyncio.to_thread(_take, items, batch_size)
        if not chunk:
            return
        progress = _progress(source, size)
        lookup = await planner.prepare(chunk)
        async with store.batch() as tx:
            existing = await tx.lookup(lookup)
            await tx.apply(await planner.plan(tx, chunk, existing, progress))
        if should_stop():
            raise ImportStopped
