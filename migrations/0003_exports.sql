-- Every export (and materialize run kept in a registry): what it read and
-- what it wrote, so a retrain can name, and later reproduce, its inputs.

CREATE TABLE exports (
    id               INTEGER PRIMARY KEY,
    created_at       TEXT    NOT NULL,        -- RFC 3339, UTC
    command          TEXT    NOT NULL,        -- export | materialize
    features_path    TEXT    NOT NULL,
    features_sha256  TEXT    NOT NULL,
    output_path      TEXT    NOT NULL,
    output_sha256    TEXT    NOT NULL,
    output_format    TEXT    NOT NULL,
    input_rows       INTEGER NOT NULL,
    output_rows      INTEGER NOT NULL,
    scorers          TEXT    NOT NULL,        -- JSON list of scorer names
    options          TEXT    NOT NULL,        -- JSON object of the options used
    registry_state   TEXT    NOT NULL,        -- JSON: per scorer, live rows and digest
    registry_digest  TEXT    NOT NULL,        -- sha256 over every live score read
    tool_version     TEXT    NOT NULL
);
