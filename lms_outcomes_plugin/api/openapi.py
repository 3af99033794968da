"""The plugin's own OpenAPI document, ``openapi.yaml`` beside this module, served as written."""

from __future__ import annotations

from functools import cache
from importlib import resources

from lms_outcomes_plugin.api.base import ApiHandler

#: Where the document is served, relative to the host's base URL.
PATH = "/api/v1/lms_outcomes/openapi.yaml"


@cache
def document() -> bytes:
    """The document's bytes (package data, so it ships in the wheel)."""
    return resources.files("lms_outcomes_plugin.api").joinpath("openapi.yaml").read_bytes()


class OpenApiHandler(ApiHandler):
    """``GET /api/v1/lms_outcomes/openapi.yaml``: public, like any API description."""

    def get(self) -> None:
        self.set_header("Content-Type", "application/yaml; charset=UTF-8")
        self.finish(document())


ROUTES = [(PATH.replace(".", r"\."), OpenApiHandler)]
