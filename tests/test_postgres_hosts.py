"""Two host processes on one PostgreSQL database (issue 7): they share the imports, each import
runs once, the imports of a root account run one at a time in order across both, and killing
the process running an import leaves nothing stuck: the other takes it over and ends it.

The hosts are real ``lms-outcomes serve`` processes on one host SQLite file (accounts, users,
tokens) and one plugin store on the session's PostgreSQL server.
"""

from __future__ import annotations

import asyncio
import itertools
import re
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from lms_outcomes_plugin.host.db import HostDatabase
from lms_outcomes_plugin.storage.sql import as_time
from tests.conftest import POSTGRES_TEMPLATE
from tests.postgres_server import PostgresServer
from tests.reliability_helpers import ADMIN_TOKEN, OutcomesFile, Serve
from tests.store_tables import Tree

BATCH = 250
#: Short, so the survivor takes the killed host's import over within seconds.
LEASE = 2.0
IMPORTS = 20
BIG = 5  # the index of the import whose host is killed mid-way
STARTED = re.compile(r"import (\d+) started")
ENDED = re.compile(r"import (\d+) ended (\w+)")


async def seed_host(path: Path) -> list[int]:
    """The host's tables: the admin (with the token the servers are told of) and three root
    accounts it administers. Returns the root account ids."""
    async with HostDatabase(path) as db:
        await db.bootstrap(ADMIN_TOKEN)
        roots = [1]
        for name in ("Shelbyville", "Ogdenville"):
            account = await db.create_account(name)
            for permission in ("import_outcomes", "manage_outcomes"):
                await db.grant(1, permission, "account", account)
            roots.append(account)
    return roots


@pytest.fixture
def store_url(postgres_server: PostgresServer) -> Iterator[str]:
    yield postgres_server.create_database("two_hosts", template=POSTGRES_TEMPLATE)
    postgres_server.drop_database("two_hosts")


def imports_on(output: str) -> tuple[Counter[int], Counter[int]]:
    """How many times each import started and ended in one server's log."""
    started = Counter(int(found) for found in STARTED.findall(output))
    ended = Counter(int(found) for found, _ in ENDED.findall(output))
    return started, ended


def test_two_hosts_share_imports_in_order_and_survive_a_kill(
    tmp_path: Path, store_url: str
) -> None:
    host_db = tmp_path / "host.db"
    roots = asyncio.run(seed_host(host_db))
    settings = (
        f"lms_outcomes.batch_size={BATCH}", f"lms_outcomes.import_lease={LEASE}",
        "lms_outcomes.poll_interval=0.2",
    )
    hosts = [Serve(host_db, tmp_path / name, *settings, storage=store_url) for name in "ab"]
    tree = Tree(store_url)
    try:
        files = [
            OutcomesFile(20_000 if n == BIG else 1_000, seed=n, prefix=f"i{n}-")
            for n in range(IMPORTS)
        ]
        posted = []  # (host, context, import id)
        for n, file in enumerate(files):
            host, context = hosts[n % 2], f"accounts/{roots[n % 3]}"
            posted.append((host, context, host.post_import(context, file.body())["id"]))

        big_host, big_context, big_id = posted[BIG]
        big_host.wait_for_progress(big_context, big_id)
        owner = next(h for h in hosts if big_id in imports_on(h.output())[0])
        survivor = hosts[1 - hosts.index(owner)]
        owner.kill()  # SIGKILL, mid-import
        # Its copy of the upload being parsed went with it (TMPDIR is its log folder).
        assert not list(owner.stdout.parent.glob("lms-outcomes-*")), "a parse copy was left"

        for _, context, import_id in posted:
            done = survivor.wait_until_ended(context, import_id, timeout=120)
            assert (done["workflow_state"], done["processing_errors"]) == ("succeeded", []), done
        logs = {host: imports_on(host.output()) for host in hosts}
    finally:
        for host in hosts:
            host.kill()

    try:
        ids = [import_id for _, _, import_id in posted]
        started = logs[hosts[0]][0] + logs[hosts[1]][0]
        ended = logs[hosts[0]][1] + logs[hosts[1]][1]
        # Each ended once. Those the killed host was running (the big one among them) started
        # again on the survivor, which ended them.
        interrupted = logs[owner][0] - logs[owner][1]
        assert big_id in interrupted
        assert ended == Counter(ids)
        assert started == Counter(ids) + interrupted
        assert all(logs[survivor][1][import_id] == 1 for import_id in interrupted)
        assert all(logs[host][0] for host in hosts), "both hosts ran imports"

        runs = tree.rows(
            "SELECT id, root_account_id, started_at, ended_at, workflow_state "
            "FROM lms_outcomes_imports ORDER BY id"
        )
        assert [state for *_, state in runs] == ["succeeded"] * IMPORTS  # none stuck
        for root in roots:
            mine = [(as_time(start), as_time(end)) for _, r, start, end, _ in runs if r == root]
            assert len(mine) in (6, 7)
            for (_, end), (start, _) in itertools.pairwise(mine):
                assert start >= end  # in order, never two at once across both hosts
        outcomes = tree.rows("SELECT COUNT(*) FROM lms_outcomes_outcomes")[0][0]
        assert outcomes == sum(len(file.expected().outcomes) for file in files)
        assert tree.rows("SELECT COUNT(*) FROM lms_outcomes_import_errors") == [(0,)]
    finally:
        tree.close()
