//! The verdict, once every batch is joined and before anything is
//! published: does the key match the scores (or would another column or
//! normalisation match far more), and does a `fail` policy refuse the
//! missing or bad rows.

use std::collections::HashMap;

use crate::command_line::CommandLine;
use crate::key::KeyNormalize;
use crate::registry::Registry;
use crate::scorer::slug;

use super::index::ScorerIndex;
use super::join::JoinCounts;
use super::key_sample::KeySample;
use super::plan::ExportPlan;
use super::{ExportError, ExportOptions, RowPolicy, ScorerExportCounts};

/// The export may be published (with warnings for the user), or why not.
pub(super) fn verdict(
    plan: &ExportPlan,
    counts: &JoinCounts,
    indexes: &[ScorerIndex],
    options: &ExportOptions,
    sample: &KeySample,
    registry: Option<&Registry>,
) -> Result<Vec<String>, ExportError> {
    let mut warnings: Vec<String> = check_key_match(plan, counts, options)?
        .into_iter()
        .collect();
    warnings.extend(check_each_scorer(
        plan, counts, indexes, options, sample, registry,
    )?);
    if counts.raw_key_matches > 0 {
        warnings.push(format!(
            "{}: {} of {} rows matched their scores by the {} value as written, not its {}",
            plan.features_shown,
            counts.raw_key_matches,
            counts.input_rows,
            plan.key_column,
            plan.resolved_normalize.name(),
        ));
    }
    for (policy, what, count) in [
        (
            options.missing_policy,
            "missing",
            (|c| c.missing) as fn(&ScorerExportCounts) -> u64,
        ),
        (options.bad_policy, "bad", |c| c.bad),
    ] {
        let offenders: Vec<String> = indexes
            .iter()
            .filter(|i| count(&i.counts) > 0)
            .map(|i| format!("{}={}", i.counts.name, count(&i.counts)))
            .collect();
        if policy == RowPolicy::Fail && !offenders.is_empty() {
            return Err(ExportError::Data(format!(
                "{what} second-opinion scores: {}",
                offenders.join(", ")
            )));
        }
    }
    Ok(warnings)
}

/// Stop when fewer than half of the rows matched and another column or
/// normalisation would match far more, saying how to fix it in the terms
/// of the command that runs (`options.command_line`). When the user chose
/// the keying, a warning is enough (returned): for `export` that takes both
/// `--key-column` and `--key-normalize`, for `materialize` and `batch` an
/// explicit `--key-normalize` alone, as the reference never overrules it.
/// When nothing matches either way, every row is `missing`: the unmatched
/// keys in the summary say why.
fn check_key_match(
    plan: &ExportPlan,
    counts: &JoinCounts,
    options: &ExportOptions,
) -> Result<Option<String>, ExportError> {
    let (rows, matched) = (counts.input_rows, counts.key_matches);
    let (features_shown, key_column) = (&plan.features_shown, &plan.key_column);
    let (alternatives, alternative_matches) = (&plan.alternatives, &counts.alternative_matches);
    if rows == 0 || matched * 2 >= rows {
        return Ok(None);
    }
    let best = alternatives
        .iter()
        .zip(alternative_matches)
        .max_by_key(|(_, count)| **count)
        .filter(|(_, count)| **count * 2 >= rows && **count >= (matched * 2).max(matched + 1));
    let Some(((column, normalize), count)) = best else {
        return Ok(None);
    };
    let mut settings = Vec::new();
    if column != key_column {
        settings.push(("key-column", column.as_str()));
    }
    let normalize_name = normalize.name();
    settings.push(("key-normalize", &normalize_name));
    // Every command that exports takes both settings.
    let fix = options
        .command_line
        .fix(&settings)
        .unwrap_or_else(|| "choose another key column or normalisation".to_string());
    let message = format!(
        "{features_shown}: {matched} of {rows} keys matched with {key_column}/{}; \
         {column}/{} matches {count}: {fix}",
        plan.resolved_normalize.name(),
        normalize.name(),
    );
    let chosen_by_user = match options.command_line {
        CommandLine::Registry => {
            options.key_column.is_some() && options.key_normalize.default.is_some()
        }
        CommandLine::Materialize | CommandLine::Batch => options.key_normalize.default.is_some(),
    };
    if chosen_by_user {
        return Ok(Some(message));
    }
    Err(ExportError::Data(message))
}

/// The normalisations a scorer's own key check tries, in the order a tie
/// is settled: the plainest first, then ever longer path suffixes
/// (`Video/crf23/A0001.mp4` against `/mnt/nas/ugc/Video/crf23/A0001.mp4`).
const TRIED: [KeyNormalize; 6] = [
    KeyNormalize::Raw,
    KeyNormalize::Basename,
    KeyNormalize::Stem,
    KeyNormalize::Tail(2),
    KeyNormalize::Tail(3),
    KeyNormalize::Tail(4),
];

/// `export`'s check of each scorer on its own: one that knows fewer than
/// half of the table's keys, where another key column or normalisation
/// would match far more of the table's first rows, stops the export with
/// the fix (a warning when the user chose this scorer's keying); one named
/// with `--scorers` that matched nothing at all, with no better keying,
/// stops it too. A scorer not named that matches nothing either way has
/// scored other clips: its columns say `missing`, and that is all.
/// `materialize` and `batch` keep the reference's behaviour (every row
/// `missing`, exit 0).
fn check_each_scorer(
    plan: &ExportPlan,
    counts: &JoinCounts,
    indexes: &[ScorerIndex],
    options: &ExportOptions,
    sample: &KeySample,
    registry: Option<&Registry>,
) -> Result<Vec<String>, ExportError> {
    let rows = counts.input_rows;
    if options.command_line != CommandLine::Registry || rows == 0 || sample.rows == 0 {
        return Ok(Vec::new());
    }
    let (mut warnings, mut refusals) = (Vec::new(), Vec::new());
    for index in indexes {
        if index.counts.loaded == 0 || index.key_rows * 2 >= rows {
            continue;
        }
        let name = &index.counts.name;
        let resolved = index.keying.resolve(&plan.key_column);
        let now = format!(
            "{}: scorer '{name}' matched {} of {rows} rows with {}/{resolved}",
            plan.features_shown, index.key_rows, plan.key_column
        );
        // The scorer's keys: a probed index reads them now, on this
        // path only (a scorer that matched too few rows).
        let probed_keys = index.probed_keys(registry)?;
        let keys = || -> Box<dyn Iterator<Item = &str>> {
            match &probed_keys {
                Some(keys) => Box::new(keys.iter().map(String::as_str)),
                None => Box::new(index.data.by_key.keys().map(String::as_str)),
            }
        };
        let better = better_keying(plan, sample, index, keys()).filter(|better| {
            // At least half of the sample, and at least twice (and more
            // than) the share the keying in use matched.
            let (count, sampled) = (better.count as u64, sample.rows as u64);
            count * 2 >= sampled
                && count * rows >= 2 * index.key_rows * sampled
                && count * rows > index.key_rows * sampled
        });
        match better {
            Some(better) => {
                let mut settings: Vec<(&str, String)> = Vec::new();
                if better.column != plan.key_column {
                    settings.push(("key-column", better.column.clone()));
                }
                let normalize = if indexes.len() == 1 {
                    better.normalize.name().into_owned()
                } else {
                    options
                        .key_normalize
                        .with_scorer(&index.counts.slug, better.normalize)
                        .to_string()
                };
                settings.push(("key-normalize", normalize));
                let settings: Vec<(&str, &str)> =
                    settings.iter().map(|(f, v)| (*f, v.as_str())).collect();
                let fix = options
                    .command_line
                    .fix(&settings)
                    .unwrap_or_else(|| "choose another key column or normalisation".to_string());
                let of = if sample.whole_table {
                    String::new()
                } else {
                    format!(" of the first {} rows", sample.rows)
                };
                let message = format!(
                    "{now}; {}/{} matches {}{of}: {fix}",
                    better.column, better.normalize, better.count
                );
                let chosen = index.keying_chosen
                    && (better.column == plan.key_column || options.key_column.is_some());
                if chosen {
                    warnings.push(message);
                } else {
                    refusals.push(message);
                }
            }
            None if index.key_rows == 0 && named(options, &index.counts.slug) => {
                let theirs = keys().min().unwrap_or("");
                let ours = sample
                    .columns
                    .first()
                    .and_then(|(_, values)| values.iter().flatten().next())
                    .map(String::as_str)
                    .unwrap_or("");
                refusals.push(format!(
                    "{now}, although it has {} live scores (a key: '{theirs}'; a table key: '{ours}'), \
                     and no other key column or normalisation matches them: \
                     leave it out of --scorers if it has not scored these clips",
                    index.counts.loaded
                ));
            }
            None => {}
        }
    }
    if refusals.is_empty() {
        Ok(warnings)
    } else {
        Err(ExportError::Data(refusals.join("\n")))
    }
}

/// Whether `--scorers` names the scorer with this slug.
fn named(options: &ExportOptions, wanted: &str) -> bool {
    options
        .scorers
        .as_ref()
        .is_some_and(|names| names.iter().any(|name| slug(name) == wanted))
}

/// A keying the check found better, and the sampled rows it matched.
struct Better {
    column: String,
    normalize: KeyNormalize,
    count: usize,
}

/// The (column, normalisation) that matches most of the sampled rows to
/// the scorer's keys, each side normalised alike; one under which two of
/// the scorer's keys would be one is not a keying at all. The keys are
/// the index's own, so the sample, not the registry, bounds the memory.
fn better_keying<'k>(
    plan: &ExportPlan,
    sample: &KeySample,
    index: &ScorerIndex,
    keys: impl Iterator<Item = &'k str>,
) -> Option<Better> {
    let in_use = index.keying.resolve(&plan.key_column);
    /// One trial: the sampled keys so normalised → (rows, the first of
    /// the scorer's keys that matched them).
    struct Trial<'a> {
        column: &'a str,
        normalize: KeyNormalize,
        keys: HashMap<String, (usize, Option<&'a str>)>,
        ambiguous: bool,
    }
    let mut trials: Vec<Trial<'_>> = Vec::new();
    for (column, values) in &sample.columns {
        for normalize in TRIED {
            if *column == plan.key_column && normalize == in_use {
                continue;
            }
            let on_table = normalize.resolve(column);
            let mut keys: HashMap<String, (usize, Option<&str>)> = HashMap::new();
            for value in values.iter().flatten() {
                keys.entry(on_table.apply_resolved(value).into_owned())
                    .or_default()
                    .0 += 1;
            }
            trials.push(Trial {
                column,
                normalize,
                keys,
                ambiguous: false,
            });
        }
    }
    for stored in keys {
        for trial in &mut trials {
            let key = trial.normalize.apply_resolved(stored);
            if let Some((_, first)) = trial.keys.get_mut(key.as_ref()) {
                match first {
                    None => *first = Some(stored),
                    Some(other) if *other != stored => trial.ambiguous = true,
                    Some(_) => {}
                }
            }
        }
    }
    trials
        .into_iter()
        .filter(|trial| !trial.ambiguous)
        .map(|trial| Better {
            column: trial.column.to_string(),
            normalize: trial.normalize,
            count: trial
                .keys
                .values()
                .filter(|(_, first)| first.is_some())
                .map(|(rows, _)| rows)
                .sum(),
        })
        .filter(|better| better.count > 0)
        // The most rows; among equals, the first tried.
        .fold(None, |best: Option<Better>, trial| match best {
            Some(best) if best.count >= trial.count => Some(best),
            _ => Some(trial),
        })
}
