-- A group is never its own parent and a root group has none (an older version let a crafted
-- row do both, and recursive reads of such a tree never ended). Repair what such rows left,
-- then refuse them.
UPDATE lms_outcomes_groups SET parent_id = NULL WHERE is_root AND parent_id IS NOT NULL;
UPDATE lms_outcomes_groups AS g SET parent_id = root.id FROM lms_outcomes_groups AS root
WHERE g.parent_id = g.id AND root.is_root
    AND root.context_type IS NOT DISTINCT FROM g.context_type
    AND root.context_id IS NOT DISTINCT FROM g.context_id;
ALTER TABLE lms_outcomes_groups ADD CONSTRAINT lms_outcomes_groups_not_own_parent
    CHECK (parent_id IS DISTINCT FROM id);
ALTER TABLE lms_outcomes_groups ADD CONSTRAINT lms_outcomes_groups_root_has_no_parent
    CHECK (NOT is_root OR parent_id IS NULL);
