"""The SQL both backends share: imports and their queue, the outcome tree's lookups and batch
writes, and the read API.

Statements are written in qmark style with a few named macros for where the dialects differ (see
:class:`~lms_outcomes_plugin.storage.sql.Dialect`): ``{ids}`` and ``{texts}`` read a JSON list
parameter as a subquery, ``{in_ids}`` and ``{in_texts}`` test membership in one (in the form each
planner estimates well: on PostgreSQL ``= ANY(ARRAY(...))``; as ``IN (subquery)`` it expected half
of a table to match, and scanned all of it), ``{json_rows}`` a JSON list of lists as a table with a
``value`` column, ``{greatest}`` is the two-argument maximum, ``{skip_locked}`` the row locking of
the queue, ``{lock}`` the lock a transaction takes on the import rows it decides on (nothing where
one writer at a time already excludes every other), ``{clock}`` the time an import starts or ends
or its run renews its lease (a parameter, or the database's clock where imports run side by side)
and ``{lease_cutoff}`` the moment before which a lease has lapsed (its parameter is the dialect's
``lease_cutoff`` of the lease). Lists travel as one JSON parameter, so a batch of any size is one
statement and never meets a bound-variable limit. Writes name every object by id.
"""

GROUP_COLUMNS = (
    "id, context_type, context_id, parent_id, vendor_guid, title, description, workflow_state, "
    "outcome_import_id"
)
OUTCOME_COLUMNS = (
    "id, context_type, context_id, vendor_guid, title, description, display_name, "
    "calculation_method, calculation_int, mastery_points, points_possible, ratings, "
    "workflow_state, outcome_import_id"
)
LINK_COLUMNS = "id, group_id, outcome_id, context_type, context_id, workflow_state"

# params: JSON [guid, ...], JSON [id, ...]. Two selects, each on its index: PostgreSQL answers
# "guid IN (...) OR id IN (...)" with a scan of the whole table, so every batch of a large
# import got slower as the table grew. An outcome named both ways comes back twice.
SELECT_OUTCOMES = f"""
SELECT {OUTCOME_COLUMNS} FROM lms_outcomes_outcomes WHERE vendor_guid {{in_texts}}
UNION ALL
SELECT {OUTCOME_COLUMNS} FROM lms_outcomes_outcomes WHERE id {{in_ids}}
"""
# params: JSON [id, ...]
SELECT_LINKS = f"""
SELECT {LINK_COLUMNS} FROM lms_outcomes_links
WHERE outcome_id {{in_ids}} ORDER BY id
"""
# params: JSON [id, ...], JSON [[context_type, context_id, vendor_guid], ...]
SELECT_GROUPS = f"""
SELECT {GROUP_COLUMNS} FROM lms_outcomes_groups WHERE id {{in_ids}}
UNION
SELECT g.{GROUP_COLUMNS.replace(", ", ", g.")} FROM {{json_rows}} AS k
JOIN lms_outcomes_groups AS g ON g.context_type = k.value ->> 0
    AND g.context_id = CAST(k.value ->> 1 AS BIGINT) AND g.vendor_guid = k.value ->> 2
"""
# params: import id, JSON [guid, ...]: Canvas's find_parents (groups the import processed)
SELECT_PARENTS = f"""
SELECT {GROUP_COLUMNS} FROM lms_outcomes_groups
WHERE outcome_import_id = ? AND vendor_guid {{in_texts}}
"""
# Recursive walks of the tree use UNION, never UNION ALL: each group joins a walk at most once,
# so a walk ends within the table's size even on a cycle (the schemas refuse a group as its own
# parent and no import can close a longer one, but a database an older version wrote may hold
# one).
# params: group id: the group and every group above it
SELECT_ANCESTORS = """
WITH RECURSIVE chain(id, parent_id) AS (
    SELECT id, parent_id FROM lms_outcomes_groups WHERE id = ?
    UNION
    SELECT g.id, g.parent_id FROM lms_outcomes_groups g JOIN chain c ON g.id = c.parent_id
)
SELECT id FROM chain
"""

# params: id, context_type, context_id, parent_id, vendor_guid, title, sort_title,
#         description, workflow_state, outcome_import_id, created_at, updated_at
INSERT_GROUP = """
INSERT INTO lms_outcomes_groups (id, context_type, context_id, parent_id, vendor_guid, title,
    sort_title, description, workflow_state, outcome_import_id, created_at, updated_at)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
"""
# A changed group (unchanged ones are only stamped).
# params: parent_id, title, sort_title, description, workflow_state, outcome_import_id,
#         updated_at, id
UPDATE_GROUP = """
UPDATE lms_outcomes_groups SET parent_id = ?, title = ?, sort_title = ?, description = ?,
    workflow_state = ?, outcome_import_id = ?, updated_at = ?
WHERE id = ?
"""
# An unchanged group or outcome is only stamped with the import (one statement a batch).
# params: outcome_import_id, JSON [id, ...]
STAMP_GROUPS = "UPDATE lms_outcomes_groups SET outcome_import_id = ? WHERE id {in_ids}"
STAMP_OUTCOMES = "UPDATE lms_outcomes_outcomes SET outcome_import_id = ? WHERE id {in_ids}"
# What lies below the groups a batch deletes, walked as Canvas's ``destroy`` walks: through
# active child groups only. UNION (not UNION ALL) visits each group once, so the walk ends even
# on a cycle an older version stored.
# params: JSON [root id, ...]
SELECT_BELOW = """
WITH RECURSIVE below(id) AS (
    SELECT id FROM lms_outcomes_groups WHERE id {in_ids}
    UNION
    SELECT g.id FROM lms_outcomes_groups g JOIN below b ON g.parent_id = b.id
    WHERE g.workflow_state = 'active'
)
SELECT g.id, g.parent_id, g.workflow_state FROM lms_outcomes_groups g JOIN below b ON g.id = b.id
"""
# params: JSON [group id, ...]
SELECT_LINKS_IN = f"""
SELECT {LINK_COLUMNS} FROM lms_outcomes_links
WHERE group_id {{in_ids}} AND workflow_state = 'active' ORDER BY id
"""
# params: updated_at, JSON [id, ...]
DELETE_GROUPS = """
UPDATE lms_outcomes_groups SET workflow_state = 'deleted', updated_at = ?
WHERE id {in_ids} AND workflow_state != 'deleted'
"""

_OUTCOME_FIELDS = (
    "title, sort_title, description, display_name, calculation_method, calculation_int, "
    "mastery_points, points_possible, ratings, workflow_state"
)
# params: id, context_type, context_id, vendor_guid, <10 fields>, outcome_import_id,
#         created_at, updated_at
INSERT_OUTCOME = f"""
INSERT INTO lms_outcomes_outcomes (id, context_type, context_id, vendor_guid, {_OUTCOME_FIELDS},
    outcome_import_id, created_at, updated_at)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
"""
# A changed outcome (unchanged ones are only stamped).
# params: <10 fields>, outcome_import_id, updated_at, id
UPDATE_OUTCOME = """
UPDATE lms_outcomes_outcomes SET title = ?, sort_title = ?, description = ?, display_name = ?,
    calculation_method = ?, calculation_int = ?, mastery_points = ?, points_possible = ?,
    ratings = ?, workflow_state = ?, outcome_import_id = ?, updated_at = ?
WHERE id = ?
"""

# params: context_type, context_id, group_id, outcome_id, created_at, updated_at
LINK = """
INSERT INTO lms_outcomes_links (context_type, context_id, group_id, outcome_id,
    workflow_state, created_at, updated_at)
VALUES (?, ?, ?, ?, 'active', ?, ?)
ON CONFLICT (group_id, outcome_id) DO UPDATE SET
    workflow_state = 'active', updated_at = excluded.updated_at
WHERE lms_outcomes_links.workflow_state != 'active'
"""
# params: updated_at, JSON [id, ...]
UNLINK = """
UPDATE lms_outcomes_links SET workflow_state = 'deleted', updated_at = ?
WHERE id {in_ids} AND workflow_state != 'deleted'
"""

# params: context_type, context_id, outcome_id, description, created_at, updated_at
SET_FRIENDLY = """
INSERT INTO lms_outcomes_friendly_descriptions (context_type, context_id, outcome_id,
    description, workflow_state, created_at, updated_at)
VALUES (?, ?, ?, ?, 'active', ?, ?)
ON CONFLICT (context_type, context_id, outcome_id) DO UPDATE SET
    description = excluded.description, workflow_state = 'active',
    updated_at = excluded.updated_at
WHERE lms_outcomes_friendly_descriptions.description != excluded.description
    OR lms_outcomes_friendly_descriptions.workflow_state != 'active'
"""
# params: updated_at, context_type, context_id, outcome_id
RETIRE_FRIENDLY = """
UPDATE lms_outcomes_friendly_descriptions SET workflow_state = 'deleted', updated_at = ?
WHERE context_type = ? AND context_id = ? AND outcome_id = ? AND workflow_state != 'deleted'
"""



# --- the read API ------------------------------------------------------------------------------
# Titles sort as Canvas's collation key does, without regard to case or accents: by the
# ``sort_title`` stored beside each title (see sql.sort_title).

_G = "g." + GROUP_COLUMNS.replace(", ", ", g.")
_O = "o." + OUTCOME_COLUMNS.replace(", ", ", o.")
_L = "l." + LINK_COLUMNS.replace(", ", ", l.")

# params: group id, limit, offset
SUBGROUPS = f"""
SELECT {GROUP_COLUMNS} FROM lms_outcomes_groups
WHERE parent_id = ? AND workflow_state = 'active' ORDER BY sort_title, title, id
LIMIT ? OFFSET ?
"""
COUNT_SUBGROUPS = (
    "SELECT COUNT(*) FROM lms_outcomes_groups WHERE parent_id = ? AND workflow_state = 'active'"
)
_LINKED = f"""
SELECT {_L}, {_O}, {_G} FROM lms_outcomes_links l
JOIN lms_outcomes_outcomes o ON o.id = l.outcome_id
JOIN lms_outcomes_groups g ON g.id = l.group_id
"""
# params: group id, limit, offset
GROUP_LINKS = f"""{_LINKED}
WHERE l.group_id = ? AND l.workflow_state = 'active'
ORDER BY o.sort_title, o.title, l.id LIMIT ? OFFSET ?
"""
COUNT_GROUP_LINKS = (
    "SELECT COUNT(*) FROM lms_outcomes_links WHERE group_id = ? AND workflow_state = 'active'"
)
# params: context_type, context_id, limit, offset
CONTEXT_LINKS = f"""{_LINKED}
WHERE l.context_type = ? AND l.context_id = ? AND l.workflow_state = 'active'
ORDER BY l.id LIMIT ? OFFSET ?
"""
COUNT_CONTEXT_LINKS = (
    "SELECT COUNT(*) FROM lms_outcomes_links WHERE context_type = ? AND context_id = ? "
    "AND workflow_state = 'active'"
)
# params: context_type, context_id, limit, offset
CONTEXT_GROUPS = f"""
SELECT {GROUP_COLUMNS} FROM lms_outcomes_groups
WHERE context_type = ? AND context_id = ? AND workflow_state = 'active'
ORDER BY id LIMIT ? OFFSET ?
"""
COUNT_CONTEXT_GROUPS = (
    "SELECT COUNT(*) FROM lms_outcomes_groups WHERE context_type = ? AND context_id = ? "
    "AND workflow_state = 'active'"
)
# params: context_type, context_id, JSON [outcome id, ...]
FRIENDLY_DESCRIPTIONS = """
SELECT outcome_id, description FROM lms_outcomes_friendly_descriptions
WHERE context_type = ? AND context_id = ? AND workflow_state = 'active'
    AND outcome_id {in_ids}
"""


# --- the export: the context's tree in keyset chunks ------------------------------------------
# The groups below the context's root group, reached through active groups only (what the read
# API shows), by depth and then id: every parent before its children. The walk goes down from
# the root group, which has no parent, so it never enters a cycle an older version stored
# (none of a cycle's groups is the child of a group outside it). The root group itself has no
# parent and is not a row.
# params: context_type, context_id, after depth, after id, limit
TREE_GROUPS_AFTER = f"""
WITH RECURSIVE tree(id, depth) AS (
    SELECT id, 0 FROM lms_outcomes_groups WHERE context_type = ? AND context_id = ? AND is_root
    UNION
    SELECT g.id, t.depth + 1 FROM lms_outcomes_groups g JOIN tree t ON g.parent_id = t.id
    WHERE g.workflow_state = 'active'
)
SELECT t.depth, {_G}, p.vendor_guid, p.is_root FROM tree t
JOIN lms_outcomes_groups g ON g.id = t.id
JOIN lms_outcomes_groups p ON p.id = g.parent_id
WHERE (t.depth, t.id) > (?, ?)
ORDER BY t.depth, t.id LIMIT ?
"""
# The active outcomes with an active link in an active group of the context, by id. A chunk
# walks the context's links in outcome order from the last id (PostgreSQL's index on (context,
# outcome_id), SQLite's on outcome_id) and stops at the limit: it reads its own links, whatever
# the statistics say (right after a large import there are none), never all the context's.
# The bound is given to the outcomes too: PostgreSQL carries no inequality across a join, and
# would read the outcomes from the first. The chunk's ids are found first, grouped by
# l.outcome_id alone (SQLite groups in index order only so, and PostgreSQL selects no outcome
# column by that key), then their outcomes read.
# params: context_type, context_id, after id, after id again, limit
TREE_OUTCOMES_AFTER = f"""
SELECT {_O} FROM lms_outcomes_outcomes o JOIN (
    SELECT l.outcome_id FROM lms_outcomes_links l
    JOIN lms_outcomes_groups g ON g.id = l.group_id
    JOIN lms_outcomes_outcomes a ON a.id = l.outcome_id
    WHERE l.context_type = ? AND l.context_id = ? AND l.outcome_id > ? AND a.id > ?
        AND l.workflow_state = 'active' AND g.workflow_state = 'active'
        AND a.workflow_state = 'active'
    GROUP BY l.outcome_id ORDER BY l.outcome_id LIMIT ?
) chunk ON o.id = chunk.outcome_id
ORDER BY o.id
"""
# The groups those outcomes are linked in (the root group too), by outcome and group id. The
# range of the chunk's ids bounds the index range the links are read from, whatever the plan.
# params: context_type, context_id, first id, last id, JSON [outcome id, ...]
TREE_PARENTS = """
SELECT l.outcome_id, g.id, g.vendor_guid, g.is_root FROM lms_outcomes_links l
JOIN lms_outcomes_groups g ON g.id = l.group_id
WHERE l.context_type = ? AND l.context_id = ? AND l.outcome_id BETWEEN ? AND ?
    AND l.outcome_id {in_ids} AND l.workflow_state = 'active' AND g.workflow_state = 'active'
ORDER BY l.outcome_id, g.id
"""
# Which of the listed groups lie below a deleted group (the read API does not show them). A walk
# up from each, each step reading the group it reaches, with its state, by key (a join of the
# walk with the groups afterwards had PostgreSQL read every group for the few deleted ones, each
# chunk); UNION keeps each (start, step) row once, so it ends even on a stored cycle.
# params: JSON [group id, ...]
HIDDEN_GROUPS = """
WITH RECURSIVE up(start, parent_id, workflow_state, above) AS (
    SELECT id, parent_id, workflow_state, 0 FROM lms_outcomes_groups WHERE id {in_ids}
    UNION
    SELECT u.start, g.parent_id, g.workflow_state, 1 FROM lms_outcomes_groups g
    JOIN up u ON g.id = u.parent_id
)
SELECT DISTINCT start FROM up WHERE above = 1 AND workflow_state != 'active'
"""


# --- imports, their errors and the runner's queue ----------------------------------------------

IMPORT_COLUMNS = (
    "id, context_type, context_id, root_account_id, import_type, user_id, "
    "learning_outcome_group_id, workflow_state, progress, attachment_id, created_at, "
    "updated_at, ended_at, encoding, counts, dry_run, reverts, reverted_by, cancel_requested, "
    "journal"
)
# params: filename, content_type, size, storage_key, created_at
INSERT_ATTACHMENT = """
INSERT INTO lms_outcomes_attachments (filename, content_type, size, storage_key, created_at)
VALUES (?, ?, ?, ?, ?) RETURNING id
"""
# params: context_type, context_id, root_account_id, import_type, user_id,
#         learning_outcome_group_id, encoding, created_at, updated_at
INSERT_IMPORT = """
INSERT INTO lms_outcomes_imports (context_type, context_id, root_account_id, import_type,
    user_id, learning_outcome_group_id, encoding, dry_run, workflow_state, progress,
    created_at, updated_at)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'initializing', 0, ?, ?) RETURNING id
"""
# params: attachment_id, queued_at, updated_at, id
QUEUE_IMPORT = f"""
UPDATE lms_outcomes_imports SET attachment_id = ?, workflow_state = 'created', queued_at = ?,
    updated_at = ?
WHERE id = ? RETURNING {IMPORT_COLUMNS}
"""
# params: id, context_type, context_id
SELECT_IMPORT = f"""
SELECT {IMPORT_COLUMNS} FROM lms_outcomes_imports
WHERE id = ? AND context_type = ? AND context_id = ? AND workflow_state != 'initializing'
"""
# params: id
SELECT_IMPORT_BY_ID = f"SELECT {IMPORT_COLUMNS} FROM lms_outcomes_imports WHERE id = ?"
# params: context_type, context_id
SELECT_LATEST_IMPORT = f"""
SELECT {IMPORT_COLUMNS} FROM lms_outcomes_imports WHERE id = (
    SELECT outcome_import_id FROM lms_outcomes_latest_imports
    WHERE context_type = ? AND context_id = ?)
"""


#: What a row of ``with_messages_shown`` after the import's columns holds: an error or a warning.
SHOWN_ERROR, SHOWN_WARNING = 0, 1


def with_messages_shown(select_import: str) -> str:
    """The import ``select_import`` finds, with its first errors and its first warnings, in one
    round trip (a status request is polled while imports run): one row per error or warning,
    its kind (SHOWN_ERROR or SHOWN_WARNING), row and message after the import's columns, or
    one row with three NULLs. params: select_import's, then the two limits."""
    return f"""
WITH found AS ({select_import})
SELECT found.*, shown.kind, shown.row, shown.message FROM found LEFT JOIN (
    SELECT * FROM (
        SELECT {SHOWN_ERROR} AS kind, row, message, id FROM lms_outcomes_import_errors
        WHERE outcome_import_id = (SELECT id FROM found) ORDER BY row, id LIMIT ?
    ) AS errors
    UNION ALL
    SELECT * FROM (
        SELECT {SHOWN_WARNING} AS kind, row, message, id FROM lms_outcomes_import_warnings
        WHERE outcome_import_id = (SELECT id FROM found) ORDER BY row, id LIMIT ?
    ) AS warnings
) AS shown ON TRUE
ORDER BY shown.kind, shown.row, shown.id
"""


SELECT_IMPORT_SHOWN = with_messages_shown(SELECT_IMPORT)
SELECT_LATEST_IMPORT_SHOWN = with_messages_shown(SELECT_LATEST_IMPORT)
# params: import id, row, message, failure
INSERT_ERROR = """
INSERT INTO lms_outcomes_import_errors (outcome_import_id, row, message, failure)
VALUES (?, ?, ?, ?)
"""
# params: import id, row, message
INSERT_WARNING = """
INSERT INTO lms_outcomes_import_warnings (outcome_import_id, row, message) VALUES (?, ?, ?)
"""
# Every error of an import, by row and then as recorded: a page of them (the errors route) ...
# params: import id, limit, offset
IMPORT_ERRORS = """
SELECT row, message FROM lms_outcomes_import_errors WHERE outcome_import_id = ?
ORDER BY row, id LIMIT ? OFFSET ?
"""
# params: import id
COUNT_IMPORT_ERRORS = "SELECT COUNT(*) FROM lms_outcomes_import_errors WHERE outcome_import_id = ?"
# ... or those after a (row, id), in index order (errors.csv, chunk by chunk).
# params: import id, row, id, limit
IMPORT_ERRORS_AFTER = """
SELECT row, id, message FROM lms_outcomes_import_errors
WHERE outcome_import_id = ? AND (row, id) > (?, ?)
ORDER BY row, id LIMIT ?
"""
# Only the oldest created import (by id: imports are created one at a time) of each root
# account may start, and only while none of its root account is importing: so a runner that
# skips a row another runner has locked never starts a younger import of that root account in
# its place.
# Each claim names its run with a token of its own (``runner_id``), never reused: every write of
# the run checks it, so a run whose import was taken over cannot write again, even when its own
# process claims the import anew.
# A run journals its writes when the claim says so; an import whose earlier run journaled keeps
# doing so (a revert needs every write of it).
# params: started_at, updated_at, runner_id, heartbeat_at, progressed_at, journal
CLAIM_IMPORT = f"""
UPDATE lms_outcomes_imports SET workflow_state = 'importing', started_at = {{clock}},
    updated_at = ?, runner_id = ?, heartbeat_at = {{clock}}, progressed_at = ?,
    journal = CASE WHEN journal = 'kept' THEN 'kept' ELSE ? END
WHERE id = (
    SELECT i.id FROM lms_outcomes_imports i
    WHERE i.workflow_state = 'created'
    AND NOT EXISTS (SELECT 1 FROM lms_outcomes_imports r
        WHERE r.root_account_id = i.root_account_id AND r.workflow_state = 'importing')
    AND NOT EXISTS (SELECT 1 FROM lms_outcomes_imports o
        WHERE o.root_account_id = i.root_account_id AND o.workflow_state = 'created'
        AND o.id < i.id)
    ORDER BY i.id LIMIT 1 {{skip_locked}}
) AND workflow_state = 'created'
RETURNING {IMPORT_COLUMNS}
"""
# params: context_type, context_id, import id
SET_LATEST_IMPORT = """
INSERT INTO lms_outcomes_latest_imports (context_type, context_id, outcome_import_id)
VALUES (?, ?, ?)
ON CONFLICT (context_type, context_id) DO UPDATE SET outcome_import_id = excluded.outcome_import_id
"""
# Renews the leases of the runs named. A row another transaction holds is skipped: that is
# the run's own batch (which renews the lease as it commits) or a takeover deciding on it. Rows
# are locked in id order, as a takeover locks them.
# params: heartbeat_at, JSON [runner_id, ...]
HEARTBEAT = """
UPDATE lms_outcomes_imports SET heartbeat_at = {clock}
WHERE id IN (SELECT id FROM lms_outcomes_imports
    WHERE runner_id {in_texts} AND workflow_state = 'importing' ORDER BY id {skip_locked})
RETURNING runner_id
"""
# The first statement of a batch's transaction: the run still owns the import, and holds its
# row until the batch commits, so no takeover can decide on the import in between. It also
# says whether a cancel was asked for (the batch then undoes the run instead) and whether the
# run journals its writes.
# params: id, runner_id
OWN_IMPORT = """
SELECT id, cancel_requested, journal, reverts FROM lms_outcomes_imports
WHERE id = ? AND runner_id = ? AND workflow_state = 'importing' {lock}
"""
# An import asked to cancel does not finish: it is undone instead (SqlStore.cancel_run).
# params: state, ended_at, updated_at, state, id, runner_id
FINISH_IMPORT = f"""
UPDATE lms_outcomes_imports SET workflow_state = ?, ended_at = {{clock}}, updated_at = ?,
    progress = CASE WHEN ? = 'succeeded' THEN 100 ELSE progress END
WHERE id = ? AND runner_id = ? AND workflow_state = 'importing' AND NOT cancel_requested
RETURNING {IMPORT_COLUMNS}
"""
# The batch's row is already the run's (OWN_IMPORT); still checked, as every write of a run is.
# params: progress, updated_at, heartbeat_at (the clock), progressed_at, counts (JSON), id,
#         runner_id
PROGRESS = """
UPDATE lms_outcomes_imports SET progress = {greatest}(progress, ?), updated_at = ?,
    heartbeat_at = {clock}, progressed_at = ?, counts = ?
WHERE id = ? AND runner_id = ? AND workflow_state = 'importing'
"""
# A takeover is one decision, taken on the import rows it has locked: the first statement of
# its transaction waits for any transaction holding one of them (a batch, a finish, a heartbeat)
# to end, then reads the row as that left it (PostgreSQL re-checks a locked row's WHERE on its
# newest version), so nothing is deleted on a lease that a commit has just renewed.
# params: the lease cutoff
LOCK_LAPSED = """
SELECT id, runner_id, takeovers, cancel_requested FROM lms_outcomes_imports
WHERE workflow_state = 'importing' AND (heartbeat_at IS NULL OR heartbeat_at < {lease_cutoff})
ORDER BY id {lock}
"""
# The import a run stops itself (at shutdown), if the run still owns it. params: id, runner_id
LOCK_OWNED = """
SELECT id, runner_id, takeovers FROM lms_outcomes_imports
WHERE id = ? AND runner_id = ? AND workflow_state = 'importing' {lock}
"""
# A requeued import's batches are applied again from the start, as by a new import: the errors
# they recorded would be recorded twice, and their stamps would read "already appeared".
# params: JSON [import id, ...]
REQUEUE_ERRORS = "DELETE FROM lms_outcomes_import_errors WHERE outcome_import_id {in_ids}"
REQUEUE_WARNINGS = "DELETE FROM lms_outcomes_import_warnings WHERE outcome_import_id {in_ids}"
REQUEUE_GROUP_STAMPS = (
    "UPDATE lms_outcomes_groups SET outcome_import_id = NULL WHERE outcome_import_id {in_ids}"
)
REQUEUE_OUTCOME_STAMPS = (
    "UPDATE lms_outcomes_outcomes SET outcome_import_id = NULL WHERE outcome_import_id {in_ids}"
)
# No run owns a queued import. params: updated_at, takeovers to add, JSON [import id, ...]
REQUEUE = """
UPDATE lms_outcomes_imports SET workflow_state = 'created', runner_id = NULL, updated_at = ?,
    counts = NULL, takeovers = takeovers + ?
WHERE id {in_ids}
"""
# An import whose runner died this many times is failed, not started again: it may be what
# kills them. params: ended_at, updated_at, JSON [import id, ...]
FAIL_LAPSED = """
UPDATE lms_outcomes_imports SET workflow_state = 'failed', ended_at = {clock}, updated_at = ?
WHERE id {in_ids}
"""
# Whatever its runner's heartbeat says. One asked to cancel is undone instead (see
# LOCK_STALLED_CANCELS). params: ended_at, updated_at, no progress since
FAIL_STALLED = """
UPDATE lms_outcomes_imports SET workflow_state = 'failed', ended_at = {clock}, updated_at = ?
WHERE workflow_state = 'importing' AND progressed_at < ? AND NOT cancel_requested
RETURNING id, runner_id
"""
# Stalled imports asked to cancel: the user asked for them to be undone, not failed. Looked
# for without a lock (the watchdog's every look), then locked under the tree's lock, as a batch
# takes them. params: no progress since
STALLED_CANCELS = """
SELECT id, runner_id FROM lms_outcomes_imports
WHERE workflow_state = 'importing' AND progressed_at < ? AND cancel_requested
ORDER BY id"""
LOCK_STALLED_CANCELS = STALLED_CANCELS + " {lock}"
# The imports of a root account waiting to run (or still uploading). params: root_account_id
COUNT_QUEUED = """
SELECT COUNT(*) FROM lms_outcomes_imports
WHERE root_account_id = ? AND workflow_state IN ('initializing', 'created')
"""
# Uploads of ended imports, older than a moment. params: created before
OLD_UPLOADS = """
SELECT a.id, a.storage_key FROM lms_outcomes_attachments a
WHERE a.created_at < ? AND NOT EXISTS (SELECT 1 FROM lms_outcomes_imports i
    WHERE i.attachment_id = a.id AND i.workflow_state IN ('initializing', 'created', 'importing'))
"""
# params: JSON [attachment id, ...]
UNLINK_UPLOADS = (
    "UPDATE lms_outcomes_imports SET attachment_id = NULL WHERE attachment_id {in_ids}"
)
DELETE_UPLOADS = "DELETE FROM lms_outcomes_attachments WHERE id {in_ids}"
# params: import id
CREATED_GROUP_IDS = (
    "SELECT id FROM lms_outcomes_groups WHERE outcome_import_id = ? ORDER BY id"
)

# --- single objects ------------------------------------------------------------------------------

# params: context_type, context_id
SELECT_ROOT = """
SELECT id FROM lms_outcomes_groups
WHERE context_type IS NOT DISTINCT FROM ? AND context_id IS NOT DISTINCT FROM ? AND is_root
"""
# params: context_type, context_id, title, sort_title, created_at, updated_at
INSERT_ROOT = """
INSERT INTO lms_outcomes_groups (context_type, context_id, title, sort_title, is_root,
    created_at, updated_at)
VALUES (?, ?, ?, ?, TRUE, ?, ?) ON CONFLICT DO NOTHING
"""
SELECT_GROUP = f"SELECT {GROUP_COLUMNS} FROM lms_outcomes_groups WHERE id = ?"
SELECT_OUTCOME = f"SELECT {OUTCOME_COLUMNS} FROM lms_outcomes_outcomes WHERE id = ?"


# --- the change journal, revert and cancel -----------------------------------------------------
# Each batch of a journaled run writes the before-image of every row it is about to change, in
# its own transaction and before the change, one statement per table (``existed`` FALSE: the
# row is the import's own). ON CONFLICT DO NOTHING keeps a row's first image per import: a run
# started again after a takeover finds its first run's writes. (``WHERE TRUE``: SQLite reads
# ``ON`` after a join as the join's.)
# params: import id, JSON [group id, ...]
JOURNAL_GROUPS = """
INSERT INTO lms_outcomes_journal_groups (outcome_import_id, id, existed, parent_id, title,
    sort_title, description, workflow_state, stamp, updated_at)
SELECT CAST(? AS BIGINT), k.value, g.id IS NOT NULL, g.parent_id, g.title, g.sort_title,
    g.description, g.workflow_state, g.outcome_import_id, g.updated_at
FROM ({ids}) AS k LEFT JOIN lms_outcomes_groups g ON g.id = k.value
WHERE TRUE ON CONFLICT DO NOTHING
"""
# params: import id, JSON [outcome id, ...]
JOURNAL_OUTCOMES = """
INSERT INTO lms_outcomes_journal_outcomes (outcome_import_id, id, existed, title, sort_title,
    description, display_name, calculation_method, calculation_int, mastery_points,
    points_possible, ratings, workflow_state, stamp, updated_at)
SELECT CAST(? AS BIGINT), k.value, o.id IS NOT NULL, o.title, o.sort_title, o.description,
    o.display_name, o.calculation_method, o.calculation_int, o.mastery_points,
    o.points_possible, o.ratings, o.workflow_state, o.outcome_import_id, o.updated_at
FROM ({ids}) AS k LEFT JOIN lms_outcomes_outcomes o ON o.id = k.value
WHERE TRUE ON CONFLICT DO NOTHING
"""
# Groups and outcomes a batch only re-stamps (a re-import's unchanged rows, most of its rows):
# their stamp is all it changes, so all their before-image holds (title NULL: a stored group or
# outcome always has one). A whole image of each was most of a re-import's journal.
# params: import id, JSON [id, ...]
JOURNAL_GROUP_STAMPS = """
INSERT INTO lms_outcomes_journal_groups (outcome_import_id, id, existed, stamp)
SELECT CAST(? AS BIGINT), k.value, g.id IS NOT NULL, g.outcome_import_id
FROM ({ids}) AS k LEFT JOIN lms_outcomes_groups g ON g.id = k.value
WHERE TRUE ON CONFLICT DO NOTHING
"""
JOURNAL_OUTCOME_STAMPS = """
INSERT INTO lms_outcomes_journal_outcomes (outcome_import_id, id, existed, stamp)
SELECT CAST(? AS BIGINT), k.value, o.id IS NOT NULL, o.outcome_import_id
FROM ({ids}) AS k LEFT JOIN lms_outcomes_outcomes o ON o.id = k.value
WHERE TRUE ON CONFLICT DO NOTHING
"""
# Groups and outcomes a batch creates: no row to copy (their ids are the batch's own).
# params: import id, JSON [id, ...]
JOURNAL_NEW_GROUPS = """
INSERT INTO lms_outcomes_journal_groups (outcome_import_id, id, existed)
SELECT CAST(? AS BIGINT), k.value, FALSE FROM ({ids}) AS k WHERE TRUE ON CONFLICT DO NOTHING
"""
JOURNAL_NEW_OUTCOMES = """
INSERT INTO lms_outcomes_journal_outcomes (outcome_import_id, id, existed)
SELECT CAST(? AS BIGINT), k.value, FALSE FROM ({ids}) AS k WHERE TRUE ON CONFLICT DO NOTHING
"""
_LINK_PAIRS = """{json_rows} AS k JOIN lms_outcomes_links l
    ON l.group_id = CAST(k.value ->> 0 AS BIGINT)
    AND l.outcome_id = CAST(k.value ->> 1 AS BIGINT)"""
# Links retired by id and links made by (group, outcome): those that exist before the batch.
# params: import id, JSON [link id, ...], import id, JSON [[group id, outcome id], ...]
JOURNAL_LINKS = f"""
INSERT INTO lms_outcomes_journal_links (outcome_import_id, id, existed, workflow_state,
    updated_at)
SELECT CAST(? AS BIGINT), l.id, TRUE, l.workflow_state, l.updated_at FROM lms_outcomes_links l
WHERE l.id {{in_ids}}
UNION
SELECT CAST(? AS BIGINT), l.id, TRUE, l.workflow_state, l.updated_at FROM {_LINK_PAIRS}
WHERE TRUE ON CONFLICT DO NOTHING
"""
# After the batch's links: those it created (the others were journaled before).
# params: import id, JSON [[group id, outcome id], ...]
JOURNAL_NEW_LINKS = f"""
INSERT INTO lms_outcomes_journal_links (outcome_import_id, id, existed)
SELECT CAST(? AS BIGINT), l.id, FALSE FROM {_LINK_PAIRS}
WHERE TRUE ON CONFLICT DO NOTHING
"""
_FRIENDLY_KEYS = """{json_rows} AS k JOIN lms_outcomes_friendly_descriptions f
    ON f.context_type = k.value ->> 0 AND f.context_id = CAST(k.value ->> 1 AS BIGINT)
    AND f.outcome_id = CAST(k.value ->> 2 AS BIGINT)"""
# params: import id, JSON [[context type, context id, outcome id], ...]
JOURNAL_FRIENDLY = f"""
INSERT INTO lms_outcomes_journal_friendly (outcome_import_id, id, existed, description,
    workflow_state, updated_at)
SELECT CAST(? AS BIGINT), f.id, TRUE, f.description, f.workflow_state, f.updated_at
FROM {_FRIENDLY_KEYS}
WHERE TRUE ON CONFLICT DO NOTHING
"""
# params: import id, JSON [[context type, context id, outcome id], ...]
JOURNAL_NEW_FRIENDLY = f"""
INSERT INTO lms_outcomes_journal_friendly (outcome_import_id, id, existed)
SELECT CAST(? AS BIGINT), f.id, FALSE FROM {_FRIENDLY_KEYS}
WHERE TRUE ON CONFLICT DO NOTHING
"""

# Undoing an import (a revert, or a cancelled run): every row it changed gets its before-image
# back (a row it only re-stamped, its stamp), then the rows it created go, links and
# descriptions before the outcomes and groups they name. Set-based: a fixed number of
# statements, whatever the import's size.
# params: import id (each)
RESTORE = (
    """UPDATE lms_outcomes_links SET workflow_state = j.workflow_state,
    updated_at = j.updated_at
FROM lms_outcomes_journal_links j
WHERE j.outcome_import_id = ? AND j.existed AND lms_outcomes_links.id = j.id""",
    """UPDATE lms_outcomes_friendly_descriptions SET description = j.description,
    workflow_state = j.workflow_state, updated_at = j.updated_at
FROM lms_outcomes_journal_friendly j
WHERE j.outcome_import_id = ? AND j.existed AND lms_outcomes_friendly_descriptions.id = j.id""",
    """UPDATE lms_outcomes_outcomes SET title = j.title, sort_title = j.sort_title,
    description = j.description, display_name = j.display_name,
    calculation_method = j.calculation_method, calculation_int = j.calculation_int,
    mastery_points = j.mastery_points, points_possible = j.points_possible,
    ratings = j.ratings, workflow_state = j.workflow_state, outcome_import_id = j.stamp,
    updated_at = j.updated_at
FROM lms_outcomes_journal_outcomes j
WHERE j.outcome_import_id = ? AND j.existed AND j.title IS NOT NULL
    AND lms_outcomes_outcomes.id = j.id""",
    """UPDATE lms_outcomes_outcomes SET outcome_import_id = j.stamp
FROM lms_outcomes_journal_outcomes j
WHERE j.outcome_import_id = ? AND j.existed AND j.title IS NULL
    AND lms_outcomes_outcomes.id = j.id""",
    """UPDATE lms_outcomes_groups SET parent_id = j.parent_id, title = j.title,
    sort_title = j.sort_title, description = j.description,
    workflow_state = j.workflow_state, outcome_import_id = j.stamp, updated_at = j.updated_at
FROM lms_outcomes_journal_groups j
WHERE j.outcome_import_id = ? AND j.existed AND j.title IS NOT NULL
    AND lms_outcomes_groups.id = j.id""",
    """UPDATE lms_outcomes_groups SET outcome_import_id = j.stamp
FROM lms_outcomes_journal_groups j
WHERE j.outcome_import_id = ? AND j.existed AND j.title IS NULL
    AND lms_outcomes_groups.id = j.id""",
)
REMOVE_CREATED = (
    # The links it created, and every link naming a group or an outcome it created (a link
    # into or to a row created in the same batch is not journaled: it cannot have existed).
    """DELETE FROM lms_outcomes_links WHERE id IN (
    WITH t AS (SELECT CAST(? AS BIGINT) AS id)
    SELECT j.id FROM t JOIN lms_outcomes_journal_links j ON j.outcome_import_id = t.id
    WHERE NOT j.existed
    UNION SELECT l.id FROM t JOIN lms_outcomes_journal_groups j ON j.outcome_import_id = t.id
    JOIN lms_outcomes_links l ON l.group_id = j.id WHERE NOT j.existed
    UNION SELECT l.id FROM t JOIN lms_outcomes_journal_outcomes j ON j.outcome_import_id = t.id
    JOIN lms_outcomes_links l ON l.outcome_id = j.id WHERE NOT j.existed)""",
    """DELETE FROM lms_outcomes_friendly_descriptions WHERE id IN (
    SELECT id FROM lms_outcomes_journal_friendly WHERE outcome_import_id = ? AND NOT existed)""",
    """DELETE FROM lms_outcomes_outcomes WHERE id IN (SELECT id FROM lms_outcomes_journal_outcomes
    WHERE outcome_import_id = ? AND NOT existed)""",
    """DELETE FROM lms_outcomes_groups WHERE id IN (SELECT id FROM lms_outcomes_journal_groups
    WHERE outcome_import_id = ? AND NOT existed)""",
)
# params: JSON [import id, ...]
FORGET_JOURNAL = tuple(
    f"DELETE FROM lms_outcomes_journal_{table} WHERE outcome_import_id {{in_ids}}"
    for table in ("groups", "outcomes", "links", "friendly")
)


def _overlap(table: str) -> str:
    """A later import (``i``) changed a row the target (``t``) changed."""
    return f"""EXISTS (SELECT 1 FROM lms_outcomes_journal_{table} b
        JOIN lms_outcomes_journal_{table} a ON a.outcome_import_id = t.id AND a.id = b.id
        WHERE b.outcome_import_id = i.id)"""


def _depends(table: str, tree: str, column: str, created: str) -> str:
    """A row a later import (``i``) wrote names (``column``) a row the target created."""
    return f"""EXISTS (SELECT 1 FROM lms_outcomes_journal_{table} b
        JOIN {tree} r ON r.id = b.id
        JOIN lms_outcomes_journal_{created} a ON a.outcome_import_id = t.id
            AND a.id = r.{column} AND NOT a.existed
        WHERE b.outcome_import_id = i.id)"""


def _links_between(later: str, created: str) -> str:
    """A link names a row a later import (``i``) created (``later``: groups or outcomes) and
    one the target created: the later import made it (a batch does not journal links into or
    to the rows it creates)."""
    column = {"groups": "group_id", "outcomes": "outcome_id"}
    return f"""EXISTS (SELECT 1 FROM lms_outcomes_journal_{later} b
        JOIN lms_outcomes_links r ON r.{column[later]} = b.id
        JOIN lms_outcomes_journal_{created} a ON a.outcome_import_id = t.id
            AND a.id = r.{column[created]} AND NOT a.existed
        WHERE b.outcome_import_id = i.id AND NOT b.existed)"""


# The first import of the target's root account after it, in effect (not a dry run, a revert,
# cancelled or reverted), that changed a row the target changed or wrote a row that names one
# the target created (a group under one of its groups, a link into one).
# params: target import id
REVERT_BLOCKER = f"""
WITH t AS (SELECT id, root_account_id FROM lms_outcomes_imports WHERE id = ?)
SELECT MIN(i.id) FROM lms_outcomes_imports i, t
WHERE i.root_account_id = t.root_account_id AND i.id > t.id AND NOT i.dry_run
    AND i.import_type != 'revert' AND i.reverted_by IS NULL
    AND i.workflow_state IN ('importing', 'succeeded', 'failed')
    AND ({_overlap("groups")} OR {_overlap("outcomes")} OR {_overlap("links")}
        OR {_overlap("friendly")}
        OR {_depends("groups", "lms_outcomes_groups", "parent_id", "groups")}
        OR {_depends("links", "lms_outcomes_links", "group_id", "groups")}
        OR {_depends("links", "lms_outcomes_links", "outcome_id", "outcomes")}
        OR {_links_between("outcomes", "groups")} OR {_links_between("groups", "outcomes")}
        OR {_depends("friendly", "lms_outcomes_friendly_descriptions", "outcome_id",
                     "outcomes")})
"""
# params: id, context_type, context_id
LOCK_IMPORT = f"""
SELECT {IMPORT_COLUMNS} FROM lms_outcomes_imports
WHERE id = ? AND context_type = ? AND context_id = ? AND workflow_state != 'initializing' {{lock}}
"""
# params: updated_at, id
REQUEST_CANCEL = """
UPDATE lms_outcomes_imports SET cancel_requested = TRUE, updated_at = ?
WHERE id = ? AND workflow_state = 'importing'
"""
# An import ends cancelled (once what it wrote is undone). params: ended_at, updated_at, id
END_CANCELLED = f"""
UPDATE lms_outcomes_imports SET workflow_state = 'cancelled', cancel_requested = TRUE,
    ended_at = {{clock}}, updated_at = ?
WHERE id = ? RETURNING {IMPORT_COLUMNS}
"""
# A revert that failed or was cancelled no longer reverts its target. params: revert's id
UNREVERT = "UPDATE lms_outcomes_imports SET reverted_by = NULL WHERE reverted_by = ?"
# params: context_type, context_id, root_account_id, user_id, reverts, created_at, updated_at,
#         queued_at
INSERT_REVERT = f"""
INSERT INTO lms_outcomes_imports (context_type, context_id, root_account_id, import_type,
    user_id, reverts, workflow_state, progress, created_at, updated_at, queued_at)
VALUES (?, ?, ?, 'revert', ?, ?, 'created', 0, ?, ?, ?) RETURNING {IMPORT_COLUMNS}
"""
# params: revert's id, target's id
MARK_REVERTED = """
UPDATE lms_outcomes_imports SET reverted_by = ? WHERE id = ? AND reverted_by IS NULL
"""
# A revert ends once its target's rows are back. params: counts, ended_at, updated_at, id
END_REVERT = f"""
UPDATE lms_outcomes_imports SET workflow_state = 'succeeded', progress = 100, counts = ?,
    ended_at = {{clock}}, updated_at = ?
WHERE id = ? RETURNING {IMPORT_COLUMNS}
"""
# Journals of imports that ended before a moment are dropped; their imports cannot be reverted
# any more. params: ended before
EXPIRE_JOURNALS = """
UPDATE lms_outcomes_imports SET journal = 'expired'
WHERE journal = 'kept' AND ended_at < ? RETURNING id
"""

# --- announcing ends, and extensions' jobs -----------------------------------------------------

# params: limit
UNANNOUNCED_IMPORTS = """
SELECT id, context_type, context_id FROM lms_outcomes_imports
WHERE ended_at IS NOT NULL AND announced_at IS NULL ORDER BY ended_at, id LIMIT ?
"""
# params: announced_at, JSON [import id, ...]
MARK_ANNOUNCED = """
UPDATE lms_outcomes_imports SET announced_at = ? WHERE id {in_ids} AND announced_at IS NULL
"""
JOB_COLUMNS = (
    "extension, job_key, payload, state, attempts, due_at, last_error, created_at, updated_at, "
    "ended_at"
)
# Run once per job (executemany). params: extension, job_key, payload (JSON), due_at,
# created_at, updated_at
ADD_JOB = """
INSERT INTO lms_outcomes_extension_jobs (extension, job_key, payload, state, due_at,
    created_at, updated_at)
VALUES (?, ?, ?, 'pending', ?, ?, ?)
ON CONFLICT (extension, job_key) DO NOTHING
"""
# params: due_at (now + lease), updated_at, extension, extension, now, limit
CLAIM_JOBS = f"""
UPDATE lms_outcomes_extension_jobs SET attempts = attempts + 1, due_at = ?, updated_at = ?
WHERE extension = ? AND job_key IN (
    SELECT job_key FROM lms_outcomes_extension_jobs
    WHERE extension = ? AND state = 'pending' AND due_at <= ?
    ORDER BY due_at, job_key LIMIT ? {{skip_locked}})
RETURNING {JOB_COLUMNS}
"""
# params: due_at, last_error, updated_at, extension, job_key
RETRY_JOB = """
UPDATE lms_outcomes_extension_jobs SET due_at = ?, last_error = ?, updated_at = ?
WHERE extension = ? AND job_key = ? AND state = 'pending'
"""
# params: state, last_error, updated_at, ended_at, extension, job_key
END_JOB = """
UPDATE lms_outcomes_extension_jobs SET state = ?, last_error = ?, updated_at = ?, ended_at = ?,
    due_at = NULL
WHERE extension = ? AND job_key = ? AND state = 'pending'
"""
# params: extension, limit, offset
JOBS = f"""
SELECT {JOB_COLUMNS} FROM lms_outcomes_extension_jobs WHERE extension = ?
ORDER BY created_at DESC, job_key DESC LIMIT ? OFFSET ?
"""
# params: extension
COUNT_JOBS = "SELECT COUNT(*) FROM lms_outcomes_extension_jobs WHERE extension = ?"

# --- idempotency keys ----------------------------------------------------------------------------

KEY_COLUMNS = (
    "token, context_type, context_id, learning_outcome_group_id, parameters, body_sha256, "
    "outcome_import_id"
)
# params: created before (every user's keys past their day)
DELETE_EXPIRED_KEYS = "DELETE FROM lms_outcomes_idempotency_keys WHERE created_at < ?"
# params: user_id, key, touched before: an upload that stopped without an answer
DELETE_ABANDONED_KEY = """
DELETE FROM lms_outcomes_idempotency_keys
WHERE user_id = ? AND key = ? AND outcome_import_id IS NULL AND touched_at < ?
"""
# params: user_id, key, token, context_type, context_id, group id, created_at, touched_at
RESERVE_KEY = """
INSERT INTO lms_outcomes_idempotency_keys (user_id, key, token, context_type, context_id,
    learning_outcome_group_id, created_at, touched_at)
VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING
"""
# params: user_id, key
SELECT_KEY = (
    f"SELECT {KEY_COLUMNS} FROM lms_outcomes_idempotency_keys WHERE user_id = ? AND key = ?"
)
# params: touched_at, user_id, key, token
TOUCH_KEY = """
UPDATE lms_outcomes_idempotency_keys SET touched_at = ?
WHERE user_id = ? AND key = ? AND token = ? AND outcome_import_id IS NULL
"""
# params: user_id, key, token
RELEASE_KEY = """
DELETE FROM lms_outcomes_idempotency_keys
WHERE user_id = ? AND key = ? AND token = ? AND outcome_import_id IS NULL
"""
# params: import id, parameters, body_sha256, user_id, key, token
BIND_KEY = """
UPDATE lms_outcomes_idempotency_keys SET outcome_import_id = ?, parameters = ?, body_sha256 = ?
WHERE user_id = ? AND key = ? AND token = ? AND outcome_import_id IS NULL
"""
