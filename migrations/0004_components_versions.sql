-- Multi-output scorers (DOVER's aesthetic/technical, COVER's semantic,
-- libvmaf's other metrics, Q-Align's logits) keep their secondary values as
-- named components of the clip score. Files remember which scorer version
-- wrote them and what looked suspicious when they were read.

CREATE TABLE score_components (
    score_id INTEGER NOT NULL REFERENCES scores (id),
    name     TEXT    NOT NULL,
    value    REAL,                            -- NULL when the value was unusable
    PRIMARY KEY (score_id, name)
) WITHOUT ROWID;

ALTER TABLE source_files ADD COLUMN scorer_version TEXT;  -- --scorer-version: checkpoint, commit, options
ALTER TABLE source_files ADD COLUMN warnings TEXT;        -- JSON list of suspicious-output warnings

-- Scorers whose values have a typical range but no hard bound (MUSIQ ~0–100,
-- NIQE, BRISQUE, UVQ, VMAF): used to judge suspicious output and to
-- normalise, never to mark a value bad.
ALTER TABLE scorers ADD COLUMN typical_min REAL;
ALTER TABLE scorers ADD COLUMN typical_max REAL;
