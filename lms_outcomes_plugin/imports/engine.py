"""The import engine: applies a format's records to the outcome tree with Canvas's rules.

Format-neutral (it sees only records) and backend-neutral (it sees only the store protocol).
Records arrive a batch at a time from the parse worker (:mod:`.parsing`); each batch costs a
fixed number of store round trips: one lookup of everything the batch names, then one apply of
everything it changes, with its errors and progress, in one transaction.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import aclosing

from lms_outcomes_plugin.imports.parsing import ParsedBatch
from lms_outcomes_plugin.imports.planner import BatchPlanner
from lms_outcomes_plugin.imports.scope import ImportScope
from lms_outcomes_plugin.storage import Store


class ImportStopped(Exception):
    """The host is shutting down; the import stopped between two batches."""


async def run_import(
    store: Store,
    batches: AsyncIterator[ParsedBatch],
    scope: ImportScope,
    *,
    should_stop: Callable[[], bool] = lambda: False,
) -> None:
    """Apply the parsed file, batch by batch. The format's DataFormatError comes with the first
    batch, before anything is written; ImportStopped is raised between batches when asked."""
    planner = BatchPlanner(scope)
    async with aclosing(batches):
        async for batch in batches:
            lookup = await planner.prepare(batch.items)
            async with store.batch() as tx:
                existing = await tx.lookup(lookup)
                await tx.apply(await planner.plan(tx, batch.items, existing, batch.progress))
            if should_stop():
                raise ImportStopped
