"""The project's own fixtures over pytest-tornado.

pytest-tornado provides ``app`` -> ``http_server`` -> ``http_client`` and ``base_url``; we give it
the embedded host's Application, on a real SQLite file in the test's tmp_path, with the plugin
loaded from the ``lms`` entry points exactly as in production. The plugin's store is
parametrized: every test that uses it runs on SQLite (the same file) and on a fresh database of
a PostgreSQL server the session starts (see postgres_server.py); a module that does not depend
on the store pins ``storage_backend`` to one. Tests talk to it through
:class:`Api`, real HTTP on a real socket, and every answer of a route documented in the plugin's
``openapi.yaml`` is validated against it (:class:`OpenApiCheck`).
"""

from __future__ import annotations

import asyncio
import functools
import json
import os
import re
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
import yaml
from openapi_core import OpenAPI
from openapi_core.testing import MockRequest, MockResponse
from tornado.httpclient import AsyncHTTPClient, HTTPResponse
from tornado.ioloop import IOLoop

import lms_outcomes_plugin.api
from lms_outcomes_plugin.host.app import EmbeddedHost
from lms_outcomes_plugin.storage.postgresql import PostgresStore
from tests.postgres_server import PostgresServer, run_sync
from tests.store_tables import Tree

FIXTURES = Path(__file__).resolve().parent / "fixtures"
OPENAPI_YAML = Path(lms_outcomes_plugin.api.__file__).with_name("openapi.yaml")
#: A migrated database each PostgreSQL test's database is copied from.
POSTGRES_TEMPLATE = "lms_outcomes_template"


async def until(condition: Callable[[], bool], seconds: float = 10.0) -> None:
    """Wait for ``condition`` (e.g. an event an extension is told of after an import ended)."""
    deadline = asyncio.get_running_loop().time() + seconds
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, f"not within {seconds}s"
        await asyncio.sleep(0.01)


def fixture_bytes(name: str) -> bytes:
    """A file of tests/fixtures, byte for byte (e.g. ``canvas/demo.csv``)."""
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


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """One PostgreSQL server for the whole session, started when a test first needs it."""
    server = PostgresServer.start()
    try:
        server.create_database(POSTGRES_TEMPLATE)
        run_sync(_migrate(server.url(POSTGRES_TEMPLATE)))
        yield server
    finally:
        server.stop()


async def _migrate(url: str) -> None:
    store = PostgresStore(url)
    await store.open()
    await store.close()


@pytest.fixture(params=["sqlite", "postgresql"])
def storage_backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(
    params=range(int(os.environ.get("LMS_OUTCOMES_TAKEOVER_REPEAT", "1"))), ids=lambda n: f"run{n}"
)
def takeover_run(request: pytest.FixtureRequest) -> int:
    """Which run of a takeover test this is: ``make fuzz-takeover`` asks for many of each."""
    return int(request.param)


@pytest.fixture
def storage_url(
    storage_backend: str, db_path: Path, request: pytest.FixtureRequest
) -> Iterator[str]:
    """The plugin's store: the host's SQLite file, or a fresh, migrated PostgreSQL database."""
    if storage_backend == "sqlite":
        yield f"sqlite:///{db_path}"
        return
    server: PostgresServer = request.getfixturevalue("postgres_server")
    name = f"test_{uuid.uuid4().hex}"
    url = server.create_database(name, template=POSTGRES_TEMPLATE)
    try:
        yield url
    finally:
        server.drop_database(name)


@pytest.fixture
def tree(storage_url: str) -> Iterator[Tree]:
    """The plugin's tables, read (and written) straight, for assertions."""
    tables = Tree(storage_url)
    yield tables
    tables.close()


@pytest.fixture
def plugin_settings(storage_url: str) -> dict[str, Any]:
    """The lms_outcomes plugin's settings; tests override or extend it."""
    # A loaded machine must not make shutdown give up on an import that a test left running
    # (the tests of that bound set it low).
    return {"storage_url": storage_url, "poll_interval": 0.05, "shutdown_timeout": 60}


@pytest.fixture
def host_base_url() -> str:
    """The host's base URL path; a test module overrides it to check a non-root one."""
    return ""


@pytest.fixture
def host_settings(plugin_settings: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The host's settings of every plugin; tests of other plugins (extensions) add theirs."""
    return {"lms_outcomes": plugin_settings}


@pytest.fixture
def lms(
    io_loop: IOLoop, db_path: Path, host_settings: dict[str, dict[str, Any]], host_base_url: str
) -> Iterator[EmbeddedHost]:
    """The embedded host, opened and started, with its Application built; shut down after."""
    host = EmbeddedHost(db_path, base_url=host_base_url, settings=host_settings)
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


BodyProducer = Callable[[Callable[[bytes], Any]], Any]


@dataclass
class Api:
    """Real HTTP to the server under test, authenticated with ``token`` unless told not to.

    ``body_producer`` sends a chunked body (no Content-Length), as Tornado's client does.
    """

    client: AsyncHTTPClient
    root: str
    token: str | None = None
    default_headers: dict[str, str] = field(default_factory=dict)
    #: The host's base URL path, stripped before matching openapi.yaml's paths.
    base_path: str = ""

    async def request(
        self,
        method: str,
        path: str,
        *,
        body: bytes | None = None,
        body_producer: BodyProducer | None = None,
        headers: Mapping[str, str] | None = None,
        token: str | None = "default",
        follow_redirects: bool = False,
    ) -> Response:
        all_headers = dict(self.default_headers)
        token = self.token if token == "default" else token
        if token is not None:
            all_headers["Authorization"] = f"Bearer {token}"
        all_headers.update(headers or {})
        if method == "POST" and body is None and body_producer is None:
            body = b""
        response: HTTPResponse = await self.client.fetch(
            self.root + path,
            method=method,
            body=body,
            body_producer=body_producer,
            headers=all_headers,
            raise_error=False,
            follow_redirects=follow_redirects,
        )
        openapi_check().check(response, self.base_path, body)
        return Response(response.code, _json_or_text(response.body), response.headers)

    async def get(self, path: str, **kwargs: Any) -> Response:
        return await self.request("GET", path, **kwargs)

    async def post(self, path: str, **kwargs: Any) -> Response:
        return await self.request("POST", path, **kwargs)

    async def post_csv(self, path: str, csv: bytes, **kwargs: Any) -> Response:
        headers = {"Content-Type": "text/csv", **kwargs.pop("headers", {})}
        return await self.post(path, body=csv, headers=headers, **kwargs)

    async def post_multipart(
        self,
        path: str,
        *,
        fields: Mapping[str, str] | None = None,
        files: Mapping[str, tuple[str, bytes, str]] | None = None,
        **kwargs: Any,
    ) -> Response:
        """POST a multipart/form-data body: ``fields`` by name, ``files`` by name as
        ``(filename, content, content_type)``."""
        content_type, body = multipart_body(fields or {}, files or {})
        headers = {"Content-Type": content_type, **kwargs.pop("headers", {})}
        return await self.post(path, body=body, headers=headers, **kwargs)

    async def wait_for_import(self, path: str, seconds: float = 20.0) -> Response:
        """Poll an import's status until it has ended (``succeeded``, ``failed`` or
        ``cancelled``)."""
        deadline = asyncio.get_running_loop().time() + seconds
        while True:
            response = await self.get(path)
            assert response.status == 200, response.body
            if response.body["workflow_state"] in ("succeeded", "failed", "cancelled"):
                return response
            assert asyncio.get_running_loop().time() < deadline, f"still {response.body}"
            await asyncio.sleep(0.02)


def multipart_body(
    fields: Mapping[str, str], files: Mapping[str, tuple[str, bytes, str]]
) -> tuple[str, bytes]:
    """A multipart/form-data body as browsers and ``requests`` send it, and its Content-Type."""
    boundary = uuid.uuid4().hex
    parts = [
        f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'.encode()
        + value.encode()
        + b"\r\n"
        for name, value in fields.items()
    ]
    parts += [
        f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; '
        f'filename="{filename}"\r\nContent-Type: {content_type}\r\n\r\n'.encode()
        + content
        + b"\r\n"
        for name, (filename, content, content_type) in files.items()
    ]
    body = b"".join(parts) + f"--{boundary}--\r\n".encode()
    return f"multipart/form-data; boundary={boundary}", body


class OpenApiCheck:
    """Validates the plugin's answers (and the requests it accepted) against openapi.yaml.

    Only operations the document describes are checked: the host's own routes (e.g.
    ``/api/v1/accounts/:id``) and methods a route does not serve are not the plugin's.
    Requests are checked when the answer is a success, the cases where the server and the
    document must agree that the request was valid; a refused request may be invalid on
    purpose. A chunked request (``body_producer``) is not kept, so only its answer is checked.
    """

    HOST_URL = "http://lms.test"

    def __init__(self, path: Path) -> None:
        document = yaml.safe_load(path.read_bytes())
        self.openapi = OpenAPI.from_dict(document)
        paths = document["paths"]
        self.operations = [
            (re.compile(re.sub(r"\\{[^}]+\\}", "[^/]+", re.escape(template)) + "$"), set(item))
            for template, item in paths.items()
        ]

    def documents(self, method: str, path: str) -> bool:
        return any(
            pattern.match(path) and method.lower() in methods
            for pattern, methods in self.operations
        )

    def check(self, response: HTTPResponse, base_path: str, body: bytes | None) -> None:
        request = response.request
        url = urlsplit(response.effective_url)
        path = url.path.removeprefix(base_path)
        if not self.documents(request.method, path):
            return
        headers = dict(request.headers)
        openapi_request = MockRequest(
            self.HOST_URL,
            request.method,
            path,
            args=parse_qsl(url.query, keep_blank_values=True),  # type: ignore[arg-type]
            headers=headers,
            data=body if request.body_producer is None else None,
            content_type=headers.get("Content-Type", "").lower(),
        )
        openapi_response = MockResponse(
            response.body,
            status_code=response.code,
            headers=dict(response.headers),
            content_type=response.headers.get("Content-Type", "").lower(),
        )
        described = f"{request.method} {path} -> {response.code} {response.body[:500]!r}"
        if response.code < 400 and request.body_producer is None:
            _validated(described, "request", self.openapi.validate_request, openapi_request)
        _validated(
            described, "response", self.openapi.validate_response, openapi_request,
            openapi_response,
        )


def _validated(described: str, what: str, validate: Callable[..., Any], *args: Any) -> None:
    try:
        validate(*args)
    except Exception as error:
        # openapi-core nests the schema errors that say what is wrong.
        causes = [error, error.__cause__, *getattr(error.__cause__, "schema_errors", ())]
        details = "\n  ".join(str(cause) for cause in causes if cause is not None)
        raise AssertionError(
            f"{what} does not match openapi.yaml: {described}\n  {details}"
        ) from error


@functools.cache
def openapi_check() -> OpenApiCheck:
    """Built once per test session: reading and checking the document takes a while."""
    return OpenApiCheck(OPENAPI_YAML)


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
    return Api(
        http_client, base_url + host_base_url, token=world.admin_token, base_path=host_base_url
    )
