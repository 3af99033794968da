"""A group record's ``prune`` (what a format that always sends a whole framework uses): once
every record is applied, what lies below the group and the import did not process is deleted;
over HTTP, on both backends."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import Api, World
from tests.http_tree import read_tree
from tests.toy_formats import TreeLinesPlugin

FIRST = b"""whole F
group G1 F
group G2 G1
outcome O1 F
outcome O2 G1
outcome O3 G2
group X
outcome O4 F X
outcome O5 F X
"""
#: The framework's next version: G2 (and O3 below it) and O2 dropped; O5 no longer in F.
NEXT = b"""whole F
group G1 F
outcome O1 F
outcome O4 F
"""


@pytest.fixture
def plugin_settings(plugin_settings: dict[str, Any]) -> dict[str, Any]:
    return {**plugin_settings, "extra_plugins": [TreeLinesPlugin()]}


async def run(api: Api, world: World, body: bytes, dry_run: bool = False) -> dict[str, Any]:
    imports = f"/api/v1/accounts/{world.account_id}/outcome_imports"
    query = "?import_type=tree_lines" + ("&dry_run=true" if dry_run else "")
    created = await api.post(imports + query, body=body, headers={"Content-Type": "text/plain"})
    assert created.status == 200, created.body
    done = await api.wait_for_import(f"{imports}/{created.body['id']}")
    assert done.body["workflow_state"] == "succeeded", done.body
    return done.body


def shape(node: dict[str, Any]) -> dict[str, Any]:
    """Titles only: {group: {"outcomes": [...], subgroup: {...}}}."""
    return {group["title"]: {"outcomes": [o["title"] for o in group["outcomes"]],
                             **shape(group)} for group in node["groups"]}


@pytest.mark.gen_test(timeout=60)
async def test_what_the_next_version_drops_is_deleted(api: Api, world: World) -> None:
    await run(api, world, FIRST)
    before = await read_tree(api, f"accounts/{world.account_id}")
    dry = await run(api, world, NEXT, dry_run=True)
    assert dry["counts"]["groups"]["deleted"] == 1
    assert dry["counts"]["outcomes"]["deleted"] == 2
    assert await read_tree(api, f"accounts/{world.account_id}") == before

    done = await run(api, world, NEXT)

    assert done["counts"]["groups"] == {"created": 0, "updated": 0, "unchanged": 2, "deleted": 1}
    # O2 and O3 lose their only links; O5 keeps its link in X, which is not below F; O4's
    # link in X goes as any row's parents say (the fourth link)
    assert done["counts"]["outcomes"] == {
        "created": 0, "updated": 0, "unchanged": 2, "deleted": 2}
    assert done["counts"]["links"] == {"created": 0, "deleted": 4}
    tree = await read_tree(api, f"accounts/{world.account_id}")
    assert shape(tree) == {
        "F": {"outcomes": ["O1", "O4"], "G1": {"outcomes": []}},
        "X": {"outcomes": ["O5"]},  # the file now puts O4 in F only: an ordinary unlink
    }
    again = await run(api, world, NEXT)
    assert again["counts"]["groups"]["deleted"] == again["counts"]["outcomes"]["deleted"] == 0
    assert again["counts"]["links"] == {"created": 0, "deleted": 0}


@pytest.mark.gen_test(timeout=60)
async def test_without_prune_nothing_is_deleted(api: Api, world: World) -> None:
    await run(api, world, FIRST)
    done = await run(api, world, NEXT.replace(b"whole F", b"group F"))

    assert done["counts"]["groups"]["deleted"] == 0
    assert done["counts"]["outcomes"]["deleted"] == 0
    tree = await read_tree(api, f"accounts/{world.account_id}")
    assert shape(tree)["F"]["G1"] == {"outcomes": ["O2"], "G2": {"outcomes": ["O3"]}}
