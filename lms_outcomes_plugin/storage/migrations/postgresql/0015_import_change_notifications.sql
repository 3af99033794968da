-- Every change to an import's row is announced, when its transaction commits, on the channel
-- lms_outcomes_imports as '<id> <context_type> <context_id>': each host process keeps the
-- statuses it has shown until their import changes (storage/shown.py). What a status shows
-- besides the row is only ever written in a transaction that writes the row too: its first
-- errors and warnings (a batch's progress, an import's end, a requeue), and which import of
-- its context is the latest (its claim).
CREATE FUNCTION lms_outcomes_import_changed() RETURNS TRIGGER LANGUAGE plpgsql AS '
BEGIN
    PERFORM pg_notify(''lms_outcomes_imports'',
        NEW.id || '' '' || NEW.context_type || '' '' || NEW.context_id);
    RETURN NULL;
END';
CREATE TRIGGER lms_outcomes_import_changed AFTER INSERT OR UPDATE ON lms_outcomes_imports
    FOR EACH ROW EXECUTE FUNCTION lms_outcomes_import_changed();
