"""Canvas's import semantics (what each row does, as Canvas's importer and its specs define
it), through real HTTP and real SQLite, each asserting the tree afterwards."""

from __future__ import annotations

from typing import Any

import pytest

from lms_outcomes_plugin.host.app import EmbeddedHost
from tests.conftest import Api, World, fixture_bytes
from tests.tree import G, H, O, Tree, csv_of, run_import

CANVAS_FIXTURES = ["demo.csv", "scoring.csv", "no-ratings.csv", "nor.csv", "nor-excel.csv",
                   "chn.csv", "test_outcomes_1.csv", "test_outcomes_no_groups.csv"]


def account(world: World) -> str:
    return f"accounts/{world.account_id}"


# --- 5.1 fixture imports ----------------------------------------------------------------------


@pytest.mark.gen_test(timeout=30)
async def test_demo(api: Api, world: World, tree: Tree) -> None:
    """Cases 1-3."""
    done = await run_import(api, account(world), fixture_bytes("canvas/demo.csv"))

    assert (done["workflow_state"], done["processing_errors"]) == ("succeeded", [])
    assert tree.groups(("account", world.account_id)) == ["ROOT", "a", "b"]
    assert tree.group("b")["title"] == "B"
    assert tree.group("b")["description"] == "BBB"
    assert tree.group("b")["parent"] == "a"
    assert tree.group("a")["parent"] == "ROOT"
    c = tree.outcome("c")
    assert (c["title"], c["description"], c["display_name"]) == ("C", "CCC", "here")
    assert (c["method"], c["int"]) == ("decaying_average", 40)
    assert c["ratings"] == [(3.0, "Betterest"), (2.0, "Better"), (1.0, "Good")]
    assert tree.links(c["id"]) == ["a", "b"]


@pytest.mark.gen_test(timeout=30)
async def test_scoring_with_the_feature_flag_off(api: Api, world: World, tree: Tree) -> None:
    """Cases 4 and 6."""
    done = await run_import(api, account(world), fixture_bytes("canvas/scoring.csv"))

    assert done["processing_errors"] == []
    methods = {g: (tree.outcome(g)["method"], tree.outcome(g)["int"]) for g in "cdefghi"}
    assert methods == {
        "c": ("decaying_average", 65), "d": ("highest", None), "e": ("latest", None),
        "f": ("decaying_average", 40), "g": ("n_mastery", 3), "h": ("average", None),
        "i": ("decaying_average", 65),
    }
    c = tree.outcome("c")
    assert (c["mastery"], c["possible"]) == (3.0, 3.0)
    assert [len(tree.outcome(g)["ratings"]) for g in "cdefg"] == [3, 2, 2, 2, 1]


class TestFeatureFlagOn:
    @pytest.fixture
    def plugin_settings(self, plugin_settings: dict[str, Any]) -> dict[str, Any]:
        return {**plugin_settings, "new_decaying_average": True}

    @pytest.mark.gen_test(timeout=30)
    async def test_scoring(self, api: Api, world: World, tree: Tree) -> None:
        """Case 5."""
        await run_import(api, account(world), fixture_bytes("canvas/scoring.csv"))

        methods = {g: (tree.outcome(g)["method"], tree.outcome(g)["int"]) for g in "cfgi"}
        assert methods == {
            "c": ("standard_decaying_average", 65), "f": ("decaying_average", 40),
            "g": ("n_mastery", 3), "i": ("standard_decaying_average", 65),
        }

    @pytest.mark.gen_test(timeout=30)
    async def test_standard_decaying_average_range(self, api: Api, world: World) -> None:
        """Case 52."""
        body = csv_of([O(vendor_guid="x", calculation_method="standard_decaying_average",
                         calculation_int="49")])
        done = await run_import(api, account(world), body)
        assert done["processing_errors"] == [[2, (
            "Calculation int '49' is not a valid value for this calculation method. "
            "The value must be between '50' and '99'")]]


@pytest.mark.gen_test(timeout=30)
async def test_no_ratings_gets_the_default_scale(api: Api, world: World, tree: Tree) -> None:
    """Case 7."""
    done = await run_import(api, account(world), fixture_bytes("canvas/no-ratings.csv"))

    assert done["processing_errors"] == []
    c = tree.outcome("c")
    assert c["ratings"] == [(5.0, "Exceeds Expectations"), (3.0, "Meets Expectations"),
                            (0.0, "Does Not Meet Expectations")]
    assert (c["mastery"], c["possible"]) == (3.0, 5.0)


@pytest.mark.gen_test(timeout=30)
@pytest.mark.parametrize("name", ["nor.csv", "nor-excel.csv"])
async def test_norwegian(api: Api, world: World, tree: Tree, name: str) -> None:
    """Cases 8 and 9."""
    done = await run_import(api, account(world), fixture_bytes(f"canvas/{name}"))

    assert done["processing_errors"] == []
    assert len(tree.rows("SELECT id FROM lms_outcomes_groups WHERE vendor_guid = 'søren'")) == 1
    c = tree.outcome("c")
    assert tree.links(c["id"]) == ["a", "søren"]
    assert "\n" in c["description"] or "\r" in c["description"]


@pytest.mark.gen_test(timeout=30)
async def test_chinese(api: Api, world: World, tree: Tree) -> None:
    """Case 10."""
    done = await run_import(api, account(world), fixture_bytes("canvas/chn.csv"))

    assert done["processing_errors"] == []
    assert tree.group("作戰")["parent"] == "始計"
    assert tree.links(tree.outcome("軍爭")["id"]) == ["作戰", "始計"]


@pytest.mark.gen_test(timeout=60)
@pytest.mark.parametrize("name", CANVAS_FIXTURES)
async def test_reimporting_a_fixture_changes_nothing(
    api: Api, world: World, tree: Tree, name: str
) -> None:
    """Case 93, for every fixture: same ids, same links, same timestamps, no errors."""
    body = fixture_bytes(f"canvas/{name}")
    first = await run_import(api, account(world), body)
    before = tree.snapshot()
    groups_first = await api.get(
        f"/api/v1/{account(world)}/outcome_imports/{first['id']}/created_group_ids")

    second = await run_import(api, account(world), body)

    assert second["processing_errors"] == [] == first["processing_errors"]
    assert tree.snapshot() == before
    groups_second = await api.get(
        f"/api/v1/{account(world)}/outcome_imports/{second['id']}/created_group_ids")
    assert sorted(groups_second.body) == sorted(groups_first.body)


# --- row errors of the engine (cases 46-52, 55-67) -------------------------------------------


ROW_CASES: dict[str, tuple[list[dict[str, str]], list[list[Any]]]] = {
    "46 bad calculation method": (
        [O(vendor_guid="x", calculation_method="goofy")],
        [[2, 'Calculation method calculation_method must be one of the following: '
             '["decaying_average", "weighted_average", "standard_decaying_average", '
             '"n_mastery", "highest", "latest", "average"]']],
    ),
    "47 long vendor guid": (
        [O(vendor_guid="long-" * 200)],
        [[2, "Vendor guid is too long (maximum is 255 characters)"]],
    ),
    "49 decaying average range": (
        [O(vendor_guid="x", calculation_method="decaying_average", calculation_int="100")],
        [[2, "Calculation int '100' is not a valid value for this calculation method. "
             "The value must be between '1' and '99'"]],
    ),
    "50 n_mastery range": (
        [O(vendor_guid="x", calculation_method="n_mastery", calculation_int="11"),
         O(vendor_guid="y", calculation_method="n_mastery", calculation_int="10")],
        [[2, "Calculation int '11' is not a valid value for this calculation method. "
             "The value must be between '1' and '10'"]],
    ),
    "51 int with highest": (
        [O(vendor_guid="x", calculation_method="highest", calculation_int="3")],
        [[2, "Calculation int A calculation value is not used with this calculation method"]],
    ),
    "59 group twice": (
        [G(vendor_guid="x"), G(vendor_guid="x")],
        [[3, 'Group "x" has already appeared in this import']],
    ),
    "60 outcome twice": (
        [O(vendor_guid="y"), O(vendor_guid="y")],
        [[3, 'Outcome "y" has already appeared in this import']],
    ),
    "61 two parents for a group": (
        [G(vendor_guid="p1"), G(vendor_guid="p2"), G(vendor_guid="c", parent_guids="p1 p2")],
        [[4, "An outcome group can only have one parent"]],
    ),
    "62 missing canvas_outcome": (
        [O(vendor_guid="canvas_outcome:999999999")],
        [[2, 'Outcome with canvas id "" not found']],
    ),
    "63 missing canvas_outcome_group": (
        [G(vendor_guid="canvas_outcome_group:999999999")],
        [[2, "Outcome group with canvas id  not found"]],
    ),
    "40 and 86 parents not found": (
        [G(vendor_guid="a"), O(vendor_guid="child", parent_guids="a b c")],
        [[3, 'Parent references not found prior to this row: ["b", "c"]']],
    ),
    "75 group parent not found": (
        [G(vendor_guid="g", parent_guids="blahblahblah")],
        [[2, 'Parent references not found prior to this row: ["blahblahblah"]']],
    ),
    "66 invalid rows do not block valid ones": (
        [O(vendor_guid="a1"), O(vendor_guid="bad guid"), O(vendor_guid="a3")],
        [[3, 'The "vendor_guid" field must have no spaces']],
    ),
}


@pytest.mark.gen_test(timeout=30)
@pytest.mark.parametrize("case", sorted(ROW_CASES))
async def test_row_errors(api: Api, world: World, tree: Tree, case: str) -> None:
    rows, errors = ROW_CASES[case]
    done = await run_import(api, account(world), csv_of(rows))
    assert done["workflow_state"] == "succeeded"
    assert done["processing_errors"] == errors
    # the rows with errors left nothing behind; the others were applied
    bad_rows = {row for row, _ in errors}
    kept = [r for index, r in enumerate(rows, start=2) if index not in bad_rows]
    stored_groups = tree.groups(("account", world.account_id))
    stored_outcomes = sorted(guid for (guid,) in tree.rows(
        "SELECT vendor_guid FROM lms_outcomes_outcomes"))
    assert stored_groups == sorted(
        ["ROOT", *dict.fromkeys(r["vendor_guid"] for r in kept if r["object_type"] == "group")])
    assert stored_outcomes == sorted(
        dict.fromkeys(r["vendor_guid"] for r in kept if r["object_type"] == "outcome"))


@pytest.mark.gen_test(timeout=30)
async def test_70_a_guid_of_another_context_makes_a_new_group(
    api: Api, world: World, tree: Tree
) -> None:
    sub = ("account", world.sub_account_id)
    await run_import(api, f"accounts/{world.sub_account_id}", csv_of([G(vendor_guid="imagroup")]))

    await run_import(api, account(world), csv_of([G(vendor_guid="imagroup", title="Mine")]))

    theirs = tree.group("imagroup", sub)
    mine = tree.group("imagroup", ("account", world.account_id))
    assert theirs["id"] != mine["id"]
    assert (theirs["title"], mine["title"]) == ("title", "Mine")


@pytest.mark.gen_test(timeout=30)
async def test_87_parents_of_another_context_are_not_found(
    api: Api, world: World, tree: Tree
) -> None:
    await run_import(api, f"accounts/{world.sub_account_id}", csv_of([G(vendor_guid="theirs")]))

    done = await run_import(api, account(world), csv_of([O(vendor_guid="o",
                                                           parent_guids="theirs")]))

    assert done["processing_errors"] == [
        [2, 'Parent references not found prior to this row: ["theirs"]']]
    assert tree.outcome("o") is None


@pytest.mark.gen_test(timeout=30)
async def test_66_valid_rows_around_an_invalid_one_are_imported(
    api: Api, world: World, tree: Tree
) -> None:
    rows = [O(vendor_guid="a1"), O(vendor_guid="bad guid"), O(vendor_guid="a3")]
    await run_import(api, account(world), csv_of(rows))
    assert tree.outcome("a1") is not None
    assert tree.outcome("a3") is not None


@pytest.mark.gen_test(timeout=30)
async def test_67_blank_rows_still_count(api: Api, world: World) -> None:
    last_row = csv_of([O(vendor_guid="")]).split(b"\n", 1)[1]
    body = csv_of([O(vendor_guid="x")]) + b",,,,,,\n" + last_row
    done = await run_import(api, account(world), body)
    assert done["processing_errors"] == [[4, 'The "vendor_guid" field is required']]


# --- contexts and course_id (55-58) -----------------------------------------------------------


@pytest.mark.gen_test(timeout=30)
async def test_course_id_rows(api: Api, world: World, lms: EmbeddedHost, tree: Tree) -> None:
    """Cases 55-58, and outcomes linked into course groups of the same import."""
    other_root = await lms.db.create_account("Shelbyville")
    foreign_course = await lms.db.create_course("Shelbyville Math", account_id=other_root)
    header = [*H, "course_id"]
    rows = [
        G(vendor_guid="cg", course_id=str(world.course_id)),
        G(vendor_guid="missing", course_id="999999"),
        G(vendor_guid="foreign", course_id=str(foreign_course)),
        O(vendor_guid="o1", course_id="5"),
        O(vendor_guid="o2", parent_guids="cg"),
    ]
    done = await run_import(api, account(world), csv_of(rows, header))

    assert done["processing_errors"] == [
        [3, "Course with canvas id 999999 not found"],
        [4, f"Target course {foreign_course} is not a child of current account "
            "(Springfield District)"],
        [5, 'Invalid fields for an outcome: ["course_id"]'],
    ]
    group = tree.group("cg")
    assert group["context"] == ("course", world.course_id)
    assert group["parent"] == "ROOT"
    assert tree.links(tree.outcome("o2")["id"]) == ["cg"]


@pytest.mark.gen_test(timeout=30)
async def test_outcome_parents_include_groups_processed_after_an_earlier_row(
    api: Api, world: World, tree: Tree
) -> None:
    """With a course_id column an outcome's parent guid matches groups of every context, and
    each outcome row sees the groups processed before it, not only those its neighbours saw."""
    rows = [
        G(vendor_guid="shared"),
        O(vendor_guid="o1", parent_guids="shared"),
        G(vendor_guid="shared", course_id=str(world.course_id)),
        O(vendor_guid="o2", parent_guids="shared"),
    ]
    done = await run_import(api, account(world), csv_of(rows, [*H, "course_id"]))

    assert done["processing_errors"] == []
    assert tree.links(tree.outcome("o1")["id"]) == ["shared"]
    assert tree.links(tree.outcome("o2")["id"]) == ["shared", "shared"]


@pytest.mark.gen_test(timeout=30)
async def test_56_course_import_cannot_target_other_courses(api: Api, world: World) -> None:
    body = csv_of([G(vendor_guid="cg", course_id="1")], [*H, "course_id"])
    done = await run_import(api, f"courses/{world.course_id}", body)
    assert done["processing_errors"] == [[2, "Cannot import to other courses"]]


# --- groups (68-77, 95) -----------------------------------------------------------------------


@pytest.mark.gen_test(timeout=30)
async def test_group_updates_moves_and_creations(api: Api, world: World, tree: Tree) -> None:
    """Cases 68, 69, 73, 74, 77."""
    ctx = account(world)
    await run_import(api, ctx, csv_of([
        G(vendor_guid="parent1"), G(vendor_guid="parent2"),
        G(vendor_guid="imagroup", parent_guids="parent1", title="old"),
    ]))
    first_id = tree.group("imagroup")["id"]

    await run_import(api, ctx, csv_of([
        G(vendor_guid="parent1"), G(vendor_guid="parent2"),
        G(vendor_guid="imagroup", parent_guids="parent2", title="new", workflow_state="active"),
        G(vendor_guid="fresh", title="Fresh"),
    ], [*H, "description"]))

    moved = tree.group("imagroup")
    assert (moved["id"], moved["title"], moved["parent"], moved["state"]) == (
        first_id, "new", "parent2", "active")
    assert moved["description"] == ""
    assert tree.group("fresh")["parent"] == "ROOT"


@pytest.mark.gen_test(timeout=30)
async def test_magic_group_guids(api: Api, world: World, tree: Tree, lms: EmbeddedHost) -> None:
    """Cases 70-72: a canvas_outcome_group id updates a group of this context; one of another
    context makes a new group with that literal guid, which later imports update."""
    ctx = account(world)
    await run_import(api, ctx, csv_of([G(vendor_guid="imagroup")]))
    await run_import(api, f"accounts/{world.sub_account_id}", csv_of([G(vendor_guid="elsewhere")]))
    mine, theirs = tree.group("imagroup")["id"], tree.group("elsewhere")["id"]
    header = [*H, "description"]

    await run_import(api, ctx, csv_of([
        G(vendor_guid=f"canvas_outcome_group:{mine}", description="update!"),
        G(vendor_guid=f"canvas_outcome_group:{theirs}", description="new one"),
    ], header))
    await run_import(api, ctx, csv_of([
        G(vendor_guid=f"canvas_outcome_group:{theirs}", description="more updates"),
    ], header))

    assert tree.group("imagroup")["description"] == "update!"
    assert tree.group("elsewhere")["description"] == ""
    copy = tree.group(f"canvas_outcome_group:{theirs}")
    assert copy["context"] == ("account", world.account_id)
    assert copy["description"] == "more updates"


@pytest.mark.gen_test(timeout=30)
async def test_76_deleting_a_group_deletes_its_subtree(api: Api, world: World, tree: Tree) -> None:
    ctx = account(world)
    await run_import(api, ctx, csv_of([
        G(vendor_guid="imagroup"), G(vendor_guid="p1", parent_guids="imagroup"),
        O(vendor_guid="o", parent_guids="p1"),
    ]))

    await run_import(api, ctx, csv_of([G(vendor_guid="imagroup", workflow_state="deleted")]))

    assert tree.group("imagroup")["state"] == "deleted"
    assert tree.group("p1")["state"] == "deleted"
    assert tree.links(tree.outcome("o")["id"]) == []


@pytest.mark.gen_test(timeout=30)
async def test_95_cyclic_target(api: Api, world: World, tree: Tree) -> None:
    ctx = account(world)
    await run_import(api, ctx, csv_of([G(vendor_guid="top"), G(vendor_guid="below",
                                                               parent_guids="top")]))
    target = tree.group("below")["id"]

    done = await run_import(api, ctx, csv_of([G(vendor_guid="top")]), group_id=target)

    assert done["processing_errors"] == [[2, "Cyclic reference detected when importing: top"]]


@pytest.mark.gen_test(timeout=30)
async def test_12_target_group_import(api: Api, world: World, tree: Tree) -> None:
    ctx = account(world)
    await run_import(api, ctx, csv_of([G(vendor_guid="test", title="test")]))
    target = tree.group("test")["id"]

    done = await run_import(api, ctx, fixture_bytes("canvas/test_outcomes_no_groups.csv"),
                            group_id=target)

    assert done["processing_errors"] == []
    assert done["learning_outcome_group_id"] == target
    assert tree.links_in(target) == 1


# --- outcomes (78-92, 94) ---------------------------------------------------------------------


@pytest.mark.gen_test(timeout=30)
async def test_outcome_updates_and_magic_ids(api: Api, world: World, tree: Tree) -> None:
    """Cases 78-80."""
    ctx = account(world)
    header = [*H, "description", "display_name"]
    await run_import(api, ctx, csv_of([O(vendor_guid="imanoutcome")], header))
    outcome_id = tree.outcome("imanoutcome")["id"]

    await run_import(api, ctx, csv_of([O(
        vendor_guid="imanoutcome", calculation_method="n_mastery", calculation_int="3",
        display_name="Shown", description="Described")], header))
    updated = tree.outcome("imanoutcome")
    assert (updated["id"], updated["method"], updated["int"]) == (outcome_id, "n_mastery", 3)
    assert (updated["display_name"], updated["description"]) == ("Shown", "Described")

    await run_import(api, ctx, csv_of([O(
        vendor_guid=f"canvas_outcome:{outcome_id}", calculation_method="n_mastery",
        calculation_int="3", display_name="Shown", description="changed!")], header))
    assert tree.outcome("imanoutcome")["description"] == "changed!"


@pytest.mark.gen_test(timeout=30)
async def test_outcomes_of_other_contexts(
    api: Api, world: World, tree: Tree, lms: EmbeddedHost
) -> None:
    """Cases 64, 65, 81, 82, 89: parent-account outcomes may be linked, not changed; outcomes
    of unrelated accounts may be neither."""
    header = [*H, "description"]
    row = O(vendor_guid="imanoutcome", description="")
    await run_import(api, account(world), csv_of([row], header))
    outcome_id = tree.outcome("imanoutcome")["id"]
    course = f"courses/{world.course_id}"

    changed = await run_import(api, course, csv_of([{**row, "title": "Renamed"}], header))
    same = await run_import(api, course, csv_of([row], header))
    magic = await run_import(api, course, csv_of(
        [{**row, "vendor_guid": f"canvas_outcome:{outcome_id}"}], header))

    assert changed["processing_errors"] == [[2, (
        'Cannot modify outcome from another context: ["short_description"]; outcome must be '
        'modified in "Springfield District"')]]
    assert same["processing_errors"] == [] == magic["processing_errors"]
    assert tree.outcome("imanoutcome")["title"] == "title"
    assert tree.links(outcome_id) == ["ROOT", "ROOT"]  # the account's root and the course's

    shelbyville = await lms.db.create_account("Shelbyville")
    shelby_admin = await lms.db.create_user("Shelby", admin_of=shelbyville)
    shelby = Api(api.client, api.root, token=await lms.db.create_token(shelby_admin))
    for guid in ("imanoutcome", f"canvas_outcome:{outcome_id}"):
        refused = await run_import(shelby, f"accounts/{shelbyville}",
                                   csv_of([{**row, "vendor_guid": guid}], header))
        assert refused["processing_errors"] == [[2, (
            f"Outcome with ID {guid} already exists in another unrelated course or account "
            "(Springfield District)")]]


@pytest.mark.gen_test(timeout=30)
async def test_global_outcomes_are_linked_not_changed(
    api: Api, world: World, tree: Tree
) -> None:
    await tree.write(
        "INSERT INTO lms_outcomes_outcomes (vendor_guid, title, calculation_method, "
        "calculation_int, mastery_points, points_possible, ratings, created_at, updated_at) "
        "VALUES ('global', 'title', 'highest', NULL, 3, 5, "
        "'[[5.0, \"Exceeds Expectations\"], [3.0, \"Meets Expectations\"], "
        "[0.0, \"Does Not Meet Expectations\"]]', 'now', 'now')")

    linked = await run_import(api, account(world), csv_of([O(vendor_guid="global")]))
    refused = await run_import(api, account(world), csv_of([O(vendor_guid="global",
                                                              title="Other")]))

    assert linked["processing_errors"] == []
    assert tree.links(tree.outcome("global")["id"]) == ["ROOT"]
    assert refused["processing_errors"] == [[2, (
        'Cannot modify outcome from another context: ["short_description"]; outcome must be '
        "modified in the global context")]]


@pytest.mark.gen_test(timeout=30)
async def test_parents_moves_deletion_and_resurrection(
    api: Api, world: World, tree: Tree
) -> None:
    """Cases 83-85, 88, 90."""
    ctx = account(world)
    groups = [G(vendor_guid="parent1"), G(vendor_guid="parent2")]
    await run_import(api, ctx, csv_of([*groups, O(vendor_guid="o", parent_guids="parent1 parent2"),
                                       O(vendor_guid="lonely")]))
    outcome_id = tree.outcome("o")["id"]
    assert tree.links(outcome_id) == ["parent1", "parent2"]
    assert tree.links(tree.outcome("lonely")["id"]) == ["ROOT"]

    await run_import(api, ctx, csv_of([*groups, O(vendor_guid="o", parent_guids="parent2")]))
    assert tree.links(outcome_id) == ["parent2"]
    assert tree.links(outcome_id, "deleted") == ["parent1"]

    await run_import(api, ctx, csv_of([O(vendor_guid="o", workflow_state="deleted")]))
    assert tree.outcome("o")["state"] == "deleted"
    assert tree.links(outcome_id) == []

    both = O(vendor_guid="o", parent_guids="parent1 parent2")
    await run_import(api, ctx, csv_of([*groups, both]))
    assert tree.outcome("o")["state"] == "active"
    assert tree.links(outcome_id) == ["parent1", "parent2"]


@pytest.mark.gen_test(timeout=30)
async def test_91_deletion_keeps_links_outside_the_importing_context(
    api: Api, world: World, tree: Tree
) -> None:
    await run_import(api, account(world), csv_of([O(vendor_guid="shared")]))
    await run_import(api, f"accounts/{world.sub_account_id}",
                     csv_of([O(vendor_guid="shared")]))  # linked in the sub-account too
    await run_import(api, f"accounts/{world.sub_account_id}",
                     csv_of([O(vendor_guid="shared", workflow_state="deleted")]))

    shared = tree.outcome("shared")
    assert shared["state"] == "active"
    assert tree.links(shared["id"]) == ["ROOT"]  # the parent account's root group only


@pytest.mark.gen_test(timeout=30)
async def test_decision_8_link_removal_is_scoped_to_the_importing_context(
    api: Api, world: World, tree: Tree
) -> None:
    """A sub-account moving a parent account's outcome never unlinks it from the parent."""
    await run_import(api, account(world), csv_of([O(vendor_guid="shared")]))
    sub = f"accounts/{world.sub_account_id}"
    await run_import(api, sub, csv_of([G(vendor_guid="sg"), O(vendor_guid="shared",
                                                              parent_guids="sg")]))
    assert tree.links(tree.outcome("shared")["id"]) == ["ROOT", "sg"]


@pytest.mark.gen_test(timeout=30)
async def test_94_friendly_descriptions(api: Api, world: World, tree: Tree) -> None:
    ctx = account(world)
    header = [*H, "friendly_description"]
    await run_import(api, ctx, csv_of([O(vendor_guid="o", friendly_description="Hi")], header))
    outcome_id = tree.outcome("o")["id"]
    assert tree.friendly(outcome_id) == [("Hi", "active")]

    await run_import(api, ctx, csv_of([O(vendor_guid="o")]))
    assert tree.friendly(outcome_id) == [("Hi", "deleted")]


@pytest.mark.gen_test(timeout=30)
async def test_ratings_and_mastery_on_reimport(api: Api, world: World, tree: Tree) -> None:
    """As in Canvas, the rubric changes only when the file changes it; new ratings without
    mastery points reset mastery to the top rating."""
    ctx = account(world)
    header = [*H, "mastery_points", "ratings"]

    def body(mastery: str, *ratings: str) -> bytes:
        return csv_of([O(vendor_guid="o", mastery_points=mastery)], header, [list(ratings)])

    await run_import(api, ctx, body("3.14", "5.34", "awesome", "1.2", "adequate", "0", "no"))
    assert tree.outcome("o")["mastery"] == 3.14
    await run_import(api, ctx, body(""))
    assert tree.outcome("o")["ratings"] == [(5.34, "awesome"), (1.2, "adequate"), (0.0, "no")]
    assert tree.outcome("o")["mastery"] == 3.14
    await run_import(api, ctx, body("", "4", "good", "1", "bad"))
    assert (tree.outcome("o")["mastery"], tree.outcome("o")["possible"]) == (4.0, 4.0)
