-- A group's parent must exist, as before, but checked once per statement, as the links'
-- group and outcome are (migration 0016): the foreign key looked each new group's parent up
-- one at a time, and locked it, most of the time a 100,000-row import spent writing its
-- groups. A statement that writes groups looks all of their parents up at once, a group moved
-- has its new parent looked up, and a statement that deletes groups looks for groups still
-- under them. What the row locks also gave is the tree's advisory lock's, which every write
-- to the tree holds (see migration 0016).
ALTER TABLE lms_outcomes_groups DROP CONSTRAINT lms_outcomes_groups_parent_id_fkey;

CREATE FUNCTION lms_outcomes_groups_name_parents() RETURNS TRIGGER LANGUAGE plpgsql AS '
DECLARE
    orphan RECORD;
BEGIN
    -- One index lookup per group, as in lms_outcomes_links_name_rows.
    SELECT w.id, w.parent_id INTO orphan FROM written AS w
    LEFT JOIN LATERAL (SELECT id FROM lms_outcomes_groups WHERE id = w.parent_id OFFSET 0)
        AS p ON TRUE
    WHERE w.parent_id IS NOT NULL AND p.id IS NULL
    LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION USING ERRCODE = ''foreign_key_violation'', MESSAGE = format(
            ''group %s names parent group %s, which does not exist'',
            orphan.id, orphan.parent_id);
    END IF;
    RETURN NULL;
END';
CREATE TRIGGER lms_outcomes_groups_inserted AFTER INSERT ON lms_outcomes_groups
    REFERENCING NEW TABLE AS written
    FOR EACH STATEMENT EXECUTE FUNCTION lms_outcomes_groups_name_parents();
-- A group moved (rare: a re-import's groups mostly keep their parents) is checked alone; a
-- statement-level trigger cannot be limited to the rows whose parent_id changed.
CREATE FUNCTION lms_outcomes_group_moved() RETURNS TRIGGER LANGUAGE plpgsql AS '
BEGIN
    IF NOT EXISTS (SELECT FROM lms_outcomes_groups WHERE id = NEW.parent_id) THEN
        RAISE EXCEPTION USING ERRCODE = ''foreign_key_violation'', MESSAGE = format(
            ''group %s names parent group %s, which does not exist'', NEW.id, NEW.parent_id);
    END IF;
    RETURN NULL;
END';
CREATE TRIGGER lms_outcomes_groups_moved AFTER UPDATE OF parent_id ON lms_outcomes_groups
    FOR EACH ROW WHEN (NEW.parent_id IS NOT NULL AND NEW.parent_id IS DISTINCT FROM OLD.parent_id)
    EXECUTE FUNCTION lms_outcomes_group_moved();

CREATE FUNCTION lms_outcomes_no_groups_under_deleted() RETURNS TRIGGER LANGUAGE plpgsql AS '
DECLARE
    child RECORD;
BEGIN
    SELECT c.id, d.id AS gone INTO child FROM deleted AS d
    CROSS JOIN LATERAL (SELECT id FROM lms_outcomes_groups WHERE parent_id = d.id LIMIT 1)
        AS c
    LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION USING ERRCODE = ''foreign_key_violation'', MESSAGE = format(
            ''group %s is deleted, but group %s is still under it'', child.gone, child.id);
    END IF;
    RETURN NULL;
END';
CREATE TRIGGER lms_outcomes_groups_deleted_parents AFTER DELETE ON lms_outcomes_groups
    REFERENCING OLD TABLE AS deleted
    FOR EACH STATEMENT EXECUTE FUNCTION lms_outcomes_no_groups_under_deleted();
