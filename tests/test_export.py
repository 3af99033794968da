"""``GET .../outcome_export`` over real HTTP on both backends: Canvas's columns and number format,
tree order, the context's locale, magic ids for objects without a vendor_guid, and memory that
does not grow with the tree. Its authorization is the read routes' (tests/test_api_read.py);
its round trip is tests/test_export_roundtrip.py.
"""

from __future__ import annotations

import tracemalloc
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from tornado.httpclient import AsyncHTTPClient

from lms_outcomes_plugin.host.app import EmbeddedHost
from tests.conftest import Api, World
from tests.store_tables import Tree
from tests.tree import O, csv_of

IMPORTED = b'''vendor_guid,object_type,title,description,display_name,friendly_description,\
parent_guids,calculation_method,calculation_int,mastery_points,ratings
g2,group,Phonics,,,,g1,,,,
g1,group,"Reading, early",<p>Words</p>,,,,,,,
g2,group,Phonics,,,,g1,,,,
o1,outcome,"Say ""hi""","Line
two",Hi,Friendly,g2 g1,n_mastery,3,2.5,4,Great,2.5,Good,0,
o2,outcome,Plain,,,,,highest,,,
o3,outcome,Huge,,,,g2,,,1e20,1e20,"",0.1,x
'''
# g2's first row fails (its parent is not yet known): it is written once, after g1.
EXPORTED = (
    "vendor_guid,object_type,title,description,friendly_description,display_name,"
    "calculation_method,calculation_int,parent_guids,workflow_state,mastery_points,ratings\r\n"
    'g1,group,"Reading, early",<p>Words</p>,,,,,,active,\r\n'
    "g2,group,Phonics,,,,,,g1,active,\r\n"
    'o1,outcome,"Say ""hi""","Line\ntwo",Friendly,Hi,n_mastery,3,g1 g2,active,2.5,'
    "4.0,Great,2.5,Good,0.0,No Comment\r\n"
    "o2,outcome,Plain,,,,highest,,,active,3.0,"
    "5.0,Exceeds Expectations,3.0,Meets Expectations,0.0,Does Not Meet Expectations\r\n"
    '"o3","outcome","Huge","","","","decaying_average","65","g2","active","1.0e+20",'
    '"1.0e+20","","0.1","x"\r\n'
)


def context_of(world: World, kind: str = "accounts") -> str:
    return f"/api/v1/{kind}/{world.account_id if kind == 'accounts' else world.course_id}"


async def imported(api: Api, context: str, data: bytes) -> dict[str, Any]:
    created = await api.post_csv(f"{context}/outcome_imports", data)
    assert created.status == 200, created.body
    done = await api.wait_for_import(f"{context}/outcome_imports/{created.body['id']}", 120)
    assert done.body["workflow_state"] == "succeeded", done.body
    return done.body  # type: ignore[no-any-return]


@pytest.mark.gen_test(timeout=60)
@pytest.mark.parametrize("kind", ["accounts", "courses"])
async def test_the_export_is_canvas_s_file_in_tree_order(api: Api, world: World, kind: str) -> None:
    context = context_of(world, kind)
    first = await imported(api, context, IMPORTED)
    assert [row for row, _ in first["processing_errors"]] == [2]

    response = await api.get(f"{context}/outcome_export")

    assert response.status == 200
    assert response.headers["Content-Type"] == "text/csv; charset=utf-8"
    singular = kind[:-1]
    context_id = context.rsplit("/", 1)[1]
    assert response.headers["Content-Disposition"] == (
        f'attachment; filename="{singular}_{context_id}_outcomes.csv"'
    )
    assert response.body == EXPORTED
    again = await imported(api, context, EXPORTED.encode())
    assert again["processing_errors"] == []
    assert again["counts"]["groups"] == {"created": 0, "updated": 0, "unchanged": 2, "deleted": 0}
    assert again["counts"]["outcomes"] == {"created": 0, "updated": 0, "unchanged": 3,
                                           "deleted": 0}
    assert again["counts"]["links"] == {"created": 0, "deleted": 0}


@pytest.mark.gen_test(timeout=60)
async def test_an_empty_tree_is_the_header_alone(api: Api, world: World) -> None:
    response = await api.get(f"{context_of(world)}/outcome_export")
    assert (response.status, response.body) == (200, EXPORTED.split("\r\n")[0] + "\r\n")


@pytest.mark.gen_test(timeout=60)
async def test_numbers_use_the_context_s_decimal_separator(
    api: Api, lms: EmbeddedHost
) -> None:
    account = await lms.db.create_account("Académie", locale="fr")
    admin = await lms.db.create_user("Admin", admin_of=account)
    french = Api(api.client, api.root, token=await lms.db.create_token(admin))
    context = f"/api/v1/accounts/{account}"
    await imported(french, context, b"vendor_guid,object_type,title,mastery_points,ratings\n"
                                    b'o1,outcome,Lire,"2,5","1 000,5",Bien,0,Non\n')
    response = await french.get(f"{context}/outcome_export")
    assert response.body.split("\r\n")[1] == (
        'o1,outcome,Lire,,,,decaying_average,65,,active,"2,5","1000,5",Bien,"0,0",Non'
    )
    again = await imported(french, context, response.body.encode())
    assert again["counts"]["outcomes"]["unchanged"] == 1


@pytest.mark.gen_test(timeout=60)
async def test_objects_without_a_vendor_guid_are_named_by_id(
    api: Api, world: World, tree: Tree
) -> None:
    context = context_of(world)
    await imported(api, context, b"vendor_guid,object_type,title,parent_guids\n"
                                 b"g1,group,G,\ng2,group,H,g1\no1,outcome,O,g1 g2\n")
    group = tree.group("g1")
    assert group is not None
    [(outcome,)] = tree.rows("SELECT id FROM lms_outcomes_outcomes WHERE vendor_guid = 'o1'")
    await tree.write("UPDATE lms_outcomes_groups SET vendor_guid = NULL WHERE id = ?", group["id"])
    await tree.write("UPDATE lms_outcomes_outcomes SET vendor_guid = NULL WHERE id = ?", outcome)

    response = await api.get(f"{context}/outcome_export")

    magic = f"canvas_outcome_group:{group['id']}"
    assert response.body.split("\r\n")[1:4] == [
        f"{magic},group,G,,,,,,,active,",
        f"g2,group,H,,,,,,{magic},active,",
        f"canvas_outcome:{outcome},outcome,O,,,,decaying_average,65,{magic} g2,active,3.0,"
        "5.0,Exceeds Expectations,3.0,Meets Expectations,0.0,Does Not Meet Expectations",
    ]
    again = await imported(api, context, response.body.encode())
    assert again["processing_errors"] == []
    assert again["counts"]["groups"]["unchanged"] == 2
    assert again["counts"]["outcomes"]["unchanged"] == 1


#: Numbers 1..N, in both dialects.
_NUMBERS = ("WITH RECURSIVE n(i) AS (SELECT CAST(? AS INTEGER) UNION ALL SELECT i + 1 FROM n "
            "WHERE i < CAST(? AS INTEGER)) ")


async def seed(tree: Tree, account: int, root: int, start: int, count: int) -> None:
    """Outcomes ``o<start>`` .. (three ratings each) in groups of ten below the root group,
    written straight to the store (importing them would take most of the test's time)."""
    end = start + count - 1
    await tree.write(
        _NUMBERS + "INSERT INTO lms_outcomes_groups (context_type, context_id, parent_id, "
        "vendor_guid, title, sort_title, created_at, updated_at) SELECT 'account', ?, ?, "
        "'g' || i, 'Group ' || i, 'group ' || i, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP FROM n "
        "WHERE i % 10 = 0", start, end, account, root)
    await tree.write(
        _NUMBERS + "INSERT INTO lms_outcomes_outcomes (context_type, context_id, vendor_guid, "
        "title, sort_title, calculation_method, mastery_points, points_possible, ratings, "
        "created_at, updated_at) SELECT 'account', ?, 'o' || i, 'Outcome ' || i, "
        "'outcome ' || i, 'highest', 3, 3, '[[3.0, \"Good\"], [2.0, \"Fair\"], [0.0, \"Poor\"]]', "
        "CURRENT_TIMESTAMP, CURRENT_TIMESTAMP FROM n", start, end, account)
    await tree.write(
        _NUMBERS + "INSERT INTO lms_outcomes_links (context_type, context_id, group_id, "
        "outcome_id, workflow_state, created_at, updated_at) SELECT 'account', ?, g.id, o.id, "
        "'active', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP FROM n "
        "JOIN lms_outcomes_outcomes o ON o.vendor_guid = 'o' || i "
        "JOIN lms_outcomes_groups g ON g.context_type = 'account' AND g.context_id = ? "
        "AND g.vendor_guid = 'g' || (i / 10 * 10)", start, end, account, account)


async def export_peak(client: AsyncHTTPClient, url: str, token: str, path: Path) -> int:
    """The most memory the process (the server, and the client: the same process) held at
    once while the export streamed to ``path``, chunk by chunk (the client holds none)."""
    with path.open("wb") as out:

        def keep(chunk: bytes) -> None:
            out.write(chunk)

        tracemalloc.start()
        try:
            response = await client.fetch(url, headers={"Authorization": f"Bearer {token}"},
                                          streaming_callback=keep, request_timeout=120)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    assert response.code == 200
    return peak


@pytest.mark.gen_test(timeout=120)
async def test_memory_does_not_grow_with_the_tree(
    api: Api, world: World, http_client: AsyncHTTPClient, base_url: str, tmp_path: Path,
    tree: Tree,
) -> None:
    context = context_of(world)
    url = f"{base_url}{context}/outcome_export"
    root = await api.get(f"{context}/root_outcome_group")
    root_id = int(root.headers["Location"].rsplit("/", 1)[1])
    await seed(tree, world.account_id, root_id, 0, 2_000)
    # The first export of the process also allocates what stays (compiled statements, caches).
    await export_peak(http_client, url, world.admin_token, tmp_path / "warm.csv")
    small = await export_peak(http_client, url, world.admin_token, tmp_path / "small.csv")
    await seed(tree, world.account_id, root_id, 2_000, 8_000)
    large = await export_peak(http_client, url, world.admin_token, tmp_path / "large.csv")

    with (tmp_path / "large.csv").open() as text:
        assert sum(1 for _ in text) == 1 + 11_000  # the header, 1,000 groups, 10,000 outcomes
    # Five times the tree (2 and 10 chunks of outcomes): the peak is what a chunk and the one
    # before it hold, whatever the number of chunks (read and written at once, the 10,000
    # outcomes alone would take tens of megabytes).
    assert large < small * 1.5, (small, large)


@pytest.mark.parametrize("storage_backend", ["postgresql"])
@pytest.mark.gen_test(timeout=120)
async def test_a_large_import_leaves_the_tree_analyzed_for_the_export(
    api: Api, world: World, storage_url: str
) -> None:
    """On PostgreSQL an import of 1,000 rows or more (a tenth of the outcomes or more) analyzes
    the tree's tables before it ends: without statistics the export read every link of the
    context for each chunk, until autovacuum came by. A smaller import leaves that to it."""
    context = context_of(world)
    await imported(api, context, csv_of([O(vendor_guid=f"a{n}") for n in range(999)]))
    assert await analyzed(storage_url) == set()
    await imported(api, context, csv_of([O(vendor_guid=f"b{n}") for n in range(1000)]))
    assert await analyzed(storage_url) == {
        "lms_outcomes_groups", "lms_outcomes_outcomes", "lms_outcomes_links",
        "lms_outcomes_friendly_descriptions",
    }


async def analyzed(url: str) -> set[str]:
    """The tables an ANALYZE statement analyzed (autovacuum's are not counted)."""
    db = await asyncpg.connect(url)
    try:
        rows = await db.fetch(
            "SELECT relname FROM pg_stat_user_tables WHERE last_analyze IS NOT NULL"
        )
    finally:
        await db.close()
    return {row[0] for row in rows}
