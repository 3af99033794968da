"""Moodle's example framework imported over HTTP (SQLite and PostgreSQL), the tree read back
over HTTP and compared with the tree the CSV itself describes."""

from __future__ import annotations

from typing import Any

import pytest
from moodle_files import EXAMPLE, expected_tree

from tests.conftest import Api, World
from tests.http_tree import read_tree


async def import_moodle(api: Api, world: World, body: bytes) -> dict[str, Any]:
    imports = f"/api/v1/accounts/{world.account_id}/outcome_imports"
    created = await api.post_csv(f"{imports}?import_type=moodle_competency_csv", body)
    assert created.status == 200, created.body
    done = await api.wait_for_import(f"{imports}/{created.body['id']}")
    return done.body


@pytest.mark.gen_test(timeout=90)
async def test_the_example_framework_becomes_the_tree_its_csv_describes(
    api: Api, world: World
) -> None:
    done = await import_moodle(api, world, EXAMPLE.read_bytes())

    assert done["workflow_state"] == "succeeded", done
    assert done["processing_errors"] == []
    root = await read_tree(api, f"accounts/{world.account_id}")
    assert root["outcomes"] == []
    assert root["groups"] == [expected_tree(EXAMPLE.read_bytes())]

    again = await import_moodle(api, world, EXAMPLE.read_bytes())
    assert again["counts"]["groups"]["created"] == 0
    assert again["counts"]["outcomes"]["created"] == 0
    assert again["counts"]["outcomes"]["updated"] == 0


@pytest.mark.gen_test(timeout=60)
async def test_a_csv_that_is_not_a_moodle_export_fails_writing_nothing(
    api: Api, world: World
) -> None:
    done = await import_moodle(api, world, b"vendor_guid,object_type,title\na,group,A\n")

    assert done["workflow_state"] == "failed"
    assert done["processing_errors"] == [[1, (
        "The file is not a Moodle competency framework export: it needs the 14 columns of "
        'tool_lpimportcsv ("Parent id number", "Id number", "Shortname", ...), one row per '
        "competency")]]
