"""Webhooks, as an admin and a receiver meet them: the extension installed through its entry
point, real imports over HTTP, a real receiver on a port, the delivery log read from the store,
on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from lms_outcomes_webhooks.sender import EXTENSION, Sender, deliveries
from lms_outcomes_webhooks.settings import DEFAULT_RETRY_DELAYS, Endpoint, WebhookSettings
from tornado.ioloop import IOLoop
from webhook_receivers import Receiver, start_receiver, stop_receiver

from lms_outcomes_plugin.extensions import open_store
from lms_outcomes_plugin.models import ContextRef, NewImport
from lms_outcomes_plugin.storage import Job, Page, Store
from tests.conftest import Api, World, until

SECRET_A, SECRET_B = "first-secret", "second-secret"
CSV = b"vendor_guid,object_type,title,parent_guids\ng1,group,Reading,\n"
BAD_CSV = b"not,a,known,header\n"
EVERYTHING = Page(offset=0, limit=100)


@pytest.fixture
def receiver(io_loop: IOLoop) -> Iterator[Receiver]:
    started = io_loop.run_sync(_start)
    yield started
    io_loop.run_sync(lambda: stop_receiver(started))


async def _start() -> Receiver:
    return start_receiver()


@pytest.fixture
def webhook_settings(receiver: Receiver) -> dict[str, Any]:
    return {
        "webhooks": [
            {"url": f"{receiver.url}/a", "secret": SECRET_A},
            {"url": f"{receiver.url}/b", "secret": SECRET_B},
        ],
    }


@pytest.fixture
def plugin_settings(plugin_settings: dict[str, Any], webhook_settings: dict[str, Any]) -> dict:
    return {**plugin_settings, **webhook_settings}


async def deliveries_in_store(storage_url: str) -> list[Job]:
    async with open_store({"storage_url": storage_url}) as store:
        jobs, _ = await store.jobs(EXTENSION, EVERYTHING)
    return jobs


async def import_and_wait(api: Api, world: World, body: bytes, query: str = "") -> dict:
    imports = f"/api/v1/accounts/{world.account_id}/outcome_imports"
    created = await api.post_csv(f"{imports}{query}", body)
    assert created.status == 200, created.body
    return (await api.wait_for_import(f"{imports}/{created.body['id']}")).body


@pytest.mark.gen_test(timeout=60)
async def test_each_url_gets_one_signed_delivery_per_finished_import(
    api: Api, world: World, receiver: Receiver, storage_url: str
) -> None:
    ended = [
        await import_and_wait(api, world, CSV),
        await import_and_wait(api, world, BAD_CSV),
        await import_and_wait(api, world, CSV, "?dry_run=true"),
    ]
    assert [i["workflow_state"] for i in ended] == ["succeeded", "failed", "succeeded"]
    await until(lambda: len(receiver.received) == 6, 20)
    for path, secret, other in (("/a", SECRET_A, SECRET_B), ("/b", SECRET_B, SECRET_A)):
        got = receiver.on(path)
        assert [d.json["import"] for d in got] == ended  # as the status route shows them
        for delivery in got:
            assert delivery.json["event"] == "outcome_import.finished"
            assert delivery.json["context"] == {"type": "Account", "id": world.account_id}
            assert delivery.headers["Content-Type"] == "application/json"
            assert delivery.signed_with(secret)
            assert not delivery.signed_with(other)  # a wrong secret is detected
    assert len({d.id for d in receiver.received}) == 6
    # Each one done at its first attempt: none is left to be sent again.
    logged = await deliveries_in_store(storage_url)
    assert sorted((j.payload["delivery"], j.state, j.attempts) for j in logged) == sorted(
        (d.id, "done", 1) for d in receiver.received
    )
    assert len(receiver.received) == 6


class TestHangingReceiver:
    @pytest.fixture
    def webhook_settings(self, webhook_settings: dict[str, Any]) -> dict[str, Any]:
        return {**webhook_settings, "webhook_timeout": 3600}  # hangs for the whole test

    @pytest.mark.gen_test(timeout=60)
    async def test_it_delays_no_import_and_no_other_delivery(
        self, api: Api, world: World, receiver: Receiver, storage_url: str
    ) -> None:
        await hang_and_import(api, world, receiver, storage_url)


async def hang_and_import(api: Api, world: World, receiver: Receiver, storage_url: str) -> None:
    receiver.hang = True
    first = await import_and_wait(api, world, CSV)
    await until(lambda: len(receiver.received) == 2, 20)  # both held, unanswered
    # The next import ends while they hang, and its deliveries are sent beside them.
    second = await import_and_wait(api, world, BAD_CSV)
    await until(lambda: len(receiver.received) == 4, 20)
    assert [d.json["import"]["id"] for d in receiver.received] == [first["id"]] * 2 + [
        second["id"]
    ] * 2
    pending = await deliveries_in_store(storage_url)
    assert {(j.state, j.attempts) for j in pending} == {("pending", 1)}


@pytest.fixture
def ended_before_start(storage_url: str, io_loop: IOLoop) -> int:
    """An import that ended while no host announced it (its host was killed just after the
    end was stored): written to the store before the host starts."""

    async def end() -> int:
        async with open_store({"storage_url": storage_url}) as store:
            return await end_an_import(store)

    return io_loop.run_sync(end)


async def end_an_import(store: Store) -> int:
    writer = store.attachment_writer()
    await writer.write(CSV)
    attachment = await writer.commit("outcomes.csv", "text/csv")
    queued = await store.create_import(
        NewImport(ContextRef("account", 1), 1, "instructure_csv", user_id=None), attachment
    )
    claimed = await store.claim_next_import("killed-host")
    assert claimed is not None
    assert claimed.id == queued.id
    ended = await store.finish_import(queued.id, "killed-host", "failed", [(1, "Gone")])
    assert ended is not None
    return ended.id


@pytest.mark.gen_test(timeout=60)
async def test_an_end_stored_before_a_crash_is_delivered_after_the_start(
    ended_before_start: int, api: Api, receiver: Receiver
) -> None:
    await until(lambda: len(receiver.received) == 2, 20)
    for delivery in receiver.received:
        body = delivery.json
        assert body["context"] == {"type": "Account", "id": 1}
        imported = body["import"]
        assert (imported["id"], imported["workflow_state"]) == (ended_before_start, "failed")
        assert imported["processing_errors"] == [[1, "Gone"]]


class TestRetries:
    @pytest.fixture
    def webhook_settings(self, receiver: Receiver) -> dict[str, Any]:
        receiver.status = 503
        return {
            "webhooks": [{"url": f"{receiver.url}/a", "secret": SECRET_A}],
            "webhook_retry_delays": [0.1, 0.1],
        }

    @pytest.mark.gen_test(timeout=60)
    async def test_a_failing_receiver_gets_the_same_delivery_until_the_schedule_ends(
        self, api: Api, world: World, receiver: Receiver, storage_url: str
    ) -> None:
        ended = await import_and_wait(api, world, CSV)

        async def failed() -> bool:
            return [j.state for j in await deliveries_in_store(storage_url)] == ["failed"]

        deadline = asyncio.get_running_loop().time() + 30
        while not await failed():
            assert asyncio.get_running_loop().time() < deadline
            await asyncio.sleep(0.1)
        [job] = await deliveries_in_store(storage_url)
        assert (job.attempts, job.last_error) == (3, "gave up after 3 attempts: HTTP 503")
        assert len(receiver.received) == 3
        assert {(d.id, d.body) for d in receiver.received} == {
            (job.payload["delivery"], receiver.received[0].body)
        }
        assert receiver.received[0].json["import"]["id"] == ended["id"]


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


@pytest.mark.gen_test(timeout=60)
async def test_the_default_schedule_retries_with_growing_delays_for_under_24_hours(
    receiver: Receiver, storage_url: str
) -> None:
    receiver.status = 500
    settings = WebhookSettings((Endpoint(f"{receiver.url}/a", SECRET_A),))
    assert settings.retry_delays == DEFAULT_RETRY_DELAYS
    clock = Clock()
    start = clock.now
    async with open_store({"storage_url": storage_url}) as store:
        await store.add_jobs(EXTENSION, deliveries(7, {"event": "x"}, settings), clock.now)
        sender = Sender(store, lambda: settings, clock)
        attempts: list[timedelta] = []
        while True:
            [sending] = await sender.send_due()
            await sending
            attempts.append(clock.now - start)
            [job] = (await store.jobs(EXTENSION, EVERYTHING))[0]
            if job.state != "pending":
                break
            assert job.due_at is not None
            clock.now = job.due_at - timedelta(seconds=1)
            assert await sender.send_due() == []  # not before its time
            clock.now = job.due_at
        sender.close()
    delays = [later - earlier for earlier, later in itertools.pairwise(attempts)]
    assert [d.total_seconds() for d in delays] == list(DEFAULT_RETRY_DELAYS)
    assert delays == sorted(delays)
    assert attempts[-1] < timedelta(hours=24)
    assert (job.state, job.attempts) == ("failed", 10)
    assert job.last_error == "gave up after 10 attempts: HTTP 500"
    assert len(receiver.received) == 10
