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
from lms_outcomes_plugin.storage import BatchWrite, Existing, Store

#: Rows planned between two turns of the IOLoop (about a millisecond of Python).
PLAN_SLICE = 100


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
            lookup = await planner.prepare(store, batch.items)
            async with store.batch() as tx:
                existing = await tx.lookup(lookup)
                await planner.learn(existing)
                ids = NewIds(*await tx.reserve_ids(*planner.new_objects(batch.items)))
                write = await _plan(planner, batch, existing, ids)
                await tx.apply(write)
            if should_stop():
                raise ImportStopped


async def _plan(
    planner: BatchPlanner, batch: ParsedBatch, existing: Existing, ids: NewIds
) -> BatchWrite:
    """Plan the batch on the IOLoop, yielding to it between slices of rows: a status request
    waits a slice at most. (In a thread, the planner held the GIL against the IOLoop for a
    switch interval at a time, at each of a request's store hops.)"""
    write = planner.start(existing, batch.progress)
    items = batch.items
    for start in range(0, len(items), PLAN_SLICE):
        planner.plan_items(items[start : start + PLAN_SLICE], existing, ids, write)
        await asyncio.sleep(0)
    return write
