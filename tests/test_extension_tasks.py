"""Extensions' background tasks (``lms_outcomes_background_tasks``): run on the host's IOLoop
with the open store, logged when they fail, cancelled at shutdown while the store is still
open; and ``lms_outcomes_import_finished`` given the store."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any

import pytest
from tornado.ioloop import IOLoop

from lms_hooks.host import LmsHost
from lms_outcomes_plugin import hookimpl
from lms_outcomes_plugin.host.app import EmbeddedHost
from lms_outcomes_plugin.models import OutcomeImport, utcnow
from lms_outcomes_plugin.storage import Page, Store
from tests.conftest import Api, World, until

EVERYTHING = Page(offset=0, limit=10)


class Worker:
    """Adds a job per import end; its task counts them, and records its cancellation with a
    last read of the store."""

    def __init__(self) -> None:
        self.seen: list[str] = []
        self.stopped_with: list[str] | None = None

    @hookimpl
    async def lms_outcomes_import_finished(
        self, outcome_import: OutcomeImport, store: Store
    ) -> None:
        await store.add_jobs("worker", {str(outcome_import.id): outcome_import.id}, utcnow())

    @hookimpl
    def lms_outcomes_background_tasks(
        self, host: LmsHost, store: Store
    ) -> list[Coroutine[Any, Any, None]]:
        return [self.work(store), self.fail()]

    async def work(self, store: Store) -> None:
        try:
            while True:
                for job in await store.claim_jobs("worker", utcnow(), 60, 10):
                    await store.end_job("worker", job.key, "done", utcnow())
                    self.seen.append(job.key)
                await asyncio.sleep(0.02)
        except asyncio.CancelledError:
            jobs, _ = await store.jobs("worker", EVERYTHING)  # the store is still open
            self.stopped_with = [job.state for job in jobs]
            raise

    async def fail(self) -> None:
        raise RuntimeError("out of order")


@pytest.fixture
def worker() -> Worker:
    return Worker()


@pytest.fixture
def plugin_settings(plugin_settings: dict, worker: Worker) -> dict:
    return {**plugin_settings, "extra_plugins": [worker]}


@pytest.mark.gen_test(timeout=30)
async def test_a_background_task_works_off_the_store_and_is_cancelled_at_shutdown(
    api: Api, world: World, worker: Worker, lms: EmbeddedHost, io_loop: IOLoop,
    caplog: pytest.LogCaptureFixture,
) -> None:
    imports = f"/api/v1/accounts/{world.account_id}/outcome_imports"
    created = await api.post_csv(imports, b"vendor_guid,object_type,title\n")
    await api.wait_for_import(f"{imports}/{created.body['id']}")
    await until(lambda: worker.seen == [str(created.body["id"])])
    records = caplog.get_records("setup") + caplog.get_records("call")
    failures = [r for r in records if r.name == "lms_outcomes_plugin.extensions"]
    assert [(r.levelno, r.getMessage()) for r in failures] == [
        (logging.ERROR, "background task Worker.fail failed")
    ]
    assert str(failures[0].exc_info[1]) == "out of order"  # type: ignore[index]
    await lms.shutdown()
    assert worker.stopped_with == ["done"]
