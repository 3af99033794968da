"""The extension PluginManager (pluggy project ``lms_outcomes``) and the registries it fills.

Built-in formats and storage backends are registered as plugins first, then third-party
extensions are loaded from the ``lms_outcomes`` entry points, so both go through the same hooks.
There is no module-level manager: each host's plugin instance builds its own.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import AsyncIterator, Coroutine, Iterable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import pluggy

from lms_hooks.host import LmsHost
from lms_outcomes_plugin import hookspecs
from lms_outcomes_plugin.formats import ImportFormatRegistry
from lms_outcomes_plugin.models import OutcomeImport
from lms_outcomes_plugin.settings import PluginSettings
from lms_outcomes_plugin.storage import StorageBackendRegistry, Store

log = logging.getLogger(__name__)

#: Modules of the plugin that implement its own extension hooks.
BUILTIN_EXTENSIONS = (
    "lms_outcomes_plugin.formats.instructure_csv",
    "lms_outcomes_plugin.storage.sqlite",
    "lms_outcomes_plugin.storage.postgresql",
)


def make_plugin_manager(
    extra_plugins: Iterable[Any] = (), *, load_entry_points: bool = True
) -> pluggy.PluginManager:
    """A manager with the built-ins, ``extra_plugins`` (objects or modules a host passes in
    its settings) and, unless told not to, every ``lms_outcomes`` entry point. An
    implementation of a hook that does not exist (a misspelled name) is an error here."""
    pm = pluggy.PluginManager(hookspecs.PROJECT)
    pm.add_hookspecs(hookspecs)
    for name in BUILTIN_EXTENSIONS:
        pm.register(__import__(name, fromlist=["_"]), name=name)
    for plugin in extra_plugins:
        pm.register(plugin)
    if load_entry_points:
        pm.load_setuptools_entrypoints(hookspecs.PROJECT)
    _check_pending(pm)
    return pm


def _check_pending(pm: pluggy.PluginManager) -> None:
    try:
        pm.check_pending()
    except pluggy.PluginValidationError as error:
        known = ", ".join(sorted(name for name in vars(hookspecs) if name.startswith("lms_")))
        raise pluggy.PluginValidationError(
            error.plugin, f"{error}; the {hookspecs.PROJECT} hooks are: {known}"
        ) from None


@dataclass(frozen=True, slots=True)
class Extensions:
    """What the extensions provide, collected once at startup for one host."""

    plugin_manager: pluggy.PluginManager
    host: LmsHost
    formats: ImportFormatRegistry
    storage_backends: StorageBackendRegistry

    @classmethod
    def collect(cls, pm: pluggy.PluginManager, host: LmsHost) -> Extensions:
        formats = ImportFormatRegistry()
        pm.hook.lms_outcomes_register_import_formats(registry=formats, host=host)
        backends = StorageBackendRegistry()
        pm.hook.lms_outcomes_register_storage_backends(registry=backends, host=host)
        return cls(pm, host, formats, backends)

    async def import_finished(self, outcome_import: OutcomeImport, store: Store) -> None:
        """Tell the extensions an import ended, through pluggy (its order, its wrappers), and
        await what they return. Their failures are logged, never raised."""
        try:
            results = self.plugin_manager.hook.lms_outcomes_import_finished(
                outcome_import=outcome_import, host=self.host, store=store
            )
        except Exception:
            log.exception("lms_outcomes_import_finished failed for import %d", outcome_import.id)
            return
        awaitables = [result for result in results if inspect.isawaitable(result)]
        # Side by side: a slow extension (a webhook) does not hold the others up.
        outcomes = await asyncio.gather(*awaitables, return_exceptions=True)
        for outcome in outcomes:
            if isinstance(outcome, BaseException):
                log.error(
                    "lms_outcomes_import_finished failed for import %d", outcome_import.id,
                    exc_info=outcome,
                )

    def start_background_tasks(self, store: Store) -> BackgroundTasks:
        """Run the coroutines the extensions return from ``lms_outcomes_background_tasks``."""
        tasks = BackgroundTasks()
        for coroutines in self.plugin_manager.hook.lms_outcomes_background_tasks(
            host=self.host, store=store
        ):
            for coroutine in coroutines or ():
                tasks.start(coroutine)
        return tasks


class BackgroundTasks:
    """Extensions' tasks on the IOLoop: a failure is logged; stop() cancels and awaits them."""

    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[None]] = set()

    def start(self, coroutine: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(coroutine, name=getattr(coroutine, "__qualname__", None))
        self._tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and (error := task.exception()) is not None:
            log.error("background task %s failed", task.get_name(), exc_info=error)

    async def stop(self, grace: float) -> None:
        """Cancel every task still running and wait for them, at most ``grace`` seconds."""
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        if tasks:
            _, stuck = await asyncio.wait(tasks, timeout=grace)
            if stuck:
                log.error("%d background task(s) ignored cancellation for %ss", len(stuck),
                          grace)


@asynccontextmanager
async def open_store(settings: Mapping[str, Any]) -> AsyncIterator[Store]:
    """The store the plugin uses with these settings (``storage_url``, the backend's settings,
    ``extra_plugins``), opened (its migrations applied) and closed at exit: for an
    extension's own tools outside a host, such as a command that reads its jobs. Backends are
    registered as at a host's start, with ``host=None``."""
    plugin_settings = PluginSettings.from_mapping(settings)
    pm = make_plugin_manager(
        plugin_settings.extra_plugins, load_entry_points=plugin_settings.load_entry_points
    )
    backends = StorageBackendRegistry()
    pm.hook.lms_outcomes_register_storage_backends(registry=backends, host=None)
    store = backends.create(plugin_settings.storage_url, plugin_settings.backend)
    await store.open()
    try:
        yield store
    finally:
        await store.close()
