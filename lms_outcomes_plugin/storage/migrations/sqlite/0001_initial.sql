-- Imports, their errors and uploads, and the outcome tree (groups, outcomes, links, friendly
-- descriptions). Times are ISO 8601 text in UTC; contexts are (context_type, context_id), with
-- a NULL type for the global context.

CREATE TABLE lms_outcomes_attachments (
    id INTEGER PRIMARY KEY,
    filename TEXT NOT NULL,
    content_type TEXT NOT NULL,
    size INTEGER NOT NULL,
    storage_key TEXT NOT NULL UNIQUE,
    created_at TEXT NOT NULL
);

CREATE TABLE lms_outcomes_imports (
    id INTEGER PRIMARY KEY,
    context_type TEXT NOT NULL CHECK (context_type IN ('account', 'course')),
    context_id INTEGER NOT NULL,
    root_account_id INTEGER NOT NULL,
    import_type TEXT NOT NULL,
    user_id INTEGER,
    learning_outcome_group_id INTEGER,
    workflow_state TEXT NOT NULL
        CHECK (workflow_state IN ('initializing', 'created', 'importing', 'succeeded', 'failed')),
    progress INTEGER NOT NULL DEFAULT 0 CHECK (progress BETWEEN 0 AND 100),
    attachment_id INTEGER REFERENCES lms_outcomes_attachments (id),
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    queued_at TEXT,
    started_at TEXT,
    ended_at TEXT
);
-- The runner's queue: the oldest created import per root account.
CREATE INDEX lms_outcomes_imports_queue
    ON lms_outcomes_imports (workflow_state, root_account_id, queued_at, id);

CREATE TABLE lms_outcomes_import_errors (
    id INTEGER PRIMARY KEY,
    outcome_import_id INTEGER NOT NULL REFERENCES lms_outcomes_imports (id) ON DELETE CASCADE,
    row INTEGER NOT NULL,
    message TEXT NOT NULL,
    failure INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX lms_outcomes_import_errors_by_row
    ON lms_outcomes_import_errors (outcome_import_id, row);

-- A context's most recently started import (Canvas's latest_outcome_import).
CREATE TABLE lms_outcomes_latest_imports (
    context_type TEXT NOT NULL,
    context_id INTEGER NOT NULL,
    outcome_import_id INTEGER NOT NULL REFERENCES lms_outcomes_imports (id),
    PRIMARY KEY (context_type, context_id)
);

CREATE TABLE lms_outcomes_groups (
    id INTEGER PRIMARY KEY,
    context_type TEXT,
    context_id INTEGER,
    parent_id INTEGER REFERENCES lms_outcomes_groups (id),
    vendor_guid TEXT,
    title TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    workflow_state TEXT NOT NULL DEFAULT 'active',
    is_root INTEGER NOT NULL DEFAULT 0,
    outcome_import_id INTEGER REFERENCES lms_outcomes_imports (id),
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE UNIQUE INDEX lms_outcomes_groups_guid
    ON lms_outcomes_groups (context_type, context_id, vendor_guid);
CREATE UNIQUE INDEX lms_outcomes_groups_one_root
    ON lms_outcomes_groups (context_type, context_id) WHERE is_root;
CREATE INDEX lms_outcomes_groups_children ON lms_outcomes_groups (parent_id);
CREATE INDEX lms_outcomes_groups_by_import ON lms_outcomes_groups (outcome_import_id);

CREATE TABLE lms_outcomes_outcomes (
    id INTEGER PRIMARY KEY,
    context_type TEXT,
    context_id INTEGER,
    vendor_guid TEXT UNIQUE,
    title TEXT NOT NULL,
    description TEXT,
    display_name TEXT,
    calculation_method TEXT NOT NULL,
    calculation_int INTEGER,
    mastery_points REAL NOT NULL,
    points_possible REAL NOT NULL,
    ratings TEXT NOT NULL,  -- JSON [[points, description], ...], highest first
    workflow_state TEXT NOT NULL DEFAULT 'active',
    outcome_import_id INTEGER REFERENCES lms_outcomes_imports (id),
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);

CREATE TABLE lms_outcomes_links (
    id INTEGER PRIMARY KEY,
    context_type TEXT,
    context_id INTEGER,
    group_id INTEGER NOT NULL REFERENCES lms_outcomes_groups (id),
    outcome_id INTEGER NOT NULL REFERENCES lms_outcomes_outcomes (id),
    workflow_state TEXT NOT NULL DEFAULT 'active',
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    UNIQUE (group_id, outcome_id)
);
CREATE INDEX lms_outcomes_links_by_outcome ON lms_outcomes_links (outcome_id);

CREATE TABLE lms_outcomes_friendly_descriptions (
    id INTEGER PRIMARY KEY,
    context_type TEXT,
    context_id INTEGER,
    outcome_id INTEGER NOT NULL REFERENCES lms_outcomes_outcomes (id),
    description TEXT NOT NULL,
    workflow_state TEXT NOT NULL DEFAULT 'active',
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    UNIQUE (context_type, context_id, outcome_id)
);
