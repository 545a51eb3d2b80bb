//! Reads whose cost follows what is asked for, not the registry's size
//! (issue 18): one scorer's live score by key through the live unique
//! index, that score's frames and components, its live keys in order (as
//! far as a caller reads them), and the digest of all its live scores
//! summed from the sums kept per (file, scorer) in `live_row_counts`.
//!
//! SQLite only: [`Registry::can_probe`] says whether a registry answers
//! these; an export on PostgreSQL reads every live score as before.

use rusqlite::{params, Connection, OptionalExtension};

use super::exports::LiveScore;
use super::{sql, Registry, RegistryError};
use crate::digest::ScoreSum;
use crate::frames::StoredFrame;

/// A live score found by key, with its row id (for its frames and
/// components).
pub struct ProbedScore {
    pub id: i64,
    pub score: LiveScore,
}

impl Registry {
    /// Whether this registry answers the probes of this module.
    pub fn can_probe(&self) -> bool {
        !self.is_postgres()
    }

    /// How many live scores `scorer_id` has, from the kept counts.
    pub fn live_score_count(&self, scorer_id: i64) -> Result<u64, RegistryError> {
        let mut stmt = self
            .conn
            .prepare_cached(sql::LIVE_SCORE_COUNT)
            .map_err(|e| self.sqlite_error(e))?;
        let count: i64 = stmt
            .query_row([scorer_id], |row| row.get(0))
            .map_err(|e| self.sqlite_error(e))?;
        Ok(count.max(0) as u64)
    }

    /// The score of `scorer_id` live for `key`, if any.
    pub fn live_score_by_key(
        &self,
        scorer_id: i64,
        key: &str,
    ) -> Result<Option<ProbedScore>, RegistryError> {
        let mut stmt = self
            .conn
            .prepare_cached(sql::LIVE_SCORE_BY_KEY)
            .map_err(|e| self.sqlite_error(e))?;
        stmt.query_row(params![scorer_id, key], |row| {
            Ok(ProbedScore {
                id: row.get(0)?,
                score: LiveScore {
                    key: key.to_string(),
                    score: row.get(1)?,
                    bad: row.get_ref(2)?.as_str()? == "bad",
                    runtime_ms: row.get(3)?,
                    frame_count: row.get(4)?,
                    source_file_id: row.get(5)?,
                },
            })
        })
        .optional()
        .map_err(|e| self.sqlite_error(e))
    }

    /// Whether `scorer_id` has a score live for `key`.
    pub fn has_live_key(&self, scorer_id: i64, key: &str) -> Result<bool, RegistryError> {
        let mut stmt = self
            .conn
            .prepare_cached(sql::HAS_LIVE_KEY)
            .map_err(|e| self.sqlite_error(e))?;
        stmt.exists(params![scorer_id, key])
            .map_err(|e| self.sqlite_error(e))
    }

    /// The stored frames of score `score_id`, in frame order.
    pub fn frames_of_score(&self, score_id: i64) -> Result<Vec<StoredFrame>, RegistryError> {
        let mut stmt = self
            .conn
            .prepare_cached(sql::FRAMES_OF_SCORE)
            .map_err(|e| self.sqlite_error(e))?;
        let frames = stmt
            .query_map([score_id], |row| {
                Ok((row.get(0)?, row.get(1)?, row.get(2)?))
            })
            .and_then(|rows| rows.collect::<Result<Vec<_>, _>>());
        frames.map_err(|e| self.sqlite_error(e))
    }

    /// The components of score `score_id`: (name, value), by name.
    pub fn components_of_score(
        &self,
        score_id: i64,
    ) -> Result<Vec<(String, Option<f64>)>, RegistryError> {
        let mut stmt = self
            .conn
            .prepare_cached(sql::COMPONENTS_OF_SCORE)
            .map_err(|e| self.sqlite_error(e))?;
        let components = stmt
            .query_map([score_id], |row| Ok((row.get(0)?, row.get(1)?)))
            .and_then(|rows| rows.collect::<Result<Vec<_>, _>>());
        components.map_err(|e| self.sqlite_error(e))
    }

    /// The names of the components of `scorer_id`'s live scores, in order.
    pub fn live_component_names(&self, scorer_id: i64) -> Result<Vec<String>, RegistryError> {
        let mut stmt = self
            .conn
            .prepare_cached(sql::LIVE_COMPONENT_NAMES_OF_SCORER)
            .map_err(|e| self.sqlite_error(e))?;
        let names = stmt
            .query_map([scorer_id], |row| row.get(0))
            .and_then(|rows| rows.collect::<Result<Vec<_>, _>>());
        names.map_err(|e| self.sqlite_error(e))
    }

    /// The first and the last of `scorer_id`'s live keys in key order
    /// (bytewise, as `str` orders them); `None` when it has none. A key
    /// outside them has no live score: no lookup need ask.
    pub fn live_key_range(
        &self,
        scorer_id: i64,
    ) -> Result<Option<(String, String)>, RegistryError> {
        let end = |query| {
            self.conn
                .prepare_cached(query)
                .and_then(|mut stmt| stmt.query_row([scorer_id], |row| row.get(0)).optional())
                .map_err(|e| self.sqlite_error(e))
        };
        let (first, last): (Option<String>, Option<String>) =
            (end(sql::FIRST_LIVE_KEY)?, end(sql::LAST_LIVE_KEY)?);
        Ok(first.zip(last))
    }

    /// Hand `scorer_id`'s live keys to `visit` in key order while it
    /// returns true: a caller wanting the first few unmatched keys reads
    /// only as far as it finds them.
    pub fn visit_live_keys_in_order(
        &self,
        scorer_id: i64,
        mut visit: impl FnMut(&str) -> bool,
    ) -> Result<(), RegistryError> {
        let mut stmt = self
            .conn
            .prepare_cached(sql::LIVE_KEYS_IN_ORDER)
            .map_err(|e| self.sqlite_error(e))?;
        let mut rows = stmt.query([scorer_id]).map_err(|e| self.sqlite_error(e))?;
        while let Some(row) = rows.next().map_err(|e| self.sqlite_error(e))? {
            let key = row
                .get_ref(0)
                .and_then(|v| Ok(v.as_str()?))
                .map_err(|e| self.sqlite_error(e))?;
            if !visit(key) {
                break;
            }
        }
        Ok(())
    }

    /// Per source file with live scores of `scorer_id`: (file id, how
    /// many, the sum of their hashes), from the kept sums; a sum not kept
    /// (after a change to the file's live rows, before the next write
    /// summed it again) is summed here from that file's rows.
    pub fn live_digest_sums(
        &self,
        scorer_id: i64,
    ) -> Result<Vec<(i64, u64, ScoreSum)>, RegistryError> {
        let kept: Vec<(i64, i64, Option<Vec<u8>>)> = {
            let mut stmt = self
                .conn
                .prepare_cached(sql::LIVE_DIGEST_SUMS_OF_SCORER)
                .map_err(|e| self.sqlite_error(e))?;
            let rows = stmt
                .query_map([scorer_id], |row| {
                    Ok((row.get(0)?, row.get(1)?, row.get(2)?))
                })
                .and_then(|rows| rows.collect::<Result<Vec<_>, _>>());
            rows.map_err(|e| self.sqlite_error(e))?
        };
        let mut sums = Vec::with_capacity(kept.len());
        for (file, count, sum) in kept {
            let known = sum.as_deref().and_then(ScoreSum::from_bytes);
            let (count, sum) = match known {
                Some(sum) => (count as u64, sum),
                None => {
                    sum_live_rows(&self.conn, file, scorer_id).map_err(|e| self.sqlite_error(e))?
                }
            };
            sums.push((file, count, sum));
        }
        Ok(sums)
    }
}

/// The count and digest sum of file `file`'s live rows of `scorer_id`,
/// read from those rows: the file's own (an id range) and the copies
/// corrections made of them.
fn sum_live_rows(
    conn: &Connection,
    file: i64,
    scorer_id: i64,
) -> rusqlite::Result<(u64, ScoreSum)> {
    let (first_after, last): (i64, Option<i64>) = conn
        .prepare_cached(sql::FILE_SCORE_IDS)?
        .query_row([file], |row| Ok((row.get(0)?, row.get(1)?)))?;
    let mut stmt = conn.prepare_cached(sql::LIVE_ROWS_OF_FILE_AND_SCORER)?;
    let mut rows = stmt.query(params![
        file,
        scorer_id,
        first_after,
        last.unwrap_or(i64::MAX)
    ])?;
    let (mut count, mut sum) = (0u64, ScoreSum::default());
    while let Some(row) = rows.next()? {
        let key = row.get_ref(0)?.as_str()?;
        let bad = row.get_ref(2)?.as_str()? == "bad";
        sum.add(key, row.get(1)?, bad);
        count += 1;
    }
    Ok((count, sum))
}

/// Sum again every (file, scorer) digest a change left unknown: run by a
/// write before it commits, so exports find every sum kept. Costs the
/// rows of the files whose live rows changed, not the registry's.
pub(crate) fn refresh_unknown_digest_sums(conn: &Connection) -> rusqlite::Result<()> {
    let unknown: Vec<(i64, i64)> = conn
        .prepare_cached(sql::UNKNOWN_DIGEST_SUMS)?
        .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))?
        .collect::<Result<_, _>>()?;
    for (file, scorer_id) in unknown {
        let (_, sum) = sum_live_rows(conn, file, scorer_id)?;
        conn.prepare_cached(sql::SET_DIGEST_SUM)?.execute(params![
            file,
            scorer_id,
            &sum.to_bytes()[..]
        ])?;
    }
    Ok(())
}
