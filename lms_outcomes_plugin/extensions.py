"""The extension PluginManager (pluggy project ``lms_outcomes``) and the registries it fills.

Built-in formats and storage backends are registered as plugins first, then third-party
extensions are loaded from the ``lms_outcomes`` entry points, so both go through the same hooks.
There is no module-level manager: each host's plugin instance builds its own.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import pluggy

import hooks.outcomes
from hooks import OUTCOMES_PROJECT
from lms_outcomes_plugin.formats import ImportFormatRegistry
from lms_outcomes_plugin.storage import StorageBackendRegistry

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
    its settings) and, unless told not to, every ``lms_outcomes`` entry point."""
    pm = pluggy.PluginManager(OUTCOMES_PROJECT)
    pm.add_hookspecs(hooks.outcomes)
    for name in BUILTIN_EXTENSIONS:
        pm.register(__import__(name, fromlist=["_"]), name=name)
    for plugin in extra_plugins:
        pm.register(plugin)
    if load_entry_points:
        pm.load_setuptools_entrypoints(OUTCOMES_PROJECT)
    return pm


@dataclass(frozen=True, slots=True)
class Extensions:
    """What the extensions provide, collected once at startup."""

    plugin_manager: pluggy.PluginManager
    formats: ImportFormatRegistry
    storage_backends: StorageBackendRegistry

    @classmethod
    def collect(cls, pm: pluggy.PluginManager) -> Extensions:
        formats = ImportFormatRegistry()
        pm.hook.lms_outcomes_register_import_formats(registry=formats)
        backends = StorageBackendRegistry()
        pm.hook.lms_outcomes_register_storage_backends(registry=backends)
        return cls(pm, formats, backends)

    async def import_finished(self, outcome_import: Any) -> None:
        """Tell every extension an import ended; their failures are logged, never raised."""
        impls = self.plugin_manager.hook.lms_outcomes_import_finished.get_hookimpls()
        for impl in impls:
            try:
                result = impl.function(outcome_import=outcome_import)
                if inspect.isawaitable(result):
                    await result
            except Exception:
                log.exception("lms_outcomes_import_finished failed in %s", impl.plugin_name)
