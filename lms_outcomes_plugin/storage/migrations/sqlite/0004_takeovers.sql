-- How many times the import was started again because the process running it died: past a
-- limit it fails instead, so an import that kills its runners cannot loop for ever.
ALTER TABLE lms_outcomes_imports ADD COLUMN takeovers INTEGER NOT NULL DEFAULT 0;
