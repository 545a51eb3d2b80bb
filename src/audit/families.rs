//! Signal families: read from the registry, edited by `families …`, and
//! turned into the classifier that puts each column of a table in a family.
//!
//! Two rules classify a column:
//!
//! 1. **Names.** A column belongs to every family one of whose patterns
//!    matches it (case-insensitive, anywhere in the name, as Python's
//!    `re.search(pattern, column, re.IGNORECASE)`); its *primary* family is
//!    the first by position. This is the reference's rule.
//! 2. **Scorers.** A column `<prefix>_<slug>_*` written by `export` for a
//!    scorer (one the registry knows, or one the table shows by its
//!    `<prefix>_<slug>_status` and `_score` columns) belongs to the scorer's
//!    family only, whatever its name says: a no-reference or MOS scorer's
//!    columns are `no_reference_ugc`, a full-reference scorer's are
//!    `canonical_fr` (its components, `psnr_y`, `float_ssim`, `cambi`, go to
//!    the family their metric name matches, else `canonical_fr`). So a new
//!    scorer `foo-iqa` needs no pattern, and `second_opinion_clip_iqa_score`
//!    is not taken for clipping evidence by the `clip` pattern of
//!    `banding_tone_mapping`. The longest slug wins when two scorers' slugs
//!    share a beginning (`dover`, `dover_mobile`).
//!
//! A scorer is full-reference when its scores came from a libvmaf log, or
//! its slug starts with `vmaf` (`vmaf`, `vmaf_neg`, `vmaf_4k`, …) or is one
//! of [`FULL_REFERENCE_SLUGS`]; every other scorer is no-reference (DOVER,
//! Q-Align, MUSIQ, an in-house `nr_metric_v1`, …).

use regex::{Regex, RegexBuilder};
use rusqlite::{params, OptionalExtension};
use serde::Serialize;

use super::{sql, AuditError};
use crate::registry::Registry;
use crate::scorer::{slug, Scale};

/// The family of full-reference evidence.
pub const FULL_REFERENCE_FAMILY: &str = "canonical_fr";
/// The family of no-reference and subjective-MOS evidence.
pub const NO_REFERENCE_FAMILY: &str = "no_reference_ugc";

/// Scorer slugs that are full-reference metrics (besides every `vmaf*`).
pub const FULL_REFERENCE_SLUGS: &[&str] = &[
    "x264_pvmaf",
    "psnr",
    "psnr_y",
    "psnr_hvs",
    "apsnr",
    "xpsnr",
    "ssim",
    "float_ssim",
    "ms_ssim",
    "float_ms_ssim",
    "ciede2000",
    "cambi",
    "ssimulacra2",
    "butteraugli",
    "lpips",
    "dists",
];

/// Column suffixes `export` writes for every scorer that are bookkeeping,
/// not evidence: they are never signal columns.
pub const BOOKKEEPING_SUFFIXES: &[&str] = &["status", "source", "runtime_ms", "frames"];

/// A signal family as stored in the registry.
#[derive(Clone, Debug, Serialize)]
pub struct Family {
    pub key: String,
    pub label: String,
    pub question: String,
    pub recommendation: String,
    pub position: i64,
    pub patterns: Vec<String>,
    pub candidate_metrics: Vec<String>,
}

/// A new family for `families add`.
#[derive(Clone, Debug, Default)]
pub struct NewFamily {
    pub key: String,
    pub label: String,
    pub question: String,
    pub recommendation: String,
    pub patterns: Vec<String>,
    pub candidate_metrics: Vec<String>,
}

/// Compile a family pattern the way classification uses it.
pub fn compile_pattern(pattern: &str) -> Result<Regex, regex::Error> {
    RegexBuilder::new(pattern).case_insensitive(true).build()
}

/// `pattern` as a regex, or the usage error `families` reports.
pub fn checked_pattern(pattern: &str) -> Result<Regex, AuditError> {
    compile_pattern(pattern)
        .map_err(|e| AuditError::Usage(format!("invalid regex '{pattern}': {e}")))
}

/// Every family, by position, with its patterns and candidate metrics.
pub fn load_families(registry: &Registry) -> Result<Vec<Family>, AuditError> {
    if let Some(mut pg) = registry.pg() {
        let (rows, patterns, candidates) = pg.families()?;
        let mut families: Vec<(i64, Family)> = rows
            .into_iter()
            .map(|(id, key, label, question, recommendation, position)| {
                let family = Family {
                    key,
                    label,
                    question,
                    recommendation,
                    position,
                    patterns: Vec::new(),
                    candidate_metrics: Vec::new(),
                };
                (id, family)
            })
            .collect();
        for (id, pattern) in patterns {
            if let Some((_, family)) = families.iter_mut().find(|(known, _)| *known == id) {
                family.patterns.push(pattern);
            }
        }
        for (id, metric) in candidates {
            if let Some((_, family)) = families.iter_mut().find(|(known, _)| *known == id) {
                family.candidate_metrics.push(metric);
            }
        }
        return Ok(families.into_iter().map(|(_, family)| family).collect());
    }
    let conn = registry.connection();
    let sqlite = |e| registry.sqlite_error(e);
    let mut ids = Vec::new();
    let mut families = Vec::new();
    {
        let mut stmt = conn.prepare(sql::LIST_FAMILIES).map_err(sqlite)?;
        let mut rows = stmt.query([]).map_err(sqlite)?;
        while let Some(row) = rows.next().map_err(sqlite)? {
            let read = || -> rusqlite::Result<(i64, Family)> {
                Ok((
                    row.get(0)?,
                    Family {
                        key: row.get(1)?,
                        label: row.get(2)?,
                        question: row.get(3)?,
                        recommendation: row.get(4)?,
                        position: row.get(5)?,
                        patterns: Vec::new(),
                        candidate_metrics: Vec::new(),
                    },
                ))
            };
            let (id, family) = read().map_err(sqlite)?;
            ids.push(id);
            families.push(family);
        }
    }
    let index_of = |id: i64| ids.iter().position(|&known| known == id);
    for (query, patterns) in [(sql::LIST_PATTERNS, true), (sql::LIST_CANDIDATES, false)] {
        let mut stmt = conn.prepare(query).map_err(sqlite)?;
        let rows = stmt
            .query_map([], |row| {
                Ok((row.get::<_, i64>(0)?, row.get::<_, String>(1)?))
            })
            .and_then(|rows| rows.collect::<Result<Vec<_>, _>>())
            .map_err(sqlite)?;
        for (id, text) in rows {
            if let Some(index) = index_of(id) {
                let family = &mut families[index];
                if patterns {
                    family.patterns.push(text);
                } else {
                    family.candidate_metrics.push(text);
                }
            }
        }
    }
    Ok(families)
}

fn family_id(registry: &Registry, key: &str) -> Result<i64, AuditError> {
    let found = find_family(registry, key)?;
    match found {
        Some(id) => Ok(id),
        None => {
            let keys: Vec<String> = load_families(registry)?
                .into_iter()
                .map(|f| f.key)
                .collect();
            Err(AuditError::Data(format!(
                "no signal family '{key}' (families: {})",
                keys.join(", ")
            )))
        }
    }
}

/// Family `key`'s id, if it exists.
fn find_family(registry: &Registry, key: &str) -> Result<Option<i64>, AuditError> {
    if let Some(mut pg) = registry.pg() {
        return Ok(pg.family_id(key)?);
    }
    let found = registry
        .connection()
        .query_row(sql::FAMILY_BY_KEY, [key], |row| row.get(0))
        .optional()
        .map_err(|e| registry.sqlite_error(e))?;
    Ok(found)
}

/// Add `pattern` to family `key`; `false` when the family already had it.
pub fn add_pattern(registry: &Registry, key: &str, pattern: &str) -> Result<bool, AuditError> {
    checked_pattern(pattern)?;
    let id = family_id(registry, key)?;
    if let Some(mut pg) = registry.pg() {
        return Ok(pg.add_pattern(id, pattern)?);
    }
    let added = registry
        .connection()
        .execute(sql::INSERT_PATTERN, params![id, pattern])
        .map_err(|e| registry.sqlite_error(e))?;
    Ok(added > 0)
}

/// Remove `pattern` from family `key`.
pub fn remove_pattern(registry: &Registry, key: &str, pattern: &str) -> Result<(), AuditError> {
    let id = family_id(registry, key)?;
    let removed = match registry.pg() {
        Some(mut pg) => pg.remove_pattern(id, pattern)?,
        None => {
            registry
                .connection()
                .execute(sql::DELETE_PATTERN, params![id, pattern])
                .map_err(|e| registry.sqlite_error(e))?
                > 0
        }
    };
    if !removed {
        let patterns = load_families(registry)?
            .into_iter()
            .find(|f| f.key == key)
            .map(|f| f.patterns)
            .unwrap_or_default();
        return Err(AuditError::Data(format!(
            "family '{key}' has no pattern '{pattern}' (its patterns: {})",
            if patterns.is_empty() {
                "none".to_string()
            } else {
                patterns.join(", ")
            }
        )));
    }
    Ok(())
}

/// Add a family after the last one, with its patterns and candidates, in
/// one transaction.
pub fn add_family(registry: &Registry, family: &NewFamily) -> Result<(), AuditError> {
    let valid_key = !family.key.is_empty()
        && family
            .key
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
    if !valid_key {
        return Err(AuditError::Usage(format!(
            "family key '{}' must be lower-case letters, digits and '_' (like '{}')",
            family.key,
            slug(&family.key)
        )));
    }
    if family.label.trim().is_empty() {
        return Err(AuditError::Usage("--label must not be empty".to_string()));
    }
    for pattern in &family.patterns {
        checked_pattern(pattern)?;
    }
    if find_family(registry, &family.key)?.is_some() {
        return Err(AuditError::Data(format!(
            "signal family '{}' already exists (add patterns with `families add-pattern {} REGEX`)",
            family.key, family.key
        )));
    }
    if let Some(mut pg) = registry.pg() {
        let texts = [
            family.key.as_str(),
            family.label.as_str(),
            family.question.as_str(),
            family.recommendation.as_str(),
        ];
        pg.add_family(texts, &family.patterns, &family.candidate_metrics)?;
        return Ok(());
    }
    let sqlite = |e| registry.sqlite_error(e);
    let tx = registry
        .connection()
        .unchecked_transaction()
        .map_err(sqlite)?;
    tx.execute(
        sql::INSERT_FAMILY,
        params![
            family.key,
            family.label,
            family.question,
            family.recommendation
        ],
    )
    .map_err(sqlite)?;
    let id = tx.last_insert_rowid();
    for pattern in &family.patterns {
        tx.execute(sql::INSERT_PATTERN, params![id, pattern])
            .map_err(sqlite)?;
    }
    for metric in &family.candidate_metrics {
        tx.execute(sql::INSERT_CANDIDATE, params![id, metric])
            .map_err(sqlite)?;
    }
    tx.commit().map_err(sqlite)?;
    Ok(())
}

/// Which side of the reference divide a scorer's evidence is on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Evidence {
    FullReference,
    NoReference,
}

impl Evidence {
    pub fn name(self) -> &'static str {
        match self {
            Evidence::FullReference => "full_reference",
            Evidence::NoReference => "no_reference",
        }
    }

    /// The evidence of a scorer known by its slug (and whether its scores
    /// came from a libvmaf log).
    pub fn of_scorer(scorer_slug: &str, from_libvmaf_log: bool) -> Evidence {
        if from_libvmaf_log
            || scorer_slug.starts_with("vmaf")
            || FULL_REFERENCE_SLUGS.contains(&scorer_slug)
        {
            Evidence::FullReference
        } else {
            Evidence::NoReference
        }
    }
}

/// A scorer whose export columns a table may hold.
#[derive(Clone, Debug)]
pub struct ScorerInfo {
    pub name: String,
    pub slug: String,
    pub evidence: Evidence,
    pub higher_is_better: Option<bool>,
    /// Hard scale, else typical range.
    pub range: Option<Scale>,
    /// Known to the registry (else inferred from the table's columns).
    pub in_registry: bool,
}

/// Every scorer the registry knows.
pub fn registry_scorers(registry: &Registry) -> Result<Vec<ScorerInfo>, AuditError> {
    if let Some(mut pg) = registry.pg() {
        let rows = pg.audit_scorers()?;
        return Ok(rows
            .into_iter()
            .map(
                |(name, scorer_slug, min, max, higher_is_better, from_libvmaf)| ScorerInfo {
                    name,
                    evidence: Evidence::of_scorer(&scorer_slug, from_libvmaf),
                    slug: scorer_slug,
                    higher_is_better,
                    range: min.zip(max).map(|(min, max)| Scale { min, max }),
                    in_registry: true,
                },
            )
            .collect());
    }
    let mut stmt = registry
        .connection()
        .prepare(sql::AUDIT_SCORERS)
        .map_err(|e| registry.sqlite_error(e))?;
    let rows = stmt
        .query_map([], |row| {
            let scorer_slug: String = row.get(1)?;
            let range = row
                .get::<_, Option<f64>>(2)?
                .zip(row.get::<_, Option<f64>>(3)?)
                .map(|(min, max)| Scale { min, max });
            Ok(ScorerInfo {
                name: row.get(0)?,
                evidence: Evidence::of_scorer(&scorer_slug, row.get(5)?),
                slug: scorer_slug,
                higher_is_better: row.get(4)?,
                range,
                in_registry: true,
            })
        })
        .and_then(|rows| rows.collect::<Result<Vec<_>, _>>());
    Ok(rows.map_err(|e| registry.sqlite_error(e))?)
}

/// What an export column of a scorer holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ColumnRole {
    /// `_score`: the clip score.
    Score,
    /// `_score_norm`, `_score_<stat>`: the score, transformed or pooled.
    ScoreVariant,
    /// A named component (DOVER's `aesthetic`, libvmaf's `psnr_y`).
    Component(String),
    /// `_status`, `_source`, `_runtime_ms`, `_frames`.
    Bookkeeping,
}

/// A column's place among the families.
#[derive(Clone, Debug, Default)]
pub struct ColumnClass {
    /// Indexes of the families it belongs to; the first is its primary.
    pub families: Vec<usize>,
    /// The scorer that wrote it (index into the classifier's scorers) and
    /// what it holds.
    pub owner: Option<(usize, ColumnRole)>,
}

impl ColumnClass {
    pub fn primary(&self) -> Option<usize> {
        self.families.first().copied()
    }
}

/// Families with compiled patterns, and the scorers whose columns classify
/// themselves.
pub struct Classifier {
    pub families: Vec<Family>,
    patterns: Vec<Vec<Regex>>,
    pub prefix: String,
    pub scorers: Vec<ScorerInfo>,
    /// Scorer indexes, longest slug first.
    by_slug_length: Vec<usize>,
    full_reference: Option<usize>,
    no_reference: Option<usize>,
}

impl Classifier {
    /// Compile every family's patterns; a stored pattern that is not a
    /// valid regex (written to the database by hand) is a data error.
    pub fn new(
        families: Vec<Family>,
        prefix: &str,
        scorers: Vec<ScorerInfo>,
    ) -> Result<Classifier, AuditError> {
        let mut patterns = Vec::with_capacity(families.len());
        for family in &families {
            let compiled = family
                .patterns
                .iter()
                .map(|p| {
                    compile_pattern(p).map_err(|e| {
                        AuditError::Data(format!(
                            "signal family '{}': stored pattern '{p}' is not a valid regex: {e} \
                             (remove it with `families remove-pattern {} …`)",
                            family.key, family.key
                        ))
                    })
                })
                .collect::<Result<Vec<_>, _>>()?;
            patterns.push(compiled);
        }
        let mut by_slug_length: Vec<usize> = (0..scorers.len()).collect();
        by_slug_length.sort_by_key(|&i| std::cmp::Reverse(scorers[i].slug.len()));
        let find = |key: &str| families.iter().position(|f| f.key == key);
        Ok(Classifier {
            full_reference: find(FULL_REFERENCE_FAMILY),
            no_reference: find(NO_REFERENCE_FAMILY),
            families,
            patterns,
            prefix: prefix.to_string(),
            scorers,
            by_slug_length,
        })
    }

    /// Every family whose patterns match `name`, by position.
    pub fn matching(&self, name: &str) -> Vec<usize> {
        (0..self.families.len())
            .filter(|&i| self.patterns[i].iter().any(|p| p.is_match(name)))
            .collect()
    }

    /// The scorer that wrote column `name`, and the column's role.
    pub fn owner(&self, name: &str) -> Option<(usize, ColumnRole)> {
        let rest = name.strip_prefix(&self.prefix)?.strip_prefix('_')?;
        self.by_slug_length.iter().find_map(|&index| {
            let suffix = rest
                .strip_prefix(self.scorers[index].slug.as_str())?
                .strip_prefix('_')?;
            let role = if suffix == "score" {
                ColumnRole::Score
            } else if suffix.starts_with("score_") {
                ColumnRole::ScoreVariant
            } else if BOOKKEEPING_SUFFIXES.contains(&suffix) {
                ColumnRole::Bookkeeping
            } else if suffix.is_empty() {
                return None;
            } else {
                ColumnRole::Component(suffix.to_string())
            };
            Some((index, role))
        })
    }

    /// The families of column `name` (see the module documentation).
    pub fn classify(&self, name: &str) -> ColumnClass {
        if let Some((index, role)) = self.owner(name) {
            let family = match (self.scorers[index].evidence, &role) {
                (Evidence::NoReference, _) => self.no_reference,
                (Evidence::FullReference, ColumnRole::Component(metric)) => self
                    .matching(metric)
                    .first()
                    .copied()
                    .or(self.full_reference),
                (Evidence::FullReference, _) => self.full_reference,
            };
            if let Some(family) = family {
                return ColumnClass {
                    families: vec![family],
                    owner: Some((index, role)),
                };
            }
            return ColumnClass {
                families: self.matching(name),
                owner: Some((index, role)),
            };
        }
        ColumnClass {
            families: self.matching(name),
            owner: None,
        }
    }

    /// The key of family `index`.
    pub fn key(&self, index: usize) -> &str {
        &self.families[index].key
    }
}

/// Scorers a table shows by its columns though the registry does not know
/// them (a table exported from another registry, or by the reference
/// script): first every `<prefix>_<slug>_status` next to a
/// `<prefix>_<slug>_score`, then every other `<prefix>_<slug>_score` whose
/// name does not already belong to a scorer (`<prefix>_<known>_…`).
pub fn scorers_in_columns(
    columns: &[String],
    prefix: &str,
    known: &[ScorerInfo],
) -> Vec<ScorerInfo> {
    let mut found: Vec<ScorerInfo> = Vec::new();
    let middle = |column: &str, suffix: &str| -> Option<String> {
        column
            .strip_prefix(prefix)?
            .strip_prefix('_')?
            .strip_suffix(suffix)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
    };
    let owned = |scorer_slug: &str, found: &[ScorerInfo]| {
        known.iter().chain(found).any(|s| {
            s.slug == scorer_slug
                || scorer_slug
                    .strip_prefix(s.slug.as_str())
                    .is_some_and(|rest| rest.starts_with('_'))
        })
    };
    let add = |scorer_slug: String, found: &mut Vec<ScorerInfo>| {
        found.push(ScorerInfo {
            name: scorer_slug.clone(),
            evidence: Evidence::of_scorer(&scorer_slug, false),
            slug: scorer_slug,
            higher_is_better: None,
            range: None,
            in_registry: false,
        });
    };
    for column in columns {
        let Some(scorer_slug) = middle(column, "_status") else {
            continue;
        };
        let score = format!("{prefix}_{scorer_slug}_score");
        let already = known.iter().chain(&found).any(|s| s.slug == scorer_slug);
        if !already && columns.contains(&score) {
            add(scorer_slug, &mut found);
        }
    }
    for column in columns {
        if let Some(scorer_slug) = middle(column, "_score") {
            if !owned(&scorer_slug, &found) {
                add(scorer_slug, &mut found);
            }
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::Registry;

    fn classifier(scorers: Vec<ScorerInfo>) -> Classifier {
        let registry = Registry::open_in_memory().unwrap();
        Classifier::new(load_families(&registry).unwrap(), "second_opinion", scorers).unwrap()
    }

    fn scorer(name: &str, evidence: Evidence) -> ScorerInfo {
        ScorerInfo {
            name: name.to_string(),
            slug: slug(name),
            evidence,
            higher_is_better: Some(true),
            range: None,
            in_registry: true,
        }
    }

    fn primary(classifier: &Classifier, column: &str) -> Option<String> {
        classifier
            .classify(column)
            .primary()
            .map(|i| classifier.key(i).to_string())
    }

    #[test]
    fn seeded_families_are_the_references_thirteen() {
        let registry = Registry::open_in_memory().unwrap();
        let families = load_families(&registry).unwrap();
        let keys: Vec<&str> = families.iter().map(|f| f.key.as_str()).collect();
        assert_eq!(
            keys,
            [
                "canonical_fr",
                "error_energy",
                "structural_similarity",
                "texture_deep_perceptual",
                "color_chroma",
                "banding_tone_mapping",
                "temporal_flicker",
                "saliency_roi",
                "hdr_display_panel",
                "source_geometry_content",
                "codec_encoder",
                "no_reference_ugc",
                "noise_grain_blur"
            ]
        );
        let patterns: usize = families.iter().map(|f| f.patterns.len()).sum();
        assert_eq!(
            patterns,
            5 + 4 + 4 + 6 + 7 + 9 + 10 + 6 + 12 + 9 + 13 + 19 + 7
        );
        assert_eq!(families[0].patterns[0], "^adm2(_(mean|p10|p90|std))?$");
        assert_eq!(families[11].candidate_metrics.len(), 7);
        assert!(families
            .iter()
            .all(|f| !f.question.is_empty() && !f.recommendation.is_empty()));
    }

    #[test]
    fn names_classify_by_first_family() {
        let c = classifier(Vec::new());
        assert_eq!(primary(&c, "adm2").as_deref(), Some("canonical_fr"));
        assert_eq!(primary(&c, "ADM2_p10").as_deref(), Some("canonical_fr"));
        // `motion2` is canonical first, temporal second.
        assert_eq!(c.classify("motion2").families.len(), 2);
        assert_eq!(
            primary(&c, "float_ms_ssim").as_deref(),
            Some("structural_similarity")
        );
        assert_eq!(
            primary(&c, "chug_bitrate_mbps").as_deref(),
            Some("codec_encoder")
        );
        assert_eq!(
            primary(&c, "bitdepth").as_deref(),
            Some("hdr_display_panel")
        );
        assert_eq!(primary(&c, "src"), None);
        // Without a known scorer, the reference's patterns decide.
        assert_eq!(
            primary(&c, "second_opinion_clip_iqa_score").as_deref(),
            Some("banding_tone_mapping")
        );
    }

    #[test]
    fn scorers_classify_their_own_columns() {
        let c = classifier(vec![
            scorer("CLIP-IQA", Evidence::NoReference),
            scorer("foo-iqa", Evidence::NoReference),
            scorer("dover", Evidence::NoReference),
            scorer("DOVER-Mobile", Evidence::NoReference),
            scorer("vmaf", Evidence::FullReference),
        ]);
        assert_eq!(
            primary(&c, "second_opinion_clip_iqa_score").as_deref(),
            Some("no_reference_ugc")
        );
        assert_eq!(
            c.classify("second_opinion_clip_iqa_score").families.len(),
            1
        );
        assert_eq!(
            primary(&c, "second_opinion_foo_iqa_score").as_deref(),
            Some("no_reference_ugc")
        );
        let (owner, role) = c.owner("second_opinion_dover_mobile_aesthetic").unwrap();
        assert_eq!(c.scorers[owner].slug, "dover_mobile");
        assert_eq!(role, ColumnRole::Component("aesthetic".into()));
        assert_eq!(
            c.owner("second_opinion_dover_mobile_status").unwrap().1,
            ColumnRole::Bookkeeping
        );
        assert_eq!(
            c.owner("second_opinion_vmaf_score_norm").unwrap().1,
            ColumnRole::ScoreVariant
        );
        assert_eq!(
            primary(&c, "second_opinion_vmaf_score").as_deref(),
            Some("canonical_fr")
        );
        assert_eq!(
            primary(&c, "second_opinion_vmaf_psnr_y").as_deref(),
            Some("error_energy")
        );
        assert_eq!(
            primary(&c, "second_opinion_vmaf_integer_adm2").as_deref(),
            Some("canonical_fr")
        );
        assert!(c.owner("second_opinion_other_score").is_none());
        assert!(c.owner("so_dover_score").is_none());
    }

    #[test]
    fn full_reference_by_log_or_name() {
        assert_eq!(
            Evidence::of_scorer("vmaf_neg", false),
            Evidence::FullReference
        );
        assert_eq!(
            Evidence::of_scorer("my_model", true),
            Evidence::FullReference
        );
        assert_eq!(
            Evidence::of_scorer("dover_mobile", false),
            Evidence::NoReference
        );
        assert_eq!(
            Evidence::of_scorer("nr_metric_v1", false),
            Evidence::NoReference
        );
    }

    #[test]
    fn table_columns_reveal_unknown_scorers() {
        let columns: Vec<String> = [
            "src",
            "second_opinion_foo_iqa_score",
            "second_opinion_foo_iqa_status",
            "second_opinion_half_status",
            "second_opinion_vmaf_neg_score",
            "second_opinion_vmaf_neg_status",
            "second_opinion_vmaf_neg_psnr_score",
            "second_opinion_q_align_score",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let found = scorers_in_columns(&columns, "second_opinion", &[]);
        let slugs: Vec<&str> = found.iter().map(|s| s.slug.as_str()).collect();
        assert_eq!(slugs, ["foo_iqa", "vmaf_neg", "q_align"]);
        assert_eq!(found[1].evidence, Evidence::FullReference);
    }

    #[test]
    fn editing_families() {
        let registry = Registry::open_in_memory().unwrap();
        assert!(add_pattern(&registry, "saliency_roi", "^sal_").unwrap());
        assert!(!add_pattern(&registry, "saliency_roi", "^sal_").unwrap());
        let error = add_pattern(&registry, "saliency_roi", "(unclosed").unwrap_err();
        assert!(error.is_usage(), "{error}");
        assert!(error.to_string().contains("invalid regex '(unclosed'"));
        assert!(!add_pattern(&registry, "nope", "x").unwrap_err().is_usage());
        remove_pattern(&registry, "saliency_roi", "^sal_").unwrap();
        assert!(remove_pattern(&registry, "saliency_roi", "^sal_").is_err());
        add_family(
            &registry,
            &NewFamily {
                key: "film_look".into(),
                label: "Film look".into(),
                patterns: vec!["film".into(), "grain_synth".into()],
                ..NewFamily::default()
            },
        )
        .unwrap();
        let families = load_families(&registry).unwrap();
        let last = families.last().unwrap();
        assert_eq!((last.key.as_str(), last.position), ("film_look", 14));
        assert_eq!(last.patterns, ["film", "grain_synth"]);
        assert!(add_family(
            &registry,
            &NewFamily {
                key: "Bad Key".into(),
                label: "x".into(),
                ..NewFamily::default()
            }
        )
        .unwrap_err()
        .is_usage());
        assert!(!add_family(
            &registry,
            &NewFamily {
                key: "film_look".into(),
                label: "again".into(),
                ..NewFamily::default()
            }
        )
        .unwrap_err()
        .is_usage());
    }
}
