"""The imports a host process has shown, kept until the database says they changed.

A status is polled, often by many clients at once, and between two of its import's batches it
does not change. Where every read is a round trip to another process (PostgreSQL), the store
keeps what it last read of each polled import and answers from it until the import's row
changes: it forgets everything once a write transaction of its own process ends, and one
import when the database notifies it of another process's change. It keeps nothing while it
is not told of changes (not yet listening, or the connection that listens was lost). SQLite's
store keeps them too, and forgets everything once any connection has committed (its
``PRAGMA data_version``): a poll between two batches then costs a pragma, not a read.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from lms_outcomes_plugin.models import ContextRef, OutcomeImport

#: The key of a context's latest import (``GET .../outcome_imports/latest``).
LATEST = "latest"

Key = tuple[ContextRef, int | str]


class ShownImports:
    """At most ``size`` imports as last read, by (context, id or :data:`LATEST`).

    A read that was under way when something changed is returned but not kept (it may have
    seen the row before the change): every change moves ``generation`` on.
    """

    def __init__(self, size: int) -> None:
        self.size = size
        #: True while the database tells this process of every change (see the module).
        self.listening = False
        self._kept: dict[Key, OutcomeImport] = {}
        self._generation = 0

    async def get(
        self,
        context: ContextRef,
        key: int | str,
        read: Callable[[], Awaitable[OutcomeImport | None]],
    ) -> OutcomeImport | None:
        """The import kept under (``context``, ``key``), or what ``read()`` finds (kept when
        nothing changed meanwhile; an import not found is not kept)."""
        if self.listening and (kept := self._kept.get((context, key))) is not None:
            return kept
        generation = self._generation
        found = await read()
        if found is not None and self.listening and generation == self._generation:
            self._keep((context, key), found)
        return found

    def changed(self, context: ContextRef, import_id: int) -> None:
        """An import's row changed (or was created): forget it, and its context's latest."""
        self._generation += 1
        self._kept.pop((context, import_id), None)
        self._kept.pop((context, LATEST), None)

    def forget_all(self) -> None:
        self._generation += 1
        self._kept.clear()

    def _keep(self, key: Key, found: OutcomeImport) -> None:
        if self.size < 1:
            return
        if key not in self._kept and len(self._kept) >= self.size:
            # The first kept goes first: no bookkeeping per hit.
            del self._kept[next(iter(self._kept))]
        self._kept[key] = found
