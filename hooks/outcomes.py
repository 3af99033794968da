"""What lms-outcomes calls on its own extensions (pluggy project ``lms_outcomes``).

lms-outcomes builds ``pluggy.PluginManager("lms_outcomes")`` once per host: it adds these
specifications, registers its built-in formats and storage backends as plugins, then loads the
``lms_outcomes`` entry points. Built-ins and third-party extensions go through the same hooks.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime
from typing import Any, Protocol

from hooks import outcomes_hookspec


class ImportFormatRegistry(Protocol):
    """Passed to :func:`lms_outcomes_register_import_formats`."""

    def add(self, import_format: Any) -> None:
        """Register an ``lms_outcomes_plugin.ImportFormat`` under its ``name`` (the
        ``import_type`` clients send). A name registered twice is an error at startup."""
        ...


class StorageBackendRegistry(Protocol):
    """Passed to :func:`lms_outcomes_register_storage_backends`."""

    def add(self, scheme: str, factory: Callable[..., Any]) -> None:
        """Register ``factory(url: str, settings: Mapping) -> Store`` for storage URLs whose
        scheme is ``scheme`` (``sqlite``, ``postgresql``). A scheme registered twice is an
        error at startup."""
        ...


class FinishedImport(Protocol):
    """What :func:`lms_outcomes_import_finished` is told about an import that ended."""

    id: int
    context_type: str
    context_id: int
    import_type: str
    workflow_state: str  # "succeeded" or "failed"
    user_id: int | None
    ended_at: datetime | None

    def as_json(self) -> Mapping[str, Any]:
        """Canvas's OutcomeImport JSON of the import, without ``user``."""
        ...


@outcomes_hookspec
def lms_outcomes_register_import_formats(registry: ImportFormatRegistry) -> None:
    """Called once at plugin startup. Add every import format this extension provides with
    ``registry.add(fmt)``; ``fmt.name`` becomes a valid ``import_type``. Returns nothing."""


@outcomes_hookspec
def lms_outcomes_register_storage_backends(registry: StorageBackendRegistry) -> None:
    """Called once at plugin startup, before storage is opened. Add every storage backend this
    extension provides with ``registry.add(scheme, factory)``. Returns nothing."""


@outcomes_hookspec
def lms_outcomes_import_finished(outcome_import: FinishedImport) -> Awaitable[None] | None:
    """Called on the IOLoop each time an import ends, ``succeeded`` or ``failed``, after its
    final state is stored. For notifications and webhooks; may be a coroutine (it is awaited).
    An exception raised here is logged and never changes the import."""
