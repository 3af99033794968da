"""The SQL of the outcome tree: lookups and batch writes, in qmark style.

Lists travel as one JSON parameter (``json_each``), so a batch of any size is one statement and
never meets a bound-variable limit. Writes name every object by id.
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

# params: JSON [guid, ...], JSON [id, ...]
SELECT_OUTCOMES = f"""
SELECT {OUTCOME_COLUMNS} FROM lms_outcomes_outcomes
WHERE vendor_guid IN (SELECT value FROM json_each(?)) OR id IN (SELECT value FROM json_each(?))
"""
# params: JSON [id, ...]
SELECT_LINKS = f"""
SELECT {LINK_COLUMNS} FROM lms_outcomes_links
WHERE outcome_id IN (SELECT value FROM json_each(?)) ORDER BY id
"""
# params: JSON [id, ...], JSON [[context_type, context_id, vendor_guid], ...]
SELECT_GROUPS = f"""
SELECT {GROUP_COLUMNS} FROM lms_outcomes_groups WHERE id IN (SELECT value FROM json_each(?))
UNION
SELECT g.{GROUP_COLUMNS.replace(", ", ", g.")} FROM json_each(?) AS k
JOIN lms_outcomes_groups AS g ON g.context_type = k.value ->> 0
    AND g.context_id = k.value ->> 1 AND g.vendor_guid = k.value ->> 2
"""
# params: import id, JSON [guid, ...]: Canvas's find_parents (groups the import processed)
SELECT_PARENTS = f"""
SELECT {GROUP_COLUMNS} FROM lms_outcomes_groups
WHERE outcome_import_id = ? AND vendor_guid IN (SELECT value FROM json_each(?))
"""
# params: group id
SELECT_ANCESTORS = """
WITH RECURSIVE chain(id, parent_id, depth) AS (
    SELECT id, parent_id, 0 FROM lms_outcomes_groups WHERE id = ?
    UNION ALL
    SELECT g.id, g.parent_id, c.depth + 1 FROM lms_outcomes_groups g JOIN chain c
        ON g.id = c.parent_id
)
SELECT id FROM chain ORDER BY depth
"""

# params: id, context_type, context_id, parent_id, vendor_guid, title, description,
#         workflow_state, outcome_import_id, created_at, updated_at
INSERT_GROUP = """
INSERT INTO lms_outcomes_groups (id, context_type, context_id, parent_id, vendor_guid, title,
    description, workflow_state, outcome_import_id, created_at, updated_at)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
"""
# params: parent_id, title, description, workflow_state, outcome_import_id, changed,
#         updated_at, id
UPDATE_GROUP = """
UPDATE lms_outcomes_groups SET parent_id = ?, title = ?, description = ?, workflow_state = ?,
    outcome_import_id = ?, updated_at = CASE WHEN ? THEN ? ELSE updated_at END
WHERE id = ?
"""
_SUBTREE = """
WITH RECURSIVE subtree(id) AS (
    SELECT ?
    UNION ALL
    SELECT g.id FROM lms_outcomes_groups g JOIN subtree s ON g.parent_id = s.id
)
"""
# params: root id, updated_at
DELETE_SUBTREE_LINKS = f"""{_SUBTREE}
UPDATE lms_outcomes_links SET workflow_state = 'deleted', updated_at = ?
WHERE group_id IN (SELECT id FROM subtree) AND workflow_state != 'deleted'
"""
# params: root id, updated_at
DELETE_SUBTREE_GROUPS = f"""{_SUBTREE}
UPDATE lms_outcomes_groups SET workflow_state = 'deleted', updated_at = ?
WHERE id IN (SELECT id FROM subtree) AND workflow_state != 'deleted'
"""

_OUTCOME_FIELDS = (
    "title, description, display_name, calculation_method, calculation_int, mastery_points, "
    "points_possible, ratings, workflow_state"
)
# params: id, context_type, context_id, vendor_guid, <9 fields>, outcome_import_id,
#         created_at, updated_at
INSERT_OUTCOME = f"""
INSERT INTO lms_outcomes_outcomes (id, context_type, context_id, vendor_guid, {_OUTCOME_FIELDS},
    outcome_import_id, created_at, updated_at)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
"""
# params: <9 fields>, outcome_import_id, changed, updated_at, id
UPDATE_OUTCOME = """
UPDATE lms_outcomes_outcomes SET title = ?, description = ?, display_name = ?,
    calculation_method = ?, calculation_int = ?, mastery_points = ?, points_possible = ?,
    ratings = ?, workflow_state = ?, outcome_import_id = ?,
    updated_at = CASE WHEN ? THEN ? ELSE updated_at END
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
WHERE id IN (SELECT value FROM json_each(?)) AND workflow_state != 'deleted'
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

# The highest ids in use: a batch's new objects take the ids after them (under the write lock).
MAX_IDS = """
SELECT (SELECT COALESCE(MAX(id), 0) FROM lms_outcomes_groups),
       (SELECT COALESCE(MAX(id), 0) FROM lms_outcomes_outcomes)
"""


# --- the read API ------------------------------------------------------------------------------
# Titles sort as Canvas's collation key does: without regard to case or accents. ``title_key``
# is a function each backend provides (see sqlite.title_key).

_G = "g." + GROUP_COLUMNS.replace(", ", ", g.")
_O = "o." + OUTCOME_COLUMNS.replace(", ", ", o.")
_L = "l." + LINK_COLUMNS.replace(", ", ", l.")

# params: group id, limit, offset
SUBGROUPS = f"""
SELECT {GROUP_COLUMNS} FROM lms_outcomes_groups
WHERE parent_id = ? AND workflow_state = 'active' ORDER BY title_key(title), title, id
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
ORDER BY title_key(o.title), o.title, l.id LIMIT ? OFFSET ?
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
    AND outcome_id IN (SELECT value FROM json_each(?))
"""
