"""The import engine: applies a format's records to the outcome tree with Canvas's rules.

Format-neutral (it sees only records) and backend-neutral (it sees only the store protocol).
Records are pulled from the format in a worker thread, planned in memory a batch at a time, and
each batch is written by one :meth:`Store.apply_batch` call, one transaction with its errors
and progress, so the number of store round trips follows the batches, not the rows.
"""

from __future__ import annotations

import asyncio
import itertools
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import BinaryIO

from lms_outcomes_plugin.formats import FormatOptions, ImportFormat
from lms_outcomes_plugin.imports import rules
from lms_outcomes_plugin.models import ContextRef
from lms_outcomes_plugin.records import GroupRecord, OutcomeRecord, ParsedItem
from lms_outcomes_plugin.storage import (
    BatchWrite,
    GroupRef,
    GroupWrite,
    LinkWrite,
    OutcomeWrite,
    Store,
)


class ImportStopped(Exception):
    """The host is shutting down; the import stopped between two batches."""


class RowProblem(Exception):
    """A Canvas rule rejects a row; its message becomes the row's error."""


@dataclass(slots=True)
class ImportTarget:
    """Where one import writes."""

    import_id: int
    context: ContextRef
    #: Rows without parents go here: the target group, or the context's root group.
    default_parent_id: int
    new_decaying_average: bool = False


@dataclass(slots=True)
class BatchPlanner:
    """Turns records into a batch of writes, remembering what earlier batches of the same
    import wrote (parents must be groups processed earlier in the same import)."""

    target: ImportTarget
    groups_seen: dict[str, GroupRef] = field(default_factory=dict)
    outcomes_seen: set[str] = field(default_factory=set)

    def plan(self, items: list[ParsedItem], progress: int) -> BatchWrite:
        batch = BatchWrite(import_id=self.target.import_id, progress=progress)
        for item in items:
            try:
                if isinstance(item, GroupRecord):
                    self._plan_group(item, batch)
                elif isinstance(item, OutcomeRecord):
                    self._plan_outcome(item, batch)
                else:
                    batch.errors.append((item.row, item.message))
            except RowProblem as problem:
                batch.errors.append((item.row, str(problem)))
        return batch

    def _parents(self, guids: tuple[str, ...]) -> list[GroupRef]:
        if not guids:
            return [self.target.default_parent_id]
        missing = [guid for guid in guids if guid not in self.groups_seen]
        if missing:
            quoted = ", ".join(f'"{guid}"' for guid in missing)
            raise RowProblem(f"Parent references not found prior to this row: [{quoted}]")
        return [self.groups_seen[guid] for guid in guids]

    def _plan_group(self, record: GroupRecord, batch: BatchWrite) -> None:
        parents = self._parents(record.parent_guids)
        if len(parents) > 1:
            raise RowProblem("An outcome group can only have one parent")
        if record.vendor_guid in self.groups_seen:
            raise RowProblem(f'Group "{record.vendor_guid}" has already appeared in this import')
        context = self.target.context
        batch.groups.append(
            GroupWrite(
                context=context,
                vendor_guid=record.vendor_guid,
                title=record.title,
                description=record.description or "",
                workflow_state=record.workflow_state,
                parent=parents[0],
            )
        )
        self.groups_seen[record.vendor_guid] = (context.type, context.id, record.vendor_guid)

    def _plan_outcome(self, record: OutcomeRecord, batch: BatchWrite) -> None:
        parents = [] if record.workflow_state == "deleted" else self._parents(record.parent_guids)
        if record.vendor_guid in self.outcomes_seen:
            raise RowProblem(
                f'Outcome "{record.vendor_guid}" has already appeared in this import'
            )
        batch.outcomes.append(self._outcome_write(record))
        batch.links.extend(
            LinkWrite(group=parent, outcome_guid=record.vendor_guid, context=self.target.context)
            for parent in parents
        )
        self.outcomes_seen.add(record.vendor_guid)

    def _outcome_write(self, record: OutcomeRecord) -> OutcomeWrite:
        flag = self.target.new_decaying_average
        method = rules.stored_calculation_method(
            record.calculation_method or rules.default_calculation_method(flag), flag
        )
        calculation_int = record.calculation_int
        if calculation_int is None:
            calculation_int = rules.DEFAULT_CALCULATION_INTS.get(method)
        scale = rules.rubric(record.ratings, record.mastery_points)
        return OutcomeWrite(
            context=self.target.context,
            vendor_guid=record.vendor_guid,
            title=record.title,
            description=record.description,
            display_name=record.display_name,
            calculation_method=method,
            calculation_int=calculation_int,
            mastery_points=scale.mastery_points,
            points_possible=scale.points_possible,
            ratings=scale.ratings,
            workflow_state=record.workflow_state,
        )


def _take(items: Iterator[ParsedItem], count: int) -> list[ParsedItem]:
    return list(itertools.islice(items, count))


def _progress(source: BinaryIO, size: int) -> int:
    """Bytes read so far, as a percentage below 100 (100 is set when the import ends)."""
    return min(99, source.tell() * 100 // size) if size else 0


async def run_import(
    store: Store,
    import_format: ImportFormat,
    source: BinaryIO,
    target: ImportTarget,
    options: FormatOptions,
    *,
    batch_size: int,
    should_stop: Callable[[], bool] = lambda: False,
) -> None:
    """Apply the whole file, batch by batch. A DataFormatError from the format is raised before
    the first batch is written; ImportStopped is raised between batches when asked to stop."""
    size = os.fstat(source.fileno()).st_size
    planner = BatchPlanner(target)
    items = import_format.parse(source, options)
    while True:
        # Parsing runs in a thread so the IOLoop keeps serving while a batch is read.
        chunk = await asyncio.to_thread(_take, items, batch_size)
        if not chunk:
            return
        await store.apply_batch(planner.plan(chunk, _progress(source, size)))
        if should_stop():
            raise ImportStopped
