"""What one import knows about where it runs, asked of the host and the store once."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from lms_hooks.host import Context, LmsHost
from lms_outcomes_plugin.models import ContextRef, OutcomeImport
from lms_outcomes_plugin.storage import BatchTransaction, Store


class ImportCannotRun(Exception):
    """What the import needs is gone (its context, its target group, its format): it fails with
    this message at row 1. Not the file's fault, unlike a format's DataFormatError."""


@dataclass(slots=True)
class ImportScope:
    """The importing context, its account chain and descendants, and where rows go by default.

    Link changes are confined to ``descendants`` (the context itself and everything below it:
    our decision 8); outcomes are visible when they live in ``visible`` contexts (the context
    and its account chain) or in the global context.
    """

    host: LmsHost
    import_id: int
    #: The runner that owns the import (its batches apply only while it does).
    runner: str
    context: Context
    ref: ContextRef
    root_group_id: int
    target_group_id: int | None
    #: The target group and every group above it (for Canvas's cyclic-reference check).
    target_ancestors: frozenset[int]
    visible: frozenset[ContextRef]
    descendants: frozenset[ContextRef]
    new_decaying_average: bool = False
    _courses: dict[str, Context | None] = field(default_factory=dict)
    _names: dict[ContextRef, str] = field(default_factory=dict)
    #: Root groups of the courses ``course_id`` rows put groups in.
    course_roots: dict[ContextRef, int] = field(default_factory=dict)

    @classmethod
    async def build(
        cls,
        host: LmsHost,
        store: Store,
        outcome_import: OutcomeImport,
        runner: str,
        new_decaying: bool,
    ) -> ImportScope:
        context = await host.find_context(
            outcome_import.context_type,  # type: ignore[arg-type]
            outcome_import.context_id,
        )
        if context is None:
            raise ImportCannotRun("The course or account of this import no longer exists")
        ref = ContextRef.of(context)
        chain = tuple(await host.account_chain(context))
        below = await host.subcontexts(context) if context.type == "account" else ()
        target = outcome_import.learning_outcome_group_id
        return cls(
            host=host,
            import_id=outcome_import.id,
            runner=runner,
            context=context,
            ref=ref,
            root_group_id=await store.root_group(ref, context.name or "ROOT"),
            target_group_id=target,
            target_ancestors=await _target_ancestors(store, ref, target),
            visible=frozenset({ref, *map(ContextRef.of, chain)}),
            descendants=frozenset({ref, *map(ContextRef.of, below)}),
            new_decaying_average=new_decaying,
            _names={ContextRef.of(c): c.name for c in (context, *chain)},
        )

    @property
    def default_parent_id(self) -> int:
        """Rows without parents go under the target group, or the context's root group."""
        return self.target_group_id or self.root_group_id

    def is_visible(self, context: ContextRef) -> bool:
        return context.type is None or context in self.visible

    async def course(self, course_id: str) -> Context | None:
        """The course a ``course_id`` cell names (any state), cached for the import."""
        if course_id not in self._courses:
            found = await self.host.find_context("course", course_id)
            self._courses[course_id] = found
            if found is not None:
                self._names[ContextRef.of(found)] = found.name
        return self._courses[course_id]

    def in_this_account(self, course: Context) -> bool:
        """Whether ``course`` is in the importing account or one of its sub-accounts."""
        return ContextRef.of(course) in self.descendants

    async def course_root(self, store: Store | BatchTransaction, course: Context) -> int:
        """The course's root group, created when missing (before the batch's transaction; in
        a dry run, in its transaction)."""
        ref = ContextRef.of(course)
        if ref not in self.course_roots:
            self.course_roots[ref] = await store.root_group(ref, course.name or "ROOT")
        return self.course_roots[ref]

    async def learn_names(self, contexts: Iterable[ContextRef]) -> None:
        """Ask the host for the names messages will quote, before a batch is planned."""
        for context in contexts:
            if context not in self._names and context.type is not None:
                found = await self.host.find_context(context.type, context.id)  # type: ignore[arg-type]
                self._names[context] = found.name if found else ""

    def name(self, context: ContextRef) -> str:
        return self._names.get(context, "")


async def _target_ancestors(
    store: Store, context: ContextRef, target_id: int | None
) -> frozenset[int]:
    if target_id is None:
        return frozenset()
    target = await store.get_group(target_id)
    # Checked at POST (our decision 2); it may have gone since the import was queued.
    if target is None or target.workflow_state == "deleted" or target.context != context:
        raise ImportCannotRun(f"The target outcome group {target_id} no longer exists")
    return frozenset(await store.group_ancestors(target_id))
