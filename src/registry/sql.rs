//! Named queries of the registry. The schema itself lives in `migrations/`.

/// A write transaction that takes the lock at once, so concurrent ingests
/// queue on the busy timeout instead of failing on an upgrade.
pub const BEGIN_WRITE: &str = "BEGIN IMMEDIATE";
/// A read transaction: one snapshot for everything an export reads.
pub const BEGIN_READ: &str = "BEGIN DEFERRED";
pub const COMMIT: &str = "COMMIT";
pub const ROLLBACK: &str = "ROLLBACK";
pub const BEGIN_FILE_SAVEPOINT: &str = "SAVEPOINT ingest_file";
pub const RELEASE_FILE_SAVEPOINT: &str = "RELEASE ingest_file";
pub const ROLLBACK_FILE_SAVEPOINT: &str = "ROLLBACK TO ingest_file; RELEASE ingest_file";

pub const INSERT_SOURCE_FILE: &str = "INSERT INTO source_files \
    (path, absolute_path, sha256, size_bytes, format, label, ingested_at, tool_version, scorer_version) \
    VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)";

pub const SET_FILE_WARNINGS: &str = "UPDATE source_files SET warnings = ?2 WHERE id = ?1";

pub const INSERT_SCORE_COMPONENT: &str =
    "INSERT INTO score_components (score_id, name, value) VALUES (?1, ?2, ?3)";

/// Scorers that earlier ingests of the same bytes produced, with when.
pub const SCORERS_INGESTED_FROM_SHA256: &str = "SELECT sc.slug, MIN(f.ingested_at) \
    FROM source_files f \
    JOIN scores s ON s.source_file_id = f.id \
    JOIN scorers sc ON sc.id = s.scorer_id \
    WHERE f.sha256 = ?1 GROUP BY sc.slug";

pub const SCORER_BY_SLUG: &str =
    "SELECT id, name, scale_min, scale_max, higher_is_better, typical_min, typical_max \
     FROM scorers WHERE slug = ?1";

pub const INSERT_SCORER: &str = "INSERT INTO scorers (name, slug, created_at) VALUES (?1, ?2, ?3)";

pub const SET_SCORER_SCALE: &str =
    "UPDATE scorers SET scale_min = ?2, scale_max = ?3 WHERE id = ?1";

pub const SET_SCORER_KNOWN_DEFAULTS: &str = "UPDATE scorers SET scale_min = ?2, scale_max = ?3, \
    typical_min = ?4, typical_max = ?5, higher_is_better = ?6 WHERE id = ?1";

pub const SET_SCORER_DIRECTION: &str = "UPDATE scorers SET higher_is_better = ?2 WHERE id = ?1";

pub const INSERT_SCORE: &str = "INSERT INTO scores \
    (scorer_id, key, raw_key, key_field, score, status, reason, runtime_ms, frame_count, \
     source_file_id, line, ingested_at) \
    VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)";

pub const INSERT_FRAME_SCORE: &str =
    "INSERT INTO frame_scores (score_id, frame_index, value, runtime_ms) VALUES (?1, ?2, ?3, ?4)";

/// The live row holding (scorer, key), and where it came from.
pub const LIVE_SCORE_WITH_SOURCE: &str =
    "SELECT s.id, s.source_file_id, s.line, f.path, f.ingested_at \
    FROM scores s JOIN source_files f ON f.id = s.source_file_id \
    WHERE s.scorer_id = ?1 AND s.key = ?2 AND s.superseded_at IS NULL";

pub const SUPERSEDE_SCORE: &str =
    "UPDATE scores SET superseded_at = ?2, superseded_by_file = ?3 WHERE id = ?1";

pub const LIST_SCORERS: &str = "SELECT sc.name, sc.slug, sc.scale_min, sc.scale_max, sc.higher_is_better, \
    COUNT(s.id) FILTER (WHERE s.superseded_at IS NULL), \
    COUNT(s.id) FILTER (WHERE s.superseded_at IS NULL AND s.status = 'ok'), \
    COUNT(s.id) FILTER (WHERE s.superseded_at IS NULL AND s.status = 'bad'), \
    COUNT(s.id) FILTER (WHERE s.superseded_at IS NOT NULL), \
    COUNT(DISTINCT s.source_file_id), \
    sc.typical_min, sc.typical_max, \
    (SELECT json_group_array(v) FROM (SELECT DISTINCT f.scorer_version AS v FROM scores s2 \
        JOIN source_files f ON f.id = s2.source_file_id \
        WHERE s2.scorer_id = sc.id AND s2.superseded_at IS NULL AND f.scorer_version IS NOT NULL ORDER BY v)), \
    (SELECT json_group_array(w) FROM (SELECT DISTINCT f.warnings AS w FROM scores s3 \
        JOIN source_files f ON f.id = s3.source_file_id \
        WHERE s3.scorer_id = sc.id AND s3.superseded_at IS NULL AND f.warnings IS NOT NULL ORDER BY f.id)) \
    FROM scorers sc LEFT JOIN scores s ON s.scorer_id = sc.id \
    GROUP BY sc.id ORDER BY sc.slug";

pub const LIST_FILES: &str =
    "SELECT f.id, f.path, f.absolute_path, f.sha256, f.size_bytes, f.format, f.label, \
    f.ingested_at, f.tool_version, \
    COUNT(s.id), COUNT(s.id) FILTER (WHERE s.superseded_at IS NULL), \
    (SELECT json_group_array(name) FROM (SELECT DISTINCT sc.name FROM scores s2 \
        JOIN scorers sc ON sc.id = s2.scorer_id WHERE s2.source_file_id = f.id ORDER BY sc.name)) \
    FROM source_files f LEFT JOIN scores s ON s.source_file_id = f.id \
    GROUP BY f.id ORDER BY f.id";

pub const SCORER_NAME_BY_SLUG: &str = "SELECT id, name FROM scorers WHERE slug = ?1";

pub const ALL_SCORER_NAMES: &str = "SELECT name FROM scorers ORDER BY slug";

/// Every row (live and superseded) of a scorer whose key or raw key is ?2,
/// live first, then newest first.
pub const SCORE_HISTORY: &str =
    "SELECT s.key, s.raw_key, s.key_field, s.score, s.status, s.reason, \
    s.runtime_ms, s.frame_count, s.line, s.ingested_at, s.superseded_at, \
    f.path, f.absolute_path, f.sha256, f.format, f.label, r.path, f.scorer_version \
    FROM scores s JOIN source_files f ON f.id = s.source_file_id \
    LEFT JOIN source_files r ON r.id = s.superseded_by_file \
    WHERE s.scorer_id = ?1 AND (s.key = ?2 OR (?3 AND s.raw_key = ?2)) \
    ORDER BY s.superseded_at IS NOT NULL, s.id DESC";

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

/// The versions of the files one scorer's live scores came from.
pub const LIVE_VERSIONS_OF_SCORER: &str = "SELECT DISTINCT f.scorer_version \
    FROM scores s JOIN source_files f ON f.id = s.source_file_id \
    WHERE s.scorer_id = ?1 AND s.superseded_at IS NULL AND f.scorer_version IS NOT NULL \
    ORDER BY 1";

/// The live scores of one scorer, in key order.
pub const LIVE_SCORES_OF_SCORER: &str =
    "SELECT key, score, status, runtime_ms, frame_count, source_file_id \
    FROM scores WHERE scorer_id = ?1 AND superseded_at IS NULL ORDER BY key";

pub const SOURCE_FILE_PATHS: &str = "SELECT id, path, sha256 FROM source_files";

pub const INSERT_EXPORT: &str = "INSERT INTO exports \
    (created_at, command, features_path, features_sha256, output_path, output_sha256, output_format, \
     input_rows, output_rows, scorers, options, registry_state, registry_digest, tool_version) \
    VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)";

pub const LIST_EXPORTS: &str = "SELECT id, created_at, command, features_path, features_sha256, output_path, \
    output_sha256, output_format, input_rows, output_rows, scorers, options, registry_state, registry_digest, \
    tool_version FROM exports ORDER BY id";
