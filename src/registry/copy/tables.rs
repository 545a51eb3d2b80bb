//! What `registry copy` moves: every table of a registry, in the order a
//! target takes them (a row's references before it), as the SQLite schema
//! holds them. That shape is the copy's common form: each source reads
//! its tables into it, each target writes it into its own schema.
//!
//! In that form a file's id is its point in time (SQLite's rule), and
//! score ids grow with the point a row was born at, which SQLite's as-of
//! reads rely on (`changes.last_score_id`); a PostgreSQL source is read
//! into it renumbered (`sql::POSTGRES_SOURCE`).

/// A column's type, as PostgreSQL declares it (SQLite takes any).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Kind {
    Int8,
    Int4,
    Float8,
    Text,
    Bool,
}

/// One column of a table in the common form.
pub(super) struct Column {
    pub name: &'static str,
    pub kind: Kind,
    /// Whether a PostgreSQL registry stores it (SQLite stores every one).
    pub on_postgres: bool,
}

/// One table in the common form.
pub(super) struct Table {
    pub name: &'static str,
    pub columns: &'static [Column],
    /// The order rows are read in: the primary key, so the copy is
    /// deterministic and ids come in the order they were given.
    pub order_by: &'static str,
    /// Whether a PostgreSQL registry has the table (SQLite has every one).
    pub on_postgres: bool,
}

impl Table {
    /// The columns a target of this backend stores.
    pub fn columns_on(&self, postgres: bool) -> impl Iterator<Item = &Column> {
        self.columns
            .iter()
            .filter(move |c| !postgres || c.on_postgres)
    }
}

const fn both(name: &'static str, kind: Kind) -> Column {
    Column {
        name,
        kind,
        on_postgres: true,
    }
}

const fn sqlite_only(name: &'static str, kind: Kind) -> Column {
    Column {
        name,
        kind,
        on_postgres: false,
    }
}

use Kind::{Bool, Float8, Int4, Int8, Text};

const fn table(name: &'static str, columns: &'static [Column], order_by: &'static str) -> Table {
    Table {
        name,
        columns,
        order_by,
        on_postgres: true,
    }
}

pub(super) const SCORERS: Table = table(
    "scorers",
    &[
        both("id", Int8),
        both("name", Text),
        both("slug", Text),
        both("created_at", Text),
        both("scale_min", Float8),
        both("scale_max", Float8),
        both("higher_is_better", Bool),
        both("typical_min", Float8),
        both("typical_max", Float8),
        both("version", Text),
        both("merged_into", Int8),
    ],
    "id",
);

pub(super) const SCORER_REVISIONS: Table = table(
    "scorer_revisions",
    &[
        both("scorer_id", Int8),
        both("seq", Int8),
        both("name", Text),
        both("slug", Text),
        both("scale_min", Float8),
        both("scale_max", Float8),
        both("higher_is_better", Bool),
        both("typical_min", Float8),
        both("typical_max", Float8),
        both("version", Text),
        both("merged_into", Int8),
    ],
    "scorer_id, seq",
);

pub(super) const SOURCE_FILES: Table = table(
    "source_files",
    &[
        both("id", Int8),
        both("path", Text),
        both("absolute_path", Text),
        both("sha256", Text),
        both("size_bytes", Int8),
        both("format", Text),
        both("label", Text),
        both("ingested_at", Text),
        both("tool_version", Text),
        both("scorer_version", Text),
        both("warnings", Text),
        both("options", Text),
        both("retired_seq", Int8),
    ],
    "id",
);

pub(super) const CHANGES: Table = table(
    "changes",
    &[
        both("seq", Int8),
        both("at", Text),
        both("kind", Text),
        both("detail", Text),
        sqlite_only("last_score_id", Int8),
    ],
    "seq",
);

pub(super) const SOURCE_FILE_SCORERS: Table = table(
    "source_file_scorers",
    &[
        both("source_file_id", Int8),
        both("scorer_id", Int8),
        both("rows", Int8),
    ],
    "source_file_id, scorer_id",
);

/// SQLite keeps a key's directory once; a PostgreSQL target gets each
/// row's key as written whole instead (`raw_key`).
pub(super) const RAW_KEY_PREFIXES: Table = Table {
    on_postgres: false,
    ..table(
        "raw_key_prefixes",
        &[both("id", Int8), both("prefix", Text)],
        "id",
    )
};

pub(super) const SCORES: Table = table(
    "scores",
    &[
        both("id", Int8),
        both("scorer_id", Int8),
        both("key", Text),
        both("raw_key", Text),
        both("key_field", Text),
        both("score", Float8),
        both("status", Text),
        both("reason", Text),
        both("note", Text),
        both("runtime_ms", Float8),
        both("frame_count", Int4),
        both("source_file_id", Int8),
        both("line", Int8),
        both("raw_value", Float8),
        both("superseded_at", Text),
        both("superseded_by_file", Int8),
        both("born_seq", Int8),
        both("superseded_seq", Int8),
        sqlite_only("raw_key_prefix", Int8),
    ],
    "id",
);

/// The index of `raw_key`, `key` and `raw_key_prefix` in [`SCORES`].
pub(super) const SCORES_RAW_KEY: usize = 3;
pub(super) const SCORES_KEY: usize = 2;
pub(super) const SCORES_RAW_KEY_PREFIX: usize = 18;

pub(super) const SCORE_COMPONENTS: Table = table(
    "score_components",
    &[
        both("score_id", Int8),
        both("name", Text),
        both("value", Float8),
    ],
    "score_id, name",
);

pub(super) const FRAME_SCORES: Table = table(
    "frame_scores",
    &[
        both("score_id", Int8),
        both("frame_index", Int8),
        both("value", Float8),
        both("runtime_ms", Float8),
    ],
    "score_id, frame_index",
);

/// The kept counts `scorers` and `files` read on SQLite; PostgreSQL counts
/// the rows instead, so a PostgreSQL source gives them counted.
pub(super) const LIVE_ROW_COUNTS: Table = Table {
    on_postgres: false,
    ..table(
        "live_row_counts",
        &[
            both("source_file_id", Int8),
            both("scorer_id", Int8),
            both("ok_rows", Int8),
            both("bad_rows", Int8),
            both("superseded_rows", Int8),
        ],
        "source_file_id, scorer_id",
    )
};

pub(super) const EXPORTS: Table = table(
    "exports",
    &[
        both("id", Int8),
        both("created_at", Text),
        both("command", Text),
        both("features_path", Text),
        both("features_sha256", Text),
        both("output_path", Text),
        both("output_sha256", Text),
        both("output_format", Text),
        both("input_rows", Int8),
        both("output_rows", Int8),
        both("scorers", Text),
        both("options", Text),
        both("registry_state", Text),
        both("registry_digest", Text),
        both("tool_version", Text),
        both("seq", Int8),
        both("seq_inferred", Bool),
        both("as_of", Text),
        both("content_digest", Text),
        both("note", Text),
        both("state", Text),
        both("recorded_by", Text),
        both("settled_at", Text),
    ],
    "id",
);

pub(super) const TAGS: Table = table(
    "tags",
    &[
        both("name", Text),
        both("seq", Int8),
        both("export_id", Int8),
        both("created_at", Text),
    ],
    "name",
);

pub(super) const SIGNAL_FAMILIES: Table = table(
    "signal_families",
    &[
        both("id", Int8),
        both("key", Text),
        both("label", Text),
        both("question", Text),
        both("recommendation", Text),
        both("position", Int8),
    ],
    "id",
);

pub(super) const FAMILY_PATTERNS: Table = table(
    "family_patterns",
    &[
        both("family_id", Int8),
        both("pattern", Text),
        both("position", Int8),
    ],
    "family_id, pattern",
);

pub(super) const FAMILY_CANDIDATES: Table = table(
    "family_candidates",
    &[
        both("family_id", Int8),
        both("metric", Text),
        both("position", Int8),
    ],
    "family_id, metric",
);

pub(super) const AUDIT_RUNS: Table = table(
    "audit_runs",
    &[
        both("id", Int8),
        both("created_at", Text),
        both("options", Text),
        both("outputs", Text),
        both("tool_version", Text),
    ],
    "id",
);

pub(super) const AUDIT_INPUTS: Table = table(
    "audit_inputs",
    &[
        both("id", Int8),
        both("run_id", Int8),
        both("label", Text),
        both("path", Text),
        both("absolute_path", Text),
        both("sha256", Text),
        both("size_bytes", Int8),
        both("rows", Int8),
        both("summary", Text),
    ],
    "id",
);

/// Every table, in the order a target takes them: each row after the rows
/// it refers to.
pub(super) const TABLES: &[&Table] = &[
    &SCORERS,
    &SCORER_REVISIONS,
    &SOURCE_FILES,
    &CHANGES,
    &SOURCE_FILE_SCORERS,
    &RAW_KEY_PREFIXES,
    &SCORES,
    &SCORE_COMPONENTS,
    &FRAME_SCORES,
    &LIVE_ROW_COUNTS,
    &EXPORTS,
    &TAGS,
    &SIGNAL_FAMILIES,
    &FAMILY_PATTERNS,
    &FAMILY_CANDIDATES,
    &AUDIT_RUNS,
    &AUDIT_INPUTS,
];

/// The tables whose rows make a registry not empty: a copy goes only into
/// a registry without any (the seeded signal families do not count; the
/// source's replace them).
pub(super) const CONTENT_TABLES: &[&str] = &[
    "scorers",
    "source_files",
    "changes",
    "exports",
    "tags",
    "audit_runs",
];
