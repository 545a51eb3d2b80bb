//! Scorer names and the column-safe slug that identifies a scorer.

/// Column-safe identity of a scorer name: lower-case, every run of characters
/// outside `[a-z0-9]` becomes one `_`, and leading/trailing `_` are trimmed
/// (`DOVER-Mobile` → `dover_mobile`). Two names with the same slug are the
/// same scorer, because they would write the same export columns.
pub fn slug(name: &str) -> String {
    let mut slug = String::with_capacity(name.len());
    let mut pending_separator = false;
    for c in name.chars().flat_map(char::to_lowercase) {
        if c.is_ascii_lowercase() || c.is_ascii_digit() {
            if pending_separator && !slug.is_empty() {
                slug.push('_');
            }
            pending_separator = false;
            slug.push(c);
        } else {
            pending_separator = true;
        }
    }
    slug
}

/// How far a known scorer's range can be trusted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Bounds {
    /// Values cannot leave the range (a sigmoid or softmax output): a value
    /// outside is stored bad.
    Hard,
    /// Values usually lie in the range but nothing clamps them.
    Typical,
    /// No range: unnormalised regression output.
    Unbounded,
    /// The range depends on how the scorer was run: `--scale` is required
    /// unless the file's format fixes it.
    DependsOnRun,
}

/// What is documented about a scorer people commonly run.
#[derive(Clone, Copy, Debug)]
pub struct KnownScorer {
    /// Names it goes by (compared by slug).
    pub names: &'static [&'static str],
    pub min: f64,
    pub max: f64,
    pub bounds: Bounds,
    pub higher_is_better: bool,
    /// Where the range comes from, for docs and messages.
    pub note: &'static str,
}

const fn known(
    names: &'static [&'static str],
    min: f64,
    max: f64,
    bounds: Bounds,
    higher_is_better: bool,
    note: &'static str,
) -> KnownScorer {
    KnownScorer {
        names,
        min,
        max,
        bounds,
        higher_is_better,
        note,
    }
}

/// Scales and directions from each scorer's source (see
/// `docs/formats.md`); applied when a scorer is first registered, unless
/// `--scale` / `--higher-is-better` / `--lower-is-better` say otherwise.
pub const KNOWN_SCORERS: &[KnownScorer] = &[
    known(
        &["dover", "dover-mobile"],
        0.0,
        100.0,
        Bounds::Hard,
        true,
        "sigmoid x 100 (set evaluator)",
    ),
    known(
        &["dover-fused"],
        0.0,
        1.0,
        Bounds::Hard,
        true,
        "sigmoid of the fused logit (evaluate_one_video.py -f)",
    ),
    known(
        &["cover"],
        0.0,
        0.0,
        Bounds::Unbounded,
        true,
        "unnormalised sum of three heads; can be negative",
    ),
    known(
        &[
            "fast-vqa",
            "fastervqa",
            "fast-vqa-m",
            "fastervqa-ms",
            "fastervqa-mt",
        ],
        0.0,
        1.0,
        Bounds::Hard,
        true,
        "sigmoid",
    ),
    known(
        &["q-align", "qalign", "one-align"],
        0.0,
        0.0,
        Bounds::DependsOnRun,
        true,
        "0-1 from scorer.py/vqa_eval.py, 1-5 from the HF model or pyiqa",
    ),
    known(
        &["musiq", "musiq-koniq", "musiq-spaq", "musiq-paq2piq"],
        0.0,
        100.0,
        Bounds::Typical,
        true,
        "pyiqa score_range ~0-~100",
    ),
    known(
        &["musiq-ava"],
        1.0,
        10.0,
        Bounds::Typical,
        true,
        "expected value over bins 1..10",
    ),
    known(
        &["clip-iqa", "clipiqa"],
        0.0,
        1.0,
        Bounds::Hard,
        true,
        "softmax probability",
    ),
    known(
        &["maniqa", "maniqa-koniq", "maniqa-pipal", "maniqa-kadid"],
        0.0,
        1.0,
        Bounds::Typical,
        true,
        "pyiqa score_range ~0-~1",
    ),
    known(
        &["niqe"],
        0.0,
        100.0,
        Bounds::Typical,
        false,
        "pyiqa score_range ~0-~100, lower is better",
    ),
    known(
        &["brisque"],
        0.0,
        150.0,
        Bounds::Typical,
        false,
        "pyiqa score_range ~0-~150, can go below 0, lower is better",
    ),
    known(
        &["uvq"],
        1.0,
        5.0,
        Bounds::Typical,
        true,
        "YouTube-UGC MOS-like, not clamped",
    ),
    known(
        &["vmaf", "vmaf-neg"],
        0.0,
        100.0,
        Bounds::Typical,
        true,
        "v0.6.1 models 0-100; newer models reach 110",
    ),
    known(
        &["x264-pvmaf"],
        0.0,
        100.0,
        Bounds::Typical,
        true,
        "predicts VMAF",
    ),
    known(
        &["nr-metric", "fork-nr-metric", "nr-metric-v1"],
        0.0,
        0.0,
        Bounds::Unbounded,
        true,
        "competitor-native scale",
    ),
];

/// Other spellings of one scorer, as (alias, the scorer's name). Unlike
/// the names of one [`KnownScorer`] (models of a family that share a
/// scale, each its own scorer), an alias *is* the scorer: it takes the
/// scorer's name, slug and column block.
pub const SCORER_ALIASES: &[(&str, &str)] = &[
    ("qalign", "q-align"),
    ("one-align", "q-align"),
    ("onealign", "q-align"),
    ("clipiqa", "clip-iqa"),
];

/// The scorer a name is an alias of (by slug), if it is one.
pub fn alias_of(name_slug: &str) -> Option<&'static str> {
    SCORER_ALIASES
        .iter()
        .find(|(alias, _)| slug(alias) == name_slug)
        .map(|(_, scorer)| *scorer)
}

/// A known scorer name or alias that `name_slug` (not itself one) looks
/// like a misspelling of: the same letters without separators, or, in a
/// name of five or more letters and no digits, one letter added, left out,
/// changed or two swapped (a digit marks a variant, `musiq2`, not a typo).
pub fn resembles_known(name_slug: &str) -> Option<&'static str> {
    let bare = |s: &str| s.replace('_', "");
    let wanted = bare(name_slug);
    let spellings = KNOWN_SCORERS
        .iter()
        .flat_map(|k| k.names.iter().copied())
        .chain(SCORER_ALIASES.iter().map(|(alias, _)| *alias));
    let mut closest = None;
    for spelling in spellings {
        let known_slug = slug(spelling);
        if known_slug == name_slug {
            return None;
        }
        let known = bare(&known_slug);
        if closest.is_none()
            && (known == wanted
                || (wanted.len() >= 5
                    && !wanted.chars().any(|c| c.is_ascii_digit())
                    && one_edit_apart(&known, &wanted)))
        {
            closest = Some(spelling);
        }
    }
    closest
}

/// Whether `a` becomes `b` by one insertion, deletion, substitution or
/// swap of neighbours.
fn one_edit_apart(a: &str, b: &str) -> bool {
    let (a, b): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
    if a == b {
        return false;
    }
    let prefix = a.iter().zip(&b).take_while(|(x, y)| x == y).count();
    let (ra, rb) = (&a[prefix..], &b[prefix..]);
    match ra.len().abs_diff(rb.len()) {
        0 => {
            ra[1..] == rb[1..]
                || (ra.len() >= 2 && ra[0] == rb[1] && ra[1] == rb[0] && ra[2..] == rb[2..])
        }
        1 if ra.len() > rb.len() => ra[1..] == *rb,
        1 => rb[1..] == *ra,
        _ => false,
    }
}

/// The known scorer a name refers to, by slug.
pub fn known_scorer(name: &str) -> Option<&'static KnownScorer> {
    let wanted = slug(alias_of(&slug(name)).unwrap_or(name));
    KNOWN_SCORERS
        .iter()
        .find(|known| known.names.iter().any(|n| slug(n) == wanted))
}

/// A declared scale: the range a scorer's values can take.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Scale {
    pub min: f64,
    pub max: f64,
}

impl Scale {
    /// Parse `MIN:MAX` as given to `--scale`.
    pub fn parse(text: &str) -> Result<Scale, String> {
        let (min, max) = text
            .split_once(':')
            .ok_or_else(|| format!("--scale takes MIN:MAX, got '{text}'"))?;
        let parse = |part: &str| {
            part.trim()
                .parse::<f64>()
                .ok()
                .filter(|v| v.is_finite())
                .ok_or_else(|| format!("--scale takes two finite numbers MIN:MAX, got '{text}'"))
        };
        let scale = Scale {
            min: parse(min)?,
            max: parse(max)?,
        };
        if scale.min >= scale.max {
            return Err(format!("--scale MIN must be below MAX, got '{text}'"));
        }
        Ok(scale)
    }

    /// Whether `value` lies inside the scale, bounds included.
    pub fn contains(&self, value: f64) -> bool {
        value >= self.min && value <= self.max
    }
}

impl std::fmt::Display for Scale {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.min, self.max)
    }
}

#[cfg(test)]
mod tests {

    #[test]
    fn aliases_are_one_scorer_and_misspellings_are_noticed() {
        assert_eq!(alias_of(&slug("qalign")), Some("q-align"));
        assert_eq!(alias_of(&slug("One-Align")), Some("q-align"));
        assert_eq!(
            alias_of(&slug("Q-Align")),
            None,
            "the scorer's own spelling"
        );
        assert_eq!(resembles_known(&slug("q_allign")), Some("q-align"));
        assert_eq!(resembles_known(&slug("maniqa_kodiq")), Some("maniqa-koniq"));
        assert_eq!(resembles_known(&slug("my-metric")), None);
        assert_eq!(
            resembles_known(&slug("musiq2")),
            None,
            "a variant, not a typo"
        );
        assert_eq!(resembles_known(&slug("muziq")), Some("musiq"));
        assert_eq!(resembles_known(&slug("dover")), None, "known");
        assert_eq!(resembles_known(&slug("fork-nr-metric")), None);
        assert!(one_edit_apart("qalign", "qaligns"));
        assert!(one_edit_apart("qalign", "qailgn"));
        assert!(!one_edit_apart("qalign", "qa"));
    }

    use super::*;

    #[test]
    fn slug_collapses_and_trims_separators() {
        assert_eq!(slug("DOVER-Mobile"), "dover_mobile");
        assert_eq!(slug("  Q-Align (1-5)  "), "q_align_1_5");
        assert_eq!(slug("fork-nr-metric"), "fork_nr_metric");
        assert_eq!(slug("__musiq__"), "musiq");
        assert_eq!(slug("CLIP--IQA"), "clip_iqa");
        assert_eq!(slug("---"), "");
        assert_eq!(slug("Ünïcode"), "n_code");
    }

    #[test]
    fn known_scorers_by_any_spelling() {
        assert_eq!(known_scorer("DOVER-Mobile").unwrap().bounds, Bounds::Hard);
        assert!(!known_scorer("NIQE").unwrap().higher_is_better);
        assert_eq!(known_scorer("clip_iqa").unwrap().max, 1.0);
        assert_eq!(
            known_scorer("Q-Align").unwrap().bounds,
            Bounds::DependsOnRun
        );
        assert!(known_scorer("foo-iqa").is_none());
        let mut slugs: Vec<String> = KNOWN_SCORERS
            .iter()
            .flat_map(|k| k.names.iter().map(|n| slug(n)))
            .collect();
        let all = slugs.len();
        slugs.sort();
        slugs.dedup();
        assert_eq!(slugs.len(), all, "a name belongs to one known scorer");
    }

    #[test]
    fn scale_parses_and_checks_bounds() {
        let scale = Scale::parse("0:100").unwrap();
        assert!(scale.contains(0.0) && scale.contains(100.0));
        assert!(!scale.contains(100.5) && !scale.contains(-0.1));
        assert_eq!(Scale::parse("-10.5:5").unwrap().min, -10.5);
        assert!(Scale::parse("5:1").is_err());
        assert!(Scale::parse("1").is_err());
        assert!(Scale::parse("a:b").is_err());
        assert!(Scale::parse("0:inf").is_err());
    }
}
