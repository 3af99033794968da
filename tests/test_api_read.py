"""The read side of the outcome tree over real HTTP, as Canvas's outcome group routes: the root
group redirect, groups, subgroups, links, single outcomes, pagination and authorization, for
accounts and for courses. Every answer is also validated against openapi.yaml by :class:`Api`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from lms_outcomes_plugin.host.app import EmbeddedHost
from tests.canvas_bodies import (
    INVALID_TOKEN,
    NOT_FOUND,
    UNAUTHENTICATED,
    UNAUTHORIZED,
    WWW_AUTHENTICATE,
)
from tests.conftest import Api, Response, World
from tests.tree import G, H, O, Tree, csv_of, run_import

GROUP_ABBREV_KEYS = {"id", "title", "vendor_guid", "url", "subgroups_url", "outcomes_url",
                     "can_edit"}
GROUP_FULL_KEYS = GROUP_ABBREV_KEYS | {"import_url", "context_id", "context_type", "description"}
OUTCOME_ABBREV_KEYS = {"id", "vendor_guid", "context_type", "context_id", "title", "display_name",
                       "url", "can_edit", "has_updateable_rubrics"}
OUTCOME_FULL_KEYS = OUTCOME_ABBREV_KEYS | {
    "description", "friendly_description", "points_possible", "mastery_points", "ratings",
    "calculation_method", "assessed"}
LINK_KEYS = {"context_type", "context_id", "url", "outcome_group", "outcome", "can_unlink",
             "assessed"}
DEFAULT_RATINGS = [{"description": "Exceeds Expectations", "points": 5.0},
                   {"description": "Meets Expectations", "points": 3.0},
                   {"description": "Does Not Meet Expectations", "points": 0.0}]

HEADER = [*H, "description", "display_name", "mastery_points", "ratings"]


# --- the context under test, and its tree ------------------------------------------------------


@dataclass(frozen=True)
class Ctx:
    """An account or a course of the world, as the read routes name it."""

    kind: str  # "account" / "course"
    id: int
    name: str

    @property
    def segment(self) -> str:
        return f"{self.kind}s"

    @property
    def canvas_type(self) -> str:
        return self.kind.capitalize()

    @property
    def path(self) -> str:
        return f"{self.segment}/{self.id}"

    def url(self, rest: str = "") -> str:
        """The API path of ``rest`` under this context (no base URL)."""
        return f"/api/v1/{self.path}{rest}"

    def group_url(self, group_id: int | str, rest: str = "") -> str:
        return self.url(f"/outcome_groups/{group_id}{rest}")


@pytest.fixture(params=["account", "course"])
def ctx(request: pytest.FixtureRequest, world: World) -> Ctx:
    if request.param == "account":
        return Ctx("account", world.account_id, "Springfield District")
    return Ctx("course", world.course_id, "Biology 101")


@dataclass
class Built:
    """Ids of the tree :func:`build` imported into one context (``p`` prefixes every guid)."""

    ctx: Ctx
    p: str
    root: int
    groups: dict[str, int]
    outcomes: dict[str, int]


def tree_rows(p: str) -> tuple[list[dict[str, str]], list[list[str]]]:
    """The tree: root -> {Zeta -> [Gone], Alpha -> [Mid]}; Zeta links six outcomes (and one
    that a second import moves to Alpha), Alpha links Beta and the one moved there."""
    rows = [
        G(vendor_guid=f"{p}zeta", title="Zeta", description="Z is for zeta"),
        G(vendor_guid=f"{p}alpha", title="Alpha"),
        G(vendor_guid=f"{p}mid", title="Mid", parent_guids=f"{p}alpha"),
        G(vendor_guid=f"{p}gone", title="Gone", parent_guids=f"{p}zeta"),
        O(vendor_guid=f"{p}dec", title="Beta outcome", description="<p>Beta</p>",
          display_name="Beta!", calculation_method="decaying_average", calculation_int="40",
          mastery_points="2", parent_guids=f"{p}zeta {p}alpha"),
        O(vendor_guid=f"{p}high", title="Alpha outcome", calculation_method="highest",
          parent_guids=f"{p}zeta"),
        O(vendor_guid=f"{p}nm", title="Gamma outcome", calculation_method="n_mastery",
          calculation_int="2", parent_guids=f"{p}zeta"),
        O(vendor_guid=f"{p}lat", title="Delta outcome", calculation_method="latest",
          parent_guids=f"{p}zeta"),
        O(vendor_guid=f"{p}wav", title="Epsilon outcome", calculation_method="weighted_average",
          calculation_int="70", parent_guids=f"{p}zeta"),
        O(vendor_guid=f"{p}avg", title="Zed outcome", calculation_method="average",
          parent_guids=f"{p}zeta"),
        O(vendor_guid=f"{p}moved", title="Aardvark outcome", parent_guids=f"{p}zeta"),
        O(vendor_guid=f"{p}del", title="Doomed outcome", parent_guids=f"{p}alpha"),
    ]
    ratings = [[] for _ in rows]
    ratings[4] = ["3", "Great", "2", "Good", "1", "Poor"]
    ratings[6] = ["4", "Mastered", "0", "Not yet"]
    return rows, ratings


async def build(api: Api, ctx: Ctx, tree: Tree, p: str = "") -> Built:
    """Import the tree of :func:`tree_rows` into ``ctx``, then delete ``gone`` and ``del`` and
    move ``moved`` from Zeta to Alpha (its Zeta link is deleted)."""
    rows, ratings = tree_rows(p)
    first = await run_import(api, ctx.path, csv_of(rows, HEADER, ratings))
    assert (first["workflow_state"], first["processing_errors"]) == ("succeeded", [])
    second = await run_import(api, ctx.path, csv_of([
        rows[0], rows[1],  # parents must be named before the rows that use them
        G(vendor_guid=f"{p}gone", title="Gone", workflow_state="deleted"),
        O(vendor_guid=f"{p}moved", title="Aardvark outcome", parent_guids=f"{p}alpha"),
        O(vendor_guid=f"{p}del", title="Doomed outcome", workflow_state="deleted"),
    ], HEADER))
    assert (second["workflow_state"], second["processing_errors"]) == ("succeeded", [])
    where = (ctx.kind, ctx.id)
    [(root,)] = tree.rows("SELECT id FROM lms_outcomes_groups WHERE is_root AND context_type = ? "
                          "AND context_id = ?", *where)
    groups = {name: tree.group(f"{p}{name}", where)["id"]  # type: ignore[index]
              for name in ("zeta", "alpha", "mid", "gone")}
    outcomes = {name: tree.outcome(f"{p}{name}")["id"]  # type: ignore[index]
                for name in ("dec", "high", "nm", "lat", "wav", "avg", "moved", "del")}
    return Built(ctx, p, root, groups, outcomes)


async def user_with(lms: EmbeddedHost, *grants: tuple[str, str, int]) -> str:
    """A token of a new user holding exactly ``grants`` (permission, context type, id)."""
    user = await lms.db.create_user("Someone")
    for permission, context_type, context_id in grants:
        await lms.db.grant(user, permission, context_type, context_id)
    return await lms.db.create_token(user)


def abbrev_group(api: Api, ctx: Ctx, group_id: int, title: str, guid: str | None,
                 can_edit: bool = True) -> dict[str, Any]:
    url = f"{api.base_path}{ctx.group_url(group_id)}"
    return {"id": group_id, "title": title, "vendor_guid": guid, "url": url,
            "subgroups_url": f"{url}/subgroups", "outcomes_url": f"{url}/outcomes",
            "can_edit": can_edit}


def titles(response: Response) -> list[str]:
    assert response.status == 200, response.body
    return [item["title"] if "title" in item else item["outcome"]["title"]
            for item in response.body]


def links_of(response: Response) -> dict[str, str]:
    """The Link header as {rel: url}, checking its rels come in Canvas's order."""
    entries = response.headers["Link"].split(",<")
    found: dict[str, str] = {}
    for entry in entries:
        url, rel = entry.removeprefix("<").split('>; rel="')
        found[rel.removesuffix('"')] = url
    order = ["current", "next", "prev", "first", "last"]
    assert list(found) == [rel for rel in order if rel in found]
    return found


def page_of(url: str) -> tuple[int, int]:
    query = parse_qs(urlsplit(url).query)
    return int(query["page"][0]), int(query["per_page"][0])


# --- root_outcome_group -------------------------------------------------------------------------


@pytest.mark.gen_test(timeout=30)
async def test_root_outcome_group_creates_the_root_and_redirects_to_it(
    api: Api, ctx: Ctx, tree: Tree
) -> None:
    where = ("SELECT id, title, vendor_guid, parent_id FROM lms_outcomes_groups WHERE is_root "
             "AND context_type = ? AND context_id = ?")
    assert tree.rows(where, ctx.kind, ctx.id) == []

    first = await api.get(ctx.url("/root_outcome_group"))
    again = await api.get(ctx.url("/root_outcome_group"))

    [(root, title, guid, parent)] = tree.rows(where, ctx.kind, ctx.id)
    assert (title, guid, parent) == (ctx.name, None, None)
    assert first.status == again.status == 302
    assert first.headers["Location"] == again.headers["Location"] == (
        f"{api.root}{ctx.group_url(root)}")
    assert first.headers["Location"].startswith("http://localhost:")

    shown = await api.get(first.headers["Location"].removeprefix(api.root))
    assert shown.status == 200
    assert shown.body == {
        **abbrev_group(api, ctx, root, ctx.name, None),
        "import_url": f"{api.base_path}{ctx.group_url(root)}/import",
        "context_id": ctx.id,
        "context_type": ctx.canvas_type,
        "description": None,
    }

    # An import afterwards uses that root, and the redirect still points at it.
    await run_import(api, ctx.path, csv_of([G(vendor_guid="g", title="G")]))
    assert tree.group("g", (ctx.kind, ctx.id))["parent"] == "ROOT"  # type: ignore[index]
    assert tree.rows(where, ctx.kind, ctx.id) == [(root, ctx.name, None, None)]
    after = await api.get(ctx.url("/root_outcome_group"))
    assert after.headers["Location"] == first.headers["Location"]


@pytest.mark.gen_test(timeout=30)
async def test_root_outcome_group_of_an_imported_tree(api: Api, ctx: Ctx, tree: Tree) -> None:
    built = await build(api, ctx, tree)
    redirected = await api.get(ctx.url("/root_outcome_group"))
    assert redirected.status == 302
    assert redirected.headers["Location"] == f"{api.root}{ctx.group_url(built.root)}"
    followed = await api.get(ctx.url("/root_outcome_group"), follow_redirects=True)
    assert followed.status == 200
    assert followed.body["id"] == built.root
    assert followed.body["title"] == ctx.name
    assert "parent_outcome_group" not in followed.body


# --- outcome_groups/:id ------------------------------------------------------------------------


@pytest.mark.gen_test(timeout=30)
async def test_group_show_is_full_style(api: Api, ctx: Ctx, tree: Tree) -> None:
    built = await build(api, ctx, tree)
    root = abbrev_group(api, ctx, built.root, ctx.name, None)
    alpha = abbrev_group(api, ctx, built.groups["alpha"], "Alpha", "alpha")

    zeta = await api.get(ctx.group_url(built.groups["zeta"]))
    mid = await api.get(ctx.group_url(built.groups["mid"]))
    shown_root = await api.get(ctx.group_url(built.root))

    assert zeta.status == 200
    assert zeta.body == {
        **abbrev_group(api, ctx, built.groups["zeta"], "Zeta", "zeta"),
        "import_url": f"{api.base_path}{ctx.group_url(built.groups['zeta'])}/import",
        "parent_outcome_group": root,
        "context_id": ctx.id,
        "context_type": ctx.canvas_type,
        "description": "Z is for zeta",
    }
    assert mid.body["parent_outcome_group"] == alpha
    assert set(mid.body["parent_outcome_group"]) == GROUP_ABBREV_KEYS
    assert set(mid.body) == GROUP_FULL_KEYS | {"parent_outcome_group"}
    # An imported group without a description has "", the root has null and no parent.
    alpha_full = await api.get(ctx.group_url(built.groups["alpha"]))
    assert alpha_full.body["description"] == ""
    assert set(shown_root.body) == GROUP_FULL_KEYS
    assert shown_root.body["description"] is None
    assert shown_root.body["title"] == ctx.name


@pytest.mark.gen_test(timeout=60)
async def test_group_show_404s(api: Api, world: World, tree: Tree) -> None:
    account = Ctx("account", world.account_id, "Springfield District")
    course = Ctx("course", world.course_id, "Biology 101")
    sub = Ctx("account", world.sub_account_id, "Springfield Elementary")
    in_account = await build(api, account, tree)
    in_course = await build(api, course, tree, p="c-")
    await run_import(api, sub.path, csv_of([G(vendor_guid="s", title="S")]))
    sub_group = tree.group("s", ("account", sub.id))["id"]  # type: ignore[index]
    [(global_group,)] = await tree.write(  # a global root group (no context)
        "INSERT INTO lms_outcomes_groups (title, is_root, created_at, updated_at) "
        "VALUES ('ROOT', TRUE, 'now', 'now') RETURNING id")

    cases = [
        account.group_url(in_course.groups["zeta"]),  # a course's group under the account
        course.group_url(in_account.groups["zeta"]),  # an account's group under the course
        course.group_url(in_account.root),
        account.group_url(sub_group),  # a sub-account's group under its parent account
        account.group_url(global_group),  # a global group under an account or a course
        course.group_url(global_group),
        account.group_url(in_account.groups["gone"]),  # deleted
        course.group_url(in_course.groups["gone"]),
        account.group_url(999999),  # missing
        course.group_url(999999),
        account.group_url("abc"),  # not a number
        course.group_url("1x"),
        account.group_url("-1"),
    ]
    for path in cases:
        for rest in ("", "/subgroups", "/outcomes"):
            response = await api.get(path + rest)
            assert (response.status, response.body) == (404, NOT_FOUND), path + rest

    assert (await api.get(sub.group_url(sub_group))).status == 200


# --- outcome_groups/:id/subgroups --------------------------------------------------------------


@pytest.mark.gen_test(timeout=30)
async def test_subgroups_are_abbreviated_by_title_without_deleted_ones(
    api: Api, ctx: Ctx, tree: Tree
) -> None:
    built = await build(api, ctx, tree)

    of_root = await api.get(ctx.group_url(built.root, "/subgroups"))
    of_alpha = await api.get(ctx.group_url(built.groups["alpha"], "/subgroups"))
    of_zeta = await api.get(ctx.group_url(built.groups["zeta"], "/subgroups"))
    of_mid = await api.get(ctx.group_url(built.groups["mid"], "/subgroups"))

    # Zeta was created before Alpha: the order is by title, not by id.
    assert built.groups["zeta"] < built.groups["alpha"]
    assert of_root.status == 200
    assert of_root.body == [
        abbrev_group(api, ctx, built.groups["alpha"], "Alpha", "alpha"),
        abbrev_group(api, ctx, built.groups["zeta"], "Zeta", "zeta"),
    ]
    assert all(set(group) == GROUP_ABBREV_KEYS for group in of_root.body)
    assert of_alpha.body == [abbrev_group(api, ctx, built.groups["mid"], "Mid", "mid")]
    assert of_zeta.body == []  # "Gone" is deleted
    assert of_mid.body == []
    for response in (of_root, of_alpha, of_zeta, of_mid):
        assert response.status == 200
        assert set(links_of(response)) == {"current", "first", "last"}


@pytest.mark.gen_test(timeout=30)
async def test_subgroups_and_links_sort_by_title_case_insensitively(
    api: Api, world: World, tree: Tree
) -> None:
    """Canvas orders by a collation key of the title (``order_by_title``,
    ``order_by_outcome_title``), so "beta" sorts between "Alpha" and "Gamma"."""
    ctx = Ctx("account", world.account_id, "Springfield District")
    await run_import(api, ctx.path, csv_of([
        G(vendor_guid="g1", title="Gamma"), G(vendor_guid="g2", title="beta"),
        G(vendor_guid="g3", title="Alpha"),
        O(vendor_guid="o1", title="gamma outcome"), O(vendor_guid="o2", title="Beta outcome"),
        O(vendor_guid="o3", title="alpha outcome"),
    ]))
    [(root,)] = tree.rows("SELECT id FROM lms_outcomes_groups WHERE is_root AND "
                          "context_type = 'account' AND context_id = ?", ctx.id)

    subgroups = await api.get(ctx.group_url(root, "/subgroups"))
    outcomes = await api.get(ctx.group_url(root, "/outcomes"))

    assert (titles(subgroups), titles(outcomes)) == (
        ["Alpha", "beta", "Gamma"], ["alpha outcome", "Beta outcome", "gamma outcome"])


# --- outcome_groups/:id/outcomes ---------------------------------------------------------------


def expected_outcome(api: Api, built: Built, name: str, *, full: bool,
                     can_edit: bool = True) -> dict[str, Any]:
    """The JSON of one outcome of :func:`tree_rows`."""
    ctx, p = built.ctx, built.p
    data: dict[str, tuple[Any, ...]] = {
        # title, description, display_name, method, int, mastery, possible, ratings
        "dec": ("Beta outcome", "<p>Beta</p>", "Beta!", "decaying_average", 40, 2.0, 3.0,
                [{"description": "Great", "points": 3.0}, {"description": "Good", "points": 2.0},
                 {"description": "Poor", "points": 1.0}]),
        "high": ("Alpha outcome", None, None, "highest", None, 3.0, 5.0, DEFAULT_RATINGS),
        "nm": ("Gamma outcome", None, None, "n_mastery", 2, 4.0, 4.0,
               [{"description": "Mastered", "points": 4.0},
                {"description": "Not yet", "points": 0.0}]),
        "lat": ("Delta outcome", None, None, "latest", None, 3.0, 5.0, DEFAULT_RATINGS),
        "wav": ("Epsilon outcome", None, None, "weighted_average", 70, 3.0, 5.0, DEFAULT_RATINGS),
        "avg": ("Zed outcome", None, None, "average", None, 3.0, 5.0, DEFAULT_RATINGS),
        "moved": ("Aardvark outcome", None, None, "highest", None, 3.0, 5.0, DEFAULT_RATINGS),
    }
    title, description, display_name, method, calc_int, mastery, possible, ratings = data[name]
    outcome_id = built.outcomes[name]
    body: dict[str, Any] = {
        "id": outcome_id,
        "vendor_guid": f"{p}{name}",
        "context_type": ctx.canvas_type,
        "context_id": ctx.id,
        "title": title,
        "display_name": display_name,
        "url": f"{api.base_path}/api/v1/outcomes/{outcome_id}",
        "can_edit": can_edit,
        "has_updateable_rubrics": False,
    }
    if not full:
        return body
    body.update(description=description, friendly_description=None, points_possible=possible,
                mastery_points=mastery, ratings=ratings, calculation_method=method,
                assessed=False)
    if calc_int is not None:
        body["calculation_int"] = calc_int
    return body


@pytest.mark.gen_test(timeout=30)
async def test_group_outcomes_are_links_by_outcome_title(
    api: Api, ctx: Ctx, tree: Tree
) -> None:
    built = await build(api, ctx, tree)
    zeta_id = built.groups["zeta"]
    zeta = abbrev_group(api, ctx, zeta_id, "Zeta", "zeta")

    response = await api.get(ctx.group_url(zeta_id, "/outcomes"))

    assert response.status == 200
    # "Aardvark outcome" moved to Alpha: its Zeta link is deleted and left out.
    assert titles(response) == ["Alpha outcome", "Beta outcome", "Delta outcome",
                                "Epsilon outcome", "Gamma outcome", "Zed outcome"]
    names = ["high", "dec", "lat", "wav", "nm", "avg"]
    for link, name in zip(response.body, names, strict=True):
        assert set(link) == LINK_KEYS
        assert set(link["outcome"]) == OUTCOME_ABBREV_KEYS
        assert set(link["outcome_group"]) == GROUP_ABBREV_KEYS
        assert link["outcome"] == expected_outcome(api, built, name, full=False)
        assert {key: value for key, value in link.items() if key != "outcome"} == {
            "context_type": ctx.canvas_type,
            "context_id": ctx.id,
            "url": f"{api.base_path}{ctx.group_url(zeta_id)}/outcomes/{built.outcomes[name]}",
            "outcome_group": zeta,
            "can_unlink": True,
            "assessed": False,
        }

    alpha = await api.get(ctx.group_url(built.groups["alpha"], "/outcomes"))
    assert titles(alpha) == ["Aardvark outcome", "Beta outcome"]  # "Doomed" is deleted
    assert (await api.get(ctx.group_url(built.root, "/outcomes"))).body == []


@pytest.mark.gen_test(timeout=30)
async def test_group_outcomes_in_full_style(api: Api, ctx: Ctx, tree: Tree) -> None:
    built = await build(api, ctx, tree)
    path = ctx.group_url(built.groups["zeta"], "/outcomes")

    full = await api.get(f"{path}?outcome_style=full")
    # outcome_group_style is not passed through on this route: the group stays abbreviated.
    both = await api.get(f"{path}?outcome_style=full&outcome_group_style=full")
    abbrev = await api.get(f"{path}?outcome_style=abbrev")

    names = ["high", "dec", "lat", "wav", "nm", "avg"]
    assert full.status == 200
    for link, name in zip(full.body, names, strict=True):
        expected = expected_outcome(api, built, name, full=True)
        assert link["outcome"] == expected
    with_int = {link["outcome"]["calculation_method"] for link in full.body
                if "calculation_int" in link["outcome"]}
    assert with_int == {"decaying_average", "n_mastery", "weighted_average"}
    assert both.body == full.body
    assert all(set(link["outcome_group"]) == GROUP_ABBREV_KEYS for link in both.body)
    assert all(set(link["outcome"]) == OUTCOME_ABBREV_KEYS for link in abbrev.body)


class TestNewDecayingAverage:
    @pytest.fixture
    def plugin_settings(self, plugin_settings: dict[str, Any]) -> dict[str, Any]:
        return {**plugin_settings, "new_decaying_average": True}

    @pytest.mark.gen_test(timeout=30)
    async def test_standard_decaying_average_has_a_calculation_int(
        self, api: Api, world: World, tree: Tree
    ) -> None:
        ctx = Ctx("account", world.account_id, "Springfield District")
        await run_import(api, ctx.path, csv_of([
            O(vendor_guid="s", title="S", calculation_method="standard_decaying_average",
              calculation_int="75"),
            O(vendor_guid="h", title="T", calculation_method="highest"),
        ]))
        outcome = await api.get(f"/api/v1/outcomes/{tree.outcome('s')['id']}")  # type: ignore[index]
        highest = await api.get(f"/api/v1/outcomes/{tree.outcome('h')['id']}")  # type: ignore[index]

        assert outcome.status == 200
        assert (outcome.body["calculation_method"], outcome.body["calculation_int"]) == (
            "standard_decaying_average", 75)
        assert highest.body["calculation_method"] == "highest"
        assert "calculation_int" not in highest.body


# --- outcome_group_links -------------------------------------------------------------------------


@pytest.mark.gen_test(timeout=30)
async def test_outcome_group_links_by_link_id(api: Api, ctx: Ctx, tree: Tree) -> None:
    built = await build(api, ctx, tree)
    active = tree.rows(
        "SELECT id, group_id, outcome_id FROM lms_outcomes_links WHERE context_type = ? AND "
        "context_id = ? AND workflow_state = 'active' ORDER BY id", ctx.kind, ctx.id)
    deleted = tree.rows(
        "SELECT group_id, outcome_id FROM lms_outcomes_links WHERE context_type = ? AND "
        "context_id = ? AND workflow_state = 'deleted'", ctx.kind, ctx.id)
    group_names = {group_id: name for name, group_id in built.groups.items()}
    outcome_names = {outcome_id: name for name, outcome_id in built.outcomes.items()}
    assert sorted((group_names[g], outcome_names[o]) for g, o in deleted) == [
        ("alpha", "del"), ("zeta", "moved")]

    plain = await api.get(ctx.url("/outcome_group_links?per_page=100"))
    full = await api.get(ctx.url(
        "/outcome_group_links?per_page=100&outcome_style=full&outcome_group_style=full"))
    only_groups = await api.get(ctx.url(
        "/outcome_group_links?per_page=100&outcome_group_style=full"))

    assert plain.status == full.status == only_groups.status == 200
    assert [(link["outcome_group"]["id"], link["outcome"]["id"]) for link in plain.body] == [
        (group_id, outcome_id) for _, group_id, outcome_id in active]
    assert len(plain.body) == 8
    for link in plain.body:
        assert set(link) == LINK_KEYS
        assert set(link["outcome"]) == OUTCOME_ABBREV_KEYS
        assert set(link["outcome_group"]) == GROUP_ABBREV_KEYS
        assert (link["context_type"], link["context_id"]) == (ctx.canvas_type, ctx.id)
        assert link["url"] == (f"{ctx.group_url(link['outcome_group']['id'])}/outcomes/"
                               f"{link['outcome']['id']}")
        assert (link["can_unlink"], link["assessed"]) == (True, False)
    for link in full.body:
        name = outcome_names[link["outcome"]["id"]]
        assert link["outcome"] == expected_outcome(api, built, name, full=True)
        assert set(link["outcome_group"]) >= GROUP_FULL_KEYS
    for link in only_groups.body:
        assert set(link["outcome"]) == OUTCOME_ABBREV_KEYS
        assert set(link["outcome_group"]) >= GROUP_FULL_KEYS
    # A full-style group is the show route's, parent_outcome_group included.
    groups = [(await api.get(ctx.group_url(link["outcome_group"]["id"]))).body
              for link in full.body]
    assert [link["outcome_group"] for link in full.body] == groups


@pytest.mark.gen_test(timeout=60)
async def test_a_course_links_its_account_outcomes(
    api: Api, world: World, tree: Tree, lms: EmbeddedHost
) -> None:
    """A course linking an outcome of its account: the link is the course's, the outcome keeps
    its account context, and can_edit follows manage_outcomes on each object's own context."""
    account = Ctx("account", world.account_id, "Springfield District")
    course = Ctx("course", world.course_id, "Biology 101")
    await run_import(api, account.path, csv_of([O(vendor_guid="shared", title="Shared")]))
    await run_import(api, course.path, csv_of([
        G(vendor_guid="cg", title="Course group"),
        O(vendor_guid="shared", title="Shared", parent_guids="cg"),
        O(vendor_guid="own", title="Own", parent_guids="cg"),
    ]))
    group_id = tree.group("cg", ("course", course.id))["id"]  # type: ignore[index]
    teacher = await user_with(lms, ("read_outcomes", "course", course.id),
                              ("manage_outcomes", "course", course.id))

    for token, manages_account in ((world.admin_token, True), (teacher, False)):
        links = await api.get(course.group_url(group_id, "/outcomes"), token=token)
        context_links = await api.get(course.url("/outcome_group_links"), token=token)
        assert links.status == 200
        own, shared = links.body  # by outcome title
        assert context_links.body == [shared, own]  # by link id
        assert (shared["outcome"]["title"], own["outcome"]["title"]) == ("Shared", "Own")
        assert (shared["context_type"], shared["context_id"]) == ("Course", course.id)
        assert (shared["outcome"]["context_type"], shared["outcome"]["context_id"]) == (
            "Account", account.id)
        assert (own["outcome"]["context_type"], own["outcome"]["context_id"]) == (
            "Course", course.id)
        assert shared["outcome"]["can_edit"] is manages_account
        assert own["outcome"]["can_edit"] is True
        assert shared["can_unlink"] is own["can_unlink"] is True
        assert shared["outcome_group"]["can_edit"] is True


# --- outcome_groups (index) ---------------------------------------------------------------------


@pytest.mark.gen_test(timeout=30)
async def test_outcome_groups_index_is_full_style_by_id(
    api: Api, ctx: Ctx, tree: Tree
) -> None:
    built = await build(api, ctx, tree)
    ids = [built.root, built.groups["zeta"], built.groups["alpha"], built.groups["mid"]]

    everything = await api.get(ctx.url("/outcome_groups"))
    first = await api.get(ctx.url("/outcome_groups?per_page=3"))
    second = await api.get(ctx.url("/outcome_groups?per_page=3&page=2"))

    assert everything.status == 200
    assert [group["id"] for group in everything.body] == ids  # "Gone" is deleted
    assert [group["id"] for group in first.body + second.body] == ids
    assert len(first.body) == 3
    assert page_of(links_of(first)["next"]) == (2, 3)
    assert page_of(links_of(second)["last"]) == (2, 3)
    assert "parent_outcome_group" not in everything.body[0]
    assert all(set(group) >= GROUP_FULL_KEYS for group in everything.body)
    # Full style, as the show route: a group that is not a root has its parent.
    shown = [(await api.get(ctx.group_url(group_id))).body for group_id in ids]
    assert everything.body == shown


# --- GET /api/v1/outcomes/:id -------------------------------------------------------------------


@pytest.mark.gen_test(timeout=30)
async def test_outcome_show(api: Api, ctx: Ctx, tree: Tree, lms: EmbeddedHost) -> None:
    built = await build(api, ctx, tree)

    for name in ("dec", "high", "nm", "lat", "wav", "avg", "moved"):
        response = await api.get(f"/api/v1/outcomes/{built.outcomes[name]}")
        assert response.status == 200
        expected = expected_outcome(api, built, name, full=True)
        assert response.body == expected

    for missing in (built.outcomes["del"], 999999, "abc", "-1"):
        response = await api.get(f"/api/v1/outcomes/{missing}")
        assert (response.status, response.body) == (404, NOT_FOUND), missing

    outcome = f"/api/v1/outcomes/{built.outcomes['dec']}"
    stranger = await user_with(lms)
    elsewhere = await user_with(lms, ("import_outcomes", ctx.kind, ctx.id))
    reader = await user_with(lms, ("read_outcomes", ctx.kind, ctx.id))
    manager = await user_with(lms, ("manage_outcomes", ctx.kind, ctx.id))
    for token in (stranger, elsewhere):
        refused = await api.get(outcome, token=token)
        assert (refused.status, refused.body) == (401, UNAUTHORIZED)
        assert "WWW-Authenticate" not in refused.headers
    read = await api.get(outcome, token=reader)
    managed = await api.get(outcome, token=manager)
    assert read.status == managed.status == 200
    assert read.body == {**managed.body, "can_edit": False}
    assert managed.body["can_edit"] is True
    assert (await api.get(outcome, token=None)).status == 401


@pytest.mark.gen_test(timeout=30)
async def test_outcome_of_one_context_is_not_readable_with_rights_on_another(
    api: Api, world: World, tree: Tree, lms: EmbeddedHost
) -> None:
    course = Ctx("course", world.course_id, "Biology 101")
    built = await build(api, course, tree)
    sub_reader = await user_with(lms, ("read_outcomes", "account", world.sub_account_id))
    course_reader = await user_with(lms, ("read_outcomes", "course", course.id))
    outcome = f"/api/v1/outcomes/{built.outcomes['dec']}"

    refused = await api.get(outcome, token=sub_reader)
    assert (refused.status, refused.body) == (401, UNAUTHORIZED)
    assert (await api.get(outcome, token=course_reader)).status == 200


@pytest.mark.gen_test(timeout=30)
async def test_a_global_outcome_is_readable_by_anyone_signed_in(
    api: Api, world: World, tree: Tree, lms: EmbeddedHost
) -> None:
    await tree.write(
        "INSERT INTO lms_outcomes_outcomes (vendor_guid, title, calculation_method, "
        "calculation_int, mastery_points, points_possible, ratings, created_at, updated_at) "
        "VALUES ('global', 'Global', 'decaying_average', 65, 3, 5, "
        "'[[5.0, \"Exceeds Expectations\"], [3.0, \"Meets Expectations\"], "
        "[0.0, \"Does Not Meet Expectations\"]]', 'now', 'now')")
    outcome_id = tree.outcome("global")["id"]  # type: ignore[index]
    stranger = await user_with(lms)

    response = await api.get(f"/api/v1/outcomes/{outcome_id}", token=stranger)
    anonymous = await api.get(f"/api/v1/outcomes/{outcome_id}", token=None)

    assert response.status == 200
    assert response.body == {
        "id": outcome_id, "vendor_guid": "global", "context_type": None, "context_id": None,
        "title": "Global", "display_name": None, "url": f"/api/v1/outcomes/{outcome_id}",
        "can_edit": False, "has_updateable_rubrics": False, "description": None,
        "friendly_description": None, "points_possible": 5.0, "mastery_points": 3.0,
        "ratings": DEFAULT_RATINGS, "calculation_method": "decaying_average",
        "calculation_int": 65, "assessed": False,
    }
    assert (anonymous.status, anonymous.body) == (401, UNAUTHENTICATED)


# --- pagination ---------------------------------------------------------------------------------


async def many_outcomes(api: Api, ctx: Ctx, tree: Tree, count: int = 12) -> int:
    """``count`` outcomes linked in the root group, titled ``Outcome 01``...; the root id."""
    await run_import(api, ctx.path, csv_of(
        [O(vendor_guid=f"m{n:02}", title=f"Outcome {n:02}") for n in range(1, count + 1)]))
    [(root,)] = tree.rows("SELECT id FROM lms_outcomes_groups WHERE is_root AND context_type = ? "
                          "AND context_id = ?", ctx.kind, ctx.id)
    return root


@pytest.mark.gen_test(timeout=30)
async def test_per_page(api: Api, ctx: Ctx, tree: Tree) -> None:
    root = await many_outcomes(api, ctx, tree)
    path = ctx.group_url(root, "/outcomes")
    everything = [f"Outcome {n:02}" for n in range(1, 13)]

    default = await api.get(path)
    assert titles(default) == everything[:10]
    assert page_of(links_of(default)["current"]) == (1, 10)
    assert page_of(links_of(default)["last"]) == (2, 10)
    capped = await api.get(f"{path}?per_page=1000")
    assert titles(capped) == everything
    assert page_of(links_of(capped)["current"]) == (1, 100)
    exactly = await api.get(f"{path}?per_page=100")
    assert titles(exactly) == everything
    for small in ("0", "-5", "1"):
        response = await api.get(f"{path}?per_page={small}")
        assert titles(response) == everything[:1], small
        assert page_of(links_of(response)["last"]) == (12, 1)
    ruby = await api.get(f"{path}?per_page=3&page=4")
    assert titles(ruby) == everything[9:12]
    assert "next" not in links_of(ruby)


@pytest.mark.gen_test(timeout=30)
async def test_per_page_that_is_not_a_number_is_one(api: Api, world: World, tree: Tree) -> None:
    """Canvas's ``per_page.to_i.clamp(1, 100)``; Ruby's to_i makes garbage 0, so 1."""
    ctx = Ctx("account", world.account_id, "Springfield District")
    root = await many_outcomes(api, ctx, tree, count=3)
    response = await api.get(ctx.group_url(root, "/outcomes?per_page=lots"))
    assert titles(response) == ["Outcome 01"]
    assert page_of(links_of(response)["current"]) == (1, 1)


@pytest.mark.gen_test(timeout=30)
async def test_pages_and_their_links(api: Api, ctx: Ctx, tree: Tree) -> None:
    root = await many_outcomes(api, ctx, tree, count=5)
    path = ctx.group_url(root, "/outcomes")

    first = await api.get(f"{path}?per_page=2")
    middle = await api.get(f"{path}?per_page=2&page=2")
    last = await api.get(f"{path}?per_page=2&page=3")
    past = await api.get(f"{path}?per_page=2&page=4")
    single = await api.get(f"{path}?per_page=5")

    assert titles(first) == ["Outcome 01", "Outcome 02"]
    assert titles(middle) == ["Outcome 03", "Outcome 04"]
    assert titles(last) == ["Outcome 05"]
    assert (past.status, past.body) == (200, [])
    assert {rel: page_of(url) for rel, url in links_of(first).items()} == {
        "current": (1, 2), "next": (2, 2), "first": (1, 2), "last": (3, 2)}
    assert {rel: page_of(url) for rel, url in links_of(middle).items()} == {
        "current": (2, 2), "next": (3, 2), "prev": (1, 2), "first": (1, 2), "last": (3, 2)}
    assert {rel: page_of(url) for rel, url in links_of(last).items()} == {
        "current": (3, 2), "prev": (2, 2), "first": (1, 2), "last": (3, 2)}
    assert list(links_of(single)) == ["current", "first", "last"]
    for url in links_of(middle).values():
        assert url.startswith(f"{api.root}{path}?")

    # canvasapi's way: follow "next" from the first page with no other parameters.
    seen, response = [], first
    while True:
        seen += titles(response)
        following = links_of(response).get("next")
        if following is None:
            break
        response = await api.get(following.removeprefix(api.root))
    assert seen == [f"Outcome {n:02}" for n in range(1, 6)]

    for bad in ("0", "-1", "abc"):
        response = await api.get(f"{path}?page={bad}")
        assert (response.status, response.body) == (404, NOT_FOUND), bad


@pytest.mark.gen_test(timeout=30)
async def test_the_link_header_to_the_letter(api: Api, world: World, tree: Tree) -> None:
    """Canvas's Link header: rels current,next,prev,first,last joined by ",", absolute URLs
    keeping the other query parameters sorted and URL-encoded, without access_token."""
    ctx = Ctx("account", world.account_id, "Springfield District")
    root = await many_outcomes(api, ctx, tree, count=5)
    path = ctx.group_url(root, "/outcomes")

    response = await api.get(
        f"{path}?outcome_style=full&per_page=2&access_token={world.admin_token}&page=2"
        "&zz=last&aa=a%20b", token=None)

    assert response.status == 200
    base = f"{api.root}{path}?aa=a+b&outcome_style=full&zz=last&"
    assert response.headers["Link"] == (
        f'<{base}page=2&per_page=2>; rel="current",'
        f'<{base}page=3&per_page=2>; rel="next",'
        f'<{base}page=1&per_page=2>; rel="prev",'
        f'<{base}page=1&per_page=2>; rel="first",'
        f'<{base}page=3&per_page=2>; rel="last"'
    )
    assert world.admin_token not in response.headers["Link"]


@pytest.mark.gen_test(timeout=30)
async def test_every_list_route_paginates(api: Api, ctx: Ctx, tree: Tree) -> None:
    built = await build(api, ctx, tree)
    lists = {
        ctx.url("/outcome_groups"): 4,
        ctx.url("/outcome_group_links"): 8,
        ctx.group_url(built.groups["zeta"], "/outcomes"): 6,
        ctx.group_url(built.root, "/subgroups"): 2,
    }
    for path, total in lists.items():
        whole = await api.get(path)
        assert len(whole.body) == total, path
        seen = []
        for page in range(1, total + 1):
            response = await api.get(f"{path}?per_page=1&page={page}")
            assert response.status == 200
            assert page_of(links_of(response)["last"]) == (total, 1)
            seen += response.body
        assert seen == whole.body, path
        assert (await api.get(f"{path}?per_page=1&page={total + 1}")).body == []


# --- authentication and authorization ----------------------------------------------------------


def read_routes(built: Built) -> list[str]:
    ctx = built.ctx
    zeta = built.groups["zeta"]
    return [
        ctx.url("/root_outcome_group"),
        ctx.url("/outcome_groups"),
        ctx.group_url(zeta),
        ctx.group_url(zeta, "/subgroups"),
        ctx.group_url(zeta, "/outcomes"),
        ctx.url("/outcome_group_links"),
        ctx.url("/outcome_export"),  # the export (tests/test_export.py) asks the same
    ]


@pytest.mark.gen_test(timeout=30)
async def test_authentication_and_authorization(
    api: Api, ctx: Ctx, tree: Tree, lms: EmbeddedHost, world: World
) -> None:
    built = await build(api, ctx, tree)
    importer = await user_with(lms, ("import_outcomes", ctx.kind, ctx.id))
    manager = await user_with(lms, ("manage_outcomes", ctx.kind, ctx.id))
    reader_elsewhere = await user_with(lms, ("read_outcomes", "account", world.sub_account_id))
    reader = await user_with(lms, ("read_outcomes", ctx.kind, ctx.id))

    for path in [*read_routes(built), f"/api/v1/outcomes/{built.outcomes['dec']}"]:
        missing = await api.get(path, token=None)
        assert (missing.status, missing.body) == (401, UNAUTHENTICATED), path
        assert missing.headers["WWW-Authenticate"] == WWW_AUTHENTICATE
        bad = await api.get(path, token="not-a-token")
        assert (bad.status, bad.body) == (401, INVALID_TOKEN), path
        assert bad.headers["WWW-Authenticate"] == WWW_AUTHENTICATE
        by_query = await api.get(f"{path}?access_token={reader}", token=None)
        assert by_query.status in (200, 302), path
        for token in (importer, reader_elsewhere):
            refused = await api.get(path, token=token)
            assert (refused.status, refused.body) == (401, UNAUTHORIZED), path
            assert "WWW-Authenticate" not in refused.headers
    for path in read_routes(built):
        # Canvas's tree routes ask for read_outcomes only.
        assert (await api.get(path, token=manager)).status == 401, path
        assert (await api.get(path, token=reader)).status in (200, 302), path


@pytest.mark.gen_test(timeout=30)
async def test_unknown_contexts_are_404_after_authentication(api: Api) -> None:
    for context in ("accounts/9999", "courses/9999", "accounts/abc", "courses/0"):
        for rest in ("/root_outcome_group", "/outcome_groups", "/outcome_groups/1",
                     "/outcome_groups/1/subgroups", "/outcome_groups/1/outcomes",
                     "/outcome_group_links", "/outcome_export"):
            path = f"/api/v1/{context}{rest}"
            response = await api.get(path)
            assert (response.status, response.body) == (404, NOT_FOUND), path
            anonymous = await api.get(path, token=None)
            assert (anonymous.status, anonymous.body) == (401, UNAUTHENTICATED), path


@pytest.mark.gen_test(timeout=30)
async def test_can_edit_and_can_unlink_follow_manage_outcomes(
    api: Api, ctx: Ctx, tree: Tree, lms: EmbeddedHost
) -> None:
    built = await build(api, ctx, tree)
    reader = await user_with(lms, ("read_outcomes", ctx.kind, ctx.id))
    zeta = built.groups["zeta"]
    outcome = f"/api/v1/outcomes/{built.outcomes['dec']}"

    for token, allowed in ((api.token, True), (reader, False)):
        group = await api.get(ctx.group_url(zeta), token=token)
        subgroups = await api.get(ctx.group_url(built.root, "/subgroups"), token=token)
        index = await api.get(ctx.url("/outcome_groups"), token=token)
        links = await api.get(ctx.group_url(zeta, "/outcomes?outcome_style=full"), token=token)
        context_links = await api.get(
            ctx.url("/outcome_group_links?outcome_group_style=full"), token=token)
        shown = await api.get(outcome, token=token)

        assert group.body["can_edit"] is allowed
        assert group.body["parent_outcome_group"]["can_edit"] is allowed
        assert {g["can_edit"] for g in subgroups.body + index.body} == {allowed}
        for link in links.body + context_links.body:
            assert link["can_unlink"] is allowed
            assert link["outcome"]["can_edit"] is allowed
            assert link["outcome_group"]["can_edit"] is allowed
        assert shown.body["can_edit"] is allowed


# --- under a non-root base URL -------------------------------------------------------------------


class TestUnderABaseUrl:
    @pytest.fixture
    def host_base_url(self) -> str:
        return "/lms"

    @pytest.mark.gen_test(timeout=30)
    async def test_urls_carry_the_base_url(self, api: Api, ctx: Ctx, tree: Tree) -> None:
        assert api.root.endswith("/lms")
        built = await build(api, ctx, tree)
        zeta = built.groups["zeta"]
        group_url = f"/lms{ctx.group_url(zeta)}"

        redirected = await api.get(ctx.url("/root_outcome_group"))
        group = await api.get(ctx.group_url(zeta))
        subgroups = await api.get(ctx.group_url(built.root, "/subgroups"))
        index = await api.get(ctx.url("/outcome_groups"))
        links = await api.get(ctx.group_url(zeta, "/outcomes?per_page=2"))
        context_links = await api.get(ctx.url("/outcome_group_links?outcome_group_style=full"))
        outcome = await api.get(f"/api/v1/outcomes/{built.outcomes['dec']}")

        assert redirected.status == 302
        assert redirected.headers["Location"] == f"{api.root}{ctx.group_url(built.root)}"
        assert "/lms/api/v1/" in redirected.headers["Location"]
        followed = await api.get(ctx.url("/root_outcome_group"), follow_redirects=True)
        assert followed.body["id"] == built.root
        assert group.body == {
            "id": zeta, "title": "Zeta", "vendor_guid": "zeta", "url": group_url,
            "subgroups_url": f"{group_url}/subgroups", "outcomes_url": f"{group_url}/outcomes",
            "can_edit": True, "import_url": f"{group_url}/import",
            "parent_outcome_group": abbrev_group(api, ctx, built.root, ctx.name, None),
            "context_id": ctx.id, "context_type": ctx.canvas_type,
            "description": "Z is for zeta",
        }
        assert group.body["parent_outcome_group"]["url"].startswith("/lms/api/v1/")
        for item in subgroups.body + index.body:
            for key in ("url", "subgroups_url", "outcomes_url"):
                assert item[key].startswith(f"/lms/api/v1/{ctx.path}/outcome_groups/"), item
        for link in links.body + context_links.body:
            assert link["url"].startswith(f"/lms/api/v1/{ctx.path}/outcome_groups/")
            assert link["outcome"]["url"] == f"/lms/api/v1/outcomes/{link['outcome']['id']}"
            assert link["outcome_group"]["url"].startswith(f"/lms/api/v1/{ctx.path}/")
        for link in context_links.body:
            assert link["outcome_group"]["import_url"].startswith("/lms/api/v1/")
        assert outcome.body["url"] == f"/lms/api/v1/outcomes/{built.outcomes['dec']}"
        for response in (subgroups, index, links, context_links):
            for url in links_of(response).values():
                assert url.startswith(f"{api.root}/api/v1/{ctx.path}/"), url
        following = links_of(links)["next"]
        assert following == f"{api.root}{ctx.group_url(zeta, '/outcomes')}?page=2&per_page=2"
        assert titles(await api.get(following.removeprefix(api.root))) == [
            "Delta outcome", "Epsilon outcome"]


@pytest.mark.gen_test(timeout=30)
async def test_full_style_links_carry_the_contexts_friendly_description(
    api: Api, ctx: Ctx, tree: Tree
) -> None:
    header = [*H, "friendly_description"]
    await run_import(api, ctx.path, csv_of([O(vendor_guid="kind", friendly_description="Hi")],
                                           header))
    root = (await api.get(ctx.url("/root_outcome_group"), follow_redirects=True)).body

    full = await api.get(ctx.group_url(root["id"], "/outcomes?outcome_style=full"))
    every = await api.get(ctx.url("/outcome_group_links?outcome_style=full"))
    abbreviated = await api.get(ctx.group_url(root["id"], "/outcomes"))

    assert [link["outcome"]["friendly_description"] for link in full.body] == ["Hi"]
    assert [link["outcome"]["friendly_description"] for link in every.body] == ["Hi"]
    assert "friendly_description" not in abbreviated.body[0]["outcome"]


@pytest.mark.gen_test(timeout=30)
async def test_hostile_ids_and_pages_are_404_or_pages_never_500(
    api: Api, world: World, tree: Tree
) -> None:
    await run_import(api, f"accounts/{world.account_id}", csv_of([G(vendor_guid="g")]))
    root = (await api.get(f"/api/v1/accounts/{world.account_id}/root_outcome_group",
                          follow_redirects=True)).body["id"]
    for bad in ("²", "٣", str(2**63), "9" * 5000):
        for path in (f"/api/v1/accounts/{world.account_id}/outcome_groups/{bad}",
                     f"/api/v1/outcomes/{bad}",
                     f"/api/v1/accounts/{world.account_id}/outcome_imports/{bad}",
                     f"/api/v1/accounts/{bad}/outcome_group_links"):
            assert (await api.get(path)).status == 404, (path[:80])
    subgroups = f"/api/v1/accounts/{world.account_id}/outcome_groups/{root}/subgroups"
    far = await api.get(f"{subgroups}?page={'9' * 5000}")
    assert (far.status, far.body) == (200, [])
    assert (await api.get(f"{subgroups}?page=²")).status == 404
    many = await api.get(f"{subgroups}?per_page={'9' * 5000}")
    assert many.status == 200
    assert "per_page=100" in many.headers["Link"]
