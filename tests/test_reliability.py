"""Reliability (issue 8): a SIGKILL mid-import loses nothing, leaves only whole batches and is
repaired by importing again; a second server started beside a running one leaves its import
alone; many concurrent uploads all end, in order per root account, with correct trees, while
status reads stay correct.

The kill tests run ``lms-outcomes serve`` for real (tests/reliability_helpers.py); one module
fixture kills it once, and each test works on the database the kill left. No assertion is about
time: waits poll the state, with generous deadlines.
"""

from __future__ import annotations

import asyncio
import functools
import itertools
import os
import sqlite3
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import pytest
from tornado.httpclient import AsyncHTTPClient
from tornado.httpserver import HTTPServer

from lms_outcomes_plugin.host.app import EmbeddedHost
from lms_outcomes_plugin.imports.parsing import WORKER_NICENESS
from lms_outcomes_plugin.storage.sql import as_time
from tests.conftest import Api, World
from tests.reliability_helpers import (
    BOGUS_METHOD_ERROR,
    ENDED,
    STATE_RANK,
    OutcomesFile,
    Serve,
    copy_db,
    db_rows,
    descendants_of,
    error_rows,
    has_exited,
    import_rows,
    orphans,
    tree_of,
)
from tests.tree import Tree

#: Rows per batch: the file below then has 100 batches, each of 20 groups, 179 outcomes and one
#: row error (every 10th row is a group, every 200th an outcome with a bogus method).
BATCH = 200
FIRST = OutcomesFile(20_000, seed=1, prefix="a-", bad_every=BATCH)
SECOND = OutcomesFile(2_000, seed=2, prefix="b-")
GROUPS_PER_BATCH = BATCH // 10
BATCHES = FIRST.count // BATCH
CONTEXT = "accounts/1"  # the root account `serve` creates on an empty database
ACCOUNT = ("account", 1)
# A short lease: a restarted server takes back the killed one's import within seconds.
LEASE = 2
SETTINGS = (f"lms_outcomes.batch_size={BATCH}", f"lms_outcomes.import_lease={LEASE}")
NO_ORPHANS = {
    "links without their outcome": 0,
    "links without their group": 0,
    "groups without their parent": 0,
    "outcomes without an active link": 0,
    "errors without their import": 0,
}


@functools.cache
def body(file: OutcomesFile) -> bytes:
    return file.body()


def linked(expected: dict[str, str]) -> dict[str, list[str]]:
    """Outcome guid -> parent guid, as :func:`tree_of` reads links: exactly one each."""
    return {guid: [parent] for guid, parent in expected.items()}


def full_tree(*files: OutcomesFile) -> tuple[dict[str, str], dict[str, list[str]]]:
    groups: dict[str, str] = {}
    outcomes: dict[str, str] = {}
    for file in files:
        expected = file.expected()
        groups.update(expected.groups)
        outcomes.update(expected.outcomes)
    return groups, linked(outcomes)


def assert_row_errors(db: Path, import_id: int, file: OutcomesFile) -> None:
    """The import recorded each of the file's row errors once, and nothing else."""
    errors = error_rows(db, import_id)
    expected = file.expected().errors
    unexpected = [error for error in errors if error[1] != BOGUS_METHOD_ERROR]
    assert [row for row, _ in errors] == expected, (
        f"{len(errors)} row errors stored for the file's {len(expected)} bad rows, "
        f"{len(errors) - len({row for row, _ in errors})} of them twice; "
        f"other messages: {unexpected[:3]}"
    )
    assert unexpected == []


# -- a SIGKILL mid-import ----------------------------------------------------------------------


@dataclass(frozen=True)
class Killed:
    #: The database of the killed server, where it was (restarted in place by one test).
    db: Path
    #: A copy taken right after the kill, before anything opened the database again.
    snapshot: Path
    #: FIRST's import, `importing` at the kill, and SECOND's, queued (`created`) behind it.
    first: int
    second: int


@pytest.fixture(scope="module")
def killed(tmp_path_factory: pytest.TempPathFactory) -> Killed:
    """Serve, POST FIRST then SECOND to one root account, SIGKILL the server once FIRST has
    committed a batch or more but is still importing."""
    base = tmp_path_factory.mktemp("killed")
    db = base / "lms.db"
    server = Serve(db, base / "before", *SETTINGS)
    try:
        first = server.post_import(CONTEXT, body(FIRST))["id"]
        second = server.post_import(CONTEXT, body(SECOND))["id"]
        server.wait_for_progress(CONTEXT, first)
    finally:
        server.kill()
    snapshot = copy_db(db, base / "snapshot")
    states = {i: row["workflow_state"] for i, row in import_rows(snapshot).items()}
    # The premise of every test below: killed with one import running and one queued.
    assert states == {first: "importing", second: "created"}
    return Killed(db, snapshot, first, second)


def test_kill_leaves_whole_batches_only(killed: Killed) -> None:
    """Crash safety: as the SIGKILL left it, the tree is FIRST's first k batches exactly, each
    whole (its groups, its outcomes with their links, its row error), and nothing dangles."""
    db = killed.snapshot
    groups, outcomes = tree_of(db, ACCOUNT)
    batches, rest = divmod(len(groups), GROUPS_PER_BATCH)
    assert rest == 0, f"{len(groups)} groups: a batch was applied in part"
    assert 1 <= batches < BATCHES  # progress > 0 was read, and the import had not ended
    applied = FIRST.expected(first_rows=batches * BATCH)
    assert groups == applied.groups
    assert outcomes == linked(applied.outcomes)
    assert [row for row, _ in error_rows(db, killed.first)] == applied.errors
    assert error_rows(db, killed.second) == []
    assert orphans(db) == NO_ORPHANS
    imports = import_rows(db)
    assert imports[killed.first]["progress"] > 0
    assert imports[killed.second]["progress"] == 0


def test_restart_after_kill_finishes_both_imports_in_order(killed: Killed, tmp_path: Path) -> None:
    """Restart: on the killed server's database, the interrupted import runs again from the start
    and the queued one after it; both succeed with the full tree and no error twice."""
    # Past the killed runner's lease, so the new server takes the import back as it starts
    # (before it serves): status then never goes back from importing to created.
    time.sleep(LEASE + 1)
    server = Serve(killed.db, tmp_path / "after", *SETTINGS)
    try:
        first = server.wait_until_ended(CONTEXT, killed.first)
        second = server.wait_until_ended(CONTEXT, killed.second)
        created = {
            import_id: server.request(
                "GET", f"/api/v1/{CONTEXT}/outcome_imports/{import_id}/created_group_ids"
            )
            for import_id in (killed.first, killed.second)
        }
        exit_status = server.terminate()
    finally:
        server.kill()
    assert exit_status == 0, server.output()
    assert "Traceback" not in server.output()

    assert (first["workflow_state"], first["progress"]) == ("succeeded", 100)
    assert (second["workflow_state"], second["progress"]) == ("succeeded", 100)
    expected_errors = FIRST.expected().errors
    assert [row for row, _ in first["processing_errors"]] == expected_errors[:25]
    assert second["processing_errors"] == []

    runs = import_rows(killed.db)
    one, two = runs[killed.first], runs[killed.second]
    # In creation order, one at a time (both started again after the restart).
    assert datetime.fromisoformat(one["started_at"]) < datetime.fromisoformat(two["started_at"])
    assert datetime.fromisoformat(one["ended_at"]) <= datetime.fromisoformat(two["started_at"])

    assert tree_of(killed.db, ACCOUNT) == full_tree(FIRST, SECOND)
    assert orphans(killed.db) == NO_ORPHANS
    assert_row_errors(killed.db, killed.first, FIRST)  # the first run's are not kept twice
    assert error_rows(killed.db, killed.second) == []
    counts = db_rows(
        killed.db,
        "SELECT (SELECT COUNT(*) FROM lms_outcomes_groups WHERE NOT is_root), "
        "(SELECT COUNT(*) FROM lms_outcomes_outcomes), "
        "(SELECT COUNT(*) FROM lms_outcomes_links WHERE workflow_state = 'active')",
    )
    outcomes = len(FIRST.expected().outcomes) + len(SECOND.expected().outcomes)
    assert counts == [(FIRST.count // 10 + SECOND.count // 10, outcomes, outcomes)]
    # Every group counts as the import's again, whichever run created it.
    assert created[killed.first][0] == 200
    assert len(created[killed.first][1]) == FIRST.count // 10
    assert created[killed.second][0] == 200
    assert len(created[killed.second][1]) == SECOND.count // 10


def test_reimporting_the_file_after_a_kill_repairs_the_tree(killed: Killed, tmp_path: Path) -> None:
    """Crash safety: a fresh import of the same file over the partial tree the kill left
    completes it, with the file's own row errors and no other.

    The interrupted import is first marked failed, as a host that gives up on interrupted
    imports would (issue 8 allows either), so that only the fresh import can repair the tree.
    """
    db = copy_db(killed.snapshot, tmp_path / "db")
    connection = sqlite3.connect(db)
    try:
        with connection:
            connection.execute(
                "UPDATE lms_outcomes_imports SET workflow_state = 'failed', ended_at = "
                "updated_at WHERE id = ?",
                (killed.first,),
            )
    finally:
        connection.close()
    partial = tree_of(db, ACCOUNT)
    assert 0 < len(partial[0]) < FIRST.count // 10

    server = Serve(db, tmp_path / "after", *SETTINGS)
    try:
        again = server.post_import(CONTEXT, body(FIRST))["id"]
        second = server.wait_until_ended(CONTEXT, killed.second)
        repaired = server.wait_until_ended(CONTEXT, again)
        interrupted = server.status(CONTEXT, killed.first)
        exit_status = server.terminate()
    finally:
        server.kill()
    assert exit_status == 0, server.output()
    assert "Traceback" not in server.output()

    assert interrupted["workflow_state"] == "failed"  # not resumed: left as marked
    assert (second["workflow_state"], second["processing_errors"]) == ("succeeded", [])
    assert (repaired["workflow_state"], repaired["progress"]) == ("succeeded", 100)
    assert tree_of(db, ACCOUNT) == full_tree(FIRST, SECOND)
    assert orphans(db) == NO_ORPHANS
    assert_row_errors(db, again, FIRST)


def test_a_second_server_leaves_the_running_import_alone(tmp_path: Path) -> None:
    """Restart, rolling: a second `serve` started on the same database while the first one runs
    an import (a rolling restart, or two hosts sharing one store, as `poll_interval` intends)
    must not take the import over. It is not "interrupted": it goes on in the first server
    alone and ends with the full tree and each of its row errors once."""
    db = tmp_path / "lms.db"
    first_server = Serve(db, tmp_path / "first", *SETTINGS)
    try:
        import_id = first_server.post_import(CONTEXT, body(FIRST))["id"]
        first_server.wait_for_progress(CONTEXT, import_id)
        second_server = Serve(db, tmp_path / "second", *SETTINGS)
        try:
            ended = first_server.wait_until_ended(CONTEXT, import_id)
            second_exit = second_server.terminate()
        finally:
            second_server.kill()
        first_exit = first_server.terminate()
    finally:
        first_server.kill()
    assert (first_exit, second_exit) == (0, 0), first_server.output() + second_server.output()
    assert (ended["workflow_state"], ended["progress"]) == ("succeeded", 100)
    assert_row_errors(db, import_id, FIRST)
    assert tree_of(db, ACCOUNT) == full_tree(FIRST)
    assert orphans(db) == NO_ORPHANS
    assert f"import {import_id} started" not in second_server.output()


# -- concurrency -------------------------------------------------------------------------------


@dataclass
class Poller:
    """Reads the status of every posted import, round after round, until all have ended: every
    answer must be 200 with a valid state, and neither state nor progress may go back."""

    api: Api
    posted: dict[int, str]  # import id -> its context path
    last: dict[int, tuple[str, int]]
    rounds: int = 0
    in_flight_seen: int = 0

    async def read(self, import_id: int, context: str) -> None:
        response = await self.api.get(f"/api/v1/{context}/outcome_imports/{import_id}")
        assert response.status == 200, response.body
        state, progress = response.body["workflow_state"], response.body["progress"]
        assert response.body["id"] == import_id
        assert state in STATE_RANK, response.body
        assert 0 <= progress <= 100, response.body
        before_state, before_progress = self.last.get(import_id, ("created", 0))
        assert STATE_RANK[state] >= STATE_RANK[before_state], (before_state, response.body)
        assert progress >= before_progress, (before_progress, response.body)
        if state not in ENDED:
            self.in_flight_seen += 1
        self.last[import_id] = (state, progress)

    async def run(self, all_posted: asyncio.Event) -> None:
        deadline = asyncio.get_running_loop().time() + 90
        while True:
            posted = all_posted.is_set()
            await asyncio.gather(*(self.read(i, c) for i, c in list(self.posted.items())))
            self.rounds += 1
            if posted and all(self.last[i][0] in ENDED for i in self.posted):
                return
            assert asyncio.get_running_loop().time() < deadline, self.last
            await asyncio.sleep(0.01)


async def root_accounts(lms: EmbeddedHost, world: World, count: int) -> list[int]:
    """The world's root account and ``count - 1`` more, all administered by the world's admin."""
    accounts = [world.account_id]
    for number in range(1, count):
        account = await lms.db.create_account(f"District {number}")
        for permission in ("import_outcomes", "manage_outcomes"):
            await lms.db.grant(world.admin_id, permission, "account", account)
        accounts.append(account)
    return accounts


@pytest.mark.parametrize(
    ("roots", "uploads"), [(5, 50), (1, 12)], ids=["50-over-5-root-accounts", "12-to-one-account"]
)
@pytest.mark.gen_test(timeout=120)
async def test_concurrent_uploads_end_in_order_with_correct_trees(
    roots: int,
    uploads: int,
    lms: EmbeddedHost,
    world: World,
    http_server: HTTPServer,
    base_url: str,
    tree: Tree,
) -> None:
    """Concurrency: all uploads, POSTed at once, end `succeeded`; per root account they ran one at
    a time in creation order; every tree is right; and status reads made all along the way
    answer 200 with a valid state, neither state nor progress ever going back."""
    accounts = await root_accounts(lms, world, roots)
    # Every upload is its own small file: 2 groups (one inside the other) and 18 outcomes.
    files = [
        (accounts[number % roots], OutcomesFile(20, seed=number, prefix=f"u{number}-"))
        for number in range(uploads)
    ]
    client = AsyncHTTPClient(force_instance=True, max_clients=2 * uploads)
    try:
        api = Api(client, base_url, token=world.admin_token)
        poller = Poller(api, {}, {})
        all_posted = asyncio.Event()

        async def upload(account: int, file: OutcomesFile) -> int:
            context = f"accounts/{account}"
            response = await api.post_csv(f"/api/v1/{context}/outcome_imports", file.body())
            assert response.status == 200, response.body
            assert response.body["workflow_state"] == "created", response.body
            poller.posted[response.body["id"]] = context
            return int(response.body["id"])

        polling = asyncio.create_task(poller.run(all_posted))
        try:
            ids = await asyncio.gather(*(upload(account, file) for account, file in files))
        finally:
            all_posted.set()
        await polling
        final = [
            await api.get(f"/api/v1/accounts/{account}/outcome_imports/{import_id}")
            for import_id, (account, _) in zip(ids, files, strict=True)
        ]
    finally:
        client.close()

    assert len(set(ids)) == uploads
    for response in final:
        assert response.status == 200
        body = response.body
        assert (body["workflow_state"], body["progress"], body["processing_errors"]) == (
            "succeeded",
            100,
            [],
        ), body
    assert poller.rounds > 1
    assert poller.in_flight_seen > 0  # the reads did overlap running and queued imports

    # Per root account, one at a time in creation (id) order.
    runs = import_rows(tree)
    for account in accounts:
        mine = sorted(i for i, (a, _) in zip(ids, files, strict=True) if a == account)
        assert mine
        assert all(runs[i]["root_account_id"] == account for i in mine)
        starts = [as_time(runs[i]["started_at"]) for i in mine]
        ends = [as_time(runs[i]["ended_at"]) for i in mine]
        assert starts == sorted(starts), mine
        for (_, end), (start, _) in itertools.pairwise(zip(starts, ends, strict=True)):
            assert end <= start, mine  # never two at once

    # Every file's groups and outcomes exactly once, in its own account, and nothing else.
    for account in accounts:
        mine_files = [file for a, file in files if a == account]
        assert tree_of(tree, ("account", account)) == full_tree(*mine_files)
    assert orphans(tree) == NO_ORPHANS
    total = tree.rows("SELECT COUNT(*) FROM lms_outcomes_outcomes")[0][0]
    assert total == 18 * uploads


# -- the parse worker after a SIGKILL ------------------------------------------------------------


def test_the_parse_worker_exits_when_the_server_is_killed(tmp_path: Path) -> None:
    """A SIGKILLed server cannot shut its parse worker down: the worker (and multiprocessing's
    helpers beside it: the fork server, the resource tracker) must end on their own rather than
    live on as orphans."""
    server = Serve(tmp_path / "lms.db", tmp_path / "logs", *SETTINGS)
    try:
        import_id = server.post_import(CONTEXT, body(FIRST))["id"]
        server.wait_for_progress(CONTEXT, import_id)  # the worker is parsing FIRST
        processes = descendants_of(server.process.pid)
        host_niceness = os.getpriority(os.PRIO_PROCESS, server.process.pid)
        worker_niceness = min(19, host_niceness + WORKER_NICENESS)
        assert any(nice == worker_niceness for _, nice in processes.values()), processes
        server.crash()
        deadline = time.monotonic() + 30
        while not all(has_exited(pid) for pid in processes):
            assert time.monotonic() < deadline, {
                pid: cmdline for pid, (cmdline, _) in processes.items() if not has_exited(pid)
            }
            time.sleep(0.05)
    finally:
        server.kill()
