"""The extension's hooks: an import's end adds its deliveries to the store, and a background
task sends them. Registered through the ``lms_outcomes`` entry point of this distribution."""

from __future__ import annotations

from collections.abc import Coroutine
from typing import Any

from lms_hooks.host import LmsHost
from lms_outcomes_plugin import hookimpl
from lms_outcomes_plugin.models import OutcomeImport
from lms_outcomes_plugin.storage import Store
from lms_outcomes_webhooks.sender import EVENT, EXTENSION, Sender, deliveries, utcnow
from lms_outcomes_webhooks.settings import WebhookSettings

#: The running sender of each host (by id: one process may serve several hosts), to wake it.
_senders: dict[int, Sender] = {}


@hookimpl
async def lms_outcomes_import_finished(
    outcome_import: OutcomeImport, host: LmsHost, store: Store
) -> None:
    settings = WebhookSettings.of(host)
    if not settings.endpoints:
        return
    body = {
        "event": EVENT,
        "context": {
            "type": outcome_import.context_type.capitalize(), "id": outcome_import.context_id,
        },
        "import": await _import_json(outcome_import, host),
    }
    # Keyed by import and URL: the event may come twice (at least once), the delivery once.
    await store.add_jobs(EXTENSION, deliveries(outcome_import.id, body, settings), utcnow())
    if (sender := _senders.get(id(host))) is not None:
        sender.wake()


async def _import_json(outcome_import: OutcomeImport, host: LmsHost) -> dict[str, Any]:
    """The import as the status route shows it, its user included."""
    body = outcome_import.as_json()
    if outcome_import.user_id is not None:
        user = await host.user_json(outcome_import.user_id)
        if user is not None:
            body["user"] = dict(user)
    return body


@hookimpl
def lms_outcomes_background_tasks(
    host: LmsHost, store: Store
) -> list[Coroutine[Any, Any, None]]:
    # A wrong setting stops the start, not the first delivery. Without webhooks there is
    # nothing to send to: deliveries left from an earlier setting wait for one.
    if not WebhookSettings.of(host).endpoints:
        return []
    sender = Sender(store, lambda: WebhookSettings.of(host))
    return [_run(sender, id(host))]


async def _run(sender: Sender, host_id: int) -> None:
    _senders[host_id] = sender
    try:
        await sender.run()
    finally:
        if _senders.get(host_id) is sender:
            del _senders[host_id]
