"""The host mounts the plugin's routes under its own base URL."""

from __future__ import annotations

import pytest

from tests.conftest import Api, World, fixture_bytes


@pytest.fixture
def host_base_url() -> str:
    return "/lms"


@pytest.mark.gen_test
async def test_routes_answer_under_a_non_root_base_url(api: Api, world: World) -> None:
    assert api.root.endswith("/lms")
    imports = f"/api/v1/accounts/{world.account_id}/outcome_imports"

    created = await api.post_csv(imports, fixture_bytes("canvas/demo.csv"))
    done = await api.wait_for_import(f"{imports}/{created.body['id']}")

    assert done.body["workflow_state"] == "succeeded"
    outside = await api.client.fetch(
        api.root.removesuffix("/lms") + imports + "/latest", raise_error=False
    )
    assert outside.code == 404
