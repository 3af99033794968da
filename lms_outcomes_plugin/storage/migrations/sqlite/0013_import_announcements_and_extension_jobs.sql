-- An import's end is announced to extensions (lms_outcomes_import_finished) from the store:
-- announced_at stays NULL from the end until every extension was told, so an end recorded
-- before a crash is announced after it. Imports that ended before this migration were
-- announced by the version that ended them.
ALTER TABLE lms_outcomes_imports ADD COLUMN announced_at TEXT;
UPDATE lms_outcomes_imports SET announced_at = ended_at WHERE ended_at IS NOT NULL;
CREATE INDEX lms_outcomes_imports_unannounced ON lms_outcomes_imports (ended_at, id)
    WHERE ended_at IS NOT NULL AND announced_at IS NULL;

-- Extensions' pending work (a webhook's deliveries), by extension and a key of its choosing
-- (job_key). payload is JSON text; a pending job is due at due_at (pushed back by a claim's
-- lease), an ended one is 'done' or 'failed' at ended_at.
CREATE TABLE lms_outcomes_extension_jobs (
    extension TEXT NOT NULL,
    job_key TEXT NOT NULL,
    payload TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('pending', 'done', 'failed')),
    attempts INTEGER NOT NULL DEFAULT 0,
    due_at TEXT,
    last_error TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    ended_at TEXT,
    PRIMARY KEY (extension, job_key)
);
CREATE INDEX lms_outcomes_extension_jobs_due ON lms_outcomes_extension_jobs (extension, due_at)
    WHERE state = 'pending';
CREATE INDEX lms_outcomes_extension_jobs_log
    ON lms_outcomes_extension_jobs (extension, created_at);
