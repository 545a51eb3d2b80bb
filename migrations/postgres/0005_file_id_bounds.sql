-- A score's file is found through the bounds of the ids its ingest wrote,
-- not through an index on `scores.source_file_id`; and the ids come from
-- a cached sequence (issue #17's ingest speed). Measured on the server
-- alone, a COPY of 1 M rows spent about 0.17 s in the BRIN index of
-- migration 4 (PostgreSQL 15 reads the index's metapage and range map
-- for every row it inserts) and as much again in `nextval` on the
-- uncached sequence: together a seventh of the server's work per row.
--
-- * `first_score_id`, `last_score_id`: every row a file's ingest wrote
--   (born with the file, `born_seq` NULL) has an id between them. An
--   ingest takes one `nextval` before its first row and one after its
--   last: a session's ids only grow, whatever other sessions take in
--   between (their rows in that range belong to other files, and a
--   lookup by file keeps only its own). A file without rows has an empty
--   range (1 to 0).
-- * A copy made by a correction (`born_seq` set) keeps its file but gets
--   a later id: those few are found by the partial index below, whose
--   predicate an ingested row fails at the cost of one test.
-- * `CACHE 1000`: each session takes ids a thousand at a time. Ids are
--   then not in insertion order across sessions (nor were they in commit
--   order before), so nothing orders rows by id to mean time: a key's
--   history is ordered by point (`SCORE_HISTORY`).
-- * The sequence is renamed: a binary older than this schema that is
--   still connected as it runs (a long `batch`, a Python session) took
--   the sequence's last value as the floor of the rows its staged move
--   wrote, which a cached sequence breaks. Under the new name that
--   statement fails, and its file rolls back whole, instead of being
--   judged against the wrong rows. A file such a binary ingests gets no
--   bounds; the first lookup by file fills them
--   (`FILL_MISSING_FILE_BOUNDS`).
-- * `source_files (size_bytes)`: an ingest asks whether a file of its
--   size came before (if not, it hashes while reading).

ALTER SEQUENCE scores_id_seq CACHE 1000;
ALTER SEQUENCE scores_id_seq RENAME TO scores_ids;

ALTER TABLE source_files ADD COLUMN first_score_id BIGINT, ADD COLUMN last_score_id BIGINT;

UPDATE source_files f SET first_score_id = r.first, last_score_id = r.last
    FROM (SELECT source_file_id, MIN(id) AS first, MAX(id) AS last FROM scores
          WHERE born_seq IS NULL GROUP BY source_file_id) r
    WHERE r.source_file_id = f.id;
UPDATE source_files SET first_score_id = 1, last_score_id = 0 WHERE last_score_id IS NULL;

CREATE INDEX source_files_size ON source_files (size_bytes);

CREATE INDEX scores_copies_of_file ON scores (source_file_id) WHERE born_seq IS NOT NULL;

DROP INDEX scores_source_file;
