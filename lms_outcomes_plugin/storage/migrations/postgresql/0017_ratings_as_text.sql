-- An outcome's ratings are written and read whole, never queried inside. As JSONB, the server
-- parsed each outcome's ratings as it was written and printed them as it was read: a fifth of
-- the COPY of a 100,000-row import's outcomes, and of a re-import's reading them back. As
-- TEXT they are kept as the store writes them (JSON, as SQLite keeps them); rows written
-- before keep JSONB's printing of the same JSON. The journal's before-images likewise.
ALTER TABLE lms_outcomes_outcomes ALTER COLUMN ratings TYPE TEXT;
ALTER TABLE lms_outcomes_journal_outcomes ALTER COLUMN ratings TYPE TEXT;
