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
