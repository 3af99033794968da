-- An outcome's import stamp is read with the outcome (a batch looks outcomes up by id and by
-- guid) and searched for only when an import is taken over (its stamps are cleared before it
-- runs again). Its index cost every new outcome and every re-stamped one, which is each
-- outcome a re-import names, one more entry: a tenth of the server's time in the COPY of a
-- 100,000-row import's outcomes, a quarter in a re-import's re-stamping. A takeover, the
-- recovery from a lost process, now reads the table whole. (The groups' stamp keeps its index
-- with the guid: every batch looks up the parents its import processed.)
DROP INDEX lms_outcomes_outcomes_by_import;
