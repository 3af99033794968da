-- A group is never its own parent and a root group has none (an older version let a crafted
-- row do both, and recursive reads of such a tree never ended). Repair what such rows left,
-- then refuse them: SQLite cannot add a CHECK to an existing table, so triggers do.
UPDATE lms_outcomes_groups SET parent_id = NULL WHERE is_root AND parent_id IS NOT NULL;
UPDATE lms_outcomes_groups SET parent_id = (
    SELECT root.id FROM lms_outcomes_groups AS root
    WHERE root.is_root AND root.context_type IS lms_outcomes_groups.context_type
        AND root.context_id IS lms_outcomes_groups.context_id
) WHERE parent_id = id;
CREATE TRIGGER lms_outcomes_groups_parent_on_insert BEFORE INSERT ON lms_outcomes_groups
WHEN NEW.parent_id = NEW.id OR (NEW.is_root AND NEW.parent_id IS NOT NULL)
BEGIN
    SELECT RAISE(ABORT, 'an outcome group cannot be its own parent, and a root group has none');
END;
CREATE TRIGGER lms_outcomes_groups_parent_on_update BEFORE UPDATE OF parent_id, is_root
ON lms_outcomes_groups
WHEN NEW.parent_id = NEW.id OR (NEW.is_root AND NEW.parent_id IS NOT NULL)
BEGIN
    SELECT RAISE(ABORT, 'an outcome group cannot be its own parent, and a root group has none');
END;
