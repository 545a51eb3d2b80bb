-- Points in time (issue 14). Every change to the registry (an ingest, and
-- later every correction) is one point, numbered in commit order: its
-- `seq`. A score row is live at point P when it became live at or before P
-- and was not superseded at or before P, so any earlier state can be read
-- back, and nothing is ever deleted to get there.
--
-- * An ingest's seq is its file's id: `source_files.id` = `changes.seq`
--   (files ingested before this step get the points of their ids, which
--   were already in commit order: ingests hold the write lock throughout).
-- * A row became live at its file's seq, unless a correction made it live
--   later (a copy of an older row): then `scores.born_seq` says when.
-- * `scores.superseded_seq` is the point that superseded it.

CREATE TABLE changes (
    seq           INTEGER PRIMARY KEY,
    at            TEXT    NOT NULL,  -- RFC 3339, UTC: when the change committed
    kind          TEXT    NOT NULL,  -- ingest, retire, scorer
    detail        TEXT,              -- JSON: what the correction changed
    -- The largest scores.id when it committed. Score ids only grow and rows
    -- are never deleted, so a row was born at or before this point exactly
    -- when its id is at most this: an as-of read tests the id on the index
    -- entry instead of reading the row.
    last_score_id INTEGER NOT NULL DEFAULT 0
);
CREATE TEMP TABLE file_last_score AS
    SELECT source_file_id AS file, MAX(id) AS last FROM scores GROUP BY source_file_id;
INSERT INTO changes (seq, at, kind, last_score_id)
    SELECT f.id, f.ingested_at, 'ingest',
           (SELECT COALESCE(MAX(last), 0) FROM file_last_score WHERE file <= f.id)
    FROM source_files f;
DROP TABLE file_last_score;

ALTER TABLE scores ADD COLUMN born_seq INTEGER;        -- NULL: its file's seq
ALTER TABLE scores ADD COLUMN superseded_seq INTEGER;  -- NULL while live
UPDATE scores SET superseded_seq = superseded_by_file WHERE superseded_at IS NOT NULL;
-- A value outside the scorer's scale is stored bad with a NULL score; the
-- number the file wrote is kept here, so a corrected scale can take it.
ALTER TABLE scores ADD COLUMN raw_value REAL;
-- The copies corrections made (rare), by the file their rows came from:
-- `files` counts a file's live rows without reading every score.
CREATE INDEX scores_copies_by_file ON scores (source_file_id) WHERE born_seq IS NOT NULL;

-- `files retire`: the point that retired a file's rows. A retired file's
-- bytes are no longer "already ingested".
ALTER TABLE source_files ADD COLUMN retired_seq INTEGER;

-- `scorers set --version`, and `scorers merge ALIAS INTO`: names that now
-- resolve to another scorer.
ALTER TABLE scorers ADD COLUMN version TEXT;
ALTER TABLE scorers ADD COLUMN merged_into INTEGER REFERENCES scorers (id);

-- The options that decide which rows a file's bytes become (format,
-- label, --scorer, key and score fields, key normalisation, scale, …), as
-- canonical JSON: with the sha256, the file's identity. NULL for files
-- ingested before this step.
ALTER TABLE source_files ADD COLUMN options TEXT;

-- A scorer's settings as they were from each point on, so an export as of
-- an earlier point uses the name, scale and direction then in force.
-- Written by the triggers below whenever `scorers` changes; settings from
-- before this step are recorded as in force from point 0.
CREATE TABLE scorer_revisions (
    scorer_id        INTEGER NOT NULL REFERENCES scorers (id),
    seq              INTEGER NOT NULL,
    name             TEXT    NOT NULL,
    slug             TEXT    NOT NULL,
    scale_min        REAL,
    scale_max        REAL,
    higher_is_better INTEGER,
    typical_min      REAL,
    typical_max      REAL,
    version          TEXT,
    merged_into      INTEGER,
    PRIMARY KEY (scorer_id, seq)
) WITHOUT ROWID;
INSERT INTO scorer_revisions
    SELECT id, 0, name, slug, scale_min, scale_max, higher_is_better, typical_min, typical_max,
           version, merged_into
    FROM scorers;

-- Every change writes its `changes` row first, so the newest seq is the
-- change being made.
CREATE TRIGGER scorer_revision_on_insert AFTER INSERT ON scorers BEGIN
    INSERT OR REPLACE INTO scorer_revisions VALUES (
        NEW.id, (SELECT COALESCE(MAX(seq), 0) FROM changes), NEW.name, NEW.slug,
        NEW.scale_min, NEW.scale_max, NEW.higher_is_better, NEW.typical_min, NEW.typical_max,
        NEW.version, NEW.merged_into);
END;
CREATE TRIGGER scorer_revision_on_update AFTER UPDATE ON scorers BEGIN
    INSERT OR REPLACE INTO scorer_revisions VALUES (
        NEW.id, (SELECT COALESCE(MAX(seq), 0) FROM changes), NEW.name, NEW.slug,
        NEW.scale_min, NEW.scale_max, NEW.higher_is_better, NEW.typical_min, NEW.typical_max,
        NEW.version, NEW.merged_into);
END;

-- What each export read and wrote, beyond 0003: the point it read (for
-- exports recorded before this step, inferred from the times: the last
-- ingest recorded at or before the export), the REF it was asked for, a
-- digest of the table's content (schema and every cell, whatever the
-- writer), and a note.
ALTER TABLE exports ADD COLUMN seq INTEGER;
ALTER TABLE exports ADD COLUMN seq_inferred INTEGER NOT NULL DEFAULT 0;
ALTER TABLE exports ADD COLUMN as_of TEXT;
ALTER TABLE exports ADD COLUMN content_digest TEXT;
ALTER TABLE exports ADD COLUMN note TEXT;
UPDATE exports SET seq_inferred = 1,
    seq = (SELECT COALESCE(MAX(c.seq), 0) FROM changes c WHERE c.at <= exports.created_at);

-- Names for points: unique and immutable.
CREATE TABLE tags (
    name       TEXT    PRIMARY KEY,
    seq        INTEGER NOT NULL,
    export_id  INTEGER REFERENCES exports (id),  -- set when the tag names an export
    created_at TEXT    NOT NULL
);

-- `score_rows` with the points each row was live between.
DROP VIEW score_rows;
CREATE VIEW score_rows AS
    SELECT s.id, s.scorer_id, sc.name AS scorer, s.key,
           COALESCE(s.raw_key, s.key) AS raw_key, s.key_field,
           s.score, s.status, s.reason, s.note, s.runtime_ms, s.frame_count,
           s.source_file_id, f.path AS source_path, s.line,
           f.ingested_at, s.superseded_at, s.superseded_by_file,
           COALESCE(s.born_seq, s.source_file_id) AS live_from_seq,
           s.superseded_seq AS live_until_seq
    FROM scores s
    JOIN scorers sc ON sc.id = s.scorer_id
    JOIN source_files f ON f.id = s.source_file_id;
