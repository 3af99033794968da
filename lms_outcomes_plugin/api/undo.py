"""Ours: cancel an import (``DELETE .../outcome_imports/:id``) and revert one
(``POST .../outcome_imports/:id/revert``), both with the permission to import outcomes.

A revert is queued as an import of its own (``import_type`` ``revert``), run in its root
account's queue like every import; the store puts back what the reverted import changed,
through the change journal its batches wrote. What can be refused from the import's record is
refused here; whether a later import changed the same rows is decided by the store, in the
transaction that queues the revert (and again when it runs).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any, NoReturn, Protocol, cast

from lms_hooks.host import IMPORT_OUTCOMES
from lms_outcomes_plugin.api.base import CONTEXT
from lms_outcomes_plugin.api.imports import ImportHandler, ShowImportHandler
from lms_outcomes_plugin.models import (
    REVERT,
    ContextRef,
    NewImport,
    OutcomeImport,
    RevertRefused,
    journal_expired,
    utcnow,
)
from lms_outcomes_plugin.storage import ImportEnded, ImportQueueFull

#: The answer to a revert while journaling is off.
JOURNAL_OFF = "Imports keep no change journal (journal_days is 0): nothing can be reverted"


class UndoQueue(Protocol):
    """Where reverts are queued and cancels reported (the plugin's service)."""

    async def queue_revert(self, new: NewImport, target: int) -> OutcomeImport:
        """Queue the revert (RevertRefused when the store finds a reason not to,
        ImportQueueFull past the root account's limit: a revert waits in its queue)."""
        ...

    async def cancel_import(self, context: ContextRef, import_id: int) -> OutcomeImport | None:
        """The store's cancel (ImportEnded for an import that has ended)."""
        ...


def undo_queue(handler: ImportHandler) -> UndoQueue:
    """The routes' queue as the undo routes use it: the plugin's service is both."""
    return cast(UndoQueue, handler.queue)


def revert_refusal(target: OutcomeImport, journal_days: float) -> str | None:
    """Why ``target`` cannot be reverted, from its record alone (None: the store decides)."""
    if target.workflow_state in ("created", "importing"):
        return (f"Import {target.id} has not ended yet ({target.workflow_state}): cancel it "
                "instead, or revert it once it has ended")
    if target.workflow_state == "cancelled":
        return f"Import {target.id} was cancelled: what it wrote was undone then"
    if target.dry_run:
        return f"Import {target.id} is a dry run: it changed nothing"
    if target.import_type == REVERT:
        return (f"Import {target.id} is a revert, which cannot be reverted: import the file "
                "again instead")
    if target.reverted_by is not None:
        return f"Import {target.id} is already reverted (by import {target.reverted_by})"
    if target.journal == "expired" or (
        target.ended_at is not None
        and target.ended_at < utcnow() - timedelta(days=journal_days)
    ):
        return journal_expired(target.id, journal_days)
    if target.journal != "kept":
        return f"Import {target.id} ran while imports kept no change journal (journal_days 0)"
    return None


class CancelOrShowImportHandler(ShowImportHandler):
    """``GET /api/v1/:context/outcome_imports/:id`` (Canvas's status) and our
    ``DELETE`` of the same import: cancel it."""

    async def delete(self, segment: str, context_id: str, import_id: str) -> None:
        found = await self.find_import(segment, context_id, import_id, (IMPORT_OUTCOMES,))
        try:
            cancelled = await undo_queue(self).cancel_import(found.context, found.id)
        except ImportEnded as ended:
            conflict(self, f"Import {found.id} has already ended "
                           f"({ended.outcome_import.workflow_state}): there is nothing to cancel")
        if cancelled is None:  # gone between the two reads: as the show route would answer
            self.fail(404, {"message": f"Couldn't find OutcomeImport with 'id'={import_id}"})
        self.send_json(await self.import_json(cancelled))


class RevertImportHandler(ImportHandler):
    """``POST /api/v1/:context/outcome_imports/:id/revert``: queue a revert of the import."""

    async def post(self, segment: str, context_id: str, import_id: str) -> None:
        target = await self.find_import(segment, context_id, import_id, (IMPORT_OUTCOMES,))
        journal_days = self.plugin_settings.journal_days
        if journal_days <= 0:
            conflict(self, JOURNAL_OFF)
        refusal = revert_refusal(target, journal_days)
        if refusal is not None:
            conflict(self, refusal)
        new = NewImport(
            context=target.context,
            root_account_id=target.root_account_id,
            import_type=REVERT,
            user_id=self.user.id,
        )
        try:
            revert = await undo_queue(self).queue_revert(new, target.id)
        except RevertRefused as refused:
            conflict(self, str(refused))
        except ImportQueueFull:
            self.fail(429, self.queue_full())
        self.send_json(await self.import_json(revert))


def conflict(handler: ImportHandler, message: str) -> NoReturn:
    """409 with the reason, in the shape of Canvas's errors."""
    handler.fail(409, {"errors": [{"message": message}]})


ROUTES: list[tuple[str, Any]] = [
    (rf"{CONTEXT}/outcome_imports/([^/]+)", CancelOrShowImportHandler),
    (rf"{CONTEXT}/outcome_imports/([^/]+)/revert", RevertImportHandler),
]
