"""Canvas's import semantics, applied in memory to one batch of records at a time.

The planner sees records (any format's) and what the store says exists, and produces one
:class:`~lms_outcomes_plugin.storage.BatchWrite`. It remembers across batches what the import
has processed so far: parents must be groups processed earlier in the same import, and an
object may appear only once per import. The rules for a row's own fields (what it stores,
their validations, what it would change) are the pure functions of :mod:`.rules`.

So no import can make a group its own ancestor: each group it writes goes under a group it
wrote earlier, or under the target or root group; it writes each group once, whatever name a
row gives it (a guid or ``canvas_outcome_group:<id>``); a group above the target group cannot
be imported into it (Canvas's cyclic reference check); and a root group cannot be named at all.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

from lms_outcomes_plugin.imports.rules import (
    changed_columns,
    group_errors,
    outcome_errors,
    outcome_fields,
)
from lms_outcomes_plugin.imports.scope import ImportScope
from lms_outcomes_plugin.models import ContextRef, ImportCounts
from lms_outcomes_plugin.records import GroupRecord, OutcomeRecord, ParsedItem, RowWarning
from lms_outcomes_plugin.ruby import inspect_list
from lms_outcomes_plugin.storage import (
    BatchTransaction,
    BatchWrite,
    Existing,
    FriendlyDescriptionWrite,
    GroupKey,
    GroupWrite,
    LinkWrite,
    Lookup,
    OutcomeFields,
    OutcomeWrite,
    Store,
    StoredGroup,
    StoredLink,
    StoredOutcome,
)

# Canvas's patterns are not anchored: "xcanvas_outcome:12y" names outcome 12.
MAGIC_OUTCOME = re.compile(r"canvas_outcome:(\d+)")
MAGIC_GROUP = re.compile(r"canvas_outcome_group:(\d+)")
#: Our decision: a context's root group is not the file's to rename, move or delete.
ROOT_GROUP = (
    "Outcome group with canvas id {} is the root group of its course or account and cannot be "
    "imported"
)


class RowProblem(Exception):
    """Canvas rejects the row; each message becomes one of the row's errors."""

    def __init__(self, *messages: str) -> None:
        super().__init__(*messages)
        self.messages = messages


@dataclass(frozen=True, slots=True)
class SeenGroup:
    id: int
    context: ContextRef


class NewIds:
    """The ids a batch's transaction reserved, handed out as new objects are planned."""

    def __init__(self, groups: list[int], outcomes: list[int]) -> None:
        self.group = iter(groups).__next__
        self.outcome = iter(outcomes).__next__


@dataclass(slots=True)
class BatchPlanner:
    """Plans one import, a batch at a time. What earlier batches of the import processed is
    read back from the store (Canvas's stamps), so memory does not grow with the file."""

    scope: ImportScope
    #: This batch's group rows: the context each goes in, or why it cannot (from the host).
    _row_contexts: dict[int, ContextRef | RowProblem] = field(default_factory=dict)
    #: Groups processed by this import that this batch may name as parents, by vendor_guid
    #: (one per context): earlier batches' from the store, this batch's as they are planned.
    _processed: dict[str, list[SeenGroup]] = field(default_factory=lambda: defaultdict(list))
    #: Outcomes of the importing context this batch processed (by id and by row guid).
    _outcomes: set[int | str] = field(default_factory=set)
    #: The context of every group this batch may link into.
    _contexts: dict[int, ContextRef] = field(default_factory=dict)
    #: _seen_parents' answers until the next group is processed: most rows of a batch name
    #: the same few parents, and finding them was the planner's largest cost.
    _parents_found: dict[tuple[tuple[str, ...], ContextRef | None], tuple[int, ...]] = field(
        default_factory=dict
    )
    #: The ids of the groups this batch writes: an object is written once per import, whatever
    #: name a row gives it (earlier batches' are known by their stamps).
    _written_groups: set[int] = field(default_factory=set)
    #: The links this batch makes for each outcome of another context (which, unlike the
    #: import's own, may appear on several rows), by group id: a later row may take them back.
    _foreign_links: dict[int, dict[int, LinkWrite]] = field(default_factory=dict)
    #: The import's counts so far, and the last row counted (a row's items may span batches).
    counts: ImportCounts = field(default_factory=ImportCounts)
    #: The groups whose records said ``prune``, for the sweep once every batch is applied
    #: (:mod:`.prune`): one id per such group, whatever the file's size.
    pruned: list[int] = field(default_factory=list)
    _last_row: int = 0
    _last_error_row: int = 0

    async def prepare(
        self, store: Store | BatchTransaction, items: Sequence[ParsedItem]
    ) -> Lookup:
        """Ask the host what the batch's rows name (courses), before the write transaction
        (a dry run's: inside it); return what to ask the store."""
        lookup = Lookup(import_id=self.scope.import_id)
        self._row_contexts.clear()
        for item in items:
            if isinstance(item, GroupRecord):
                context = await self._group_context(store, item)
                self._row_contexts[item.row] = context
                deleting = item.workflow_state == "deleted"
                if isinstance(context, ContextRef):
                    key = (context.type, context.id, item.vendor_guid)
                    lookup.group_keys.add(key)
                    if deleting:
                        lookup.deleting_keys.add(key)
                if match := MAGIC_GROUP.search(item.vendor_guid):
                    lookup.group_ids.add(int(match[1]))
                    if deleting:
                        lookup.deleting_ids.add(int(match[1]))
            elif isinstance(item, OutcomeRecord):
                if match := MAGIC_OUTCOME.search(item.vendor_guid):
                    lookup.outcome_ids.add(int(match[1]))
                else:
                    lookup.outcome_guids.add(item.vendor_guid)
            else:
                continue
            lookup.parent_guids.update(item.parent_guids)
        return lookup

    async def learn(self, existing: Existing) -> None:
        """What messages about the existing objects will quote (other contexts' names)."""
        found = (*existing.outcomes_by_guid.values(), *existing.outcomes_by_id.values())
        await self.scope.learn_names({outcome.context for outcome in found})

    @staticmethod
    def new_objects(items: Sequence[ParsedItem]) -> tuple[int, int]:
        """At most how many groups and outcomes the batch creates (ids to reserve)."""
        groups = sum(1 for item in items if isinstance(item, GroupRecord))
        outcomes = sum(1 for item in items if isinstance(item, OutcomeRecord))
        return groups, outcomes

    def plan(
        self, items: Sequence[ParsedItem], existing: Existing, ids: NewIds, progress: int
    ) -> BatchWrite:
        batch = BatchWrite(
            import_id=self.scope.import_id, runner=self.scope.runner, progress=progress
        )
        self._start_batch(existing)
        counts = self.counts
        for item in items:
            if isinstance(item, RowWarning):
                batch.warnings.append((item.row, item.message))
                continue
            if item.row != self._last_row:
                self._last_row = item.row
                counts.rows += 1
            try:
                if isinstance(item, OutcomeRecord):
                    self._plan_outcome(item, existing, ids, batch)
                elif isinstance(item, GroupRecord):
                    self._plan_group(item, existing, ids, batch)
                else:
                    batch.errors.append((item.row, item.message))
            except RowProblem as problem:
                batch.errors.extend((item.row, message) for message in problem.messages)
        self.count_batch(batch)
        return batch

    def count_batch(self, batch: BatchWrite) -> None:
        """Add the batch's links and error rows to the import's counts; the batch carries
        the running total (the prune sweep's batch too)."""
        counts = self.counts
        counts.links_created += len(batch.links)
        counts.links_deleted += len(batch.unlinks)
        for row, _ in batch.errors:
            if row != self._last_error_row:
                self._last_error_row = row
                counts.rows_with_errors += 1
        batch.counts = counts

    def _start_batch(self, existing: Existing) -> None:
        self._processed.clear()
        self._parents_found.clear()
        self._outcomes.clear()
        self._written_groups.clear()
        self._foreign_links.clear()
        self._contexts = {self.scope.default_parent_id: self.scope.ref}
        self._contexts.update({root: ref for ref, root in self.scope.course_roots.items()})
        for guid, groups in existing.parents_by_guid.items():
            self._processed[guid] = [SeenGroup(group.id, group.context) for group in groups]
            self._contexts.update((group.id, group.context) for group in groups)

    # groups ----------------------------------------------------------------------------------

    async def _group_context(
        self, store: Store | BatchTransaction, record: GroupRecord
    ) -> ContextRef | RowProblem:
        """The import's context, or the course a ``course_id`` cell puts the group in."""
        scope = self.scope
        if not record.course_id:
            return scope.ref
        if scope.context.type == "course":
            return RowProblem("Cannot import to other courses")
        course = await scope.course(record.course_id)
        if course is None:
            return RowProblem(f"Course with canvas id {record.course_id} not found")
        if not scope.in_this_account(course):
            return RowProblem(
                f"Target course {record.course_id} is not a child of current account "
                f"({scope.context.name})"
            )
        await scope.course_root(store, course)
        return ContextRef.of(course)

    def _plan_group(
        self, record: GroupRecord, existing: Existing, ids: NewIds, batch: BatchWrite
    ) -> None:
        guid = record.vendor_guid
        context = self._row_contexts[record.row]
        if isinstance(context, RowProblem):
            raise context
        prior = _prior_group(record, context, existing)
        if prior is not None and prior.id == self._root_of(context):
            raise RowProblem(ROOT_GROUP.format(prior.id))
        if prior is not None and prior.id in self.scope.target_ancestors:
            raise RowProblem(f"Cyclic reference detected when importing: {guid}")
        parents = self._group_parents(record, context)
        if len(parents) > 1:
            raise RowProblem("An outcome group can only have one parent")
        if self._appeared(guid, context, prior):
            raise RowProblem(f'Group "{guid}" has already appeared in this import')
        errors = group_errors(record)
        if errors:
            raise RowProblem(*errors)
        write = _group_write(record, context, parents[0], prior, ids)
        batch.groups.append(write)
        self.counts.groups.count(write.new, write.changed, write.workflow_state == "deleted"
                                 and prior is not None and prior.workflow_state != "deleted")
        if write.workflow_state == "deleted":
            self._delete_below(write.id, existing, batch)
        else:  # a deletion earlier in this batch took it down: this row brings it back
            batch.deleted_groups.discard(write.id)
            if record.prune:
                self.pruned.append(write.id)
        self._processed[guid].append(SeenGroup(write.id, context))
        self._parents_found.clear()
        self._contexts[write.id] = context
        self._written_groups.add(write.id)

    def _delete_below(self, group_id: int, existing: Existing, batch: BatchWrite) -> None:
        """Canvas's ``destroy``, at this row: retire the group's active links and, all the
        way down, its active child groups and their links. Groups this import processed are
        not below it (each went under a group processed before it), nor what lies below them."""
        below = [group_id]
        while below:
            parent = below.pop()
            batch.unlinks.update(link.id for link in existing.links_in.get(parent, ()))
            for child in existing.children.get(parent, ()):
                if child not in self._written_groups and child not in batch.deleted_groups:
                    batch.deleted_groups.add(child)
                    below.append(child)

    def _root_of(self, context: ContextRef) -> int | None:
        if context == self.scope.ref:
            return self.scope.root_group_id
        return self.scope.course_roots.get(context)

    def _appeared(self, guid: str, context: ContextRef, prior: StoredGroup | None) -> bool:
        """Whether the import processed this group already: an earlier batch stamped it, this
        batch wrote its id (under this name or another), or this batch processed the guid."""
        if prior is not None and (
            prior.outcome_import_id == self.scope.import_id or prior.id in self._written_groups
        ):
            return True
        return any(seen.context == context for seen in self._processed.get(guid, ()))

    def _group_parents(self, record: GroupRecord, context: ContextRef) -> Sequence[int]:
        if record.parent_guids:
            return self._seen_parents(record.parent_guids, context)
        if context == self.scope.ref:
            return (self.scope.default_parent_id,)
        return (self.scope.course_roots[context],)

    def _seen_parents(self, guids: Sequence[str], context: ContextRef | None) -> tuple[int, ...]:
        """Groups processed earlier in this import with these guids (Canvas's find_parents),
        in ``context`` (None: in any context)."""
        key = (tuple(guids), context)  # a format may hand over a list
        found = self._parents_found.get(key)
        if found is None:
            found = self._parents_found[key] = self._find_parents(guids, context)
        return found

    def _find_parents(self, guids: Sequence[str], context: ContextRef | None) -> tuple[int, ...]:
        processed = self._processed
        matches = [
            [g.id for g in processed.get(guid, ()) if context is None or g.context == context]
            for guid in guids
        ]
        missing = [guid for guid, found in zip(guids, matches, strict=True) if not found]
        if missing:
            raise RowProblem(
                f"Parent references not found prior to this row: {inspect_list(missing)}"
            )
        return tuple(group_id for found in matches for group_id in found)

    # outcomes --------------------------------------------------------------------------------

    def _plan_outcome(
        self, record: OutcomeRecord, existing: Existing, ids: NewIds, batch: BatchWrite
    ) -> None:
        # The hottest code of an import (once per outcome row): kept flat, with fast paths for
        # the common new outcome.
        scope = self.scope
        prior = _prior_outcome(record, existing)
        if prior is not None and not scope.is_visible(prior.context):
            raise RowProblem(
                f"Outcome with ID {record.vendor_guid} already exists in another unrelated "
                f"course or account ({scope.name(prior.context)})"
            )
        parents = () if record.workflow_state == "deleted" else self._outcome_parents(record)
        local = prior is None or prior.context == scope.ref
        if local and (
            record.vendor_guid in self._outcomes
            or (prior is not None and (
                prior.id in self._outcomes or prior.outcome_import_id == scope.import_id
            ))
        ):
            raise RowProblem(
                f'Outcome "{record.vendor_guid}" has already appeared in this import'
            )
        fields = outcome_fields(record, prior, scope.new_decaying_average)
        if local:
            errors = outcome_errors(record, fields)
            if errors:
                raise RowProblem(*errors)
        else:
            self._refuse_foreign_changes(prior, fields)  # type: ignore[arg-type]
        if prior is None:
            outcome_id = ids.outcome()
            here = self._contexts.get
            batch.links += [LinkWrite(parent, outcome_id, here(parent, scope.ref))
                            for parent in parents]
            if not parents:
                fields.workflow_state = "deleted"
        else:
            outcome_id = prior.id
            links = existing.links_by_outcome.get(outcome_id, [])
            made = None if local else self._foreign_links.setdefault(outcome_id, {})
            if not self._sync_links(outcome_id, parents, links, batch, made):
                fields = replace(fields, workflow_state="deleted")
        if local:
            write = _outcome_write(outcome_id, record, fields, prior, scope.ref)
            batch.outcomes.append(write)
            self._outcomes.update((outcome_id, record.vendor_guid))
            self.counts.outcomes.count(write.new, write.changed, prior is not None
                                       and fields.workflow_state == "deleted"
                                       and prior.workflow_state != "deleted")
        else:  # an outcome of another context: only linked here, never changed
            self.counts.outcomes.unchanged += 1
        if record.friendly_description is not None or prior is not None:
            # Kept per (context, outcome): an outcome of a parent account gets the importing
            # context's own friendly description instead of the owner's being overwritten.
            batch.friendly_descriptions.append(
                FriendlyDescriptionWrite(scope.ref, outcome_id, record.friendly_description)
            )

    def _outcome_parents(self, record: OutcomeRecord) -> Sequence[int]:
        if not record.parent_guids:
            return (self.scope.default_parent_id,)
        # With a course_id column, outcomes may go into course groups of the same import.
        return self._seen_parents(
            record.parent_guids, None if record.indirect_parents else self.scope.ref
        )

    def _refuse_foreign_changes(self, prior: StoredOutcome, fields: OutcomeFields) -> None:
        changes = changed_columns(prior, fields)
        if not changes:
            return
        where = (
            "the global context"
            if prior.context.type is None
            else f'"{self.scope.name(prior.context)}"'
        )
        raise RowProblem(
            f"Cannot modify outcome from another context: {inspect_list(changes)}; "
            f"outcome must be modified in {where}"
        )

    def _sync_links(
        self,
        outcome_id: int,
        parents: Sequence[int],
        links: list[StoredLink],
        batch: BatchWrite,
        made: dict[int, LinkWrite] | None,
    ) -> bool:
        """Link the outcome into ``parents`` and unlink it from the other groups of this
        context and those below it; whether it stays linked anywhere.

        ``links`` are as the batch began: those it has retired since (a group deletion, or an
        earlier row of an outcome of another context) are not active, and one that this row
        names again is simply never retired. ``made``: the links earlier rows of this batch
        made for the outcome (None for the import's own outcomes, which appear only once)."""
        contexts, here, retired = self._contexts, self.scope.ref, batch.unlinks
        active = {link.group_id: link for link in links
                  if link.workflow_state == "active" and link.id not in retired}
        made = made if made is not None else {}
        for parent in parents:
            if parent in active or parent in made:
                continue
            kept = retired and next((link for link in links if link.group_id == parent
                                     and link.id in retired), None)
            if kept:
                retired.discard(kept.id)
                active[parent] = kept
            else:
                made[parent] = LinkWrite(parent, outcome_id, contexts.get(parent, here))
                batch.links.append(made[parent])
        unlinked = [link.id for group_id, link in active.items()
                    if group_id not in parents and link.context in self.scope.descendants]
        retired.update(unlinked)
        for group_id, write in list(made.items()):
            if group_id not in parents and write.context in self.scope.descendants:
                batch.links.remove(write)  # rare: an outcome of another context named again
                del made[group_id]
        return bool(parents) or len(active) + len(made) > len(unlinked)


# a row's prior object, and what the batch writes for it ---------------------------------------


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
    record: GroupRecord,
    context: ContextRef,
    parent_id: int,
    prior: StoredGroup | None,
    ids: NewIds,
) -> GroupWrite:
    description = record.description or ""
    if prior is None:
        return GroupWrite(ids.group(), context, record.vendor_guid, record.title, description,
                          record.workflow_state, parent_id)
    changed = (prior.title, prior.description, prior.workflow_state, prior.parent_id) != (
        record.title, description, record.workflow_state, parent_id
    )
    return GroupWrite(prior.id, context, prior.vendor_guid, record.title, description,
                      record.workflow_state, parent_id, new=False, changed=changed)


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


def _outcome_write(
    outcome_id: int,
    record: OutcomeRecord,
    fields: OutcomeFields,
    prior: StoredOutcome | None,
    context: ContextRef,
) -> OutcomeWrite:
    if prior is None:
        return OutcomeWrite(outcome_id, context, record.vendor_guid, fields)
    unchanged = OutcomeFields(
        prior.title, prior.description, prior.display_name, prior.calculation_method,
        prior.calculation_int, prior.mastery_points, prior.points_possible, prior.ratings,
        prior.workflow_state,
    )
    return OutcomeWrite(outcome_id, prior.context, prior.vendor_guid, fields, new=False,
                        changed=fields != unchanged)
