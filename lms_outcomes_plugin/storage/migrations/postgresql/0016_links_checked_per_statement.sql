-- A link's group and outcome must exist, as before, but checked once per statement rather than
-- per row: a foreign key looked each new link's group and outcome up one at a time and locked
-- them (FOR KEY SHARE), 1.1 s of the 1.9 s a 100,000-row import spent writing its links. Each
-- statement that writes links now looks all of its links up at once, and each statement that
-- deletes groups or outcomes looks for links still naming them. What the row locks also gave,
-- a delete and a link to the deleted row committed side by side, cannot happen here: every
-- write to the tree (a batch, a root group, a revert, a cancel) holds the tree's advisory lock.
ALTER TABLE lms_outcomes_links DROP CONSTRAINT lms_outcomes_links_group_id_fkey;
ALTER TABLE lms_outcomes_links DROP CONSTRAINT lms_outcomes_links_outcome_id_fkey;

CREATE FUNCTION lms_outcomes_links_name_rows() RETURNS TRIGGER LANGUAGE plpgsql AS '
DECLARE
    missing RECORD;
BEGIN
    -- One index lookup per link (OFFSET 0 keeps each lateral lookup apart): as an anti-join,
    -- the planner, which knows nothing of a transition table, hashed both tables whole.
    SELECT l.id, l.group_id, l.outcome_id, g.id IS NULL AS no_group INTO missing
    FROM written AS l
    LEFT JOIN LATERAL (SELECT id FROM lms_outcomes_groups WHERE id = l.group_id OFFSET 0)
        AS g ON TRUE
    LEFT JOIN LATERAL (SELECT id FROM lms_outcomes_outcomes WHERE id = l.outcome_id OFFSET 0)
        AS o ON TRUE
    WHERE g.id IS NULL OR o.id IS NULL
    LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION USING ERRCODE = ''foreign_key_violation'', MESSAGE = CASE
            WHEN missing.no_group THEN format(''link %s names group %s, which does not exist'',
                missing.id, missing.group_id)
            ELSE format(''link %s names outcome %s, which does not exist'',
                missing.id, missing.outcome_id)
        END;
    END IF;
    RETURN NULL;
END';
CREATE TRIGGER lms_outcomes_links_inserted AFTER INSERT ON lms_outcomes_links
    REFERENCING NEW TABLE AS written
    FOR EACH STATEMENT EXECUTE FUNCTION lms_outcomes_links_name_rows();
CREATE TRIGGER lms_outcomes_links_updated AFTER UPDATE ON lms_outcomes_links
    REFERENCING NEW TABLE AS written
    FOR EACH STATEMENT EXECUTE FUNCTION lms_outcomes_links_name_rows();

CREATE FUNCTION lms_outcomes_no_links_to_deleted() RETURNS TRIGGER LANGUAGE plpgsql AS '
DECLARE
    linked RECORD;
BEGIN
    IF TG_TABLE_NAME = ''lms_outcomes_groups'' THEN
        SELECT l.id, d.id AS gone INTO linked FROM deleted AS d
        CROSS JOIN LATERAL (SELECT id FROM lms_outcomes_links WHERE group_id = d.id LIMIT 1) AS l
        LIMIT 1;
    ELSE
        SELECT l.id, d.id AS gone INTO linked FROM deleted AS d
        CROSS JOIN LATERAL (SELECT id FROM lms_outcomes_links WHERE outcome_id = d.id LIMIT 1)
            AS l
        LIMIT 1;
    END IF;
    IF FOUND THEN
        RAISE EXCEPTION USING ERRCODE = ''foreign_key_violation'', MESSAGE = format(
            ''%s %s is deleted, but link %s still names it'',
            CASE TG_TABLE_NAME WHEN ''lms_outcomes_groups'' THEN ''group'' ELSE ''outcome'' END,
            linked.gone, linked.id);
    END IF;
    RETURN NULL;
END';
CREATE TRIGGER lms_outcomes_groups_deleted AFTER DELETE ON lms_outcomes_groups
    REFERENCING OLD TABLE AS deleted
    FOR EACH STATEMENT EXECUTE FUNCTION lms_outcomes_no_links_to_deleted();
CREATE TRIGGER lms_outcomes_outcomes_deleted AFTER DELETE ON lms_outcomes_outcomes
    REFERENCING OLD TABLE AS deleted
    FOR EACH STATEMENT EXECUTE FUNCTION lms_outcomes_no_links_to_deleted();
