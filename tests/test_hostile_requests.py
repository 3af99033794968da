"""Hostile headers and multipart bodies on the create route, over real HTTP, on both stores.

The limits: request headers (names and values) at most ``max_header_bytes`` (default 8 KiB);
in a multipart body at most 16 parts, 8 headers per part and 8 KiB per part's header block.
Past any of them the answer is 400 with a JSON error naming the limit, and nothing is stored.
Header parameters are parsed in linear time: crafted values (runs of ``;`` after an unclosed
quote) are read as before, and the IOLoop keeps serving while such a request is refused. No
assertion here is about time; waits are bounded and generous.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Sequence
from email.message import Message
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from hypothesis import given
from hypothesis import strategies as st
from tornado.iostream import IOStream
from tornado.tcpclient import TCPClient

from lms_outcomes_plugin.api.mediatype import media_type, parameters
from lms_outcomes_plugin.host.app import EmbeddedHost
from tests.conftest import Api, Response, World
from tests.toy_formats import EmptyFormatPlugin
from tests.tree import Tree

BOUNDARY = "h0stile-boundary"
MULTIPART = f"multipart/form-data; boundary={BOUNDARY}"
ONE_GROUP = b"title,vendor_guid,object_type\nTest,test,group\n"
#: Runs of ";" after an unclosed quote: what made the standard library's parser quadratic.
CRAFTED = '; a="' + ";" * 7_000

HEADERS_TOO_LARGE = {"error": "The request headers are larger than the limit of 8192 bytes"}
TOO_MANY_PARTS = {"error": "The multipart body has more than the limit of 16 parts"}
TOO_MANY_PART_HEADERS = {"error": "A multipart part has more than the limit of 8 headers"}
PART_HEADERS_TOO_LARGE = {
    "error": "A multipart part's headers are larger than the limit of 8192 bytes"
}
INVALID_MULTIPART = {"error": "Invalid multipart/form-data body"}
UTF8_REQUIRED = {"error": "Invalid content type, UTF-8 required"}


@pytest.fixture
def plugin_settings(plugin_settings: dict[str, Any]) -> dict[str, Any]:
    # import_type=empty: a second valid type, to tell a form value from the default.
    return {**plugin_settings, "extra_plugins": [EmptyFormatPlugin()]}


def imports_of(world: World) -> str:
    return f"/api/v1/accounts/{world.account_id}/outcome_imports"


def part(disposition: str, content: bytes = b"", headers: Sequence[str] = ()) -> bytes:
    """One part of a multipart body, its delimiter line first."""
    lines = "\r\n".join([f"Content-Disposition: {disposition}", *headers])
    return f"--{BOUNDARY}\r\n{lines}\r\n\r\n".encode() + content + b"\r\n"


def field(name: str, value: str) -> bytes:
    return part(f'form-data; name="{name}"', value.encode())


def attachment(headers: Sequence[str] = (), disposition: str | None = None) -> bytes:
    disposition = disposition or 'form-data; name="attachment"; filename="upload.csv"'
    return part(disposition, ONE_GROUP, ["Content-Type: text/csv", *headers])


def form(*parts: bytes) -> bytes:
    return b"".join(parts) + f"--{BOUNDARY}--\r\n".encode()


async def post_form(api: Api, world: World, body: bytes, **kwargs: Any) -> Any:
    return await api.post(imports_of(world), body=body, headers={"Content-Type": MULTIPART},
                          **kwargs)


def stored_upload(tree: Tree, import_id: int) -> tuple[str, str, int]:
    """The import's stored file: (filename, content type, size)."""
    [row] = tree.rows(
        "SELECT a.filename, a.content_type, a.size FROM lms_outcomes_imports i "
        "JOIN lms_outcomes_attachments a ON a.id = i.attachment_id WHERE i.id = ?", import_id)
    return row[0], row[1], row[2]


async def assert_nothing_stored(tree: Tree, db_path: Path, storage_backend: str,
                                world: World) -> None:
    """No import in the world's account, no attachment but other imports', and no file in the
    SQLite store's attachments directory but theirs (the PostgreSQL store keeps none there).
    The handler aborts the upload just after it has answered: wait for that, bounded."""
    directory = db_path.with_name(db_path.name + ".attachments")
    keys = {key for (key,) in tree.rows("SELECT storage_key FROM lms_outcomes_attachments")}
    expected = keys if storage_backend == "sqlite" else set()
    for _ in range(200):
        files = {path.name for path in directory.glob("*")}
        if files == expected:
            break
        await asyncio.sleep(0.01)
    assert files == expected
    assert tree.rows("SELECT count(*) FROM lms_outcomes_imports WHERE context_type = 'account' "
                     "AND context_id = ?", world.account_id) == [(0,)]
    assert tree.rows("SELECT count(*) FROM lms_outcomes_attachments a WHERE NOT EXISTS "
                     "(SELECT 1 FROM lms_outcomes_imports i WHERE i.attachment_id = a.id)"
                     ) == [(0,)]


# -- request headers ------------------------------------------------------------------------------


@pytest.mark.gen_test(timeout=60)
@pytest.mark.parametrize(
    "headers",
    [
        {"Content-Type": MULTIPART + '; a="' + ";" * 8_200},
        {"Content-Type": "text/csv" + ";" * 65_000},
        {"Content-Type": "text/csv", "X-Padding": "x" * 8_200},
    ],
    ids=["crafted-content-type", "64-kib-content-type", "long-other-header"],
)
async def test_request_headers_over_the_limit_are_400(
    api: Api, world: World, tree: Tree, db_path: Path, storage_backend: str,
    headers: dict[str, str],
) -> None:
    response = await api.post(imports_of(world), body=form(attachment()), headers=headers)

    assert (response.status, response.body) == (400, HEADERS_TOO_LARGE)
    await assert_nothing_stored(tree, db_path, storage_backend, world)


async def raw_request(api: Api, head: str, body: bytes = b"") -> tuple[int, bytes]:
    """Send ``head`` (request line and headers) and ``body`` on a socket of our own; return the
    status and body of the answer (the request says ``Connection: close``)."""
    port = urlsplit(api.root).port
    assert port is not None
    stream: IOStream = await TCPClient().connect("127.0.0.1", port)
    try:
        await stream.write(head.encode("latin-1") + body)
        answer = await asyncio.wait_for(stream.read_until_close(), timeout=30)
    finally:
        stream.close()
    status_line, _, rest = answer.partition(b"\r\n")
    return int(status_line.split()[1]), rest.partition(b"\r\n\r\n")[2]


@pytest.mark.gen_test(timeout=60)
async def test_the_request_header_limit_counts_names_and_values_and_answers_before_the_body(
    api: Api, world: World, tree: Tree, db_path: Path, storage_backend: str,
) -> None:
    """8,192 bytes of names and values are accepted, 8,193 are not; the refusal comes although
    the declared body was never sent."""

    def head(total: int) -> str:
        headers = {
            "Host": "lms.test",
            "Authorization": f"Bearer {world.admin_token}",
            "Content-Type": "text/csv",
            "Content-Length": str(len(ONE_GROUP)),
            "Connection": "close",
        }
        used = sum(len(name) + len(value) for name, value in headers.items())
        headers["X-Padding"] = "x" * (total - used - len("X-Padding"))
        lines = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
        return f"POST {imports_of(world)} HTTP/1.1\r\n{lines}\r\n"

    refused = await raw_request(api, head(8_193))  # no body at all
    assert refused == (400, b'{"error": "The request headers are larger than the limit of '
                            b'8192 bytes"}')
    await assert_nothing_stored(tree, db_path, storage_backend, world)

    status, _ = await raw_request(api, head(8_192), ONE_GROUP)
    assert status == 200


@pytest.mark.gen_test(timeout=60)
@pytest.mark.parametrize(
    ("content_type", "body", "expected"),
    [
        # The charset is inside the unclosed quote: no parameter, so no charset to refuse.
        ("text/csv" + CRAFTED + "; charset=latin1", ONE_GROUP, 200),
        ("text/csv; charset=latin1" + CRAFTED, ONE_GROUP, UTF8_REQUIRED),
        # A closed quote: the boundary after it is a parameter ...
        ("multipart/form-data" + CRAFTED + f'"; boundary={BOUNDARY}', form(attachment()), 200),
        # ... and inside an unclosed one it is not.
        ("multipart/form-data" + CRAFTED + f"; boundary={BOUNDARY}", form(attachment()),
         INVALID_MULTIPART),
    ],
    ids=["charset-in-open-quote", "charset-before", "boundary-after-quote",
         "boundary-in-open-quote"],
)
async def test_crafted_content_types_under_the_limit_are_read_as_quoted(
    api: Api, world: World, tree: Tree, content_type: str, body: bytes, expected: Any,
) -> None:
    # Not through Api.post: openapi-core's validator splits parameters at every ";" and "=",
    # and fails on these values before it compares anything with openapi.yaml.
    raw = await api.client.fetch(
        api.root + imports_of(world), method="POST", body=body, raise_error=False,
        headers={"Authorization": f"Bearer {world.admin_token}", "Content-Type": content_type},
    )
    response = Response(raw.code, json.loads(raw.body), raw.headers)

    if expected == 200:
        assert response.status == 200, response.body
        filename = "upload.csv" if content_type.startswith("multipart") else "outcome_import.csv"
        assert stored_upload(tree, response.body["id"])[0] == filename
    else:
        assert (response.status, response.body) == (400, expected)


# -- multipart parts ------------------------------------------------------------------------------


@pytest.mark.gen_test(timeout=60)
@pytest.mark.parametrize("parts", [16, 17])
async def test_at_most_16_parts(
    api: Api, world: World, tree: Tree, db_path: Path, storage_backend: str, parts: int,
) -> None:
    notes = [field(f"note{n}", "hello") for n in range(parts - 1)]

    response = await post_form(api, world, form(*notes, attachment()))

    if parts == 16:
        assert response.status == 200, response.body
        assert stored_upload(tree, response.body["id"]) == ("upload.csv", "text/csv",
                                                           len(ONE_GROUP))
    else:
        assert (response.status, response.body) == (400, TOO_MANY_PARTS)
        await assert_nothing_stored(tree, db_path, storage_backend, world)


def crafted_parts(count: int) -> list[bytes]:
    """Parts whose Content-Disposition names a kept field (so it is parsed) and then runs
    ``;`` after an unclosed quote, each just under the header block limit."""
    return [part('form-data; name="import_type"' + CRAFTED) for _ in range(count)]


@pytest.mark.gen_test(timeout=60)
async def test_many_crafted_parts_are_refused_at_the_part_limit(
    api: Api, world: World, tree: Tree, db_path: Path, storage_backend: str,
) -> None:
    response = await post_form(api, world, form(attachment(), *crafted_parts(64)))

    assert (response.status, response.body) == (400, TOO_MANY_PARTS)
    await assert_nothing_stored(tree, db_path, storage_backend, world)


def block_of(size: int) -> bytes:
    """A body whose first part's header block (from the body's start to the start of its
    data: the boundary line, the headers and the blank line) is ``size`` bytes."""
    padding = "X-Padding: "
    empty = attachment([padding])
    header_block = len(empty) - len(ONE_GROUP) - len(b"\r\n")
    return form(attachment([padding + "x" * (size - header_block)]))


@pytest.mark.gen_test(timeout=60)
@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (block_of(8_192), 200),
        (block_of(8_193), PART_HEADERS_TOO_LARGE),
        # One Content-Disposition over the limit, crafted.
        (form(attachment(disposition='form-data; name="attachment"' + CRAFTED + ";" * 2_000)),
         PART_HEADERS_TOO_LARGE),
        # A later part's block: its boundary line, with padding after it, counts.
        (form(field("note", "hi"), attachment()).replace(
            f"--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"attachment\"".encode(),
            f"--{BOUNDARY}{' ' * 9_000}\r\nContent-Disposition: form-data; "
            f'name="attachment"'.encode()),
         PART_HEADERS_TOO_LARGE),
        (form(attachment([f"X-Note-{n}: {n}" for n in range(6)])), 200),  # 8 headers
        (form(attachment([f"X-Note-{n}: {n}" for n in range(7)])), TOO_MANY_PART_HEADERS),
    ],
    ids=["block-at-limit", "block-over-limit", "crafted-disposition", "padding",
         "8-headers", "9-headers"],
)
async def test_a_part_header_block_is_at_most_8_kib_and_8_headers(
    api: Api, world: World, tree: Tree, db_path: Path, storage_backend: str,
    body: bytes, expected: Any,
) -> None:
    response = await post_form(api, world, body)

    if expected == 200:
        assert response.status == 200, response.body
        assert stored_upload(tree, response.body["id"])[0] == "upload.csv"
    else:
        assert (response.status, response.body) == (400, expected)
        await assert_nothing_stored(tree, db_path, storage_backend, world)


@pytest.mark.gen_test(timeout=60)
@pytest.mark.parametrize("order", ["field-first", "file-first"])
async def test_the_file_and_import_type_in_either_order(
    api: Api, world: World, tree: Tree, order: str
) -> None:
    """``import_type`` after the file is still read, although later parts are otherwise only
    counted; parts that matter to nothing around them are skipped."""
    parts = [field("note", "x" * 5_000), field("import_type", "empty"), attachment(),
             field("other", "y")]
    if order == "file-first":
        parts = [attachment(), field("note", "x"), field("import_type", "empty")]

    response = await post_form(api, world, form(*parts))

    assert response.status == 200, response.body
    assert response.body["data"] == {"import_type": "empty"}
    assert stored_upload(tree, response.body["id"]) == ("upload.csv", "text/csv", len(ONE_GROUP))


@pytest.mark.gen_test(timeout=60)
@pytest.mark.parametrize(
    ("disposition", "filename"),
    [
        ("form-data; name=attachment; filename*=UTF-8''%C3%A9l%C3%A8ves.csv", "élèves.csv"),
        ("form-data; name=attachment; filename=plain.csv; filename*=utf-8''%E2%9C%93.csv",
         "✓.csv"),
        ("form-data; name=attachment; filename*=iso-8859-1'fr'%E9t%E9.csv", "été.csv"),
        # A charset RFC 5987 does not require: the plain filename is used.
        ("form-data; name=attachment; filename=plain.csv; filename*=koi8-r''%C1.csv",
         "plain.csv"),
    ],
)
async def test_rfc_2231_filenames(
    api: Api, world: World, tree: Tree, disposition: str, filename: str
) -> None:
    response = await post_form(api, world, form(attachment(disposition=disposition)))

    assert response.status == 200, response.body
    assert stored_upload(tree, response.body["id"])[0] == filename


# -- the IOLoop keeps serving ---------------------------------------------------------------------

#: Bound of each wait below.
WAIT = 30


async def other_tenant(lms: EmbeddedHost) -> tuple[str, str]:
    """Another root account with its own admin: its imports path and the admin's token."""
    account = await lms.db.create_account("Shelbyville District")
    admin = await lms.db.create_user("Admin Chalmers", admin_of=account)
    return f"/api/v1/accounts/{account}/outcome_imports", await lms.db.create_token(admin)


@pytest.mark.gen_test(timeout=120)
async def test_another_tenant_is_answered_while_a_crafted_body_is_refused(
    api: Api, world: World, lms: EmbeddedHost, tree: Tree, db_path: Path, storage_backend: str,
) -> None:
    """A body of crafted parts arrives in two pieces; between them another root account's
    admin reads an import's status, and is answered before the rest is sent."""
    other_imports, other_token = await other_tenant(lms)
    other = await api.post_csv(other_imports, ONE_GROUP, token=other_token)
    assert other.status == 200, other.body
    halfway, answered = asyncio.Event(), asyncio.Event()
    log: list[str] = []

    async def crafted_body(write: Callable[[bytes], Any]) -> None:
        await write(b"".join([attachment(), *crafted_parts(8)]))
        halfway.set()
        await asyncio.wait_for(answered.wait(), timeout=WAIT)
        log.append("crafted: the rest sent")
        await write(form(*crafted_parts(40)))

    async def other_tenant_reads() -> Any:
        try:
            await asyncio.wait_for(halfway.wait(), timeout=WAIT)
            status = await api.get(f"{other_imports}/{other.body['id']}", token=other_token)
            log.append("other: answered")
            return status
        finally:
            answered.set()  # on failure too: the crafted body then ends and the test reports it

    reader = asyncio.ensure_future(other_tenant_reads())
    try:
        refused = await api.post(imports_of(world), body_producer=crafted_body,
                                 headers={"Content-Type": MULTIPART})
    finally:
        if not reader.done():
            reader.cancel()
    status = await reader

    assert (refused.status, refused.body) == (400, TOO_MANY_PARTS)
    assert (status.status, status.body["id"]) == (200, other.body["id"])
    assert log == ["other: answered", "crafted: the rest sent"]
    await assert_nothing_stored(tree, db_path, storage_backend, world)


# -- the parameter parser -------------------------------------------------------------------------


@given(value=st.text(alphabet=';="\\ \tab/', max_size=40), name=st.sampled_from(["a", "b", "ab"]))
def test_parameters_are_split_and_unquoted_as_the_standard_library_does(
    value: str, name: str
) -> None:
    """Same answers as ``email.message`` (whose cost is quadratic on crafted values), outside
    what this module leaves out: RFC 2231 continuations and ``<...>`` unquoting."""
    message = Message()
    message["Content-Type"] = value

    assert parameters(value).get(name) == message.get_param(name)
    assert media_type(value) == message.get_content_type()
