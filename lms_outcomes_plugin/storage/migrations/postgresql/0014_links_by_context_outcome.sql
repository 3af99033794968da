-- The export reads a context's links a chunk of outcomes at a time: (context, outcome_id) is an
-- index range each chunk, in outcome order, with or without statistics (right after a large
-- import there are none, and the planner took the whole context's links for every chunk). The
-- index replaces lms_outcomes_links_by_context, a prefix of it.
CREATE INDEX lms_outcomes_links_by_context_outcome
    ON lms_outcomes_links (context_type, context_id, outcome_id);
DROP INDEX lms_outcomes_links_by_context;
