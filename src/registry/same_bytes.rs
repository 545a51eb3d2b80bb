//! The same bytes ingested again with other options. A file's identity is
//! its sha256 and the options that decide its rows (`IngestOptions::
//! identity`): the same identity again is skipped as already ingested;
//! another identity for the same scorers is refused, or with `--replace`
//! read again in place of the earlier ingest, whose live rows it
//! supersedes whatever their keys (a wrong `--key-normalize` made keys
//! that no row of the new ingest collides with).

use rusqlite::{params, Connection};
use serde_json::Value;

use super::{now_rfc3339, sql};

/// An earlier ingest of the same bytes with other options (or, from
/// before options were recorded, none).
pub(super) struct OtherIngest {
    id: i64,
    path: String,
    ingested_at: String,
    options: Option<Value>,
}

/// The earlier ingests of `sha256` whose options are not `identity`.
pub(super) fn other_ingests(
    tx: &Connection,
    sha256: &str,
    identity: &str,
) -> rusqlite::Result<Vec<OtherIngest>> {
    let mut stmt = tx.prepare(sql::OTHER_INGESTS_OF_SHA256)?;
    let rows = stmt.query_map(params![sha256, identity], |row| {
        let options: Option<String> = row.get(3)?;
        Ok(OtherIngest {
            id: row.get(0)?,
            path: row.get(1)?,
            ingested_at: row.get(2)?,
            options: options.and_then(|text| serde_json::from_str(&text).ok()),
        })
    })?;
    rows.collect()
}

impl OtherIngest {
    /// An earlier ingest as another store read it: `id` is the number
    /// users know the file by, `options` the recorded JSON.
    pub(super) fn new(
        id: i64,
        path: String,
        ingested_at: String,
        options: Option<String>,
    ) -> OtherIngest {
        OtherIngest {
            id,
            path,
            ingested_at,
            options: options.and_then(|text| serde_json::from_str(&text).ok()),
        }
    }

    /// Whether it named its scorers as `identity` does (the same `--scorer`
    /// and label): then the same bytes give the same scorers, known before
    /// a row is read.
    pub(super) fn names_scorers_like(&self, identity: &Value) -> bool {
        self.options.as_ref().is_some_and(|options| {
            ["scorer", "label"]
                .iter()
                .all(|name| options.get(name) == identity.get(name))
        })
    }

    /// The refusal: what differed, and the way to ingest them again.
    pub(super) fn refusal(&self, identity: &Value, scorers: Option<&[String]>) -> String {
        let shown = |v: Option<&Value>| match v {
            None | Some(Value::Null) => "none".to_string(),
            Some(Value::String(s)) => s.clone(),
            Some(other) => other.to_string(),
        };
        let differences: Vec<String> = match &self.options {
            None => vec!["options not recorded then".to_string()],
            // Options either ingest has: one recorded only when set
            // (`key_strip_prefix`) may be in one of them alone.
            Some(then) => identity
                .as_object()
                .into_iter()
                .chain(then.as_object())
                .flat_map(|map| map.keys())
                .collect::<std::collections::BTreeSet<_>>()
                .into_iter()
                .filter(|name| identity.get(name.as_str()) != then.get(name.as_str()))
                .map(|name| {
                    format!(
                        "{name} {} then, {} now",
                        shown(then.get(name.as_str())),
                        shown(identity.get(name.as_str()))
                    )
                })
                .collect(),
        };
        format!(
            "these bytes were ingested as file {} ({}) at {} with other options ({}){}; \
             `--replace` ingests them again with these options and supersedes the rows that ingest made live",
            self.id,
            self.path,
            self.ingested_at,
            differences.join(", "),
            scorers
                .map(|s| format!(" for the same scorers ({})", s.join(", ")))
                .unwrap_or_default()
        )
    }

    /// Supersede its live rows at point `seq` (the new ingest): all of
    /// them, or those of `scorer_id`. Returns how many.
    pub(super) fn supersede(
        &self,
        tx: &Connection,
        seq: i64,
        scorer_id: Option<i64>,
    ) -> rusqlite::Result<usize> {
        tx.execute(
            sql::SUPERSEDE_LIVE_ROWS_OF_FILE,
            params![self.id, now_rfc3339(), seq, scorer_id],
        )
    }

    /// The scorers its rows went to.
    pub(super) fn scorer_ids(&self, tx: &Connection) -> rusqlite::Result<Vec<i64>> {
        let mut stmt = tx.prepare(sql::FILE_SCORER_IDS)?;
        let ids = stmt.query_map([self.id], |row| row.get(0))?;
        ids.collect()
    }
}
