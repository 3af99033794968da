-- Titles sort by a key stored beside them (case and accents folded in Python), so both backends
-- order listings the same way without a collation function in the database.
ALTER TABLE lms_outcomes_groups ADD COLUMN sort_title TEXT NOT NULL DEFAULT '';
ALTER TABLE lms_outcomes_outcomes ADD COLUMN sort_title TEXT NOT NULL DEFAULT '';
UPDATE lms_outcomes_groups SET sort_title = sort_title(title);
UPDATE lms_outcomes_outcomes SET sort_title = sort_title(title);
