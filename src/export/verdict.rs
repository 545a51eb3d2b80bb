//! The verdict, once every batch is joined and before anything is
//! published: does the key match the scores (or would another column or
//! normalisation match far more), and does a `fail` policy refuse the
//! missing or bad rows.

use crate::command_line::CommandLine;

use super::index::ScorerIndex;
use super::join::JoinCounts;
use super::plan::ExportPlan;
use super::{ExportError, ExportOptions, RowPolicy, ScorerExportCounts};

/// The export may be published (with warnings for the user), or why not.
pub(super) fn verdict(
    plan: &ExportPlan,
    counts: &JoinCounts,
    indexes: &[ScorerIndex],
    options: &ExportOptions,
) -> Result<Vec<String>, ExportError> {
    let mut warnings: Vec<String> = check_key_match(plan, counts, options)?
        .into_iter()
        .collect();
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
        CommandLine::Registry => options.key_column.is_some() && options.key_normalize.is_some(),
        CommandLine::Materialize | CommandLine::Batch => options.key_normalize.is_some(),
    };
    if chosen_by_user {
        return Ok(Some(message));
    }
    Err(ExportError::Data(message))
}
