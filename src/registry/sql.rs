//! Named queries of the registry. The schema itself lives in `migrations/`.

/// A write transaction that takes the lock at once, so concurrent ingests
/// queue on the busy timeout instead of failing on an upgrade.
pub const BEGIN_WRITE: &str = "BEGIN IMMEDIATE";
/// A read transaction: one snapshot for everything an export reads.
pub const BEGIN_READ: &str = "BEGIN DEFERRED";
pub const COMMIT: &str = "COMMIT";
/// SQLite checks every reference of every inserted row against its parent
/// table (two lookups per score row) and, because such a check can abort a
/// statement, keeps a statement journal for multi-row INSERTs. The
/// references ingest writes are ids it has just read or inserted itself, so
/// its transactions run without the checks.
pub const FOREIGN_KEYS_OFF: &str = "PRAGMA foreign_keys = OFF";
pub const FOREIGN_KEYS_ON: &str = "PRAGMA foreign_keys = ON";
pub const ROLLBACK: &str = "ROLLBACK";
pub const BEGIN_FILE_SAVEPOINT: &str = "SAVEPOINT ingest_file";
pub const RELEASE_FILE_SAVEPOINT: &str = "RELEASE ingest_file";
pub const ROLLBACK_FILE_SAVEPOINT: &str = "ROLLBACK TO ingest_file; RELEASE ingest_file";

/// A new source file; its id is the seq of its ingest's point.
pub const INSERT_SOURCE_FILE: &str = "INSERT INTO source_files \
    (id, path, absolute_path, sha256, size_bytes, format, label, ingested_at, tool_version, scorer_version, options) \
    VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)";

/// Whether any file of this size was ingested (only such a file can hold
/// the same bytes).
pub const FILE_OF_SIZE_EXISTS: &str =
    "SELECT EXISTS (SELECT 1 FROM source_files WHERE size_bytes = ?1)";

/// The hash and size of a file's bytes, taken while they were parsed.
pub const SET_FILE_SHA256: &str =
    "UPDATE source_files SET sha256 = ?2, size_bytes = ?3 WHERE id = ?1";

pub const FILE_SHA256_AND_SIZE: &str = "SELECT sha256, size_bytes FROM source_files WHERE id = ?1";

pub const SET_FILE_WARNINGS: &str = "UPDATE source_files SET warnings = ?2 WHERE id = ?1";

pub const INSERT_SCORE_COMPONENT: &str =
    "INSERT INTO score_components (score_id, name, value) VALUES (?1, ?2, ?3)";

/// Scorers that earlier ingests of the same bytes with the same options
/// (?2; with ?3, also files ingested before options were recorded)
/// produced, with when.
pub const SCORERS_INGESTED_FROM_SHA256: &str = "SELECT sc.slug, MIN(f.ingested_at) \
    FROM source_files f \
    JOIN source_file_scorers x ON x.source_file_id = f.id \
    JOIN scorers sc ON sc.id = x.scorer_id \
    WHERE f.sha256 = ?1 AND f.retired_seq IS NULL AND (f.options = ?2 OR (f.options IS NULL AND ?3)) \
    GROUP BY sc.slug";

/// Supersede at point ?3 the live rows of file ?1 (of scorer ?4, if given):
/// ?3 is the ingest of the same bytes that takes its place.
pub const SUPERSEDE_LIVE_ROWS_OF_FILE: &str = "UPDATE scores \
    SET superseded_at = ?2, superseded_by_file = ?3, superseded_seq = ?3 \
    WHERE source_file_id = ?1 AND superseded_at IS NULL AND (?4 IS NULL OR scorer_id = ?4)";

/// The scorers a file gave rows to.
pub const FILE_SCORER_IDS: &str =
    "SELECT scorer_id FROM source_file_scorers WHERE source_file_id = ?1 ORDER BY scorer_id";

/// Earlier ingests of the same bytes ?1 with options other than ?2 (or
/// none recorded), not retired.
pub const OTHER_INGESTS_OF_SHA256: &str =
    "SELECT id, path, ingested_at, options FROM source_files \
    WHERE sha256 = ?1 AND retired_seq IS NULL AND (options IS NULL OR options <> ?2) ORDER BY id";

/// How many rows a file gave one scorer, written once the file is read.
pub const INSERT_SOURCE_FILE_SCORER: &str =
    "INSERT INTO source_file_scorers (source_file_id, scorer_id, rows) VALUES (?1, ?2, ?3)";

/// A scorer by slug; a name merged into another scorer resolves to it.
pub const SCORER_BY_SLUG: &str =
    "SELECT sc.id, sc.name, sc.scale_min, sc.scale_max, sc.higher_is_better, sc.typical_min, sc.typical_max \
     FROM scorers a JOIN scorers sc ON sc.id = COALESCE(a.merged_into, a.id) WHERE a.slug = ?1";

pub const INSERT_SCORER: &str = "INSERT INTO scorers (name, slug, created_at) VALUES (?1, ?2, ?3)";

pub const SET_SCORER_SCALE: &str =
    "UPDATE scorers SET scale_min = ?2, scale_max = ?3 WHERE id = ?1";

pub const SET_SCORER_KNOWN_DEFAULTS: &str = "UPDATE scorers SET scale_min = ?2, scale_max = ?3, \
    typical_min = ?4, typical_max = ?5, higher_is_better = ?6 WHERE id = ?1";

pub const SET_SCORER_DIRECTION: &str = "UPDATE scorers SET higher_is_better = ?2 WHERE id = ?1";

/// The columns of a new score row, in the order [`insert_scores`] binds them.
const SCORE_COLUMNS: &str = " INTO scores \
    (scorer_id, key, raw_key, key_field, score, status, reason, note, runtime_ms, frame_count, \
     source_file_id, line, raw_key_prefix) VALUES ";

/// Parameters per score row of [`insert_scores`].
pub const SCORE_PARAMS: usize = 13;

/// The key of `scores s` as its file wrote it (`0011_raw_key_prefixes.sql`).
macro_rules! raw_key_of_s {
    () => {
        "COALESCE(s.raw_key, \
            (SELECT p.prefix FROM raw_key_prefixes p WHERE p.id = s.raw_key_prefix) || s.key, s.key)"
    };
}

/// [`raw_key_of_s`] without its last fallback: NULL where the file wrote
/// the key as it is stored (the reader takes the stored key, without a
/// second copy of it).
macro_rules! written_key_of_s {
    () => {
        "COALESCE(s.raw_key, \
            (SELECT p.prefix FROM raw_key_prefixes p WHERE p.id = s.raw_key_prefix) || s.key)"
    };
}

/// A directory (the part of a raw key before the key) by its text.
pub const RAW_KEY_PREFIX_ID: &str = "SELECT id FROM raw_key_prefixes WHERE prefix = ?1";

pub const INSERT_RAW_KEY_PREFIX: &str = "INSERT INTO raw_key_prefixes (prefix) VALUES (?1)";

/// One score row with the number its file wrote outside the scorer's scale
/// (rare: such rows are written alone, so the batches bind a parameter
/// less per row).
pub const INSERT_SCORE_WITH_RAW_VALUE: &str = "INSERT INTO scores \
    (scorer_id, key, raw_key, key_field, score, status, reason, note, runtime_ms, frame_count, \
     source_file_id, line, raw_key_prefix, raw_value) \
     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)";

/// Rows per multi-row INSERT of [`insert_scores`]: one statement per 64
/// rows runs the VDBE program's setup once instead of 64 times, which is a
/// quarter of the ingest time for scalar rows.
pub const SCORE_BATCH: usize = 64;

/// An INSERT of `rows` score rows (?1…?13 for the first, ?14… for the next).
///
/// A batch (`rows > 1`) is `INSERT OR IGNORE`: a statement that may abort
/// half-way makes SQLite copy every page it touches into a statement
/// journal first (8% of W4). A row the live-row index (or any constraint)
/// refuses is left out instead, and the SQLite store finds it and redoes it alone,
/// where the conflict policy or the constraint's error applies.
pub fn insert_scores(rows: usize) -> String {
    let mut sql = String::from(if rows > 1 {
        "INSERT OR IGNORE"
    } else {
        "INSERT"
    });
    sql.push_str(SCORE_COLUMNS);
    for row in 0..rows {
        if row > 0 {
            sql.push_str(", ");
        }
        sql.push('(');
        for column in 0..SCORE_PARAMS {
            if column > 0 {
                sql.push_str(", ");
            }
            sql.push_str(&format!("?{}", row * SCORE_PARAMS + column + 1));
        }
        sql.push(')');
    }
    sql
}

pub const INSERT_FRAME_SCORE: &str =
    "INSERT INTO frame_scores (score_id, frame_index, value, runtime_ms) VALUES (?1, ?2, ?3, ?4)";

/// The file and line of the live row of (scorer, key).
pub const LIVE_SCORE_ORIGIN: &str = "SELECT source_file_id, line FROM scores \
    WHERE scorer_id = ?1 AND key = ?2 AND superseded_at IS NULL";

/// The live row holding (scorer, key), and where it came from.
pub const LIVE_SCORE_WITH_SOURCE: &str = concat!(
    "SELECT s.id, s.source_file_id, s.line, f.path, f.ingested_at, ",
    raw_key_of_s!(),
    " FROM scores s JOIN source_files f ON f.id = s.source_file_id \
    WHERE s.scorer_id = ?1 AND s.key = ?2 AND s.superseded_at IS NULL"
);

/// Supersede a live row at point ?3 (an ingest's point is its file's id).
pub const SUPERSEDE_SCORE: &str = "UPDATE scores \
    SET superseded_at = ?2, superseded_by_file = ?3, superseded_seq = ?3 WHERE id = ?1";

/// What a live row holds that `--replace` compares: value, status, reason.
pub const SCORE_CONTENT: &str = "SELECT score, status, reason FROM scores WHERE id = ?1";

/// A row's components, by name.
pub const SCORE_COMPONENTS: &str =
    "SELECT name, value FROM score_components WHERE score_id = ?1 ORDER BY name";

/// Each scorer with its live, ok, bad and superseded rows and its files.
/// Every count reads the kept counts (`live_row_counts`, one row per file
/// and scorer) or the file table, never the scores table: the answer
/// costs the same at any registry size.
pub const LIST_SCORERS: &str = "SELECT sc.name, sc.slug, sc.scale_min, sc.scale_max, sc.higher_is_better, \
    (SELECT COALESCE(SUM(n.ok_rows + n.bad_rows), 0) FROM live_row_counts n WHERE n.scorer_id = sc.id), \
    (SELECT COALESCE(SUM(n.ok_rows), 0) FROM live_row_counts n WHERE n.scorer_id = sc.id), \
    (SELECT COALESCE(SUM(n.bad_rows), 0) FROM live_row_counts n WHERE n.scorer_id = sc.id), \
    (SELECT COALESCE(SUM(n.superseded_rows), 0) FROM live_row_counts n WHERE n.scorer_id = sc.id), \
    (SELECT COUNT(*) FROM source_file_scorers x WHERE x.scorer_id = sc.id), \
    sc.typical_min, sc.typical_max, \
    (SELECT json_group_array(v) FROM (SELECT DISTINCT f.scorer_version AS v FROM live_row_counts n2 \
        JOIN source_files f ON f.id = n2.source_file_id \
        WHERE n2.scorer_id = sc.id AND n2.ok_rows + n2.bad_rows > 0 AND f.scorer_version IS NOT NULL \
        ORDER BY v)), \
    (SELECT json_group_array(w) FROM (SELECT DISTINCT f.warnings AS w FROM live_row_counts n3 \
        JOIN source_files f ON f.id = n3.source_file_id \
        WHERE n3.scorer_id = sc.id AND n3.ok_rows + n3.bad_rows > 0 AND f.warnings IS NOT NULL \
        ORDER BY f.id)) \
    FROM scorers sc ORDER BY sc.slug";

/// Each file with its rows, live rows and scorers: rows from
/// `source_file_scorers`, live rows (its own and the copies corrections
/// made of them) from the kept counts.
pub const LIST_FILES: &str =
    "SELECT f.id, f.path, f.absolute_path, f.sha256, f.size_bytes, f.format, f.label, \
    f.ingested_at, f.tool_version, COALESCE(n.rows, 0), COALESCE(l.rows, 0), \
    (SELECT json_group_array(name) FROM (SELECT sc.name FROM source_file_scorers x \
        JOIN scorers sc ON sc.id = x.scorer_id WHERE x.source_file_id = f.id ORDER BY sc.name)) \
    FROM source_files f \
    LEFT JOIN (SELECT source_file_id, SUM(rows) AS rows FROM source_file_scorers \
        GROUP BY source_file_id) n ON n.source_file_id = f.id \
    LEFT JOIN (SELECT source_file_id, SUM(ok_rows + bad_rows) AS rows FROM live_row_counts \
        GROUP BY source_file_id) l ON l.source_file_id = f.id \
    ORDER BY f.id";

/// Add a file's new live rows of one scorer to the kept counts (?1 file,
/// ?2 scorer, ?3 ok rows, ?4 bad rows, ?5 their digest sum or NULL).
/// Added, not set: rows of the file superseded while it was read (by a
/// later row of the same file) were already taken off by the trigger of
/// `0010_live_row_counts.sql`, which left the digest sum unknown.
pub const COUNT_FILE_ROWS: &str = "INSERT INTO live_row_counts \
    (source_file_id, scorer_id, ok_rows, bad_rows, superseded_rows, digest_sum) \
    VALUES (?1, ?2, ?3, ?4, 0, ?5) ON CONFLICT (source_file_id, scorer_id) DO UPDATE SET \
    ok_rows = ok_rows + excluded.ok_rows, bad_rows = bad_rows + excluded.bad_rows, \
    digest_sum = NULL";

/// Add row ?1, a correction's new live copy, to the kept counts; the
/// (file, scorer)'s digest sum becomes unknown.
pub const COUNT_COPIED_ROW: &str =
    "INSERT INTO live_row_counts (source_file_id, scorer_id, ok_rows, bad_rows, superseded_rows) \
    SELECT source_file_id, scorer_id, status = 'ok', status = 'bad', 0 FROM scores WHERE id = ?1 \
    ON CONFLICT (source_file_id, scorer_id) DO UPDATE SET \
    ok_rows = ok_rows + excluded.ok_rows, bad_rows = bad_rows + excluded.bad_rows, \
    digest_sum = NULL";

pub const SCORER_NAME_BY_SLUG: &str = "SELECT id, name FROM scorers WHERE slug = ?1";

pub const ALL_SCORERS: &str = "SELECT id, name FROM scorers ORDER BY slug";

/// Scorer ?1's keys (live or superseded) in [?2, ?3): with ?2 = `stem.` and
/// ?3 = `stem/`, the keys that start with `stem.`, read through the two
/// partial (scorer, key) indexes.
pub const KEYS_FROM_STEM: &str = "SELECT key FROM scores \
    WHERE scorer_id = ?1 AND key >= ?2 AND key < ?3 AND superseded_at IS NULL \
    UNION SELECT key FROM scores \
    WHERE scorer_id = ?1 AND key >= ?2 AND key < ?3 AND superseded_at IS NOT NULL \
    ORDER BY 1 LIMIT 1000";

/// Every row (live and superseded) of a scorer whose key (or, with ?3, raw
/// key) is ?2, live first, then newest first. The key is found through the
/// live and the superseded partial indexes; only the raw-key match scans.
pub const SCORE_HISTORY: &str = concat!(
    "SELECT s.key, ",
    raw_key_of_s!(),
    ", s.key_field, s.score, s.status, s.reason, \
    s.runtime_ms, s.frame_count, s.line, f.ingested_at, s.superseded_at, \
    f.path, f.absolute_path, f.sha256, f.format, f.label, r.path, f.scorer_version, s.note, \
    COALESCE(s.born_seq, s.source_file_id), s.superseded_seq, s.raw_value \
    FROM scores s JOIN source_files f ON f.id = s.source_file_id \
    LEFT JOIN source_files r ON r.id = s.superseded_by_file \
    WHERE s.id IN ( \
        SELECT id FROM scores WHERE scorer_id = ?1 AND key = ?2 AND superseded_at IS NULL \
        UNION ALL \
        SELECT id FROM scores WHERE scorer_id = ?1 AND key = ?2 AND superseded_at IS NOT NULL \
        UNION ALL \
        SELECT s.id FROM scores s WHERE ?3 AND s.scorer_id = ?1 AND ",
    raw_key_of_s!(),
    " = ?2) \
    ORDER BY s.superseded_at IS NOT NULL, s.id DESC"
);

/// `$select` (a query over `scores s`, joined to what it needs, ending in
/// WHERE) for scorer ?1's rows live at point ?2: the rows live now that
/// were born by ?2, then the rows superseded after ?2 that were born by ?2,
/// each half read through one of the two partial (scorer, key) indexes,
/// each row once, with no set of ids built first. A row was born by ?2
/// exactly when its id is at most the last score id at ?2 (ids only grow,
/// rows are never deleted): a test on the index entry itself, so a row
/// born later is skipped without being read.
macro_rules! at_point {
    ($select:expr) => {
        concat!(
            $select,
            " s.scorer_id = ?1 AND s.superseded_at IS NULL \
              AND s.id <= (SELECT last_score_id FROM changes WHERE seq = ?2) \
             UNION ALL ",
            $select,
            " s.scorer_id = ?1 AND s.superseded_at IS NOT NULL AND s.superseded_seq > ?2 \
              AND s.id <= (SELECT last_score_id FROM changes WHERE seq = ?2)"
        )
    };
}

/// Scorers with a score live at point ?1, with the settings in force then.
pub const SCORERS_AT_POINT: &str = "SELECT r.scorer_id, r.name, r.slug, r.scale_min, r.scale_max, \
    r.typical_min, r.typical_max, r.higher_is_better FROM scorer_revisions r \
    WHERE r.seq = (SELECT MAX(seq) FROM scorer_revisions x WHERE x.scorer_id = r.scorer_id AND x.seq <= ?1) \
    AND (EXISTS (SELECT 1 FROM scores s WHERE s.scorer_id = r.scorer_id AND s.superseded_at IS NULL \
            AND s.id <= (SELECT last_score_id FROM changes WHERE seq = ?1)) \
        OR EXISTS (SELECT 1 FROM scores s WHERE s.scorer_id = r.scorer_id AND s.superseded_at IS NOT NULL \
            AND s.superseded_seq > ?1 AND s.id <= (SELECT last_score_id FROM changes WHERE seq = ?1))) \
    ORDER BY r.slug";

/// The scores of scorer ?1 live at point ?2 (in no particular order).
pub const SCORES_AT_POINT: &str = at_point!(
    "SELECT s.key, s.score, s.status, s.runtime_ms, s.frame_count, s.source_file_id \
     FROM scores s WHERE"
);

/// The keys of scorer ?1's scores live at point ?2: as stored, as the
/// file wrote them and the field they came from.
pub const KEY_FORMS_AT_POINT: &str = at_point!(concat!(
    "SELECT s.key, ",
    raw_key_of_s!(),
    ", s.key_field FROM scores s WHERE"
));

/// The scores of scorer ?1 live at point ?2 with their keys' written
/// forms and fields (see [`LIVE_SCORES_WITH_KEY_FORMS_OF_SCORER`]).
pub const SCORES_WITH_KEY_FORMS_AT_POINT: &str = at_point!(concat!(
    "SELECT s.key, s.score, s.status, s.runtime_ms, s.frame_count, s.source_file_id, ",
    written_key_of_s!(),
    ", s.key_field FROM scores s WHERE"
));

/// The components of scorer ?1's scores live at point ?2, by name then key.
pub const COMPONENTS_AT_POINT: &str = concat!(
    "SELECT * FROM (",
    at_point!(
        "SELECT s.key, c.name, c.value FROM scores s \
         JOIN score_components c ON c.score_id = s.id WHERE"
    ),
    ") ORDER BY 2, 1"
);

/// The frames of scorer ?1's scores live at point ?2: a score's frames
/// together, in frame order (the primary key's); the scores in no
/// particular order.
pub const FRAMES_AT_POINT: &str = at_point!(
    "SELECT s.key, f.frame_index, f.value, f.runtime_ms FROM scores s \
     JOIN frame_scores f ON f.score_id = s.id WHERE"
);

/// The versions of the files scorer ?1's scores live at point ?2 came from.
pub const VERSIONS_AT_POINT: &str = concat!(
    "SELECT DISTINCT v FROM (",
    at_point!(
        "SELECT f.scorer_version AS v FROM scores s \
         JOIN source_files f ON f.id = s.source_file_id WHERE f.scorer_version IS NOT NULL AND"
    ),
    ") ORDER BY 1"
);

/// Scorer ?1's rows live at point ?2 with where they came from.
pub const ROWS_AT_POINT_WITH_SOURCE: &str = at_point!(
    "SELECT s.key, s.score, s.status, f.path, s.line FROM scores s \
     JOIN source_files f ON f.id = s.source_file_id WHERE"
);

/// Scorer ?1's rows live at point ?2, counted by file and status.
pub const FILES_AT_POINT: &str = concat!(
    "SELECT f.id, f.path, f.sha256, f.ingested_at, f.scorer_version, \
        SUM(r.status = 'ok'), SUM(r.status = 'bad') FROM (",
    at_point!("SELECT s.source_file_id AS file, s.status FROM scores s WHERE"),
    ") r JOIN source_files f ON f.id = r.file GROUP BY f.id ORDER BY f.id"
);

/// The columns `export --scores-only` writes of a row, from `scores s`
/// joined to its file `f`.
macro_rules! scores_table_columns {
    () => {
        "SELECT s.key, s.score, s.status, s.runtime_ms, s.frame_count, f.path, s.line, f.sha256, \
            f.ingested_at, f.scorer_version, s.source_file_id \
         FROM scores s JOIN source_files f ON f.id = s.source_file_id "
    };
}

/// Scorer ?1's live rows for `export --scores-only`, by key.
pub const SCORES_TABLE_LIVE: &str = concat!(
    scores_table_columns!(),
    "WHERE s.scorer_id = ?1 AND s.superseded_at IS NULL ORDER BY s.key"
);

/// Scorer ?1's rows live at point ?2 for `export --scores-only`, by key.
pub const SCORES_TABLE_AT_POINT: &str = concat!(
    "SELECT * FROM (",
    at_point!(concat!(scores_table_columns!(), "WHERE")),
    ") ORDER BY 1"
);

/// Scorers with at least one live score, by slug.
pub const LIVE_SCORERS: &str = "SELECT sc.id, sc.name, sc.slug, sc.scale_min, sc.scale_max, \
    sc.typical_min, sc.typical_max, sc.higher_is_better FROM scorers sc \
    WHERE EXISTS (SELECT 1 FROM scores s WHERE s.scorer_id = sc.id AND s.superseded_at IS NULL) \
    ORDER BY sc.slug";

/// The components of one scorer's live scores.
pub const LIVE_COMPONENTS_OF_SCORER: &str = "SELECT s.key, c.name, c.value \
    FROM score_components c JOIN scores s ON s.id = c.score_id \
    WHERE s.scorer_id = ?1 AND s.superseded_at IS NULL ORDER BY c.name, s.key";

/// The frames of one scorer's live scores, by key and frame index.
pub const LIVE_FRAMES_OF_SCORER: &str = "SELECT s.key, f.frame_index, f.value, f.runtime_ms \
    FROM frame_scores f JOIN scores s ON s.id = f.score_id \
    WHERE s.scorer_id = ?1 AND s.superseded_at IS NULL ORDER BY s.key, f.frame_index";

/// The live scores of one scorer, in key order.
pub const LIVE_SCORES_OF_SCORER: &str =
    "SELECT key, score, status, runtime_ms, frame_count, source_file_id \
    FROM scores WHERE scorer_id = ?1 AND superseded_at IS NULL ORDER BY key";

/// [`LIVE_SCORES_OF_SCORER`] by a scan of the table in id order, in no
/// key order (see `Registry::live_rows_are_dense`).
pub const LIVE_SCORES_OF_SCORER_SCANNED: &str =
    "SELECT key, score, status, runtime_ms, frame_count, source_file_id \
    FROM scores NOT INDEXED WHERE scorer_id = ?1 AND superseded_at IS NULL";

/// Scorer ?1's live score rows, and every score row of the registry
/// (live or superseded), from the kept counts.
pub const LIVE_AND_ALL_SCORE_ROWS: &str = "SELECT \
    COALESCE(SUM(CASE WHEN scorer_id = ?1 THEN ok_rows + bad_rows ELSE 0 END), 0), \
    COALESCE(SUM(ok_rows + bad_rows + superseded_rows), 0) FROM live_row_counts";

/// The keys of one scorer's live scores: as stored, as the file wrote
/// them and the field they came from.
pub const LIVE_KEY_FORMS_OF_SCORER: &str = concat!(
    "SELECT s.key, ",
    raw_key_of_s!(),
    ", s.key_field FROM scores s WHERE s.scorer_id = ?1 AND s.superseded_at IS NULL"
);

/// [`LIVE_KEY_FORMS_OF_SCORER`] by a scan of the table in id order (see
/// `Registry::live_rows_are_dense`).
pub const LIVE_KEY_FORMS_OF_SCORER_SCANNED: &str = concat!(
    "SELECT s.key, ",
    raw_key_of_s!(),
    ", s.key_field FROM scores s NOT INDEXED WHERE s.scorer_id = ?1 AND s.superseded_at IS NULL"
);

/// The live scores of one scorer with their keys as the file wrote them
/// and the field they came from: [`LIVE_SCORES_OF_SCORER`] and
/// [`LIVE_KEY_FORMS_OF_SCORER`] in one read, for an export that
/// normalises the registry's keys (in no particular order).
pub const LIVE_SCORES_WITH_KEY_FORMS_OF_SCORER: &str = concat!(
    "SELECT s.key, s.score, s.status, s.runtime_ms, s.frame_count, s.source_file_id, ",
    written_key_of_s!(),
    ", s.key_field FROM scores s WHERE s.scorer_id = ?1 AND s.superseded_at IS NULL"
);

/// [`LIVE_SCORES_WITH_KEY_FORMS_OF_SCORER`] by a scan of the table in id
/// order (see `Registry::live_rows_are_dense`).
pub const LIVE_SCORES_WITH_KEY_FORMS_OF_SCORER_SCANNED: &str = concat!(
    "SELECT s.key, s.score, s.status, s.runtime_ms, s.frame_count, s.source_file_id, ",
    written_key_of_s!(),
    ", s.key_field FROM scores s NOT INDEXED WHERE s.scorer_id = ?1 AND s.superseded_at IS NULL"
);

pub const SOURCE_FILE_PATHS: &str = "SELECT id, path, sha256 FROM source_files";

pub const INSERT_EXPORT: &str = "INSERT INTO exports \
    (created_at, command, features_path, features_sha256, output_path, output_sha256, output_format, \
     input_rows, output_rows, scorers, options, registry_state, registry_digest, tool_version, \
     seq, as_of, content_digest, note, state, recorded_by) \
    VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, 'pending', ?19)";

pub const CONFIRM_EXPORT: &str = "UPDATE exports SET state = 'published' WHERE id = ?1";

pub const ABANDON_EXPORT: &str =
    "UPDATE exports SET state = 'abandoned', settled_at = ?2 WHERE id = ?1 AND state = 'pending'";

/// Exports recorded but not confirmed (read through the partial index).
pub const PENDING_EXPORTS: &str = "SELECT id, created_at, output_path, output_sha256, recorded_by \
    FROM exports WHERE state = 'pending' ORDER BY id";

pub const SETTLE_EXPORT: &str =
    "UPDATE exports SET state = ?2, settled_at = ?3 WHERE id = ?1 AND state = 'pending'";

pub const LIST_EXPORTS: &str = "SELECT id, created_at, command, features_path, features_sha256, output_path, \
    output_sha256, output_format, input_rows, output_rows, scorers, options, registry_state, registry_digest, \
    tool_version, seq, seq_inferred, as_of, content_digest, note, state FROM exports ORDER BY id";

/// An export's record and its tag are written together.
pub const BEGIN_RECORD_SAVEPOINT: &str = "SAVEPOINT record_export";
pub const RELEASE_RECORD_SAVEPOINT: &str = "RELEASE record_export";
pub const ROLLBACK_RECORD_SAVEPOINT: &str = "ROLLBACK TO record_export; RELEASE record_export";

/// The newest point and when it committed.
pub const LATEST_CHANGE: &str = "SELECT seq, at FROM changes ORDER BY seq DESC LIMIT 1";

/// The last point committed at or before a time (times compare as text).
pub const LAST_CHANGE_AT_OR_BEFORE: &str = "SELECT MAX(seq) FROM changes WHERE at <= ?1";

pub const FIRST_CHANGE_AT: &str = "SELECT at FROM changes ORDER BY seq LIMIT 1";

pub const CHANGE_AT: &str = "SELECT at FROM changes WHERE seq = ?1";

/// A new point; its seq is the row id.
pub const INSERT_CHANGE: &str = "INSERT INTO changes (at, kind, detail) VALUES (?1, ?2, ?3)";

/// A change's time and its last score id, set again as it commits.
pub const SET_CHANGE_AT: &str = "UPDATE changes SET at = ?2, \
    last_score_id = (SELECT COALESCE(MAX(id), 0) FROM scores) WHERE seq = ?1";

pub const EXPORT_SEQ: &str = "SELECT seq FROM exports WHERE id = ?1";

pub const EXPORT_ID_RANGE: &str = "SELECT MIN(id), MAX(id) FROM exports";

pub const TAG_BY_NAME: &str = "SELECT seq, export_id FROM tags WHERE name = ?1";

pub const TAG_DETAILS: &str = "SELECT seq, export_id, created_at FROM tags WHERE name = ?1";

pub const INSERT_TAG: &str =
    "INSERT INTO tags (name, seq, export_id, created_at) VALUES (?1, ?2, ?3, ?4)";

pub const LIST_TAGS: &str = "SELECT name, seq, export_id, created_at FROM tags ORDER BY name";

/// Files by id, sha256, path as given or absolute path, with their live
/// rows (from the kept counts).
pub const FILES_MATCHING: &str = "SELECT f.id, f.path, f.sha256, f.ingested_at, f.retired_seq, \
    (SELECT COALESCE(SUM(n.ok_rows + n.bad_rows), 0) FROM live_row_counts n \
        WHERE n.source_file_id = f.id) \
    FROM source_files f WHERE f.id = ?1 OR f.sha256 = ?2 OR f.path = ?2 OR f.absolute_path = ?2 \
        OR f.absolute_path = ?3 ORDER BY f.id";

/// The rows a file's ingest superseded whose keys the file still holds
/// live: what `files retire --restore-previous` makes live again.
pub const ROWS_SUPERSEDED_BY_FILE: &str = "SELECT p.id FROM scores p \
    WHERE p.superseded_by_file = ?1 AND p.source_file_id <> ?1 \
    AND EXISTS (SELECT 1 FROM scores r WHERE r.scorer_id = p.scorer_id AND r.key = p.key \
        AND r.superseded_at IS NULL AND r.source_file_id = ?1) \
    ORDER BY p.id";

/// Supersede, at point ?2, every live row of file ?1 (no file supersedes them).
pub const RETIRE_FILE_ROWS: &str = "UPDATE scores SET superseded_at = ?3, superseded_seq = ?2 \
    WHERE source_file_id = ?1 AND superseded_at IS NULL";

pub const SET_FILE_RETIRED: &str = "UPDATE source_files SET retired_seq = ?2 WHERE id = ?1";

/// Supersede one row at point ?2 (a correction; no file supersedes it).
pub const SUPERSEDE_ROW_AT: &str =
    "UPDATE scores SET superseded_at = ?3, superseded_seq = ?2 WHERE id = ?1";

/// A copy of row ?1 made live at point ?2, for scorer ?3, with the score,
/// status, reason and raw value ?4…?7 (a correction keeps where the row
/// came from: its file and line).
pub const COPY_ROW: &str =
    "INSERT INTO scores (scorer_id, key, raw_key, key_field, score, status, \
    reason, note, runtime_ms, frame_count, source_file_id, line, raw_value, born_seq, raw_key_prefix) \
    SELECT ?3, key, raw_key, key_field, ?4, ?5, ?6, note, runtime_ms, frame_count, source_file_id, \
        line, ?7, ?2, raw_key_prefix FROM scores WHERE id = ?1";

pub const COPY_COMPONENTS: &str = "INSERT INTO score_components (score_id, name, value) \
    SELECT ?2, name, value FROM score_components WHERE score_id = ?1";

pub const COPY_FRAMES: &str =
    "INSERT INTO frame_scores (score_id, frame_index, value, runtime_ms) \
    SELECT ?2, frame_index, value, runtime_ms FROM frame_scores WHERE score_id = ?1";

/// A row as a correction copies it: its scorer and what it holds.
pub const ROW_FOR_COPY: &str =
    "SELECT scorer_id, score, status, reason, raw_value FROM scores WHERE id = ?1";

/// Scorer ?1's live rows, with what a new scale judges.
pub const LIVE_ROWS_TO_JUDGE: &str = "SELECT id, score, status, reason, raw_value FROM scores \
    WHERE scorer_id = ?1 AND superseded_at IS NULL";

/// A scorer's settings, by slug (not following merges).
pub const SCORER_SETTINGS: &str = "SELECT id, name, slug, scale_min, scale_max, higher_is_better, \
    version, merged_into FROM scorers WHERE slug = ?1";

pub const SET_SCORER_SETTINGS: &str = "UPDATE scorers SET scale_min = ?2, scale_max = ?3, \
    higher_is_better = ?4, version = ?5 WHERE id = ?1";

pub const RENAME_SCORER: &str = "UPDATE scorers SET name = ?2, slug = ?3 WHERE id = ?1";

pub const MERGE_SCORER: &str = "UPDATE scorers SET merged_into = ?2 WHERE id = ?1";

/// Keys live for both scorers ?1 and ?2.
pub const KEYS_LIVE_FOR_BOTH: &str = "SELECT a.key FROM scores a JOIN scores b \
    ON b.scorer_id = ?2 AND b.key = a.key AND b.superseded_at IS NULL \
    WHERE a.scorer_id = ?1 AND a.superseded_at IS NULL ORDER BY a.key";

/// Scorer ?1's live row ids.
pub const LIVE_ROW_IDS: &str =
    "SELECT id FROM scores WHERE scorer_id = ?1 AND superseded_at IS NULL ORDER BY key";

/// The tables of a database, but SQLite's own.
pub const USER_TABLES: &str =
    "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name";

// ---- Exports that follow their table (issue 18): probes of the live
// index by key, and the kept per-(file, scorer) digest sums.

/// Scorer ?1's live score of key ?2, with the row's id (through the
/// live unique index `scores_live_scorer_key`).
pub const LIVE_SCORE_BY_KEY: &str =
    "SELECT id, score, status, runtime_ms, frame_count, source_file_id \
    FROM scores WHERE scorer_id = ?1 AND key = ?2 AND superseded_at IS NULL";

/// How many live scores scorer ?1 has (the kept counts).
pub const LIVE_SCORE_COUNT: &str =
    "SELECT COALESCE(SUM(ok_rows + bad_rows), 0) FROM live_row_counts WHERE scorer_id = ?1";

/// Whether scorer ?1 has a live score of key ?2 (the index alone).
pub const HAS_LIVE_KEY: &str =
    "SELECT 1 FROM scores WHERE scorer_id = ?1 AND key = ?2 AND superseded_at IS NULL";

/// The stored frames of score ?1, in frame order.
pub const FRAMES_OF_SCORE: &str =
    "SELECT frame_index, value, runtime_ms FROM frame_scores WHERE score_id = ?1 ORDER BY frame_index";

/// The components of score ?1, by name.
pub const COMPONENTS_OF_SCORE: &str =
    "SELECT name, value FROM score_components WHERE score_id = ?1 ORDER BY name";

/// The names of scorer ?1's live scores' components, in order: read from
/// the component rows (a registry without components reads nothing).
pub const LIVE_COMPONENT_NAMES_OF_SCORER: &str = "SELECT DISTINCT c.name \
    FROM score_components c CROSS JOIN scores s \
    WHERE s.id = c.score_id AND s.scorer_id = ?1 AND s.superseded_at IS NULL ORDER BY c.name";

/// Scorer ?1's live keys, in key order (the live index alone).
pub const LIVE_KEYS_IN_ORDER: &str =
    "SELECT key FROM scores WHERE scorer_id = ?1 AND superseded_at IS NULL ORDER BY key";

/// The first of scorer ?1's live keys in key order (the live unique index).
pub const FIRST_LIVE_KEY: &str = "SELECT key FROM scores \
    WHERE scorer_id = ?1 AND superseded_at IS NULL ORDER BY key LIMIT 1";

/// The last of scorer ?1's live keys in key order (the live unique index).
pub const LAST_LIVE_KEY: &str = "SELECT key FROM scores \
    WHERE scorer_id = ?1 AND superseded_at IS NULL ORDER BY key DESC LIMIT 1";

/// Per file with live rows of scorer ?1: how many, and their digest sum
/// (NULL while unknown).
pub const LIVE_DIGEST_SUMS_OF_SCORER: &str =
    "SELECT source_file_id, ok_rows + bad_rows, digest_sum FROM live_row_counts \
    WHERE scorer_id = ?1 AND ok_rows + bad_rows > 0 ORDER BY source_file_id";

/// Every (file, scorer) with live rows whose digest sum is unknown.
pub const UNKNOWN_DIGEST_SUMS: &str = "SELECT source_file_id, scorer_id FROM live_row_counts \
    WHERE digest_sum IS NULL AND ok_rows + bad_rows > 0 ORDER BY source_file_id, scorer_id";

/// The score ids file ?1's ingest gave its rows: after every id of an
/// earlier point, up to its own point's last (NULL while the point is
/// not stamped yet: the ingest is still writing).
pub const FILE_SCORE_IDS: &str =
    "SELECT COALESCE((SELECT MAX(last_score_id) FROM changes WHERE seq < ?1), 0), \
    (SELECT last_score_id FROM changes WHERE seq = ?1 AND last_score_id > 0)";

/// The live rows of file ?1 for scorer ?2: its own (ids in (?3, ?4]) and
/// the copies corrections made of them (`scores_copies_by_file`).
pub const LIVE_ROWS_OF_FILE_AND_SCORER: &str = "SELECT key, score, status FROM scores \
    WHERE id > ?3 AND id <= ?4 AND source_file_id = ?1 AND scorer_id = ?2 \
      AND born_seq IS NULL AND superseded_at IS NULL \
    UNION ALL \
    SELECT key, score, status FROM scores \
    WHERE source_file_id = ?1 AND born_seq IS NOT NULL AND scorer_id = ?2 AND superseded_at IS NULL";

/// Set the digest sum of file ?1's live rows of scorer ?2 to ?3.
pub const SET_DIGEST_SUM: &str =
    "UPDATE live_row_counts SET digest_sum = ?3 WHERE source_file_id = ?1 AND scorer_id = ?2";

/// The versions of the files one scorer's live scores came from, from
/// the kept counts.
pub const LIVE_VERSIONS_FROM_COUNTS: &str = "SELECT DISTINCT f.scorer_version \
    FROM live_row_counts n JOIN source_files f ON f.id = n.source_file_id \
    WHERE n.scorer_id = ?1 AND n.ok_rows + n.bad_rows > 0 AND f.scorer_version IS NOT NULL \
    ORDER BY 1";
