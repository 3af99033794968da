"""Rows take effect in file order, as Canvas applies them one by one, whatever the batches.

A group deletion takes effect at its row, as Canvas's ``destroy`` does:
``workflow_state=deleted`` on a group retires its active links and, all the way down through
active groups, the groups below and their links, at that row; later rows of the same file may
still name the deleted group as a parent (the link or group they make is active) or bring back a
group that the deletion took down. We plan a batch of rows at once, so each case runs with one
row per batch and with the whole file in one batch, and must end the same way. Re-importing the
same file then changes nothing; within one batch not even a timestamp (across batches, a link or
group the deletion took down and a later row brought back was retired in between, as in Canvas,
and its updated_at says so).

An outcome of a parent account may appear on several rows of one file (only the import's own
outcomes are "already appeared"): each row links and unlinks it as the rows before it left it.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import Api, World
from tests.tree import G, O, Tree, csv_of, run_import


@pytest.fixture(params=[1, 1000], ids=["row-per-batch", "one-batch"])
def plugin_settings(plugin_settings: dict[str, Any], request: pytest.FixtureRequest
                    ) -> dict[str, Any]:
    return {**plugin_settings, "batch_size": request.param}


def account(world: World) -> str:
    return f"accounts/{world.account_id}"


def every_row(tree: Tree, timestamps: bool) -> list[list[tuple[Any, ...]]]:
    """The tree's tables (with their updated_at, if asked)."""
    updated = ", updated_at" if timestamps else ""
    return [
        tree.rows(f"SELECT id, parent_id, title, workflow_state{updated} "
                  "FROM lms_outcomes_groups ORDER BY id"),
        tree.rows(f"SELECT id, title, workflow_state{updated} "
                  "FROM lms_outcomes_outcomes ORDER BY id"),
        tree.rows(f"SELECT id, group_id, outcome_id, workflow_state{updated} "
                  "FROM lms_outcomes_links ORDER BY id"),
    ]


async def import_twice(api: Api, world: World, tree: Tree, rows: list[dict[str, str]],
                       settings: dict[str, Any]) -> None:
    """Import the file, then again: the second import must change nothing."""
    timestamps = settings["batch_size"] >= len(rows)
    done = await run_import(api, account(world), csv_of(rows))
    assert (done["workflow_state"], done["processing_errors"]) == ("succeeded", [])
    before = every_row(tree, timestamps)
    again = await run_import(api, account(world), csv_of(rows))
    assert (again["workflow_state"], again["processing_errors"]) == ("succeeded", [])
    assert every_row(tree, timestamps) == before


def outcome(tree: Tree, guid: str) -> dict[str, Any]:
    found = tree.outcome(guid)
    assert found is not None
    return found


def state(tree: Tree, guid: str) -> tuple[str, str]:
    group = tree.group(guid)
    assert group is not None
    return group["state"], group["parent"]


@pytest.mark.gen_test(timeout=60)
async def test_an_outcome_can_be_linked_into_a_group_deleted_earlier_in_the_file(
    api: Api, world: World, tree: Tree, plugin_settings: dict[str, Any]
) -> None:
    await import_twice(api, world, tree, [
        G(vendor_guid="g", workflow_state="deleted"), O(vendor_guid="o", parent_guids="g"),
    ], plugin_settings)

    assert state(tree, "g") == ("deleted", "ROOT")
    assert outcome(tree, "o")["state"] == "active"
    assert tree.links(outcome(tree, "o")["id"]) == ["g"]


@pytest.mark.gen_test(timeout=60)
async def test_a_group_can_go_under_a_group_deleted_earlier_in_the_file(
    api: Api, world: World, tree: Tree, plugin_settings: dict[str, Any]
) -> None:
    await import_twice(api, world, tree, [
        G(vendor_guid="g", workflow_state="deleted"), G(vendor_guid="c", parent_guids="g"),
    ], plugin_settings)

    assert state(tree, "g") == ("deleted", "ROOT")
    assert state(tree, "c") == ("active", "g")


@pytest.mark.gen_test(timeout=60)
async def test_a_deletion_takes_down_what_is_below_it_at_its_row(
    api: Api, world: World, tree: Tree, plugin_settings: dict[str, Any]
) -> None:
    """a > b > c with outcomes in b and c. Deleting a takes all of it down; the rows after it
    bring back b and p's link in b, and nothing else."""
    await run_import(api, account(world), csv_of([
        G(vendor_guid="a"), G(vendor_guid="b", parent_guids="a"),
        G(vendor_guid="c", parent_guids="b"),
        O(vendor_guid="p", parent_guids="b"), O(vendor_guid="q", parent_guids="c"),
    ]))

    await import_twice(api, world, tree, [
        G(vendor_guid="a", workflow_state="deleted"), G(vendor_guid="b", parent_guids="a"),
        O(vendor_guid="p", parent_guids="b"),
    ], plugin_settings)

    assert [state(tree, guid) for guid in "abc"] == [
        ("deleted", "ROOT"), ("active", "a"), ("deleted", "b"),
    ]
    p, q = outcome(tree, "p"), outcome(tree, "q")
    assert (tree.links(p["id"]), tree.links(p["id"], "deleted")) == (["b"], [])
    assert (tree.links(q["id"]), tree.links(q["id"], "deleted")) == ([], ["c"])
    assert q["state"] == "active"  # a group deletion unlinks; it does not delete outcomes


@pytest.mark.gen_test(timeout=60)
async def test_a_group_moved_out_before_the_deletion_survives_it(
    api: Api, world: World, tree: Tree, plugin_settings: dict[str, Any]
) -> None:
    await run_import(api, account(world), csv_of([
        G(vendor_guid="a"), G(vendor_guid="b", parent_guids="a"),
        O(vendor_guid="o", parent_guids="b"),
    ]))

    await import_twice(api, world, tree, [
        G(vendor_guid="b"), G(vendor_guid="a", workflow_state="deleted"),
    ], plugin_settings)

    assert [state(tree, guid) for guid in "ab"] == [("deleted", "ROOT"), ("active", "ROOT")]
    assert tree.links(outcome(tree, "o")["id"]) == ["b"]


@pytest.mark.gen_test(timeout=60)
async def test_a_deletion_walks_down_through_active_groups_only(
    api: Api, world: World, tree: Tree, plugin_settings: dict[str, Any]
) -> None:
    """Canvas's destroy walks active child groups: an active group kept below a deleted one
    is not reached by deleting a group above them."""
    await run_import(api, account(world), csv_of([
        G(vendor_guid="a"), G(vendor_guid="d", parent_guids="a", workflow_state="deleted"),
        G(vendor_guid="e", parent_guids="d"),
    ]))
    assert state(tree, "e") == ("active", "d")

    await import_twice(
        api, world, tree, [G(vendor_guid="a", workflow_state="deleted")], plugin_settings
    )

    assert [state(tree, guid) for guid in "ade"] == [
        ("deleted", "ROOT"), ("deleted", "a"), ("active", "d"),
    ]


@pytest.mark.parametrize(("rows", "linked"), [
    ([O(vendor_guid="shared", parent_guids="sg"), O(vendor_guid="shared"),
      O(vendor_guid="shared", workflow_state="deleted")], ["ROOT"]),
    ([O(vendor_guid="shared"), O(vendor_guid="shared", workflow_state="deleted"),
      O(vendor_guid="shared", parent_guids="sg")], ["ROOT", "sg"]),
], ids=["unlinked-at-last", "linked-at-last"])
@pytest.mark.gen_test(timeout=60)
async def test_an_outcome_of_a_parent_account_named_on_several_rows(
    api: Api, world: World, tree: Tree, plugin_settings: dict[str, Any],
    rows: list[dict[str, str]], linked: list[str],
) -> None:
    await run_import(api, account(world), csv_of([O(vendor_guid="shared")]))
    sub = f"accounts/{world.sub_account_id}"
    rows = [G(vendor_guid="sg"), *rows]
    timestamps = plugin_settings["batch_size"] >= len(rows)

    done = await run_import(api, sub, csv_of(rows))
    assert (done["workflow_state"], done["processing_errors"]) == ("succeeded", [])
    # The parent account's link (its root group) is not the sub-account's to remove.
    assert tree.links(outcome(tree, "shared")["id"]) == linked
    assert outcome(tree, "shared")["state"] == "active"
    before = every_row(tree, timestamps)
    await run_import(api, sub, csv_of(rows))
    assert every_row(tree, timestamps) == before
