"""Isolation between root accounts (issue 8): an admin of root account A, and of nothing else,
can neither create nor read the imports, groups, outcomes or created group ids of root account
B, its sub-account or its course, by any route or through any id of B's objects; and API tokens
are stored hashed.

B is the ``world`` of conftest (a root account, a sub-account and a course), each holding an
imported tree and imports. A is a second root account with its own admin and its own tree.
"""

from __future__ import annotations

import asyncio
import hashlib
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from tornado.ioloop import IOLoop

from lms_outcomes_plugin.host.app import EmbeddedHost
from tests.canvas_bodies import INVALID_TOKEN, NOT_FOUND, UNAUTHORIZED, WWW_AUTHENTICATE
from tests.conftest import Api, Response, World, multipart_body
from tests.tree import G, H, O, Tree, csv_of, run_import

HEADER = [*H, "description"]
#: What A's admin sends when a route takes a body.
A_FILE = csv_of([G(vendor_guid="a-new", title="A new")])


@dataclass(frozen=True)
class Place:
    """A context as the routes name it: ``accounts/1``, ``courses/3``."""

    kind: str  # "account" / "course"
    id: int

    @property
    def path(self) -> str:
        return f"{self.kind}s/{self.id}"

    def url(self, rest: str = "") -> str:
        return f"/api/v1/{self.path}{rest}"


@dataclass
class Holdings:
    """What one context holds: its imports (the last one is its ``latest``), groups (the root
    first) and outcomes."""

    place: Place
    imports: list[int]
    groups: list[int]
    outcomes: list[int]


@dataclass
class Setup:
    """A's token and holdings, and B's."""

    a_token: str
    a: Holdings
    b: list[Holdings]  # B's root account, sub-account and course

    @property
    def b_imports(self) -> list[int]:
        return [i for held in self.b for i in held.imports]

    @property
    def b_groups(self) -> list[int]:
        return [g for held in self.b for g in held.groups]

    @property
    def b_outcomes(self) -> list[int]:
        return [o for held in self.b for o in held.outcomes]


@pytest.fixture
def a_token(lms: EmbeddedHost, io_loop: IOLoop, world: World) -> str:
    """A token of the admin of root account A, a second root account beside the world's."""

    async def seed() -> str:
        account = await lms.db.create_account("Shelbyville District")
        admin = await lms.db.create_user("Admin Chalmers", admin_of=account)
        token = await lms.db.create_token(admin)
        A_ACCOUNTS[token] = account
        return token

    return io_loop.run_sync(seed)


#: Root account A of each ``a_token``: the host's tables are not in the plugin's store.
A_ACCOUNTS: dict[str, int] = {}


def a_place(a_token: str, world: World) -> Place:
    account_id = A_ACCOUNTS[a_token]
    assert account_id != world.account_id
    return Place("account", account_id)


def tree_rows(p: str) -> list[dict[str, str]]:
    """A small tree under guids prefixed with ``p``: two levels of groups, and outcomes linked
    once and twice."""
    return [
        G(vendor_guid=f"{p}top", title=f"{p} top", description="secret"),
        G(vendor_guid=f"{p}sub", title=f"{p} sub", parent_guids=f"{p}top"),
        G(vendor_guid=f"{p}other", title=f"{p} other"),
        O(vendor_guid=f"{p}one", title=f"{p} one", parent_guids=f"{p}top {p}sub"),
        O(vendor_guid=f"{p}two", title=f"{p} two", parent_guids=f"{p}sub"),
    ]


async def hold_tree(api: Api, tree: Tree, place: Place, p: str, token: str) -> Holdings:
    """Import the tree of ``p`` into ``place``, then a second (updating) import, as ``token``'s
    user; return what the context then holds."""
    as_user = Api(api.client, api.root, token=token, base_path=api.base_path)
    first = await run_import(as_user, place.path, csv_of(tree_rows(p), HEADER))
    second = await run_import(as_user, place.path, csv_of(
        [G(vendor_guid=f"{p}other", title=f"{p} other", description="updated")], HEADER))
    for done in (first, second):
        assert (done["workflow_state"], done["processing_errors"]) == ("succeeded", [])
    groups = [gid for (gid,) in tree.rows(
        "SELECT id FROM lms_outcomes_groups WHERE context_type = ? AND context_id = ? "
        "ORDER BY is_root DESC, id", place.kind, place.id)]
    outcomes = [oid for (oid,) in tree.rows(
        "SELECT id FROM lms_outcomes_outcomes WHERE context_type = ? AND context_id = ? "
        "ORDER BY id", place.kind, place.id)]
    assert (len(groups), len(outcomes)) == (4, 2)
    return Holdings(place, [first["id"], second["id"]], groups, outcomes)


async def prepare(api: Api, world: World, tree: Tree, a_token: str) -> Setup:
    b = [
        await hold_tree(api, tree, Place("account", world.account_id), "b-", world.admin_token),
        await hold_tree(api, tree, Place("account", world.sub_account_id), "bs-",
                        world.admin_token),
        await hold_tree(api, tree, Place("course", world.course_id), "bc-", world.admin_token),
    ]
    a = await hold_tree(api, tree, a_place(a_token, world), "a-", a_token)
    return Setup(a_token, a, b)


def b_rows(tree: Tree, world: World) -> list[list[tuple[Any, ...]]]:
    """Every row B's contexts own, timestamps included: groups, outcomes, links, friendly
    descriptions, imports, their errors and B's ``latest`` pointers."""
    contexts = ("(context_type = 'account' AND context_id IN (?, ?)) OR "
                "(context_type = 'course' AND context_id = ?)")
    ids = (world.account_id, world.sub_account_id, world.course_id)
    return [
        tree.rows(f"SELECT * FROM lms_outcomes_groups WHERE {contexts} ORDER BY id", *ids),
        tree.rows(f"SELECT * FROM lms_outcomes_outcomes WHERE {contexts} ORDER BY id", *ids),
        tree.rows(f"SELECT * FROM lms_outcomes_links WHERE {contexts} ORDER BY id", *ids),
        tree.rows(f"SELECT * FROM lms_outcomes_friendly_descriptions WHERE {contexts} "
                  "ORDER BY id", *ids),
        tree.rows(f"SELECT * FROM lms_outcomes_imports WHERE {contexts} ORDER BY id", *ids),
        tree.rows("SELECT * FROM lms_outcomes_import_errors WHERE outcome_import_id IN ("
                  f"SELECT id FROM lms_outcomes_imports WHERE {contexts}) ORDER BY id", *ids),
        tree.rows(f"SELECT * FROM lms_outcomes_latest_imports WHERE {contexts} "
                  "ORDER BY context_type, context_id", *ids),
    ]


def import_count(tree: Tree) -> int:
    return tree.rows("SELECT count(*) FROM lms_outcomes_imports")[0][0]


def as_a(api: Api, setup: Setup) -> Api:
    return Api(api.client, api.root, token=setup.a_token, base_path=api.base_path)


async def creates(api: Api, path: str) -> list[Response]:
    """POST A_FILE to ``path`` raw and as multipart, and POST an empty body."""
    content_type, multipart = multipart_body(
        {"import_type": "instructure_csv"}, {"attachment": ("a.csv", A_FILE, "text/csv")})
    return [
        await api.post_csv(path, A_FILE),
        await api.post(path, body=multipart, headers={"Content-Type": content_type}),
        await api.post(path),
    ]


B_NAMES = ("Springfield District", "Springfield Elementary", "Biology 101")


def assert_leaks_nothing(response: Response, setup: Setup, tree: Tree) -> None:
    """No guid or title of B's objects, nor the name of one of B's contexts, appears in an
    answer to A (ids are checked by each test: small numbers appear anywhere)."""
    text = repr(response.body) + repr(dict(response.headers))
    for name in B_NAMES:
        assert name not in text
    for guid, title in tree.rows(
        "SELECT vendor_guid, title FROM lms_outcomes_groups WHERE vendor_guid LIKE 'b%' "
        "UNION ALL SELECT vendor_guid, title FROM lms_outcomes_outcomes "
        "WHERE vendor_guid LIKE 'b%'"
    ):
        assert guid not in text
        assert title not in text


# -- B's contexts: 401 on every route ---------------------------------------------------------


@pytest.mark.gen_test(timeout=60)
async def test_a_gets_401_on_every_route_of_b_contexts(
    api: Api, world: World, tree: Tree, a_token: str, lms: EmbeddedHost
) -> None:
    """Every route under B's root account, sub-account and course, with B's real ids (imports,
    ``latest``, target groups, groups), and every outcome of B: Canvas's 401 unauthorized body
    without WWW-Authenticate (A's user is authenticated, just not permitted), and nothing of B
    changes: no import is created, no root group either."""
    setup = await prepare(api, world, tree, a_token)
    a_api = as_a(api, setup)
    before, imports_before = b_rows(tree, world), import_count(tree)
    for held in setup.b:
        place = held.place
        imports = place.url("/outcome_imports")
        paths = [imports, f"{imports}/group/{held.groups[0]}", f"{imports}/group/{held.groups[1]}"]
        responses = [response for path in paths for response in await creates(a_api, path)]
        for import_id in [*held.imports, "latest"]:
            responses.append(await a_api.get(f"{imports}/{import_id}"))
            responses.append(await a_api.get(f"{imports}/{import_id}/created_group_ids"))
        responses.append(await a_api.get(place.url("/root_outcome_group")))
        responses.append(await a_api.get(place.url("/outcome_groups")))
        responses.append(await a_api.get(place.url("/outcome_group_links?outcome_style=full")))
        for group_id in held.groups:
            for rest in ("", "/subgroups", "/outcomes?outcome_style=full"):
                responses.append(await a_api.get(place.url(f"/outcome_groups/{group_id}{rest}")))
        # With the access_token parameter instead of the header: the same answer.
        responses.append(await a_api.get(
            f"{imports}/latest?access_token={setup.a_token}", token=None))
        for response in responses:
            assert (response.status, response.body) == (401, UNAUTHORIZED)
            assert "WWW-Authenticate" not in response.headers
    for outcome_id in setup.b_outcomes:
        response = await a_api.get(f"/api/v1/outcomes/{outcome_id}")
        assert (response.status, response.body) == (401, UNAUTHORIZED)
    # A course of B without a tree yet: A's root_outcome_group does not create its root.
    empty = Place("course", await lms.db.create_course("Chemistry", account_id=world.account_id))
    refused = await a_api.get(empty.url("/root_outcome_group"))
    assert (refused.status, refused.body) == (401, UNAUTHORIZED)
    assert tree.rows("SELECT count(*) FROM lms_outcomes_groups WHERE context_type = 'course' "
                     "AND context_id = ?", empty.id) == [(0,)]

    assert b_rows(tree, world) == before
    assert import_count(tree) == imports_before
    # B's admin still reads everything (the refusals were about A's user, not the objects).
    for held in setup.b:
        shown = await api.get(held.place.url(f"/outcome_imports/{held.imports[-1]}"))
        assert shown.status == 200
        latest = await api.get(held.place.url("/outcome_imports/latest"))
        assert latest.body["id"] == held.imports[-1]
        group = await api.get(held.place.url(f"/outcome_groups/{held.groups[1]}"))
        assert group.status == 200


# -- B's ids under A's own context: 404 -------------------------------------------------------


@pytest.mark.gen_test(timeout=60)
async def test_b_ids_under_a_context_are_404_and_leak_nothing(
    api: Api, world: World, tree: Tree, a_token: str
) -> None:
    """B's import ids and group ids under A's own context are not found (Canvas's 404s), a
    target group of B is 404 at POST and creates nothing; A's ``latest``, created group ids,
    listings and outcomes are A's alone."""
    setup = await prepare(api, world, tree, a_token)
    a_api = as_a(api, setup)
    a = setup.a.place
    imports = a.url("/outcome_imports")
    before, imports_before = b_rows(tree, world), import_count(tree)

    for import_id in setup.b_imports:
        for rest in ("", "/created_group_ids"):
            response = await a_api.get(f"{imports}/{import_id}{rest}")
            assert (response.status, response.body) == (
                404, {"message": f"Couldn't find OutcomeImport with 'id'={import_id}"})
    for group_id in setup.b_groups:
        for rest in ("", "/subgroups", "/outcomes", "/outcomes?outcome_style=full"):
            response = await a_api.get(a.url(f"/outcome_groups/{group_id}{rest}"))
            assert (response.status, response.body) == (404, NOT_FOUND), (group_id, rest)
        # A target group of B under A's context: 404 at POST, and nothing is created.
        for response in await creates(a_api, f"{imports}/group/{group_id}"):
            assert (response.status, response.body) == (404, NOT_FOUND), group_id
    assert import_count(tree) == imports_before

    # A's own listings and its `latest` are A's alone.
    latest = await a_api.get(f"{imports}/latest")
    assert (latest.status, latest.body["id"]) == (200, setup.a.imports[-1])
    # Each group counts for the import that touched it last (as in Canvas).
    created = await a_api.get(f"{imports}/{setup.a.imports[0]}/created_group_ids")
    created_last = await a_api.get(f"{imports}/{setup.a.imports[1]}/created_group_ids")
    assert sorted(int(g) for g in created.body + created_last.body) == sorted(setup.a.groups[1:])
    groups = await a_api.get(a.url("/outcome_groups?per_page=100"))
    assert sorted(group["id"] for group in groups.body) == sorted(setup.a.groups)
    links = await a_api.get(a.url(
        "/outcome_group_links?per_page=100&outcome_style=full&outcome_group_style=full"))
    assert {link["outcome"]["id"] for link in links.body} == set(setup.a.outcomes)
    assert {link["outcome_group"]["id"] for link in links.body} <= set(setup.a.groups)
    root = await a_api.get(a.url("/root_outcome_group"), follow_redirects=True)
    assert root.body["id"] == setup.a.groups[0]
    for response in (latest, created, created_last, groups, links, root):
        assert_leaks_nothing(response, setup, tree)
    for outcome_id in setup.a.outcomes:
        shown = await a_api.get(f"/api/v1/outcomes/{outcome_id}")
        assert shown.status == 200
        assert_leaks_nothing(shown, setup, tree)

    assert b_rows(tree, world) == before


# -- B's ids inside a file imported into A ------------------------------------------------------


@pytest.mark.gen_test(timeout=60)
async def test_a_file_naming_b_objects_cannot_touch_them(
    api: Api, world: World, tree: Tree, a_token: str
) -> None:
    """``canvas_outcome:<id of B's outcome>`` and B's plain outcome guids are row errors
    (as in Canvas); ``canvas_outcome_group:<id of B's group>`` creates a new group in A (as
    in Canvas), and so does B's plain group guid; B's groups are no parents in A; a ``course_id``
    of B's course is refused (as Canvas refuses it). B's rows are unchanged, byte for byte."""
    setup = await prepare(api, world, tree, a_token)
    a_api = as_a(api, setup)
    a = setup.a.place
    b_account, _, b_course = setup.b
    b_outcome, b_course_outcome = b_account.outcomes[0], b_course.outcomes[0]
    b_group, b_course_group = b_account.groups[1], b_course.groups[1]
    before = b_rows(tree, world)
    rows = [
        O(vendor_guid=f"canvas_outcome:{b_outcome}", title="Taken", description="mine"),
        O(vendor_guid=f"canvas_outcome:{b_course_outcome}", title="bc- one"),
        O(vendor_guid="b-two", title="b- two"),
        G(vendor_guid=f"canvas_outcome_group:{b_group}", title="Mine", description="mine"),
        G(vendor_guid=f"canvas_outcome_group:{b_course_group}", title="Mine too"),
        G(vendor_guid="b-top", title="Also mine", description="mine"),
        O(vendor_guid="a-new-outcome", title="New", parent_guids="bs-top"),
        G(vendor_guid="a-child", title="Child", parent_guids="bc-sub"),
        G(vendor_guid="a-course-group", title="Into B", course_id=str(world.course_id)),
    ]

    done = await run_import(a_api, a.path, csv_of(rows, [*HEADER, "course_id"]))

    assert done["workflow_state"] == "succeeded"
    assert done["processing_errors"] == [
        [2, f"Outcome with ID canvas_outcome:{b_outcome} already exists in another unrelated "
            "course or account (Springfield District)"],
        [3, f"Outcome with ID canvas_outcome:{b_course_outcome} already exists in another "
            "unrelated course or account (Biology 101)"],
        [4, "Outcome with ID b-two already exists in another unrelated course or account "
            "(Springfield District)"],
        [8, 'Parent references not found prior to this row: ["bs-top"]'],
        [9, 'Parent references not found prior to this row: ["bc-sub"]'],
        [10, f"Target course {world.course_id} is not a child of current account "
             "(Shelbyville District)"],
    ]
    a_where = ("account", a.id)
    for guid, title in ((f"canvas_outcome_group:{b_group}", "Mine"),
                        (f"canvas_outcome_group:{b_course_group}", "Mine too"),
                        ("b-top", "Also mine")):
        group = tree.group(guid, a_where)
        assert group is not None, guid
        assert (group["title"], group["context"], group["parent"]) == (title, a_where, "ROOT")
        assert group["id"] not in setup.b_groups
    assert tree.rows("SELECT count(*) FROM lms_outcomes_outcomes WHERE context_type = 'account' "
                     "AND context_id = ?", a.id) == [(2,)]  # no new outcome in A
    assert tree.outcome("a-new-outcome") is None
    created = await a_api.get(a.url(f"/outcome_imports/{done['id']}/created_group_ids"))
    assert not {int(g) for g in created.body} & set(setup.b_groups)
    assert b_rows(tree, world) == before
    taken = tree.group(f"canvas_outcome_group:{b_group}", a_where)["id"]  # type: ignore[index]

    # Again, as an update: the same new group of A changes, B's still does not.
    again = await run_import(a_api, a.path, csv_of(
        [G(vendor_guid=f"canvas_outcome_group:{b_group}", title="Mine", description="more")],
        HEADER))
    assert (again["workflow_state"], again["processing_errors"]) == ("succeeded", [])
    updated = tree.group(f"canvas_outcome_group:{b_group}", a_where)
    assert updated is not None
    assert (updated["id"], updated["description"]) == (taken, "more")
    assert b_rows(tree, world) == before


# -- tokens ---------------------------------------------------------------------------------------


@pytest.mark.gen_test(timeout=60)
async def test_tokens_are_stored_hashed(
    api: Api, world: World, tree: Tree, a_token: str, db_path: Path
) -> None:
    """Neither plain token is anywhere in the files the host and the plugin keep (the SQLite
    file, its WAL and shared memory, the uploads) nor in the plugin's PostgreSQL tables, after
    requests that used both; the stored value is the token's SHA-256."""
    setup = await prepare(api, world, tree, a_token)
    a_api = as_a(api, setup)
    assert (await a_api.get(setup.a.place.url("/outcome_imports/latest"))).status == 200
    assert (await api.get(f"/api/v1/accounts/{world.account_id}/outcome_imports/latest")
            ).status == 200
    tokens = [world.admin_token, a_token]

    with sqlite3.connect(db_path) as host_tables:
        stored = {hashed for (hashed,) in host_tables.execute(
            "SELECT token_hash FROM access_tokens")}
    host_tables.close()
    plugin_rows = repr([tree.rows(f"SELECT * FROM {table}") for table in PLUGIN_TABLES])
    assert not any(token in plugin_rows for token in tokens)
    files = [path for path in db_path.parent.rglob("*") if path.is_file()]
    assert db_path in files

    assert {hashlib.sha256(token.encode()).hexdigest() for token in tokens} <= stored
    for path in files:
        content = path.read_bytes()
        for token in tokens:
            assert token.encode() not in content, path
            assert token.encode("utf-16-le") not in content, path


PLUGIN_TABLES = (
    "lms_outcomes_imports", "lms_outcomes_import_errors", "lms_outcomes_attachments",
    "lms_outcomes_latest_imports", "lms_outcomes_groups", "lms_outcomes_outcomes",
    "lms_outcomes_links", "lms_outcomes_friendly_descriptions",
)


def tampered(token: str) -> list[str]:
    """The token with its last character changed, dropped, or one more character."""
    last = "A" if token[-1] != "A" else "B"
    return [token[:-1] + last, token[:-1], token + "A"]


@pytest.mark.gen_test(timeout=60)
async def test_a_tampered_token_is_an_invalid_access_token(
    api: Api, world: World, tree: Tree, a_token: str
) -> None:
    setup = await prepare(api, world, tree, a_token)
    a = setup.a.place
    paths = [
        a.url(f"/outcome_imports/{setup.a.imports[0]}"),
        a.url("/outcome_imports/latest"),
        a.url(f"/outcome_imports/{setup.a.imports[0]}/created_group_ids"),
        a.url("/root_outcome_group"),
        a.url("/outcome_groups"),
        a.url(f"/outcome_groups/{setup.a.groups[1]}/subgroups"),
        a.url("/outcome_group_links"),
        f"/api/v1/outcomes/{setup.a.outcomes[0]}",
    ]
    imports_before = import_count(tree)
    for token in tampered(a_token):
        responses = [await api.get(path, token=token) for path in paths]
        responses += await creates(Api(api.client, api.root, token=token), a.url(
            "/outcome_imports"))
        responses.append(await api.get(f"{paths[0]}?access_token={token}", token=None))
        for response in responses:
            assert (response.status, response.body) == (401, INVALID_TOKEN)
            assert response.headers["WWW-Authenticate"] == WWW_AUTHENTICATE
    assert import_count(tree) == imports_before
    # The token itself still works.
    assert (await api.get(paths[0], token=a_token)).status == 200


# -- one account's file cannot fail another's import ------------------------------------------


MALFORMED = b'title,vendor_guid,object_type\nti"tle,stray-quote,group\n'


@pytest.mark.gen_test(timeout=120)
async def test_a_malformed_file_of_a_fails_alone(
    api: Api, world: World, tree: Tree, a_token: str
) -> None:
    """While B imports a large file, A uploads a malformed CSV: A's import fails with the
    file-level error ``Invalid CSV File`` (our decision 6), and B's import is not disturbed:
    it succeeds whole. (The parse worker is shared by all root accounts.)"""
    a_api = Api(api.client, api.root, token=a_token, base_path=api.base_path)
    a = a_place(a_token, world)
    b_imports = f"/api/v1/accounts/{world.account_id}/outcome_imports"
    a_imports = a.url("/outcome_imports")
    big = csv_of([G(vendor_guid=f"big{n}", title=f"Big {n}") for n in range(60_000)])
    b_created = await api.post_csv(b_imports, big)
    assert b_created.status == 200, b_created.body
    b_status = f"{b_imports}/{b_created.body['id']}"
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 60
    while (await api.get(b_status)).body["workflow_state"] == "created":
        assert loop.time() < deadline, "B's import never started"
        await asyncio.sleep(0.01)

    a_created = await a_api.post_csv(a_imports, MALFORMED)
    assert a_created.status == 200, a_created.body
    a_done = await a_api.wait_for_import(f"{a_imports}/{a_created.body['id']}", seconds=60)
    b_done = await api.wait_for_import(b_status, seconds=90)

    ended = {name: (done.body["workflow_state"], done.body["processing_errors"])
             for name, done in (("A", a_done), ("B", b_done))}
    assert ended == {"A": ("failed", [[1, "Invalid CSV File"]]), "B": ("succeeded", [])}
    assert tree.rows("SELECT count(*) FROM lms_outcomes_groups WHERE vendor_guid LIKE 'big%' "
                     "AND context_type = 'account' AND context_id = ?", world.account_id) == [
        (60_000,)]
    assert tree.group("stray-quote") is None
