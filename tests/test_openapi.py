"""openapi.yaml: a valid OpenAPI document, served by the plugin, in step with its routes."""

from __future__ import annotations

import io
import re

import pytest
import yaml
from openapi_spec_validator import validate
from tornado.httpclient import HTTPRequest, HTTPResponse
from tornado.httputil import HTTPHeaders
from tornado.web import RequestHandler

from lms_outcomes_plugin.api.openapi import document
from lms_outcomes_plugin.host.app import EmbeddedHost
from lms_outcomes_plugin.plugin import service_for
from tests.conftest import OPENAPI_YAML, Api, openapi_check

METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")

#: Documented read routes that the plugin does not serve yet (issue 5, part B). The test below
#: fails as soon as one of them is served, so that it is taken off this list: once it is
#: empty, the document and the routes must match exactly.
def spec() -> dict:
    return yaml.safe_load(OPENAPI_YAML.read_bytes())


def test_the_document_is_valid_openapi() -> None:
    validate(spec())


def test_the_package_ships_the_document() -> None:
    assert document() == OPENAPI_YAML.read_bytes()


@pytest.mark.gen_test
async def test_the_document_is_served_without_a_token(api: Api) -> None:
    response = await api.get("/api/v1/lms_outcomes/openapi.yaml", token=None)

    assert response.status == 200
    assert response.headers["Content-Type"].startswith("application/yaml")
    assert response.body == OPENAPI_YAML.read_text(encoding="utf-8")


def test_every_route_is_documented_and_every_documented_route_is_served(
    lms: EmbeddedHost,
) -> None:
    served = {
        (method, template)
        for pattern, handler, *_ in service_for(lms).routes()
        for template in expand(pattern)
        for method in handled_methods(handler)
    }
    documented = {
        (method.upper(), re.sub(r"\{[^}]+\}", "{}", path))
        for path, item in spec()["paths"].items()
        for method in item
        if method.upper() in METHODS
    }

    assert served - documented == set(), "served but not in openapi.yaml"
    assert documented - served == set(), "in openapi.yaml but not served"


def test_the_route_expansion() -> None:
    assert expand(r"/a/(x|y)/([^/]+)/b(?:/c/([^/]+))?") == [
        "/a/x/{}/b",
        "/a/x/{}/b/c/{}",
        "/a/y/{}/b",
        "/a/y/{}/b/c/{}",
    ]
    assert expand(r"/doc\.yaml/(\d+)") == ["/doc.yaml/{}"]


def test_the_checker_refuses_an_answer_the_document_does_not_allow() -> None:
    request = HTTPRequest(
        "http://lms.test/api/v1/accounts/1/outcome_imports/1",
        headers={"Authorization": "Bearer token"},
    )
    headers = HTTPHeaders({"Content-Type": "application/json"})
    wrong = HTTPResponse(request, 200, headers=headers, buffer=io.BytesIO(b'{"id": "one"}'))

    with pytest.raises(AssertionError, match=r"^response does not match openapi\.yaml"):
        openapi_check().check(wrong, "", None)


def handled_methods(handler: type[RequestHandler]) -> list[str]:
    """The HTTP methods a handler class implements itself (Tornado answers 405 to others)."""
    return [
        method
        for method in METHODS
        if getattr(handler, method.lower()) is not getattr(RequestHandler, method.lower())
    ]


def expand(pattern: str) -> list[str]:
    """Every path a route pattern matches, as an OpenAPI template with ``{}`` parameters.

    Knows the regex the plugin's routes use: literals, ``\\.`` escapes, alternatives of
    literals ``(a|b)``, parameters ``([^/]+)`` / ``(\\d+)``, and optional groups ``(?:...)?``.
    """
    variants, end = _sequence(pattern, 0)
    assert end == len(pattern), f"unbalanced pattern {pattern!r}"
    return variants


def _sequence(pattern: str, i: int) -> tuple[list[str], int]:
    alternatives: list[str] = []
    current = [""]
    while i < len(pattern) and pattern[i] != ")":
        if pattern[i] == "|":
            alternatives += current
            current, i = [""], i + 1
            continue
        pieces, i = _atom(pattern, i)
        if pattern.startswith("?", i):
            pieces, i = ["", *pieces], i + 1
        current = [head + piece for head in current for piece in pieces]
    return alternatives + current, i


def _atom(pattern: str, i: int) -> tuple[list[str], int]:
    char = pattern[i]
    if char == "(":
        start = i + 3 if pattern.startswith("(?:", i) else i + 1
        inner, end = _sequence(pattern, start)
        return inner, end + 1
    if char == "[" or pattern.startswith(("\\d", "\\w"), i):
        end = pattern.index("]", i) + 1 if char == "[" else i + 2
        return ["{}"], end + (pattern[end : end + 1] in ("+", "*"))
    if char == "\\":
        return [pattern[i + 1]], i + 2
    assert char not in ".*+^$", f"unsupported regex at {pattern[i:]!r}"
    return [char], i + 1
