-- What a score row costs on disk (issue 18). Scorers write absolute paths,
-- keys are their basenames, and the path as written was kept whole on
-- every row: 28 of the 125 bytes a row of `/corpus/ugc/clip_0000001.mp4`
-- cost, table and index together. A path so normalised is a directory
-- followed by the key: the directory is now stored once, here, and a row
-- names it by id (one byte while a registry holds under 128 of them).
--
-- The key as its file wrote it is, in order: `scores.raw_key` when set (a
-- key the normalisation changed otherwise: a stem, a stripped prefix,
-- trimmed blanks), else the prefix of `raw_key_prefix` followed by `key`,
-- else `key`. Rows stored before this step keep their `raw_key`.

CREATE TABLE raw_key_prefixes (
    id     INTEGER PRIMARY KEY,
    prefix TEXT    NOT NULL UNIQUE
);

ALTER TABLE scores ADD COLUMN raw_key_prefix INTEGER REFERENCES raw_key_prefixes (id);

DROP VIEW score_rows;
CREATE VIEW score_rows AS
    SELECT s.id, s.scorer_id, sc.name AS scorer, s.key,
           COALESCE(s.raw_key, p.prefix || s.key, s.key) AS raw_key, s.key_field,
           s.score, s.status, s.reason, s.note, s.runtime_ms, s.frame_count,
           s.source_file_id, f.path AS source_path, s.line,
           f.ingested_at, s.superseded_at, s.superseded_by_file,
           COALESCE(s.born_seq, s.source_file_id) AS live_from_seq,
           s.superseded_seq AS live_until_seq
    FROM scores s
    JOIN scorers sc ON sc.id = s.scorer_id
    JOIN source_files f ON f.id = s.source_file_id
    LEFT JOIN raw_key_prefixes p ON p.id = s.raw_key_prefix;
