"""The windows of a takeover, at the store level, on both backends: a takeover is one decision,
taken on the locked import row, whatever transaction of the run is in flight (a batch after its
progress update, a finish after its update, a heartbeat); and a run whose import was taken over
writes nothing more, even once its own process has claimed the import anew.

Each test holds one store's transaction open at a named point (the store's test-only fault
hook) while a second store on the same database, as a second process would, tries to take the
import over; then lets it commit, and looks at what the takeover decided.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Sequence
from datetime import datetime
from typing import Any

import pytest

from lms_outcomes_plugin.storage import BatchWrite, GroupWrite, ImportTakenOver, Store
from lms_outcomes_plugin.storage.sql import SqlStore
from tests.store_tables import Tree
from tests.test_store_leases import ACCOUNT, opened, queue_one


class Hold:
    """A fault hook: the first transaction that reaches ``point`` waits there, its writes done
    and not committed, until released."""

    def __init__(self, point: str) -> None:
        self.point = point
        self.reached = asyncio.Event()
        self.released = asyncio.Event()

    async def __call__(self, point: str, claims: Sequence[str]) -> None:
        if point == self.point and not self.reached.is_set():
            self.reached.set()
            await self.released.wait()


@pytest.fixture
def hold(monkeypatch: pytest.MonkeyPatch) -> Any:
    def at(point: str) -> Hold:
        held = Hold(point)
        monkeypatch.setattr(SqlStore, "fault_hook", held)
        return held

    return at


async def write_batch(store: Store, import_id: int, claim: str, guid: str, row: int) -> None:
    """A batch of the run ``claim``: one new group and one row error."""
    root = await store.root_group(ACCOUNT, "District")
    async with store.batch(import_id, claim) as tx:
        [group_id], _ = await tx.reserve_ids(1, 0)
        await tx.apply(BatchWrite(
            import_id=import_id, runner=claim, progress=row,
            groups=[GroupWrite(group_id, ACCOUNT, guid, guid, "", "active", parent_id=root)],
            errors=[(row, f"row {row} is wrong")],
        ))


async def state_of(tree: Tree, import_id: int) -> tuple[str, str | None, int, list[Any], list[str]]:
    """The import's state, runner, takeovers, errors and the guids of the groups it stamped."""
    [(state, runner, takeovers)] = await tree.write(
        "SELECT workflow_state, runner_id, takeovers FROM lms_outcomes_imports WHERE id = ?",
        import_id,
    )
    errors = await tree.write(
        "SELECT row, message FROM lms_outcomes_import_errors WHERE outcome_import_id = ? "
        "ORDER BY row", import_id,
    )
    stamped = await tree.write(
        "SELECT vendor_guid FROM lms_outcomes_groups WHERE outcome_import_id = ? "
        "ORDER BY vendor_guid", import_id,
    )
    return state, runner, takeovers, [tuple(e) for e in errors], [g for (g,) in stamped]


async def waiting(task: asyncio.Task[Any], tree: Tree, backend: str) -> None:
    """Once ``task`` waits for the lock the held transaction has (it cannot end before)."""
    if backend == "postgresql":
        for _ in range(2000):  # 20 s at most
            [(waiters,)] = await tree.write(
                "SELECT COUNT(*) FROM pg_stat_activity "
                "WHERE datname = current_database() AND wait_event_type = 'Lock'"
            )
            if waiters:
                break
            await asyncio.sleep(0.01)
        assert waiters, "nothing waits for the held transaction's lock"
    else:
        # SQLite shows no waiter: give the task the time to reach BEGIN IMMEDIATE, where it
        # waits for the held writer (what follows holds whether it got there or not).
        await asyncio.sleep(0.1)
    assert not task.done()


def started(coroutine: Awaitable[Any]) -> asyncio.Task[Any]:
    return asyncio.ensure_future(coroutine)


@pytest.mark.gen_test(timeout=60)
async def test_a_takeover_waits_for_a_batch_in_flight_and_undoes_it_too(
    storage_url: str, storage_backend: str, tree: Tree, hold: Any, takeover_run: int,
) -> None:
    """Frozen after the batch's progress update, before its COMMIT: the takeover decides once
    the batch has committed, and clears that batch's errors and stamps with the others'."""
    async with opened(storage_url) as runner, opened(storage_url) as taker:
        import_id = await queue_one(runner)
        assert await runner.claim_next_import("run-1") is not None
        await write_batch(runner, import_id, "run-1", "g1", 2)
        held = hold("batch:before-commit")
        batch = started(write_batch(runner, import_id, "run-1", "g2", 3))
        await held.reached.wait()

        takeover = started(taker.requeue_stale_imports(0))
        await waiting(takeover, tree, storage_backend)
        held.released.set()
        await batch

        assert await takeover == 1
        assert await state_of(tree, import_id) == ("created", None, 1, [], [])
        assert sorted(tree.groups(("account", 1))) == ["ROOT", "g1", "g2"]  # the tree stays


@pytest.mark.gen_test(timeout=60)
async def test_a_takeover_waits_for_a_finish_in_flight_and_leaves_the_ended_import_whole(
    storage_url: str, storage_backend: str, tree: Tree, hold: Any, takeover_run: int,
) -> None:
    """Frozen after the finish update, before its COMMIT: the import ended, and the takeover
    leaves it as it ended, errors and stamps included."""
    async with opened(storage_url) as runner, opened(storage_url) as taker:
        import_id = await queue_one(runner)
        assert await runner.claim_next_import("run-1") is not None
        await write_batch(runner, import_id, "run-1", "g1", 2)
        held = hold("finish:before-commit")
        finish = started(runner.finish_import(import_id, "run-1", "succeeded"))
        await held.reached.wait()

        takeover = started(taker.requeue_stale_imports(0))
        await waiting(takeover, tree, storage_backend)
        held.released.set()

        assert (await finish).workflow_state == "succeeded"
        assert await takeover == 0
        assert await state_of(tree, import_id) == (
            "succeeded", "run-1", 0, [(2, "row 2 is wrong")], ["g1"]
        )


@pytest.mark.gen_test(timeout=60)
async def test_a_takeover_decides_on_the_lease_a_heartbeat_in_flight_renews(
    storage_url: str, storage_backend: str, tree: Tree, hold: Any, takeover_run: int,
) -> None:
    """Inside the heartbeat, before its COMMIT: the committed lease had lapsed, the renewed one
    has not. The takeover reads the lease as the heartbeat's commit left it, so it deletes
    nothing and the run goes on."""
    async with opened(storage_url) as runner, opened(storage_url) as taker:
        import_id = await queue_one(runner)
        assert await runner.claim_next_import("run-1") is not None
        await write_batch(runner, import_id, "run-1", "g1", 2)
        long_ago = datetime.fromisoformat("2000-01-01T00:00:00+00:00")
        await tree.write(
            "UPDATE lms_outcomes_imports SET heartbeat_at = ? WHERE id = ?",
            long_ago.isoformat() if storage_backend == "sqlite" else long_ago, import_id,
        )
        held = hold("heartbeat:before-commit")
        heartbeat = started(runner.heartbeat(["run-1"]))
        await held.reached.wait()

        takeover = started(taker.requeue_stale_imports(60))
        await waiting(takeover, tree, storage_backend)
        held.released.set()
        await heartbeat

        assert await takeover == 0
        assert await state_of(tree, import_id) == (
            "importing", "run-1", 0, [(2, "row 2 is wrong")], ["g1"]
        )
        await write_batch(runner, import_id, "run-1", "g2", 3)  # still the run's


@pytest.mark.gen_test(timeout=60)
async def test_a_run_taken_over_writes_nothing_more_even_once_its_process_claims_again(
    storage_url: str, storage_backend: str, tree: Tree, hold: Any, takeover_run: int,
) -> None:
    """A batch that begins while the takeover is in flight waits for it, then finds the import
    gone; and every write of the old run stays refused after its own process (here, the same
    store) claims the import anew for a new run."""
    async with opened(storage_url) as runner, opened(storage_url) as taker:
        import_id = await queue_one(runner)
        assert await runner.claim_next_import("run-1") is not None
        await write_batch(runner, import_id, "run-1", "g1", 2)
        held = hold("takeover:before-commit")
        takeover = started(taker.requeue_stale_imports(0))
        await held.reached.wait()

        late = started(write_batch(runner, import_id, "run-1", "late", 3))
        await waiting(late, tree, storage_backend)
        held.released.set()
        assert await takeover == 1
        with pytest.raises(ImportTakenOver):
            await late

        assert (await runner.claim_next_import("run-2")).id == import_id  # type: ignore[union-attr]
        with pytest.raises(ImportTakenOver):
            await write_batch(runner, import_id, "run-1", "stale", 4)
        await runner.heartbeat(["run-1"])
        await runner.requeue_import(import_id, "run-1")
        assert await runner.finish_import(import_id, "run-1", "succeeded") is None
        assert await state_of(tree, import_id) == ("importing", "run-2", 1, [], [])

        await write_batch(runner, import_id, "run-2", "g2", 2)
        ended = await runner.finish_import(import_id, "run-2", "succeeded")
        assert ended is not None
        assert await state_of(tree, import_id) == (
            "succeeded", "run-2", 1, [(2, "row 2 is wrong")], ["g2"]
        )
        assert "late" not in tree.groups(("account", 1))
        assert "stale" not in tree.groups(("account", 1))
