"""Bounded cells and safe numbers over real HTTP, on both stores: a cell over
``max_cell_bytes``, a row over ``max_parents_per_row`` parents, a number Ruby reads as infinite
and a calculation_int Python cannot convert are each their row's error; the other rows are
imported and the import succeeds."""

from __future__ import annotations

import json
from typing import Any

import pytest

from lms_outcomes_plugin.settings import PluginSettings, SettingsError
from tests.conftest import Api, World
from tests.tree import G, H, O, Tree, csv_of, run_import

MiB = 1024 * 1024
HEADER = [*H, "mastery_points", "ratings"]


def account_of(world: World) -> str:
    return f"accounts/{world.account_id}"


def stored(message: str) -> str:
    """What the API shows of a message: its first 255 characters."""
    return message[:255]


@pytest.mark.gen_test(timeout=60)
async def test_a_5_mb_parent_guids_cell_is_its_rows_error(
    api: Api, world: World, tree: Tree
) -> None:
    guids = " ".join(f"missing-parent-{i}" for i in range(300_000))
    assert len(guids) > 5 * MiB
    rows = [
        G(vendor_guid="a", title="A"),
        O(vendor_guid="long", title="Long", parent_guids=guids),
        O(vendor_guid="c", title="C", parent_guids="a"),
    ]

    done = await run_import(api, account_of(world), csv_of(rows))

    assert done["workflow_state"] == "succeeded", done
    assert done["processing_errors"] == [
        [3, 'The "parent_guids" field is too long (maximum is 65536 bytes)'],
    ]
    assert tree.outcome("long") is None
    c = tree.outcome("c")
    assert c is not None
    assert tree.links(c["id"]) == ["a"]


@pytest.mark.gen_test(timeout=120)
async def test_more_than_1000_parents_is_a_row_error(api: Api, world: World, tree: Tree) -> None:
    parents = [f"p{i}" for i in range(1000)]
    rows = [G(vendor_guid=guid, title=guid) for guid in parents]
    rows += [
        O(vendor_guid="too_many", title="Too many", parent_guids=" ".join([*parents, "p1000"])),
        O(vendor_guid="enough", title="Enough", parent_guids=" ".join(parents)),
    ]

    done = await run_import(api, account_of(world), csv_of(rows))

    assert done["workflow_state"] == "succeeded", done
    assert done["processing_errors"] == [[1002, "Too many parents: 1001 (maximum is 1000)"]]
    assert tree.outcome("too_many") is None
    enough = tree.outcome("enough")
    assert enough is not None
    assert sorted(tree.links(enough["id"])) == sorted(parents)


@pytest.mark.gen_test(timeout=60)
async def test_a_5000_digit_calculation_int_is_a_row_error(
    api: Api, world: World, tree: Tree
) -> None:
    rows = [O(vendor_guid=f"before{i}", title="Before") for i in range(5)]
    rows += [
        O(vendor_guid="digits", title="Digits", calculation_method="n_mastery",
          calculation_int="9" * 5000),
        O(vendor_guid="after", title="After", calculation_method="n_mastery", calculation_int="4"),
        # Parseable but out of range: Canvas's own message, from the engine.
        O(vendor_guid="range", title="Range", calculation_method="n_mastery",
          calculation_int="9" * 30),
    ]

    done = await run_import(api, account_of(world), csv_of(rows))

    assert done["workflow_state"] == "succeeded", done
    assert done["processing_errors"] == [
        [7, stored('Invalid value for calculation_int: "' + "9" * 5000 + '"')],
        [9, stored(f"Calculation int '{'9' * 30}' is not a valid value for this calculation "
                   "method. The value must be between '1' and '10'")],
    ]
    assert tree.outcome("digits") is None
    after = tree.outcome("after")
    assert after is not None
    assert (after["method"], after["int"]) == ("n_mastery", 4)
    assert [tree.outcome(f"before{i}") is not None for i in range(5)] == [True] * 5


@pytest.mark.gen_test(timeout=60)
async def test_numbers_ruby_reads_as_infinite_are_row_errors(
    api: Api, world: World, tree: Tree
) -> None:
    rows = [
        O(vendor_guid="mastery", title="M", mastery_points="1e400"),
        O(vendor_guid="rating", title="R"),
        O(vendor_guid="negative", title="N"),
        O(vendor_guid="hex", title="X", mastery_points="0x1p99999"),
        O(vendor_guid="largest", title="L", mastery_points="1e308"),
    ]
    ratings = [[], ["1e400", "top"], ["5", "top", "-1e400", "bottom"], [], ["1e308", "top"]]

    done = await run_import(api, account_of(world), csv_of(rows, HEADER, extra=ratings))

    assert done["workflow_state"] == "succeeded", done
    assert done["processing_errors"] == [
        [2, 'Invalid value for mastery points: "1e400"'],
        [3, 'Invalid value for rating tier 1 threshold: "1e400"'],
        [4, 'Invalid value for rating tier 2 threshold: "-1e400"'],
        [5, 'Invalid value for mastery points: "0x1p99999"'],
    ]
    assert [tree.outcome(guid) for guid in ("mastery", "rating", "negative", "hex")] == [None] * 4
    largest = tree.outcome("largest")
    assert largest is not None
    # (PostgreSQL's jsonb keeps 1e308 as a 309-digit integer; the store reads it as a float.)
    assert (largest["mastery"], [(float(p), d) for p, d in largest["ratings"]]) == (
        1e308, [(1e308, "top")]
    )

    # ... and it is served as JSON any client reads (no Infinity anywhere).
    response = await api.client.fetch(
        f"{api.root}/api/v1/outcomes/{largest['id']}",
        headers={"Authorization": f"Bearer {api.token}"},
    )
    body = json.loads(response.body, parse_constant=reject_constant)
    assert (body["mastery_points"], body["points_possible"]) == (1e308, 1e308)


def reject_constant(name: str) -> Any:
    raise AssertionError(f"not JSON: {name}")


@pytest.mark.gen_test(timeout=60)
async def test_a_long_header_cell_fails_the_file_quoting_only_its_start(
    api: Api, world: World, tree: Tree
) -> None:
    body = csv_of([O(vendor_guid="a")], [*H, "x" * (5 * MiB)])

    done = await run_import(api, account_of(world), body)

    assert done["workflow_state"] == "failed"
    assert done["processing_errors"] == [[1, stored('Invalid fields: ["' + "x" * 300)]]
    assert tree.outcome("a") is None


class TestLoweredSettings:
    """The limits are the host's settings, read by the import runner."""

    @pytest.fixture
    def plugin_settings(self, plugin_settings: dict[str, Any]) -> dict[str, Any]:
        return {**plugin_settings, "max_cell_bytes": 16, "max_parents_per_row": 2}

    @pytest.mark.gen_test(timeout=60)
    async def test_lowered_limits(self, api: Api, world: World, tree: Tree) -> None:
        rows = [
            G(vendor_guid="a", title="A"),
            G(vendor_guid="b", title="B"),
            G(vendor_guid="c", title="C"),
            O(vendor_guid="title", title="é" * 8 + "x"),  # 17 bytes in 9 characters
            O(vendor_guid="three", title="Three", parent_guids="a b c"),
            O(vendor_guid="fits", title="é" * 8, parent_guids="a b"),
        ]

        done = await run_import(api, account_of(world), csv_of(rows))

        assert done["workflow_state"] == "succeeded", done
        assert done["processing_errors"] == [
            [5, 'The "title" field is too long (maximum is 16 bytes)'],
            [6, "Too many parents: 3 (maximum is 2)"],
        ]
        fits = tree.outcome("fits")
        assert fits is not None
        assert sorted(tree.links(fits["id"])) == ["a", "b"]


def test_the_settings_default_to_64_kib_and_1000_and_must_be_positive_integers() -> None:
    settings = PluginSettings.from_mapping({"storage_url": "sqlite:///x.db"})
    assert (settings.max_cell_bytes, settings.max_parents_per_row) == (65536, 1000)
    for key in ("max_cell_bytes", "max_parents_per_row"):
        for bad in (0, -1, 1.5, "64"):
            with pytest.raises(SettingsError) as raised:
                PluginSettings.from_mapping({"storage_url": "sqlite:///x.db", key: bad})
            assert str(raised.value) == f"setting {key!r} must be a positive integer"
