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

from collections.abc import Awaitable

import pluggy

from lms_hooks.host import LmsHost
from lms_outcomes_plugin.formats import ImportFormatRegistry
from lms_outcomes_plugin.models import OutcomeImport
from lms_outcomes_plugin.storage import StorageBackendRegistry

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
    registered twice is an error at startup. Returns nothing."""


@hookspec
def lms_outcomes_import_finished(
    outcome_import: OutcomeImport, host: LmsHost
) -> Awaitable[None] | None:
    """Called on the IOLoop each time an import ends, ``succeeded``, ``failed`` or
    ``cancelled``, after its final state is stored. For notifications and webhooks.
    Implementations are called in pluggy's order (wrappers included) and may be coroutines:
    every awaitable returned is awaited. A failure is logged and never changes the import; a
    plain function that raises also stops the implementations pluggy would call after it, so
    prefer coroutines, whose failures are each their own."""
