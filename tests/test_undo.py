"""Revert and cancel over HTTP, on both backends: a revert puts the tree back exactly as the read
API showed it before the reverted import (every field, timestamps included), a cancel stops an
import and undoes what it wrote, and each refusal says why."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from lms_outcomes_plugin.host.app import EmbeddedHost
from tests.conftest import Api, World
from tests.test_dry_run import tree_of
from tests.toy_formats import TrapsPlugin
from tests.tree import G, O, Tree, csv_of

FIRST = csv_of([
    G(vendor_guid="g1", title="Algebra"),
    G(vendor_guid="g2", title="Linear", parent_guids="g1"),
    O(vendor_guid="o1", title="Solve", parent_guids="g1"),
    O(vendor_guid="o2", title="Graph", parent_guids="g2"),
    O(vendor_guid="o3", title="Factor", parent_guids="g2"),
])
# Changes, moves, deletions and new rows.
SECOND = csv_of([
    G(vendor_guid="g1", title="Algebra I"),
    G(vendor_guid="g2", title="Linear"),
    G(vendor_guid="g3", title="Geometry", parent_guids="g1"),
    O(vendor_guid="o1", title="Solve", parent_guids="g3"),
    O(vendor_guid="o2", title="Graph lines", parent_guids="g2"),
    O(vendor_guid="o3", title="Factor", parent_guids="g2", workflow_state="deleted"),
    O(vendor_guid="o4", title="Prove", parent_guids="g3"),
])
# Touches none of FIRST's rows.
ELSEWHERE = csv_of([G(vendor_guid="x1", title="Elsewhere")])


def imports_path(world: World) -> str:
    return f"/api/v1/accounts/{world.account_id}/outcome_imports"


async def imported(api: Api, world: World, body: bytes, query: str = "") -> dict[str, Any]:
    path = imports_path(world)
    created = await api.post_csv(path + query, body)
    assert created.status == 200, created.body
    return (await api.wait_for_import(f"{path}/{created.body['id']}")).body


async def reverted(api: Api, world: World, import_id: int) -> dict[str, Any]:
    """POST the revert; returns the revert import as it ended."""
    path = imports_path(world)
    queued = await api.post(f"{path}/{import_id}/revert")
    assert queued.status == 200, queued.body
    assert queued.body["data"] == {"import_type": "revert"}
    assert queued.body["reverts"] == import_id
    return (await api.wait_for_import(f"{path}/{queued.body['id']}")).body


async def progressed(api: Api, status: str) -> dict[str, Any]:
    """The import once it has applied a batch (its counts show it before its progress does)."""
    for _ in range(2000):
        shown: dict[str, Any] = (await api.get(status)).body
        if shown["counts"]["rows"] > 0:
            return shown
        await asyncio.sleep(0.02)
    raise AssertionError(f"no progress: {shown}")


async def refused(api: Api, world: World, import_id: int | str) -> str:
    answer = await api.post(f"{imports_path(world)}/{import_id}/revert")
    assert answer.status == 409, answer.body
    [error] = answer.body["errors"]
    return str(error["message"])


@pytest.mark.gen_test(timeout=60)
async def test_reverting_a_first_import_empties_the_tree(api: Api, world: World) -> None:
    empty = await tree_of(api, world)
    first = await imported(api, world, FIRST)
    assert await tree_of(api, world) != empty
    revert = await reverted(api, world, first["id"])
    assert revert["workflow_state"] == "succeeded"
    assert revert["progress"] == 100
    assert revert["counts"]["groups"]["deleted"] == 2
    assert revert["counts"]["outcomes"]["deleted"] == 3
    assert await tree_of(api, world) == empty
    shown = (await api.get(f"{imports_path(world)}/{first['id']}")).body
    assert shown["reverted_by"] == revert["id"]
    assert shown["reverts"] is None
    assert revert["reverted_by"] is None
    assert await refused(api, world, first["id"]) == (
        f"Import {first['id']} is already reverted (by import {revert['id']})"
    )
    assert await refused(api, world, revert["id"]) == (
        f"Import {revert['id']} is a revert, which cannot be reverted: import the file again "
        "instead"
    )


@pytest.mark.gen_test(timeout=60)
async def test_a_later_import_blocks_until_it_is_reverted(api: Api, world: World) -> None:
    empty = await tree_of(api, world)
    first = await imported(api, world, FIRST)
    after_first = await tree_of(api, world)
    await asyncio.sleep(1.1)  # timestamps are shown to the second: the second import's differ
    second = await imported(api, world, SECOND)
    elsewhere = await imported(api, world, ELSEWHERE)
    assert second["counts"]["outcomes"] == {
        "created": 1, "updated": 1, "unchanged": 1, "deleted": 1
    }
    assert await refused(api, world, first["id"]) == (
        f"Import {second['id']} of this root account changed the same rows later and is not "
        "reverted: revert it first"
    )
    await reverted(api, world, second["id"])
    with_elsewhere = await tree_of(api, world)
    assert with_elsewhere != after_first
    # The import of other rows stays; what the second changed is back, every field.
    await reverted(api, world, elsewhere["id"])
    assert await tree_of(api, world) == after_first
    await reverted(api, world, first["id"])
    assert await tree_of(api, world) == empty


@pytest.mark.gen_test(timeout=60)
async def test_refusals_say_why(api: Api, world: World) -> None:
    dry = await imported(api, world, FIRST, "?dry_run=true")
    assert await refused(api, world, dry["id"]) == (
        f"Import {dry['id']} is a dry run: it changed nothing"
    )
    answer = await api.post(f"{imports_path(world)}/99999/revert")
    assert answer.status == 404
    assert answer.body == {"message": "Couldn't find OutcomeImport with 'id'=99999"}
    unauthenticated = await api.post(f"{imports_path(world)}/{dry['id']}/revert", token=None)
    assert unauthenticated.status == 401


JOURNALS = ("groups", "outcomes", "links", "friendly")


def journaled(tree: Tree, import_id: int) -> int:
    return sum(tree.rows(f"SELECT COUNT(*) FROM lms_outcomes_journal_{table} "
                         "WHERE outcome_import_id = ?", import_id)[0][0] for table in JOURNALS)


@pytest.mark.gen_test(timeout=60)
async def test_journals_past_journal_days_are_dropped(
    api: Api, world: World, tree: Tree, lms: EmbeddedHost, storage_backend: str
) -> None:
    old = await imported(api, world, FIRST)
    recent = await imported(api, world, ELSEWHERE)
    # 2 groups and 3 outcomes, each created; not their 3 links, which go with the rows they name
    assert journaled(tree, old["id"]) == 5
    old_enough = ("'2000-01-01T00:00:00+00:00'" if storage_backend == "sqlite"
                  else "now() - interval '31 days'")
    await tree.write(f"UPDATE lms_outcomes_imports SET ended_at = {old_enough} WHERE id = ?",
                     old["id"])
    expired = (f"The change journal of import {old['id']} has expired (journals are kept for "
               "30 days, the journal_days setting)")
    assert await refused(api, world, old["id"]) == expired
    # Pruning runs when the runner starts (and hourly, with the uploads'): restart the plugin.
    await lms.shutdown()
    await lms.open()
    lms.make_app()
    await lms.startup()

    assert journaled(tree, old["id"]) == 0
    assert journaled(tree, recent["id"]) == 1
    assert tree.rows("SELECT id, journal FROM lms_outcomes_imports ORDER BY id") == [
        (old["id"], "expired"), (recent["id"], "kept")
    ]


class TestWithoutJournal:
    @pytest.fixture
    def plugin_settings(self, plugin_settings: dict[str, Any]) -> dict[str, Any]:
        return {**plugin_settings, "journal_days": 0}

    @pytest.mark.gen_test(timeout=60)
    async def test_nothing_can_be_reverted(self, api: Api, world: World) -> None:
        first = await imported(api, world, FIRST)
        assert await refused(api, world, first["id"]) == (
            "Imports keep no change journal (journal_days is 0): nothing can be reverted"
        )


class TestCancel:
    @pytest.fixture
    def gate(self, tmp_path: Path) -> Path:
        return tmp_path / "gate"

    @pytest.fixture
    def plugin_settings(self, plugin_settings: dict[str, Any], gate: Path) -> dict[str, Any]:
        return {**plugin_settings, "batch_size": 2,
                "extra_plugins": [TrapsPlugin(str(gate), hold_after=2)]}

    @pytest.mark.gen_test(timeout=60)
    async def test_a_running_import_is_undone_and_the_queue_moves_on(
        self, api: Api, world: World, gate: Path
    ) -> None:
        path = imports_path(world)
        first = await imported(api, world, FIRST)
        before = await tree_of(api, world)
        # 100,000 rows: it renames g1 (FIRST's) and adds n1 in its first batch, then holds
        # before its third record until the gate opens.
        guids = ["g1", *(f"n{n}" for n in range(1, 100_000))]
        created = await api.post_csv(f"{path}?import_type=read_all", json.dumps(guids).encode())
        status = f"{path}/{created.body['id']}"
        shown = await progressed(api, status)
        assert shown["workflow_state"] == "importing"
        assert await refused(api, world, created.body["id"]) == (
            f"Import {created.body['id']} has not ended yet (importing): cancel it instead, or "
            "revert it once it has ended"
        )
        queued = await api.post_csv(path, ELSEWHERE)
        cancel = await api.request("DELETE", status)
        assert cancel.status == 200, cancel.body
        assert cancel.body["cancel_requested"] is True
        assert cancel.body["workflow_state"] == "importing"
        await asyncio.to_thread(gate.touch)
        done = (await api.wait_for_import(status)).body
        assert done["workflow_state"] == "cancelled"
        assert done["ended_at"] is not None
        assert done["counts"]["rows"] == 2  # it stopped at the batch after the request
        assert (await api.wait_for_import(f"{path}/{queued.body['id']}")).body[
            "workflow_state"] == "succeeded"
        await reverted(api, world, queued.body["id"])
        assert await tree_of(api, world) == before
        assert await refused(api, world, created.body["id"]) == (
            f"Import {created.body['id']} was cancelled: what it wrote was undone then"
        )
        again = await api.request("DELETE", status)
        assert again.status == 409
        assert again.body == {"errors": [{"message": (
            f"Import {created.body['id']} has already ended (cancelled): there is nothing to "
            "cancel"
        )}]}
        assert (await reverted(api, world, first["id"]))["workflow_state"] == "succeeded"

    @pytest.mark.gen_test(timeout=60)
    async def test_a_created_import_never_runs(
        self, api: Api, world: World, gate: Path
    ) -> None:
        path = imports_path(world)
        holding = await api.post_csv(f"{path}?import_type=read_all", b'["h1", "h2", "h3"]')
        waiting = await api.post_csv(path, FIRST)
        cancel = await api.request("DELETE", f"{path}/{waiting.body['id']}")
        assert cancel.status == 200, cancel.body
        assert cancel.body["workflow_state"] == "cancelled"
        assert cancel.body["cancel_requested"] is True
        assert cancel.body["ended_at"] is not None
        await asyncio.to_thread(gate.touch)
        await api.wait_for_import(f"{path}/{holding.body['id']}")
        shown = (await api.get(f"{path}/{waiting.body['id']}")).body
        assert shown["workflow_state"] == "cancelled"
        assert shown["progress"] == 0
        finished = await api.request("DELETE", f"{path}/{holding.body['id']}")
        assert finished.status == 409


class TestRevertsInTheQueue:
    """A revert waits in its root account's queue like any import: it counts against
    ``max_queued_imports``, and is refused as a create is once the queue is full."""

    @pytest.fixture
    def gate(self, tmp_path: Path) -> Path:
        return tmp_path / "gate"

    @pytest.fixture
    def plugin_settings(self, plugin_settings: dict[str, Any], gate: Path) -> dict[str, Any]:
        return {**plugin_settings, "batch_size": 2, "max_queued_imports": 1,
                "extra_plugins": [TrapsPlugin(str(gate), hold_after=2)]}

    @pytest.mark.gen_test(timeout=60)
    async def test_a_revert_counts_and_is_refused_past_max_queued_imports(
        self, api: Api, world: World, gate: Path
    ) -> None:
        path = imports_path(world)
        full = {"errors": [{"message": (
            "Too many outcome imports are waiting in this root account (the limit is 1); try "
            "again once some have finished"
        )}]}
        first = await imported(api, world, FIRST)
        elsewhere = await imported(api, world, ELSEWHERE)
        holding = await api.post_csv(f"{path}?import_type=read_all", b'["h1", "h2", "h3"]')
        await progressed(api, f"{path}/{holding.body['id']}")  # running: no longer queued
        waiting = await api.post(f"{path}/{first['id']}/revert")
        assert waiting.status == 200, waiting.body

        again = await api.post(f"{path}/{elsewhere['id']}/revert")
        created = await api.post_csv(path, ELSEWHERE)

        assert (again.status, again.body) == (429, full)
        assert (created.status, created.body) == (429, full)
        shown = (await api.get(f"{path}/{elsewhere['id']}")).body
        assert shown["reverted_by"] is None  # the refused revert queued nothing
        await asyncio.to_thread(gate.touch)
        done = await api.wait_for_import(f"{path}/{waiting.body['id']}")
        assert done.body["workflow_state"] == "succeeded"
        assert (await reverted(api, world, elsewhere["id"]))["workflow_state"] == "succeeded"
