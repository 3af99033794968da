"""The embedded reference host: a small Tornado LMS host that loads ``lms`` plugins with pluggy.

It uses only the ``lms_hooks`` contracts, exactly as any third-party host would: the plugin is
found through the ``lms`` entry points, its rules are added under the host's base URL, and it is
handed this host as its :class:`lms_hooks.host.LmsHost`.
"""

from __future__ import annotations

import inspect
import logging
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from contextvars import ContextVar
from types import MappingProxyType
from typing import Any
from urllib.parse import unquote_plus

import pluggy
import tornado.web
from tornado.httpserver import HTTPServer
from tornado.httputil import HTTPServerRequest, responses
from tornado.log import access_log

import lms_hooks.host
from lms_hooks import LMS_PROJECT
from lms_hooks.host import (
    Authorization,
    Context,
    ContextType,
    HostUser,
    InvalidAccessToken,
    Rule,
)

from .db import CONTEXT_TYPES, MAX_ID, Account, Course, HostDatabase, User

logger = logging.getLogger(__name__)

#: The largest request body the host's HTTP server accepts; plugins enforce their own caps.
MAX_BODY_SIZE = 1 << 30

_DIGITS = re.compile(r"[0-9]+")

# Canvas's API error bodies (lib/authentication_methods.rb, application_controller.rb).
UNAUTHENTICATED = {
    "status": "unauthenticated",
    "errors": [{"message": "user authorization required"}],
}
INVALID_TOKEN = {"errors": [{"message": "Invalid access token."}]}
UNAUTHORIZED = {
    "status": "unauthorized",
    "errors": [{"message": "user not authorized to perform that action"}],
}
NOT_FOUND = {"errors": [{"message": "The specified resource does not exist."}]}
WWW_AUTHENTICATE = 'Bearer realm="canvas-lms"'
#: What the access log shows in place of an ``access_token`` query value.
REDACTED = "[REDACTED]"


def normalize_base_url(base_url: str) -> str:
    """``"/lms/"``, ``"lms"`` -> ``"/lms"``; ``"/"`` and ``""`` -> ``""``."""
    stripped = base_url.strip().strip("/")
    return f"/{stripped}" if stripped else ""


def request_token(request: HTTPServerRequest) -> str | None:
    """The token a request carries, as Canvas reads it: ``Authorization: Bearer <token>`` when
    the header uses the Bearer scheme, else a non-empty ``access_token`` query parameter."""
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme == "Bearer":
        # "Bearer" with no value at all is no credentials; "Bearer " is an (invalid) empty token.
        return token if " " in header else None
    values = request.query_arguments.get("access_token")
    if not values:
        return None
    try:
        return values[-1].decode("utf-8") or None
    except UnicodeDecodeError:
        raise InvalidAccessToken from None


def redact_uri(uri: str) -> str:
    """``uri`` with the value of every ``access_token`` query parameter replaced by
    :data:`REDACTED`, the rest as it came. A name is compared decoded, as Tornado decodes it
    before :func:`request_token` reads it (``access%5Ftoken`` is the same parameter)."""
    path, question, query = uri.partition("?")
    if not question:
        return uri
    pieces = []
    for piece in query.split("&"):
        name, equals, _ = piece.partition("=")
        if equals and unquote_plus(name, encoding="latin-1") == "access_token":
            piece = f"{name}={REDACTED}"
        pieces.append(piece)
    return f"{path}?{'&'.join(pieces)}"


def log_request(handler: tornado.web.RequestHandler) -> None:
    """Tornado's access log line (same logger, levels and format), but never with a token:
    Canvas clients may send theirs as the ``access_token`` query parameter."""
    status = handler.get_status()
    if status < 400:
        log = access_log.info
    elif status < 500:
        log = access_log.warning
    else:
        log = access_log.error
    request = handler.request
    log(
        "%d %s %s (%s) %.2fms",
        status,
        request.method,
        redact_uri(request.uri or ""),
        request.remote_ip,
        1000.0 * request.request_time(),
    )


def make_http_server(app: tornado.web.Application) -> HTTPServer:
    """The HTTP server for the host's Application: large uploads reach the plugin's handlers,
    which stream them and enforce their own size caps."""
    return HTTPServer(app, max_body_size=MAX_BODY_SIZE)


#: The user row the request's own authorization read (EmbeddedHost.authorize), for the same
#: request's user_json: a status poll shows the user who made the import, most often the one
#: polling, and need not read that row again. Each request runs in a task of its own, with its
#: own copy of the context: nothing is kept from one request to the next.
_AUTHORIZED_USER: ContextVar[User | None] = ContextVar("authorized_user", default=None)


class EmbeddedHost:
    """A Tornado LMS host on one SQLite file, satisfying :class:`lms_hooks.host.LmsHost`.

    Lifecycle: ``await open()``; ``make_app()``; ``await startup()``; serve;
    ``await shutdown()`` (always, even when an earlier step failed: it closes the database).
    """

    def __init__(
        self,
        db_path: str | os.PathLike[str],
        *,
        base_url: str = "",
        settings: Mapping[str, Mapping[str, Any]] | None = None,
        plugins: Iterable[object] = (),
        load_entry_points: bool = True,
    ) -> None:
        self.base_url = normalize_base_url(base_url)
        self.db = HostDatabase(db_path)
        self._settings = {name: dict(value) for name, value in (settings or {}).items()}
        self._plugins = tuple(plugins)
        self._load_entry_points = load_entry_points
        self._plugin_manager: pluggy.PluginManager | None = None
        self._started = False

    # -- lifecycle ---------------------------------------------------------------------------

    async def open(self) -> None:
        """Open the database and apply the host's migrations."""
        await self.db.open()

    @property
    def plugin_manager(self) -> pluggy.PluginManager:
        """The ``lms`` PluginManager, built by :meth:`make_app`."""
        if self._plugin_manager is None:
            raise RuntimeError("the plugin manager is built by make_app()")
        return self._plugin_manager

    def make_app(self, **app_settings: Any) -> tornado.web.Application:
        """Load the plugins and build the Application: the host's own routes plus every rule
        the plugins return from ``lms_routes``, all under :attr:`base_url`. Its access log
        redacts tokens (:func:`log_request`) unless ``log_function`` says otherwise."""
        pm = pluggy.PluginManager(LMS_PROJECT)
        pm.add_hookspecs(lms_hooks.host)
        for plugin in self._plugins:
            pm.register(plugin)
        if self._load_entry_points:
            pm.load_setuptools_entrypoints(LMS_PROJECT)
        pm.check_pending()  # a misspelled hook implementation fails here, not silently
        self._plugin_manager = pm
        app = tornado.web.Application(
            self._prefixed(self._own_routes()),
            default_handler_class=NotFoundHandler,
            **{"log_function": log_request, **app_settings},
        )
        for rules in pm.hook.lms_routes(host=self):
            app.add_handlers(r".*$", self._prefixed(rules or ()))
        return app

    async def startup(self) -> None:
        """Await every plugin's ``lms_startup``, on the running loop, before serving."""
        self._started = True
        await _await_all(self.plugin_manager.hook.lms_startup(host=self))

    async def shutdown(self) -> None:
        """Await every plugin's ``lms_shutdown`` (if they were started), then close the
        database. Every plugin is shut down even when one fails; the first error is raised."""
        try:
            if self._started:
                self._started = False
                await _await_all(self.plugin_manager.hook.lms_shutdown(host=self), keep_going=True)
        finally:
            await self.db.close()

    def _own_routes(self) -> list[Rule]:
        kwargs = {"host": self}
        return [
            (r"/api/v1/accounts/([^/]+)", AccountHandler, kwargs),
            (r"/api/v1/courses/([^/]+)", CourseHandler, kwargs),
            (r"/api/v1/users/self", UserSelfHandler, kwargs),
        ]

    def _prefixed(self, rules: Iterable[Rule]) -> list[Rule]:
        prefix = re.escape(self.base_url)
        prefixed = []
        for rule in rules:
            if not isinstance(rule, tuple | list) or len(rule) < 2:
                raise TypeError(
                    f"an lms_routes rule must be a tuple (pattern, handler, ...): {rule!r}"
                )
            pattern = rule[0].pattern if isinstance(rule[0], re.Pattern) else rule[0]
            if not isinstance(pattern, str) or not pattern.startswith("/"):
                raise ValueError(
                    f"an lms_routes pattern must be a string starting with '/': {rule!r}"
                )
            prefixed.append((prefix + pattern, *rule[1:]))
        return prefixed

    # -- LmsHost -------------------------------------------------------------------------------

    async def authenticate(self, request: HTTPServerRequest) -> HostUser | None:
        token = request_token(request)
        if token is None:
            return None
        user = await self.db.user_for_token(token)
        if user is None:
            raise InvalidAccessToken
        return HostUser(user.id, user.name)

    async def authorize(
        self, request: HTTPServerRequest, type: ContextType, id: int | str,
        permissions: Sequence[str],
    ) -> Authorization:
        """:class:`lms_hooks.host.AuthorizingHost`: the user, the context and the permission
        in one query."""
        token = request_token(request)
        if token is None:
            return Authorization(None, None, False)
        row_id = _parse_id(id) if type in CONTEXT_TYPES else None
        found = await self.db.authorize(token, type, row_id, permissions)
        if found is None:
            raise InvalidAccessToken
        user, record, permitted = found
        _AUTHORIZED_USER.set(user)
        return Authorization(
            HostUser(user.id, user.name), record.context if record else None, permitted
        )

    async def find_context(self, type: ContextType, id: int | str) -> Context | None:
        record = await self.find_record(type, id)
        return record.context if record else None

    async def account_chain(self, context: Context) -> Sequence[Context]:
        if context.type == "course":
            if context.account_id is None:
                return []
            chain = await self.db.account_chain(context.account_id)
        else:
            chain = (await self.db.account_chain(context.id))[1:]
        return [account.context for account in chain]

    async def subcontexts(self, account: Context) -> Sequence[Context]:
        if account.type != "account":
            return []
        return await self.db.subcontexts(account.id)

    async def has_permission(self, user: HostUser, context: Context, permission: str) -> bool:
        return await self.db.has_permission(user.id, context.type, context.id, permission)

    async def locale(self, context: Context) -> str:
        return await self.db.locale(context.type, context.id) or "en"

    async def user_json(self, user_id: int) -> Mapping[str, Any] | None:
        user = _AUTHORIZED_USER.get()
        if user is None or user.id != user_id:
            user = await self.db.user(user_id)
        if user is None:
            return None
        return {
            "id": user.id,
            "name": user.name,
            "created_at": user.created_at,
            "sortable_name": user.sortable_name,
            "short_name": user.short_name,
        }

    def plugin_settings(self, plugin: str) -> Mapping[str, Any]:
        return MappingProxyType(self._settings.get(plugin, {}))

    # -- beyond LmsHost ------------------------------------------------------------------------

    async def find_record(self, type: str, id: int | str) -> Account | Course | None:
        """The account's or course's full row (for an int id or a string of ASCII digits)."""
        row_id = _parse_id(id)
        if row_id is None or type not in CONTEXT_TYPES:
            return None
        return await (self.db.account(row_id) if type == "account" else self.db.course(row_id))


def _parse_id(value: int | str) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        if not _DIGITS.fullmatch(value) or len(value) > 19:  # int() refuses 4,300 digits
            return None
        value = int(value)
    if not isinstance(value, int) or not 0 < value <= MAX_ID:
        return None
    return value


async def _await_all(results: Sequence[Any], *, keep_going: bool = False) -> None:
    """Await each awaitable result in turn. Without ``keep_going`` the first failure stops and
    the rest are closed unawaited; with it, every one runs and the first failure is re-raised."""
    pending = [result for result in results if inspect.isawaitable(result)]
    first_error: BaseException | None = None
    for index, awaitable in enumerate(pending):
        try:
            await awaitable
        except Exception as error:
            if not keep_going:
                _close_all(pending[index + 1 :])
                raise
            logger.exception("a plugin failed while shutting down")
            first_error = first_error or error
        except BaseException:
            _close_all(pending[index + 1 :])
            raise
    if first_error is not None:
        raise first_error


def _close_all(awaitables: Sequence[Any]) -> None:
    # Close coroutines that will never run, so Python does not warn they were never awaited.
    for awaitable in awaitables:
        close = getattr(awaitable, "close", None)
        if inspect.iscoroutine(awaitable) and close is not None:
            close()


# -- the host's own Canvas routes --------------------------------------------------------------


class CanvasHandler(tornado.web.RequestHandler):
    """Canvas-style API handler: authenticates in ``prepare`` and answers errors as Canvas."""

    host: EmbeddedHost

    def initialize(self, host: EmbeddedHost) -> None:
        self.host = host

    async def prepare(self) -> None:
        try:
            self.current_user = await self.host.authenticate(self.request)
        except InvalidAccessToken:
            self.fail(401, INVALID_TOKEN, www_authenticate=True)

    def fail(self, status: int, body: Mapping[str, Any], *, www_authenticate: bool = False) -> None:
        """Finish the request with a Canvas error body."""
        self.clear()
        self.set_status(status)
        if www_authenticate:
            self.set_header("WWW-Authenticate", WWW_AUTHENTICATE)
        self.finish(dict(body))

    def fail_unauthorized(self) -> None:
        """Canvas's 401 for no user (with WWW-Authenticate) or a user not permitted (without)."""
        if self.current_user is None:
            self.fail(401, UNAUTHENTICATED, www_authenticate=True)
        else:
            self.fail(401, UNAUTHORIZED)

    async def permitted(self, context: Context) -> bool:
        """Whether the current user holds any of the outcome permissions on ``context``."""
        if self.current_user is None:
            return False
        for permission in lms_hooks.host.PERMISSIONS:
            if await self.host.has_permission(self.current_user, context, permission):
                return True
        return False

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        # Canvas's body for anything unexpected, e.g. error_code "internal_server_error".
        reason = responses.get(status_code, "error").lower().replace(" ", "_")
        self.finish({"errors": [{"message": "An error occurred.", "error_code": reason}]})

    async def show(self, type: ContextType, raw_id: str) -> Account | Course | None:
        """The account or course to show, or None once an error has been answered. As in
        Canvas the record is looked up before authorization: unknown ids answer 404."""
        record = await self.host.find_record(type, raw_id)
        if record is None:
            self.fail(404, NOT_FOUND)
            return None
        if not await self.permitted(record.context):
            self.fail_unauthorized()
            return None
        return record


class AccountHandler(CanvasHandler):
    async def get(self, raw_id: str) -> None:
        account = await self.show("account", raw_id)
        if isinstance(account, Account):
            self.write(account_json(account))


class CourseHandler(CanvasHandler):
    async def get(self, raw_id: str) -> None:
        course = await self.show("course", raw_id)
        if isinstance(course, Course):
            self.write(course_json(course))


class UserSelfHandler(CanvasHandler):
    async def get(self) -> None:
        user = self.current_user
        body = await self.host.user_json(user.id) if user is not None else None
        if body is None:
            self.fail_unauthorized()
            return
        self.write(dict(body))


class NotFoundHandler(tornado.web.RequestHandler):
    """Any path no route matches: Canvas's generic 404 body."""

    def prepare(self) -> None:
        self.set_status(404)
        self.finish(NOT_FOUND)


def account_json(account: Account) -> dict[str, Any]:
    """Canvas's Account JSON (a root account's root_account_id is null there)."""
    root = None if account.parent_account_id is None else account.root_account_id
    return {
        "id": account.id,
        "name": account.name,
        "uuid": account.uuid,
        "parent_account_id": account.parent_account_id,
        "root_account_id": root,
        "workflow_state": account.workflow_state,
    }


def course_json(course: Course) -> dict[str, Any]:
    """Canvas's Course JSON, the fields this host knows."""
    return {
        "id": course.id,
        "name": course.name,
        "course_code": course.course_code,
        "account_id": course.account_id,
        "root_account_id": course.root_account_id,
        "uuid": course.uuid,
        "workflow_state": course.workflow_state,
        "created_at": course.created_at,
        # The course's own locale override: this host has none, so courses use the account's.
        "locale": None,
    }
