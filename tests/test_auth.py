"""Canvas's authentication and authorization answers on the plugin's routes, to the letter."""

from __future__ import annotations

import pytest

from lms_outcomes_plugin.host.app import EmbeddedHost
from tests.canvas_bodies import INVALID_TOKEN, NOT_FOUND, UNAUTHENTICATED, UNAUTHORIZED
from tests.conftest import Api, World, fixture_bytes


def imports_url(world: World) -> str:
    return f"/api/v1/accounts/{world.account_id}/outcome_imports"


async def user_with(lms: EmbeddedHost, *grants: tuple[str, str, int]) -> str:
    user = await lms.db.create_user("Someone")
    for permission, context_type, context_id in grants:
        await lms.db.grant(user, permission, context_type, context_id)
    return await lms.db.create_token(user)


@pytest.mark.gen_test
async def test_no_token(api: Api, world: World) -> None:
    for response in (
        await api.post_csv(imports_url(world), b"x", token=None),
        await api.get(f"{imports_url(world)}/latest", token=None),
    ):
        assert (response.status, response.body) == (401, UNAUTHENTICATED)
        assert response.headers["WWW-Authenticate"] == 'Bearer realm="canvas-lms"'


@pytest.mark.gen_test
async def test_bad_token(api: Api, world: World) -> None:
    response = await api.post_csv(imports_url(world), b"x", token="not-a-token")
    assert (response.status, response.body) == (401, INVALID_TOKEN)
    assert response.headers["WWW-Authenticate"] == 'Bearer realm="canvas-lms"'


@pytest.mark.gen_test
async def test_access_token_query_parameter(api: Api, world: World) -> None:
    url = f"{imports_url(world)}/latest?access_token={world.admin_token}"
    response = await api.get(url, token=None)
    assert response.status == 404  # authenticated: there is just no import yet
    assert set(response.body) == {"message"}


@pytest.mark.gen_test
async def test_user_without_permission_is_unauthorized(
    api: Api, world: World, lms: EmbeddedHost
) -> None:
    token = await user_with(lms, ("read_outcomes", "account", world.account_id))
    for response in (
        await api.post_csv(imports_url(world), b"x", token=token),
        await api.get(f"{imports_url(world)}/latest", token=token),
    ):
        assert (response.status, response.body) == (401, UNAUTHORIZED)
        assert "WWW-Authenticate" not in response.headers


@pytest.mark.gen_test
async def test_manage_without_import_cannot_create(
    api: Api, world: World, lms: EmbeddedHost
) -> None:
    """As Canvas: create needs import_outcomes; show accepts manage_outcomes."""
    manager = await user_with(lms, ("manage_outcomes", "account", world.account_id))
    importer = await user_with(lms, ("import_outcomes", "account", world.account_id))

    refused = await api.post_csv(imports_url(world), b"x", token=manager)
    accepted = await api.post_csv(
        imports_url(world), fixture_bytes("canvas/demo.csv"), token=importer
    )
    shown = await api.get(f"{imports_url(world)}/{accepted.body['id']}", token=manager)

    assert (refused.status, refused.body) == (401, UNAUTHORIZED)
    assert accepted.status == 200
    assert shown.status == 200


@pytest.mark.gen_test
async def test_unknown_context_is_canvas_404(api: Api) -> None:
    for path in ("/api/v1/accounts/9999/outcome_imports", "/api/v1/courses/abc/outcome_imports"):
        response = await api.post_csv(path, b"x")
        assert (response.status, response.body) == (404, NOT_FOUND)
