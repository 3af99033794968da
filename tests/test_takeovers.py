"""Takeovers that never lose or double a row (issue 16): two real ``lms-outcomes serve``
processes on one store (a SQLite file, or a PostgreSQL database), one of them frozen with
SIGSTOP at an exact point of its import, the other left to take the import over, then resumed.

Each scenario freezes the run where a takeover used to go wrong (tests/takeover_faults.py):
after a batch's progress update and before its COMMIT; after the finish update and before its
COMMIT; inside the heartbeat; between two batches, with the taker itself frozen inside its
takeover and the runner's own process claiming the import anew. Whatever the scenario, the
import must end as a clean import of the file ends: the same groups, outcomes and links, each
row error once, every group in created_group_ids; it ended once, started once more if it was
taken over, and the run taken over wrote nothing after that.

The points are reached in an order the scenarios force (a frozen process does nothing), never
by racing a lease: every wait below polls a state, with generous deadlines. ``make test`` runs
each scenario once per backend; ``make fuzz-takeover`` runs them many times.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import sys
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from lms_outcomes_plugin.host.db import HostDatabase
from lms_outcomes_plugin.imports.runner import TAKEN_OVER
from tests import takeover_faults
from tests.reliability_helpers import (
    ADMIN_TOKEN,
    BOGUS_METHOD_ERROR,
    OutcomesFile,
    Serve,
    error_rows,
    is_stopped,
    orphans,
    tree_of,
)
from tests.store_tables import Tree

BATCH = 200
#: 10 batches, each of 20 groups, 179 outcomes and one row error.
FILE = OutcomesFile(2_000, seed=16, prefix="t-", bad_every=BATCH)
CONTEXT = "accounts/1"
ACCOUNT = ("account", 1)
LEASE = 2.0
POLL = 0.1
SETTINGS = (
    f"lms_outcomes.batch_size={BATCH}", f"lms_outcomes.import_lease={LEASE}",
    f"lms_outcomes.poll_interval={POLL}",
)
STARTED = re.compile(r"import (\d+) started")
ENDED = re.compile(r"import (\d+) ended (\w+)")
DEADLINE = 60.0


def wait_until(done: Callable[[], Any], what: str, timeout: float = DEADLINE) -> Any:
    deadline = time.monotonic() + timeout
    while not (found := done()):
        assert time.monotonic() < deadline, f"still waiting for {what}"
        time.sleep(0.02)
    return found


@dataclass
class Faulted:
    """Two servers playing a scenario of tests/takeover_faults.py on one store."""

    hosts: list[Serve]
    folder: Path
    tree: Tree
    backend: str
    import_id: int = 0
    #: How many lines of each process's points had been written when it was last resumed.
    resumed_at: dict[int, int] = field(default_factory=dict)
    _freezes_seen: dict[int, int] = field(default_factory=dict)

    def points(self, host: Serve) -> list[dict[str, Any]]:
        path = self.folder / f"points-{host.process.pid}.jsonl"
        return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []

    def runner(self) -> dict[str, Any]:
        return json.loads((self.folder / takeover_faults.RUNNER).read_text())

    def host(self, pid: int) -> Serve:
        return next(host for host in self.hosts if host.process.pid == pid)

    def frozen_at(self, point: str) -> tuple[Serve, dict[str, Any]]:
        """The process that froze itself at ``point`` (a freeze not returned before), once it
        has stopped."""

        def new_freeze() -> tuple[Serve, dict[str, Any]] | None:
            for host in self.hosts:
                freezes = [p for p in self.points(host) if p["frozen"]]
                seen = self._freezes_seen.get(host.process.pid, 0)
                if len(freezes) > seen and is_stopped(host.process.pid):
                    assert freezes[seen]["point"] == point, (freezes[seen], point)
                    self._freezes_seen[host.process.pid] = seen + 1
                    return host, freezes[seen]
                assert host.process.poll() is None, f"a server died:\n{host.output()}"
            return None

        return wait_until(new_freeze, f"a process frozen at {point}")  # type: ignore[no-any-return]

    def resume(self, host: Serve) -> None:
        self.resumed_at[host.process.pid] = len(self.points(host))
        os.kill(host.process.pid, signal.SIGCONT)

    def lock_waiters(self) -> int:
        return int(self.tree.rows(
            "SELECT COUNT(*) FROM pg_stat_activity "
            "WHERE datname = current_database() AND wait_event_type = 'Lock'"
        )[0][0])

    def taker_tried(self, freeze: dict[str, Any]) -> None:
        """Once the frozen run's lease has lapsed, even as its open transaction renews it, and
        the other process has tried to take it over: on PostgreSQL it waits for the row lock
        (seen); SQLite's waiter, queued on the file's write lock, shows nowhere, so it is given
        two polls' time (what follows holds either way)."""
        wait_until(lambda: time.time() > freeze["at"] + LEASE + 2 * POLL, "the lease to lapse")
        if self.backend == "postgresql":
            wait_until(self.lock_waiters, "the taker to wait for the frozen run's row lock")

    def takeovers(self) -> int:
        return int(self.tree.rows(
            "SELECT takeovers FROM lms_outcomes_imports WHERE id = ?", self.import_id
        )[0][0])

    def ended(self) -> bool:
        [(state,)] = self.tree.rows(
            "SELECT workflow_state FROM lms_outcomes_imports WHERE id = ?", self.import_id
        )
        return state in ("succeeded", "failed")


# -- the scenarios: what the test does at each freeze ---------------------------------------------


def progress(f: Faulted) -> int:
    runner, freeze = f.frozen_at("batch:before-commit")
    f.taker_tried(freeze)
    f.resume(runner)  # the batch commits; on PostgreSQL the waiting takeover decides right then
    f.frozen_at("batch:committed")
    wait_until(f.takeovers, "the takeover")
    f.resume(runner)
    return 1


def finish(f: Faulted) -> int:
    runner, freeze = f.frozen_at("finish:before-commit")
    f.taker_tried(freeze)
    f.resume(runner)  # the import ends; a takeover that waited finds nothing to take
    f.frozen_at("finish:committed")
    f.resume(runner)
    return 0


def heartbeat(f: Faulted) -> int:
    runner, freeze = f.frozen_at("heartbeat:before-commit")
    f.taker_tried(freeze)
    f.resume(runner)
    f.frozen_at("heartbeat:committed")
    wait_until(f.takeovers, "the takeover")
    f.resume(runner)  # and the run, held since its third batch, goes on
    return 1


def between(f: Faulted) -> int:
    runner, _ = f.frozen_at("batch:committed")
    taker, _ = f.frozen_at("takeover:before-commit")
    f.resume(runner)
    if f.backend == "postgresql":  # the runner's process waits for the takeover's row lock
        wait_until(f.lock_waiters, "the runner's process to wait for the takeover")
    f.resume(taker)
    f.frozen_at("takeover:committed")
    wait_until(
        lambda: any(p["point"] == "claim:committed" for p in f.points(runner)[
            f.resumed_at[runner.process.pid]:]),
        "the runner's process to claim the import anew",
    )
    f.resume(taker)
    return 1


SCENARIOS = {play.__name__: play for play in (progress, finish, heartbeat, between)}


# -- the test ------------------------------------------------------------------------------------


async def bootstrap(path: Path) -> None:
    async with HostDatabase(path) as db:
        await db.bootstrap(ADMIN_TOKEN)


@pytest.fixture
def faulted(
    request: pytest.FixtureRequest, storage_backend: str, storage_url: str, db_path: Path,
    tmp_path: Path, takeover_run: int,
) -> Iterator[Faulted]:
    scenario = request.node.callspec.params["scenario"]
    host_db = db_path if storage_backend == "sqlite" else tmp_path / "host.db"
    asyncio.run(bootstrap(host_db))
    folder = tmp_path / "faults"
    folder.mkdir()
    command = (sys.executable, Path(takeover_faults.__file__), scenario, folder)
    tree = Tree(storage_url)
    with ThreadPoolExecutor(2) as pool:  # started side by side: each takes a second or so
        starting = [
            pool.submit(Serve, host_db, tmp_path / name, *SETTINGS, storage=storage_url,
                        command=command)
            for name in ("a", "b")
        ]
    hosts = [future.result() for future in starting if future.exception() is None]
    try:
        assert len(hosts) == 2, [future.exception() for future in starting]
        yield Faulted(hosts, folder, tree, storage_backend)
    finally:
        for host in hosts:
            host.kill()
        tree.close()


@pytest.mark.parametrize("scenario", list(SCENARIOS))
def test_a_frozen_runner_loses_and_doubles_nothing(scenario: str, faulted: Faulted) -> None:
    f = faulted
    f.import_id = f.hosts[0].post_import(CONTEXT, FILE.body())["id"]
    takeovers = SCENARIOS[scenario](f)
    wait_until(f.ended, "the import to end")
    reader = f.hosts[1]
    status = reader.status(CONTEXT, f.import_id)
    code, created = reader.request(
        "GET", f"/api/v1/{CONTEXT}/outcome_imports/{f.import_id}/created_group_ids"
    )
    exits = [host.terminate() for host in f.hosts]
    outputs = [host.output() for host in f.hosts]

    # As a clean import of the file ends.
    expected = FILE.expected()
    assert (status["workflow_state"], status["progress"]) == ("succeeded", 100), status
    errors = [(row, BOGUS_METHOD_ERROR) for row in expected.errors]
    assert status["processing_errors"] == [list(error) for error in errors][:25]
    assert error_rows(f.tree, f.import_id) == errors
    groups, outcomes = tree_of(f.tree, ACCOUNT)
    assert groups == expected.groups
    assert outcomes == {guid: [parent] for guid, parent in expected.outcomes.items()}
    assert set(orphans(f.tree).values()) == {0}
    group_ids = f.tree.rows(
        "SELECT id FROM lms_outcomes_groups WHERE NOT is_root AND context_type = ? "
        "AND context_id = ? ORDER BY id", *ACCOUNT,
    )
    assert (code, created) == (200, [str(gid) for (gid,) in group_ids])  # Canvas: strings

    # Started once, and once more if taken over; ended once; no run left a trace in the logs of
    # an error.
    assert f.takeovers() == takeovers
    started = sum(len(STARTED.findall(output)) for output in outputs)
    ended = [found for output in outputs for found in ENDED.findall(output)]
    assert (started, ended) == (1 + takeovers, [(str(f.import_id), "succeeded")]), outputs
    assert exits == [0, 0], outputs
    assert not any("Traceback" in output for output in outputs), outputs

    # The run taken over wrote nothing once its process was resumed for the last time (after
    # the takeover), and said it stopped.
    runner = f.runner()
    if takeovers:
        host = f.host(runner["pid"])
        late = f.points(host)[f.resumed_at[runner["pid"]]:]
        writes = [p for p in late if runner["claim"] in p["claims"]]
        assert [p for p in writes if not p["point"].startswith("takeover:")] == []
        assert TAKEN_OVER % f.import_id in host.output()
