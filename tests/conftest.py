"""The project's own fixtures over pytest-tornado.

pytest-tornado provides ``app`` -> ``http_server`` -> ``http_client`` and ``base_url``; we give it
the embedded host's Application, on a real SQLite file in the test's tmp_path, with the plugin
loaded from the ``lms`` entry points exactly as in production. Tests talk to it through
:class:`Api`, real HTTP on a real socket.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from tornado.httpclient import AsyncHTTPClient, HTTPResponse
from tornado.ioloop import IOLoop

from lms_outcomes_plugin.host.app import EmbeddedHost

FIXTURES = Path(__file__).resolve().parents[1].parent / "shared" / "fixtures"


def fixture_bytes(name: str) -> bytes:
    """A file of ../shared/fixtures, byte for byte (e.g. ``canvas/demo.csv``)."""
    return (FIXTURES / name).read_bytes()


@pytest.fixture
def io_loop() -> Iterator[IOLoop]:
    """A fresh loop per test, without the IOLoop.make_current() that pytest-tornado's own
    fixture calls (deprecated since Tornado 6.2)."""
    loop = IOLoop(make_current=False)
    asyncio.set_event_loop(loop.asyncio_loop)  # type: ignore[attr-defined]
    yield loop
    loop.close(all_fds=True)
    asyncio.set_event_loop(None)


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "lms.db"


@pytest.fixture
def plugin_settings(db_path: Path) -> dict[str, Any]:
    """The lms_outcomes plugin's settings; tests override or extend it."""
    return {"storage_url": f"sqlite:///{db_path}", "poll_interval": 0.05}


@pytest.fixture
def host_base_url() -> str:
    """The host's base URL path; a test module overrides it to check a non-root one."""
    return ""


@pytest.fixture
def lms(
    io_loop: IOLoop, db_path: Path, plugin_settings: dict[str, Any], host_base_url: str
) -> Iterator[EmbeddedHost]:
    """The embedded host, opened and started, with its Application built; shut down after."""
    host = EmbeddedHost(db_path, base_url=host_base_url, settings={"lms_outcomes": plugin_settings})
    io_loop.run_sync(host.open)
    host.app = host.make_app()  # type: ignore[attr-defined]
    io_loop.run_sync(host.startup)
    yield host
    io_loop.run_sync(host.shutdown)


@pytest.fixture
def app(lms: EmbeddedHost) -> Any:
    return lms.app  # type: ignore[attr-defined]


@dataclass
class Response:
    status: int
    body: Any
    headers: Mapping[str, str]


@dataclass
class Api:
    """Real HTTP to the server under test, authenticated with ``token`` unless told not to."""

    client: AsyncHTTPClient
    root: str
    token: str | None = None
    default_headers: dict[str, str] = field(default_factory=dict)

    async def request(
        self,
        method: str,
        path: str,
        *,
        body: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        token: str | None = "default",
        follow_redirects: bool = False,
    ) -> Response:
        all_headers = dict(self.default_headers)
        token = self.token if token == "default" else token
        if token is not None:
            all_headers["Authorization"] = f"Bearer {token}"
        all_headers.update(headers or {})
        if method == "POST" and body is None:
            body = b""
        response: HTTPResponse = await self.client.fetch(
            self.root + path,
            method=method,
            body=body,
            headers=all_headers,
            raise_error=False,
            follow_redirects=follow_redirects,
        )
        return Response(response.code, _json_or_text(response.body), response.headers)

    async def get(self, path: str, **kwargs: Any) -> Response:
        return await self.request("GET", path, **kwargs)

    async def post(self, path: str, **kwargs: Any) -> Response:
        return await self.request("POST", path, **kwargs)

    async def post_csv(self, path: str, csv: bytes, **kwargs: Any) -> Response:
        headers = {"Content-Type": "text/csv", **kwargs.pop("headers", {})}
        return await self.post(path, body=csv, headers=headers, **kwargs)

    async def wait_for_import(self, path: str, seconds: float = 20.0) -> Response:
        """Poll an import's status until it is ``succeeded`` or ``failed``."""
        deadline = asyncio.get_running_loop().time() + seconds
        while True:
            response = await self.get(path)
            assert response.status == 200, response.body
            if response.body["workflow_state"] in ("succeeded", "failed"):
                return response
            assert asyncio.get_running_loop().time() < deadline, f"still {response.body}"
            await asyncio.sleep(0.02)


def _json_or_text(raw: bytes | None) -> Any:
    if not raw:
        return None
    try:
        return json.loads(raw)
    except ValueError:
        return raw.decode("utf-8", "replace")


@dataclass
class World:
    """A root account with a sub-account and a course, and users holding various rights."""

    account_id: int
    sub_account_id: int
    course_id: int
    admin_id: int
    admin_token: str


@pytest.fixture
def world(lms: EmbeddedHost, io_loop: IOLoop) -> World:
    async def seed() -> World:
        db = lms.db
        account = await db.create_account("Springfield District")
        sub = await db.create_account("Springfield Elementary", parent_id=account)
        course = await db.create_course("Biology 101", account_id=sub)
        admin = await db.create_user("Admin Skinner", admin_of=account)
        token = await db.create_token(admin)
        return World(account, sub, course, admin, token)

    return io_loop.run_sync(seed)


@pytest.fixture
def api(http_client: AsyncHTTPClient, base_url: str, host_base_url: str, world: World) -> Api:
    return Api(http_client, base_url + host_base_url, token=world.admin_token)
