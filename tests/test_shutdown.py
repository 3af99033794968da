"""Shutdown stops imports between batches, closes every connection and leaves no task behind;
an import stopped that way resumes at the next start."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

import pytest
from tornado.httpclient import AsyncHTTPClient
from tornado.httpserver import HTTPServer
from tornado.testing import bind_unused_port

from lms_outcomes_plugin.host.app import EmbeddedHost
from lms_outcomes_plugin.imports.parsing import WORKER_NICENESS
from tests.reliability_helpers import Serve, descendants_of, has_exited
from tests.toy_formats import HangingPlugin, SlowPlugin
from tests.tree import Tree


def make_host(db_path: Path, storage_url: str) -> EmbeddedHost:
    settings = {
        "storage_url": storage_url,
        "poll_interval": 0.05,
        "batch_size": 2,
        "extra_plugins": [SlowPlugin(pause=0.01)],
    }
    return EmbeddedHost(db_path, settings={"lms_outcomes": settings})


async def serve(host: EmbeddedHost) -> tuple[HTTPServer, str]:
    await host.open()
    app = host.make_app()
    await host.startup()
    sock, port = bind_unused_port()
    server = HTTPServer(app)
    server.add_sockets([sock])
    return server, f"http://127.0.0.1:{port}"


async def stop(host: EmbeddedHost, server: HTTPServer) -> None:
    server.stop()
    await server.close_all_connections()
    await host.shutdown()


def import_state(tree: Tree, import_id: int) -> tuple[str, int]:
    [row] = tree.rows(
        "SELECT workflow_state, (SELECT COUNT(*) FROM lms_outcomes_groups WHERE NOT is_root) "
        "FROM lms_outcomes_imports i WHERE id = ?",
        import_id,
    )
    return row  # type: ignore[return-value]


@pytest.mark.gen_test(timeout=60)
async def test_shutdown_mid_import_then_restart_finishes_it(
    db_path: Path, storage_url: str, tree: Tree
) -> None:
    host = make_host(db_path, storage_url)
    server, url = await serve(host)
    account = await host.db.create_account("District")
    token = await host.db.create_token(await host.db.create_user("Admin", admin_of=account))
    client = AsyncHTTPClient()
    body = "".join(f"g{i}\n" for i in range(200)).encode()
    response = await client.fetch(
        f"{url}/api/v1/accounts/{account}/outcome_imports?import_type=slow",
        method="POST",
        body=body,
        headers={"Authorization": f"Bearer {token}"},
    )
    import_id = int(__import__("json").loads(response.body)["id"])
    await asyncio.sleep(0.3)  # a few batches in

    await stop(host, server)

    state, groups_written = import_state(tree, import_id)
    assert state == "created"  # requeued, not left importing
    assert 0 < groups_written < 200
    leftover = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
    assert leftover == []

    host = make_host(db_path, storage_url)
    server, url = await serve(host)
    deadline = time.monotonic() + 30
    while import_state(tree, import_id)[0] != "succeeded":
        assert time.monotonic() < deadline
        await asyncio.sleep(0.05)
    await stop(host, server)
    client.close()

    assert import_state(tree, import_id) == ("succeeded", 200)
    [(errors,)] = tree.rows("SELECT COUNT(*) FROM lms_outcomes_import_errors")
    [(stamped,)] = tree.rows(
        "SELECT COUNT(*) FROM lms_outcomes_groups WHERE outcome_import_id = ?", import_id
    )
    assert errors == 0  # the resumed run neither repeats nor trips over the first one's work
    assert stamped == 200  # every group is the import's again (created_group_ids)


@pytest.mark.gen_test(timeout=90)
async def test_shutdown_ends_while_a_format_never_returns(
    db_path: Path, storage_url: str, tree: Tree
) -> None:
    """A batch boundary that never comes cannot hold shutdown up: after ``shutdown_timeout``
    the import is cancelled and queued again, and the hung parse worker is killed."""
    settings = {"storage_url": storage_url, "poll_interval": 0.05, "shutdown_timeout": 0.5,
                "extra_plugins": [HangingPlugin()]}
    host = EmbeddedHost(db_path, settings={"lms_outcomes": settings})
    server, url = await serve(host)
    account = await host.db.create_account("District")
    token = await host.db.create_token(await host.db.create_user("Admin", admin_of=account))
    client = AsyncHTTPClient()
    response = await client.fetch(
        f"{url}/api/v1/accounts/{account}/outcome_imports?import_type=hanging",
        method="POST", body=b"x", headers={"Authorization": f"Bearer {token}"},
    )
    import_id = int(__import__("json").loads(response.body)["id"])
    workers = await _parse_workers_busy_with(tree, import_id)

    await asyncio.wait_for(stop(host, server), timeout=30)
    client.close()

    assert import_state(tree, import_id) == ("created", 0)  # queued again, nothing written
    deadline = time.monotonic() + 10
    while not all(has_exited(pid) for pid in workers):
        assert time.monotonic() < deadline, workers
        await asyncio.sleep(0.05)
    leftover = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
    assert leftover == []


async def _parse_workers_busy_with(tree: Tree, import_id: int) -> list[int]:
    """Once the import runs: this process's parse workers (known by their lower priority)."""
    niceness = min(19, os.getpriority(os.PRIO_PROCESS, 0) + WORKER_NICENESS)
    deadline = time.monotonic() + 20
    while True:
        [(state,)] = tree.rows("SELECT workflow_state FROM lms_outcomes_imports WHERE id = ?",
                               import_id)
        workers = [pid for pid, (_, nice) in descendants_of(os.getpid()).items()
                   if nice == niceness]
        if state == "importing" and workers:
            return workers
        assert time.monotonic() < deadline, (state, workers)
        await asyncio.sleep(0.05)


def test_serve_ends_on_sigterm_while_an_import_never_returns(
    tmp_path: Path, storage_url: str, tree: Tree
) -> None:
    """``lms-outcomes serve``, with a format that never returns installed as a third party's
    would be (an ``lms_outcomes`` entry point), ends on SIGTERM with status 0 and queues the
    import again: shutdown waits ``shutdown_timeout`` for the batch, then stops the worker."""
    extension = install_extension(tmp_path / "site")
    server = Serve(
        tmp_path / "lms.db", tmp_path / "logs", "lms_outcomes.shutdown_timeout=2",
        storage=storage_url, env={"PYTHONPATH": f"{extension}{os.pathsep}{REPO}"},
    )
    try:
        status, created = server.request(
            "POST", "/api/v1/accounts/1/outcome_imports?import_type=hanging", b"x"
        )
        assert status == 200, (created, server.output())
        server.wait_for("accounts/1", created["id"],
                        lambda body: body["workflow_state"] == "importing", timeout=30)

        assert server.terminate(timeout=30) == 0, server.output()
    finally:
        server.kill()
    assert "Traceback" not in server.output()
    assert import_state(tree, created["id"]) == ("created", 0)


#: The checkout, for the extension's ``tests.toy_formats``.
REPO = Path(__file__).resolve().parent.parent


def install_extension(site: Path) -> Path:
    """A folder holding a distribution as pip installs one: a module and its dist-info, with an
    ``lms_outcomes`` entry point registering :class:`HangingPlugin`."""
    info = site / "hanging_format-1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: hanging-format\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text("[lms_outcomes]\nhanging = hanging_format:plugin\n")
    (site / "hanging_format.py").write_text(
        "from tests.toy_formats import HangingPlugin\n\nplugin = HangingPlugin()\n"
    )
    return site
