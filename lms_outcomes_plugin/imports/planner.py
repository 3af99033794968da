"""Canvas's import semantics, applied in memory to one batch of records at a time.

The planner sees records (any format's) and what the store says exists, and produces one
:class:`~lms_outcomes_plugin.storage.BatchWrite`. It remembers across batches what the import
has processed so far: parents must be groups processed earlier in the same import, and an
object may appear only once per import.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

from lms_outcomes_plugin.imports import rules
from lms_outcomes_plugin.imports.scope import ImportScope
from lms_outcomes_plugin.models import ContextRef
from lms_outcomes_plugin.records import GroupRecord, OutcomeRecord, ParsedItem, Rating, RowError
from lms_outcomes_plugin.ruby import inspect_list
from lms_outcomes_plugin.storage import (
    BatchTransaction,
    BatchWrite,
    Existing,
    FriendlyDescriptionWrite,
    GroupKey,
    GroupRef,
    GroupWrite,
    LinkWrite,
    Lookup,
    OutcomeFields,
    OutcomeRef,
    OutcomeWrite,
    StoredGroup,
    StoredLink,
    StoredOutcome,
)

# Canvas's patterns are not anchored: "xcanvas_outcome:12y" names outcome 12.
MAGIC_OUTCOME = re.compile(r"canvas_outcome:(\d+)")
MAGIC_GROUP = re.compile(r"canvas_outcome_group:(\d+)")


class RowProblem(Exception):
    """Canvas rejects the row; each message becomes one of the row's errors."""

    def __init__(self, *messages: str) -> None:
        super().__init__(*messages)
        self.messages = messages


@dataclass(frozen=True, slots=True)
class SeenGroup:
    ref: GroupRef
    context: ContextRef


@dataclass(slots=True)
class BatchPlanner:
    scope: ImportScope
    #: Groups processed by this import, by vendor_guid (one per context).
    groups_seen: dict[str, list[SeenGroup]] = field(default_factory=lambda: defaultdict(list))
    #: The same, for the importing context only: the common case, looked up once per parent.
    groups_here: dict[str, GroupRef] = field(default_factory=dict)
    #: Outcomes of the importing context processed by this import (Canvas stamps only those).
    outcomes_seen: set[OutcomeRef] = field(default_factory=set)
    #: The context of every group a link may point at.
    group_contexts: dict[GroupRef, ContextRef] = field(default_factory=dict)

    async def prepare(self, items: Sequence[ParsedItem]) -> Lookup:
        """Ask the host what the batch names (courses), before the write transaction; return
        what to ask the store."""
        lookup = Lookup()
        for item in items:
            if isinstance(item, GroupRecord):
                context = await self._group_context_or_none(item)
                if context is not None:
                    lookup.group_keys.add((context.type, context.id, item.vendor_guid))
                if match := MAGIC_GROUP.search(item.vendor_guid):
                    lookup.group_ids.add(int(match[1]))
            elif isinstance(item, OutcomeRecord):
                if match := MAGIC_OUTCOME.search(item.vendor_guid):
                    lookup.outcome_ids.add(int(match[1]))
                else:
                    lookup.outcome_guids.add(item.vendor_guid)
        return lookup

    async def plan(
        self,
        tx: BatchTransaction,
        items: Sequence[ParsedItem],
        existing: Existing,
        progress: int,
    ) -> BatchWrite:
        batch = BatchWrite(import_id=self.scope.import_id, progress=progress)
        for item in items:
            try:
                if isinstance(item, GroupRecord):
                    await self._plan_group(tx, item, existing, batch)
                elif isinstance(item, OutcomeRecord):
                    await self._plan_outcome(item, existing, batch)
                elif isinstance(item, RowError):
                    batch.errors.append((item.row, item.message))
            except RowProblem as problem:
                batch.errors.extend((item.row, message) for message in problem.messages)
        return batch

    # groups ----------------------------------------------------------------------------------

    async def _group_context_or_none(self, record: GroupRecord) -> ContextRef | None:
        try:
            return await self._group_context(record)
        except RowProblem:
            return None

    async def _group_context(self, record: GroupRecord) -> ContextRef:
        """The import's context, or the course a ``course_id`` cell puts the group in."""
        scope = self.scope
        if not record.course_id:
            return scope.ref
        if scope.context.type == "course":
            raise RowProblem("Cannot import to other courses")
        course = await scope.course(record.course_id)
        if course is None:
            raise RowProblem(f"Course with canvas id {record.course_id} not found")
        if not scope.in_this_account(course):
            raise RowProblem(
                f"Target course {record.course_id} is not a child of current account "
                f"({scope.context.name})"
            )
        return ContextRef.of(course)

    async def _plan_group(
        self, tx: BatchTransaction, record: GroupRecord, existing: Existing, batch: BatchWrite
    ) -> None:
        guid = record.vendor_guid
        context = await self._group_context(record)
        prior = _prior_group(record, context, existing)
        if prior is not None and prior.id in self.scope.target_ancestors:
            raise RowProblem(f"Cyclic reference detected when importing: {guid}")
        parents = await self._group_parents(tx, record, context)
        if len(parents) > 1:
            raise RowProblem("An outcome group can only have one parent")
        if any(seen.context == context for seen in self.groups_seen.get(guid, ())):
            raise RowProblem(f'Group "{guid}" has already appeared in this import')
        _raise_all(rules.too_long("Vendor guid", guid), rules.too_long("Title", record.title))
        write = _group_write(record, context, parents[0], prior)
        batch.groups.append(write)
        ref: GroupRef = prior.id if prior else (context.type, context.id, guid)  # type: ignore[assignment]
        if record.workflow_state == "deleted":
            batch.deleted_groups.append(ref)
        self.groups_seen[guid].append(SeenGroup(ref, context))
        if context == self.scope.ref:
            self.groups_here[guid] = ref
        self.group_contexts[ref] = context

    async def _group_parents(
        self, tx: BatchTransaction, record: GroupRecord, context: ContextRef
    ) -> list[GroupRef]:
        if record.parent_guids:
            return self._seen_parents(record.parent_guids, lambda c: c == context)
        if context == self.scope.ref:
            return [self._default_parent()]
        course = await self.scope.course(record.course_id or "")
        root = await tx.root_group(context, course.name if course else "ROOT")
        self.group_contexts[root] = context
        return [root]

    def _default_parent(self) -> int:
        parent = self.scope.default_parent_id
        self.group_contexts[parent] = self.scope.ref
        return parent

    def _seen_parents(
        self, guids: Sequence[str], in_scope: Callable[[ContextRef], bool]
    ) -> list[GroupRef]:
        """Groups processed earlier in this import with these guids (Canvas's find_parents)."""
        found: list[GroupRef] = []
        missing = []
        for guid in guids:
            seen = self.groups_seen.get(guid, ())
            matches = [group.ref for group in seen if in_scope(group.context)]
            found.extend(matches)
            if not matches:
                missing.append(guid)
        if missing:
            raise RowProblem(
                f"Parent references not found prior to this row: {inspect_list(missing)}"
            )
        return found

    # outcomes --------------------------------------------------------------------------------

    async def _plan_outcome(
        self, record: OutcomeRecord, existing: Existing, batch: BatchWrite
    ) -> None:
        scope = self.scope
        prior = _prior_outcome(record, existing)
        if prior is not None and not scope.is_visible(prior.context):
            raise RowProblem(
                f"Outcome with ID {record.vendor_guid} already exists in another unrelated "
                f"course or account ({await scope.name(prior.context)})"
            )
        parents = [] if record.workflow_state == "deleted" else self._outcome_parents(record)
        local = prior is None or prior.context == scope.ref
        ref: OutcomeRef = prior.id if prior else record.vendor_guid
        if local and {ref, record.vendor_guid} & self.outcomes_seen:
            raise RowProblem(
                f'Outcome "{record.vendor_guid}" has already appeared in this import'
            )
        fields = outcome_fields(record, prior, scope.new_decaying_average)
        if local:
            _raise_all(*_outcome_validations(record, fields))
        else:
            await self._refuse_foreign_changes(prior, fields)  # type: ignore[arg-type]
        links = existing.links_by_outcome.get(prior.id, []) if prior else []
        still_linked = self._sync_links(ref, parents, links, batch)
        if not still_linked:
            fields = replace(fields, workflow_state="deleted")
        if local:
            batch.outcomes.append(_outcome_write(record, fields, prior, scope.ref))
            self.outcomes_seen.update((ref, record.vendor_guid))
        self._friendly_description(record, ref, prior, local, batch)

    def _outcome_parents(self, record: OutcomeRecord) -> list[GroupRef]:
        if not record.parent_guids:
            return [self._default_parent()]
        # With a course_id column, outcomes may go into course groups of the same import.
        here = self.scope.ref
        if record.indirect_parents:
            return self._seen_parents(record.parent_guids, lambda context: True)
        try:
            return [self.groups_here[guid] for guid in record.parent_guids]
        except KeyError:
            return self._seen_parents(record.parent_guids, lambda context: context == here)

    async def _refuse_foreign_changes(self, prior: StoredOutcome, fields: OutcomeFields) -> None:
        changes = changed_columns(prior, fields)
        if not changes:
            return
        where = (
            "the global context"
            if prior.context.type is None
            else f'"{await self.scope.name(prior.context)}"'
        )
        raise RowProblem(
            f"Cannot modify outcome from another context: {inspect_list(changes)}; "
            f"outcome must be modified in {where}"
        )

    def _sync_links(
        self,
        outcome: OutcomeRef,
        parents: list[GroupRef],
        links: list[StoredLink],
        batch: BatchWrite,
    ) -> bool:
        """Link the outcome into ``parents`` and unlink it from the other groups of this
        context and those below it; whether it stays linked anywhere."""
        if not links:  # a new outcome: nothing to compare with
            contexts, here = self.group_contexts, self.scope.ref
            batch.links.extend(
                LinkWrite(parent, outcome, contexts.get(parent, here)) for parent in parents
            )
            return bool(parents)
        active = {link.group_id: link for link in links if link.workflow_state == "active"}
        for parent in parents:
            if not (isinstance(parent, int) and parent in active):
                context = self.group_contexts.get(parent, self.scope.ref)
                batch.links.append(LinkWrite(parent, outcome, context))
        kept = set(parents)
        unlinked = [
            link.id
            for group_id, link in active.items()
            if group_id not in kept and link.context in self.scope.descendants
        ]
        batch.unlinks.extend(unlinked)
        return bool(parents) or len(active) > len(unlinked)

    def _friendly_description(
        self,
        record: OutcomeRecord,
        outcome: OutcomeRef,
        prior: StoredOutcome | None,
        local: bool,
        batch: BatchWrite,
    ) -> None:
        # Kept per (context, outcome): an outcome of a parent account gets the importing
        # context's own friendly description instead of the owner's being overwritten.
        if record.friendly_description is None and prior is None:
            return
        context = prior.context if prior is not None and local else self.scope.ref
        batch.friendly_descriptions.append(
            FriendlyDescriptionWrite(context, outcome, record.friendly_description)
        )


# pure helpers ---------------------------------------------------------------------------------


def _raise_all(*messages: str | None) -> None:
    if any(messages):
        raise RowProblem(*(message for message in messages if message))


def _prior_group(
    record: GroupRecord, context: ContextRef, existing: Existing
) -> StoredGroup | None:
    """Canvas's find_prior_group: by vendor_guid in the group's context, else by a
    ``canvas_outcome_group:<id>`` of a group in that context."""
    key: GroupKey = (context.type, context.id, record.vendor_guid)
    if key in existing.groups_by_key:
        return existing.groups_by_key[key]
    match = MAGIC_GROUP.search(record.vendor_guid)
    if match is None:
        return None
    group = existing.groups_by_id.get(int(match[1]))
    if group is None:
        raise RowProblem(f"Outcome group with canvas id {record.canvas_id or ''} not found")
    return group if group.context == context else None


def _group_write(
    record: GroupRecord, context: ContextRef, parent: GroupRef, prior: StoredGroup | None
) -> GroupWrite:
    description = record.description or ""
    if prior is None:
        return GroupWrite(context, record.vendor_guid, record.title, description,
                          record.workflow_state, parent)
    changed = (prior.title, prior.description, prior.workflow_state, prior.parent_id) != (
        record.title, description, record.workflow_state, parent
    )
    return GroupWrite(context, prior.vendor_guid, record.title, description,
                      record.workflow_state, parent, id=prior.id, changed=changed)


def _prior_outcome(record: OutcomeRecord, existing: Existing) -> StoredOutcome | None:
    """Canvas's find_prior_outcome: a ``canvas_outcome:<id>`` in any context and state, else
    the vendor_guid anywhere in the installation."""
    match = MAGIC_OUTCOME.search(record.vendor_guid)
    if match is None:
        return existing.outcomes_by_guid.get(record.vendor_guid)
    outcome = existing.outcomes_by_id.get(int(match[1]))
    if outcome is None:
        raise RowProblem(f'Outcome with canvas id "{record.canvas_id or ""}" not found')
    return outcome


def _keep_blank(new: str | None, old: str | None) -> str | None:
    """Canvas's nil inference: a blank cell over a blank value changes nothing (an export
    turns nil into '')."""
    return old if not new and not old else new


def outcome_fields(
    record: OutcomeRecord, prior: StoredOutcome | None, new_decaying_average: bool
) -> OutcomeFields:
    method, calculation_int = rules.scoring(
        record.calculation_method, record.calculation_int, new_decaying_average
    )
    if (
        prior
        and record.calculation_int is not None
        and method in rules.INT_DROPPING_METHODS
        and method != prior.calculation_method
    ):
        calculation_int = None
    ratings, mastery, possible = _scale(record, prior)
    return OutcomeFields(
        title=record.title,
        description=_keep_blank(record.description, prior.description if prior else None),
        display_name=_keep_blank(record.display_name, prior.display_name if prior else None),
        calculation_method=method,
        calculation_int=calculation_int,
        mastery_points=mastery,
        points_possible=possible,
        ratings=ratings,
        workflow_state="active",
    )


def _scale(
    record: OutcomeRecord, prior: StoredOutcome | None
) -> tuple[tuple[tuple[float, str], ...], float | None, float | None]:
    """The rubric is rebuilt only when the file changes the ratings or the mastery points;
    changed ratings without mastery points reset mastery to the top rating (as Canvas)."""
    if prior is not None:
        new_ratings = rules.rubric(record.ratings, 0.0).ratings if record.ratings else None
        ratings_changed = new_ratings is not None and new_ratings != prior.ratings
        mastery_changed = (
            record.mastery_points is not None and record.mastery_points != prior.mastery_points
        )
        if not (ratings_changed or mastery_changed):
            return prior.ratings, prior.mastery_points, prior.points_possible
        kept = record.ratings or tuple(Rating(p, d) for p, d in prior.ratings)
        scale = rules.rubric(kept, record.mastery_points)
    else:
        scale = rules.rubric(record.ratings, record.mastery_points)
    return scale.ratings, scale.mastery_points, scale.points_possible


def _outcome_validations(record: OutcomeRecord, fields: OutcomeFields) -> Sequence[str | None]:
    errors = rules.calculation_errors(fields.calculation_method, fields.calculation_int)
    longest = max(len(record.vendor_guid), len(fields.title), len(fields.display_name or ""))
    if longest <= rules.MAX_STRING:
        return errors
    return [
        *errors,
        rules.too_long("Vendor guid", record.vendor_guid),
        rules.too_long("Short description", fields.title),
        rules.too_long("Display name", fields.display_name),
    ]


def changed_columns(prior: StoredOutcome, fields: OutcomeFields) -> list[str]:
    """Canvas's names of the columns a row would change, in Canvas's assignment order."""
    pairs = (
        ("short_description", prior.title, fields.title),
        ("description", prior.description, fields.description),
        ("display_name", prior.display_name, fields.display_name),
        ("calculation_method", prior.calculation_method, fields.calculation_method),
        ("calculation_int", prior.calculation_int, fields.calculation_int),
        ("workflow_state", prior.workflow_state, fields.workflow_state),
        (
            "data",
            (prior.ratings, prior.mastery_points, prior.points_possible),
            (fields.ratings, fields.mastery_points, fields.points_possible),
        ),
    )
    return [name for name, old, new in pairs if old != new]


def _outcome_write(
    record: OutcomeRecord,
    fields: OutcomeFields,
    prior: StoredOutcome | None,
    context: ContextRef,
) -> OutcomeWrite:
    if prior is None:
        return OutcomeWrite(context, record.vendor_guid, fields)
    unchanged = OutcomeFields(
        prior.title, prior.description, prior.display_name, prior.calculation_method,
        prior.calculation_int, prior.mastery_points, prior.points_possible, prior.ratings,
        prior.workflow_state,
    )
    return OutcomeWrite(prior.context, prior.vendor_guid, fields, id=prior.id,
                        changed=fields != unchanged)
