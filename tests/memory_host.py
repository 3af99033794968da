"""A second host, written from docs/hosts.md alone: accounts, users and tokens in memory.

Not the embedded host: a ``@dataclass`` with slots (neither hashable nor weak-referenceable),
which loads its plugins from the ``lms`` entry points. It imports nothing of the plugin or of
the tests, only ``lms_hooks``, pluggy and Tornado, so tests/test_wheel.py runs it as the app of
an installed wheel.
"""

from __future__ import annotations

import inspect
import re
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pluggy
import tornado.web
from tornado.httputil import HTTPServerRequest

import lms_hooks.host
from lms_hooks import LMS_PROJECT
from lms_hooks.host import Context, ContextType, HostUser, InvalidAccessToken, Rule

_ID = re.compile(r"[1-9][0-9]{0,18}")


@dataclass(slots=True)
class MemoryHost:
    """An LMS host whose accounts, courses, users, tokens and grants live in dicts."""

    settings: dict[str, dict[str, Any]] = field(default_factory=dict)
    base_url: str = ""
    contexts: dict[tuple[str, int], Context] = field(default_factory=dict)
    parents: dict[int, int | None] = field(default_factory=dict)
    locales: dict[int, str] = field(default_factory=dict)
    users: dict[int, HostUser] = field(default_factory=dict)
    tokens: dict[str, int] = field(default_factory=dict)
    grants: set[tuple[int, str, int, str]] = field(default_factory=set)
    plugin_manager: pluggy.PluginManager | None = None

    # -- the host's own data ------------------------------------------------------------------

    def add_account(self, name: str, parent: Context | None = None, locale: str = "en") -> Context:
        account_id = len(self.parents) + 1
        root = parent.root_account_id if parent else account_id
        account = Context("account", account_id, name, root)
        self.contexts["account", account_id] = account
        self.parents[account_id] = parent.id if parent else None
        self.locales[account_id] = locale
        return account

    def add_course(self, name: str, account: Context) -> Context:
        course_id = 100 + sum(1 for kind, _ in self.contexts if kind == "course")
        course = Context("course", course_id, name, account.root_account_id, account.id)
        self.contexts["course", course_id] = course
        return course

    def add_user(self, name: str) -> tuple[HostUser, str]:
        """A user and a new token of theirs."""
        user = HostUser(len(self.users) + 1, name)
        self.users[user.id] = user
        token = secrets.token_urlsafe(24)
        self.tokens[token] = user.id
        return user, token

    def grant(self, user: HostUser, permission: str, context: Context) -> None:
        self.grants.add((user.id, context.type, context.id, permission))

    # -- loading and running plugins ------------------------------------------------------------

    def make_app(self) -> tornado.web.Application:
        pm = pluggy.PluginManager(LMS_PROJECT)
        pm.add_hookspecs(lms_hooks.host)
        pm.load_setuptools_entrypoints(LMS_PROJECT)
        pm.check_pending()
        self.plugin_manager = pm
        rules: list[Rule] = []
        for plugin_rules in pm.hook.lms_routes(host=self):
            rules += [(self.base_url + pattern, *rest) for pattern, *rest in plugin_rules]
        return tornado.web.Application(rules)

    async def startup(self) -> None:
        assert self.plugin_manager is not None
        for result in self.plugin_manager.hook.lms_startup(host=self):
            if inspect.isawaitable(result):
                await result

    async def shutdown(self) -> None:
        assert self.plugin_manager is not None
        for result in self.plugin_manager.hook.lms_shutdown(host=self):
            if inspect.isawaitable(result):
                await result

    # -- LmsHost ------------------------------------------------------------------------------

    async def authenticate(self, request: HTTPServerRequest) -> HostUser | None:
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        if scheme != "Bearer":
            values = request.query_arguments.get("access_token")
            token = values[-1].decode("utf-8", "replace") if values else ""
            if not token:
                return None
        user_id = self.tokens.get(token)
        if user_id is None:
            raise InvalidAccessToken
        return self.users[user_id]

    async def find_context(self, type: ContextType, id: int | str) -> Context | None:
        # Raw client input arrives here ("self", "0012", junk): only our own ids name anything.
        if isinstance(id, str):
            if not _ID.fullmatch(id):
                return None
            id = int(id)
        return self.contexts.get((type, id))

    async def account_chain(self, context: Context) -> Sequence[Context]:
        account_id = context.account_id if context.type == "course" else self.parents[context.id]
        chain = []
        while account_id is not None:
            chain.append(self.contexts["account", account_id])
            account_id = self.parents[account_id]
        return chain

    async def subcontexts(self, account: Context) -> Sequence[Context]:
        below = [
            context for context in self.contexts.values()
            if context != account and account in await self.account_chain(context)
        ]  # fmt: skip
        return sorted(below, key=lambda context: (context.type, context.id))

    async def has_permission(self, user: HostUser, context: Context, permission: str) -> bool:
        around = [context, *await self.account_chain(context)]
        return any((user.id, c.type, c.id, permission) in self.grants for c in around)

    async def locale(self, context: Context) -> str:
        account_id = context.account_id if context.type == "course" else context.id
        assert account_id is not None
        return self.locales[account_id]

    async def user_json(self, user_id: int) -> Mapping[str, Any] | None:
        user = self.users.get(user_id)
        if user is None:
            return None
        return {"id": user.id, "name": user.name, "sortable_name": user.name,
                "short_name": user.name, "created_at": CREATED_AT}

    def plugin_settings(self, plugin: str) -> Mapping[str, Any]:
        return self.settings.get(plugin, {})


CREATED_AT = datetime(2024, 1, 1, tzinfo=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
