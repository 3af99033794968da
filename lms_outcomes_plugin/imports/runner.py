"""The import runner: claims queued imports from the store and runs each as an IOLoop task.

Claiming goes through the store, so an import queued before a restart (or by another process
sharing the store) is not lost. The store never lets two imports of one root account run at
once and hands them out oldest first (Canvas's strand); imports of different root accounts run
side by side. Every task is kept, so shutdown can stop them between batches and await them.

Ownership is per claim, not per process: each claim takes a token of its own, and every write
of the run it starts names that token, so a run whose import was taken over (its process froze
past the lease) is refused its next write and stops, even when this same process has claimed
the import again meanwhile.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Awaitable, Callable
from datetime import timedelta

from lms_hooks.host import LmsHost
from lms_outcomes_plugin.formats import FormatOptions, ImportFormatRegistry
from lms_outcomes_plugin.imports.engine import ImportStopped, run_import
from lms_outcomes_plugin.imports.parsing import Parsers
from lms_outcomes_plugin.imports.scope import ImportCannotRun, ImportScope
from lms_outcomes_plugin.models import REVERT, OutcomeImport, utcnow
from lms_outcomes_plugin.records import DataFormatError
from lms_outcomes_plugin.settings import PluginSettings
from lms_outcomes_plugin.storage import ImportCancelled, ImportTakenOver, Store

log = logging.getLogger("lms_outcomes_plugin.imports")

UNEXPECTED_ERROR = "An unexpected error has occurred: see error report {}"
#: Logged by a run whose write was refused: the import was taken over (or failed by the
#: watchdog) since it was claimed.
TAKEN_OVER = "import %d is no longer this run's (taken over or failed): it stops, writing nothing"
#: Seconds between two looks for uploads past keep_uploads_days.
UPLOAD_PRUNING_INTERVAL = 3600.0


class ImportRunner:
    def __init__(
        self,
        store: Store,
        host: LmsHost,
        formats: ImportFormatRegistry,
        settings: PluginSettings,
        on_finished: Callable[[OutcomeImport], Awaitable[None]],
    ) -> None:
        self._store = store
        self._host = host
        self._formats = formats
        self._settings = settings
        self._on_finished = on_finished
        self._wake = asyncio.Event()
        self._stopping = False
        self._dispatcher: asyncio.Task[None] | None = None
        #: Every import task of this runner (awaited at stop) with its claim token (the leases
        #: the heartbeat renews), and the latest task per import (an import claimed again
        #: here while its old task ends has two).
        self._claims: dict[asyncio.Task[None], str] = {}
        self._task_of: dict[int, asyncio.Task[None]] = {}
        #: Imports the stall watchdog ended while this runner ran them.
        self._stalled: set[int] = set()
        self._uploads_pruned_at = float("-inf")
        self._parsers = Parsers(in_process=settings.parse_in_subprocess)

    async def start(self) -> None:
        # Before the host serves: imports whose runner died are queued again at once.
        await self._keep_leases()
        self._dispatcher = asyncio.create_task(self._dispatch(), name="lms-outcomes-dispatcher")

    def expect_import(self) -> None:
        """An upload has started: get the parse worker ready while its body arrives (not once
        the runner is stopping: its workers have been shut down for good)."""
        if not self._stopping:
            self._parsers.warm_up(
                self._formats.get(name) for name in self._formats.names()
            )

    def wake(self) -> None:
        """Look for work now (an import was just queued, or one just ended)."""
        self._wake.set()

    async def stop(self) -> None:
        """Stop claiming and let running imports end their current batch, for at most
        ``shutdown_timeout`` seconds; then cancel what still runs (each cancelled import is put
        back in the queue) and give it as long again. Whatever is stuck even then is left: its
        lease lapses and the next start takes its import over. So stop() always ends."""
        self._stopping = True
        self.wake()
        timeout = self._settings.shutdown_timeout
        if self._dispatcher is not None:
            # First the dispatcher: a claim it was awaiting may still spawn a task.
            await asyncio.wait({self._dispatcher}, timeout=timeout)
        running = {*self._claims, *([self._dispatcher] if self._dispatcher else [])}
        running = {task for task in running if not task.done()}
        if running:
            _, late = await asyncio.wait(running, timeout=timeout)
            if late:
                log.warning("%d import task(s) did not stop within %ss: cancelling them",
                            len(late), timeout)
                for task in late:
                    task.cancel()
                _, stuck = await asyncio.wait(late, timeout=timeout)
                if stuck:
                    log.error("%d task(s) ignored cancellation; the lease will requeue their "
                              "imports at the next start", len(stuck))
        await self._parsers.close(timeout)

    async def _dispatch(self) -> None:
        while not self._stopping:
            self._wake.clear()
            try:
                await self._keep_leases()
                while not self._stopping:
                    await self._parsers.ready()
                    claim = uuid.uuid4().hex
                    claimed = await self._store.claim_next_import(claim, self._journaling)
                    if claimed is None:
                        break
                    self._spawn(claimed, claim)
            except Exception:
                log.exception("claiming imports failed; retrying")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self._settings.poll_interval)

    @property
    def _journaling(self) -> bool:
        return self._settings.journal_days > 0

    async def _keep_leases(self) -> None:
        """Renew the leases of this runner's runs; take over imports whose run stopped renewing
        (its process died or froze, this one's predecessor included)."""
        if self._claims:
            await self._store.heartbeat(list(self._claims.values()))
        if requeued := await self._store.requeue_stale_imports(self._settings.import_lease):
            log.info("requeued %d import(s) whose runner stopped (lease lapsed)", requeued)
        await self._fail_stalled()
        await self._prune_uploads()

    async def _fail_stalled(self) -> None:
        """The watchdog: an import that applied no batch for import_stall_seconds fails (or,
        asked to cancel, is undone and ends cancelled), whichever process runs it (a heartbeat
        proves only that the process lives), and its root account's queue moves on. The task
        of one this runner runs is cancelled."""
        since = utcnow() - timedelta(seconds=self._settings.import_stall_seconds)
        for import_id in await self._store.fail_stalled_imports(since):
            log.error("import %d made no progress for %ss: stopped", import_id,
                      self._settings.import_stall_seconds)
            if (task := self._task_of.get(import_id)) is not None:
                self._stalled.add(import_id)
                task.cancel()

    async def _prune_uploads(self) -> None:
        """Once an hour (and at start): delete uploads older than keep_uploads_days, and the
        change journals of imports that ended more than journal_days ago."""
        now = asyncio.get_running_loop().time()
        if now - self._uploads_pruned_at < UPLOAD_PRUNING_INTERVAL:
            return
        self._uploads_pruned_at = now
        kept_from = utcnow() - timedelta(days=self._settings.keep_uploads_days)
        if deleted := await self._store.delete_old_uploads(kept_from):
            log.info("deleted %d upload(s) older than %s days", deleted,
                     self._settings.keep_uploads_days)
        journals_from = utcnow() - timedelta(days=self._settings.journal_days)
        if expired := await self._store.delete_old_journals(journals_from):
            log.info("dropped the change journals of %d import(s) older than %s days", expired,
                     self._settings.journal_days)

    def _spawn(self, outcome_import: OutcomeImport, claim: str) -> None:
        task = asyncio.create_task(
            self._run(outcome_import, claim), name=f"import-{outcome_import.id}"
        )
        self._task_of[outcome_import.id] = task
        self._claims[task] = claim
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[None]) -> None:
        self._claims.pop(task, None)
        import_id = int(task.get_name().removeprefix("import-"))
        if self._task_of.get(import_id) is task:
            del self._task_of[import_id]
        self.wake()

    async def _run(self, outcome_import: OutcomeImport, claim: str) -> None:
        """Run one claim of the import: every write names ``claim``, and once one is refused
        (the import is no longer this run's) the run ends at once, writing nothing more."""
        import_id = outcome_import.id
        log.info("import %d started (%s)", import_id, outcome_import.import_type)
        finish = self._store.finish_import
        try:
            if outcome_import.cancel_requested or outcome_import.import_type == REVERT:
                finished = await self._undo(outcome_import, claim)
            else:
                await self._apply(outcome_import, claim)
                finished = await finish(import_id, claim, "succeeded")
        except ImportCancelled as cancelled:
            finished = cancelled.outcome_import
        except ImportStopped:
            await self._store.requeue_import(import_id, claim)
            log.info("import %d stopped by shutdown; it will resume at the next start", import_id)
            return
        except asyncio.CancelledError:
            if import_id in self._stalled:  # ended by the watchdog: the task just ends
                self._stalled.discard(import_id)
                await self._report_stalled(outcome_import)
                return
            # Shutdown gave up waiting for a batch boundary: whatever the cancelled batch
            # wrote was rolled back with its transaction; the import starts over next time.
            await self._store.requeue_import(import_id, claim)
            log.warning("import %d cancelled by shutdown; it will start over at the next "
                        "start", import_id)
            raise
        except ImportTakenOver:
            log.warning(TAKEN_OVER, import_id)
            return
        except (DataFormatError, ImportCannotRun) as error:
            finished = await finish(import_id, claim, "failed", [(1, str(error))])
        except Exception:
            report = uuid.uuid4().hex[:12]
            log.exception("import %d failed unexpectedly (error report %s)", import_id, report)
            finished = await finish(
                import_id, claim, "failed", [(1, UNEXPECTED_ERROR.format(report))]
            )
        if finished is None:
            log.warning(TAKEN_OVER, import_id)
            return
        log.info("import %d ended %s", import_id, finished.workflow_state)
        await self._on_finished(finished)

    async def _undo(self, outcome_import: OutcomeImport, claim: str) -> OutcomeImport | None:
        """A revert, or a run of an import that was asked to cancel (after a takeover): each
        one transaction of the store's."""
        if outcome_import.cancel_requested:
            return await self._store.cancel_run(outcome_import.id, claim)
        return await self._store.revert_import(
            outcome_import.id, claim, self._settings.journal_days
        )

    async def _report_stalled(self, outcome_import: OutcomeImport) -> None:
        failed = await self._store.get_import(outcome_import.context, outcome_import.id)
        if failed is not None:
            await self._on_finished(failed)

    async def _apply(self, outcome_import: OutcomeImport, claim: str) -> None:
        import_format = self._formats.get(outcome_import.import_type)
        if import_format is None:
            raise ImportCannotRun(f"Unknown import_type: {outcome_import.import_type}")
        scope = await ImportScope.build(
            self._host, self._store, outcome_import, claim,
            self._settings.new_decaying_average,
        )
        options = FormatOptions(
            locale=await self._host.locale(scope.context),
            max_cell_bytes=self._settings.max_cell_bytes,
            max_parents_per_row=self._settings.max_parents_per_row,
            encoding=outcome_import.encoding,
        )
        assert outcome_import.attachment_id is not None
        source = await self._store.open_attachment(outcome_import.attachment_id)
        try:
            batches = self._parsers.batches(
                import_format, source.name, options, self._settings.batch_size
            )
            await run_import(
                self._store, batches, scope, dry_run=outcome_import.dry_run,
                should_stop=lambda: self._stopping,
            )
        finally:
            source.close()
