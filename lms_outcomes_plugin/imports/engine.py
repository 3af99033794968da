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
from lms_outcomes_plugin.imports.prune import prune
from lms_outcomes_plugin.imports.scope import ImportScope
from lms_outcomes_plugin.storage import BatchTransaction, BatchWrite, Lookup, Store


class ImportStopped(Exception):
    """The host is shutting down; the import stopped between two batches."""


async def run_import(
    store: Store,
    batches: AsyncIterator[ParsedBatch],
    scope: ImportScope,
    *,
    dry_run: bool = False,
    should_stop: Callable[[], bool] = lambda: False,
) -> None:
    """Apply the parsed file, batch by batch. The format's DataFormatError comes with the first
    batch, before anything is written; ImportStopped is raised between batches when asked, and
    the store's ImportTakenOver as a batch begins once the run no longer owns the import.
    A dry run does all of it in one transaction that is rolled back, then records what it
    found (errors, warnings, counts) as a batch that changes nothing."""
    planner = BatchPlanner(scope)
    async with aclosing(batches):
        if dry_run:
            found = await _dry_run(store, batches, planner, should_stop)
            async with store.batch(scope.import_id, scope.runner) as tx:
                await tx.apply(found)
            return
        progress = 0
        async for batch in batches:
            lookup = await planner.prepare(store, batch.items)
            async with store.batch(scope.import_id, scope.runner) as tx:
                await _apply_batch(tx, planner, batch, lookup)
            progress = batch.progress
            if should_stop():
                raise ImportStopped
        if planner.pruned:
            async with store.batch(scope.import_id, scope.runner) as tx:
                pruning = await prune(tx, planner, progress)
                if pruning is not None:
                    await tx.apply(pruning)


async def _dry_run(
    store: Store,
    batches: AsyncIterator[ParsedBatch],
    planner: BatchPlanner,
    should_stop: Callable[[], bool],
) -> BatchWrite:
    """Every batch applied in the dry run's transaction (its later batches see what earlier
    ones wrote, as in the real import); returns what they found, without tree changes."""
    scope = planner.scope
    found = BatchWrite(import_id=scope.import_id, runner=scope.runner, progress=0)
    async with store.dry_run() as tx:
        async for batch in batches:
            # Course root groups too are created in the transaction: outside it, SQLite's
            # writer would wait for the transaction it runs in.
            lookup = await planner.prepare(tx, batch.items)
            write = await _apply_batch(tx, planner, batch, lookup)
            found.errors.extend(write.errors)
            found.warnings.extend(write.warnings)
            found.progress = batch.progress
            if should_stop():
                raise ImportStopped
        pruning = await prune(tx, planner, found.progress)
        if pruning is not None:
            await tx.apply(pruning)
    found.counts = planner.counts
    return found


async def _apply_batch(
    tx: BatchTransaction, planner: BatchPlanner, batch: ParsedBatch, lookup: Lookup
) -> BatchWrite:
    existing = await tx.lookup(lookup)
    await planner.learn(existing)
    ids = NewIds(*await tx.reserve_ids(*planner.new_objects(batch.items)))
    # Planning a batch is Python work on the whole batch: in a thread, so the IOLoop keeps
    # answering (a status request makes several store hops).
    write = await asyncio.to_thread(planner.plan, batch.items, existing, ids, batch.progress)
    await tx.apply(write)
    return write
