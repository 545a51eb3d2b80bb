-- The family tables with their primary-key columns declared first.
--
-- The SQLite of Debian 12 and Ubuntu 22.04–24.04 (3.40 to 3.45) has a
-- `PRAGMA integrity_check` that misreads a WITHOUT ROWID table whose NOT
-- NULL column is declared before one of its primary-key columns: on a
-- brand-new registry it reported `NULL value in family_candidates.position`
-- (and in `family_patterns.position`) for rows that hold a position. Such a
-- table stores its primary key first whatever the declaration says; declared
-- in that same order, the check reads the right fields. The rows, their
-- positions and so the families' order are kept as they were.
--
-- Every other WITHOUT ROWID table already declares its key first.

CREATE TABLE family_patterns_keyed (
    family_id INTEGER NOT NULL REFERENCES signal_families (id),
    pattern   TEXT    NOT NULL,                 -- a regex, checked when it is added
    position  INTEGER NOT NULL,                 -- order within the family
    PRIMARY KEY (family_id, pattern)
) WITHOUT ROWID;
INSERT INTO family_patterns_keyed (family_id, pattern, position)
    SELECT family_id, pattern, position FROM family_patterns;
DROP TABLE family_patterns;
ALTER TABLE family_patterns_keyed RENAME TO family_patterns;

CREATE TABLE family_candidates_keyed (
    family_id INTEGER NOT NULL REFERENCES signal_families (id),
    metric    TEXT    NOT NULL,                 -- a metric that would fill the family
    position  INTEGER NOT NULL,
    PRIMARY KEY (family_id, metric)
) WITHOUT ROWID;
INSERT INTO family_candidates_keyed (family_id, metric, position)
    SELECT family_id, metric, position FROM family_candidates;
DROP TABLE family_candidates;
ALTER TABLE family_candidates_keyed RENAME TO family_candidates;
