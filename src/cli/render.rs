//! How answers are shown: aligned tables and JSON on stdout, the per-file
//! lines of an ingest and the summary of an export on stderr. One function
//! per thing shown; none of them decides anything.

use std::path::Path;

use second_opinion::audit::families::Family;
use second_opinion::audit::report;
use second_opinion::audit::ReportPaths;
use second_opinion::audit::{AuditReport, TableAudit};
use second_opinion::batch::TableRun;
use second_opinion::export::ExportSummary;
use second_opinion::history::diff::Diff;
use second_opinion::history::replay::Replay;
use second_opinion::history::show::ExportShow;
use second_opinion::registry::corrections::{Retirement, ScorerCorrection};
use second_opinion::registry::exports::{ExportRecord, PublishState};
use second_opinion::registry::queries::{FileSummary, ProvenanceEntry, ScorerSummary};
use second_opinion::registry::Point;
use second_opinion::registry::{FileOutcome, FileStatus, IngestFileError};

use crate::Failure;

/// `value` as pretty JSON on stdout.
pub fn print_json<T: serde::Serialize>(value: &T) -> Result<(), Failure> {
    // Through Value so object keys come out sorted.
    let value = serde_json::to_value(value).map_err(Failure::data)?;
    // JSON escapes control characters itself.
    println!(
        "{}",
        serde_json::to_string_pretty(&value).map_err(Failure::data)?
    );
    Ok(())
}

/// Columns are padded to their widest cell up to this many characters; a
/// wider cell (a scorer name or key of thousands of characters) is printed
/// whole and only its own row loses the alignment.
const WIDEST_PADDED_COLUMN: usize = 120;

/// A table on stdout: left-aligned columns two spaces apart, no trailing
/// blanks, control characters shown escaped.
pub fn print_table(headers: &[&str], rows: Vec<Vec<String>>) {
    let rows: Vec<Vec<String>> = std::iter::once(headers.iter().map(|h| h.to_string()).collect())
        .chain(rows)
        .map(|row: Vec<String>| row.iter().map(|cell| shown(cell).into_owned()).collect())
        .collect();
    let mut widths: Vec<usize> = vec![0; headers.len()];
    for row in &rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            let chars = cell.chars().count();
            if chars <= WIDEST_PADDED_COLUMN {
                *width = (*width).max(chars);
            }
        }
    }
    for row in rows {
        let mut line = String::new();
        for (index, (cell, width)) in row.iter().zip(&widths).enumerate() {
            if index > 0 {
                line.push_str("  ");
            }
            line.push_str(cell);
            let chars = cell.chars().count();
            line.extend(std::iter::repeat_n(' ', width.saturating_sub(chars)));
        }
        println!("{}", line.trim_end());
    }
}

/// `text` as it may reach a terminal: control characters (C0 but newline
/// and tab, DEL, C1) and the bidirectional overrides that reorder what is
/// shown are written as escapes (`\x1b`, `\u{202e}`), so a key or name
/// cannot retitle the window, clear the screen or disguise itself.
pub fn shown(text: &str) -> std::borrow::Cow<'_, str> {
    let unsafe_char = |c: char| {
        (c.is_control() && c != '\n' && c != '\t')
            || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
    };
    if !text.chars().any(unsafe_char) {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut escaped = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if !unsafe_char(c) {
            escaped.push(c);
        } else if (c as u32) < 0x100 {
            escaped.push_str(&format!("\\x{:02x}", c as u32));
        } else {
            escaped.push_str(&format!("\\u{{{:x}}}", c as u32));
        }
    }
    std::borrow::Cow::Owned(escaped)
}

/// The first 12 characters of a hex digest, for tables.
pub fn short_hash(hex: &str) -> String {
    hex.chars().take(12).collect()
}

/// What became of one file: ingested (per scorer), skipped or nothing new.
pub fn summary_line(outcome: &FileOutcome) -> String {
    match &outcome.status {
        FileStatus::AlreadyIngested { at } => {
            format!("{}: already ingested at {at}, skipped", outcome.path)
        }
        FileStatus::NothingNew => {
            let totals = outcome.totals();
            format!(
                "{}: nothing new ({} rows ignored, {} skipped); not recorded",
                outcome.path, totals.ignored, totals.skipped
            )
        }
        FileStatus::Ingested => {
            let per_scorer: Vec<String> = outcome
                .scorers
                .iter()
                .map(|(name, c)| {
                    let replaced = if c.replaced == 0 {
                        "0 replaced".to_string()
                    } else {
                        format!(
                            "{} replaced ({} changed, {} identical)",
                            c.replaced,
                            c.replaced - c.replaced_identical,
                            c.replaced_identical
                        )
                    };
                    format!(
                        "{name}: {} rows ingested ({} bad, {replaced}, {} ignored, {} skipped)",
                        c.ingested, c.bad, c.ignored, c.skipped
                    )
                })
                .collect();
            format!("{}: {}", outcome.path, per_scorer.join("; "))
        }
    }
}

/// On stderr, as each file of an ingest is done: its summary, notes and
/// warnings.
pub fn report_ingested(outcome: &FileOutcome) {
    tell!("{}", summary_line(outcome));
    for note in &outcome.notes {
        tell!("  note: {note}");
    }
    for warning in &outcome.warnings {
        tell!(
            "  warning: {}: {} [{}]",
            warning.scorer,
            warning.message,
            warning.check
        );
    }
}

/// On stderr: why a file of an ingest was refused, and that nothing of it
/// was kept.
pub fn report_not_ingested(path: &Path, error: &IngestFileError) {
    tell!("second-opinion: {error}");
    tell!(
        "{}: not ingested; the registry is unchanged by this file",
        path.display()
    );
}

/// `inspect`'s text: how the file would go in, then its first rows.
pub fn print_inspection(outcome: &FileOutcome) {
    say!("file:     {} (sha256 {})", outcome.path, outcome.sha256);
    say!("format:   {} ({})", outcome.format, outcome.format_reason);
    for (name, detail) in &outcome.scorer_details {
        let direction = match detail.higher_is_better {
            Some(true) => "higher is better",
            Some(false) => "lower is better",
            None => "direction unknown",
        };
        let scale = match (&detail.scale, &detail.typical) {
            (Some(scale), _) => format!("scale {scale}"),
            (None, Some(typical)) => format!("typical range {typical}"),
            (None, None) => "no scale".to_string(),
        };
        say!(
            "scorer:   {name} (slug {}; {scale}; {direction})",
            detail.slug
        );
    }
    say!("dry run:  {}", summary_line(outcome));
    for note in &outcome.notes {
        say!("note:     {note}");
    }
    for warning in &outcome.warnings {
        say!(
            "warning:  {}: {} [{}]",
            warning.scorer,
            warning.message,
            warning.check
        );
    }
    let rows = outcome
        .preview
        .iter()
        .map(|row| {
            let components: Vec<String> = row
                .components
                .iter()
                .map(|(name, value)| {
                    format!("{name}={}", value.map_or("null".into(), |v| v.to_string()))
                })
                .collect();
            vec![
                row.line.to_string(),
                row.scorer.clone(),
                format!("{}={}", row.key_field, row.raw_key),
                row.key.clone(),
                row.score.map_or("null".into(), |v| v.to_string()),
                row.status.clone(),
                // A bad row says why; an ok row may carry the reader's note.
                row.reason
                    .clone()
                    .or_else(|| row.note.clone())
                    .unwrap_or_default(),
                if row.frames > 0 {
                    row.frames.to_string()
                } else {
                    String::new()
                },
                components.join(" "),
            ]
        })
        .collect();
    say!();
    print_table(
        &[
            "LINE",
            "SCORER",
            "RAW KEY",
            "KEY",
            "SCORE",
            "STATUS",
            "REASON / NOTE",
            "FRAMES",
            "COMPONENTS",
        ],
        rows,
    );
}

/// `inspect`'s text for a file that would be refused.
/// `inspect` of a file that would be refused: the format it was read as
/// (when one was told) and the problem; the command's error line says that
/// it would not be ingested.
pub fn print_not_inspected(
    error: &IngestFileError,
    format: Option<(second_opinion::ingest::Format, String)>,
) {
    if let Some((format, why)) = format {
        say!("format:   {} ({why})", format.name());
    }
    say!("problem:  {error}");
}

/// `scorers`: one row per scorer, then each scorer's warnings.
pub fn print_scorers(scorers: &[ScorerSummary]) {
    let rows = scorers
        .iter()
        .map(|s| {
            // A typical range (known scorers without a hard scale) is not
            // enforced: `~` sets it apart, as `inspect` says "typical range".
            let scale = match (s.scale_min, s.scale_max, s.typical_min, s.typical_max) {
                (Some(min), Some(max), _, _) => format!("{min}:{max}"),
                (_, _, Some(min), Some(max)) => format!("~{min}:{max}"),
                _ => "-".to_string(),
            };
            let direction = match s.higher_is_better {
                Some(true) => "higher",
                Some(false) => "lower",
                None => "-",
            };
            vec![
                s.name.clone(),
                s.slug.clone(),
                s.live_rows.to_string(),
                s.ok_rows.to_string(),
                s.bad_rows.to_string(),
                s.superseded_rows.to_string(),
                s.files.to_string(),
                scale,
                direction.to_string(),
                if s.versions.is_empty() {
                    "-".to_string()
                } else {
                    s.versions.join(",")
                },
                s.warnings.len().to_string(),
            ]
        })
        .collect();
    print_table(
        &[
            "NAME",
            "SLUG",
            "LIVE",
            "OK",
            "BAD",
            "SUPERSEDED",
            "FILES",
            "SCALE",
            "BETTER",
            "VERSIONS",
            "WARNINGS",
        ],
        rows,
    );
    for scorer in scorers.iter().filter(|s| !s.warnings.is_empty()) {
        for warning in &scorer.warnings {
            say!("warning: {}: {warning}", scorer.name);
        }
    }
}

/// `files`: one row per ingested file.
pub fn print_files(files: &[FileSummary]) {
    let rows = files
        .iter()
        .map(|f| {
            vec![
                f.id.to_string(),
                f.path.clone(),
                short_hash(&f.sha256),
                f.format.clone(),
                f.scorers.join(","),
                f.rows.to_string(),
                f.live_rows.to_string(),
                f.ingested_at.clone(),
            ]
        })
        .collect();
    print_table(
        &[
            "ID",
            "PATH",
            "SHA256",
            "FORMAT",
            "SCORERS",
            "ROWS",
            "LIVE",
            "INGESTED_AT",
        ],
        rows,
    );
}

/// `provenance`: each stored row of a (scorer, key), live first, with where
/// it came from.
pub fn print_provenance(entries: &[ProvenanceEntry], point: Option<&Point>) {
    if let Some(point) = point {
        if !entries.iter().any(|e| e.live_at_point == Some(true)) {
            say!("no row was live at {point}");
        }
    }
    for entry in entries {
        let score = entry.score.map_or("null".to_string(), |s| s.to_string());
        let state = if entry.live { "live" } else { "superseded" };
        let at_point = match (point, entry.live_at_point) {
            (Some(point), Some(true)) => format!(" [live at seq:{}]", point.seq),
            _ => String::new(),
        };
        say!(
            "{state}{at_point}: {} key={} score={score} status={}",
            entry.scorer,
            entry.key,
            entry.status
        );
        say!(
            "  points:      seq:{} to {}",
            entry.live_from_seq,
            entry
                .live_until_seq
                .map_or("now".to_string(), |seq| format!("seq:{seq}"))
        );
        if let Some(reason) = &entry.reason {
            say!("  reason:      {reason}");
        }
        if let Some(raw) = entry.raw_value {
            say!("  file wrote:  {raw}");
        }
        if let Some(note) = &entry.note {
            say!("  note:        {note}");
        }
        say!(
            "  from:        {}:{} (raw key '{}' in field '{}')",
            entry.path,
            entry.line,
            entry.raw_key,
            entry.key_field
        );
        say!(
            "  file:        {} sha256 {}",
            shown_from_here(&entry.absolute_path),
            entry.sha256
        );
        say!("  ingested_at: {}", entry.ingested_at);
        if let Some(version) = &entry.scorer_version {
            say!("  version:     {version}");
        }
        if let Some(runtime) = entry.runtime_ms {
            say!("  runtime_ms:  {runtime}");
        }
        if entry.frame_count > 0 {
            say!("  frames:      {}", entry.frame_count);
        }
        if let (Some(at), Some(by)) = (&entry.superseded_at, &entry.superseded_by) {
            say!("  superseded:  {at} by {by}");
        }
    }
}

/// The temporaries of killed runs a command removed from its output
/// folders, on stderr.
pub fn print_swept(removed: &[std::path::PathBuf]) {
    if removed.is_empty() {
        return;
    }
    let shown: Vec<String> = removed.iter().map(|p| p.display().to_string()).collect();
    tell!(
        "second-opinion: removed {} temporary file{} left by killed runs: {}",
        removed.len(),
        if removed.len() == 1 { "" } else { "s" },
        shown.join(", ")
    );
}

/// What an export warns of, on stderr, as soon as it returns.
pub fn print_export_warnings(summary: &ExportSummary) {
    for warning in &summary.warnings {
        tell!("second-opinion: warning: {warning}");
    }
}

/// On stderr, after `export` and `materialize`: rows written, and per
/// scorer what matched.
pub fn print_export_summary(summary: &ExportSummary) {
    tell!(
        "{}: {} rows written ({} read from {}, key {}/{})",
        summary.output_path,
        summary.output_rows,
        summary.input_rows,
        summary.features_path,
        summary.key_column,
        summary.key_normalize
    );
    if summary.trimmed_keys > 0 {
        tell!(
            "  {} of {} keys had whitespace around them, trimmed before matching",
            summary.trimmed_keys,
            summary.input_rows
        );
    }
    for scorer in &summary.scorers {
        tell!(
            "  {}{}: {} matched, {} missing, {} bad; {} of {} scores matched no row{}",
            scorer.name,
            scorer
                .key_normalize
                .as_ref()
                .map_or(String::new(), |own| format!(" (keys {own})")),
            scorer.matched,
            scorer.missing,
            scorer.bad,
            scorer.unmatched,
            scorer.loaded,
            if scorer.unmatched_keys.is_empty() {
                String::new()
            } else {
                format!(" (first: {})", scorer.unmatched_keys.join(", "))
            }
        );
    }
}

/// `exports`: one row per recorded export.
/// One table of a batch as it ends: its status, then what `materialize`
/// prints, or why it failed.
pub fn print_batch_table(run: &TableRun) {
    match &run.outcome {
        Ok(materialized) => {
            tell!("table {}: ok", run.spec.id);
            print_export_warnings(&materialized.summary);
            print_export_summary(&materialized.summary);
        }
        Err(e) => tell!("second-opinion: table {}: {e}", run.spec.id),
    }
}

pub fn print_exports(exports: &[ExportRecord]) {
    let rows = exports
        .iter()
        .map(|e| {
            vec![
                e.id.to_string(),
                e.created_at.clone(),
                e.command.clone(),
                e.seq.map_or("-".to_string(), |seq| {
                    format!("seq:{seq}{}", if e.seq_inferred { "~" } else { "" })
                }),
                e.features_path.clone(),
                match e.state {
                    PublishState::Published => e.output_path.clone(),
                    state => format!("{} ({})", e.output_path, state.name()),
                },
                short_hash(&e.output_sha256),
                e.output_rows.to_string(),
                short_hash(&e.registry_digest),
                if e.tags.is_empty() {
                    "-".to_string()
                } else {
                    e.tags.join(",")
                },
                e.note.clone().unwrap_or_else(|| "-".to_string()),
            ]
        })
        .collect();
    print_table(
        &[
            "ID",
            "CREATED_AT",
            "COMMAND",
            "POINT",
            "FEATURES",
            "OUTPUT",
            "OUT_SHA256",
            "ROWS",
            "REGISTRY",
            "TAGS",
            "NOTE",
        ],
        rows,
    );
}

/// `files retire`: what was retired at which point, and what stays as it is.
pub fn print_retirement(retirement: &Retirement, restore_previous: bool) {
    say!(
        "retired file {} ({}, sha256 {}) at {}: {} live rows superseded",
        retirement.file_id,
        retirement.path,
        short_hash(&retirement.sha256),
        retirement.point,
        retirement.retired
    );
    if restore_previous {
        say!(
            "{} rows it had superseded are live again",
            retirement.restored
        );
    } else if retirement.previous > 0 {
        say!(
            "{} rows it had superseded stay superseded (pass --restore-previous to make them live again)",
            retirement.previous
        );
    }
    say!(
        "exports as of seq:{} or earlier still see the file's rows",
        retirement.point.seq - 1
    );
}

/// `scorers set|rename|merge`: what changed, at which point.
pub fn print_scorer_correction(correction: &ScorerCorrection) {
    say!(
        "{}: {} at {}",
        correction.scorer,
        correction.changes.join("; "),
        correction.point
    );
    if correction.now_bad + correction.now_ok > 0 {
        say!(
            "  live scores judged again: {} now bad, {} now ok",
            correction.now_bad,
            correction.now_ok
        );
    }
    if correction.moved > 0 {
        say!("  {} live scores moved", correction.moved);
    }
}

/// After `export`: the id it was recorded under, its point, and a word when
/// it wrote over the output of an earlier export.
pub fn print_export_recorded(
    id: i64,
    summary: &ExportSummary,
    tag: Option<&str>,
    earlier: Option<&ExportRecord>,
) {
    let point = summary
        .point
        .as_ref()
        .map(|p| format!(" at {p}"))
        .unwrap_or_default();
    let tag = tag.map(|t| format!(", tagged '{t}'")).unwrap_or_default();
    tell!(
        "recorded as export {id}{point}{tag} (content {})",
        short_hash(&summary.content_digest)
    );
    if let Some(earlier) = earlier {
        tell!(
            "note: {} was the output of export {}; `exports replay {} --out PATH` writes that table again",
            summary.output_path,
            earlier.id,
            earlier.id
        );
    }
}

/// `exports show`: an export, then per scorer what it read.
pub fn print_export_show(shown: &ExportShow) {
    let e = &shown.export;
    say!("export {} ({}, {})", e.id, e.command, e.created_at);
    say!(
        "  point:     {}{}",
        shown.point,
        if e.seq_inferred {
            " (inferred from the times when the registry was upgraded)"
        } else {
            ""
        }
    );
    if let Some(as_of) = &e.as_of {
        say!("  as of:     {as_of}");
    }
    if !e.tags.is_empty() {
        say!("  tags:      {}", e.tags.join(", "));
    }
    if let Some(note) = &e.note {
        say!("  note:      {note}");
    }
    say!(
        "  features:  {} sha256 {}",
        e.features_path,
        e.features_sha256
    );
    say!(
        "  output:    {} ({}, {} rows) sha256 {}",
        e.output_path,
        e.output_format,
        e.output_rows,
        e.output_sha256
    );
    match e.state {
        PublishState::Published => {}
        PublishState::Pending => say!(
            "  state:     pending: recorded, but its run has not confirmed the output is in place \
             (a run still going, or one that stopped: the next export settles it)"
        ),
        PublishState::Abandoned => say!(
            "  state:     abandoned: its run stopped before the output was in place; \
             the file at the output path is not this export"
        ),
    }
    say!(
        "  content:   {}",
        e.content_digest
            .as_deref()
            .unwrap_or("(not recorded: exported before content digests)")
    );
    say!("  tool:      {}", e.tool_version);
    for scorer in &shown.scorers {
        say!(
            "{}: {} live rows ({} ok, {} bad), digest {}",
            scorer.name,
            scorer.live_rows,
            scorer.ok,
            scorer.bad,
            scorer.digest.as_deref().map_or("-".to_string(), short_hash)
        );
        if !scorer.versions.is_empty() {
            say!("  versions: {}", scorer.versions.join(", "));
        }
        for file in &scorer.files {
            say!(
                "  {} sha256 {} ingested {} (seq:{}): {} ok, {} bad",
                file.path,
                short_hash(&file.sha256),
                file.ingested_at,
                file.id,
                file.ok,
                file.bad
            );
        }
    }
}

/// `exports diff`: counts per scorer, then (with `--rows`) every key.
pub fn print_diff(diff: &Diff, rows: bool) {
    say!(
        "from {} = {} to {} = {}",
        diff.a.reference,
        diff.a.point,
        diff.b.reference,
        diff.b.point
    );
    if let Some(compared) = &diff.exports {
        say!(
            "feature tables: {}",
            if compared.features_differ {
                format!(
                    "differ ({} and {})",
                    compared.features[0], compared.features[1]
                )
            } else {
                "the same".to_string()
            }
        );
        say!(
            "options: {}",
            if compared.options_differ.is_empty() {
                "the same".to_string()
            } else {
                format!("differ in {}", compared.options_differ.join(", "))
            }
        );
    }
    let cell = |row: &Option<second_opinion::registry::history::RowAt>| match row {
        Some(r) => format!(
            "{} {} {}:{}",
            r.score.map_or("null".to_string(), |v| v.to_string()),
            r.status,
            r.path,
            r.line
        ),
        None => "-".to_string(),
    };
    for scorer in &diff.scorers {
        let state = match (scorer.rows_a, scorer.rows_b) {
            (0, _) => " (new scorer)",
            (_, 0) => " (no rows at B)",
            _ => "",
        };
        say!(
            "{}{state}: {} changed, {} added, {} removed ({} rows at A, {} at B)",
            scorer.name,
            scorer.changed,
            scorer.added,
            scorer.removed,
            scorer.rows_a,
            scorer.rows_b
        );
        if rows {
            for change in &scorer.keys {
                say!(
                    "  {} {}: {} -> {}",
                    change.change,
                    change.key,
                    cell(&change.old),
                    cell(&change.new)
                );
            }
        }
    }
}

/// `exports replay`: whether the content (and the bytes) came out the same.
pub fn print_replay(replay: &Replay) {
    say!(
        "export {} replayed at {} onto {}",
        replay.export,
        replay.point,
        replay.features
    );
    for scorer in &replay.scorers {
        let verdict = match &scorer.recorded {
            Some(recorded) if *recorded == scorer.replayed => "same scores".to_string(),
            Some(recorded) => format!(
                "scores differ: recorded {}, replayed {}",
                short_hash(recorded),
                short_hash(&scorer.replayed)
            ),
            None => "no digest recorded".to_string(),
        };
        say!("  {}: {verdict}", scorer.name);
    }
    match &replay.recorded_content {
        Some(recorded) if *recorded == replay.replayed_content => {
            say!("content: matches ({})", short_hash(recorded))
        }
        Some(recorded) => say!(
            "content: DIFFERS: recorded {recorded}, replayed {}",
            replay.replayed_content
        ),
        None => say!("content: no digest recorded (an export from before content digests): judged by its bytes"),
    }
    if replay.bytes_match {
        say!(
            "bytes: match (sha256 {})",
            short_hash(&replay.output_sha256[0])
        );
    } else {
        say!(
            "bytes: differ (recorded sha256 {}, replayed {}; the original was written by second-opinion {}, this is {})",
            short_hash(&replay.output_sha256[0]),
            short_hash(&replay.output_sha256[1]),
            replay.recorded_tool_version,
            second_opinion::TOOL_VERSION
        );
    }
    match &replay.written {
        Some(path) => say!("wrote {path}"),
        None if replay.reproduced() => say!("nothing written (pass --out PATH to keep the table)"),
        None => say!(
            "nothing written: the replay does not reproduce export {}",
            replay.export
        ),
    }
}

/// `audit`'s closing lines: the `[signal-mix]` summary the reference
/// prints, then what changed per table with `--compare-last`.
pub fn print_audit_summary(audited: &AuditReport, paths: &ReportPaths) {
    let count = |f: fn(&TableAudit) -> usize| audited.tables.iter().map(f).sum::<usize>();
    let wrote: Vec<String> = [&paths.json, &paths.markdown, &paths.html]
        .into_iter()
        .flatten()
        .map(|p| p.display().to_string())
        .collect();
    for table in &audited.tables {
        if let Some(hint) = &table.signals.target_hint {
            tell!(
                "second-opinion: hint: {}: target {}: {hint}",
                table.label,
                table.signals.target.as_deref().unwrap_or("none")
            );
        }
    }
    say!(
        "[signal-mix] tables={} missing_families={} weak_families={} wrote={}",
        audited.tables.len(),
        count(|t| t.signals.missing_families.len()),
        count(|t| t.signals.weak_families.len()),
        wrote.join(" ")
    );
    for table in &audited.tables {
        if let Some(changes) = &table.changes {
            say!("changes since the last audit of '{}':", table.label);
            for line in report::changes_lines(changes) {
                say!("  {line}");
            }
        }
    }
}

/// `families list`: the families in classification order.
pub fn print_families(families: &[Family]) {
    for family in families {
        say!("{}. {} — {}", family.position, family.key, family.label);
        if !family.question.is_empty() {
            say!("   question:       {}", family.question);
        }
        say!("   patterns:       {}", family.patterns.join("  "));
        if !family.candidate_metrics.is_empty() {
            say!("   candidates:     {}", family.candidate_metrics.join(", "));
        }
        if !family.recommendation.is_empty() {
            say!("   recommendation: {}", family.recommendation);
        }
    }
}

/// A file's absolute path as the user at the terminal would name it: relative
/// to the working directory when the file lies under it (what a user sees
/// from the repository root), else absolute. `--json` keeps it absolute.
fn shown_from_here(absolute: &str) -> String {
    let path = std::path::Path::new(absolute);
    std::env::current_dir()
        .ok()
        .and_then(|here| {
            let here = here.canonicalize().unwrap_or(here);
            path.strip_prefix(&here)
                .ok()
                .map(|p| p.display().to_string())
        })
        .filter(|relative| !relative.is_empty())
        .unwrap_or_else(|| absolute.to_string())
}

/// What `registry copy` moved, in one line per kind of row.
pub fn print_copy_summary(summary: &second_opinion::registry::copy::CopySummary) {
    println!("copied {} into {}", summary.from, summary.to);
    for (table, what) in [
        ("scorers", "scorers"),
        ("scorer_revisions", "scorer settings revisions"),
        ("source_files", "files"),
        ("changes", "points in time"),
        ("scores", "score rows (live and superseded)"),
        ("frame_scores", "frame values"),
        ("score_components", "components"),
        ("exports", "exports"),
        ("tags", "tags"),
        ("signal_families", "signal families"),
        ("audit_runs", "audit runs"),
    ] {
        println!("  {:>10} {what}", summary.rows_of(table));
    }
}
