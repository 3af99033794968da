"""Progress (our decision 4): an integer measured by bytes read, never above 100, never going
back, 100 at the end, whatever the line endings (Canvas's counts physical lines: a CR-only
file jumps to 1300)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from benchmarks.generate import write
from tests.conftest import Api, World, fixture_bytes


@pytest.fixture
def plugin_settings(plugin_settings: dict[str, Any]) -> dict[str, Any]:
    return {**plugin_settings, "batch_size": 100}


async def progress_of(api: Api, world: World, body: bytes) -> list[int]:
    """Every progress value a client polling as fast as it can sees, in order."""
    imports = f"/api/v1/accounts/{world.account_id}/outcome_imports"
    created = await api.post_csv(imports, body)
    seen = [created.body["progress"]]
    while True:
        status = await api.get(f"{imports}/{created.body['id']}")
        seen.append(status.body["progress"])
        if status.body["workflow_state"] in ("succeeded", "failed"):
            assert status.body["workflow_state"] == "succeeded", status.body
            return seen
        await asyncio.sleep(0.005)


def assert_sane(seen: list[int]) -> None:
    assert all(isinstance(value, int) and 0 <= value <= 100 for value in seen), seen
    assert seen == sorted(seen), seen  # never goes back
    assert seen[0] == 0
    assert seen[-1] == 100


@pytest.mark.gen_test(timeout=60)
async def test_progress_grows_by_bytes_to_100(api: Api, world: World, tmp_path: Path) -> None:
    body = write(6_000, tmp_path / "big.csv").read_bytes()

    seen = await progress_of(api, world, body)

    assert_sane(seen)
    assert any(0 < value < 100 for value in seen), seen  # measured along the way


@pytest.mark.gen_test(timeout=30)
@pytest.mark.parametrize("name", ["nor-excel.csv", "nor.csv"])
async def test_cr_only_and_multiline_files(api: Api, world: World, name: str) -> None:
    assert_sane(await progress_of(api, world, fixture_bytes(f"canvas/{name}")))
