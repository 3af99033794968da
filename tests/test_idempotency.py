"""``Idempotency-Key`` on create: a client that retries after a timeout does not import twice.
The same key from the same user, within 24 hours, answers with the first request's import; the
same key for another request is 422 naming what differs; while the first still uploads, 409."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import pytest

from lms_outcomes_plugin.models import utcnow
from tests.conftest import Api, World, until
from tests.store_tables import Tree
from tests.tree import G, csv_of

FILE = csv_of([G(vendor_guid="g1", title="One")])
OTHER_FILE = csv_of([G(vendor_guid="g2", title="Two")])


def reused(what: str) -> dict[str, Any]:
    return {"errors": [{"message": (
        f"This Idempotency-Key was used for a different request (another {what})"
    )}]}


STILL_UPLOADING = {"errors": [{"message": (
    "A request with this Idempotency-Key is still uploading; retry once it has been answered"
)}]}


@pytest.fixture
def plugin_settings(plugin_settings: dict[str, Any]) -> dict[str, Any]:
    return {**plugin_settings, "max_upload_bytes": 4096}


def imports_path(world: World) -> str:
    return f"/api/v1/accounts/{world.account_id}/outcome_imports"


def stored(tree: Tree) -> tuple[int, int]:
    return (tree.rows("SELECT COUNT(*) FROM lms_outcomes_imports")[0][0],
            tree.rows("SELECT COUNT(*) FROM lms_outcomes_attachments")[0][0])


def keyed(key: str) -> dict[str, str]:
    return {"Idempotency-Key": key}


async def age_keys(tree: Tree, column: str, by: timedelta) -> None:
    """Move every key's ``column`` (created_at or touched_at) back in time."""
    moment: datetime | str = utcnow() - by
    if tree.url.startswith("sqlite:"):
        moment = moment.isoformat()
    await tree.write(f"UPDATE lms_outcomes_idempotency_keys SET {column} = ?", moment)


@pytest.mark.gen_test(timeout=60)
async def test_a_retry_answers_with_the_first_import_and_stores_nothing(
    api: Api, world: World, tree: Tree
) -> None:
    first = await api.post_csv(imports_path(world), FILE, headers=keyed("retry-1"))
    assert first.status == 200
    after_first = stored(tree)

    again = await api.post_csv(imports_path(world), FILE, headers=keyed("retry-1"))
    # A multipart retry of the same file (another boundary, another body) is the same request.
    as_form = await api.post_multipart(
        imports_path(world), files={"attachment": ("any.csv", FILE, "text/csv")},
        headers=keyed("retry-1"),
    )

    for response in (again, as_form):
        assert response.status == 200
        assert response.body["id"] == first.body["id"]
    assert stored(tree) == after_first
    # Without a key, or with another one, the same file is another import.
    assert (await api.post_csv(imports_path(world), FILE)).body["id"] != first.body["id"]
    other = await api.post_csv(imports_path(world), FILE, headers=keyed("retry-2"))
    assert other.body["id"] != first.body["id"]


@pytest.mark.gen_test(timeout=60)
async def test_a_key_used_for_another_request_is_422_naming_what_differs(
    api: Api, world: World, tree: Tree
) -> None:
    path = imports_path(world)
    assert (await api.post_csv(path, FILE, headers=keyed("k"))).status == 200
    root = (await api.get(f"/api/v1/accounts/{world.account_id}/root_outcome_group",
                          follow_redirects=True)).body
    before = stored(tree)

    attempts = {
        "context": (f"/api/v1/courses/{world.course_id}/outcome_imports", FILE),
        "target group": (f"{path}/group/{root['id']}", FILE),
        "import_type, encoding or dry_run": (f"{path}?dry_run=true", FILE),
        "file": (path, OTHER_FILE),
    }
    for what, (url, body) in attempts.items():
        response = await api.post_csv(url, body, headers=keyed("k"))
        assert (response.status, response.body) == (422, reused(what)), what
    assert stored(tree) == before


@pytest.mark.gen_test(timeout=60)
async def test_keys_of_different_users_never_meet(
    api: Api, world: World, tree: Tree, lms: Any
) -> None:
    other_admin = await lms.db.create_user("Admin Chalmers", admin_of=world.account_id)
    other_token = await lms.db.create_token(other_admin)
    mine = await api.post_csv(imports_path(world), FILE, headers=keyed("shared"))
    theirs = await api.post_csv(imports_path(world), OTHER_FILE, headers=keyed("shared"),
                                token=other_token)
    assert (mine.status, theirs.status) == (200, 200)
    assert mine.body["id"] != theirs.body["id"]


@pytest.mark.gen_test(timeout=60)
async def test_two_concurrent_creates_with_one_key_make_one_import(
    api: Api, world: World, tree: Tree
) -> None:
    """The second arrives while the first uploads: 409, nothing stored; its retry once the
    first was answered gets the first's import."""
    reserved = asyncio.Event()

    async def slowly(write: Callable[[bytes], Any]) -> None:
        await write(FILE[:5])
        await reserved.wait()
        await write(FILE[5:])

    first = asyncio.ensure_future(api.post(
        imports_path(world), body_producer=slowly,
        headers={"Content-Type": "text/csv", **keyed("together")},
    ))
    await until(lambda: bool(tree.rows("SELECT 1 FROM lms_outcomes_idempotency_keys")))
    second = await api.post_csv(imports_path(world), FILE, headers=keyed("together"))
    reserved.set()

    assert (second.status, second.body) == (409, STILL_UPLOADING)
    answered = await first
    assert answered.status == 200
    retry = await api.post_csv(imports_path(world), FILE, headers=keyed("together"))
    assert (retry.status, retry.body["id"]) == (200, answered.body["id"])
    assert stored(tree) == (1, 1)


@pytest.mark.gen_test(timeout=60)
async def test_a_refused_request_frees_its_key(api: Api, world: World, tree: Tree) -> None:
    too_large = await api.post_csv(imports_path(world), b"x" * 5000, headers=keyed("big"))
    assert too_large.status == 413

    # The key is released as the refusal ends: a retry at once may still find it held.
    while True:
        retry = await api.post_csv(imports_path(world), FILE, headers=keyed("big"))
        if retry.status != 409:
            break
        await asyncio.sleep(0.01)
    assert retry.status == 200
    assert stored(tree) == (1, 1)


@pytest.mark.gen_test(timeout=60)
async def test_a_key_answers_for_a_day(api: Api, world: World, tree: Tree) -> None:
    first = await api.post_csv(imports_path(world), FILE, headers=keyed("daily"))
    await age_keys(tree, "created_at", timedelta(hours=23, minutes=59))
    same = await api.post_csv(imports_path(world), OTHER_FILE, headers=keyed("daily"))
    assert same.status == 422

    await age_keys(tree, "created_at", timedelta(hours=24, minutes=1))
    later = await api.post_csv(imports_path(world), OTHER_FILE, headers=keyed("daily"))
    assert later.status == 200
    assert later.body["id"] != first.body["id"]


@pytest.mark.gen_test(timeout=60)
async def test_an_abandoned_upload_frees_its_key_and_cannot_import_after_all(
    api: Api, world: World, tree: Tree
) -> None:
    """A first request whose body stopped arriving for two minutes is taken for dead (its
    process may have died before answering): a retry takes the key over. Should the first
    wake up and finish, it stores nothing."""
    resume = asyncio.Event()

    async def stalls(write: Callable[[bytes], Any]) -> None:
        await write(FILE[:5])
        await resume.wait()
        await write(FILE[5:])

    first = asyncio.ensure_future(api.post(
        imports_path(world), body_producer=stalls,
        headers={"Content-Type": "text/csv", **keyed("stalled")},
    ))
    await until(lambda: bool(tree.rows("SELECT 1 FROM lms_outcomes_idempotency_keys")))
    await age_keys(tree, "touched_at", timedelta(minutes=3))

    retry = await api.post_csv(imports_path(world), FILE, headers=keyed("stalled"))
    assert retry.status == 200
    resume.set()
    woke = await first
    assert (woke.status, woke.body) == (409, {"errors": [{"message": (
        "This request's upload stalled and another request took over its Idempotency-Key; "
        "nothing was stored"
    )}]})
    assert stored(tree) == (1, 1)


@pytest.mark.parametrize("key", ["", " spaced key", "x" * 256, "caf\u00e9"])
@pytest.mark.gen_test(timeout=60)
async def test_a_malformed_key_is_400(api: Api, world: World, tree: Tree, key: str) -> None:
    response = await api.post_csv(imports_path(world), FILE, headers=keyed(key))
    assert (response.status, response.body) == (400, {"error": (
        "Invalid Idempotency-Key: it must be 1 to 255 visible ASCII characters"
    )})
    assert stored(tree) == (0, 0)
