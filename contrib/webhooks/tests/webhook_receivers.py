"""A real HTTP receiver of webhooks for the tests: a Tornado app on a port of its own that keeps
every request it gets, and answers with the status it is told to, or never (``hang``)."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
from dataclasses import dataclass, field
from typing import Any

import tornado.web
from tornado.httpserver import HTTPServer
from tornado.testing import bind_unused_port


@dataclass
class Delivery:
    path: str
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def id(self) -> str:
        return self.headers["X-Lms-Outcomes-Delivery"]

    def signed_with(self, secret: str) -> bool:
        """The README's recipe, as a receiver writes it."""
        expected = "sha256=" + hmac.new(secret.encode(), self.body, hashlib.sha256).hexdigest()
        return hmac.compare_digest(expected, self.headers["X-Lms-Outcomes-Signature"])


@dataclass
class Receiver:
    url: str = ""
    status: int = 200
    hang: bool = False
    received: list[Delivery] = field(default_factory=list)
    released: asyncio.Event = field(default_factory=asyncio.Event)
    server: HTTPServer | None = None

    def on(self, path: str) -> list[Delivery]:
        return [delivery for delivery in self.received if delivery.path == path]


class _Hook(tornado.web.RequestHandler):
    def initialize(self, receiver: Receiver) -> None:
        self.receiver = receiver

    async def post(self) -> None:
        headers = dict(self.request.headers.get_all())
        self.receiver.received.append(Delivery(self.request.path, headers, self.request.body))
        if self.receiver.hang:
            await self.receiver.released.wait()
        self.set_status(self.receiver.status)


def start_receiver() -> Receiver:
    """On the running IOLoop; ``stop_receiver`` ends it."""
    receiver = Receiver()
    sock, port = bind_unused_port()
    receiver.server = HTTPServer(
        tornado.web.Application([(r"/.*", _Hook, {"receiver": receiver})])
    )
    receiver.server.add_sockets([sock])
    receiver.url = f"http://127.0.0.1:{port}"
    return receiver


async def stop_receiver(receiver: Receiver) -> None:
    receiver.released.set()
    assert receiver.server is not None
    receiver.server.stop()
    await receiver.server.close_all_connections()
