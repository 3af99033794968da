"""Canvas's page-number pagination and its ``Link`` header (``lib/api.rb``)."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from urllib.parse import urlencode

from tornado.httputil import HTTPServerRequest

from lms_outcomes_plugin.storage import Page

PER_PAGE = 10
MAX_PER_PAGE = 100
#: Query parameters the Link header's URLs leave out (and set anew).
EXCLUDED = frozenset({"page", "per_page", "access_token", "api_key"})
RELS = ("current", "next", "prev", "first", "last")
#: Pages beyond this are all past the end of any listing (and their offset fits SQLite's).
MAX_PAGE = 10**9


class InvalidPage(ValueError):
    """A page that is not a positive whole number (Canvas answers 404)."""


@dataclass(frozen=True, slots=True)
class PageRequest:
    number: int
    per_page: int

    @classmethod
    def of(cls, request: HTTPServerRequest) -> PageRequest:
        return cls(_page_number(request), _per_page(request))

    @property
    def slice(self) -> Page:
        return Page(offset=(self.number - 1) * self.per_page, limit=self.per_page)

    def link_header(self, request: HTTPServerRequest, total: int) -> str:
        last = max(1, math.ceil(total / self.per_page))
        pages = {
            "current": self.number,
            "next": self.number + 1 if self.number < last else None,
            "prev": self.number - 1 if self.number > 1 else None,
            "first": 1,
            "last": last,
        }
        base = f"{request.protocol}://{request.host}{request.path}?{_kept_query(request)}"
        return ",".join(
            f'<{base}page={page}&per_page={self.per_page}>; rel="{rel}"'
            for rel in RELS
            if (page := pages[rel]) is not None
        )


def _argument(request: HTTPServerRequest, name: str) -> str | None:
    values = request.query_arguments.get(name)
    return values[-1].decode("utf-8", "replace") if values else None


def _page_number(request: HTTPServerRequest) -> int:
    raw = _argument(request, "page")
    if raw is None:
        return 1
    if not re.fullmatch(r"[0-9]+", raw) or not raw.strip("0"):
        raise InvalidPage(raw)
    # A page past the end is [] (Canvas); past what an offset can hold, it is the same page.
    significant = raw.lstrip("0")
    return int(significant) if len(significant) <= 9 else MAX_PAGE


def _per_page(request: HTTPServerRequest) -> int:
    """Ruby's ``to_i`` then a clamp: garbage or 0 is 1, 1000 is 100."""
    raw = (_argument(request, "per_page") or str(PER_PAGE)).strip()
    digits = raw[1:] if raw[:1] in "+-" else raw
    prefix = len(digits) - len(digits.lstrip("0123456789"))
    # Clamped to 100 anyway: a few digits decide it (int() refuses 4,300).
    significant = digits[:prefix].lstrip("0")[:6]
    value = int(significant or 0) * (-1 if raw.startswith("-") else 1)
    return min(max(value, 1), MAX_PER_PAGE)


def _kept_query(request: HTTPServerRequest) -> str:
    """The request's other parameters, sorted (Rails' ``to_query``), each followed by ``&``."""
    kept = sorted(
        (name, value.decode("utf-8", "replace"))
        for name, values in request.query_arguments.items()
        if name not in EXCLUDED
        for value in values
    )
    return urlencode(kept) + "&" if kept else ""
