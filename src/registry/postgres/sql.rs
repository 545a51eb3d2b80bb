//! Named queries of the PostgreSQL registry. The schema lives in
//! `migrations/postgres/`. `$1`, `$2`… are bound by the callers in
//! `ingest.rs` and `reads.rs`; a per-scorer read takes the scorer as `$1`
//! and, at a point, the point as `$2`.

/// The rows of file `f` (a `source_files` row joined by the statement) in
/// `scores s`: those its ingest wrote, found by their ids' bounds on the
/// `id` key, and the copies corrections made of them, by their partial
/// index (`migrations/postgres/0005`). No index on the file of every row:
/// that was a seventh of a bulk ingest's work on the server.
macro_rules! rows_of_file {
    () => {
        "s.source_file_id = f.id AND ((s.id BETWEEN f.first_score_id AND f.last_score_id \
           AND s.born_seq IS NULL) OR s.born_seq IS NOT NULL)"
    };
}

// ---- opening

/// Read from the catalog as a table, in the statement's snapshot: a
/// lookup by name (`to_regclass`) may answer from a cache that an advisory
/// lock does not refresh, and miss the table another user just created.
pub const HAS_MIGRATIONS_TABLE: &str = "SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_tables \
    WHERE schemaname = current_schema() AND tablename = 'second_opinion_migrations')";

pub const SCHEMA_VERSION: &str =
    "SELECT COALESCE(MAX(version), 0)::int8 FROM second_opinion_migrations";

/// Held until the migrating transaction ends.
pub const LOCK_FOR_MIGRATION: &str = "SELECT pg_advisory_xact_lock($1)::text";

/// The tables of the schema the connection works in (its `search_path`).
pub const USER_TABLES: &str = "SELECT table_name::text FROM information_schema.tables \
    WHERE table_schema = current_schema() ORDER BY 1";

pub const CREATE_MIGRATIONS_TABLE: &str = "CREATE TABLE second_opinion_migrations (\
    version int8 PRIMARY KEY, name text NOT NULL, applied_at text NOT NULL, tool_version text NOT NULL)";

pub const RECORD_MIGRATION: &str = "INSERT INTO second_opinion_migrations \
    (version, name, applied_at, tool_version) VALUES ($1, $2, $3, $4)";

/// An export's reads: one snapshot, which no ingest committing meanwhile
/// changes.
pub const BEGIN_SNAPSHOT: &str = "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY";

// ---- ingest

/// Held until the ingest's transaction ends, keyed by the file's sha256:
/// a second ingest of the same bytes waits for the first to commit, then
/// sees it (READ COMMITTED reads what committed before each statement).
pub const LOCK_SAME_BYTES: &str = "SELECT pg_advisory_xact_lock($1)::text";

pub const SCORERS_INGESTED_FROM_SHA256: &str = "SELECT sc.slug::text, MIN(f.ingested_at) \
    FROM source_files f \
    JOIN source_file_scorers x ON x.source_file_id = f.id \
    JOIN scorers sc ON sc.id = x.scorer_id \
    WHERE f.sha256 = $1 AND f.retired_seq IS NULL AND (f.options = $2 OR (f.options IS NULL AND $3)) \
    GROUP BY sc.slug";

/// Whether a file of $1 bytes was ingested: if not, no file of the same
/// bytes was.
pub const FILE_OF_SIZE_EXISTS: &str =
    "SELECT EXISTS (SELECT 1 FROM source_files WHERE size_bytes = $1)";

/// The hash and size of a file's bytes, taken while they were read.
pub const SET_FILE_SHA256: &str =
    "UPDATE source_files SET sha256 = $2, size_bytes = $3 WHERE id = $1";

/// Earlier ingests of the same bytes $1 with options other than $2 (or
/// none recorded), not retired, in commit order.
pub const OTHER_INGESTS_OF_SHA256: &str =
    "SELECT id, seq, path, ingested_at, options FROM source_files \
    WHERE sha256 = $1 AND seq IS NOT NULL AND retired_seq IS NULL \
    AND (options IS NULL OR options <> $2) ORDER BY seq";

/// Supersede, for ingest $3, the live rows of file $1 (of scorer $4, if
/// given): $3 holds the same bytes and takes its place.
pub const SUPERSEDE_LIVE_ROWS_OF_FILE: &str = concat!(
    "UPDATE scores s SET superseded_at = $2, superseded_by_file = $3 FROM source_files f \
    WHERE f.id = $1 AND s.superseded_at IS NULL AND ($4::int8 IS NULL OR s.scorer_id = $4) AND ",
    rows_of_file!()
);

/// The scorers a file gave rows to.
pub const FILE_SCORER_IDS: &str =
    "SELECT scorer_id FROM source_file_scorers WHERE source_file_id = $1 ORDER BY scorer_id";

/// A file's ingest begins; every id this session hands out from here on
/// is above the one `nextval` takes (a session's ids only grow), so the
/// file's rows lie from `first_score_id` on (`migrations/postgres/0005`).
pub const INSERT_SOURCE_FILE: &str = "INSERT INTO source_files \
    (path, absolute_path, sha256, size_bytes, format, label, ingested_at, tool_version, scorer_version, \
    options, first_score_id) \
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, nextval('scores_ids') + 1) RETURNING id";

pub const SET_FILE_WARNINGS: &str = "UPDATE source_files SET warnings = $2 WHERE id = $1";

pub const SCORER_BY_SLUG: &str = "SELECT sc.id, sc.name::text, sc.scale_min, sc.scale_max, \
    sc.higher_is_better, sc.typical_min, sc.typical_max \
    FROM scorers a JOIN scorers sc ON sc.id = COALESCE(a.merged_into, a.id) WHERE a.slug = $1";

/// A new scorer with the defaults the rules give it; another machine
/// registering it at the same time makes this insert nothing.
pub const INSERT_SCORER: &str = "INSERT INTO scorers \
    (name, slug, created_at, scale_min, scale_max, typical_min, typical_max, higher_is_better) \
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (slug) DO NOTHING";

pub const SET_SCORER_SCALE: &str =
    "UPDATE scorers SET scale_min = $2, scale_max = $3 WHERE id = $1 AND scale_min IS NULL";

pub const SET_SCORER_DIRECTION: &str =
    "UPDATE scorers SET higher_is_better = $2 WHERE id = $1 AND higher_is_better IS NULL";

/// The staging table of one batch of scalar rows, streamed in by binary
/// COPY; `n` is the row's place in the batch (file order; lines can repeat
/// when one line holds many records).
pub const CREATE_STAGING: &str = "CREATE TEMP TABLE IF NOT EXISTS score_staging (\
    scorer_id int8 NOT NULL, key text NOT NULL, raw_key text, key_field text NOT NULL, \
    score float8, status text NOT NULL, reason text, note text, runtime_ms float8, \
    frame_count int4 NOT NULL, n int8 NOT NULL, line int8 NOT NULL) ON COMMIT DROP";

pub const CLEAR_STAGING: &str = "TRUNCATE score_staging";

/// Its columns in the order of [`COPY_SCORES`]'s, `n` in place of the
/// file: one writer of rows serves both (`postgres/ingest.rs`).
pub const COPY_STAGING: &str = "COPY score_staging (scorer_id, key, raw_key, key_field, score, \
    status, reason, note, runtime_ms, frame_count, n, line) FROM STDIN (FORMAT binary)";

/// Scalar rows straight into `scores`, in file order, while none has met
/// a live row (`postgres/ingest.rs`): the live-row index refuses the copy
/// at the first that does.
pub const COPY_SCORES: &str = "COPY scores (scorer_id, key, raw_key, key_field, score, status, \
    reason, note, runtime_ms, frame_count, source_file_id, line) FROM STDIN (FORMAT binary)";

/// The live-row index's name, as a refusal by it names it.
pub const LIVE_ROW_INDEX: &str = "scores_live_scorer_key";

/// Move the staged rows into `scores` in file order; a row the live-row
/// index refuses is left out (and redone alone, where the conflict policy
/// applies).
pub const MOVE_STAGED: &str = "INSERT INTO scores (scorer_id, key, raw_key, key_field, score, status, \
    reason, note, runtime_ms, frame_count, source_file_id, line) \
    SELECT scorer_id, key, raw_key, key_field, score, status, reason, note, runtime_ms, frame_count, $1, line \
    FROM score_staging ORDER BY n ON CONFLICT DO NOTHING";

/// An id below every id this session hands out after it: a session's
/// ids only grow. (Not the sequence's `last_value`: with a cached
/// sequence another session may have taken a later block than the one
/// this session is using.)
pub const SCORE_ID_FLOOR: &str = "SELECT nextval('scores_ids')";

/// The rows file $1 wrote after score id $2: those one move wrote, read
/// only when it left some out.
pub const MOVED_ROWS: &str =
    "SELECT scorer_id, line, key::text FROM scores WHERE source_file_id = $1 AND id > $2";

/// One row on its own; nothing when a row of its (scorer, key) is live.
/// (An error would abort the whole transaction on PostgreSQL.)
pub const INSERT_SCORE: &str = "INSERT INTO scores (scorer_id, key, raw_key, key_field, score, status, \
    reason, note, runtime_ms, frame_count, source_file_id, line, raw_value) \
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) ON CONFLICT DO NOTHING RETURNING id";

/// The live row of (scorer, key) and where it came from, locked so that
/// no other ingest supersedes it meanwhile.
pub const LIVE_SCORE_WITH_SOURCE: &str = "SELECT s.id, s.source_file_id, s.line, f.path, \
    f.ingested_at, COALESCE(s.raw_key, s.key)::text \
    FROM scores s JOIN source_files f ON f.id = s.source_file_id \
    WHERE s.scorer_id = $1 AND s.key = $2 AND s.superseded_at IS NULL FOR UPDATE OF s";

/// Supersede a live row; its point is stamped when this ingest commits.
pub const SUPERSEDE_SCORE: &str =
    "UPDATE scores SET superseded_at = $2, superseded_by_file = $3 WHERE id = $1";

pub const SCORE_CONTENT: &str = "SELECT score, status, reason FROM scores WHERE id = $1";

pub const SCORE_COMPONENTS: &str =
    "SELECT name::text, value FROM score_components WHERE score_id = $1 ORDER BY name";

pub const INSERT_SCORE_COMPONENT: &str =
    "INSERT INTO score_components (score_id, name, value) VALUES ($1, $2, $3)";

pub const INSERT_FRAME_SCORE: &str =
    "INSERT INTO frame_scores (score_id, frame_index, value, runtime_ms) VALUES ($1, $2, $3, $4)";

pub const INSERT_SOURCE_FILE_SCORER: &str =
    "INSERT INTO source_file_scorers (source_file_id, scorer_id, rows) VALUES ($1, $2, $3)";

/// The next point. The UPDATE keeps the clock's row locked until this
/// transaction ends, so points are handed out in commit order.
pub const TAKE_POINT: &str = "UPDATE registry_clock SET seq = seq + 1 RETURNING seq";

/// The file's point, and the last bound of its rows' ids: it wrote its
/// last row before this, so below the `nextval` taken here.
pub const STAMP_FILE: &str = "UPDATE source_files \
    SET seq = $2, last_score_id = nextval('scores_ids') - 1 WHERE id = $1";

pub const STAMP_SUPERSEDED: &str =
    "UPDATE scores SET superseded_seq = $2 WHERE superseded_by_file = $1 AND superseded_seq IS NULL";

pub const INSERT_CHANGE: &str =
    "INSERT INTO changes (seq, at, kind, file_id) VALUES ($1, $2, 'ingest', $3)";

// ---- reads

/// `$select` (over `scores s`, ending in WHERE) for scorer $1's rows live
/// at point $2: born by $2 (its file's point, or a copy's own) and not
/// superseded by $2.
macro_rules! at_point {
    ($select:expr) => {
        concat!(
            $select,
            " s.scorer_id = $1 AND COALESCE(s.born_seq, \
               (SELECT b.seq FROM source_files b WHERE b.id = s.source_file_id)) <= $2 \
              AND (s.superseded_seq IS NULL OR s.superseded_seq > $2)"
        )
    };
}

pub const LIVE_SCORERS: &str =
    "SELECT sc.id, sc.name::text, sc.slug::text, sc.scale_min, sc.scale_max, \
    sc.typical_min, sc.typical_max, sc.higher_is_better FROM scorers sc \
    WHERE EXISTS (SELECT 1 FROM scores s WHERE s.scorer_id = sc.id AND s.superseded_at IS NULL) \
    ORDER BY sc.slug";

/// Scorers with a score live at point $1, with the settings in force
/// then: their newest revision at or before it (`0002_corrections_and_audit.sql`),
/// else, for a scorer registered outside any point, its settings now.
pub const SCORERS_AT_POINT: &str = "SELECT sc.id, v.name::text, v.slug::text, v.scale_min, \
    v.scale_max, v.typical_min, v.typical_max, v.higher_is_better FROM scorers sc \
    CROSS JOIN LATERAL (SELECT * FROM ( \
        SELECT r.seq AS rank, r.name, r.slug, r.scale_min, r.scale_max, r.typical_min, \
            r.typical_max, r.higher_is_better FROM scorer_revisions r \
        WHERE r.scorer_id = sc.id AND r.seq <= $1 \
        UNION ALL SELECT -1, sc.name, sc.slug, sc.scale_min, sc.scale_max, sc.typical_min, \
            sc.typical_max, sc.higher_is_better) q ORDER BY q.rank DESC LIMIT 1) v \
    WHERE EXISTS (SELECT 1 FROM scores s JOIN source_files b ON b.id = s.source_file_id \
        WHERE s.scorer_id = sc.id AND COALESCE(s.born_seq, b.seq) <= $1 \
        AND (s.superseded_seq IS NULL OR s.superseded_seq > $1)) \
    ORDER BY v.slug COLLATE \"C\"";

pub const SOURCE_FILE_PATHS: &str = "SELECT id, path, sha256 FROM source_files";

pub const LIVE_SCORES_OF_SCORER: &str = "SELECT key::text, score, status, runtime_ms, \
    frame_count::int8, source_file_id FROM scores WHERE scorer_id = $1 AND superseded_at IS NULL \
    ORDER BY key";

pub const SCORES_AT_POINT: &str = at_point!(
    "SELECT s.key::text, s.score, s.status, s.runtime_ms, s.frame_count::int8, s.source_file_id \
     FROM scores s WHERE"
);

/// The keys of scorer $1's live scores: as stored, as the file wrote
/// them and the field they came from.
pub const LIVE_KEY_FORMS_OF_SCORER: &str = "SELECT key::text, COALESCE(raw_key, key)::text, \
    key_field::text FROM scores WHERE scorer_id = $1 AND superseded_at IS NULL";

/// The same for scorer $1's scores live at point $2.
pub const KEY_FORMS_AT_POINT: &str = at_point!(
    "SELECT s.key::text, COALESCE(s.raw_key, s.key)::text, s.key_field::text FROM scores s WHERE"
);

/// The live scores of scorer $1 with their keys as the file wrote them
/// (NULL: as stored) and the field they came from, in one read (in no particular order).
pub const LIVE_SCORES_WITH_KEY_FORMS_OF_SCORER: &str = "SELECT key::text, score, status, \
    runtime_ms, frame_count::int8, source_file_id, raw_key::text, key_field::text \
    FROM scores WHERE scorer_id = $1 AND superseded_at IS NULL";

/// The same for scorer $1's scores live at point $2.
pub const SCORES_WITH_KEY_FORMS_AT_POINT: &str = at_point!(
    "SELECT s.key::text, s.score, s.status, s.runtime_ms, s.frame_count::int8, s.source_file_id, \
     s.raw_key::text, s.key_field::text FROM scores s WHERE"
);

pub const LIVE_COMPONENTS_OF_SCORER: &str = "SELECT s.key::text, c.name::text, c.value \
    FROM score_components c JOIN scores s ON s.id = c.score_id \
    WHERE s.scorer_id = $1 AND s.superseded_at IS NULL ORDER BY c.name, s.key";

pub const COMPONENTS_AT_POINT: &str = concat!(
    "SELECT * FROM (",
    at_point!(
        "SELECT s.key::text, c.name::text, c.value FROM scores s \
         JOIN score_components c ON c.score_id = s.id WHERE"
    ),
    ") q ORDER BY q.name COLLATE \"C\", q.key COLLATE \"C\""
);

pub const LIVE_FRAMES_OF_SCORER: &str = "SELECT s.key::text, f.frame_index, f.value, f.runtime_ms \
    FROM frame_scores f JOIN scores s ON s.id = f.score_id \
    WHERE s.scorer_id = $1 AND s.superseded_at IS NULL ORDER BY s.key, f.frame_index";

pub const FRAMES_AT_POINT: &str = concat!(
    "SELECT * FROM (",
    at_point!(
        "SELECT s.key::text, f.frame_index, f.value, f.runtime_ms FROM scores s \
         JOIN frame_scores f ON f.score_id = s.id WHERE"
    ),
    ") q ORDER BY q.key COLLATE \"C\", q.frame_index"
);

pub const LIVE_VERSIONS_OF_SCORER: &str = "SELECT DISTINCT f.scorer_version COLLATE \"C\" \
    FROM scores s JOIN source_files f ON f.id = s.source_file_id \
    WHERE s.scorer_id = $1 AND s.superseded_at IS NULL AND f.scorer_version IS NOT NULL \
    ORDER BY 1";

pub const VERSIONS_AT_POINT: &str = concat!(
    "SELECT DISTINCT q.v COLLATE \"C\" FROM (",
    at_point!(
        "SELECT f.scorer_version AS v FROM scores s \
         JOIN source_files f ON f.id = s.source_file_id WHERE f.scorer_version IS NOT NULL AND"
    ),
    ") q ORDER BY 1"
);

macro_rules! scores_table_columns {
    () => {
        "SELECT s.key::text, s.score, s.status, s.runtime_ms, s.frame_count::int8, f.path, s.line, \
            f.sha256, f.ingested_at, f.scorer_version, s.source_file_id \
         FROM scores s JOIN source_files f ON f.id = s.source_file_id "
    };
}

pub const SCORES_TABLE_LIVE: &str = concat!(
    scores_table_columns!(),
    "WHERE s.scorer_id = $1 AND s.superseded_at IS NULL ORDER BY s.key"
);

pub const SCORES_TABLE_AT_POINT: &str = concat!(
    "SELECT * FROM (",
    at_point!(concat!(scores_table_columns!(), "WHERE")),
    ") q ORDER BY q.key COLLATE \"C\""
);

/// As SQLite's: each scorer with its live, ok, bad and superseded rows,
/// its files, the versions and warnings of the files of its live rows.
pub const LIST_SCORERS: &str = "SELECT sc.name::text, sc.slug::text, sc.scale_min, sc.scale_max, \
    sc.higher_is_better, \
    (SELECT COUNT(*) FROM scores s WHERE s.scorer_id = sc.id AND s.superseded_at IS NULL), \
    (SELECT COUNT(*) FROM scores s WHERE s.scorer_id = sc.id AND s.superseded_at IS NULL AND s.status = 'ok'), \
    (SELECT COUNT(*) FROM scores s WHERE s.scorer_id = sc.id AND s.superseded_at IS NULL AND s.status = 'bad'), \
    (SELECT COUNT(*) FROM scores s WHERE s.scorer_id = sc.id AND s.superseded_at IS NOT NULL), \
    (SELECT COUNT(*) FROM source_file_scorers x WHERE x.scorer_id = sc.id), \
    sc.typical_min, sc.typical_max, \
    ARRAY(SELECT DISTINCT f.scorer_version COLLATE \"C\" FROM scores s2 \
        JOIN source_files f ON f.id = s2.source_file_id \
        WHERE s2.scorer_id = sc.id AND s2.superseded_at IS NULL AND f.scorer_version IS NOT NULL ORDER BY 1), \
    ARRAY(SELECT w FROM (SELECT f.warnings AS w, MIN(f.id) AS first FROM scores s3 \
        JOIN source_files f ON f.id = s3.source_file_id \
        WHERE s3.scorer_id = sc.id AND s3.superseded_at IS NULL AND f.warnings IS NOT NULL \
        GROUP BY f.warnings) q ORDER BY first) \
    FROM scorers sc ORDER BY sc.slug";

/// As SQLite's; a file's number is its point (as SQLite's file ids are),
/// not its internal id.
pub const LIST_FILES: &str =
    "SELECT f.seq, f.path, f.absolute_path, f.sha256, f.size_bytes, f.format, \
    f.label, f.ingested_at, f.tool_version, COALESCE(n.rows, 0)::int8, \
    (COALESCE(n.rows, 0) + COALESCE(c.rows, 0) - COALESCE(o.rows, 0))::int8, \
    ARRAY(SELECT sc.name::text FROM source_file_scorers x \
        JOIN scorers sc ON sc.id = x.scorer_id WHERE x.source_file_id = f.id ORDER BY sc.name) \
    FROM source_files f \
    LEFT JOIN (SELECT source_file_id, SUM(rows) AS rows FROM source_file_scorers \
        GROUP BY source_file_id) n ON n.source_file_id = f.id \
    LEFT JOIN (SELECT source_file_id, COUNT(*) AS rows FROM scores \
        WHERE superseded_at IS NOT NULL GROUP BY source_file_id) o ON o.source_file_id = f.id \
    LEFT JOIN (SELECT source_file_id, COUNT(*) AS rows FROM scores \
        WHERE born_seq IS NOT NULL GROUP BY source_file_id) c ON c.source_file_id = f.id \
    WHERE f.seq IS NOT NULL ORDER BY f.seq";

// ---- points, exports and tags

pub const LATEST_CHANGE: &str = "SELECT seq, at FROM changes ORDER BY seq DESC LIMIT 1";

pub const LAST_CHANGE_AT_OR_BEFORE: &str = "SELECT MAX(seq) FROM changes WHERE at <= $1";

pub const FIRST_CHANGE_AT: &str = "SELECT at FROM changes ORDER BY seq LIMIT 1";

pub const CHANGE_AT: &str = "SELECT at FROM changes WHERE seq = $1";

pub const EXPORT_SEQ: &str = "SELECT seq FROM exports WHERE id = $1";

pub const EXPORT_ID_RANGE: &str = "SELECT MIN(id), MAX(id) FROM exports";

pub const TAG_BY_NAME: &str = "SELECT seq, export_id FROM tags WHERE name = $1";

pub const INSERT_TAG: &str =
    "INSERT INTO tags (name, seq, export_id, created_at) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING";

pub const LIST_TAGS: &str = "SELECT name::text, seq, export_id, created_at FROM tags ORDER BY name";

pub const INSERT_EXPORT: &str = "INSERT INTO exports \
    (created_at, command, features_path, features_sha256, output_path, output_sha256, output_format, \
     input_rows, output_rows, scorers, options, registry_state, registry_digest, tool_version, \
     seq, as_of, content_digest, note, state, recorded_by) \
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, 'pending', $19) \
    RETURNING id";

pub const CONFIRM_EXPORT: &str = "UPDATE exports SET state = 'published' WHERE id = $1";

pub const ABANDON_EXPORT: &str =
    "UPDATE exports SET state = 'abandoned', settled_at = $2 WHERE id = $1 AND state = 'pending'";

pub const PENDING_EXPORTS: &str = "SELECT id, created_at, output_path, output_sha256, recorded_by \
    FROM exports WHERE state = 'pending' ORDER BY id";

pub const SETTLE_EXPORT: &str =
    "UPDATE exports SET state = $2, settled_at = $3 WHERE id = $1 AND state = 'pending'";

pub const LIST_EXPORTS: &str = "SELECT id, created_at, command, features_path, features_sha256, output_path, \
    output_sha256, output_format, input_rows, output_rows, scorers, options, registry_state, registry_digest, \
    tool_version, seq, seq_inferred, as_of, content_digest, note, state FROM exports ORDER BY id";

pub const TAG_DETAILS: &str = "SELECT seq, export_id, created_at FROM tags WHERE name = $1";

// ---- history: what was live at a point (exports show, diff)

/// Scorer $1's rows live at point $2 with where they came from.
pub const ROWS_AT_POINT_WITH_SOURCE: &str = at_point!(
    "SELECT s.key::text, s.score, s.status, f.path, s.line FROM scores s \
     JOIN source_files f ON f.id = s.source_file_id WHERE"
);

/// Scorer $1's rows live at point $2, counted by file and status; a
/// file's number is its point, as `files` shows it.
pub const FILES_AT_POINT: &str = concat!(
    "SELECT f.seq, f.path, f.sha256, f.ingested_at, f.scorer_version, \
        COUNT(*) FILTER (WHERE r.status = 'ok'), COUNT(*) FILTER (WHERE r.status = 'bad') FROM (",
    at_point!("SELECT s.source_file_id AS file, s.status FROM scores s WHERE"),
    ") r JOIN source_files f ON f.id = r.file GROUP BY f.id ORDER BY f.seq"
);

// ---- provenance

pub const SCORER_NAME_BY_SLUG: &str = "SELECT id, name::text FROM scorers WHERE slug = $1";

pub const ALL_SCORERS: &str = "SELECT id, name::text FROM scorers ORDER BY slug";

/// Scorer $1's keys (live or superseded) in [$2, $3).
pub const KEYS_FROM_STEM: &str = "SELECT DISTINCT key::text FROM scores \
    WHERE scorer_id = $1 AND key >= $2 AND key < $3 ORDER BY 1 LIMIT 1000";

/// As SQLite's: every row of scorer $1 whose key (or, with $3, raw key)
/// is $2, live first, then newest first; a row's points are its file's
/// (or a copy's own) and its superseder's. Newest by point: ids are not
/// in time order across sessions (`migrations/postgres/0005`).
pub const SCORE_HISTORY: &str = "SELECT s.key::text, COALESCE(s.raw_key, s.key)::text, \
    s.key_field, s.score, s.status, s.reason, s.runtime_ms, s.frame_count::int8, s.line, \
    f.ingested_at, s.superseded_at, f.path, f.absolute_path, f.sha256, f.format, f.label, r.path, \
    f.scorer_version, s.note, COALESCE(s.born_seq, f.seq), s.superseded_seq, s.raw_value \
    FROM scores s JOIN source_files f ON f.id = s.source_file_id \
    LEFT JOIN source_files r ON r.id = s.superseded_by_file \
    WHERE s.scorer_id = $1 AND (s.key = $2 OR ($3 AND COALESCE(s.raw_key, s.key) = $2)) \
    ORDER BY s.superseded_at IS NOT NULL, COALESCE(s.born_seq, f.seq) DESC, s.id DESC";

// ---- corrections (files retire, scorers set/rename/merge)

// A correction takes its point as it commits (`TAKE_POINT`), as an ingest
// does: taken first, the clock's lock would be held while the correction
// waits for rows an ingest holds, and that ingest would wait for the clock
// to commit: a deadlock. What it wrote meanwhile is stamped then.

/// A correction's point (this stamps the scorer revisions it wrote:
/// `0002_corrections_and_audit.sql`).
pub const INSERT_CORRECTION: &str =
    "INSERT INTO changes (seq, at, kind, detail) VALUES ($1, $2, $3, $4)";

/// Files by their number ($1, a point), sha256, path as given or absolute
/// path, with their live rows.
pub const FILES_MATCHING: &str = concat!(
    "SELECT f.seq, f.path, f.sha256, f.ingested_at, f.retired_seq, \
    (SELECT COUNT(*) FROM scores s WHERE s.superseded_at IS NULL AND ",
    rows_of_file!(),
    ") FROM source_files f WHERE f.seq IS NOT NULL AND (f.seq = $1 OR f.sha256 = $2 OR f.path = $2 \
        OR f.absolute_path = $2 OR f.absolute_path = $3) ORDER BY f.seq"
);

/// Bounds for the files that have none: ingested by a binary older than
/// schema 5 still connected as it migrated (`migrations/postgres/0005`).
/// Run before a lookup by file; it touches no row when every file has
/// bounds.
pub const FILL_MISSING_FILE_BOUNDS: &str = "UPDATE source_files f \
    SET (first_score_id, last_score_id) = (SELECT COALESCE(MIN(s.id), 1), COALESCE(MAX(s.id), 0) \
        FROM scores s WHERE s.source_file_id = f.id AND s.born_seq IS NULL) \
    WHERE f.last_score_id IS NULL AND f.seq IS NOT NULL";

/// As SQLite's, for the file numbered $1.
pub const ROWS_SUPERSEDED_BY_FILE: &str = "SELECT p.id FROM source_files f \
    JOIN scores p ON p.superseded_by_file = f.id AND p.source_file_id <> f.id \
    WHERE f.seq = $1 AND EXISTS (SELECT 1 FROM scores r WHERE r.scorer_id = p.scorer_id \
        AND r.key = p.key AND r.superseded_at IS NULL AND r.source_file_id = f.id) \
    ORDER BY p.id";

/// Supersede every live row of the file numbered $1 (their point is
/// stamped as the correction commits).
pub const RETIRE_FILE_ROWS: &str = concat!(
    "UPDATE scores s SET superseded_at = $2 FROM source_files f \
    WHERE f.seq = $1 AND s.superseded_at IS NULL AND ",
    rows_of_file!(),
    " RETURNING s.id"
);

pub const SUPERSEDE_ROW: &str = "UPDATE scores SET superseded_at = $2 WHERE id = $1";

/// The correction's point $1 on the rows it superseded ($2), the copies
/// it made live ($3) and the file it retired ($4, a file number).
pub const STAMP_CORRECTION: &str = "WITH superseded AS ( \
        UPDATE scores SET superseded_seq = $1 WHERE id = ANY($2)), \
    born AS (UPDATE scores SET born_seq = $1 WHERE id = ANY($3)) \
    UPDATE source_files SET retired_seq = $1 WHERE seq = $4";

/// As SQLite's: a copy of row $1 for scorer $2 with score, status,
/// reason and raw value $3…$6 (its point, `born_seq`, stamped as the
/// correction commits).
pub const COPY_ROW: &str =
    "INSERT INTO scores (scorer_id, key, raw_key, key_field, score, status, \
    reason, note, runtime_ms, frame_count, source_file_id, line, raw_value) \
    SELECT $2, key, raw_key, key_field, $3, $4, $5, note, runtime_ms, frame_count, source_file_id, \
        line, $6 FROM scores WHERE id = $1 RETURNING id";

pub const COPY_COMPONENTS: &str = "INSERT INTO score_components (score_id, name, value) \
    SELECT $2, name, value FROM score_components WHERE score_id = $1";

pub const COPY_FRAMES: &str =
    "INSERT INTO frame_scores (score_id, frame_index, value, runtime_ms) \
    SELECT $2, frame_index, value, runtime_ms FROM frame_scores WHERE score_id = $1";

pub const ROW_FOR_COPY: &str =
    "SELECT scorer_id, score, status, reason, raw_value FROM scores WHERE id = $1";

/// Scorer $1's live rows, locked: no ingest supersedes one meanwhile.
pub const LIVE_ROWS_TO_JUDGE: &str = "SELECT id, score, status, reason, raw_value FROM scores \
    WHERE scorer_id = $1 AND superseded_at IS NULL ORDER BY id FOR UPDATE";

pub const SCORER_SETTINGS: &str = "SELECT id, name::text, slug::text, scale_min, scale_max, \
    higher_is_better, version, merged_into FROM scorers WHERE slug = $1";

pub const SET_SCORER_SETTINGS: &str = "UPDATE scorers SET scale_min = $2, scale_max = $3, \
    higher_is_better = $4, version = $5 WHERE id = $1";

pub const RENAME_SCORER: &str = "UPDATE scorers SET name = $2, slug = $3 WHERE id = $1";

pub const MERGE_SCORER: &str = "UPDATE scorers SET merged_into = $2 WHERE id = $1";

pub const KEYS_LIVE_FOR_BOTH: &str = "SELECT a.key::text FROM scores a JOIN scores b \
    ON b.scorer_id = $2 AND b.key = a.key AND b.superseded_at IS NULL \
    WHERE a.scorer_id = $1 AND a.superseded_at IS NULL ORDER BY a.key";

/// Scorer $1's live row ids, by key, locked.
pub const LIVE_ROW_IDS: &str = "SELECT id FROM scores WHERE scorer_id = $1 \
    AND superseded_at IS NULL ORDER BY key FOR UPDATE";

// ---- the audit: signal families and recorded runs (as audit/sql.rs)

pub const LIST_FAMILIES: &str = "SELECT id, key::text, label, question, recommendation, position \
    FROM signal_families ORDER BY position";

pub const LIST_PATTERNS: &str =
    "SELECT family_id, pattern FROM family_patterns ORDER BY family_id, position";

pub const LIST_CANDIDATES: &str =
    "SELECT family_id, metric FROM family_candidates ORDER BY family_id, position";

pub const FAMILY_BY_KEY: &str = "SELECT id FROM signal_families WHERE key = $1";

pub const INSERT_FAMILY: &str = "INSERT INTO signal_families \
    (key, label, question, recommendation, position) \
    VALUES ($1, $2, $3, $4, (SELECT COALESCE(MAX(position), 0) + 1 FROM signal_families)) \
    RETURNING id";

pub const INSERT_PATTERN: &str = "INSERT INTO family_patterns (family_id, position, pattern) \
    VALUES ($1, (SELECT COALESCE(MAX(position), 0) + 1 FROM family_patterns WHERE family_id = $1), $2) \
    ON CONFLICT DO NOTHING";

pub const DELETE_PATTERN: &str =
    "DELETE FROM family_patterns WHERE family_id = $1 AND pattern = $2";

pub const INSERT_CANDIDATE: &str = "INSERT INTO family_candidates (family_id, position, metric) \
    VALUES ($1, (SELECT COALESCE(MAX(position), 0) + 1 FROM family_candidates WHERE family_id = $1), $2) \
    ON CONFLICT DO NOTHING";

pub const AUDIT_SCORERS: &str = "SELECT sc.name::text, sc.slug::text, \
    COALESCE(sc.scale_min, sc.typical_min), COALESCE(sc.scale_max, sc.typical_max), \
    sc.higher_is_better, \
    EXISTS (SELECT 1 FROM source_file_scorers x JOIN source_files f ON f.id = x.source_file_id \
            WHERE x.scorer_id = sc.id AND f.format LIKE 'libvmaf-%') \
    FROM scorers sc ORDER BY sc.slug";

pub const INSERT_AUDIT_RUN: &str =
    "INSERT INTO audit_runs (created_at, options, outputs, tool_version) \
    VALUES ($1, $2, $3, $4) RETURNING id";

pub const INSERT_AUDIT_INPUT: &str = "INSERT INTO audit_inputs \
    (run_id, label, path, absolute_path, sha256, size_bytes, rows, summary) \
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8)";

pub const LAST_AUDIT_OF_LABEL: &str =
    "SELECT r.id, r.created_at, i.path, i.sha256, i.rows, i.summary \
    FROM audit_inputs i JOIN audit_runs r ON r.id = i.run_id \
    WHERE i.label = $1 ORDER BY r.id DESC, i.id DESC LIMIT 1";
