-- Which runner owns an importing import, and when it last said it was alive: another process
-- takes an import over only once its owner has stopped renewing the lease.
ALTER TABLE lms_outcomes_imports ADD COLUMN runner_id TEXT;
ALTER TABLE lms_outcomes_imports ADD COLUMN heartbeat_at TEXT;
