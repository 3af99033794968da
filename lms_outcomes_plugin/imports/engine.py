"""The import engine: applies a format's records to the outcome tree with Canvas's rules.

Format-neutral (it sees only records) and backend-neutral (it sees only the store protocol).
Records arrive a batch at a time from the parse worker (:mod:`.parsing`); each batch costs a
fixed number of store round trips, in one transaction: a lookup of everything the batch names,
ids for the objects it creates, and one apply of everything it changes with its errors and
progress. Planning in between is plain Python on what those returned.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import aclosing

from lms_outcomes_plugin.imports.parsing import ParsedBatch
from lms_outcomes_plugin.imports.planner import BatchPlanner, NewIds
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
    batch, before anything is written; ImportStopped is raised between batches when asked, and
    the store's ImportTakenOver as a batch begins once the run no longer owns the import."""
    planner = BatchPlanner(scope)
    async with aclosing(batches):
        async for batch in batches:
            lookup = await planner.prepare(store, batch.items)
            async with store.batch(scope.import_id, scope.runner) as tx:
                existing = await tx.lookup(lookup)
                await planner.learn(existing)
                ids = NewIds(*await tx.reserve_ids(*planner.new_objects(batch.items)))
                # Planning a batch is Python work on the whole batch: in a thread, so the
                # IOLoop keeps answering (a status request makes several store hops).
                write = await asyncio.to_thread(
                    planner.plan, batch.items, existing, ids, batch.progress
                )
                await tx.apply(write)
            if should_stop():
                raise ImportStopped
