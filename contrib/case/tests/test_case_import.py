"""CASE packages imported over HTTP (SQLite and PostgreSQL), the tree read back over HTTP and
compared with the tree the package's own JSON describes."""

from __future__ import annotations

from typing import Any

import pytest
from case_files import ACT_MATH, act_math, encoded, expected_tree, new_version

from tests.conftest import Api, World
from tests.http_tree import read_tree


async def import_case(api: Api, world: World, body: bytes) -> dict[str, Any]:
    imports = f"/api/v1/accounts/{world.account_id}/outcome_imports"
    created = await api.post(f"{imports}?import_type=case", body=body,
                             headers={"Content-Type": "application/json"})
    assert created.status == 200, created.body
    done = await api.wait_for_import(f"{imports}/{created.body['id']}")
    return done.body


async def framework_tree(api: Api, world: World) -> dict[str, Any]:
    """The group the framework became, the root group's only subgroup."""
    root = await read_tree(api, f"accounts/{world.account_id}")
    assert [group["title"] for group in root["groups"]] == [act_math()["CFDocument"]["title"]]
    assert root["outcomes"] == []
    return root["groups"][0]


@pytest.mark.gen_test(timeout=60)
async def test_act_math_becomes_the_tree_its_package_describes_once(
    api: Api, world: World
) -> None:
    first = await import_case(api, world, ACT_MATH.read_bytes())

    assert first["workflow_state"] == "succeeded", first
    assert first["processing_errors"] == []
    assert first.get("warnings", []) == []
    assert first["counts"]["groups"]["created"] == 5
    assert first["counts"]["outcomes"]["created"] == 24
    assert await framework_tree(api, world) == expected_tree(act_math())

    again = await import_case(api, world, ACT_MATH.read_bytes())  # the same package again
    assert again["workflow_state"] == "succeeded"
    assert again["counts"]["groups"] == {"created": 0, "updated": 0, "unchanged": 5, "deleted": 0}
    assert again["counts"]["outcomes"] == {
        "created": 0, "updated": 0, "unchanged": 24, "deleted": 0}
    assert again["counts"]["links"] == {"created": 0, "deleted": 0}
    assert await framework_tree(api, world) == expected_tree(act_math())


@pytest.mark.gen_test(timeout=60)
async def test_a_new_version_of_the_framework_updates_the_tree(api: Api, world: World) -> None:
    await import_case(api, world, ACT_MATH.read_bytes())
    newer = new_version(act_math())
    done = await import_case(api, world, encoded(newer))

    assert done["workflow_state"] == "succeeded", done
    assert done["counts"]["outcomes"] == {
        "created": 1, "updated": 1, "unchanged": 22, "deleted": 1}
    assert done["counts"]["links"] == {"created": 1, "deleted": 1}
    assert await framework_tree(api, world) == expected_tree(newer)


@pytest.mark.gen_test(timeout=60)
async def test_a_json_file_that_is_not_case_fails_writing_nothing(
    api: Api, world: World
) -> None:
    done = await import_case(api, world, b'{"CFItems": []}')

    assert done["workflow_state"] == "failed"
    assert done["processing_errors"] == [
        [1, "The file is not a CASE package: it has no CFDocument with an identifier and a title"]
    ]
    root = await read_tree(api, f"accounts/{world.account_id}")
    assert root["groups"] == []
    assert root["outcomes"] == []
