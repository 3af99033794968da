"""Imports of one root account run one at a time, oldest first (Canvas's strand); imports of
different root accounts run side by side."""

from __future__ import annotations

import itertools
from typing import Any

import pytest

from lms_outcomes_plugin.host.app import EmbeddedHost
from lms_outcomes_plugin.storage.sql import as_time
from tests.conftest import Api, World
from tests.toy_formats import SlowPlugin
from tests.tree import Tree


@pytest.fixture
def plugin_settings(plugin_settings: dict[str, Any]) -> dict[str, Any]:
    return {**plugin_settings, "batch_size": 2, "extra_plugins": [SlowPlugin(pause=0.02)]}


@pytest.mark.gen_test(timeout=60)
async def test_one_at_a_time_per_root_account_side_by_side_across(
    api: Api, world: World, lms: EmbeddedHost, tree: Tree
) -> None:
    other_root = await lms.db.create_account("Shelbyville")
    await lms.db.grant(world.admin_id, "import_outcomes", "account", other_root)
    await lms.db.grant(world.admin_id, "manage_outcomes", "account", other_root)
    contexts = [
        f"accounts/{world.account_id}",
        f"courses/{world.course_id}",  # same root account, through a course
        f"accounts/{other_root}",
        f"accounts/{world.sub_account_id}",
        f"accounts/{other_root}",
    ]
    posted = []
    for index, context in enumerate(contexts):
        body = "".join(f"g{index}-{n}\n" for n in range(6)).encode()
        response = await api.post(f"/api/v1/{context}/outcome_imports?import_type=slow",
                                  body=body, headers={"Content-Type": "text/plain"})
        posted.append((context, response.body["id"]))
    for context, import_id in posted:
        done = await api.wait_for_import(f"/api/v1/{context}/outcome_imports/{import_id}")
        assert done.body["workflow_state"] == "succeeded"

    runs = {
        import_id: (root, as_time(start), as_time(end))
        for import_id, root, start, end in tree.rows(
            "SELECT id, root_account_id, started_at, ended_at FROM lms_outcomes_imports")
    }
    for root in (world.account_id, other_root):
        mine = sorted(run for run in runs.items() if run[1][0] == root)
        starts = [start for _, (_, start, _) in mine]
        assert starts == sorted(starts)  # oldest first
        for (_, (_, _, end)), (_, (_, start, _)) in itertools.pairwise(mine):
            assert start >= end  # never two at once
    first_a, first_b = runs[posted[0][1]], runs[posted[2][1]]
    # the two root accounts' first imports overlapped
    assert first_b[1] < first_a[2]
    assert first_a[1] < first_b[2]
