"""Warnings over real HTTP on both backends: what a format yields as ``RowWarning`` is stored
with its batch and shown in the import's JSON (``warnings``: the first 25 ``[row, message]``
pairs by row, messages cut to 255 characters), beside the errors and changing nothing else.
How a requeued import loses the warnings its batches recorded is in the store's conformance
suite (``lms_outcomes_plugin.testing.store``)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import Api, World
from tests.toy_formats import NoticingPlugin


@pytest.fixture
def plugin_settings(plugin_settings: dict[str, Any]) -> dict[str, Any]:
    # Batches of 4: the warnings come with many batches.
    return {**plugin_settings, "batch_size": 4, "extra_plugins": [NoticingPlugin()]}


@pytest.mark.gen_test(timeout=30)
async def test_a_formats_warnings_are_shown_first_by_row(api: Api, world: World) -> None:
    lines = [f"warn Noted on row {row}" if row % 2 else f"g{row}" for row in range(1, 61)]
    lines[0] = "warn " + "long " * 100
    lines[1] = "error Bad row"
    imports = f"/api/v1/accounts/{world.account_id}/outcome_imports"

    created = await api.post_csv(f"{imports}?import_type=noticing", "\n".join(lines).encode())
    done = await api.wait_for_import(f"{imports}/{created.body['id']}")

    assert created.body["warnings"] == []
    assert done.body["workflow_state"] == "succeeded"
    assert done.body["processing_errors"] == [[2, "Bad row"]]
    assert done.body["warnings"] == [
        [1, ("long " * 100).strip()[:255]],
        *([row, f"Noted on row {row}"] for row in range(3, 51, 2)),
    ]
    groups = await api.get(f"/api/v1/accounts/{world.account_id}/outcome_groups?per_page=100")
    assert len([group for group in groups.body if group["vendor_guid"]]) == 29
