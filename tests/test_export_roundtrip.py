"""The export's round trip, over real HTTP on both backends: a tree exported and imported into an
empty installation (a fresh database: outcome vendor_guids are unique per installation) reads
back the same through the read API, ids aside; imported into its own context, it counts every
object unchanged. The trees are random (Hypothesis: random files imported one after another,
with moves, deletions and every field the export writes) and every fixture file.

In the suite the run is small and derandomized; ``make fuzz`` sets
``LMS_OUTCOMES_EXPORT_FUZZ_EXAMPLES`` for a long random run.
"""

from __future__ import annotations

import csv
import io
import itertools
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tornado.httpclient import AsyncHTTPClient
from tornado.httpserver import HTTPServer
from tornado.ioloop import IOLoop
from tornado.testing import bind_unused_port

from lms_outcomes_plugin.host.app import EmbeddedHost
from lms_outcomes_plugin.ruby import WHITESPACE
from tests.conftest import FIXTURES, POSTGRES_TEMPLATE, Api
from tests.postgres_server import PostgresServer

FUZZ_EXAMPLES = int(os.environ.get("LMS_OUTCOMES_EXPORT_FUZZ_EXAMPLES") or 0)
SETTINGS = settings(
    max_examples=FUZZ_EXAMPLES or 4,
    derandomize=not FUZZ_EXAMPLES,
    database=None,
    deadline=None,
    print_blob=bool(FUZZ_EXAMPLES),
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
#: What an outcome shows in full style, but its id, URL, context and rights.
OUTCOME_FIELDS = ("vendor_guid", "title", "description", "display_name", "friendly_description",
                  "points_possible", "mastery_points", "ratings", "calculation_method",
                  "calculation_int")
HEADER = ["vendor_guid", "object_type", "title", "description", "display_name",
          "friendly_description", "parent_guids", "calculation_method", "calculation_int",
          "mastery_points", "workflow_state", "ratings"]
ACCOUNT_NAME = "District"
#: Fixtures that fail as a whole (file-level errors, tests/test_fixtures.py).
FAILING_FIXTURES = {"test_outcomes_with_errors.csv"}
_examples = itertools.count()


# -- installations -------------------------------------------------------------------------------


@pytest.fixture
def plugin_settings(plugin_settings: dict[str, Any]) -> dict[str, Any]:
    """Parsed in a thread: these small files would wait for a parse worker's start."""
    return {**plugin_settings, "parse_in_subprocess": False}


@dataclass
class Installation:
    """A running embedded host, an account of it and its admin's client."""

    api: Api
    account: int

    @property
    def context(self) -> str:
        return f"/api/v1/accounts/{self.account}"


@asynccontextmanager
async def installation(
    store_url: str, folder: Path, locale: str = "en"
) -> AsyncIterator[Installation]:
    """A new embedded host on ``store_url``, serving on a port of its own, with one account
    (named as every account of these tests, so that root groups read alike)."""
    # Parsed in a thread, as in the source installation (see plugin_settings).
    settings_ = {"storage_url": store_url, "poll_interval": 0.05, "shutdown_timeout": 60,
                 "parse_in_subprocess": False}
    host = EmbeddedHost(folder / "host.db", settings={"lms_outcomes": settings_})
    await host.open()
    socket, port = bind_unused_port()
    server = HTTPServer(host.make_app())
    server.add_sockets([socket])
    try:
        await host.startup()
        yield await new_account(host, f"http://127.0.0.1:{port}", locale)
    finally:
        server.stop()
        await host.shutdown()


async def new_account(host: EmbeddedHost, root: str, locale: str = "en") -> Installation:
    account = await host.db.create_account(ACCOUNT_NAME, locale=locale)
    admin = await host.db.create_user("Admin", admin_of=account)
    api = Api(AsyncHTTPClient(), root, token=await host.db.create_token(admin))
    return Installation(api, account)


@pytest.fixture
def fresh_store(
    storage_backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> Iterator[Any]:
    """Makes the store of an empty installation, each time it is called: a new SQLite file
    or a new PostgreSQL database (dropped afterwards)."""
    made: list[str] = []
    server: PostgresServer | None = (
        request.getfixturevalue("postgres_server") if storage_backend == "postgresql" else None
    )

    def make() -> tuple[str, Path]:
        folder = tmp_path / f"installation-{uuid.uuid4().hex[:8]}"
        folder.mkdir()
        if server is None:
            return f"sqlite:///{folder}.db", folder
        name = f"fresh_{uuid.uuid4().hex}"
        made.append(name)
        return server.create_database(name, template=POSTGRES_TEMPLATE), folder

    yield make
    for name in made:
        assert server is not None
        server.drop_database(name)


# -- reading a tree back -------------------------------------------------------------------------


async def pages(api: Api, path: str) -> list[Any]:
    """Every item of a paginated route, following its ``Link: rel="next"``."""
    items: list[Any] = []
    url: str | None = f"{path}{'&' if '?' in path else '?'}per_page=100"
    while url is not None:
        response = await api.get(url)
        assert response.status == 200, response.body
        items += response.body
        url = None
        for part in response.headers.get("Link", "").split(","):
            if 'rel="next"' in part:
                target = urlsplit(part.split(";")[0].strip(" <>"))
                url = f"{target.path}?{target.query}"
    return items


async def read_tree(where: Installation) -> dict[str, Any]:
    """The context's tree as the read API shows it below the root group, without ids: each
    group's fields, its outcomes in full style and its subgroups, in a canonical order."""
    api = where.api
    root = await api.get(f"{where.context}/root_outcome_group", follow_redirects=True)
    assert root.status == 200, root.body
    return await _read_group(api, where.context, root.body["id"])


async def _read_group(api: Api, context: str, group_id: int) -> dict[str, Any]:
    group = (await api.get(f"{context}/outcome_groups/{group_id}")).body
    links = await pages(api, f"{context}/outcome_groups/{group_id}/outcomes?outcome_style=full")
    outcomes = [{name: link["outcome"].get(name) for name in OUTCOME_FIELDS} for link in links]
    children = await pages(api, f"{context}/outcome_groups/{group_id}/subgroups")
    subgroups = [await _read_group(api, context, child["id"]) for child in children]
    return {
        "title": group["title"], "description": group["description"],
        "vendor_guid": group["vendor_guid"],
        "outcomes": sorted(outcomes, key=repr), "subgroups": sorted(subgroups, key=repr),
    }  # fmt: skip


# -- the trip --------------------------------------------------------------------------------------


async def imported(where: Installation, data: bytes, ends: str = "succeeded") -> dict[str, Any]:
    imports = f"{where.context}/outcome_imports"
    created = await where.api.post_csv(imports, data)
    assert created.status == 200, created.body
    done = await where.api.wait_for_import(f"{imports}/{created.body['id']}")
    assert done.body["workflow_state"] == ends, done.body
    return done.body  # type: ignore[no-any-return]


async def exported(where: Installation) -> bytes:
    response = await where.api.request("GET", f"{where.context}/outcome_export")
    assert response.status == 200, response.body
    return response.body.encode() if isinstance(response.body, str) else b""


async def check_round_trip(source: Installation, fresh: Installation) -> None:
    """The source's export: into its own context, everything unchanged and no error; into the
    fresh installation, the same tree."""
    tree = await read_tree(source)
    data = await exported(source)
    if data.count(b"\n") > 1:  # a header alone is a file without data
        again = await imported(source, data)
        counts = again["counts"]
        assert again["processing_errors"] == [], again
        for kind in ("groups", "outcomes"):
            assert counts[kind]["unchanged"] == sum(counts[kind].values()), counts
        assert counts["links"] == {"created": 0, "deleted": 0}, counts
        assert await read_tree(source) == tree
        moved = await imported(fresh, data)
        assert moved["processing_errors"] == [], moved
    assert await read_tree(fresh) == tree


# -- random trees ----------------------------------------------------------------------------------

_text = st.text(
    st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters="\u2028\u2029")
    | st.sampled_from(',"\n '),
    max_size=12,
)
_title = _text.filter(lambda text: text.strip(WHITESPACE) != "")
_optional = st.one_of(st.just(""), _text)
_points = st.sampled_from((0.0, 0.5, 1.0, 2.0, 2.5, 3.0, 4.0, 10.0, 0.1, 1e20, 1234.5678))
_scoring = st.one_of(
    st.sampled_from((("", ""), ("highest", ""), ("latest", ""), ("average", ""))),
    st.tuples(st.sampled_from(("decaying_average", "weighted_average")),
              st.integers(1, 99).map(str)),
    st.tuples(st.just("standard_decaying_average"), st.integers(50, 99).map(str)),
    st.tuples(st.just("n_mastery"), st.integers(1, 10).map(str)),
)


@st.composite
def ratings(draw: st.DrawFn) -> list[str]:
    points = sorted(draw(st.lists(_points, max_size=4)), reverse=True)
    cells: list[str] = []
    for value in points:
        cells += [repr(value), draw(_optional)]
    return cells


@st.composite
def files(draw: st.DrawFn) -> list[list[list[str]]]:
    """One to three files naming groups g0..g4 and outcomes o0..o5 (their guids get a prefix of
    the example's): groups under groups named earlier in the same file (moves, when a later
    file puts one elsewhere), outcomes under any of those or the root, a few deletions."""
    made = []
    for _ in range(draw(st.integers(1, 3))):
        rows: list[list[str]] = []
        named: list[str] = []
        for guid in draw(st.lists(st.sampled_from([f"g{n}" for n in range(5)]), unique=True)):
            parent = draw(st.sampled_from(["", *named]))
            state = draw(st.sampled_from(["", "", "", "", "deleted"]))
            rows.append([guid, "group", draw(_title), draw(_optional), "", "", parent, "", "", "",
                         state])
            named.append(guid)
        for guid in draw(st.lists(st.sampled_from([f"o{n}" for n in range(6)]), unique=True)):
            parents = " ".join(draw(st.lists(st.sampled_from(named), unique=True, max_size=3))
                               if named else [])
            method, calculation_int = draw(_scoring)
            mastery = draw(st.one_of(st.just(""), _points.map(repr)))
            state = draw(st.sampled_from(["", "", "", "", "", "deleted"]))
            rows.append([guid, "outcome", draw(_title), draw(_optional), draw(_optional),
                         draw(_optional).strip(WHITESPACE), parents, method, calculation_int,
                         mastery, state, *draw(ratings())])
        if rows:
            made.append(rows)
    return made


def as_csv(rows: list[list[str]], prefix: str) -> bytes:
    """Every cell quoted: a rating's empty description stays empty (``""``)."""
    text = io.StringIO()
    writer = csv.writer(text, quoting=csv.QUOTE_ALL, lineterminator="\n")
    writer.writerow(HEADER)
    for row in rows:
        parents = " ".join(prefix + guid for guid in row[6].split())
        writer.writerow([prefix + row[0], *row[1:6], parents, *row[7:]])
    return text.getvalue().encode()


@SETTINGS
@given(made=files())
def test_a_random_tree_survives_the_trip(
    made: list[list[list[str]]], lms: EmbeddedHost, http_server: Any, base_url: str,
    fresh_store: Any, io_loop: IOLoop,
) -> None:
    prefix = f"x{next(_examples)}-"

    async def trip() -> None:
        source = await new_account(lms, base_url)
        for rows in made:
            await imported(source, as_csv(rows, prefix))
        url, folder = fresh_store()
        async with installation(url, folder) as fresh:
            await check_round_trip(source, fresh)

    io_loop.run_sync(trip, timeout=120)


@pytest.mark.parametrize(
    "fixture", sorted(path.name for path in (FIXTURES / "canvas").glob("*.csv"))
)
def test_every_fixture_survives_the_trip(
    fixture: str, lms: EmbeddedHost, http_server: Any, base_url: str, fresh_store: Any,
    io_loop: IOLoop,
) -> None:
    """Row errors are the fixture's own; what it imported makes the trip (a file that fails as
    a whole imports nothing, and its empty tree makes the trip too)."""

    async def trip() -> None:
        source = await new_account(lms, base_url)
        data = (FIXTURES / "canvas" / fixture).read_bytes()
        await imported(source, data, "failed" if fixture in FAILING_FIXTURES else "succeeded")
        url, folder = fresh_store()
        async with installation(url, folder) as fresh:
            await check_round_trip(source, fresh)

    io_loop.run_sync(trip, timeout=120)
