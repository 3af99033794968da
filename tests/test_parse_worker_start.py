"""The parse worker starts whatever the host's TMPDIR: the forkserver listens on a Unix socket
in it, whose path may hold no more than 107 bytes, so under a longer folder the worker is
spawned instead (before, every create answered 500)."""

from __future__ import annotations

from pathlib import Path

from tests.reliability_helpers import Serve
from tests.tree import G, csv_of


def test_an_import_runs_under_a_tmpdir_too_long_for_a_socket(tmp_path: Path) -> None:
    deep = tmp_path / ("t" * 60) / ("m" * 60)
    deep.mkdir(parents=True)
    server = Serve(tmp_path / "lms.db", tmp_path / "logs", env={"TMPDIR": str(deep)})
    try:
        status, created = server.request(
            "POST", "/api/v1/accounts/1/outcome_imports", csv_of([G(vendor_guid="g")])
        )
        assert status == 200, (created, server.output())
        ended = server.wait_for(
            "accounts/1", created["id"],
            lambda body: body["workflow_state"] in ("succeeded", "failed"), timeout=60,
        )
        assert ended["workflow_state"] == "succeeded", ended
    finally:
        server.kill()
