//! What a record becomes, decided once for every store: which scorer it
//! belongs to, what scale and direction a new scorer starts with, whether a
//! declared scale or direction conflicts with the registered one, what key
//! it is filed under, whether its value is usable, and how a duplicate is
//! worded. The stores (SQLite, in memory) only keep what these rules decide.

use std::borrow::Cow;

use super::{is_ok_status, RawScore, ScoreRecord};
use crate::command_line::CommandLine;
use crate::key::KeyNormalize;
use crate::scorer::{known_scorer, Bounds, Scale};

/// What to do when a (scorer, key) is already live from an earlier file.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ConflictPolicy {
    /// Refuse the file (the default: duplicates are data poisoning).
    #[default]
    Refuse,
    /// Make the new row live; the old one stays as superseded history.
    Replace,
    /// Keep the live row and count the new one as ignored.
    Ignore,
}

/// The scorer a record belongs to: `--scorer`, the row's `competitor`,
/// the file's label, then what the format implies.
///
/// A record of one metric among several in a file (ffmpeg-quality-metrics'
/// `vmaf`, `psnr` …) is its metric's scorer, and `--scorer` or the label
/// prefixes the metric (`fqm=run.json` → `fqm-vmaf`, `fqm-psnr`): naming
/// every metric alike would make them duplicates of one another.
pub(crate) fn scorer_name_of<'a>(
    flag: Option<&'a str>,
    record: &'a ScoreRecord,
    label: Option<&'a str>,
) -> Result<Cow<'a, str>, &'static str> {
    if let Some(metric) = record.metric.as_deref() {
        return Ok(match flag.or(label) {
            Some(prefix) => Cow::Owned(format!("{prefix}-{metric}")),
            None => Cow::Borrowed(metric),
        });
    }
    flag.or(record.scorer.as_deref())
        .or(label)
        .or(record.scorer_hint.as_deref())
        .map(Cow::Borrowed)
        .ok_or("no scorer name: the row has no `competitor` and the file no LABEL=")
}

/// The longest scorer name (or label) taken, in characters: a name becomes
/// part of every exported column's name and of every listing.
pub const MAX_SCORER_NAME_CHARS: usize = 256;

/// The longest `--scorer-version` taken, in characters.
pub const MAX_SCORER_VERSION_CHARS: usize = 4096;

/// How the command in hand names a file's scorer, for messages: `ingest`
/// also takes `--scorer`; `materialize` and `batch` only a label.
pub(crate) fn naming_hint(command_line: CommandLine) -> &'static str {
    match command_line {
        CommandLine::Registry => "write LABEL=PATH or pass --scorer",
        CommandLine::Materialize => "write LABEL=PATH",
        CommandLine::Batch => "write the score entry as \"LABEL=PATH\"",
    }
}

/// Why `name` cannot name a scorer for its length, if it cannot.
pub(crate) fn overlong_name_message(name: &str, command_line: CommandLine) -> Option<String> {
    let chars = name.chars().count();
    (chars > MAX_SCORER_NAME_CHARS).then(|| {
        format!(
            "scorer name of {chars} characters is longer than the limit of {MAX_SCORER_NAME_CHARS} \
             ({})",
            naming_hint(command_line)
        )
    })
}

/// The message for a scorer name that slugs to nothing.
pub(crate) fn empty_slug_message(name: &str) -> String {
    format!("scorer name '{name}' has no letters or digits")
}

/// What a file declares about its scorers: `--scale` (or the scale its
/// format fixes) and `--higher-is-better`/`--lower-is-better`.
#[derive(Clone, Debug, Default)]
pub(crate) struct Declared {
    pub scale: Option<Scale>,
    /// Who declared the scale, for a conflict's message.
    pub scale_by: String,
    pub higher_is_better: Option<bool>,
    /// The scale came from `--scale` (not from the file's format).
    pub scale_from_flag: bool,
    /// `--scale` may override a known scorer's documented scale: the
    /// command said so (`--force-scale`), or it named this one scorer alone
    /// (its slug).
    pub scale_forced: bool,
    pub scale_names: Option<String>,
    /// A known scorer whose scale depends on the run may go without one
    /// (`materialize`, which keeps every value as the reference does).
    pub scale_may_be_unknown: bool,
}

impl Declared {
    /// `--scale` wins; otherwise the scale the file's format fixes counts
    /// as declared.
    pub(crate) fn new(
        scale: Option<Scale>,
        format_scale: Option<Scale>,
        format_name: &str,
        higher_is_better: Option<bool>,
    ) -> Declared {
        let scale_from_flag = scale.is_some();
        let (scale, scale_by) = match (scale, format_scale) {
            (Some(scale), _) => (Some(scale), format!("--scale {scale}")),
            (None, Some(scale)) => (
                Some(scale),
                format!("the {format_name} format's scale {scale}"),
            ),
            (None, None) => (None, String::new()),
        };
        Declared {
            scale,
            scale_by,
            higher_is_better,
            scale_from_flag,
            scale_forced: false,
            scale_names: None,
            scale_may_be_unknown: false,
        }
    }
}

/// A `--scale` never silently overrides the documented scale of a known
/// scorer: one flag on a command that ingests several scorers' files would
/// otherwise apply one model's scale to all of them. It may when the
/// command names that scorer alone or says `--force-scale`.
pub(crate) fn check_flag_scale(name: &str, slug: &str, declared: &Declared) -> Result<(), String> {
    let Some(scale) = declared.scale.filter(|_| declared.scale_from_flag) else {
        return Ok(());
    };
    if declared.scale_forced || declared.scale_names.as_deref() == Some(slug) {
        return Ok(());
    }
    let Some(known) = known_scorer(name) else {
        return Ok(());
    };
    if !matches!(known.bounds, Bounds::Hard | Bounds::Typical) {
        return Ok(());
    }
    let documented = Scale {
        min: known.min,
        max: known.max,
    };
    if documented == scale {
        return Ok(());
    }
    Err(format!(
        "--scale {scale} would override the documented scale {documented} of scorer '{name}' \
         ({}); --scale applies to every scorer the command ingests: name this scorer alone \
         (--scorer NAME, or the same LABEL= on every file) or pass --force-scale",
        known.note
    ))
}

/// What a scorer is registered with when first seen.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub(crate) struct ScorerDefaults {
    /// The hard scale: values outside are bad.
    pub scale: Option<Scale>,
    /// The typical range, for the suspicious-output checks only.
    pub typical: Option<Scale>,
    pub higher_is_better: Option<bool>,
}

/// A new scorer takes the documented scale and direction of the known
/// scorer its name refers to, unless the user (or the format) declared
/// them. A known scorer whose scale depends on how it was run is refused
/// when nothing declares one (`Err` says why), unless its scale may stay
/// unknown ([`Declared::scale_may_be_unknown`]).
pub(crate) fn new_scorer_defaults(
    name: &str,
    declared: &Declared,
) -> Result<ScorerDefaults, String> {
    let Some(known) = known_scorer(name) else {
        return Ok(ScorerDefaults {
            scale: declared.scale,
            typical: None,
            higher_is_better: declared.higher_is_better,
        });
    };
    let range = Scale {
        min: known.min,
        max: known.max,
    };
    let (scale, typical) = match (declared.scale, known.bounds) {
        (Some(declared), _) => (Some(declared), None),
        (None, Bounds::Hard) => (Some(range), None),
        (None, Bounds::Typical) => (None, Some(range)),
        (None, Bounds::Unbounded) => (None, None),
        (None, Bounds::DependsOnRun) if declared.scale_may_be_unknown => (None, None),
        (None, Bounds::DependsOnRun) => {
            return Err(format!(
                "scorer '{name}' has no fixed scale ({}): pass --scale MIN:MAX",
                known.note
            ))
        }
    };
    Ok(ScorerDefaults {
        scale,
        typical,
        higher_is_better: Some(declared.higher_is_better.unwrap_or(known.higher_is_better)),
    })
}

/// A scorer has one scale: a declared scale must be the registered one.
pub(crate) fn check_declared_scale(
    registered_name: &str,
    registered: Option<Scale>,
    declared: &Declared,
) -> Result<(), String> {
    match (registered, declared.scale) {
        (Some(registered), Some(scale)) if registered != scale => Err(format!(
            "scorer '{registered_name}' is registered with scale {registered}; {} conflicts \
             (a scorer has one scale; name a different scorer with --scorer if this is another model)",
            declared.scale_by
        )),
        _ => Ok(()),
    }
}

/// A scorer has one direction: a declared one must be the registered one.
pub(crate) fn check_declared_direction(
    registered_name: &str,
    registered: Option<bool>,
    declared: &Declared,
) -> Result<(), String> {
    let says = |higher: bool| {
        if higher {
            "higher-is-better"
        } else {
            "lower-is-better"
        }
    };
    match (registered, declared.higher_is_better) {
        (Some(registered), Some(higher)) if registered != higher => Err(format!(
            "scorer '{registered_name}' is registered as {}; --{} conflicts",
            says(registered),
            says(higher)
        )),
        _ => Ok(()),
    }
}

/// The key normalisation of one file, resolved once per key field: rows
/// of a file nearly always take their key from one field.
pub(crate) struct KeyRule {
    normalize: KeyNormalize,
    /// `--key-strip-prefix`, taken off before the key is normalised.
    strip_prefix: Option<String>,
    /// Keys that did not start with `strip_prefix` (kept as written).
    pub(crate) without_prefix: u64,
    /// The last key field and the normalisation it resolves to.
    last_field: Option<(std::borrow::Cow<'static, str>, KeyNormalize)>,
}

impl KeyRule {
    pub(crate) fn new(normalize: KeyNormalize, strip_prefix: Option<String>) -> KeyRule {
        KeyRule {
            normalize,
            strip_prefix,
            without_prefix: 0,
            last_field: None,
        }
    }

    /// `raw_key` without `--key-strip-prefix` (and blanks around it), as
    /// the normalisation reads it; counted when the prefix is not there.
    fn stripped<'r>(&mut self, raw_key: &'r str) -> &'r str {
        let trimmed = raw_key.trim();
        let Some(prefix) = self.strip_prefix.as_deref() else {
            return trimmed;
        };
        match trimmed.strip_prefix(prefix) {
            Some(rest) => rest,
            None => {
                self.without_prefix += 1;
                trimmed
            }
        }
    }

    /// The key normalisation `raw_key` read from `field` would have under
    /// `normalize` instead, with this rule's prefix stripped: what a
    /// collision's message compares.
    pub(crate) fn key_under<'r>(
        &self,
        normalize: KeyNormalize,
        field: &str,
        raw_key: &'r str,
    ) -> Cow<'r, str> {
        let trimmed = raw_key.trim();
        let stripped = self
            .strip_prefix
            .as_deref()
            .and_then(|prefix| trimmed.strip_prefix(prefix))
            .unwrap_or(trimmed);
        normalize.apply(field, stripped)
    }

    /// The normalisation this rule applies to keys read from `field`.
    pub(crate) fn resolved(&self, field: &str) -> KeyNormalize {
        self.normalize.resolve(field)
    }

    /// The key `record` is filed under, or why it cannot be (empty after
    /// normalisation).
    pub(crate) fn key_of<'r>(&mut self, record: &'r ScoreRecord) -> Result<Cow<'r, str>, String> {
        if self
            .last_field
            .as_ref()
            .is_none_or(|(field, _)| *field != record.key_field)
        {
            let resolved = self.normalize.resolve(&record.key_field);
            self.last_field = Some((record.key_field.clone(), resolved));
        }
        let resolved = self.last_field.as_ref().expect("set above").1;
        let key = resolved.apply_resolved(self.stripped(&record.raw_key));
        if key.trim().is_empty() {
            return Err(self
                .normalize
                .empty_key_message(&record.key_field, &record.raw_key));
        }
        Ok(key)
    }
}

/// A record's score as it will be stored.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct StoredScore {
    pub score: Option<f64>,
    pub status: &'static str,
    /// Why the row is bad.
    pub reason: Option<String>,
    /// What the reader noted about the row (frames left out of the pool).
    pub note: Option<String>,
    /// The number the file wrote, when `score` is empty because it was
    /// outside the scorer's scale: kept, so a corrected scale can take it.
    pub raw_value: Option<f64>,
}

impl StoredScore {
    pub(crate) fn is_bad(&self) -> bool {
        self.status == "bad"
    }
}

/// Why a value outside its scorer's scale is bad.
pub(crate) fn outside_scale_reason(value: f64, scale: Scale) -> String {
    format!("score {value} is outside the declared scale {scale}")
}

/// The note of a value outside its scorer's scale that is kept `ok`.
pub(crate) fn kept_outside_note(value: f64, scale: Scale) -> String {
    format!("score {value} is outside the scale {scale}: kept as written")
}

/// Decide what a record's score becomes: an unusable value is stored `bad`
/// with no score; a row whose scorer reported a failure keeps its value but
/// is `bad`; a value outside the declared scale is `bad` with no score (the
/// value kept in `raw_value`), or, when `keep_outside` (`materialize`, as
/// the reference), `ok` with a note.
pub(crate) fn judge(record: &ScoreRecord, scale: Option<Scale>, keep_outside: bool) -> StoredScore {
    let bad = |score, reason| StoredScore {
        score,
        status: "bad",
        reason: Some(reason),
        note: record.note.clone(),
        raw_value: None,
    };
    let failed_status = record
        .reported_status
        .as_deref()
        .filter(|s| !is_ok_status(s));
    match &record.value {
        RawScore::Unusable(reason) => match failed_status {
            Some(status) => bad(
                None,
                format!("scorer reported status '{status}' ({reason})"),
            ),
            None => bad(None, reason.clone()),
        },
        RawScore::Number(value) => {
            if let Some(status) = failed_status {
                return bad(Some(*value), format!("scorer reported status '{status}'"));
            }
            if let Some(scale) = scale.filter(|scale| !scale.contains(*value)) {
                if keep_outside {
                    let note = match &record.note {
                        Some(note) => format!("{note}; {}", kept_outside_note(*value, scale)),
                        None => kept_outside_note(*value, scale),
                    };
                    return StoredScore {
                        score: Some(*value),
                        status: "ok",
                        reason: None,
                        note: Some(note),
                        raw_value: None,
                    };
                }
                return StoredScore {
                    raw_value: Some(*value),
                    ..bad(None, outside_scale_reason(*value, scale))
                };
            }
            StoredScore {
                score: Some(*value),
                status: "ok",
                reason: None,
                note: record.note.clone(),
                raw_value: None,
            }
        }
    }
}

/// Where the score a new row collides with came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct LiveOrigin {
    pub path: String,
    pub line: u64,
    /// When it was ingested; `None` for scores held in memory by this run.
    pub ingested_at: Option<String>,
    /// It came from the very file being read.
    pub same_file: bool,
    /// The key as that row's file wrote it, where the store keeps it (the
    /// in-memory store of `materialize` does not): what tells a collision
    /// of two paths from a clip scored twice.
    pub raw_key: Option<String>,
}

/// What happens to a row whose (scorer, key) is live already.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum DuplicateAction {
    /// The file is refused, naming both places.
    Refuse,
    /// The row is left out; the live one stays.
    Ignore,
    /// The row becomes live; the old one stays as superseded history.
    Supersede,
}

/// The policy's answer, except that a file may hold each (scorer, key)
/// once whatever the policy: a second row in the same file is refused.
pub(crate) fn duplicate_action(policy: ConflictPolicy, same_file: bool) -> DuplicateAction {
    match policy {
        _ if same_file => DuplicateAction::Refuse,
        ConflictPolicy::Refuse => DuplicateAction::Refuse,
        ConflictPolicy::Ignore => DuplicateAction::Ignore,
        ConflictPolicy::Replace => DuplicateAction::Supersede,
    }
}

/// What a duplicate's message says about the score already there.
pub(crate) fn duplicate_detail(live: &LiveOrigin, suggest_conflict_flags: bool) -> String {
    if live.same_file {
        return format!(
            "the same file already has it at {}:{} (a file may hold each scorer and key once)",
            live.path, live.line
        );
    }
    match &live.ingested_at {
        Some(at) => {
            let hint = if suggest_conflict_flags {
                " (pass --replace to supersede it, or --ignore to keep it)"
            } else {
                ""
            };
            format!(
                "already live from {}:{}, ingested {at}{hint}",
                live.path, live.line
            )
        }
        None => format!("also in {}:{}", live.path, live.line),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(value: RawScore, status: Option<&str>) -> ScoreRecord {
        ScoreRecord {
            line: 1,
            key_field: "path".into(),
            raw_key: "/corpus/a.mp4".to_string(),
            scorer: None,
            scorer_hint: None,
            metric: None,
            value,
            reported_status: status.map(|s| s.to_string().into()),
            runtime_ms: None,
            frames: Vec::new(),
            pooled_frames: 0,
            note: None,
            components: Vec::new(),
            warnings: Vec::new(),
        }
    }

    #[test]
    fn a_metric_of_a_multi_scorer_file_is_its_scorer_prefixed_by_the_label() {
        let mut row = record(RawScore::Number(1.0), None);
        row.scorer_hint = Some("hint".into());
        assert_eq!(scorer_name_of(None, &row, Some("dover")).unwrap(), "dover");
        row.metric = Some("psnr".into());
        assert_eq!(scorer_name_of(None, &row, None).unwrap(), "psnr");
        assert_eq!(scorer_name_of(None, &row, Some("fqm")).unwrap(), "fqm-psnr");
        assert_eq!(
            scorer_name_of(Some("run7"), &row, Some("fqm")).unwrap(),
            "run7-psnr",
            "--scorer prefixes too, over the label"
        );
    }

    #[test]
    fn judge_marks_bad_rows_with_a_reason() {
        let ok = judge(
            &record(RawScore::Number(50.0), Some("ok")),
            Some(Scale {
                min: 0.0,
                max: 100.0,
            }),
            false,
        );
        assert_eq!((ok.score, ok.status, ok.reason), (Some(50.0), "ok", None));
        let failed = judge(&record(RawScore::Number(50.0), Some("oom")), None, false);
        assert_eq!(
            (failed.score, failed.status, failed.reason.as_deref()),
            (Some(50.0), "bad", Some("scorer reported status 'oom'"))
        );
        let percent = Some(Scale {
            min: 0.0,
            max: 100.0,
        });
        let outside = judge(&record(RawScore::Number(101.0), None), percent, false);
        assert_eq!(outside.raw_value, Some(101.0), "the value is kept");
        let kept = judge(&record(RawScore::Number(101.0), None), percent, true);
        assert_eq!(
            (kept.score, kept.status, kept.note.as_deref()),
            (
                Some(101.0),
                "ok",
                Some("score 101 is outside the scale 0:100: kept as written")
            )
        );
        assert_eq!(
            (outside.score, outside.status, outside.reason.as_deref()),
            (
                None,
                "bad",
                Some("score 101 is outside the declared scale 0:100")
            )
        );
        let unusable = judge(
            &record(RawScore::Unusable("score is null".into()), None),
            None,
            false,
        );
        assert_eq!((unusable.score, unusable.status), (None, "bad"));
        let both = judge(
            &record(
                RawScore::Unusable("score is null".into()),
                Some("decode_error"),
            ),
            None,
            false,
        );
        assert_eq!(
            both.reason.as_deref(),
            Some("scorer reported status 'decode_error' (score is null)")
        );
    }

    #[test]
    fn known_scorers_start_with_their_documented_scale_unless_declared() {
        let none = Declared::default();
        let dover = new_scorer_defaults("DOVER-Mobile", &none).unwrap();
        assert!(dover.scale.is_some() || dover.typical.is_some());
        let declared = Declared::new(Some(Scale { min: 1.0, max: 5.0 }), None, "jsonl", None);
        assert_eq!(
            new_scorer_defaults("unknown-metric", &declared)
                .unwrap()
                .scale,
            declared.scale
        );
        assert!(new_scorer_defaults("q-align", &none)
            .unwrap_err()
            .contains("pass --scale MIN:MAX"));
        let unknown_ok = Declared {
            scale_may_be_unknown: true,
            ..Declared::default()
        };
        let qalign = new_scorer_defaults("Q-Align", &unknown_ok).unwrap();
        assert_eq!((qalign.scale, qalign.typical), (None, None));
    }

    #[test]
    fn key_rule_normalises_per_field_and_refuses_empty_keys() {
        let mut rule = KeyRule::new(KeyNormalize::Auto, None);
        assert_eq!(
            rule.key_of(&record(RawScore::Number(1.0), None)).unwrap(),
            "a.mp4"
        );
        let mut empty = record(RawScore::Number(1.0), None);
        empty.raw_key = "  ".to_string();
        assert!(rule.key_of(&empty).unwrap_err().contains("is empty after"));
    }

    #[test]
    fn a_file_may_hold_a_key_once_whatever_the_policy() {
        for policy in [
            ConflictPolicy::Refuse,
            ConflictPolicy::Ignore,
            ConflictPolicy::Replace,
        ] {
            assert_eq!(duplicate_action(policy, true), DuplicateAction::Refuse);
        }
        assert_eq!(
            duplicate_action(ConflictPolicy::Ignore, false),
            DuplicateAction::Ignore
        );
        assert_eq!(
            duplicate_action(ConflictPolicy::Replace, false),
            DuplicateAction::Supersede
        );
    }

    #[test]
    fn duplicates_name_where_the_first_score_is() {
        let mut live = LiveOrigin {
            path: "a.jsonl".to_string(),
            line: 2,
            ingested_at: Some("2026-01-01T00:00:00Z".to_string()),
            same_file: false,
            raw_key: None,
        };
        assert!(duplicate_detail(&live, true).ends_with("--ignore to keep it)"));
        live.ingested_at = None;
        assert_eq!(duplicate_detail(&live, false), "also in a.jsonl:2");
        live.same_file = true;
        assert!(duplicate_detail(&live, false).starts_with("the same file already has it"));
    }
}
