-- When an import last applied a batch (a heartbeat says only that its runner lives): an import
-- that makes no progress for import_stall_seconds fails, and its root account's queue moves on.
ALTER TABLE lms_outcomes_imports ADD COLUMN progressed_at TIMESTAMPTZ;
UPDATE lms_outcomes_imports SET progressed_at = heartbeat_at WHERE workflow_state = 'importing';
