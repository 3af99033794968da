-- `Idempotency-Key` on create: a key a user sent, while its first request uploads (no import
-- yet, `token` names that request) and for a day after it created its import. A retry with the
-- same key is answered with that import when it asks for the same thing.
CREATE TABLE lms_outcomes_idempotency_keys (
    user_id BIGINT NOT NULL,
    key TEXT NOT NULL,
    token TEXT NOT NULL,
    context_type TEXT NOT NULL,
    context_id BIGINT NOT NULL,
    learning_outcome_group_id BIGINT,
    -- Set with the import: the parameters that decide the import, and the file's SHA-256.
    parameters TEXT,
    body_sha256 TEXT,
    outcome_import_id BIGINT REFERENCES lms_outcomes_imports (id) ON DELETE CASCADE,
    created_at TIMESTAMPTZ NOT NULL,
    -- Renewed while the first request's body arrives: an upload that stopped without an
    -- answer (its process died) frees its key.
    touched_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (user_id, key)
);
CREATE INDEX lms_outcomes_idempotency_keys_age ON lms_outcomes_idempotency_keys (created_at);
