-- The score registry: which files were read, which scorers they named, and
-- the scores they held. One live score per (scorer, key) is enforced here, in
-- the database, so no code path (or hand-written SQL) can register two.

CREATE TABLE source_files (
    id            INTEGER PRIMARY KEY,
    path          TEXT    NOT NULL,           -- as given on the command line
    absolute_path TEXT    NOT NULL,
    sha256        TEXT    NOT NULL,           -- lower-case hex of the file bytes
    size_bytes    INTEGER NOT NULL,
    format        TEXT    NOT NULL,           -- reader that parsed it (jsonl, json, …)
    label         TEXT,                       -- the LABEL of LABEL=PATH, if any
    ingested_at   TEXT    NOT NULL,           -- RFC 3339, UTC
    tool_version  TEXT    NOT NULL
);
CREATE INDEX source_files_sha256 ON source_files (sha256);

CREATE TABLE scorers (
    id         INTEGER PRIMARY KEY,
    name       TEXT NOT NULL,                 -- first spelling seen (payload, label or --scorer)
    slug       TEXT NOT NULL UNIQUE,          -- column-safe identity: DOVER-Mobile -> dover_mobile
    created_at TEXT NOT NULL
);

CREATE TABLE scores (
    id                  INTEGER PRIMARY KEY,
    scorer_id           INTEGER NOT NULL REFERENCES scorers (id),
    key                 TEXT    NOT NULL,     -- normalised clip key
    raw_key             TEXT    NOT NULL,     -- the key as the file wrote it
    key_field           TEXT    NOT NULL,     -- the field the key was read from
    score               REAL,                 -- NULL when status = 'bad' and the value was unusable
    status              TEXT    NOT NULL CHECK (status IN ('ok', 'bad')),
    reason              TEXT,                 -- why a row is bad
    runtime_ms          REAL,
    frame_count         INTEGER NOT NULL DEFAULT 0,
    source_file_id      INTEGER NOT NULL REFERENCES source_files (id),
    line                INTEGER NOT NULL,     -- 1-based line of the row in its file
    ingested_at         TEXT    NOT NULL,
    superseded_at       TEXT,                 -- set when --replace made another row live
    superseded_by_file  INTEGER REFERENCES source_files (id)
);
-- The rule the whole tool rests on: one live score per scorer and clip.
CREATE UNIQUE INDEX scores_live_scorer_key ON scores (scorer_id, key)
    WHERE superseded_at IS NULL;
CREATE INDEX scores_source_file ON scores (source_file_id);
CREATE INDEX scores_scorer_key ON scores (scorer_id, key);

CREATE TABLE frame_scores (
    score_id    INTEGER NOT NULL REFERENCES scores (id),
    frame_index INTEGER NOT NULL,             -- as the payload numbered it, else its position
    value       REAL,                         -- NULL when the frame's value was unusable
    runtime_ms  REAL,
    PRIMARY KEY (score_id, frame_index)
) WITHOUT ROWID;
