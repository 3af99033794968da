"""What lms-outcomes calls on its own extensions (pluggy project ``lms_outcomes``).

lms-outcomes builds ``pluggy.PluginManager("lms_outcomes")`` once per host: it adds these
specifications, registers its built-in formats and storage backends as plugins, registers the
host's ``extra_plugins``, loads the ``lms_outcomes`` entry points and checks that every hook
implementation names a hook below (``check_pending``). Built-ins and third-party extensions go
through the same hooks.

Every hook also receives ``host``, the :class:`~lms_hooks.host.LmsHost` the plugin runs for: an
extension reads its own settings with ``host.plugin_settings("<its name>")``. An implementation
may take any subset of a hook's arguments (pluggy passes only those it names).
"""

from __future__ import annotations

from collections.abc import Awaitable, Coroutine, Iterable
from typing import Any

import pluggy

from lms_hooks.host import LmsHost
from lms_outcomes_plugin.formats import ImportFormatRegistry
from lms_outcomes_plugin.models import OutcomeImport
from lms_outcomes_plugin.storage import StorageBackendRegistry, Store

PROJECT = "lms_outcomes"

#: Marks a function as a specification of an ``lms_outcomes`` hook.
hookspec = pluggy.HookspecMarker(PROJECT)
#: Marks a function as an implementation of an ``lms_outcomes`` hook (used by extensions; also
#: exported as ``lms_outcomes_plugin.hookimpl``).
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec
def lms_outcomes_register_import_formats(registry: ImportFormatRegistry, host: LmsHost) -> None:
    """Called once when the plugin starts for ``host``. Add every import format this extension
    provides with ``registry.add(fmt)``: ``fmt`` satisfies
    :class:`~lms_outcomes_plugin.formats.ImportFormat` and ``fmt.name`` becomes a valid
    ``import_type``. A name registered twice, or a format that cannot be pickled (it is sent
    to the parse worker), is an error at startup. Returns nothing."""


@hookspec
def lms_outcomes_register_storage_backends(
    registry: StorageBackendRegistry, host: LmsHost
) -> None:
    """Called once when the plugin starts for ``host``, before storage is opened. Add every
    storage backend this extension provides with ``registry.add(scheme, factory)``, where
    ``factory(url, settings)`` returns a :class:`~lms_outcomes_plugin.storage.Store`. A scheme
    registered twice is an error at startup. Outside a host (an extension's tool that calls
    ``extensions.open_store``) ``host`` is None. Returns nothing."""


@hookspec
def lms_outcomes_import_finished(
    outcome_import: OutcomeImport, host: LmsHost, store: Store
) -> Awaitable[None] | None:
    """Called on the IOLoop after an import ends, in any final state (dry runs too), whoever
    ended it (its run, the stall watchdog, a takeover, another process sharing the store).
    ``outcome_import`` is the import as the API shows it; ``store`` the plugin's open
    :class:`~lms_outcomes_plugin.storage.Store`.

    At least once: the end is recorded with the import's final state, and the plugin calls
    this hook from that record (at the next start, after a crash) until every implementation
    has returned, so an implementation may be called twice for one import and should be
    idempotent (:meth:`~lms_outcomes_plugin.storage.Store.add_jobs` with a key of the import
    is). The call is off the import's path: a slow or failing implementation never delays or
    changes an import. Implementations are called in pluggy's order (wrappers included) and
    may be coroutines: every awaitable returned is awaited, side by side. A failure is logged
    and not retried; a plain function that raises also stops the implementations pluggy would
    call after it, so prefer coroutines, whose failures are each their own. Work that must
    be retried (a webhook's delivery) is added as a job here and done by a background task
    (``lms_outcomes_background_tasks``)."""


@hookspec
def lms_outcomes_background_tasks(
    host: LmsHost, store: Store
) -> Iterable[Coroutine[Any, Any, None]] | None:
    """Called once on the IOLoop when the plugin starts for ``host``, once ``store`` is open
    and before requests are served. Returns the coroutines (any iterable, possibly empty) to
    run as tasks of the host's IOLoop while the plugin runs: each one runs as its own task,
    and one that raises is logged (it is not started again). At shutdown, once the import
    runner has stopped and before the store closes, each task still running is cancelled
    (``asyncio.CancelledError`` at its current ``await``) and awaited for at most the
    ``shutdown_timeout`` setting. A task may be cancelled anywhere, or its process killed:
    keep pending work in the store (:meth:`~lms_outcomes_plugin.storage.Store.add_jobs`),
    never only in memory."""
