"""A real HTTP receiver of webhooks for the tests: a Tornado app on a port of its own that keeps
every request it gets, and answers with the status it is told to, or never (``hang``)."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import tornado.web
from tornado.httpserver import HTTPServer
from tornado.testing import bind_unused_port

README = Path(__file__).resolve().parents[1] / "README.md"


def documented_recipe() -> Callable[[bytes, str, str], bool]:
    """``is_genuine(body, signature_header, secret)``, run from the README's own code."""
    [code] = [
        block for block in re.findall(r"```python\n(.*?)```", README.read_text(), re.DOTALL)
        if "def is_genuine" in block
    ]
    namespace: dict[str, Any] = {}
    exec(code, namespace)
    return namespace["is_genuine"]  # type: ignore[no-any-return]


IS_GENUINE = documented_recipe()


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
        """Checked with the README's recipe."""
        return IS_GENUINE(self.body, self.headers["X-Lms-Outcomes-Signature"], secret)


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
