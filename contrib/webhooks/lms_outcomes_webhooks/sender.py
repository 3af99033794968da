"""Deliveries: recorded as jobs in the plugin's store when an import ends, sent by a background
task, retried on the schedule of the ``webhook_retry_delays`` setting.

A delivery is a job of the ``webhooks`` extension keyed ``"<import id> <url>"``, so the at-least-
once end event adds it once; its payload holds the delivery id, the URL and the exact body, so
a retry sends the same bytes. The secret is read from the settings when it is sent.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from tornado.httpclient import AsyncHTTPClient, HTTPRequest

from lms_outcomes_plugin.storage import Job, Store
from lms_outcomes_webhooks.settings import WebhookSettings
from lms_outcomes_webhooks.signing import DELIVERY_HEADER, SIGNATURE_HEADER, sign

log = logging.getLogger("lms_outcomes_webhooks")

#: The extension's name in the store's jobs.
EXTENSION = "webhooks"
EVENT = "outcome_import.finished"
#: Deliveries sent at once.
SENT_AT_ONCE = 20
#: Seconds between two looks for due deliveries at most (a new one is sent at once; a schedule
#: with a shorter delay is looked at that often).
POLL_INTERVAL = 1.0
#: Claims last this many times the timeout: a delivery whose host died while sending it is
#: sent again once its claim lapses.
LEASE_FACTOR = 3

Clock = Callable[[], datetime]


def utcnow() -> datetime:
    return datetime.now(UTC)


def deliveries(
    import_id: int, body: dict[str, Any], settings: WebhookSettings
) -> dict[str, dict[str, Any]]:
    """One delivery per configured URL, by job key, each with an id of its own."""
    text = json.dumps(body, separators=(",", ":"), ensure_ascii=False)
    return {
        f"{import_id} {endpoint.url}": {
            "delivery": str(uuid.uuid4()), "url": endpoint.url, "body": text,
            "import_id": import_id,
        }
        for endpoint in settings.endpoints
    }


class Sender:
    """Claims due deliveries from the store and sends each, side by side, until cancelled."""

    def __init__(
        self,
        store: Store,
        settings: Callable[[], WebhookSettings],
        clock: Clock = utcnow,
    ) -> None:
        self._store = store
        self._settings = settings
        self._clock = clock
        self._wake = asyncio.Event()
        self._sending: set[asyncio.Task[None]] = set()
        # Its own client: hanging receivers must not fill the host's shared one.
        self._client = AsyncHTTPClient(force_instance=True, max_clients=SENT_AT_ONCE)

    def wake(self) -> None:
        """Look for due deliveries now (one was just added)."""
        self._wake.set()

    async def run(self) -> None:
        try:
            while True:
                self._wake.clear()
                await self.send_due()
                pause = min(POLL_INTERVAL, *self._settings().retry_delays)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), pause)
        finally:
            for task in self._sending:
                task.cancel()  # their claims lapse: sent again after a restart
            if self._sending:
                await asyncio.wait(self._sending)
            self.close()

    def close(self) -> None:
        """Close its HTTP client (run() does, as it ends)."""
        self._client.close()

    async def send_due(self) -> list[asyncio.Task[None]]:
        """Start sending the deliveries due now (as many as may be under way); returns their
        tasks."""
        room = SENT_AT_ONCE - len(self._sending)
        if room <= 0:
            return []
        lease = self._settings().timeout * LEASE_FACTOR
        try:
            jobs = await self._store.claim_jobs(EXTENSION, self._clock(), lease, room)
        except Exception:
            log.exception("reading the due webhook deliveries failed; retrying")
            return []
        tasks = [asyncio.create_task(self._send_logged(job)) for job in jobs]
        for task in tasks:
            self._sending.add(task)
            task.add_done_callback(self._sent)
        return tasks

    def _sent(self, task: asyncio.Task[None]) -> None:
        self._sending.discard(task)
        self.wake()  # room for another

    async def _send_logged(self, job: Job) -> None:
        try:
            await self._send(job)
        except Exception:  # the store failed us: the claim lapses and it is sent again
            log.exception("webhook delivery %s failed", job.payload["delivery"])

    async def _send(self, job: Job) -> None:
        settings = self._settings()
        url, body = job.payload["url"], job.payload["body"].encode()
        secret = settings.secret_of(url)
        if secret is None:
            await self._end(job, "failed", "the URL is no longer in the webhooks setting")
            return
        error = await post(
            self._client, url, body, secret, job.payload["delivery"], settings.timeout
        )
        if error is None:
            await self._end(job, "done")
        elif job.attempts > len(settings.retry_delays):
            await self._end(job, "failed", f"gave up after {job.attempts} attempts: {error}")
        else:
            delay = settings.retry_delays[job.attempts - 1]
            due = self._clock() + timedelta(seconds=delay)
            await self._store.retry_job(EXTENSION, job.key, due, error)
            log.info("webhook delivery %s to %s failed (%s); retry at %s",
                     job.payload["delivery"], url, error, due.isoformat())

    async def _end(self, job: Job, state: Any, error: str | None = None) -> None:
        await self._store.end_job(EXTENSION, job.key, state, self._clock(), error)
        log.info("webhook delivery %s to %s: %s%s", job.payload["delivery"],
                 job.payload["url"], state, f" ({error})" if error else "")


async def post(
    client: AsyncHTTPClient, url: str, body: bytes, secret: str, delivery: str, seconds: float
) -> str | None:
    """POST one delivery; None when the receiver answered 2xx, else what went wrong."""
    request = HTTPRequest(
        url, method="POST", body=body, connect_timeout=seconds, request_timeout=seconds,
        follow_redirects=False, headers={
            "Content-Type": "application/json",
            SIGNATURE_HEADER: sign(body, secret),
            DELIVERY_HEADER: delivery,
        },
    )
    try:
        response = await client.fetch(request, raise_error=False)
    except Exception as error:  # an unreachable host name, a TLS failure
        return f"{type(error).__name__}: {error}"
    if response.code == 599:  # no answer: timeout, refused connection
        return str(response.error)
    if 200 <= response.code < 300:
        return None
    return f"HTTP {response.code}"
