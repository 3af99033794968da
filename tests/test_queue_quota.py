"""A root account's queue has a bound (``max_queued_imports``): past it, a create is 429 and
nothing is stored, while other root accounts import as usual."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest

from tests.conftest import Api, World
from tests.toy_formats import SlowPlugin
from tests.tree import G, Tree, csv_of, run_import

LIMIT = 3
QUEUE_FULL = {"errors": [{"message": (
    "Too many outcome imports are waiting in this root account (the limit is 3); try again "
    "once some have finished"
)}]}


@pytest.fixture
def plugin_settings(plugin_settings: dict[str, Any]) -> dict[str, Any]:
    # The slow format keeps the first import running while the others wait behind it.
    return {**plugin_settings, "max_queued_imports": LIMIT, "batch_size": 1,
            "extra_plugins": [SlowPlugin(pause=0.05)]}


async def started(api: Api, path: str, response: Any) -> None:
    """Wait until the import has left the queue (claimed): only then are the others counted
    as all that waits, whatever the parse worker's start-up took."""
    status = f"{path}/{response.body['id']}"
    for _ in range(3000):
        if (await api.get(status)).body["workflow_state"] != "created":
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"{status} never started")


def counts(tree: Tree) -> tuple[int, int]:
    return (tree.rows("SELECT COUNT(*) FROM lms_outcomes_imports")[0][0],
            tree.rows("SELECT COUNT(*) FROM lms_outcomes_attachments")[0][0])


@pytest.mark.gen_test(timeout=60)
async def test_a_full_queue_refuses_with_429_and_stores_nothing(
    api: Api, world: World, tree: Tree
) -> None:
    path = f"/api/v1/accounts/{world.account_id}/outcome_imports"
    slow = b"".join(f"g{n}\n".encode() for n in range(200))
    running = await api.post_csv(f"{path}?import_type=slow", slow)
    await started(api, path, running)
    waiting = [await api.post_csv(path, csv_of([G(vendor_guid=f"w{n}")])) for n in range(LIMIT)]
    assert [r.status for r in (running, *waiting)] == [200] * (LIMIT + 1)
    before = counts(tree)

    raw = await api.post_csv(path, csv_of([G(vendor_guid="refused")]))
    multipart = await api.post_multipart(
        path, files={"attachment": ("x.csv", csv_of([G(vendor_guid="refused")]), "text/csv")}
    )
    # In a course of the same root account too.
    in_course = await api.post_csv(f"/api/v1/courses/{world.course_id}/outcome_imports",
                                   csv_of([G(vendor_guid="refused")]))

    for response in (raw, multipart, in_course):
        assert (response.status, response.body) == (429, QUEUE_FULL)
    assert counts(tree) == before


@pytest.mark.gen_test(timeout=60)
async def test_the_queue_takes_imports_again_once_it_drains(
    api: Api, world: World, tree: Tree
) -> None:
    context = f"accounts/{world.account_id}"
    for n in range(LIMIT + 2):  # one after another: never more than one waits
        done = await run_import(api, context, csv_of([G(vendor_guid=f"g{n}")]))
        assert done["workflow_state"] == "succeeded"


@pytest.mark.gen_test(timeout=60)
async def test_uploads_that_arrive_together_cannot_overfill_the_queue(
    api: Api, world: World, tree: Tree
) -> None:
    """Each passes the early check while the others are still uploading: the check made as
    the import is queued refuses the extra ones, and their uploads are deleted."""
    path = f"/api/v1/accounts/{world.account_id}/outcome_imports"
    slow = b"".join(f"g{n}\n".encode() for n in range(200))
    running = await api.post_csv(f"{path}?import_type=slow", slow)
    assert running.status == 200
    await started(api, path, running)
    body = csv_of([G(vendor_guid="g")])

    async def trickle(write: Callable[[bytes], Any]) -> None:
        await write(body[:5])
        await asyncio.sleep(1)  # every upload has passed the early check by now
        await write(body[5:])

    together = await asyncio.gather(*(
        api.post(path, body_producer=trickle, headers={"Content-Type": "text/csv"})
        for _ in range(LIMIT + 2)
    ))

    assert sorted(response.status for response in together) == [200] * LIMIT + [429] * 2
    assert counts(tree) == (LIMIT + 1, LIMIT + 1)  # no upload left behind by a refusal
