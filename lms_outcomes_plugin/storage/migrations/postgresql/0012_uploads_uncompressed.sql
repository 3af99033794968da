-- Upload chunks are stored as they came: compressing each 1 MiB chunk as it was written (and
-- decompressing it when the import read it back) was a large part of a PostgreSQL import's
-- time, for a copy that is deleted once the import has ended.
ALTER TABLE lms_outcomes_attachment_chunks ALTER COLUMN data SET STORAGE EXTERNAL;
