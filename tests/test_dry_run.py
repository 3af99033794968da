"""``dry_run=true`` on create, over HTTP on both backends: a dry run leaves the tree as it was
and ends exactly as the real import of the same file then does (state, errors, warnings,
counts), after imports of its root account queued before it."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import pytest

from lms_outcomes_plugin.storage import BatchWrite, GroupWrite
from lms_outcomes_plugin.storage.postgresql import PostgresStore
from lms_outcomes_plugin.storage.sql import SqlStore
from lms_outcomes_plugin.testing.store import ACCOUNT, running
from tests.conftest import Api, World, fixture_bytes
from tests.tree import G, O, csv_of

FIXTURES = ["demo.csv", "scoring.csv", "no-ratings.csv", "nor.csv", "nor-excel.csv", "chn.csv",
            "test_outcomes_1.csv", "test_outcomes_no_groups.csv",
            "test_outcomes_with_errors.csv"]
INVALID = {"error": "Invalid dry_run 'yes'; valid values: true, false"}


@pytest.fixture
def plugin_settings(plugin_settings: dict[str, Any]) -> dict[str, Any]:
    # Small batches: a dry run's later batches must see what its earlier ones wrote.
    return {**plugin_settings, "batch_size": 2}


def imports_of(world: World, context: str = "account") -> str:
    if context == "course":
        return f"/api/v1/courses/{world.course_id}/outcome_imports"
    return f"/api/v1/accounts/{world.account_id}/outcome_imports"


async def imported(api: Api, path: str, body: bytes, *, dry_run: bool = False) -> dict[str, Any]:
    """The import as it ended, with every error (``/errors``, all pages) and its group ids."""
    created = await api.post_csv(path + ("?dry_run=true" if dry_run else ""), body)
    assert created.status == 200, created.body
    assert created.body["dry_run"] is dry_run
    done = (await api.wait_for_import(f"{path}/{created.body['id']}")).body
    errors, page = [], 1
    while batch := (await api.get(f"{path}/{done['id']}/errors?per_page=100&page={page}")).body:
        errors += batch
        page += 1
    group_ids = await api.get(f"{path}/{done['id']}/created_group_ids")
    return {**done, "all_errors": errors, "group_ids": group_ids.body}


def outcome(done: dict[str, Any]) -> tuple[Any, ...]:
    keys = ("workflow_state", "progress", "processing_errors", "all_errors", "counts",
            "warnings")
    return tuple(done[key] for key in keys)


async def tree_of(api: Api, world: World) -> list[Any]:
    """The account's and the course's trees as the read API shows them."""
    shown = []
    for context in (f"accounts/{world.account_id}", f"courses/{world.course_id}"):
        root = await api.get(f"/api/v1/{context}/root_outcome_group", follow_redirects=True)
        shown.append(root.body)
        for path in ("outcome_groups?per_page=100",
                     "outcome_group_links?outcome_style=full&per_page=100"):
            shown.append((await api.get(f"/api/v1/{context}/{path}")).body)
        for group in shown[-2]:
            subgroups = f"/api/v1/{context}/outcome_groups/{group['id']}/subgroups?per_page=100"
            shown.append((await api.get(subgroups)).body)
    return shown


async def predicts(api: Api, world: World, path: str, body: bytes) -> dict[str, Any]:
    """A dry run changes nothing, then the real import ends as the dry run did."""
    before = await tree_of(api, world)
    dry = await imported(api, path, body, dry_run=True)
    assert await tree_of(api, world) == before
    if dry["workflow_state"] == "succeeded":  # else created_group_ids is 404, as for any
        assert dry["group_ids"] == []
    real = await imported(api, path, body)
    assert outcome(dry) == outcome(real)
    return real


@pytest.mark.gen_test(timeout=60)
@pytest.mark.parametrize("name", FIXTURES)
async def test_a_dry_run_of_a_fixture_predicts_its_import(
    api: Api, world: World, name: str
) -> None:
    real = await predicts(api, world, imports_of(world), fixture_bytes(f"canvas/{name}"))
    assert real["counts"]["rows"] > 0 or real["processing_errors"][0][0] == 1


@pytest.mark.gen_test(timeout=60)
async def test_a_dry_run_into_a_course_predicts_its_import(api: Api, world: World) -> None:
    body = fixture_bytes("canvas/test_outcomes_1.csv")
    real = await predicts(api, world, imports_of(world, "course"), body)
    assert real["group_ids"] != []


@pytest.mark.gen_test(timeout=60)
async def test_a_dry_run_of_a_re_import_predicts_it(api: Api, world: World) -> None:
    path = imports_of(world)
    first = [G(vendor_guid="a", title="A"), G(vendor_guid="b", title="B", parent_guids="a"),
             G(vendor_guid="c", title="C", parent_guids="a"),
             O(vendor_guid="x", title="X", parent_guids="b"),
             O(vendor_guid="y", title="Y", parent_guids="c"),
             G(vendor_guid="d", title="D", course_id=str(world.course_id))]
    await imported(api, path, csv_of(first))
    # b moves under a new group, c is deleted (with y's link), x changes and moves, and later
    # batches name what earlier ones of the same import created.
    changed = [G(vendor_guid="a", title="A"), G(vendor_guid="n", title="New", parent_guids="a"),
               G(vendor_guid="b", title="B2", parent_guids="n"),
               G(vendor_guid="c", title="C", parent_guids="a", workflow_state="deleted"),
               O(vendor_guid="x", title="X2", parent_guids="n b"),
               O(vendor_guid="z", title="Z", parent_guids="missing"),
               G(vendor_guid="d", title="D2", course_id=str(world.course_id)),
               G(vendor_guid="e", title="E", course_id=str(world.course_id))]
    real = await predicts(api, world, path, csv_of(changed))
    counts = real["counts"]
    assert (counts["groups"]["created"], counts["groups"]["deleted"]) == (2, 1)
    assert real["processing_errors"] != []


@pytest.mark.gen_test(timeout=60)
async def test_a_dry_run_queued_behind_an_import_sees_its_result(
    api: Api, world: World
) -> None:
    path, body = imports_of(world), fixture_bytes("canvas/demo.csv")
    real = await api.post_csv(path, body)
    dry = await imported(api, path, body, dry_run=True)
    assert (await api.wait_for_import(f"{path}/{real.body['id']}")).body["counts"]["groups"][
        "created"] == 2
    assert dry["counts"]["groups"] == {"created": 0, "updated": 0, "unchanged": 2, "deleted": 0}


@pytest.mark.gen_test(timeout=60)
async def test_every_import_says_whether_it_is_a_dry_run(api: Api, world: World) -> None:
    path = imports_of(world)
    done = await imported(api, path, fixture_bytes("canvas/demo.csv"))
    assert (done["dry_run"], done["group_ids"] != []) == (False, True)
    latest = await api.get(f"{path}/latest")
    assert latest.body["dry_run"] is False
    explicit = await api.post_csv(path + "?dry_run=false", fixture_bytes("canvas/demo.csv"))
    assert explicit.body["dry_run"] is False
    dry = await imported(api, path, fixture_bytes("canvas/demo.csv"), dry_run=True)
    assert (dry["dry_run"], dry["group_ids"]) == (True, [])
    assert (await api.get(f"{path}/latest")).body["dry_run"] is True


@pytest.mark.gen_test(timeout=60)
async def test_a_dry_run_as_a_form_field(api: Api, world: World) -> None:
    path = imports_of(world)
    before = await tree_of(api, world)
    created = await api.post_multipart(
        path, fields={"dry_run": "true"},
        files={"attachment": ("demo.csv", fixture_bytes("canvas/demo.csv"), "text/csv")},
    )
    assert created.body["dry_run"] is True
    done = await api.wait_for_import(f"{path}/{created.body['id']}")
    assert done.body["counts"]["groups"]["created"] == 2
    assert await tree_of(api, world) == before


@pytest.mark.gen_test(timeout=60)
async def test_a_dry_run_other_than_true_or_false_is_refused(api: Api, world: World) -> None:
    path = imports_of(world)
    refused = await api.post_csv(path + "?dry_run=yes", fixture_bytes("canvas/demo.csv"))
    assert (refused.status, refused.body) == (400, INVALID)
    form = await api.post_multipart(
        path, fields={"dry_run": "yes"},
        files={"attachment": ("demo.csv", fixture_bytes("canvas/demo.csv"), "text/csv")},
    )
    assert (form.status, form.body) == (400, INVALID)
    # The query wins over the form.
    both = await api.post_multipart(
        path + "?dry_run=true", fields={"dry_run": "yes"},
        files={"attachment": ("demo.csv", fixture_bytes("canvas/demo.csv"), "text/csv")},
    )
    assert (both.status, both.body["dry_run"]) == (200, True)


@pytest.mark.parametrize("storage_backend", ["postgresql"])
@pytest.mark.gen_test(timeout=60)
async def test_a_dry_run_on_postgresql_leaves_its_run_a_lease_to_renew(
    storage_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """PostgreSQL only (on SQLite the dry run holds the one writer, and every write waits for
    it, as docs/architecture.md says). Its objects name the import, so the dry run's
    transaction holds the import row's key-share lock for the whole run: the heartbeat must
    still renew the run's lease, or a dry run longer than the lease is taken over."""
    store = PostgresStore.from_url(storage_url, {})
    await store.open()
    try:
        claimed = await running(store)
        root = await store.root_group(ACCOUNT, "Account 1")
        renewed: list[list[str]] = []

        async def hook(point: str, claims: Sequence[str]) -> None:
            if point == "heartbeat:committed":
                renewed.append(list(claims))

        monkeypatch.setattr(SqlStore, "fault_hook", hook)
        async with store.dry_run() as tx:
            (group,), _ = await tx.reserve_ids(1, 0)
            await tx.apply(BatchWrite(claimed.id, "runner-1", 0, groups=[
                GroupWrite(group, ACCOUNT, "g-1", "G", "", "active", root)
            ]))  # fmt: skip
            await asyncio.wait_for(store.heartbeat(["runner-1"]), 20)
        assert renewed == [["runner-1"]]
    finally:
        await store.close()
