"""``GET /api/v1/:context/outcome_export``: the context's outcome tree as an ``instructure_csv``
file, the format its imports read, so that the file imports back into the same tree.

The groups come first, every parent before its children, then the outcomes by id, each once
with every group it is linked in (Canvas's export). The tree is read a chunk at a time (keyset
pagination), and each chunk is written and flushed, which waits for the client, before the next
is read: memory holds one chunk however large the tree.
"""

from __future__ import annotations

from contextlib import aclosing

import tornado.iostream

from lms_outcomes_plugin.api.base import CONTEXT
from lms_outcomes_plugin.api.outcomes import TreeHandler
from lms_outcomes_plugin.formats.instructure_csv.writer import CsvWriter, group_guid, outcome_guid
from lms_outcomes_plugin.models import ContextRef
from lms_outcomes_plugin.storage import TreeGroup, TreeOutcome

#: Rows read from the store at a time.
EXPORT_CHUNK = 1000


class ExportHandler(TreeHandler):
    """Authorized as the read API is (read_outcomes in the context); 401 and 404 as there."""

    async def get(self, segment: str, context_id: str) -> None:
        context = await self.enter(segment, context_id)
        writer = CsvWriter(await self.host.locale(self.context))
        self.set_header("Content-Type", "text/csv; charset=utf-8")
        self.set_header(
            "Content-Disposition",
            f'attachment; filename="{context.type}_{context.id}_outcomes.csv"',
        )
        try:
            await self._send(writer, context)
        except tornado.iostream.StreamClosedError:
            return  # the client left: nothing more to send
        self.finish(writer.take())

    async def _send(self, writer: CsvWriter, context: ContextRef) -> None:
        groups = self.store.tree_group_chunks(context, EXPORT_CHUNK)
        async with aclosing(groups):
            async for chunk in groups:
                for item in chunk:
                    _write_group(writer, item)
                await self._flush(writer)
        outcomes = self.store.tree_outcome_chunks(context, EXPORT_CHUNK)
        async with aclosing(outcomes):
            async for chunk in outcomes:
                for item in chunk:
                    _write_outcome(writer, item)
                await self._flush(writer)

    async def _flush(self, writer: CsvWriter) -> None:
        self.write(writer.take())
        await self.flush()


def _write_group(writer: CsvWriter, item: TreeGroup) -> None:
    group = item.group
    parent = group_guid(*item.parent) if item.parent is not None else ""
    writer.group(group_guid(group.id, group.vendor_guid), group.title, group.description, parent)


def _write_outcome(writer: CsvWriter, item: TreeOutcome) -> None:
    outcome = item.outcome
    writer.outcome(
        outcome_guid(outcome.id, outcome.vendor_guid),
        (outcome.title, outcome.description, item.friendly_description, outcome.display_name,
         outcome.calculation_method),
        outcome.calculation_int,
        (group_guid(*parent) for parent in item.parents),
        outcome.mastery_points,
        sorted(outcome.ratings, key=lambda rating: rating[0], reverse=True),  # stable
    )


ROUTES = [(rf"{CONTEXT}/outcome_export", ExportHandler)]
