"""The read side of the outcome tree, in Canvas's routes and shapes (Outcome Groups and
Outcomes APIs): the root group redirect, groups, subgroups, links, and single outcomes."""

from __future__ import annotations

from collections.abc import Iterable

from lms_hooks.host import MANAGE_OUTCOMES, READ_OUTCOMES, LmsHost
from lms_outcomes_plugin.api import errors
from lms_outcomes_plugin.api.base import CONTEXT, ApiHandler, parse_id
from lms_outcomes_plugin.api.views import Views, context_path
from lms_outcomes_plugin.models import ContextRef
from lms_outcomes_plugin.storage import LinkedOutcome, Store, StoredGroup


class TreeHandler(ApiHandler):
    """Reads within one context: Canvas checks the user, the context, then read_outcomes."""

    store: Store

    def initialize(self, host: LmsHost, store: Store) -> None:  # type: ignore[override]
        super().initialize(host)
        self.store = store

    async def enter(self, segment: str, context_id: str) -> ContextRef:
        await self.authorize(segment, context_id, READ_OUTCOMES)
        return ContextRef.of(self.context)

    async def views(self, contexts: Iterable[ContextRef]) -> Views:
        """What the caller may manage decides ``can_edit`` and ``can_unlink``."""
        manageable = set()
        for context in set(contexts):
            host_context = (
                await self.host.find_context(context.type, context.id)  # type: ignore[arg-type]
                if context.type is not None
                else None
            )
            if host_context is not None and await self.host.has_permission(
                self.user, host_context, MANAGE_OUTCOMES
            ):
                manageable.add(context)
        return Views(self.host.base_url, frozenset(manageable))

    async def group_in(self, context: ContextRef, group_id: str) -> StoredGroup:
        """An active group of this context, else Canvas's 404."""
        key = parse_id(group_id)
        group = await self.store.get_group(key) if key else None
        if group is None or group.workflow_state == "deleted" or group.context != context:
            self.fail(404, errors.NOT_FOUND)
        return group

    async def parents(self, groups: Iterable[StoredGroup]) -> dict[int, StoredGroup]:
        """The parents of full-style groups, each read once."""
        found = {}
        for parent_id in {group.parent_id for group in groups if group.parent_id}:
            parent = await self.store.get_group(parent_id)  # type: ignore[arg-type]
            if parent is not None:
                found[parent.id] = parent
        return found

    async def friendly(
        self, context: ContextRef, links: list[LinkedOutcome], full: bool
    ) -> dict[int, str]:
        """The context's friendly descriptions of the listed outcomes (full style only)."""
        if not full or not links:
            return {}
        ids = {linked.outcome.id for linked in links}
        return await self.store.friendly_descriptions(context, ids)

    def style(self, name: str) -> bool:
        """Whether ``outcome_style`` / ``outcome_group_style`` asks for the full style."""
        return self.get_query_argument(name, "abbrev") == "full"


class RootGroupHandler(TreeHandler):
    """``GET /api/v1/:context/root_outcome_group``: 302 to the root group, created if needed."""

    async def get(self, segment: str, context_id: str) -> None:
        context = await self.enter(segment, context_id)
        root_id = await self.store.root_group(context, self.context.name or "ROOT")
        path = f"{context_path(self.host.base_url, context)}/outcome_groups/{root_id}"
        self.redirect(f"{self.request.protocol}://{self.request.host}{path}")


class GroupHandler(TreeHandler):
    """``GET /api/v1/:context/outcome_groups/:id``: the full group."""

    async def get(self, segment: str, context_id: str, group_id: str) -> None:
        context = await self.enter(segment, context_id)
        group = await self.group_in(context, group_id)
        parent = (
            await self.store.get_group(group.parent_id) if group.parent_id else None
        )
        views = await self.views([context])
        self.send_json(views.group(group, parent))


class SubgroupsHandler(TreeHandler):
    """``GET /api/v1/:context/outcome_groups/:id/subgroups``: abbreviated, by title."""

    async def get(self, segment: str, context_id: str, group_id: str) -> None:
        context = await self.enter(segment, context_id)
        group = await self.group_in(context, group_id)
        page = self.page()
        groups, total = await self.store.subgroups(group.id, page.slice)
        views = await self.views([context])
        self.send_page([views.group(g, full=False) for g in groups], page, total)


class GroupOutcomesHandler(TreeHandler):
    """``GET /api/v1/:context/outcome_groups/:id/outcomes``: the group's links, by title."""

    async def get(self, segment: str, context_id: str, group_id: str) -> None:
        context = await self.enter(segment, context_id)
        group = await self.group_in(context, group_id)
        page = self.page()
        links, total = await self.store.group_links(group.id, page.slice)
        views = await self.views([context, *(linked.outcome.context for linked in links)])
        full = self.style("outcome_style")
        friendly = await self.friendly(context, links, full)
        self.send_page(
            [
                views.link(linked, full, friendly_description=friendly.get(linked.outcome.id))
                for linked in links
            ],
            page,
            total,
        )


class ContextLinksHandler(TreeHandler):
    """``GET /api/v1/:context/outcome_group_links``: every link of the context, by id."""

    async def get(self, segment: str, context_id: str) -> None:
        context = await self.enter(segment, context_id)
        page = self.page()
        links, total = await self.store.context_links(context, page.slice)
        views = await self.views([context, *(linked.outcome.context for linked in links)])
        outcome_full, group_full = self.style("outcome_style"), self.style("outcome_group_style")
        parents = await self.parents(linked.group for linked in links) if group_full else {}
        friendly = await self.friendly(context, links, outcome_full)
        self.send_page(
            [
                views.link(linked, outcome_full, group_full,
                           parents.get(linked.group.parent_id or 0),
                           friendly.get(linked.outcome.id))
                for linked in links
            ],
            page,
            total,
        )


class ContextGroupsHandler(TreeHandler):
    """``GET /api/v1/:context/outcome_groups``: every active group of the context, by id."""

    async def get(self, segment: str, context_id: str) -> None:
        context = await self.enter(segment, context_id)
        page = self.page()
        groups, total = await self.store.context_groups(context, page.slice)
        views = await self.views([context])
        parents = await self.parents(groups)
        self.send_page(
            [views.group(group, parents.get(group.parent_id or 0)) for group in groups],
            page,
            total,
        )


class OutcomeHandler(TreeHandler):
    """``GET /api/v1/outcomes/:id``: full style; 404 once deleted. Readable with
    manage_outcomes or read_outcomes on the outcome's own context; a global outcome by anyone
    signed in."""

    async def get(self, outcome_id: str) -> None:
        await self.authenticate()
        store = self.store
        key = parse_id(outcome_id)
        outcome = await store.get_outcome(key) if key else None
        if outcome is None or outcome.workflow_state == "deleted":
            self.fail(404, errors.NOT_FOUND)
        if outcome.context.type is not None:
            await self._authorize_outcome(outcome.context)
        views = await self.views([outcome.context])
        self.send_json(views.outcome(outcome))

    async def _authorize_outcome(self, context: ContextRef) -> None:
        host = self.host
        owner = await host.find_context(context.type, context.id)  # type: ignore[arg-type]
        for permission in (MANAGE_OUTCOMES, READ_OUTCOMES):
            if owner is not None and await host.has_permission(self.user, owner, permission):
                return
        self.fail(401, errors.UNAUTHORIZED)


ROUTES = [
    (rf"{CONTEXT}/root_outcome_group", RootGroupHandler),
    (rf"{CONTEXT}/outcome_groups", ContextGroupsHandler),
    (rf"{CONTEXT}/outcome_groups/([^/]+)", GroupHandler),
    (rf"{CONTEXT}/outcome_groups/([^/]+)/subgroups", SubgroupsHandler),
    (rf"{CONTEXT}/outcome_groups/([^/]+)/outcomes", GroupOutcomesHandler),
    (rf"{CONTEXT}/outcome_group_links", ContextLinksHandler),
    (r"/api/v1/outcomes/([^/]+)", OutcomeHandler),
]
