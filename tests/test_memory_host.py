"""A host that is not the embedded one (tests/memory_host.py: in memory, a slotted
``@dataclass``) runs the plugin from the ``lms`` entry points: a real import over HTTP, end to
end, on both stores."""

from __future__ import annotations

import weakref
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import tornado.web
from tornado.httpclient import AsyncHTTPClient
from tornado.ioloop import IOLoop

from lms_hooks.host import PERMISSIONS, Context, HostUser
from tests.canvas_bodies import INVALID_TOKEN, NOT_FOUND
from tests.conftest import Api
from tests.memory_host import CREATED_AT, MemoryHost

CSV = (
    b"vendor_guid,object_type,title,parent_guids,ratings,\r\n"
    b"reading,group,Reading,,,\r\n"
    b"decode,outcome,Decode words,reading,3,Meets\r\n"
)


@dataclass
class Campus:
    district: Context
    school: Context
    course: Context
    other: Context
    admin: HostUser
    token: str


@pytest.fixture
def memory_host(plugin_settings: dict[str, Any]) -> MemoryHost:
    return MemoryHost(settings={"lms_outcomes": plugin_settings})


@pytest.fixture
def campus(memory_host: MemoryHost) -> Campus:
    district = memory_host.add_account("District")
    school = memory_host.add_account("School", district, locale="fr")
    course = memory_host.add_course("Biology", school)
    other = memory_host.add_account("Elsewhere")
    admin, token = memory_host.add_user("Ada")
    for permission in PERMISSIONS:
        memory_host.grant(admin, permission, district)
    return Campus(district, school, course, other, admin, token)


@pytest.fixture
def app(memory_host: MemoryHost, campus: Campus, io_loop: IOLoop) -> Iterator[Any]:
    application = memory_host.make_app()
    io_loop.run_sync(memory_host.startup)
    yield application
    io_loop.run_sync(memory_host.shutdown)


@pytest.fixture
def api(http_client: AsyncHTTPClient, base_url: str, campus: Campus) -> Api:
    return Api(http_client, base_url, token=campus.token)


def test_the_host_is_neither_hashable_nor_weak_referenceable(memory_host: MemoryHost) -> None:
    with pytest.raises(TypeError, match="unhashable type: 'MemoryHost'"):
        hash(memory_host)
    with pytest.raises(TypeError, match="cannot create weak reference to 'MemoryHost' object"):
        weakref.ref(memory_host)


@pytest.mark.gen_test(timeout=60)
async def test_an_import_runs_end_to_end(api: Api, campus: Campus, app: Any) -> None:
    imports = f"/api/v1/accounts/{campus.district.id}/outcome_imports"

    created = await api.post_csv(imports, CSV)
    assert created.status == 200, created.body
    done = await api.wait_for_import(f"{imports}/{created.body['id']}")

    assert done.body["workflow_state"] == "succeeded", done.body
    assert done.body["processing_errors"] == []
    assert done.body["user"] == {
        "id": campus.admin.id, "name": "Ada", "sortable_name": "Ada", "short_name": "Ada",
        "created_at": CREATED_AT,
    }  # fmt: skip
    links = await api.get(
        f"/api/v1/accounts/{campus.district.id}/outcome_group_links?outcome_style=full"
    )
    [link] = links.body
    assert (link["outcome_group"]["title"], link["outcome"]["title"]) == (
        "Reading", "Decode words"
    )
    assert link["outcome"]["ratings"] == [{"description": "Meets", "points": 3.0}]
    group_ids = await api.get(f"{imports}/{created.body['id']}/created_group_ids")
    assert group_ids.body == [str(link["outcome_group"]["id"])]
    assert isinstance(app, tornado.web.Application)


@pytest.mark.gen_test(timeout=30)
@pytest.mark.parametrize("raw_id", ["self", "0001", "-1", "1e3", "%E2%91%A0", "9" * 40])
async def test_raw_ids_reach_find_context_and_name_nothing(
    api: Api, app: Any, raw_id: str
) -> None:
    answer = await api.get(f"/api/v1/accounts/{raw_id}/outcome_imports/latest")
    assert (answer.status, answer.body) == (404, NOT_FOUND)


@pytest.mark.gen_test(timeout=30)
async def test_a_token_the_host_does_not_know_is_refused(
    api: Api, campus: Campus, app: Any
) -> None:
    answer = await api.get(
        f"/api/v1/accounts/{campus.district.id}/outcome_imports/latest", token="nope"
    )
    assert (answer.status, answer.body) == (401, INVALID_TOKEN)
