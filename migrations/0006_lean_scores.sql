-- Ingest speed (issue 7). A score row is the hot path of the whole tool:
-- millions of them arrive in one transaction, and every byte and every index
-- entry per row costs. This step stores each fact once.
--
-- * `scores.ingested_at` repeated its file's `source_files.ingested_at` on
--   every row: dropped; the `score_rows` view below joins it back.
-- * `scores.raw_key` repeated `key` whenever the file wrote the key as
--   stored (the common case): it is now NULL then, and `score_rows` shows it.
-- * `scores_scorer_key` duplicated the live unique index for every row just
--   to find superseded history: superseded rows (rare: `--replace` only) get
--   a partial index of their own.
-- * `scores.reason` said why a row is bad, and for `ok` rows held a note
--   (frames left out of a pooled score): notes have a column of their own.
-- * `scores_source_file` indexed every row by its file for two questions —
--   which scorers a file gave rows to, and how many — that are now answered
--   by `source_file_scorers`, written once per file and scorer.

ALTER TABLE scores ADD COLUMN written_key TEXT;
UPDATE scores SET written_key = raw_key WHERE raw_key <> key;
ALTER TABLE scores DROP COLUMN raw_key;
ALTER TABLE scores RENAME COLUMN written_key TO raw_key;  -- NULL: the file wrote `key`
ALTER TABLE scores DROP COLUMN ingested_at;                -- its file's ingested_at
ALTER TABLE scores ADD COLUMN note TEXT;                   -- e.g. frames left out of the pool
UPDATE scores SET note = reason, reason = NULL WHERE status = 'ok' AND reason IS NOT NULL;

DROP INDEX scores_scorer_key;
DROP INDEX scores_source_file;
CREATE INDEX scores_superseded_scorer_key ON scores (scorer_id, key)
    WHERE superseded_at IS NOT NULL;

-- The rows each file contributed, per scorer (live or since superseded).
CREATE TABLE source_file_scorers (
    source_file_id INTEGER NOT NULL REFERENCES source_files (id),
    scorer_id      INTEGER NOT NULL REFERENCES scorers (id),
    rows           INTEGER NOT NULL,
    PRIMARY KEY (source_file_id, scorer_id)
) WITHOUT ROWID;
INSERT INTO source_file_scorers (source_file_id, scorer_id, rows)
    SELECT source_file_id, scorer_id, COUNT(*) FROM scores
    GROUP BY source_file_id, scorer_id;

-- Every score row with everything the data model names, for hand-written
-- SQL: the key as the file wrote it and when the row was ingested.
CREATE VIEW score_rows AS
    SELECT s.id, s.scorer_id, sc.name AS scorer, s.key,
           COALESCE(s.raw_key, s.key) AS raw_key, s.key_field,
           s.score, s.status, s.reason, s.note, s.runtime_ms, s.frame_count,
           s.source_file_id, f.path AS source_path, s.line,
           f.ingested_at, s.superseded_at, s.superseded_by_file
    FROM scores s
    JOIN scorers sc ON sc.id = s.scorer_id
    JOIN source_files f ON f.id = s.source_file_id;
