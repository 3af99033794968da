"""What a Tornado LMS host calls on a plugin (pluggy project ``lms``), and what it passes in.

A host builds ``pluggy.PluginManager("lms")``, adds these specifications, loads the ``lms``
entry points, and then:

1. while it builds its ``tornado.web.Application``, calls :func:`lms_routes` and adds every rule
   returned under its own base URL (``Application.add_handlers``);
2. once its IOLoop runs and before it serves requests, awaits :func:`lms_startup`;
3. when it stops, awaits :func:`lms_shutdown` before closing the IOLoop.

Every hook gets the host itself, an object satisfying :class:`LmsHost`: plugins never invent
users, contexts or permissions of their own. The host passes the same object to all three hooks
(a plugin recognizes its host by identity, ``is``); it need not be hashable or
weak-referenceable, so a ``@dataclass`` host is fine.
"""

from __future__ import annotations

from collections.abc import Awaitable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, Protocol, runtime_checkable

from . import lms_hookspec

if TYPE_CHECKING:  # lms_hooks depends on pluggy alone at run time
    from tornado.httputil import HTTPServerRequest

ContextType = Literal["account", "course"]

#: The permissions lms-outcomes asks a host about.
IMPORT_OUTCOMES = "import_outcomes"
MANAGE_OUTCOMES = "manage_outcomes"
READ_OUTCOMES = "read_outcomes"
PERMISSIONS = (IMPORT_OUTCOMES, MANAGE_OUTCOMES, READ_OUTCOMES)


@dataclass(frozen=True, slots=True)
class Context:
    """An account or a course of the host.

    ``account_id`` is the account that holds a course (``None`` for an account);
    ``root_account_id`` is the root of the context's account chain (an account's own id when it
    is a root account).
    """

    type: ContextType
    id: int
    name: str
    root_account_id: int
    account_id: int | None = None


@dataclass(frozen=True, slots=True)
class HostUser:
    """An authenticated user of the host: its id and display name."""

    id: int
    name: str


class InvalidAccessToken(Exception):
    """Raised by :meth:`LmsHost.authenticate` when a request carries a token that is not valid.

    Plugins answer it as Canvas does: 401 ``{"errors": [{"message": "Invalid access token."}]}``
    with a ``WWW-Authenticate`` header.
    """


@runtime_checkable
class LmsHost(Protocol):
    """The services a host offers its plugins. Coroutines may read the host's database."""

    #: The URL path every plugin route is served under, without a trailing slash ("" for "/").
    base_url: str

    async def authenticate(self, request: HTTPServerRequest) -> HostUser | None:
        """The user a request is made by: ``None`` when it carries no credentials at all.

        Hosts accept ``Authorization: Bearer <token>`` and, failing that, an ``access_token``
        query parameter. A token that matches no user raises :class:`InvalidAccessToken`.

        Never a session cookie: the plugins' API handlers turn Tornado's XSRF check off (their
        clients send tokens, not forms), so a request another site makes a browser send, with
        the browser's cookies, must not authenticate here.
        """
        ...

    async def find_context(self, type: ContextType, id: int | str) -> Context | None:
        """The account or course with this id, or ``None`` when there is none.

        ``id`` is often raw client input: the URL path segment as sent (``"12"``, but also
        ``"self"``, ``"sis_account_id:x"``, ``"0012"``, ``"-1"``, ``"1e3"``, 5,000 digits or any
        other text) or a CSV cell (a ``course_id`` column). Answer ``None`` for whatever names
        no context of yours (raise nothing); ids the host understands besides its integers
        (e.g. ``self``) are the host's to resolve. An ``int`` comes from the plugin's records.
        """
        ...

    async def account_chain(self, context: Context) -> Sequence[Context]:
        """The accounts above ``context``, nearest first, ending with its root account.

        For a course: its account, that account's parent, ... the root account. For an account:
        its parent, ... the root account (empty for a root account).
        """
        ...

    async def subcontexts(self, account: Context) -> Sequence[Context]:
        """Every sub-account below ``account``, at any depth, and every course in any of them
        or in ``account`` itself.

        This is the reach of an import into ``account``: when a re-import moves an outcome or
        deletes it, links are retired only in ``account`` and these contexts (a link in any
        other context, another root account's say, is never touched), and a ``course_id`` row
        may put groups only into courses listed here. Leave a context out and imports into
        ``account`` leave its links as they are.
        """
        ...

    async def has_permission(self, user: HostUser, context: Context, permission: str) -> bool:
        """Whether ``user`` holds ``permission`` (one of :data:`PERMISSIONS`) on ``context``."""
        ...

    async def locale(self, context: Context) -> str:
        """The context's locale (a course has its account's default locale), e.g. ``"en"``."""
        ...

    async def user_json(self, user_id: int) -> Mapping[str, Any] | None:
        """Canvas's User JSON for ``user_id`` (``id``, ``name``, ``sortable_name``,
        ``short_name``, ``created_at``), or ``None`` when the user is gone."""
        ...

    def plugin_settings(self, plugin: str) -> Mapping[str, Any]:
        """The settings the host's operator gave for ``plugin`` (empty when none)."""
        ...


@dataclass(frozen=True, slots=True)
class Authorization:
    """What :meth:`AuthorizingHost.authorize` found for a request."""

    #: The request's user; ``None`` when it carries no credentials at all.
    user: HostUser | None
    #: The context named; ``None`` when there is none (or no user to look it up for).
    context: Context | None
    #: Whether the user holds any of the permissions asked about on the context.
    permitted: bool


@runtime_checkable
class AuthorizingHost(Protocol):
    """What a host may offer besides :class:`LmsHost`: a request's whole authorization in one
    step. Plugins call it, when the host has it, in place of ``authenticate``, ``find_context``
    and ``has_permission``; a host that reads its database for each of those can answer all
    three in one query, and every authorized request (an import's status, polled while the
    import runs) makes one database round trip, not three."""

    async def authorize(
        self,
        request: HTTPServerRequest,
        type: ContextType,
        id: int | str,
        permissions: Sequence[str],
    ) -> Authorization:
        """As :meth:`LmsHost.authenticate` (``user``; :class:`InvalidAccessToken` for a token
        that matches no user), then :meth:`LmsHost.find_context` (``context``), then whether
        :meth:`LmsHost.has_permission` holds for any of ``permissions`` (``permitted``), with
        the same answers those give."""
        ...


# Tornado rules as Application.add_handlers takes them: (pattern, handler[, kwargs[, name]]).
Rule = tuple[Any, ...]


@lms_hookspec
def lms_routes(host: LmsHost) -> Sequence[Rule]:
    """Called once while the host builds its Application, before the IOLoop serves requests.

    Returns Tornado rules whose patterns are relative to the host's base URL (they start with
    ``/``, e.g. ``r"/api/v1/accounts/(\\d+)/outcome_imports"``). The host prefixes each pattern
    with :attr:`LmsHost.base_url` and adds the rules with ``Application.add_handlers(".*$", ...)``,
    so its own authentication and settings apply. The host collects the lists of every plugin.
    """


@lms_hookspec
def lms_startup(host: LmsHost) -> Awaitable[None] | None:
    """Called once on the running IOLoop, after :func:`lms_routes` and before the host accepts
    requests. A plugin opens its storage and starts its background work here. Implementations
    may be coroutines; the host awaits every result that is awaitable."""


@lms_hookspec
def lms_shutdown(host: LmsHost) -> Awaitable[None] | None:
    """Called once on the running IOLoop when the host stops, after it stops accepting requests.
    A plugin finishes or cancels its background work and closes every connection it opened.
    Implementations may be coroutines; the host awaits every result that is awaitable."""
