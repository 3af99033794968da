-- A group's or outcome's outcome_import_id is the stamp of the last import that processed it
-- (Canvas's find_parents, created_group_ids, a takeover's clearing), not an ownership: imports
-- are never deleted, and only the run that owns an import writes its id. Its foreign key
-- guarded nothing, yet cost each new or re-stamped row a lookup of the import row (and a
-- key-share lock on it): a large part of a PostgreSQL import's server time. The links' keys
-- to their group and outcome, which a revert's deletions do rely on, stay.
ALTER TABLE lms_outcomes_groups DROP CONSTRAINT lms_outcomes_groups_outcome_import_id_fkey;
ALTER TABLE lms_outcomes_outcomes DROP CONSTRAINT lms_outcomes_outcomes_outcome_import_id_fkey;
