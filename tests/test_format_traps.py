"""Traps a format author falls into, through real imports over HTTP: a format that wraps its
source in ``io.TextIOWrapper`` (which closes it), and one that reads its file at once and
reports its progress itself."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Api, World
from tests.toy_formats import TrapsPlugin

#: ReadAllFormat's records after this many wait for the test to open the gate.
HOLD_AFTER = 20


@pytest.fixture
def gate(tmp_path: Path) -> Path:
    return tmp_path / "gate"


@pytest.fixture
def plugin_settings(plugin_settings: dict[str, Any], gate: Path) -> dict[str, Any]:
    return {**plugin_settings, "batch_size": 10,
            "extra_plugins": [TrapsPlugin(str(gate), HOLD_AFTER)]}


def imports_of(world: World) -> str:
    return f"/api/v1/accounts/{world.account_id}/outcome_imports"


@pytest.mark.gen_test(timeout=60)
async def test_a_format_may_let_a_text_wrapper_close_its_source(api: Api, world: World) -> None:
    body = "".join(f"g{n}\r\n\r\n" for n in range(25)).encode()
    created = await api.post(
        f"{imports_of(world)}?import_type=text_lines", body=body,
        headers={"Content-Type": "text/plain"},
    )

    done = await api.wait_for_import(f"{imports_of(world)}/{created.body['id']}")

    assert (done.body["workflow_state"], done.body["processing_errors"]) == ("succeeded", [])
    groups = await api.get(f"{imports_of(world)}/{created.body['id']}/created_group_ids")
    assert len(groups.body) == 25


@pytest.mark.gen_test(timeout=60)
async def test_a_format_that_reads_at_once_reports_its_own_progress(
    api: Api, world: World, gate: Path
) -> None:
    body = json.dumps([f"g{n}" for n in range(100)]).encode()
    created = await api.post(
        f"{imports_of(world)}?import_type=read_all", body=body,
        headers={"Content-Type": "application/json"},
    )
    status = f"{imports_of(world)}/{created.body['id']}"
    try:
        # The whole file was read before the first record: bytes read would say 99 here.
        while (half := await api.get(status)).body["progress"] == 0:
            assert half.body["workflow_state"] in ("created", "importing"), half.body
            await asyncio.sleep(0.01)
        assert half.body["workflow_state"] == "importing"
        assert 0 < half.body["progress"] <= HOLD_AFTER
    finally:
        await asyncio.to_thread(gate.touch)
    done = await api.wait_for_import(status)
    assert (done.body["workflow_state"], done.body["progress"]) == ("succeeded", 100)
