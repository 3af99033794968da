"""Cancel across host processes on one PostgreSQL database: the DELETE reaches one process while
another runs the import, and a cancel whose runner is SIGKILLed is still honoured (the process
that takes the import over undoes it instead of running it again). Either way the import ends
``cancelled``, every tree row is as it was before it, and the root account's queue moves on.

Real ``lms-outcomes serve`` processes, as in tests/test_postgres_hosts.py.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import POSTGRES_TEMPLATE
from tests.postgres_server import PostgresServer
from tests.reliability_helpers import OutcomesFile, Serve
from tests.store_tables import Tree
from tests.test_postgres_hosts import imports_on, seed_host

CONTEXT = "accounts/1"
#: Short, so the survivor takes the killed host's import over within seconds.
LEASE = 2.0
TABLES = ("lms_outcomes_groups", "lms_outcomes_outcomes", "lms_outcomes_links",
          "lms_outcomes_friendly_descriptions")


@pytest.fixture
def store_url(postgres_server: PostgresServer) -> Iterator[str]:
    yield postgres_server.create_database("undo_hosts", template=POSTGRES_TEMPLATE)
    postgres_server.drop_database("undo_hosts")


def stored(tree: Tree) -> list[Any]:
    """Every row of the outcome tree, every column."""
    return [tree.rows(f"SELECT * FROM {table} ORDER BY id") for table in TABLES]


def imported(host: Serve, file: OutcomesFile) -> None:
    done = host.wait_until_ended(CONTEXT, host.post_import(CONTEXT, file.body())["id"])
    assert done["workflow_state"] == "succeeded", done


def running(hosts: list[Serve], file: OutcomesFile) -> tuple[int, Serve, Serve]:
    """Post ``file`` and wait for its first batch: its id, the host running it, the other."""
    import_id = hosts[0].post_import(CONTEXT, file.body())["id"]
    hosts[0].wait_for_progress(CONTEXT, import_id)
    owner = next(host for host in hosts if import_id in imports_on(host.output())[0])
    return import_id, owner, hosts[1 - hosts.index(owner)]


def cancelled(host: Serve, import_id: int) -> None:
    status, answer = host.request("DELETE", f"/api/v1/{CONTEXT}/outcome_imports/{import_id}")
    assert status == 200, answer
    assert answer["cancel_requested"] is True
    done = host.wait_until_ended(CONTEXT, import_id, timeout=120)
    assert done["workflow_state"] == "cancelled", done


def test_a_cancel_reaches_the_import_in_another_process_and_survives_a_kill(
    tmp_path: Path, store_url: str
) -> None:
    host_db = tmp_path / "host.db"
    asyncio.run(seed_host(host_db))
    settings = ("lms_outcomes.batch_size=250", f"lms_outcomes.import_lease={LEASE}",
                "lms_outcomes.poll_interval=0.2")
    hosts = [Serve(host_db, tmp_path / name, *settings, storage=store_url) for name in "ab"]
    tree = Tree(store_url)
    try:
        # The imports change the first one's rows (same guids, another seed) and add more.
        imported(hosts[0], OutcomesFile(1_000, seed=1, prefix="u-"))
        before = stored(tree)
        import_id, _, other = running(hosts, OutcomesFile(100_000, seed=2, prefix="u-"))
        cancelled(other, import_id)
        assert stored(tree) == before
        imported(other, OutcomesFile(1_000, seed=3, prefix="u-"))

        before = stored(tree)
        import_id, owner, survivor = running(hosts, OutcomesFile(20_000, seed=4, prefix="u-"))
        owner.kill()  # SIGKILL mid-import: the cancel is for the process that takes it over
        cancelled(survivor, import_id)
        assert stored(tree) == before
        imported(survivor, OutcomesFile(1_000, seed=5, prefix="u-"))
    finally:
        for host in hosts:
            host.kill()
        tree.close()
