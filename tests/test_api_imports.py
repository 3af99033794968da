"""The create route over real HTTP: Canvas's behaviour with lms-outcomes' decisions, both upload
styles (raw and multipart ``attachment``), target groups, and the upload size cap.

Authorization and the basics of status are in test_auth.py and test_import_end_to_end.py.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from tornado.tcpclient import TCPClient

from lms_outcomes_plugin.host.app import EmbeddedHost
from lms_outcomes_plugin.imports.parsing import WORKER_NICENESS
from lms_outcomes_plugin.models import Attachment, ContextRef
from lms_outcomes_plugin.plugin import service_for
from tests.conftest import Api, BodyProducer, World, fixture_bytes, multipart_body
from tests.toy_formats import EmptyFormatPlugin, TrapsPlugin
from tests.tree import G, Tree, csv_of, run_import

#: The upload cap in this module: small, so that refusing a larger body is cheap to test.
CAP = 8 * 1024
UTF8_REQUIRED = {"error": "Invalid content type, UTF-8 required"}
TOO_LARGE = {"error": f"The upload is larger than the limit of {CAP} bytes"}
NOT_FOUND = {"errors": [{"message": "The specified resource does not exist."}]}
ONE_GROUP = b"title,vendor_guid,object_type\nTest,test,group\n"


@pytest.fixture
def plugin_settings(plugin_settings: dict[str, Any]) -> dict[str, Any]:
    return {**plugin_settings, "max_upload_bytes": CAP, "extra_plugins": [EmptyFormatPlugin()]}


def imports_of(world: World, context: str = "accounts") -> str:
    context_id = world.account_id if context == "accounts" else world.course_id
    return f"/api/v1/{context}/{context_id}/outcome_imports"


def csv_file(name: str) -> dict[str, tuple[str, bytes, str]]:
    """A fixture as the multipart ``attachment`` field."""
    return {"attachment": (Path(name).name, fixture_bytes(name), "text/csv")}


def stored_upload(tree: Tree, context: ContextRef, import_id: int) -> Attachment:
    """The attachment row stored for an import of ``context``, read from the tables."""
    rows = tree.rows(
        "SELECT a.id, a.filename, a.content_type, a.size FROM lms_outcomes_attachments a "
        "JOIN lms_outcomes_imports i ON i.attachment_id = a.id "
        "WHERE i.id = ? AND i.context_type = ? AND i.context_id = ?",
        import_id, context.type, context.id,
    )
    assert len(rows) == 1, rows
    return Attachment(*rows[0])


async def assert_nothing_stored(tree: Tree, db_path: Path) -> None:
    """No import, no attachment row, and no file in the SQLite store's attachments directory
    (the PostgreSQL store spools uploads to anonymous temporary files)."""
    attachments = db_path.with_name(db_path.name + ".attachments")
    for _ in range(100):  # the handler aborts the upload just after it has answered
        if not any(attachments.glob("*")):
            break
        await asyncio.sleep(0.01)
    assert list(attachments.glob("*")) == []
    assert tree.rows("SELECT count(*) FROM lms_outcomes_imports") == [(0,)]
    assert tree.rows("SELECT count(*) FROM lms_outcomes_attachments") == [(0,)]


def in_chunks(data: bytes, size: int = 1000) -> BodyProducer:
    """A body_producer: Tornado's client then sends ``data`` chunked, without Content-Length."""

    async def produce(write: Callable[[bytes], Any]) -> None:
        for start in range(0, len(data), size):
            await write(data[start : start + size])

    return produce


async def group_id_from_import(api: Api, imports: str, csv: bytes = ONE_GROUP) -> int:
    """Run an import of ``csv`` and return the one group id it created."""
    created = await api.post_csv(imports, csv)
    await api.wait_for_import(f"{imports}/{created.body['id']}")
    group_ids = await api.get(f"{imports}/{created.body['id']}/created_group_ids")
    [group_id] = group_ids.body
    return int(group_id)


# -- multipart uploads (cases 11-14) ------------------------------------------------------------


@pytest.mark.gen_test(timeout=30)
async def test_multipart_upload_into_an_account(
    api: Api, world: World, tree: Tree
) -> None:
    """Cases 11 and 14."""
    imports = imports_of(world)
    created = await api.post_multipart(
        imports,
        fields={"import_type": "instructure_csv"},
        files=csv_file("canvas/test_outcomes_1.csv"),
    )

    assert created.status == 200, created.body
    assert created.body["workflow_state"] == "created"
    assert created.body["progress"] == 0
    assert created.body["processing_errors"] == []
    assert created.body["data"] == {"import_type": "instructure_csv"}
    assert created.body["user"]["id"] == world.admin_id
    upload = stored_upload(tree, ContextRef("account", world.account_id), created.body["id"])
    assert (upload.filename, upload.content_type, upload.size) == (
        "test_outcomes_1.csv",
        "text/csv",
        len(fixture_bytes("canvas/test_outcomes_1.csv")),
    )

    done = await api.wait_for_import(f"{imports}/{created.body['id']}")
    assert done.body["workflow_state"] == "succeeded"
    assert done.body["progress"] == 100
    assert tree.rows("SELECT title FROM lms_outcomes_outcomes") == [("C",)]
    groups = dict(
        tree.rows("SELECT vendor_guid, id FROM lms_outcomes_groups "
            "WHERE context_type = 'account' AND context_id = ?",
            world.account_id,
        )
    )
    assert len(groups) == 3  # a, b and the root group
    group_ids = await api.get(f"{imports}/{created.body['id']}/created_group_ids")
    assert sorted(group_ids.body) == sorted([str(groups["a"]), str(groups["b"])])


@pytest.mark.gen_test(timeout=30)
@pytest.mark.parametrize("context", ["accounts", "courses"])
async def test_multipart_upload_into_a_target_group(
    api: Api, world: World, tree: Tree, context: str
) -> None:
    """Case 12, for both kinds of context."""
    imports = imports_of(world, context)
    group_id = await group_id_from_import(api, imports)

    created = await api.post_multipart(
        f"{imports}/group/{group_id}", files=csv_file("canvas/test_outcomes_no_groups.csv")
    )
    assert created.status == 200, created.body
    assert created.body["learning_outcome_group_id"] == group_id
    done = await api.wait_for_import(f"{imports}/{created.body['id']}")

    assert done.body["workflow_state"] == "succeeded", done.body
    linked = tree.rows("SELECT o.vendor_guid FROM lms_outcomes_links l "
        "JOIN lms_outcomes_outcomes o ON o.id = l.outcome_id "
        "WHERE l.group_id = ? AND l.workflow_state = 'active'",
        group_id,
    )
    assert linked == [("c",)]


@pytest.mark.gen_test(timeout=30)
async def test_multipart_upload_into_a_course(api: Api, world: World, tree: Tree) -> None:
    imports = imports_of(world, "courses")
    created = await api.post_multipart(imports, files=csv_file("canvas/demo.csv"))

    assert created.status == 200, created.body
    done = await api.wait_for_import(f"{imports}/{created.body['id']}")
    assert done.body["workflow_state"] == "succeeded"
    upload = stored_upload(tree, ContextRef("course", world.course_id), created.body["id"])
    assert (upload.filename, upload.content_type) == ("demo.csv", "text/csv")


@pytest.mark.gen_test(timeout=30)
async def test_multipart_file_level_error_fails_the_import(api: Api, world: World) -> None:
    """Case 13, with our exact message."""
    imports = imports_of(world)
    created = await api.post_multipart(
        imports, files=csv_file("canvas/test_outcomes_with_errors.csv")
    )
    done = await api.wait_for_import(f"{imports}/{created.body['id']}")

    assert done.body["workflow_state"] == "failed"
    assert done.body["processing_errors"] == [
        [1, 'Missing required fields: ["vendor_guid", "object_type"]']
    ]
    failed = await api.get(f"{imports}/{created.body['id']}/created_group_ids")
    assert (failed.status, failed.body) == (404, {"message": "Import has failed"})


@pytest.mark.gen_test(timeout=30)
async def test_multipart_part_details(api: Api, world: World, tree: Tree) -> None:
    """The first ``attachment`` part is the file; its media type is kept without parameters
    and the request's charset is not checked; other parts are skipped."""
    boundary = "b0undary"
    body = (
        f"--{boundary}\r\nContent-Disposition: form-data; name=\"note\"\r\n\r\nhello\r\n"
        f"--{boundary}\r\nContent-Disposition: form-data; name=\"attachment\"; "
        f"filename=\"C:\\\\Users\\\\søren\\\\outcomes.csv\"\r\n"
        f"Content-Type: text/csv; charset=utf-8\r\n\r\n"
    ).encode() + ONE_GROUP + (
        f"\r\n--{boundary}\r\nContent-Disposition: form-data; name=\"attachment\"; "
        f"filename=\"second.csv\"\r\nContent-Type: text/csv\r\n\r\nignored\r\n--{boundary}--\r\n"
    ).encode()
    content_type = f"multipart/form-data; boundary={boundary}; charset=latin1"

    created = await api.post(
        imports_of(world), body=body, headers={"Content-Type": content_type}
    )

    assert created.status == 200, created.body
    upload = stored_upload(tree, ContextRef("account", world.account_id), created.body["id"])
    assert (upload.filename, upload.content_type, upload.size) == (
        "outcomes.csv",
        "text/csv",
        len(ONE_GROUP),
    )


@pytest.mark.gen_test(timeout=30)
async def test_multipart_without_attachment_stores_an_empty_file(
    api: Api, world: World, tree: Tree
) -> None:
    """Our rule: no ``attachment`` part is an empty upload, which fails as such."""
    imports = imports_of(world)
    created = await api.post_multipart(imports, fields={"import_type": "instructure_csv"})

    assert created.status == 200, created.body
    upload = stored_upload(tree, ContextRef("account", world.account_id), created.body["id"])
    assert (upload.filename, upload.size) == ("outcome_import.csv", 0)
    done = await api.wait_for_import(f"{imports}/{created.body['id']}")
    assert done.body["workflow_state"] == "failed"
    assert done.body["processing_errors"] == [[1, "File has no data"]]


@pytest.mark.gen_test(timeout=30)
@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        ("multipart/form-data", b"--x\r\n\r\n--x--\r\n"),  # no boundary parameter
        ("multipart/form-data; boundary=x", b"not multipart at all"),
        # cut off before the closing boundary
        ("multipart/form-data; boundary=x",
         b'--x\r\nContent-Disposition: form-data; name="attachment"; filename="a.csv"\r\n\r\na,b'),
    ],
)
async def test_malformed_multipart_is_400_and_stores_nothing(
    api: Api, world: World, db_path: Path, tree: Tree, content_type: str, body: bytes
) -> None:
    response = await api.post(imports_of(world), body=body, headers={"Content-Type": content_type})

    assert (response.status, response.body) == (400, {"error": "Invalid multipart/form-data body"})
    await assert_nothing_stored(tree, db_path)


# -- import_type in the query or the form (case 27, decision 1) ---------------------------------


@pytest.mark.gen_test(timeout=30)
async def test_unknown_import_type_is_400_naming_the_valid_types(
    api: Api, world: World, db_path: Path, tree: Tree
) -> None:
    """Case 27 with decision 1, in the query (refused before the body) and in the form
    (refused after it, the upload discarded)."""
    in_query = await api.post_csv(f"{imports_of(world)}?import_type=foo", b"x")
    in_form = await api.post_multipart(
        imports_of(world), fields={"import_type": "foo"}, files=csv_file("canvas/demo.csv")
    )

    for response in (in_query, in_form):
        assert response.status == 400
        assert set(response.body) == {"error"}
        assert "'foo'" in response.body["error"]
        assert "empty, instructure_csv" in response.body["error"]
    await assert_nothing_stored(tree, db_path)


@pytest.mark.gen_test(timeout=30)
async def test_import_type_from_the_form_and_the_query_wins(api: Api, world: World) -> None:
    imports = imports_of(world)
    form_only = await api.post_multipart(
        imports, fields={"import_type": "empty"}, files=csv_file("canvas/demo.csv")
    )
    both = await api.post_multipart(
        f"{imports}?import_type=instructure_csv",
        fields={"import_type": "foo"},
        files=csv_file("canvas/demo.csv"),
    )
    refused = await api.post_multipart(
        f"{imports}?import_type=foo",
        fields={"import_type": "instructure_csv"},
        files=csv_file("canvas/demo.csv"),
    )

    assert form_only.body["data"] == {"import_type": "empty"}
    assert both.body["data"] == {"import_type": "instructure_csv"}
    assert refused.status == 400


# -- raw uploads (cases 16-19, 28, decision 10) -------------------------------------------------


@pytest.mark.gen_test(timeout=30)
@pytest.mark.parametrize(
    ("headers", "url_suffix", "stored"),
    [
        # case 16: Tornado's client, like rack-test, sends the form type when none is given
        ({}, "", ("outcome_import.csv", "application/x-www-form-urlencoded")),
        ({"Content-Type": "text/csv"}, "", ("outcome_import.csv", "text/csv")),  # case 17
        ({"Content-Type": "text/csv; charset=utf-8"}, "", ("outcome_import.csv", "text/csv")),
        ({"Content-Type": "text/plain"}, "", ("outcome_import.csv", "text/plain")),
        ({"Content-Type": "text/csv"}, "?extension=txt", ("outcome_import.txt", "text/plain")),
    ],
)
async def test_raw_upload_names(
    api: Api,
    world: World,
    tree: Tree,
    headers: dict[str, str],
    url_suffix: str,
    stored: tuple[str, str],
) -> None:
    """Cases 16-18 and ``extension``: the body is stored verbatim under Canvas's names."""
    body = b"\xffab=\xffcd"
    created = await api.post(imports_of(world) + url_suffix, body=body, headers=headers)

    assert created.status == 200, created.body
    upload = stored_upload(tree, ContextRef("account", world.account_id), created.body["id"])
    assert (upload.filename, upload.content_type, upload.size) == (*stored, 7)


@pytest.mark.gen_test(timeout=30)
@pytest.mark.parametrize(
    ("url_suffix", "content_type"),
    [
        ("", "text/csv; charset=ISO-8859-1-Windows-3.0-Latin-1"),  # case 19
        ("?extension=csv", "text/csv; charset=latin1"),  # case 28, with our decision 10
        ("", 'text/csv; charset="UTF-16"'),
    ],
)
async def test_raw_upload_not_in_utf8_is_400_and_creates_nothing(
    api: Api, world: World, db_path: Path, tree: Tree, url_suffix: str, content_type: str
) -> None:
    response = await api.post(
        imports_of(world) + url_suffix, body=b"a,b\n", headers={"Content-Type": content_type}
    )

    assert (response.status, response.body) == (400, UTF8_REQUIRED)
    await assert_nothing_stored(tree, db_path)


# -- show (cases 22-26) -------------------------------------------------------------------------


@pytest.mark.gen_test(timeout=30)
async def test_processing_errors_are_capped_sorted_and_cut(api: Api, world: World) -> None:
    """Cases 22, 25 and 26: 30 row errors show as the first 25 by row; a message longer than
    255 characters is cut."""
    rows = [f"Title {row},guid{row},giraffe" for row in range(3, 32)]
    csv = "\n".join(["title,vendor_guid,object_type", f"Long,long,{'x' * 300}", *rows]) + "\n"
    imports = imports_of(world)
    created = await api.post_csv(imports, csv.encode())
    done = await api.wait_for_import(f"{imports}/{created.body['id']}")

    errors = done.body["processing_errors"]
    assert done.body["workflow_state"] == "succeeded"
    assert [row for row, _ in errors] == list(range(2, 27))
    assert errors[0][1] == f'Invalid object_type: "{"x" * 300}"'[:255]
    assert errors[1:] == [[row, 'Invalid object_type: "giraffe"'] for row in range(3, 27)]


@pytest.mark.gen_test(timeout=30)
async def test_latest_is_the_most_recently_started(
    api: Api, world: World, lms: EmbeddedHost
) -> None:
    """Case 23: ``latest`` moves when an import starts, not when it is created."""
    imports = imports_of(world, "courses")
    first = await api.post_csv(imports, fixture_bytes("canvas/demo.csv"))
    await api.wait_for_import(f"{imports}/{first.body['id']}")
    second = await api.post_csv(imports, fixture_bytes("canvas/demo.csv"))
    await api.wait_for_import(f"{imports}/{second.body['id']}")
    assert (await api.get(f"{imports}/latest")).body["id"] == second.body["id"]

    await service_for(lms).runner.stop()  # nothing starts the next one
    third = await api.post_csv(imports, fixture_bytes("canvas/demo.csv"))

    assert third.status == 200
    assert (await api.get(f"{imports}/latest")).body["id"] == second.body["id"]


@pytest.mark.gen_test(timeout=30)
async def test_an_import_of_another_course_is_not_found(api: Api, world: World) -> None:
    """Case 24, for a course: the account's import is not the course's."""
    created = await api.post_csv(imports_of(world), fixture_bytes("canvas/demo.csv"))

    response = await api.get(f"{imports_of(world, 'courses')}/{created.body['id']}")

    assert response.status == 404
    assert set(response.body) == {"message"}


# -- target groups (decision 2) -----------------------------------------------------------------


@pytest.mark.gen_test(timeout=30)
async def test_target_group_must_be_an_active_group_of_the_context(
    api: Api, world: World, tree: Tree
) -> None:
    accounts, courses = imports_of(world), imports_of(world, "courses")
    account_group = await group_id_from_import(api, accounts)
    deleted = await group_id_from_import(
        api, courses, b"title,vendor_guid,object_type\nGone,gone,group\n"
    )
    deleting = await api.post_csv(
        courses, b"title,vendor_guid,object_type,workflow_state\nGone,gone,group,deleted\n"
    )
    await api.wait_for_import(f"{courses}/{deleting.body['id']}")
    before = tree.rows("SELECT count(*) FROM lms_outcomes_imports")

    for path in (
        f"{courses}/group/{account_group}",  # another context's group
        f"{courses}/group/{deleted}",
        f"{courses}/group/999999",
        f"{courses}/group/abc",
    ):
        multipart = await api.post_multipart(path, files=csv_file("canvas/demo.csv"))
        raw = await api.post_csv(path, fixture_bytes("canvas/demo.csv"))
        for response in (multipart, raw):
            assert (response.status, response.body) == (404, NOT_FOUND), path

    assert tree.rows("SELECT count(*) FROM lms_outcomes_imports") == before


# -- the parse worker -------------------------------------------------------------------------


@pytest.mark.gen_test(timeout=30)
async def test_the_parse_worker_starts_while_the_upload_arrives(api: Api, world: World) -> None:
    """Spawning the parse worker costs about half a second: it starts as soon as an upload is
    accepted, so the import does not wait for it once the body has arrived."""
    before = {child.pid for child in multiprocessing.active_children()}
    started_during_upload = False

    async def upload(write: Callable[[bytes], Any]) -> None:
        nonlocal started_during_upload
        data = fixture_bytes("canvas/demo.csv")
        await write(data[:10])
        for _ in range(200):  # at most 10 s
            if {child.pid for child in multiprocessing.active_children()} - before:
                started_during_upload = True
                break
            await asyncio.sleep(0.05)
        await write(data[10:])

    response = await api.post(
        imports_of(world), body_producer=upload, headers={"Content-Type": "text/csv"}
    )
    assert response.status == 200, response.body
    assert started_during_upload


@pytest.mark.gen_test(timeout=30)
async def test_the_parse_worker_yields_the_cpu_to_the_host(api: Api, world: World) -> None:
    """The host is an import's critical path; the worker parses ahead in the time left over."""
    before = {child.pid for child in multiprocessing.active_children()}
    response = await api.post_csv(imports_of(world), fixture_bytes("canvas/demo.csv"))
    assert response.status == 200, response.body
    await api.wait_for_import(f"{imports_of(world)}/{response.body['id']}")

    (worker,) = {child.pid for child in multiprocessing.active_children()} - before
    host = os.getpriority(os.PRIO_PROCESS, 0)
    assert os.getpriority(os.PRIO_PROCESS, worker) == min(19, host + WORKER_NICENESS)


@pytest.mark.gen_test(timeout=30)
async def test_a_stopping_runner_starts_no_parse_worker(
    api: Api, world: World, lms: EmbeddedHost
) -> None:
    """An upload accepted while the plugin shuts down must not start a worker that nothing
    would ever shut down."""
    await service_for(lms).runner.stop()
    before = {child.pid for child in multiprocessing.active_children()}

    response = await api.post_csv(imports_of(world), fixture_bytes("canvas/demo.csv"))

    assert response.status == 200, response.body
    assert {child.pid for child in multiprocessing.active_children()} - before == set()


# -- the upload cap (decision 9) ----------------------------------------------------------------


@pytest.mark.gen_test(timeout=30)
async def test_a_body_at_the_cap_is_accepted(api: Api, world: World, tree: Tree) -> None:
    body = b"x" * CAP
    with_length = await api.post_csv(imports_of(world), body)
    chunked = await api.post(
        imports_of(world), body_producer=in_chunks(body), headers={"Content-Type": "text/csv"}
    )

    for response in (with_length, chunked):
        assert response.status == 200, response.body
        context = ContextRef("account", world.account_id)
        upload = stored_upload(tree, context, response.body["id"])
        assert upload.size == CAP


@pytest.mark.gen_test(timeout=30)
@pytest.mark.parametrize("style", ["raw", "multipart"])
@pytest.mark.parametrize("transfer", ["content-length", "chunked"])
async def test_a_body_over_the_cap_is_413_and_stores_nothing(
    api: Api, world: World, db_path: Path, tree: Tree, style: str, transfer: str
) -> None:
    data = b"x" * (CAP + 1)
    content_type = "text/csv"
    if style == "multipart":
        content_type, data = multipart_body({}, {"attachment": ("big.csv", data, "text/csv")})
    headers = {"Content-Type": content_type}
    if transfer == "chunked":
        response = await api.post(imports_of(world), body_producer=in_chunks(data), headers=headers)
    else:
        response = await api.post(imports_of(world), body=data, headers=headers)

    assert (response.status, response.body) == (413, TOO_LARGE)
    await assert_nothing_stored(tree, db_path)


@pytest.mark.gen_test(timeout=30)
async def test_a_client_that_leaves_mid_upload_leaves_nothing(
    api: Api, world: World, db_path: Path, tree: Tree
) -> None:
    port = urlsplit(api.root).port
    assert port is not None
    stream = await TCPClient().connect("127.0.0.1", port)
    await stream.write(
        f"POST {imports_of(world)} HTTP/1.1\r\nHost: lms.test\r\n"
        f"Authorization: Bearer {world.admin_token}\r\nContent-Type: text/csv\r\n"
        f"Content-Length: {CAP}\r\n\r\n".encode()
        + b"x" * 100
    )
    attachments = db_path.with_name(db_path.name + ".attachments")
    for _ in range(100):  # until the server has written the first chunk (to a file, on SQLite)
        if any(attachments.glob("*")):
            break
        await asyncio.sleep(0.01)
    stream.close()

    await assert_nothing_stored(tree, db_path)
    still_serving = await api.get(f"{imports_of(world)}/latest")
    assert still_serving.status == 404


class TestATargetGroupGoneBeforeTheImportRuns:
    """Our decision 2 checks the target group at POST; one deleted while the import waits in
    its root account's queue fails the import with a message saying so, and nothing else."""

    @pytest.fixture
    def gate(self, tmp_path: Path) -> Path:
        return tmp_path / "gate"

    @pytest.fixture
    def plugin_settings(self, plugin_settings: dict[str, Any], gate: Path) -> dict[str, Any]:
        return {**plugin_settings, "extra_plugins": [TrapsPlugin(str(gate), hold_after=0)]}

    @pytest.mark.gen_test(timeout=60)
    async def test_the_import_fails_and_names_the_group(
        self, api: Api, world: World, tree: Tree, gate: Path
    ) -> None:
        context = f"accounts/{world.account_id}"
        await run_import(api, context, csv_of([G(vendor_guid="target")]))
        target = tree.group("target")["id"]  # type: ignore[index]
        path = f"/api/v1/{context}/outcome_imports"
        # Ahead in the queue, held before its first record until the gate opens.
        ahead = await api.post_csv(f"{path}?import_type=read_all", b'["ahead"]')
        queued = await api.post_csv(f"{path}/group/{target}", csv_of([G(vendor_guid="inside")]))
        assert queued.status == 200, queued.body

        await tree.write("UPDATE lms_outcomes_groups SET workflow_state = 'deleted' WHERE id = ?",
                         target)
        await asyncio.to_thread(gate.touch)

        assert (await api.wait_for_import(f"{path}/{ahead.body['id']}")).body[
            "workflow_state"] == "succeeded"
        failed = (await api.wait_for_import(f"{path}/{queued.body['id']}")).body
        assert (failed["workflow_state"], failed["processing_errors"]) == (
            "failed", [[1, f"The target outcome group {target} no longer exists"]]
        )
        assert tree.group("inside") is None


@pytest.mark.gen_test(timeout=30)
async def test_status_shows_the_user_who_made_the_import_to_whoever_asks(
    api: Api, world: World, lms: EmbeddedHost
) -> None:
    """The host answers the poller's own user from its authorization: another user's status
    request must still show the import's maker, and the maker's shows the maker whole."""
    imports = imports_of(world)
    created = await api.post_csv(imports, ONE_GROUP)
    other = await lms.db.create_user("Admin Chalmers", admin_of=world.account_id)
    other_token = await lms.db.create_token(other)
    maker = dict(await lms.user_json(world.admin_id) or {})
    path = f"{imports}/{created.body['id']}"

    seen_by_other = await api.get(path, token=other_token)
    seen_by_maker = await api.get(path)

    assert seen_by_other.body["user"] == maker
    assert maker["name"] == "Admin Skinner"
    assert seen_by_maker.body["user"] == maker
    assert (await api.get("/api/v1/users/self", token=other_token)).body["name"] == (
        "Admin Chalmers"
    )
