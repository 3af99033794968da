"""Tells the extensions that imports ended (``lms_outcomes_import_finished``), from the store.

An import's end is stored with its final state, unannounced; this task announces what the store
lists and then marks it announced. So an end survives a crash between the two (it is announced
at the next start: at least once), ends stored by the watchdog or by another process sharing
the store are announced too, and the import's own task never waits for an extension.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

from lms_outcomes_plugin.models import OutcomeImport
from lms_outcomes_plugin.storage import Store

log = logging.getLogger(__name__)

#: Ends read from the store at a time (besides those being announced).
ANNOUNCED_AT_ONCE = 100

Announce = Callable[[OutcomeImport, Store], Awaitable[None]]


class Announcer:
    def __init__(self, store: Store, announce: Announce, poll_interval: float) -> None:
        self._store = store
        self._announce = announce
        self._poll_interval = poll_interval
        self._wake = asyncio.Event()
        self._stopping = False
        self._loop: asyncio.Task[None] | None = None
        #: One task per end being announced, by import id: a slow extension holds up no other
        #: end, and an end is not announced twice at once.
        self._announcing: dict[int, asyncio.Task[None]] = {}

    def start(self) -> None:
        self._loop = asyncio.create_task(self._run(), name="lms-outcomes-announcer")

    def wake(self) -> None:
        """Look for ends now (an import just ended)."""
        self._wake.set()

    async def import_ended(self, outcome_import: OutcomeImport) -> None:
        """The runner's callback: the end is stored, so announcing it is this task's job."""
        self.wake()

    async def stop(self, grace: float) -> None:
        """Announce nothing more; give announcements under way ``grace`` seconds, then cancel
        them (theirs stay unannounced, for the next start)."""
        self._stopping = True
        self.wake()
        if self._loop is not None:
            await self._loop
        running = list(self._announcing.values())
        if running:
            _, late = await asyncio.wait(running, timeout=grace)
            for task in late:
                task.cancel()
            if late:
                await asyncio.wait(late, timeout=grace)

    async def _run(self) -> None:
        while not self._stopping:
            self._wake.clear()
            try:
                ended = await self._store.unannounced_imports(
                    ANNOUNCED_AT_ONCE + len(self._announcing)
                )
            except Exception:
                log.exception("reading the imports that ended failed; retrying")
                ended = []
            for outcome_import in ended:
                if outcome_import.id not in self._announcing and not self._stopping:
                    self._announcing[outcome_import.id] = asyncio.create_task(
                        self._tell(outcome_import), name=f"announce-{outcome_import.id}"
                    )
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self._poll_interval)

    async def _tell(self, outcome_import: OutcomeImport) -> None:
        try:
            await self._announce(outcome_import, self._store)
            await self._store.mark_announced([outcome_import.id])
        except Exception:
            log.exception("announcing the end of import %d failed; it will be announced again",
                          outcome_import.id)
        finally:
            del self._announcing[outcome_import.id]
