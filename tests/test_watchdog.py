"""The stall watchdog and upload retention, over real HTTP on both backends."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from tornado.ioloop import IOLoop

from lms_outcomes_plugin.host.app import EmbeddedHost
from tests.conftest import Api, World
from tests.test_undo import progressed
from tests.toy_formats import HangingPlugin
from tests.tree import G, Tree, csv_of, run_import

STALLED = (
    "The import made no progress for too long and was stopped; no more of the file will be "
    "imported"
)


def long_ago(storage_backend: str) -> str:
    """A moment long past, as each backend stores times."""
    if storage_backend == "sqlite":
        return "'2000-01-01T00:00:00+00:00'"
    return "now() - interval '31 days'"


class TestStallWatchdog:
    @pytest.fixture
    def plugin_settings(self, plugin_settings: dict[str, Any]) -> dict[str, Any]:
        return {**plugin_settings, "import_stall_seconds": 1, "import_lease": 60,
                "extra_plugins": [HangingPlugin()]}

    @pytest.mark.gen_test(timeout=60)
    async def test_an_import_that_stops_progressing_fails_and_the_queue_moves_on(
        self, api: Api, world: World, tree: Tree
    ) -> None:
        path = f"/api/v1/accounts/{world.account_id}/outcome_imports"
        hung = await api.post_csv(f"{path}?import_type=hanging", b"x")
        # Queued behind it, in the same root account.
        after = await run_import(api, f"accounts/{world.sub_account_id}",
                                 csv_of([G(vendor_guid="after")]))

        failed = await api.wait_for_import(f"{path}/{hung.body['id']}")

        assert failed.body["workflow_state"] == "failed"
        assert failed.body["processing_errors"] == [[1, STALLED]]
        assert (after["workflow_state"], after["processing_errors"]) == ("succeeded", [])
        assert tree.group("after") is not None


class TestStalledCancel:
    """A run that stalls after a cancel was asked for never reaches the batch that would undo
    it: the watchdog undoes it instead, as the user asked."""

    @pytest.fixture
    def plugin_settings(self, plugin_settings: dict[str, Any]) -> dict[str, Any]:
        # A stall is made by dating the import's last progress back (below), never by waiting.
        return {**plugin_settings, "import_stall_seconds": 3600, "import_lease": 60,
                "batch_size": 1, "extra_plugins": [HangingPlugin()]}

    @pytest.mark.gen_test(timeout=60)
    async def test_a_stalled_import_asked_to_cancel_is_undone_and_ends_cancelled(
        self, api: Api, world: World, tree: Tree, storage_backend: str
    ) -> None:
        path = f"/api/v1/accounts/{world.account_id}/outcome_imports"
        hung = await api.post_csv(f"{path}?import_type=hanging", b"x")
        status = f"{path}/{hung.body['id']}"
        await progressed(api, status)  # its first batch wrote a group, then the format hangs
        assert tree.group("before-the-hang") is not None
        after = await api.post_csv(path, csv_of([G(vendor_guid="after")]))
        cancel = await api.request("DELETE", status)
        assert (cancel.body["workflow_state"], cancel.body["cancel_requested"]) == (
            "importing", True
        )
        await tree.write("UPDATE lms_outcomes_imports SET progressed_at = "
                         f"{long_ago(storage_backend)} WHERE id = ?", hung.body["id"])

        cancelled = (await api.wait_for_import(status)).body

        assert (cancelled["workflow_state"], cancelled["processing_errors"]) == ("cancelled", [])
        assert tree.group("before-the-hang") is None
        queued = (await api.wait_for_import(f"{path}/{after.body['id']}")).body
        assert queued["workflow_state"] == "succeeded"
        assert tree.group("after") is not None


@pytest.mark.gen_test(timeout=60)
async def test_uploads_past_keep_uploads_days_are_deleted_and_imports_stay(
    api: Api, world: World, tree: Tree, lms: EmbeddedHost, io_loop: IOLoop,
    storage_backend: str, db_path: Path,
) -> None:
    context = f"accounts/{world.account_id}"
    old = await run_import(api, context, csv_of([G(vendor_guid="old")]))
    recent = await run_import(api, context, csv_of([G(vendor_guid="recent")]))
    [(old_upload, key)] = tree.rows(
        "SELECT a.id, a.storage_key FROM lms_outcomes_attachments a "
        "JOIN lms_outcomes_imports i ON i.attachment_id = a.id WHERE i.id = ?", old["id"])
    await tree.write(
        f"UPDATE lms_outcomes_attachments SET created_at = {long_ago(storage_backend)} "
        "WHERE id = ?", old_upload
    )

    # Pruning runs when the runner starts (and hourly): restart the plugin.
    await lms.shutdown()
    await lms.open()
    lms.make_app()
    await lms.startup()

    uploads = [row[0] for row in tree.rows("SELECT id FROM lms_outcomes_attachments")]
    assert old_upload not in uploads
    assert len(uploads) == 1  # the recent import's upload stays
    [(attachment,)] = tree.rows(
        "SELECT attachment_id FROM lms_outcomes_imports WHERE id = ?", old["id"])
    assert attachment is None
    if storage_backend == "sqlite":
        assert not (Path(f"{db_path}.attachments") / key).exists()
    else:
        assert tree.rows("SELECT COUNT(*) FROM lms_outcomes_attachment_chunks "
                         "WHERE attachment_id = ?", old_upload) == [(0,)]
    assert [import_id for (import_id,) in tree.rows(
        "SELECT id FROM lms_outcomes_imports ORDER BY id")] == [old["id"], recent["id"]]
