"""A group record's ``prune``: once every record of the import is applied, what lies below
such a group and the import did not process is deleted.

A format that always sends a whole framework (a CASE package, a Moodle export) cannot name what
a new version dropped; it marks the framework's group ``prune`` instead. "Processed" is Canvas's
stamp (the import that last wrote or re-stamped an object), so the sweep needs no memory of the
file: two lookups of what lies below the pruned groups, and one batch of deletions, counted
like those of a row.

- A group below that the import did not process goes, with everything below it (as when a row
  deletes a group).
- A link below to an outcome of the importing context that the import did not process goes;
  the outcome goes with its last active link. Outcomes of other contexts are only ever linked by
  an import, never stamped: their links stay.
"""

from __future__ import annotations

from lms_outcomes_plugin.imports.planner import BatchPlanner
from lms_outcomes_plugin.storage import (
    BatchTransaction,
    BatchWrite,
    Existing,
    Lookup,
    OutcomeFields,
    OutcomeWrite,
    StoredOutcome,
)


async def prune(tx: BatchTransaction, planner: BatchPlanner, progress: int) -> BatchWrite | None:
    """The deletions the import's pruned groups call for, planned and counted; None when no
    group was pruned."""
    scope = planner.scope
    roots = set(planner.pruned)
    if not roots:
        return None
    below = await tx.lookup(Lookup(import_id=scope.import_id, group_ids=roots,
                                   deleting_ids=roots))
    groups = {child for children in below.children.values() for child in children}
    outcomes = {link.outcome_id for links in below.links_in.values() for link in links}
    stamps = await tx.lookup(Lookup(import_id=scope.import_id, group_ids=groups,
                                    outcome_ids=outcomes))
    batch = BatchWrite(import_id=scope.import_id, runner=scope.runner, progress=progress)
    kept = _sweep_groups(roots, below, stamps, batch)
    _sweep_links(kept, below, stamps, batch, planner)
    planner.counts.groups.deleted += len(batch.deleted_groups)
    planner.count_batch(batch)
    return batch


def _sweep_groups(
    roots: set[int], below: Existing, stamps: Existing, batch: BatchWrite
) -> list[int]:
    """Mark the unprocessed groups below ``roots`` deleted, with all below them; return the
    groups that stay (the roots and the processed groups below them)."""
    import_id = batch.import_id
    kept, walk = [], list(roots)
    while walk:
        group_id = walk.pop()
        kept.append(group_id)
        for child in below.children.get(group_id, ()):
            group = stamps.groups_by_id.get(child)
            if group is not None and group.outcome_import_id == import_id:
                walk.append(child)
            else:
                _delete(child, below, batch)
    return kept


def _delete(group_id: int, below: Existing, batch: BatchWrite) -> None:
    walk = [group_id]
    while walk:
        current = walk.pop()
        if current in batch.deleted_groups:
            continue
        batch.deleted_groups.add(current)
        batch.unlinks.update(link.id for link in below.links_in.get(current, ()))
        walk.extend(below.children.get(current, ()))


def _sweep_links(
    kept: list[int], below: Existing, stamps: Existing, batch: BatchWrite,
    planner: BatchPlanner,
) -> None:
    """Unlink the unprocessed outcomes of the importing context from the groups that stay;
    delete those (and those of deleted groups) left with no active link anywhere."""
    import_id = batch.import_id
    own = {outcome.id: outcome for outcome in stamps.outcomes_by_id.values()
           if outcome.context == planner.scope.ref and outcome.outcome_import_id != import_id}
    for group_id in kept:
        batch.unlinks.update(link.id for link in below.links_in.get(group_id, ())
                             if link.outcome_id in own)
    unlinked = {link.outcome_id for links in below.links_in.values() for link in links
                if link.id in batch.unlinks and link.outcome_id in own}
    for outcome_id in sorted(unlinked):
        outcome = own[outcome_id]
        active = [link for link in stamps.links_by_outcome.get(outcome_id, ())
                  if link.workflow_state == "active" and link.id not in batch.unlinks]
        if not active and outcome.workflow_state != "deleted":
            batch.outcomes.append(_deleted(outcome))
            planner.counts.outcomes.deleted += 1


def _deleted(outcome: StoredOutcome) -> OutcomeWrite:
    fields = OutcomeFields(
        outcome.title, outcome.description, outcome.display_name, outcome.calculation_method,
        outcome.calculation_int, outcome.mastery_points, outcome.points_possible,
        outcome.ratings, "deleted",
    )
    return OutcomeWrite(outcome.id, outcome.context, outcome.vendor_guid, fields, new=False)
