-- A dry run (`dry_run=true` on create): it runs every check and plans every write, and its
-- transaction is rolled back. Existing imports were real ones.
ALTER TABLE lms_outcomes_imports ADD COLUMN dry_run BOOLEAN NOT NULL DEFAULT FALSE;
