"""Every error of an import, over real HTTP on both backends: ``.../errors`` pages through all of
them as the read routes paginate, ``.../errors.csv`` streams them all as CSV in flat memory, and
both answer 401 and 404 exactly as the status route does. The status's ``processing_errors``
stays Canvas's first 25 (tests/test_api_imports.py).
"""

from __future__ import annotations

import csv
import json
import re
import tracemalloc
from pathlib import Path
from typing import Any

import pytest
from tornado.httpclient import AsyncHTTPClient

from lms_outcomes_plugin.host.app import EmbeddedHost
from tests.conftest import Api, World

#: Bad rows in the large import: each one's object_type is its own error.
BAD_ROWS = 100_000
LINK = re.compile(r'<([^>]+)>; rel="(\w+)"')
NOT_FOUND = {"errors": [{"message": "The specified resource does not exist."}]}


def imports_of(world: World, context: str = "accounts") -> str:
    context_id = world.account_id if context == "accounts" else world.course_id
    return f"/api/v1/{context}/{context_id}/outcome_imports"


def bad_rows(count: int, start: int = 0) -> bytes:
    """A file of ``count`` rows whose object_type is ``x<n>``: row ``n + 2`` is the error
    ``Invalid object_type: "x<n>"``."""
    rows = "".join(f"T{n},g{n},x{n}\n" for n in range(start, start + count))
    return ("title,vendor_guid,object_type\n" + rows).encode()


def expected(count: int) -> list[list[Any]]:
    return [[n + 2, f'Invalid object_type: "x{n}"'] for n in range(count)]


async def imported(api: Api, imports: str, data: bytes, seconds: float = 20) -> int:
    created = await api.post_csv(imports, data)
    assert created.status == 200, created.body
    done = await api.wait_for_import(f"{imports}/{created.body['id']}", seconds)
    assert done.body["workflow_state"] == "succeeded", done.body
    return int(created.body["id"])


def links(response: Any) -> dict[str, str]:
    return {rel: url for url, rel in LINK.findall(response.headers["Link"])}


@pytest.mark.gen_test(timeout=240)
async def test_every_one_of_100000_errors_pages_through_and_downloads(
    api: Api, world: World, http_client: AsyncHTTPClient, base_url: str, tmp_path: Path
) -> None:
    imports = imports_of(world)
    import_id = await imported(api, imports, bad_rows(BAD_ROWS), seconds=120)
    errors = f"{imports}/{import_id}/errors"

    status = await api.get(f"{imports}/{import_id}")
    first = await api.get(f"{errors}?per_page=100")  # checked against openapi.yaml
    assert status.body["processing_errors"] == expected(25)
    assert first.body == expected(100)
    assert links(first)["last"].endswith(f"/errors?page={BAD_ROWS // 100}&per_page=100")

    # Link rel="next" to the end (unchecked requests: a thousand of them).
    paged: list[list[Any]] = []
    url: str | None = links(first)["current"]
    while url is not None:
        page = await http_client.fetch(url, headers=bearer(world))
        paged.extend(json.loads(page.body))
        url = links(page).get("next")
    assert paged == expected(BAD_ROWS)

    lines, peak = await download_with_peak(
        http_client, base_url + f"{errors}.csv", world, tmp_path / "errors.csv"
    )
    assert lines[0] == ["row", "message"]
    assert [[int(row), message] for row, message in lines[1:]] == expected(BAD_ROWS)
    # Read and written at once, these errors take over 50 MB at the peak (their CSV text alone
    # is 3.5 MB); streamed a chunk at a time, about 1 MB whatever their number.
    assert peak < 4 * 1024 * 1024, peak


def bearer(world: World) -> dict[str, str]:
    return {"Authorization": f"Bearer {world.admin_token}"}


async def download_with_peak(
    client: AsyncHTTPClient, url: str, world: World, path: Path
) -> tuple[list[list[str]], int]:
    """errors.csv as it streams in, and the most memory the process (the server, and the
    client: the same process) held at once meanwhile. Each chunk goes straight to ``path``, so
    the client holds none of them; the file is parsed afterwards."""
    with path.open("wb") as out:

        def keep(chunk: bytes) -> None:
            out.write(chunk)

        tracemalloc.start()
        try:
            response = await client.fetch(url, headers=bearer(world), streaming_callback=keep)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    assert response.code == 200
    assert response.headers["Content-Type"] == "text/csv; charset=utf-8"
    import_id = url.split("/")[-2]
    assert response.headers["Content-Disposition"] == (
        f'attachment; filename="outcome_import_{import_id}_errors.csv"'
    )
    with path.open(newline="", encoding="utf-8") as text:
        return list(csv.reader(text)), peak


@pytest.mark.gen_test(timeout=60)
async def test_errors_answer_401_and_404_as_the_status_does(
    api: Api, world: World, lms: EmbeddedHost
) -> None:
    """The same requests, to the status and to both errors routes: the same answers (the CSV
    route answers its refusals in JSON, as every route does)."""
    imports = imports_of(world)
    import_id = await imported(api, imports, bad_rows(3))
    outsider = await user_with(lms)
    reader = await user_with(lms, ("read_outcomes", "account", world.account_id))
    manager = await user_with(lms, ("manage_outcomes", "account", world.account_id))
    course_import = f"{imports_of(world, 'courses')}/{import_id}"
    cases = [
        (f"{imports}/{import_id}", None),  # no token
        (f"{imports}/{import_id}", "not-a-token"),
        (f"{imports}/{import_id}", outsider),
        (f"{imports}/{import_id}", reader),
        (f"/api/v1/accounts/999999/outcome_imports/{import_id}", "default"),
        (f"{imports}/999999", "default"),
        (f"{imports}/abc", "default"),
        (course_import, "default"),  # an import of another context
    ]

    for path, token in cases:
        status = await api.get(path, token=token)
        assert status.status in (401, 404), (path, status.body)
        for suffix in ("/errors", "/errors.csv"):
            answer = await api.get(path + suffix, token=token)
            assert (answer.status, answer.body) == (status.status, status.body), path + suffix
            assert answer.headers.get("WWW-Authenticate") == status.headers.get(
                "WWW-Authenticate"
            )
    for token in (manager, "default"):  # import_outcomes or manage_outcomes, as the status
        found = await api.get(f"{imports}/{import_id}/errors", token=token)
        assert (found.status, found.body) == (200, expected(3))


async def user_with(lms: EmbeddedHost, *grants: tuple[str, str, int]) -> str:
    user = await lms.db.create_user("Someone")
    for permission, context_type, context_id in grants:
        await lms.db.grant(user, permission, context_type, context_id)
    return await lms.db.create_token(user)


@pytest.mark.gen_test(timeout=60)
async def test_errors_pages_as_the_read_routes_do(api: Api, world: World) -> None:
    imports = imports_of(world)
    import_id = await imported(api, imports, bad_rows(25))
    errors = f"{imports}/{import_id}/errors"

    default = await api.get(errors)
    last = await api.get(f"{errors}?page=3")
    past = await api.get(f"{errors}?page=4&per_page=10")
    clamped = await api.get(f"{errors}?per_page=1000")
    latest = await api.get(f"{imports}/latest/errors?per_page=5&page=2")
    bad_page = await api.get(f"{errors}?page=0")

    assert default.body == expected(10)
    assert links(default) == {
        rel: f"{api.root}{errors}?page={page}&per_page=10"
        for rel, page in (("current", 1), ("next", 2), ("first", 1), ("last", 3))
    }
    assert (last.body, set(links(last))) == (expected(25)[20:], {"current", "prev", "first",
                                                                   "last"})
    assert (past.status, past.body) == (200, [])
    assert clamped.body == expected(25)
    assert links(clamped)["last"].endswith("page=1&per_page=100")
    assert latest.body == expected(25)[5:10]
    assert (bad_page.status, bad_page.body) == (404, NOT_FOUND)


@pytest.mark.gen_test(timeout=60)
async def test_the_csv_quotes_what_csv_must_quote(
    api: Api, world: World, http_client: AsyncHTTPClient, base_url: str, tmp_path: Path
) -> None:
    """Messages quote cells: commas, quotes, line breaks and any script come back as sent; a
    file-level failure is its one error, and an import without errors a header alone."""
    imports = imports_of(world)
    tricky = (
        'title,vendor_guid,object_type\nT,a,"x,y"\nT,b,"say ""hi"""\nT,c,"two\nlines"\n'
        "T,d,Ωμέγα €\n"
    )
    import_id = await imported(api, imports, tricky.encode())
    created = await api.post_csv(imports, b"title,vendor_guid\n")
    failed = (await api.wait_for_import(f"{imports}/{created.body['id']}")).body
    clean = await imported(api, imports, b"title,vendor_guid,object_type\nT,g,group\n")

    rows, _ = await download_with_peak(
        http_client, f"{base_url}{imports}/{import_id}/errors.csv", world, tmp_path / "a.csv"
    )
    failure, _ = await download_with_peak(
        http_client, f"{base_url}{imports}/{failed['id']}/errors.csv", world, tmp_path / "b.csv"
    )
    empty, _ = await download_with_peak(
        http_client, f"{base_url}{imports}/{clean}/errors.csv", world, tmp_path / "c.csv"
    )
    assert rows == [
        ["row", "message"],
        ["2", 'Invalid object_type: "x,y"'],
        ["3", 'Invalid object_type: "say "hi""'],
        ["4", 'Invalid object_type: "two\nlines"'],
        ["5", 'Invalid object_type: "Ωμέγα €"'],  # rows are records, not lines
    ]
    assert failure == [["row", "message"], ["1", 'Missing required fields: ["object_type"]']]
    assert empty == [["row", "message"]]
    checked = await api.get(f"{imports}/{clean}/errors.csv")  # against openapi.yaml
    assert (checked.status, checked.body) == (200, "row,message\r\n")
