-- The PostgreSQL registry: the meaning of the SQLite schema (migrations/
-- 0001…0009) as it stands, in one step, for a server many machines ingest
-- into at once. Differences, and why:
--
-- * Text that is sorted or compared (keys, slugs, names) is COLLATE "C":
--   byte order, as SQLite's BINARY, so exports list keys in the same order
--   whatever the database's locale.
-- * A file's id (`source_files.id`) is handed out when its ingest starts,
--   but its point (`seq`) only as the ingest commits, from the one-row
--   `registry_clock` (see `changes`): ids of concurrent ingests are not in
--   commit order, points are.
-- * A row's birth point is its file's `seq` (or `born_seq`, for a copy made
--   by a correction); `superseded_seq` is stamped as the superseding
--   ingest commits.

CREATE TABLE scorers (
    id               BIGSERIAL PRIMARY KEY,
    name             TEXT COLLATE "C" NOT NULL,   -- first spelling seen
    slug             TEXT COLLATE "C" NOT NULL UNIQUE,
    created_at       TEXT NOT NULL,
    scale_min        DOUBLE PRECISION,
    scale_max        DOUBLE PRECISION,
    higher_is_better BOOLEAN,
    typical_min      DOUBLE PRECISION,
    typical_max      DOUBLE PRECISION,
    version          TEXT,
    merged_into      BIGINT REFERENCES scorers (id)
);

CREATE TABLE source_files (
    id             BIGSERIAL PRIMARY KEY,
    seq            BIGINT UNIQUE,               -- its ingest's point; NULL until it commits
    path           TEXT NOT NULL,               -- as given on the command line
    absolute_path  TEXT NOT NULL,
    sha256         TEXT NOT NULL,               -- lower-case hex of the file bytes
    size_bytes     BIGINT NOT NULL,
    format         TEXT NOT NULL,
    label          TEXT,
    ingested_at    TEXT NOT NULL,               -- RFC 3339, UTC
    tool_version   TEXT NOT NULL,
    scorer_version TEXT,
    warnings       TEXT,                        -- JSON list of suspicious-output warnings
    options        TEXT,                        -- the options that decide what rows become
    retired_seq    BIGINT
);
CREATE INDEX source_files_sha256 ON source_files (sha256);

CREATE TABLE source_file_scorers (
    source_file_id BIGINT NOT NULL REFERENCES source_files (id),
    scorer_id      BIGINT NOT NULL REFERENCES scorers (id),
    rows           BIGINT NOT NULL,
    PRIMARY KEY (source_file_id, scorer_id)
);

-- A score's references (scorer, file, superseding file) are ids its ingest
-- has just read or inserted in the same transaction, as on SQLite, whose
-- ingest runs without reference checks: declared here, each inserted row
-- would fire two trigger lookups, about half of a bulk ingest's time.
CREATE TABLE scores (
    id                 BIGSERIAL PRIMARY KEY,
    scorer_id          BIGINT NOT NULL,
    key                TEXT COLLATE "C" NOT NULL,  -- normalised clip key
    raw_key            TEXT,                       -- NULL: the file wrote `key`
    key_field          TEXT NOT NULL,
    score              DOUBLE PRECISION,
    status             TEXT NOT NULL CHECK (status IN ('ok', 'bad')),
    reason             TEXT,
    note               TEXT,
    runtime_ms         DOUBLE PRECISION,
    frame_count        INTEGER NOT NULL DEFAULT 0,
    source_file_id     BIGINT NOT NULL,
    line               BIGINT NOT NULL,
    raw_value          DOUBLE PRECISION,
    superseded_at      TEXT,
    superseded_by_file BIGINT,
    born_seq           BIGINT,                     -- NULL: its file's seq
    superseded_seq     BIGINT                      -- NULL while live (or until its superseder commits)
);
-- One live score per (scorer, key), enforced by the server itself.
CREATE UNIQUE INDEX scores_live_scorer_key ON scores (scorer_id, key)
    WHERE superseded_at IS NULL;
CREATE INDEX scores_superseded_scorer_key ON scores (scorer_id, key)
    WHERE superseded_at IS NOT NULL;
CREATE INDEX scores_source_file ON scores (source_file_id);
CREATE INDEX scores_superseded_by_file ON scores (superseded_by_file)
    WHERE superseded_by_file IS NOT NULL;

CREATE TABLE score_components (
    score_id BIGINT NOT NULL REFERENCES scores (id),
    name     TEXT COLLATE "C" NOT NULL,
    value    DOUBLE PRECISION,
    PRIMARY KEY (score_id, name)
);

CREATE TABLE frame_scores (
    score_id    BIGINT NOT NULL REFERENCES scores (id),
    frame_index BIGINT NOT NULL,
    value       DOUBLE PRECISION,
    runtime_ms  DOUBLE PRECISION,
    PRIMARY KEY (score_id, frame_index)
);

-- The points in time, in commit order. An ingest takes its seq from
-- `registry_clock` just before it commits: the UPDATE locks the clock's
-- row until that commit, so the ingest numbered N has committed before any
-- other can be numbered N+1, and a snapshot that sees point N+1 sees every
-- point before it.
CREATE TABLE registry_clock (
    one BOOLEAN PRIMARY KEY DEFAULT TRUE CHECK (one),
    seq BIGINT NOT NULL
);
INSERT INTO registry_clock (seq) VALUES (0);

CREATE TABLE changes (
    seq     BIGINT PRIMARY KEY,
    at      TEXT NOT NULL,                       -- RFC 3339, UTC: when it committed
    kind    TEXT NOT NULL,                       -- ingest (corrections: not yet)
    file_id BIGINT REFERENCES source_files (id),
    detail  TEXT
);

CREATE TABLE exports (
    id              BIGSERIAL PRIMARY KEY,
    created_at      TEXT NOT NULL,
    command         TEXT NOT NULL,
    features_path   TEXT NOT NULL,
    features_sha256 TEXT NOT NULL,
    output_path     TEXT NOT NULL,
    output_sha256   TEXT NOT NULL,
    output_format   TEXT NOT NULL,
    input_rows      BIGINT NOT NULL,
    output_rows     BIGINT NOT NULL,
    scorers         TEXT NOT NULL,
    options         TEXT NOT NULL,
    registry_state  TEXT NOT NULL,
    registry_digest TEXT NOT NULL,
    tool_version    TEXT NOT NULL,
    seq             BIGINT,
    seq_inferred    BOOLEAN NOT NULL DEFAULT FALSE,
    as_of           TEXT,
    content_digest  TEXT,
    note            TEXT,
    state           TEXT NOT NULL DEFAULT 'published'
        CHECK (state IN ('pending', 'published', 'abandoned')),
    recorded_by     TEXT,
    settled_at      TEXT
);
CREATE INDEX exports_pending ON exports (id) WHERE state = 'pending';

CREATE TABLE tags (
    name       TEXT COLLATE "C" PRIMARY KEY,
    seq        BIGINT NOT NULL,
    export_id  BIGINT REFERENCES exports (id),
    created_at TEXT NOT NULL
);
