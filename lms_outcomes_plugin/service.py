"""One plugin instance per host: settings, extensions, storage and the import runner, wired."""

from __future__ import annotations

from typing import Any

from lms_hooks.host import LmsHost
from lms_outcomes_plugin import page
from lms_outcomes_plugin.announcer import Announcer
from lms_outcomes_plugin.api import export, imports, openapi, outcomes, undo
from lms_outcomes_plugin.extensions import BackgroundTasks, Extensions, make_plugin_manager
from lms_outcomes_plugin.formats import ImportFormatRegistry
from lms_outcomes_plugin.imports.runner import ImportRunner
from lms_outcomes_plugin.models import Attachment, ContextRef, NewImport, OutcomeImport
from lms_outcomes_plugin.settings import PLUGIN_NAME, PluginSettings
from lms_outcomes_plugin.storage import KeyClaim, KeyedRequest, Store


class OutcomesService:
    """Built when the host asks for routes; opened by ``lms_startup``, closed by
    ``lms_shutdown``. Each route's handler gets the parts it uses (see :meth:`routes`)."""

    def __init__(self, host: LmsHost) -> None:
        self.host = host
        self.settings = PluginSettings.from_mapping(host.plugin_settings(PLUGIN_NAME))
        pm = make_plugin_manager(
            self.settings.extra_plugins, load_entry_points=self.settings.load_entry_points
        )
        self.extensions = Extensions.collect(pm, host)
        self.store: Store = self.extensions.storage_backends.create(
            self.settings.storage_url, self.settings.backend
        )
        # The runner only wakes the announcer: extensions hear of ends from the store.
        self.announcer = Announcer(
            self.store, self.extensions.import_finished, self.settings.poll_interval
        )
        self.runner = ImportRunner(
            self.store, host, self.formats, self.settings, self.announcer.import_ended
        )
        self.background: BackgroundTasks | None = None

    @property
    def formats(self) -> ImportFormatRegistry:
        return self.extensions.formats

    def routes(self) -> list[tuple[Any, ...]]:
        import_parts = {"host": self.host, "store": self.store, "settings": self.settings,
                        "formats": self.formats, "queue": self}
        parts: list[tuple[list[tuple[str, Any]], dict[str, Any]]] = [
            (imports.ROUTES, import_parts),
            (undo.ROUTES, import_parts),
            (outcomes.ROUTES, {"host": self.host, "store": self.store}),
            (export.ROUTES, {"host": self.host, "store": self.store}),
            (openapi.ROUTES, {"host": self.host}),
        ]
        api = [(pattern, handler, kwargs) for rules, kwargs in parts for pattern, handler in rules]
        return api + page.ROUTES

    async def start(self) -> None:
        await self.store.open()
        await self.runner.start()
        self.announcer.start()
        self.background = self.extensions.start_background_tasks(self.store)

    async def stop(self) -> None:
        timeout = self.settings.shutdown_timeout
        try:
            await self.runner.stop()
        finally:
            try:  # extensions' tasks stop even when the runner's stop failed
                await self.announcer.stop(timeout)
                if self.background is not None:
                    await self.background.stop(timeout)
            finally:
                await self.store.close()

    def expect_import(self) -> None:
        """An upload has started (see :meth:`ImportRunner.expect_import`)."""
        self.runner.expect_import()

    async def create_import(
        self,
        new: NewImport,
        attachment: Attachment,
        key: tuple[KeyClaim, KeyedRequest] | None = None,
    ) -> OutcomeImport:
        outcome_import = await self.store.create_import(
            new, attachment, self.settings.max_queued_imports, key
        )
        self.runner.wake()
        return outcome_import

    async def queue_revert(self, new: NewImport, target: int) -> OutcomeImport:
        revert = await self.store.queue_revert(new, target, self.settings.max_queued_imports)
        self.runner.wake()
        return revert

    async def cancel_import(self, context: ContextRef, import_id: int) -> OutcomeImport | None:
        """A created import ends at once (and is reported as ended); an importing one is
        asked to stop."""
        found = await self.store.cancel_import(context, import_id)
        if found is not None and found.workflow_state == "cancelled":
            self.runner.wake()
            await self.announcer.import_ended(found)  # its end is stored: announced from there
        return found
