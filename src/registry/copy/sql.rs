//! The queries of `registry copy`: a PostgreSQL source read into the
//! common form of [`super::tables`], and what a target does around the
//! rows it takes.

use super::tables::Table;

/// A source's rows of `table` in the common form, when its own schema
/// holds them as they are (every table of SQLite; most of PostgreSQL).
pub(super) fn select_as_is(table: &Table) -> String {
    let columns: Vec<&str> = table.columns.iter().map(|c| c.name).collect();
    format!(
        "SELECT {} FROM {} ORDER BY {}",
        columns.join(", "),
        table.name,
        table.order_by
    )
}

/// A target's insert of one row of `table`, for the columns it stores.
pub(super) fn insert_sqlite(table: &Table) -> String {
    let columns: Vec<&str> = table.columns_on(false).map(|c| c.name).collect();
    let marks: Vec<String> = (1..=columns.len()).map(|i| format!("?{i}")).collect();
    format!(
        "INSERT INTO {} ({}) VALUES ({})",
        table.name,
        columns.join(", "),
        marks.join(", ")
    )
}

/// A PostgreSQL target's bulk load of `table`.
pub(super) fn copy_in_postgres(table: &Table) -> String {
    let columns: Vec<&str> = table.columns_on(true).map(|c| c.name).collect();
    format!(
        "COPY {} ({}) FROM STDIN (FORMAT binary)",
        table.name,
        columns.join(", ")
    )
}

/// Whether a target's table holds any row.
pub(super) fn any_row(table: &str) -> String {
    format!("SELECT EXISTS (SELECT 1 FROM {table})")
}

// ---- a PostgreSQL source

/// The source's one snapshot: every table is read as of one moment, while
/// machines may go on ingesting. Not READ ONLY: the renumbering below is a
/// temporary table of this session.
pub(super) const POSTGRES_BEGIN_SOURCE: &str = "BEGIN ISOLATION LEVEL REPEATABLE READ";

/// A score's id in the common form. PostgreSQL hands ids out as rows are
/// inserted, and concurrent ingests interleave them, while SQLite's as-of
/// reads need ids that grow with the point a row was born at (a row born
/// by point P has an id at most `changes.last_score_id` of P). So rows
/// are numbered again in the order of their birth point, then their id.
pub(super) const POSTGRES_NUMBER_SCORES: &str = "\
    CREATE TEMPORARY TABLE copy_score_ids ON COMMIT DROP AS \
        SELECT s.id AS old_id, \
               ROW_NUMBER() OVER (ORDER BY COALESCE(s.born_seq, f.seq), s.id) AS new_id, \
               COALESCE(s.born_seq, f.seq) AS born \
        FROM scores s JOIN source_files f ON f.id = s.source_file_id; \
    CREATE INDEX ON copy_score_ids (old_id); \
    CREATE INDEX ON copy_score_ids (born, new_id); \
    ANALYZE copy_score_ids";

pub(super) const POSTGRES_END_SOURCE: &str = "COMMIT";

/// The rows of `table` from a PostgreSQL source, where its schema differs
/// from the common form: a file's id there is its point (`seq`), scores
/// are renumbered (see [`POSTGRES_NUMBER_SCORES`]), and what PostgreSQL
/// does not keep is derived (the kept counts, a point's last score id).
pub(super) fn select_postgres(table: &Table) -> String {
    match table.name {
        // Every scorer has its revisions there (migrations/postgres/0002);
        // one still pending belongs to a transaction this snapshot cannot
        // see, so none is read.
        "scorer_revisions" => "\
            SELECT scorer_id, seq, name, slug, scale_min, scale_max, higher_is_better, \
                   typical_min, typical_max, version, merged_into \
            FROM scorer_revisions WHERE seq IS NOT NULL ORDER BY scorer_id, seq"
            .to_string(),
        "source_files" => "\
            SELECT seq, path, absolute_path, sha256, size_bytes, format, label, ingested_at, \
                   tool_version, scorer_version, warnings, options, retired_seq \
            FROM source_files WHERE seq IS NOT NULL ORDER BY seq"
            .to_string(),
        "changes" => "\
            SELECT c.seq, c.at, c.kind, c.detail, \
                   COALESCE((SELECT n.new_id FROM copy_score_ids n WHERE n.born <= c.seq \
                             ORDER BY n.born DESC, n.new_id DESC LIMIT 1), 0) \
            FROM changes c ORDER BY c.seq"
            .to_string(),
        "source_file_scorers" => "\
            SELECT f.seq, x.scorer_id, x.rows FROM source_file_scorers x \
            JOIN source_files f ON f.id = x.source_file_id ORDER BY 1, 2"
            .to_string(),
        // Keys as written are whole in `scores.raw_key`.
        "raw_key_prefixes" => "SELECT NULL::int8, NULL::text WHERE FALSE".to_string(),
        "scores" => "\
            SELECT n.new_id, s.scorer_id, s.key, s.raw_key, s.key_field, s.score, s.status, \
                   s.reason, s.note, s.runtime_ms, s.frame_count, f.seq, s.line, s.raw_value, \
                   s.superseded_at, g.seq, s.born_seq, s.superseded_seq, NULL::int8 \
            FROM scores s \
            JOIN copy_score_ids n ON n.old_id = s.id \
            JOIN source_files f ON f.id = s.source_file_id \
            LEFT JOIN source_files g ON g.id = s.superseded_by_file \
            ORDER BY n.new_id"
            .to_string(),
        "score_components" => "\
            SELECT n.new_id, c.name, c.value FROM score_components c \
            JOIN copy_score_ids n ON n.old_id = c.score_id ORDER BY 1, 2"
            .to_string(),
        "frame_scores" => "\
            SELECT n.new_id, r.frame_index, r.value, r.runtime_ms FROM frame_scores r \
            JOIN copy_score_ids n ON n.old_id = r.score_id ORDER BY 1, 2"
            .to_string(),
        "live_row_counts" => "\
            SELECT f.seq, s.scorer_id, \
                   COUNT(*) FILTER (WHERE s.superseded_at IS NULL AND s.status = 'ok'), \
                   COUNT(*) FILTER (WHERE s.superseded_at IS NULL AND s.status = 'bad'), \
                   COUNT(*) FILTER (WHERE s.superseded_at IS NOT NULL) \
            FROM scores s JOIN source_files f ON f.id = s.source_file_id \
            GROUP BY f.seq, s.scorer_id ORDER BY 1, 2"
            .to_string(),
        _ => select_as_is(table),
    }
}

// ---- a target

/// Taken first by a PostgreSQL target: no ingest, export or correction
/// commits into it while the copy checks it is empty and fills it.
pub(super) const POSTGRES_LOCK_TARGET: &str = "LOCK TABLE scorers, source_files, changes, \
    scores, exports, tags, registry_clock IN SHARE ROW EXCLUSIVE MODE";

/// A PostgreSQL target's scorers come with their own revisions: its
/// triggers make none from the copied `scorers` rows
/// (`migrations/postgres/0002`); the copied revisions are stamped already.
pub(super) const POSTGRES_REVISIONS_GIVEN: &str = "SET LOCAL second_opinion.revisions_given = 'on'";

/// A new registry's seeded signal families make way for the source's.
pub(super) const CLEAR_SEEDED_FAMILIES: &str = "DELETE FROM family_patterns; \
    DELETE FROM family_candidates; DELETE FROM signal_families";

/// SQLite's triggers record a revision of each scorer as it is inserted;
/// the source's own revisions replace them.
pub(super) const CLEAR_TRIGGERED_REVISIONS: &str = "DELETE FROM scorer_revisions";

/// After the rows, on PostgreSQL: a file's point is its id (the common
/// form's rule), a file's rows are found by their ids' bounds
/// (`migrations/postgres/0005`), an ingest's change names its file, the
/// clock and the id sequences go on after the copied rows.
pub(super) const POSTGRES_AFTER_ROWS: &str = "\
    UPDATE source_files SET seq = id; \
    UPDATE source_files f SET first_score_id = r.first, last_score_id = r.last \
        FROM (SELECT source_file_id, MIN(id) AS first, MAX(id) AS last FROM scores \
              WHERE born_seq IS NULL GROUP BY source_file_id) r \
        WHERE r.source_file_id = f.id; \
    UPDATE source_files SET first_score_id = 1, last_score_id = 0 WHERE last_score_id IS NULL; \
    UPDATE changes c SET file_id = c.seq WHERE c.kind = 'ingest' \
        AND EXISTS (SELECT 1 FROM source_files f WHERE f.id = c.seq); \
    UPDATE registry_clock SET seq = (SELECT COALESCE(MAX(seq), 0) FROM changes); \
    SELECT setval(pg_get_serial_sequence('scorers', 'id'), \
        COALESCE((SELECT MAX(id) FROM scorers), 0) + 1, false); \
    SELECT setval(pg_get_serial_sequence('source_files', 'id'), \
        COALESCE((SELECT MAX(id) FROM source_files), 0) + 1, false); \
    SELECT setval(pg_get_serial_sequence('scores', 'id'), \
        COALESCE((SELECT MAX(id) FROM scores), 0) + 1, false); \
    SELECT setval(pg_get_serial_sequence('exports', 'id'), \
        COALESCE((SELECT MAX(id) FROM exports), 0) + 1, false); \
    SELECT setval(pg_get_serial_sequence('signal_families', 'id'), \
        COALESCE((SELECT MAX(id) FROM signal_families), 0) + 1, false); \
    SELECT setval(pg_get_serial_sequence('audit_runs', 'id'), \
        COALESCE((SELECT MAX(id) FROM audit_runs), 0) + 1, false); \
    SELECT setval(pg_get_serial_sequence('audit_inputs', 'id'), \
        COALESCE((SELECT MAX(id) FROM audit_inputs), 0) + 1, false)";

/// After the rows, on SQLite (whose reference checks were off while rows
/// came in any order): any row naming one that is not there.
pub(super) const SQLITE_FOREIGN_KEY_CHECK: &str = "PRAGMA foreign_key_check";
