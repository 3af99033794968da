-- What an import's rows did so far (counts of rows, groups, outcomes and links), as the JSON
-- of every OutcomeImport: written with each batch's progress, in the same statement. NULL
-- until the first batch (all zeros).
ALTER TABLE lms_outcomes_imports ADD COLUMN counts TEXT;
