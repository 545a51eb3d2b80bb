//! Named queries of the audit: signal families and recorded audit runs. The
//! tables are created by `migrations/0005_signal_families.sql`.

pub const LIST_FAMILIES: &str =
    "SELECT id, key, label, question, recommendation, position FROM signal_families ORDER BY position";

pub const LIST_PATTERNS: &str =
    "SELECT family_id, pattern FROM family_patterns ORDER BY family_id, position";

pub const LIST_CANDIDATES: &str =
    "SELECT family_id, metric FROM family_candidates ORDER BY family_id, position";

pub const FAMILY_BY_KEY: &str = "SELECT id FROM signal_families WHERE key = ?1";

pub const INSERT_FAMILY: &str = "INSERT INTO signal_families \
    (key, label, question, recommendation, position) \
    VALUES (?1, ?2, ?3, ?4, (SELECT COALESCE(MAX(position), 0) + 1 FROM signal_families))";

pub const INSERT_PATTERN: &str = "INSERT OR IGNORE INTO family_patterns (family_id, position, pattern) \
    VALUES (?1, (SELECT COALESCE(MAX(position), 0) + 1 FROM family_patterns WHERE family_id = ?1), ?2)";

pub const DELETE_PATTERN: &str =
    "DELETE FROM family_patterns WHERE family_id = ?1 AND pattern = ?2";

pub const INSERT_CANDIDATE: &str = "INSERT OR IGNORE INTO family_candidates (family_id, position, metric) \
    VALUES (?1, (SELECT COALESCE(MAX(position), 0) + 1 FROM family_candidates WHERE family_id = ?1), ?2)";

/// Every scorer, with what the audit needs to classify its columns: scale
/// (hard, else typical), direction, and whether any of its scores came from
/// a libvmaf log (a full-reference scorer whatever its name).
pub const AUDIT_SCORERS: &str = "SELECT sc.name, sc.slug, \
    COALESCE(sc.scale_min, sc.typical_min), COALESCE(sc.scale_max, sc.typical_max), \
    sc.higher_is_better, \
    EXISTS (SELECT 1 FROM source_file_scorers x JOIN source_files f ON f.id = x.source_file_id \
            WHERE x.scorer_id = sc.id AND f.format LIKE 'libvmaf-%') \
    FROM scorers sc ORDER BY sc.slug";

pub const INSERT_AUDIT_RUN: &str =
    "INSERT INTO audit_runs (created_at, options, outputs, tool_version) VALUES (?1, ?2, ?3, ?4)";

pub const INSERT_AUDIT_INPUT: &str = "INSERT INTO audit_inputs \
    (run_id, label, path, absolute_path, sha256, size_bytes, rows, summary) \
    VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)";

/// The most recent recorded audit of a table label.
pub const LAST_AUDIT_OF_LABEL: &str =
    "SELECT r.id, r.created_at, i.path, i.sha256, i.rows, i.summary \
    FROM audit_inputs i JOIN audit_runs r ON r.id = i.run_id \
    WHERE i.label = ?1 ORDER BY r.id DESC, i.id DESC LIMIT 1";
