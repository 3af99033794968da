"""One import end to end: raw POST, the runner's task on the IOLoop, the status route."""

from __future__ import annotations

import logging

import pytest

from lms_outcomes_plugin.plugin import service_for
from tests.conftest import Api, World, fixture_bytes
from tests.toy_formats import ExplodingPlugin
from tests.tree import Tree

IMPORT_KEYS = {
    "id",
    "created_at",
    "updated_at",
    "ended_at",
    "workflow_state",
    "data",
    "progress",
    "processing_errors",
    "user",
    "learning_outcome_group_id",
    "warnings",
    "counts",
    "dry_run",
    "reverts",
    "reverted_by",
    "cancel_requested",
}


def stored_tree(tree: Tree) -> dict[str, object]:
    """The outcome tree as stored, read straight from the store."""
    groups = {
        guid: (title, parent)
        for guid, title, parent in tree.rows(
            "SELECT g.vendor_guid, g.title, p.vendor_guid FROM lms_outcomes_groups g "
            "LEFT JOIN lms_outcomes_groups p ON p.id = g.parent_id WHERE NOT g.is_root"
        )
    }
    outcomes = dict(tree.rows("SELECT vendor_guid, title FROM lms_outcomes_outcomes"))
    links = sorted(
        tree.rows(
            "SELECT g.vendor_guid, o.vendor_guid FROM lms_outcomes_links l "
            "JOIN lms_outcomes_groups g ON g.id = l.group_id "
            "JOIN lms_outcomes_outcomes o ON o.id = l.outcome_id "
            "WHERE l.workflow_state = 'active'"
        )
    )
    return {"groups": groups, "outcomes": outcomes, "links": links}


@pytest.mark.gen_test(timeout=30)
async def test_raw_csv_import_runs_to_succeeded(api: Api, world: World, tree: Tree) -> None:
    imports = f"/api/v1/accounts/{world.account_id}/outcome_imports"
    created = await api.post_csv(imports, fixture_bytes("canvas/demo.csv"))

    assert created.status == 200, created.body
    assert set(created.body) == IMPORT_KEYS
    assert created.body["workflow_state"] == "created"
    assert created.body["progress"] == 0
    assert created.body["processing_errors"] == []
    assert created.body["warnings"] == []
    assert created.body["data"] == {"import_type": "instructure_csv"}
    assert created.body["ended_at"] is None
    assert created.body["learning_outcome_group_id"] is None
    assert created.body["user"]["id"] == world.admin_id
    assert created.body["user"]["name"] == "Admin Skinner"
    assert created.body["created_at"].endswith("Z")

    done = await api.wait_for_import(f"{imports}/{created.body['id']}")
    assert done.body["workflow_state"] == "succeeded", done.body
    assert done.body["progress"] == 100
    assert done.body["processing_errors"] == []
    assert done.body["ended_at"] is not None

    stored = stored_tree(tree)
    assert stored["groups"] == {"a": ("A", None), "b": ("B", "a")}
    assert stored["outcomes"] == {"c": "C"}
    assert stored["links"] == [("a", "c"), ("b", "c")]

    group_ids = await api.get(f"{imports}/{created.body['id']}/created_group_ids")
    assert group_ids.status == 200
    assert len(group_ids.body) == 2
    assert all(isinstance(group_id, str) for group_id in group_ids.body)


@pytest.mark.gen_test(timeout=30)
async def test_file_level_error_fails_the_import(api: Api, world: World, tree: Tree) -> None:
    imports = f"/api/v1/accounts/{world.account_id}/outcome_imports"
    created = await api.post_csv(imports, fixture_bytes("canvas/test_outcomes_with_errors.csv"))
    import_url = f"{imports}/{created.body['id']}"

    done = await api.wait_for_import(import_url)

    assert done.body["workflow_state"] == "failed"
    assert done.body["processing_errors"] == [
        [1, 'Missing required fields: ["vendor_guid", "object_type"]']
    ]
    assert done.body["ended_at"] is not None
    failed = await api.get(f"{import_url}/created_group_ids")
    assert (failed.status, failed.body) == (404, {"message": "Import has failed"})
    assert stored_tree(tree)["outcomes"] == {}


@pytest.mark.gen_test(timeout=30)
async def test_row_errors_keep_the_import_succeeded(api: Api, world: World) -> None:
    csv = (
        b"title,vendor_guid,object_type,parent_guids\n"
        b"Group,g1,group,\n"
        b"Orphan,o1,outcome,missing\n"
        b"Fine,o2,outcome,g1\n"
    )
    imports = f"/api/v1/accounts/{world.account_id}/outcome_imports"
    created = await api.post_csv(imports, csv)

    done = await api.wait_for_import(f"{imports}/{created.body['id']}")

    assert done.body["workflow_state"] == "succeeded"
    assert done.body["processing_errors"] == [
        [3, 'Parent references not found prior to this row: ["missing"]']
    ]


@pytest.mark.gen_test(timeout=30)
async def test_show_and_latest(api: Api, world: World) -> None:
    imports = f"/api/v1/accounts/{world.account_id}/outcome_imports"
    none_yet = await api.get(f"{imports}/latest")
    assert none_yet.status == 404
    assert set(none_yet.body) == {"message"}

    created = await api.post_csv(imports, fixture_bytes("canvas/demo.csv"))
    await api.wait_for_import(f"{imports}/{created.body['id']}")

    latest = await api.get(f"{imports}/latest")
    assert latest.status == 200
    assert latest.body["id"] == created.body["id"]
    missing = await api.get(f"{imports}/999999")
    assert missing.status == 404
    assert missing.body == {"message": "Couldn't find OutcomeImport with 'id'=999999"}
    other_context = await api.get(
        f"/api/v1/accounts/{world.sub_account_id}/outcome_imports/{created.body['id']}"
    )
    assert other_context.status == 404


@pytest.mark.gen_test(timeout=30)
async def test_still_processing_message(api: Api, world: World, lms) -> None:
    runner = service_for(lms).runner
    await runner.stop()  # nothing will claim the import
    imports = f"/api/v1/accounts/{world.account_id}/outcome_imports"
    created = await api.post_csv(imports, fixture_bytes("canvas/demo.csv"))

    pending = await api.get(f"{imports}/{created.body['id']}/created_group_ids")

    assert (pending.status, pending.body) == (404, {"message": "Import is still being processed"})


@pytest.fixture
def plugin_settings(plugin_settings: dict) -> dict:
    return {**plugin_settings, "extra_plugins": [ExplodingPlugin()]}


@pytest.mark.gen_test(timeout=30)
async def test_exception_in_task_fails_the_import_with_a_logged_traceback(
    api: Api, world: World, caplog: pytest.LogCaptureFixture
) -> None:
    imports = f"/api/v1/accounts/{world.account_id}/outcome_imports"
    with caplog.at_level(logging.ERROR, logger="lms_outcomes_plugin"):
        created = await api.post_csv(f"{imports}?import_type=exploding", b"anything")
        done = await api.wait_for_import(f"{imports}/{created.body['id']}")

    assert done.body["workflow_state"] == "failed"
    [[row, message]] = done.body["processing_errors"]
    assert row == 1
    assert message.startswith("An unexpected error has occurred: see error report ")
    report = message.rsplit(" ", 1)[1]
    [record] = [r for r in caplog.records if report in r.getMessage()]
    assert record.exc_info is not None
    assert "kaboom" in str(record.exc_info[1])
