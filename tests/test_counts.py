"""Counts on every OutcomeImport JSON: zeros at creation, updated with every batch, final at the
end; each row counted once, in the column of what it did. Over HTTP, on both backends."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Api, World
from tests.toy_formats import TrapsPlugin
from tests.tree import G, O, csv_of, run_import

ZERO = {"created": 0, "updated": 0, "unchanged": 0, "deleted": 0}


def changes(**counts: int) -> dict[str, int]:
    return {**ZERO, **counts}


def counted(rows: int, groups: dict[str, int], outcomes: dict[str, int], links: tuple[int, int],
            rows_with_errors: int = 0) -> dict[str, Any]:
    return {"rows": rows, "rows_with_errors": rows_with_errors, "groups": groups,
            "outcomes": outcomes, "links": {"created": links[0], "deleted": links[1]}}


def account(world: World) -> str:
    return f"accounts/{world.account_id}"


FILE = [
    G(vendor_guid="a"), G(vendor_guid="b", parent_guids="a"),
    O(vendor_guid="o1", parent_guids="a b"), O(vendor_guid="o2", parent_guids="b"),
]


@pytest.mark.gen_test(timeout=60)
async def test_a_first_import_then_the_same_file_again(api: Api, world: World) -> None:
    created = await api.post_csv(f"/api/v1/{account(world)}/outcome_imports", csv_of(FILE))
    assert created.body["counts"] == counted(0, ZERO, ZERO, (0, 0))
    first = await api.wait_for_import(
        f"/api/v1/{account(world)}/outcome_imports/{created.body['id']}"
    )
    assert first.body["counts"] == counted(4, changes(created=2), changes(created=2), (3, 0))

    again = await run_import(api, account(world), csv_of(FILE))
    assert again["counts"] == counted(4, changes(unchanged=2), changes(unchanged=2), (0, 0))


@pytest.mark.gen_test(timeout=60)
async def test_updates_moves_and_deletions(api: Api, world: World) -> None:
    await run_import(api, account(world), csv_of(FILE))

    done = await run_import(api, account(world), csv_of([
        G(vendor_guid="a", title="renamed"),
        G(vendor_guid="b", parent_guids="a", workflow_state="deleted"),  # takes o1's, o2's links
        O(vendor_guid="o1", parent_guids="a"),  # its link in a stays
        O(vendor_guid="o2", workflow_state="deleted"),
    ]))

    assert done["processing_errors"] == []
    assert done["counts"] == counted(
        4, changes(updated=1, deleted=1), changes(unchanged=1, deleted=1), (0, 2)
    )


@pytest.mark.gen_test(timeout=60)
async def test_rows_with_errors_and_blank_rows(api: Api, world: World) -> None:
    body = csv_of([
        G(vendor_guid="a"),
        O(vendor_guid="bad", parent_guids="nowhere"),  # parent not found
        O(vendor_guid="worse", calculation_method="decaying_average", calculation_int="150",
          title="x" * 300),  # two errors: the calculation_int, the title's length
        G(vendor_guid="a"),  # already appeared
    ]) + b"\n\n,,,\n"
    done = await run_import(api, account(world), body)

    assert [row for row, _ in done["processing_errors"]] == [3, 4, 4, 5]
    assert done["counts"] == counted(4, changes(created=1), ZERO, (0, 0), rows_with_errors=3)


@pytest.mark.gen_test(timeout=60)
async def test_an_outcome_of_a_parent_account_is_only_linked(api: Api, world: World) -> None:
    await run_import(api, account(world), csv_of([O(vendor_guid="shared")]))
    done = await run_import(api, f"accounts/{world.sub_account_id}",
                            csv_of([O(vendor_guid="shared")]))
    assert done["counts"] == counted(1, ZERO, changes(unchanged=1), (1, 0))


class TestCountsGrowWithEachBatch:
    @pytest.fixture
    def gate(self, tmp_path: Path) -> Path:
        return tmp_path / "gate"

    @pytest.fixture
    def plugin_settings(self, plugin_settings: dict[str, Any], gate: Path) -> dict[str, Any]:
        return {**plugin_settings, "batch_size": 2,
                "extra_plugins": [TrapsPlugin(str(gate), hold_after=2)]}

    @pytest.mark.gen_test(timeout=60)
    async def test_a_running_import_shows_what_its_batches_did(
        self, api: Api, world: World, gate: Path
    ) -> None:
        path = f"/api/v1/{account(world)}/outcome_imports"
        created = await api.post_csv(f"{path}?import_type=read_all", b'["g1", "g2", "g3"]')
        status = f"{path}/{created.body['id']}"
        # The first batch (two groups) is applied; the format holds before the third.
        shown = (await api.get(status)).body
        while shown["progress"] == 0:
            await asyncio.sleep(0.02)
            shown = (await api.get(status)).body
        assert shown["workflow_state"] == "importing"
        assert shown["counts"] == counted(2, changes(created=2), ZERO, (0, 0))

        await asyncio.to_thread(gate.touch)
        done = (await api.wait_for_import(status)).body
        assert done["counts"] == counted(3, changes(created=3), ZERO, (0, 0))

