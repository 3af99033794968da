-- A batch looks up the parents it names among the groups its import processed, by import and
-- guid: indexed by the import alone, that lookup read every group the import had processed so
-- far, so each batch of a large import was slower than the one before.
DROP INDEX lms_outcomes_groups_by_import;
CREATE INDEX lms_outcomes_groups_by_import_guid
    ON lms_outcomes_groups (outcome_import_id, vendor_guid);
