-- Undo: cancel, revert and the change journal (as SQLite's 0011).
ALTER TABLE lms_outcomes_imports DROP CONSTRAINT lms_outcomes_imports_workflow_state_check;
ALTER TABLE lms_outcomes_imports ADD CONSTRAINT lms_outcomes_imports_workflow_state_check
    CHECK (workflow_state IN
        ('initializing', 'created', 'importing', 'succeeded', 'failed', 'cancelled'));
-- A revert is an import of its own: the import it reverts. The reverted import names its revert
-- (queued or done; cleared again when the revert fails or is cancelled).
ALTER TABLE lms_outcomes_imports ADD COLUMN reverts BIGINT REFERENCES lms_outcomes_imports (id);
ALTER TABLE lms_outcomes_imports
    ADD COLUMN reverted_by BIGINT REFERENCES lms_outcomes_imports (id);
-- DELETE on an importing import: its run sees it at its next batch.
ALTER TABLE lms_outcomes_imports ADD COLUMN cancel_requested BOOLEAN NOT NULL DEFAULT FALSE;
-- 'kept' (its writes are journaled), 'off' (it ran with journal_days 0), 'expired' (the
-- journal was pruned); NULL before it ran, and for imports older than the journal.
ALTER TABLE lms_outcomes_imports ADD COLUMN journal TEXT
    CHECK (journal IN ('kept', 'off', 'expired'));

-- The change journal: the before-image of every tree row an import changes, written in the
-- batch's transaction before the change; `existed` FALSE for a row the import created. The
-- first image of a row per import is the one kept (a run taken over and started again finds
-- its first run's writes). No foreign key: an entry costs no lookup, and pruning deletes by
-- import. Only what an import may change of an existing row is kept.
CREATE TABLE lms_outcomes_journal_groups (
    outcome_import_id BIGINT NOT NULL,
    id BIGINT NOT NULL,
    existed BOOLEAN NOT NULL,
    parent_id BIGINT,
    title TEXT,
    sort_title TEXT,
    description TEXT,
    workflow_state TEXT,
    stamp BIGINT,
    updated_at TIMESTAMPTZ,
    PRIMARY KEY (outcome_import_id, id)
);
CREATE TABLE lms_outcomes_journal_outcomes (
    outcome_import_id BIGINT NOT NULL,
    id BIGINT NOT NULL,
    existed BOOLEAN NOT NULL,
    title TEXT,
    sort_title TEXT,
    description TEXT,
    display_name TEXT,
    calculation_method TEXT,
    calculation_int INTEGER,
    mastery_points DOUBLE PRECISION,
    points_possible DOUBLE PRECISION,
    ratings JSONB,
    workflow_state TEXT,
    stamp BIGINT,
    updated_at TIMESTAMPTZ,
    PRIMARY KEY (outcome_import_id, id)
);
CREATE TABLE lms_outcomes_journal_links (
    outcome_import_id BIGINT NOT NULL,
    id BIGINT NOT NULL,
    existed BOOLEAN NOT NULL,
    workflow_state TEXT,
    updated_at TIMESTAMPTZ,
    PRIMARY KEY (outcome_import_id, id)
);
CREATE TABLE lms_outcomes_journal_friendly (
    outcome_import_id BIGINT NOT NULL,
    id BIGINT NOT NULL,
    existed BOOLEAN NOT NULL,
    description TEXT,
    workflow_state TEXT,
    updated_at TIMESTAMPTZ,
    PRIMARY KEY (outcome_import_id, id)
);
