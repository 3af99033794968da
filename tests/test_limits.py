"""Limits (issue 8): very long cells, a tree 1,000 levels deep and one 10,000 groups wide, a
file of 100,000 bad rows, and a body trickled slowly, over real HTTP and real SQLite.

No assertion here is about time: what is checked is what the answers say and the order in which
things happen. Waits are bounded and generous.
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from tests.conftest import Api, BodyProducer, Response, World, multipart_body
from tests.tree import G, O, Tree, csv_of, run_import

NO_SPACES = 'The "vendor_guid" field must have no spaces'
SHORT_DESCRIPTION_TOO_LONG = "Short description is too long (maximum is 255 characters)"
TITLE_TOO_LONG = "Title is too long (maximum is 255 characters)"
VENDOR_GUID_TOO_LONG = "Vendor guid is too long (maximum is 255 characters)"
HEADER = ["title", "vendor_guid", "object_type", "parent_guids", "calculation_method",
          "description"]


def account_of(world: World) -> str:
    return f"accounts/{world.account_id}"


def root_of(tree: Tree, world: World) -> int:
    [(root,)] = tree.rows("SELECT id FROM lms_outcomes_groups WHERE is_root AND "
                          "context_type = 'account' AND context_id = ?", world.account_id)
    return root


def group_url(world: World, group_id: int, rest: str = "") -> str:
    return f"/api/v1/{account_of(world)}/outcome_groups/{group_id}{rest}"


async def get_unchecked(api: Api, path: str) -> Response:
    """A GET like :meth:`Api.get` whose answer is not validated against openapi.yaml: for the
    walk down 1,000 levels (answers of a shape validated elsewhere in this file), where
    validation would cost most of the test's time."""
    response = await api.client.fetch(
        api.root + path, headers={"Authorization": f"Bearer {api.token}"}, raise_error=False
    )
    return Response(response.code, json.loads(response.body), response.headers)


def links_of(response: Response) -> dict[str, str]:
    """The Link header as {rel: absolute url}."""
    found = {}
    for entry in response.headers["Link"].split(",<"):
        url, rel = entry.removeprefix("<").split('>; rel="')
        found[rel.removesuffix('"')] = url
    return found


def page_number(url: str) -> int:
    return int(parse_qs(urlsplit(url).query)["page"][0])


def next_page(api: Api, response: Response) -> str | None:
    """The path of the Link header's ``next`` URL (as canvasapi follows it), or None."""
    url = links_of(response).get("next")
    if url is None:
        return None
    assert url.startswith(api.root), url
    return url.removeprefix(api.root)


async def every_page(api: Api, path: str) -> list[Any]:
    """Every item of a paginated route, following ``next`` links from ``path``."""
    items: list[Any] = []
    pages = 0
    next_path: str | None = path
    while next_path is not None:
        response = await api.get(next_path)
        assert response.status == 200, response.body
        items.extend(response.body)
        pages += 1
        per_page = int(parse_qs(urlsplit(next_path).query).get("per_page", ["10"])[0])
        assert len(response.body) <= per_page
        next_path = next_page(api, response)
        assert pages <= 1_000, "the pages never end"
    return items


# -- (a) very long cells --------------------------------------------------------------------------


@pytest.mark.gen_test(timeout=60)
async def test_very_long_cells(api: Api, world: World, tree: Tree) -> None:
    """A 10,000-character title or vendor_guid is a row error with Canvas's validation message
    (and stores nothing for that row); a description of the longest cell allowed
    (``max_cell_bytes``, 64 KiB), over lines, quotes and separators, is stored whole and read
    back, and one byte more is a row error."""
    long_title = "T" * 10_000
    text = "<p>" + "Lorem ipsum, \"dolor\" sit amet;\n" * 3_000
    huge = text[: 64 * 1024 - len("</p>")] + "</p>"
    assert len(huge.encode()) == 64 * 1024
    rows = [
        O(vendor_guid="long_outcome", title=long_title),
        G(vendor_guid="long_group", title=long_title),
        O(vendor_guid="g" * 10_000, title="Long guid"),
        G(vendor_guid="h" * 10_000, title="Long guid"),
        O(vendor_guid="huge_outcome", title="Huge", description=huge),
        G(vendor_guid="huge_group", title="Huge", description=huge),
        O(vendor_guid="edge", title="E" * 255, parent_guids="huge_group"),
        O(vendor_guid="too_huge", title="Too huge", description=huge + "!"),
    ]

    done = await run_import(api, account_of(world), csv_of(rows, HEADER))

    assert done["workflow_state"] == "succeeded", done
    assert done["processing_errors"] == [
        [2, SHORT_DESCRIPTION_TOO_LONG],
        [3, TITLE_TOO_LONG],
        [4, VENDOR_GUID_TOO_LONG],
        [5, VENDOR_GUID_TOO_LONG],
        [9, 'The "description" field is too long (maximum is 65536 bytes)'],
    ]
    assert tree.outcome("long_outcome") is None
    assert tree.group("long_group") is None
    assert tree.rows("SELECT count(*) FROM lms_outcomes_outcomes") == [(2,)]
    assert tree.rows("SELECT count(*) FROM lms_outcomes_groups") == [(2,)]  # root + huge_group
    outcome = tree.outcome("huge_outcome")
    group = tree.group("huge_group")
    assert outcome is not None
    assert group is not None
    assert outcome["description"] == huge
    assert group["description"] == huge
    assert tree.outcome("edge")["title"] == "E" * 255  # type: ignore[index]

    # ... and the read API serves them whole.
    shown = await api.get(f"/api/v1/outcomes/{outcome['id']}")
    assert shown.status == 200
    assert shown.body["description"] == huge
    shown_group = await api.get(group_url(world, group["id"]))
    assert shown_group.body["description"] == huge
    links = await api.get(group_url(world, group["id"], "/outcomes?outcome_style=full"))
    assert [link["outcome"]["title"] for link in links.body] == ["E" * 255]


# -- (b) a tree 1,000 levels deep ---------------------------------------------------------------


DEPTH = 1_000


@pytest.mark.gen_test(timeout=120)
async def test_a_tree_1000_levels_deep(api: Api, world: World, tree: Tree) -> None:
    rows = [G(vendor_guid="level0", title="Level 0")]
    rows += [G(vendor_guid=f"level{n}", title=f"Level {n}", parent_guids=f"level{n - 1}")
             for n in range(1, DEPTH)]
    rows.append(O(vendor_guid="bottom", title="Bottom", parent_guids=f"level{DEPTH - 1}"))

    done = await run_import(api, account_of(world), csv_of(rows))

    assert (done["workflow_state"], done["processing_errors"]) == ("succeeded", [])
    ids = {n: tree.group(f"level{n}")["id"] for n in range(DEPTH)}  # type: ignore[index]
    root = root_of(tree, world)
    assert tree.group("level0")["parent"] == "ROOT"  # type: ignore[index]
    for n in range(1, DEPTH):
        assert tree.group(f"level{n}")["parent"] == f"level{n - 1}"  # type: ignore[index]

    # The read API walks it: down from the root, one subgroup per level ...
    current = root
    for n in range(DEPTH):
        subgroups = await get_unchecked(api, group_url(world, current, "/subgroups"))
        assert subgroups.status == 200
        assert [(g["id"], g["title"]) for g in subgroups.body] == [(ids[n], f"Level {n}")]
        current = subgroups.body[0]["id"]
    bottom = await api.get(group_url(world, ids[DEPTH - 1], "/subgroups"))
    assert (bottom.status, bottom.body) == (200, [])
    outcomes = await api.get(group_url(world, ids[DEPTH - 1], "/outcomes"))
    assert [link["outcome"]["title"] for link in outcomes.body] == ["Bottom"]
    # ... and each group names its parent.
    middle = await api.get(group_url(world, ids[500]))
    assert middle.body["parent_outcome_group"]["id"] == ids[499]
    assert middle.body["parent_outcome_group"]["title"] == "Level 499"
    top = await api.get(group_url(world, ids[0]))
    assert top.body["parent_outcome_group"]["id"] == root

    # Deleting the top group deletes the whole chain, and the outcome with its last link.
    deleted = await run_import(api, account_of(world), csv_of(
        [G(vendor_guid="level0", title="Level 0", workflow_state="deleted")]))
    assert (deleted["workflow_state"], deleted["processing_errors"]) == ("succeeded", [])
    assert tree.rows("SELECT DISTINCT workflow_state FROM lms_outcomes_groups "
                     "WHERE NOT is_root") == [("deleted",)]
    bottom = tree.outcome("bottom")
    assert bottom is not None
    # Canvas's group destroy removes the links below it; the outcome itself is left active.
    assert (bottom["state"], tree.links(bottom["id"])) == ("active", [])
    gone = await api.get(group_url(world, ids[500]))
    assert gone.status == 404
    assert (await api.get(group_url(world, root, "/subgroups"))).body == []


# -- (c) a group 10,000 wide ----------------------------------------------------------------------


WIDTH = 10_000


def scrambled(n: int) -> int:
    """A permutation of range(WIDTH), so that title order is not id (file) order."""
    return (n * 7_919) % WIDTH


@pytest.mark.gen_test(timeout=120)
async def test_groups_10000_wide(api: Api, world: World, tree: Tree) -> None:
    rows = [G(vendor_guid="wide", title="Wide"), G(vendor_guid="many", title="Many")]
    rows += [G(vendor_guid=f"child{n}", title=f"Child {scrambled(n):05d}", parent_guids="wide")
             for n in range(WIDTH)]
    rows += [O(vendor_guid=f"outcome{n}", title=f"Outcome {scrambled(n):05d}",
               parent_guids="many") for n in range(WIDTH)]

    done = await run_import(api, account_of(world), csv_of(rows))

    assert (done["workflow_state"], done["processing_errors"]) == ("succeeded", [])
    wide = tree.group("wide")["id"]  # type: ignore[index]
    many = tree.group("many")["id"]  # type: ignore[index]
    assert tree.rows("SELECT count(*) FROM lms_outcomes_groups WHERE parent_id = ?",
                     wide) == [(WIDTH,)]
    assert tree.links_in(many) == WIDTH

    subgroups = await every_page(api, group_url(world, wide, "/subgroups?per_page=100"))
    assert [group["title"] for group in subgroups] == [f"Child {n:05d}" for n in range(WIDTH)]
    assert len({group["id"] for group in subgroups}) == WIDTH

    # The links page the same way (first, middle and last pages: each page sorts all 10,000).
    for page in (1, 50, 100):
        links = await api.get(group_url(world, many, f"/outcomes?per_page=100&page={page}"))
        assert [link["outcome"]["title"] for link in links.body] == [
            f"Outcome {n:05d}" for n in range((page - 1) * 100, page * 100)]
        assert page_number(links_of(links)["last"]) == 100

    # The last page and a page past the end.
    last = await api.get(group_url(world, wide, "/subgroups?per_page=100&page=100"))
    assert len(last.body) == 100
    assert next_page(api, last) is None
    past = await api.get(group_url(world, wide, "/subgroups?per_page=100&page=101"))
    assert (past.status, past.body) == (200, [])


# -- (d) 100,000 bad rows -------------------------------------------------------------------------


BAD_ROWS = 100_000


def bad_rows_file() -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["title", "vendor_guid", "object_type"])
    writer.writerows([f"T{n}", f"bad guid{n}", "group"] for n in range(BAD_ROWS))
    return out.getvalue().encode()


@pytest.mark.gen_test(timeout=120)
async def test_100000_bad_rows(api: Api, world: World, tree: Tree) -> None:
    """Every error is stored, 25 are shown, and the status route answers all along."""
    imports = f"/api/v1/{account_of(world)}/outcome_imports"
    created = await api.post_csv(imports, bad_rows_file())
    assert created.status == 200, created.body
    status_url = f"{imports}/{created.body['id']}"

    seen: list[dict[str, Any]] = []
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 100
    while True:
        status = await api.get(status_url)
        assert status.status == 200, status.body
        seen.append(status.body)
        if status.body["workflow_state"] in ("succeeded", "failed"):
            break
        assert loop.time() < deadline, f"still {status.body['workflow_state']}"
        await asyncio.sleep(0.02)

    done = seen[-1]
    assert done["workflow_state"] == "succeeded"
    assert done["progress"] == 100
    assert done["processing_errors"] == [[row, NO_SPACES] for row in range(2, 27)]
    assert tree.rows("SELECT count(*), min(row), max(row) FROM lms_outcomes_import_errors "
                     "WHERE outcome_import_id = ?", created.body["id"]) == [
        (BAD_ROWS, 2, BAD_ROWS + 1)]
    assert tree.rows("SELECT count(*) FROM lms_outcomes_groups WHERE NOT is_root") == [(0,)]
    # The status route answered while the import ran, and what it said was sane each time.
    states = [body["workflow_state"] for body in seen]
    assert "importing" in states, states
    progress = [body["progress"] for body in seen]
    assert progress == sorted(progress)
    assert all(len(body["processing_errors"]) <= 25 for body in seen)
    errors = [tuple(error) for body in seen for error in body["processing_errors"]]
    assert set(errors) <= {(row, NO_SPACES) for row in range(2, 27)}


# -- (e) a body trickled slowly -------------------------------------------------------------------


TRICKLE_CHUNKS = 40
TRICKLE_PAUSE = 0.075
#: Bound of each wait below: well within the client's request_timeout (20 s) of the trickle.
WAIT = 15


def trickled(data: bytes, halfway: asyncio.Event, others_done: asyncio.Event,
             log: list[str]) -> BodyProducer:
    """Sends ``data`` in TRICKLE_CHUNKS small chunks with a pause between them. Halfway it
    signals ``halfway``; before the last chunk it waits (bounded) for ``others_done``: the
    other requests must be able to complete while this body is still arriving."""
    size = -(-len(data) // TRICKLE_CHUNKS)
    chunks = [data[start:start + size] for start in range(0, len(data), size)]

    async def produce(write: Callable[[bytes], Any]) -> None:
        for index, chunk in enumerate(chunks):
            if index == len(chunks) - 1:
                await asyncio.wait_for(others_done.wait(), timeout=WAIT)
                log.append("trickle: last chunk")
            await write(chunk)
            if index == len(chunks) // 2:
                halfway.set()
            await asyncio.sleep(TRICKLE_PAUSE)

    return produce


@pytest.mark.gen_test(timeout=120)
@pytest.mark.parametrize("style", ["raw", "multipart"])
async def test_a_trickled_body_holds_nothing_up(
    api: Api, world: World, tree: Tree, style: str
) -> None:
    """While one client trickles its upload a few bytes at a time, the IOLoop keeps serving:
    status reads, reads of the tree, and a whole other import (created, run and finished)
    complete before the trickled body's last chunk is sent."""
    imports = f"/api/v1/{account_of(world)}/outcome_imports"
    first = await run_import(api, account_of(world), csv_of([G(vendor_guid="before")]))
    trickled_csv = csv_of([G(vendor_guid=f"slow{n}", title=f"Slow {n}") for n in range(40)])
    headers = {"Content-Type": "text/csv"}
    data = trickled_csv
    if style == "multipart":
        content_type, data = multipart_body(
            {}, {"attachment": ("slow.csv", trickled_csv, "text/csv")})
        headers = {"Content-Type": content_type}
    halfway, others_done = asyncio.Event(), asyncio.Event()
    log: list[str] = []

    async def others() -> None:
        try:
            await asyncio.wait_for(halfway.wait(), timeout=WAIT)
            log.append("others: start")
            await other_requests()
            log.append("others: done")
        finally:
            others_done.set()  # on failure too: the trickle then ends and the test reports it

    async def other_requests() -> None:
        for _ in range(5):
            status = await api.get(f"{imports}/{first['id']}")
            assert (status.status, status.body["workflow_state"]) == (200, "succeeded")
            latest = await api.get(f"{imports}/latest")
            assert latest.status == 200
        groups = await api.get(f"/api/v1/{account_of(world)}/outcome_groups")
        assert groups.status == 200
        other = await api.post_csv(imports, csv_of([G(vendor_guid="other", title="Other")]))
        assert other.status == 200, other.body
        finished = await api.wait_for_import(f"{imports}/{other.body['id']}", seconds=WAIT)
        assert finished.body["workflow_state"] == "succeeded"

    helper = asyncio.ensure_future(others())
    try:
        created = await api.post(
            imports, body_producer=trickled(data, halfway, others_done, log), headers=headers)
    finally:
        if not helper.done():
            helper.cancel()
    if not helper.cancelled():
        await helper  # re-raises what failed in the other requests

    assert log == ["others: start", "others: done", "trickle: last chunk"]
    assert created.status == 200, created.body
    done = await api.wait_for_import(f"{imports}/{created.body['id']}", seconds=60)
    assert (done.body["workflow_state"], done.body["processing_errors"]) == ("succeeded", [])
    assert tree.group("other") is not None
    assert tree.rows("SELECT count(*) FROM lms_outcomes_groups WHERE vendor_guid LIKE 'slow%' "
                     "AND workflow_state = 'active'") == [(40,)]
