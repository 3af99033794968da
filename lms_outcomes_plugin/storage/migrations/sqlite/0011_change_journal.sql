-- Undo: cancel, revert and the change journal.
--
-- `cancelled` is a new final state. SQLite cannot change a table's CHECK, so the imports table
-- is rebuilt in this migration's transaction: with foreign keys deferred, dropping it leaves
-- the rows that reference it (latest imports, stamps) pending until the copy is back, and the
-- errors and warnings its ON DELETE CASCADE removes are copied back too.
PRAGMA defer_foreign_keys = ON;
CREATE TABLE lms_outcomes_imports_copy AS SELECT * FROM lms_outcomes_imports;
CREATE TABLE lms_outcomes_import_errors_copy AS SELECT * FROM lms_outcomes_import_errors;
CREATE TABLE lms_outcomes_import_warnings_copy AS SELECT * FROM lms_outcomes_import_warnings;
DROP TABLE lms_outcomes_imports;
CREATE TABLE lms_outcomes_imports (
    id INTEGER PRIMARY KEY,
    context_type TEXT NOT NULL CHECK (context_type IN ('account', 'course')),
    context_id INTEGER NOT NULL,
    root_account_id INTEGER NOT NULL,
    import_type TEXT NOT NULL,
    user_id INTEGER,
    learning_outcome_group_id INTEGER,
    workflow_state TEXT NOT NULL CHECK (workflow_state IN
        ('initializing', 'created', 'importing', 'succeeded', 'failed', 'cancelled')),
    progress INTEGER NOT NULL DEFAULT 0 CHECK (progress BETWEEN 0 AND 100),
    attachment_id INTEGER REFERENCES lms_outcomes_attachments (id),
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    queued_at TEXT,
    started_at TEXT,
    ended_at TEXT,
    runner_id TEXT,
    heartbeat_at TEXT,
    takeovers INTEGER NOT NULL DEFAULT 0,
    progressed_at TEXT,
    encoding TEXT NOT NULL DEFAULT 'utf-8',
    counts TEXT,
    dry_run BOOLEAN NOT NULL DEFAULT FALSE,
    -- A revert is an import of its own: the import it reverts. The reverted import names its
    -- revert (queued or done; cleared again when the revert fails or is cancelled).
    reverts INTEGER REFERENCES lms_outcomes_imports (id),
    reverted_by INTEGER REFERENCES lms_outcomes_imports (id),
    -- DELETE on an importing import: its run sees it at its next batch.
    cancel_requested BOOLEAN NOT NULL DEFAULT FALSE,
    -- 'kept' (its writes are journaled), 'off' (it ran with journal_days 0), 'expired' (the
    -- journal was pruned); NULL before it ran, and for imports older than the journal.
    journal TEXT CHECK (journal IN ('kept', 'off', 'expired'))
);
INSERT INTO lms_outcomes_imports (id, context_type, context_id, root_account_id, import_type,
    user_id, learning_outcome_group_id, workflow_state, progress, attachment_id, created_at,
    updated_at, queued_at, started_at, ended_at, runner_id, heartbeat_at, takeovers,
    progressed_at, encoding, counts, dry_run)
SELECT id, context_type, context_id, root_account_id, import_type, user_id,
    learning_outcome_group_id, workflow_state, progress, attachment_id, created_at, updated_at,
    queued_at, started_at, ended_at, runner_id, heartbeat_at, takeovers, progressed_at,
    encoding, counts, dry_run
FROM lms_outcomes_imports_copy;
INSERT INTO lms_outcomes_import_errors SELECT * FROM lms_outcomes_import_errors_copy;
INSERT INTO lms_outcomes_import_warnings SELECT * FROM lms_outcomes_import_warnings_copy;
DROP TABLE lms_outcomes_imports_copy;
DROP TABLE lms_outcomes_import_errors_copy;
DROP TABLE lms_outcomes_import_warnings_copy;
CREATE INDEX lms_outcomes_imports_queue
    ON lms_outcomes_imports (workflow_state, root_account_id, queued_at, id);

-- The change journal: the before-image of every tree row an import changes, written in the
-- batch's transaction before the change; `existed` FALSE for a row the import created. The
-- first image of a row per import is the one kept (a run taken over and started again finds
-- its first run's writes). No foreign key: an entry costs no lookup, and pruning deletes by
-- import. Only what an import may change of an existing row is kept.
CREATE TABLE lms_outcomes_journal_groups (
    outcome_import_id INTEGER NOT NULL,
    id INTEGER NOT NULL,
    existed BOOLEAN NOT NULL,
    parent_id INTEGER,
    title TEXT,
    sort_title TEXT,
    description TEXT,
    workflow_state TEXT,
    stamp INTEGER,
    updated_at TEXT,
    PRIMARY KEY (outcome_import_id, id)
) WITHOUT ROWID;
CREATE TABLE lms_outcomes_journal_outcomes (
    outcome_import_id INTEGER NOT NULL,
    id INTEGER NOT NULL,
    existed BOOLEAN NOT NULL,
    title TEXT,
    sort_title TEXT,
    description TEXT,
    display_name TEXT,
    calculation_method TEXT,
    calculation_int INTEGER,
    mastery_points REAL,
    points_possible REAL,
    ratings TEXT,
    workflow_state TEXT,
    stamp INTEGER,
    updated_at TEXT,
    PRIMARY KEY (outcome_import_id, id)
) WITHOUT ROWID;
CREATE TABLE lms_outcomes_journal_links (
    outcome_import_id INTEGER NOT NULL,
    id INTEGER NOT NULL,
    existed BOOLEAN NOT NULL,
    workflow_state TEXT,
    updated_at TEXT,
    PRIMARY KEY (outcome_import_id, id)
) WITHOUT ROWID;
CREATE TABLE lms_outcomes_journal_friendly (
    outcome_import_id INTEGER NOT NULL,
    id INTEGER NOT NULL,
    existed BOOLEAN NOT NULL,
    description TEXT,
    workflow_state TEXT,
    updated_at TEXT,
    PRIMARY KEY (outcome_import_id, id)
) WITHOUT ROWID;
