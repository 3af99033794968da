-- How an import reads its file (the client's `encoding`), kept with the import so that a
-- restarted or taken-over import reads it the same way.
ALTER TABLE lms_outcomes_imports ADD COLUMN encoding TEXT NOT NULL DEFAULT 'utf-8';

-- What an import accepted but the user should know, [row, message] as its errors. A table, not
-- a JSON column: a batch appends its warnings in one executemany, as it does its errors, and a
-- requeued import loses them the same way.
CREATE TABLE lms_outcomes_import_warnings (
    id INTEGER PRIMARY KEY,
    outcome_import_id INTEGER NOT NULL REFERENCES lms_outcomes_imports (id) ON DELETE CASCADE,
    row INTEGER NOT NULL,
    message TEXT NOT NULL
);
-- (SQLite's index entries end with the rowid, id: this one also orders by row, then id.)
CREATE INDEX lms_outcomes_import_warnings_by_row
    ON lms_outcomes_import_warnings (outcome_import_id, row);
