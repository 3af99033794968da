"""No file can make a group its own ancestor, and no stored cycle can make a read run for ever.

Our decision (Canvas differs): a context's root group cannot be addressed by
``canvas_outcome_group:<id>``, and a row whose parent is the group itself or anywhere below it
gets a row error and changes nothing. Canvas lets ``canvas_outcome_group:1`` make root group 1
its own parent; the next recursive read of that tree never ends.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import Api, World
from tests.tree import G, O, Tree, csv_of, run_import

ROOT_MESSAGE = (
    "Outcome group with canvas id {} is the root group of its course or account and cannot be "
    "imported"
)

#: How each backend refuses a group as its own parent (a trigger's message, a CHECK's name).
REFUSED = r"own parent|lms_outcomes_groups_(not_own_parent|root_has_no_parent)"


def account(world: World) -> str:
    return f"accounts/{world.account_id}"


def root_id(tree: Tree, context: tuple[str, int]) -> int:
    [(group_id,)] = tree.rows(
        "SELECT id FROM lms_outcomes_groups WHERE context_type = ? AND context_id = ? AND is_root",
        *context,
    )
    return int(group_id)


def parents(tree: Tree) -> dict[str, Any]:
    """Every group's parent, by guid ("ROOT" for root groups themselves)."""
    return {
        guid or "ROOT": "ROOT" if parent_is_root else parent
        for guid, parent, parent_is_root in tree.rows(
            "SELECT g.vendor_guid, p.vendor_guid, p.is_root FROM lms_outcomes_groups g "
            "LEFT JOIN lms_outcomes_groups p ON p.id = g.parent_id ORDER BY g.id"
        )
    }


async def seed_chain(api: Api, world: World) -> None:
    """ROOT > a > b > c, with an outcome in c."""
    done = await run_import(api, account(world), csv_of([
        G(vendor_guid="a"), G(vendor_guid="b", parent_guids="a"),
        G(vendor_guid="c", parent_guids="b"), O(vendor_guid="o", parent_guids="c"),
    ]))
    assert done["processing_errors"] == []


@pytest.mark.gen_test(timeout=30)
async def test_the_root_group_cannot_be_imported_by_its_canvas_id(
    api: Api, world: World, tree: Tree
) -> None:
    await run_import(api, account(world), csv_of([G(vendor_guid="a")]))
    root = root_id(tree, ("account", world.account_id))
    before = tree.snapshot()

    for row in (G(vendor_guid=f"canvas_outcome_group:{root}", title="x"),
                G(vendor_guid=f"canvas_outcome_group:{root}", parent_guids="a"),
                G(vendor_guid=f"canvas_outcome_group:{root}", workflow_state="deleted")):
        done = await run_import(api, account(world), csv_of([G(vendor_guid="a"), row]))
        assert done["workflow_state"] == "succeeded"
        assert done["processing_errors"] == [[3, ROOT_MESSAGE.format(root)]]

    assert tree.snapshot() == before
    # The tree still reads: an import into a group walks its ancestors.
    group_a = tree.group("a")["id"]  # type: ignore[index]
    done = await run_import(api, account(world), csv_of([G(vendor_guid="in_a")]), group_a)
    assert (done["workflow_state"], done["processing_errors"]) == ("succeeded", [])
    assert tree.group("in_a")["parent"] == "a"  # type: ignore[index]


@pytest.mark.gen_test(timeout=30)
async def test_the_attack_of_two_lines_leaves_the_server_working(
    api: Api, world: World, tree: Tree
) -> None:
    await run_import(api, account(world), csv_of([G(vendor_guid="a")]))
    root = root_id(tree, ("account", world.account_id))
    attack = f"vendor_guid,object_type,title,parent_guids\ncanvas_outcome_group:{root},group,x,\n"

    done = await run_import(api, account(world), attack.encode())

    assert done["processing_errors"] == [[2, ROOT_MESSAGE.format(root)]]
    into_root = await run_import(api, account(world), csv_of([G(vendor_guid="g")]), root)
    assert (into_root["workflow_state"], into_root["processing_errors"]) == ("succeeded", [])
    [(title, parent)] = tree.rows(
        "SELECT title, parent_id FROM lms_outcomes_groups WHERE id = ?", root
    )
    assert (title, parent) == ("Springfield District", None)


@pytest.mark.gen_test(timeout=30)
async def test_a_course_root_cannot_be_imported_from_its_account(
    api: Api, world: World, tree: Tree
) -> None:
    course = f"courses/{world.course_id}"
    await run_import(api, course, csv_of([G(vendor_guid="cg")]))
    root = root_id(tree, ("course", world.course_id))
    header = ["vendor_guid", "object_type", "title", "parent_guids", "course_id"]
    row = G(vendor_guid=f"canvas_outcome_group:{root}", title="x", course_id=str(world.course_id))

    from_account = await run_import(api, account(world), csv_of([row], header))
    from_course = await run_import(
        api, course, csv_of([G(vendor_guid=f"canvas_outcome_group:{root}")])
    )

    assert from_account["processing_errors"] == [[2, ROOT_MESSAGE.format(root)]]
    assert from_course["processing_errors"] == [[2, ROOT_MESSAGE.format(root)]]


@pytest.mark.gen_test(timeout=30)
async def test_a_group_cannot_move_below_itself(api: Api, world: World, tree: Tree) -> None:
    """A file names a group's parents by groups it processed earlier: only a second name for
    the same group, or a target group below it, could put it under itself."""
    await seed_chain(api, world)
    ids = {guid: tree.group(guid)["id"] for guid in "abc"}  # type: ignore[index]
    before = parents(tree)

    into_grandchild = await run_import(api, account(world), csv_of([G(vendor_guid="a")]),
                                       ids["c"])
    under_child = await run_import(api, account(world), csv_of([
        G(vendor_guid="a"), G(vendor_guid="b", parent_guids="a"),
        G(vendor_guid=f"canvas_outcome_group:{ids['a']}", parent_guids="b"),
    ]))
    under_itself = await run_import(api, account(world), csv_of([
        G(vendor_guid=f"canvas_outcome_group:{ids['b']}"),
        G(vendor_guid="b", parent_guids=f"canvas_outcome_group:{ids['b']}"),
    ]))

    assert into_grandchild["processing_errors"] == [
        [2, "Cyclic reference detected when importing: a"]
    ]
    assert under_child["processing_errors"] == [
        [4, f'Group "canvas_outcome_group:{ids["a"]}" has already appeared in this import']
    ]
    assert under_itself["processing_errors"] == [
        [3, 'Group "b" has already appeared in this import']
    ]
    assert parents(tree) == {**before, "b": "ROOT"}  # moved by the last file's first row


@pytest.mark.gen_test(timeout=30)
async def test_a_group_named_twice_in_one_batch_is_written_once(
    api: Api, world: World, tree: Tree
) -> None:
    await seed_chain(api, world)
    group_b, outcome = tree.group("b")["id"], tree.outcome("o")["id"]  # type: ignore[index]

    done = await run_import(api, account(world), csv_of([
        G(vendor_guid="b", title="by guid"),
        G(vendor_guid=f"canvas_outcome_group:{group_b}", title="by id"),
        O(vendor_guid="o", parent_guids="b", title="by guid"),
        O(vendor_guid=f"canvas_outcome:{outcome}", title="by id"),
    ]))

    assert done["processing_errors"] == [
        [3, f'Group "canvas_outcome_group:{group_b}" has already appeared in this import'],
        [5, f'Outcome "canvas_outcome:{outcome}" has already appeared in this import'],
    ]
    assert tree.group("b")["title"] == "by guid"  # type: ignore[index]
    assert tree.outcome("o")["title"] == "by guid"  # type: ignore[index]


class TestAcrossBatches:
    @pytest.fixture
    def plugin_settings(self, plugin_settings: dict[str, Any]) -> dict[str, Any]:
        return {**plugin_settings, "batch_size": 2}

    @pytest.mark.gen_test(timeout=30)
    async def test_a_second_name_in_a_later_batch_is_refused(
        self, api: Api, world: World, tree: Tree
    ) -> None:
        await seed_chain(api, world)
        group_a = tree.group("a")["id"]  # type: ignore[index]

        done = await run_import(api, account(world), csv_of([
            G(vendor_guid="a"), G(vendor_guid="b", parent_guids="a"),
            G(vendor_guid="x"), G(vendor_guid=f"canvas_outcome_group:{group_a}", parent_guids="b"),
        ]))

        assert done["processing_errors"] == [
            [5, f'Group "canvas_outcome_group:{group_a}" has already appeared in this import'],
        ]
        assert parents(tree)["a"] == "ROOT"


@pytest.mark.gen_test(timeout=30)
async def test_the_schema_refuses_a_group_as_its_own_parent(
    api: Api, world: World, tree: Tree
) -> None:
    await seed_chain(api, world)
    group_a = tree.group("a")["id"]  # type: ignore[index]
    root = root_id(tree, ("account", world.account_id))

    for statement, params in (
        ("UPDATE lms_outcomes_groups SET parent_id = id WHERE id = ?", (group_a,)),
        ("UPDATE lms_outcomes_groups SET parent_id = ? WHERE id = ?", (group_a, root)),
    ):
        with pytest.raises(Exception, match=REFUSED):
            await tree.write(statement, *params)
    assert parents(tree)["a"] == "ROOT"


@pytest.mark.gen_test(timeout=60)
async def test_a_cycle_stored_by_an_older_version_cannot_hang_an_import(
    api: Api, world: World, tree: Tree
) -> None:
    """A database written before the rule may hold a cycle (b > c > b): imports into it,
    deletions in it and reads of it end."""
    await seed_chain(api, world)
    group_b, group_c = tree.group("b")["id"], tree.group("c")["id"]  # type: ignore[index]
    await tree.write("UPDATE lms_outcomes_groups SET parent_id = ? WHERE id = ?", group_c, group_b)

    into_cycle = await run_import(api, account(world), csv_of([G(vendor_guid="in_c")]), group_c)
    subgroups = await api.get(f"/api/v1/{account(world)}/outcome_groups/{group_b}/subgroups")
    delete = await run_import(api, account(world), csv_of([
        G(vendor_guid="b", workflow_state="deleted"),
    ]))

    assert into_cycle["workflow_state"] == delete["workflow_state"] == "succeeded"
    assert [group["vendor_guid"] for group in subgroups.body] == ["c"]
    assert tree.group("in_c")["state"] == "deleted"  # type: ignore[index]


@pytest.mark.gen_test(timeout=30)
async def test_the_migration_repairs_a_root_made_its_own_parent(
    api: Api, world: World, tree: Tree, storage_backend: str, lms: Any
) -> None:
    await seed_chain(api, world)
    root = root_id(tree, ("account", world.account_id))
    group_a = tree.group("a")["id"]  # type: ignore[index]
    # As an older version left it: no rule, the root its own parent, a group its own parent.
    if storage_backend == "sqlite":
        await tree.write("DROP TRIGGER lms_outcomes_groups_parent_on_insert")
        await tree.write("DROP TRIGGER lms_outcomes_groups_parent_on_update")
    else:
        await tree.write("ALTER TABLE lms_outcomes_groups DROP CONSTRAINT "
                         "lms_outcomes_groups_not_own_parent")
        await tree.write("ALTER TABLE lms_outcomes_groups DROP CONSTRAINT "
                         "lms_outcomes_groups_root_has_no_parent")
    await tree.write("UPDATE lms_outcomes_groups SET parent_id = id WHERE id IN (?, ?)",
                     root, group_a)
    await tree.write("DELETE FROM lms_outcomes_migrations WHERE name LIKE '%no_group_cycles'")

    await lms.shutdown()
    await lms.open()
    lms.make_app()
    await lms.startup()

    assert parents(tree)["ROOT"] is None
    assert parents(tree)["a"] == "ROOT"
    [(parent,)] = tree.rows("SELECT parent_id FROM lms_outcomes_groups WHERE id = ?", group_a)
    assert parent == root
    with pytest.raises(Exception, match=REFUSED):
        await tree.write("UPDATE lms_outcomes_groups SET parent_id = id WHERE id = ?", group_a)
