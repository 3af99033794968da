"""The plugin's Tornado handler base: Canvas authentication, authorization and JSON errors.

Authentication and authorization happen in ``prepare()``, before any request body is read.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, NoReturn

import tornado.web

from lms_hooks.host import (
    Authorization,
    Context,
    ContextType,
    HostUser,
    InvalidAccessToken,
    LmsHost,
)
from lms_outcomes_plugin.api import errors
from lms_outcomes_plugin.api.pagination import InvalidPage, PageRequest

#: Ids are SQLite/PostgreSQL integers: ASCII digits that fit 64 bits (str.isdigit also takes
#: "²" and "٣", and int() refuses more than 4,300 digits).
_ID = re.compile(r"[0-9]{1,19}")
MAX_ID = 2**63 - 1


def parse_id(text: str) -> int | None:
    """The id in a path segment, or None (Canvas answers 404)."""
    if not _ID.fullmatch(text):
        return None
    value = int(text)
    return value if 0 < value <= MAX_ID else None


#: The start of an account's or a course's routes: its URL segment and id.
CONTEXT = r"/api/v1/(accounts|courses)/([^/]+)"
#: URL segment -> host context type.
CONTEXT_TYPES: dict[str, ContextType] = {"accounts": "account", "courses": "course"}


class ApiHandler(tornado.web.RequestHandler):
    """A handler gets the parts it uses as its route's keyword arguments: every one the host,
    each subclass what else it needs (the store, the settings, ...), never the whole service."""

    host: LmsHost
    user: HostUser
    context: Context

    def initialize(self, host: LmsHost) -> None:
        self.host = host

    def check_xsrf_cookie(self) -> None:
        """API requests authenticate with tokens, never cookies."""

    def send_json(self, body: Any, status: int = 200) -> None:
        self.set_status(status)
        self.set_header("Content-Type", "application/json; charset=UTF-8")
        self.finish(json.dumps(body))

    def fail(self, status: int, body: Any) -> NoReturn:
        """Answer with ``body`` and end the request (raises tornado.web.Finish)."""
        self.send_json(body, status)
        raise tornado.web.Finish

    def page(self) -> PageRequest:
        """The page a paginated route is asked for; a bad ``page`` is Canvas's 404."""
        try:
            return PageRequest.of(self.request)
        except InvalidPage:
            self.fail(404, errors.NOT_FOUND)

    def send_page(self, items: list[Any], page: PageRequest, total: int) -> None:
        """One page of a listing, with Canvas's ``Link`` header."""
        self.set_header("Link", page.link_header(self.request, total))
        self.send_json(items)

    async def authorize(self, segment: str, context_id: str, *permissions: str) -> None:
        """Canvas's order: the user (401), the context (404), then any of ``permissions``
        (401 unauthorized)."""
        # A host with AuthorizingHost's method (looked up, not isinstance: a runtime Protocol
        # check costs more than the rest of a status request's Python).
        at_once = getattr(self.host, "authorize", None)
        if at_once is not None:
            await self._authorize_at_once(at_once, CONTEXT_TYPES[segment], context_id, permissions)
            return
        # The user and the context do not depend on each other: ask the host for both at once
        # (on a busy IOLoop every wait counts), then answer in Canvas's order.
        lookup = asyncio.ensure_future(
            self.host.find_context(CONTEXT_TYPES[segment], context_id)
        )
        try:
            await self.authenticate()
        except BaseException:
            await asyncio.gather(lookup, return_exceptions=True)  # never left running
            raise
        context = await lookup
        if context is None:
            self.fail(404, errors.NOT_FOUND)
        for permission in permissions:
            if await self.host.has_permission(self.user, context, permission):
                self.context = context
                return
        self.fail(401, errors.UNAUTHORIZED)

    async def _authorize_at_once(
        self,
        at_once: Callable[..., Awaitable[Authorization]],
        type: ContextType,
        context_id: str,
        permissions: Sequence[str],
    ) -> None:
        """:meth:`authorize` through the host's :meth:`AuthorizingHost.authorize`."""
        try:
            found = await at_once(self.request, type, context_id, permissions)
        except InvalidAccessToken:
            self._unauthenticated(errors.INVALID_TOKEN)
        if found.user is None:
            self._unauthenticated(errors.UNAUTHENTICATED)
        self.user = found.user
        if found.context is None:
            self.fail(404, errors.NOT_FOUND)
        if not found.permitted:
            self.fail(401, errors.UNAUTHORIZED)
        self.context = found.context

    def _unauthenticated(self, body: Any) -> NoReturn:
        self.set_header("WWW-Authenticate", errors.WWW_AUTHENTICATE)
        self.fail(401, body)

    async def authenticate(self) -> None:
        try:
            user = await self.host.authenticate(self.request)
        except InvalidAccessToken:
            self._unauthenticated(errors.INVALID_TOKEN)
        if user is None:
            self._unauthenticated(errors.UNAUTHENTICATED)
        self.user = user

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        self.set_header("Content-Type", "application/json; charset=UTF-8")
        self.finish(json.dumps(errors.generic_error(status_code, self._reason)))
