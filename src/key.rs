//! Clip keys: which field a key comes from, and how it is normalised.
//!
//! Keys are always strings. `"001"` stays `"001"`; a number used as a key is
//! kept in its JSON text form, so `1` and `"1"` are the same key but `1.0`
//! is not.

use std::borrow::Cow;
use std::fmt;
use std::str::FromStr;

/// Fields tried for the clip key, in order, by the reference materializer.
pub const REFERENCE_KEY_FIELDS: &[&str] = &[
    "clip_id",
    "video_id",
    "chug_video_id",
    "content_id",
    "file_name",
    "filename",
    "basename",
    "name",
    "distorted_path",
    "dis_path",
    "path",
];

/// Key fields of score rows that the reference misses but scorers write
/// (`src` in the fork's corpora, `video_name` in UVQ, `img_path`/`image` in
/// Q-Align), tried after the reference list.
pub const EXTRA_SCORE_KEY_FIELDS: &[&str] =
    &["src", "video_name", "img_path", "image", "video", "key"];

/// The name of the field a key was read from, as a record carries it:
/// one of the known key fields borrowed, any other name owned. A reader
/// names the same field on every row, and a row is dropped on another
/// thread than the one that read it, so a name of its own per row (or a
/// shared count both threads touch) cost W1's main thread a twentieth of
/// its run (issue 18).
pub fn field_name(name: impl AsRef<str> + Into<String>) -> Cow<'static, str> {
    REFERENCE_KEY_FIELDS
        .iter()
        .chain(EXTRA_SCORE_KEY_FIELDS)
        .find(|known| **known == name.as_ref())
        .map_or_else(|| Cow::Owned(name.into()), |known| Cow::Borrowed(*known))
}

/// How a key is normalised before two keys are compared.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum KeyNormalize {
    /// `basename` for path-like fields, `raw` for the others.
    #[default]
    Auto,
    /// The value as written (whitespace around it trimmed).
    Raw,
    /// The last path component, extension kept (`/a/clip.mp4` → `clip.mp4`).
    Basename,
    /// The last path component without its extension (`/a/clip.mp4` → `clip`).
    Stem,
    /// The last N (≥ 1) path components joined with `/` (`tail:2`:
    /// `/nas/crf23/A0001.mp4` → `crf23/A0001.mp4`): corpora with several
    /// encodes per source, whose basenames collide.
    Tail(u8),
}

impl KeyNormalize {
    /// Why a key read from `field` as `raw_key` cannot be stored: nothing
    /// but blanks is left once normalised.
    pub fn empty_key_message(self, field: &str, raw_key: &str) -> String {
        format!(
            "key '{raw_key}' is empty after --key-normalize {}",
            self.resolve(field)
        )
    }

    /// Every accepted spelling, for messages and `--help` (`tail:N` with
    /// any N from 1 to 255).
    pub const NAMES: &'static [&'static str] = &["auto", "raw", "basename", "stem", "tail:N"];

    /// The name used on the command line, in reports and in recorded
    /// exports (read back by `FromStr`).
    pub fn name(self) -> Cow<'static, str> {
        Cow::Borrowed(match self {
            KeyNormalize::Auto => "auto",
            KeyNormalize::Raw => "raw",
            KeyNormalize::Basename => "basename",
            KeyNormalize::Stem => "stem",
            KeyNormalize::Tail(n) => return Cow::Owned(format!("tail:{n}")),
        })
    }

    /// The concrete normalisation `auto` stands for when the key was read
    /// from `field`.
    pub fn resolve(self, field: &str) -> KeyNormalize {
        match self {
            // A field that holds stems (COVER's one-dataset CSV) is already
            // normalised: stemming `clip_t_20.0` again would cut `.0`.
            KeyNormalize::Stem if field.eq_ignore_ascii_case("stem") => KeyNormalize::Raw,
            KeyNormalize::Auto if is_path_like_field(field) => KeyNormalize::Basename,
            KeyNormalize::Auto => KeyNormalize::Raw,
            other => other,
        }
    }

    /// Normalise `value`, read from `field`.
    pub fn apply<'a>(self, field: &str, value: &'a str) -> Cow<'a, str> {
        self.resolve(field).apply_resolved(value)
    }

    /// Normalise `value` with a normalisation already resolved for its
    /// field ([`KeyNormalize::resolve`]): what a loop over one column's
    /// values calls, so the field name is looked at once, not per value.
    /// `Auto` here means `Raw` (a resolved normalisation is never `Auto`).
    /// Whitespace around the value (`" a.mp4"`) is trimmed first, in every
    /// mode: a key is never told apart by blanks a spreadsheet added.
    /// Borrowed unless `tail:N` has to rewrite separators (`a\b` → `a/b`).
    pub fn apply_resolved(self, value: &str) -> Cow<'_, str> {
        let value = value.trim();
        match self {
            KeyNormalize::Basename => Cow::Borrowed(basename(value)),
            KeyNormalize::Stem => Cow::Borrowed(stem(value)),
            KeyNormalize::Tail(n) => tail(value, usize::from(n)),
            KeyNormalize::Raw | KeyNormalize::Auto => Cow::Borrowed(value),
        }
    }
}

impl fmt::Display for KeyNormalize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name())
    }
}

impl FromStr for KeyNormalize {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "auto" => Ok(KeyNormalize::Auto),
            "raw" => Ok(KeyNormalize::Raw),
            "basename" => Ok(KeyNormalize::Basename),
            "stem" => Ok(KeyNormalize::Stem),
            other => match other.strip_prefix("tail:") {
                // Digits only: `tail:+2` and `tail: 2` are not spellings
                // a replayed export should have to read back.
                Some(n) => match n.parse::<u8>() {
                    Ok(n) if n >= 1 && other.bytes().skip(5).all(|b| b.is_ascii_digit()) => {
                        Ok(KeyNormalize::Tail(n))
                    }
                    _ => Err(format!(
                        "key normalisation '{other}': N of tail:N must be a whole number \
                         from 1 to 255 (expected one of: {})",
                        KeyNormalize::NAMES.join(", ")
                    )),
                },
                None => Err(format!(
                    "unknown key normalisation '{other}' (expected one of: {})",
                    KeyNormalize::NAMES.join(", ")
                )),
            },
        }
    }
}

/// `--key-normalize` of an export: one normalisation for every scorer,
/// per-scorer ones (`musiq=stem`), or both (`basename,musiq=stem`), for a
/// registry whose scorers keyed the same clips differently.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct KeyNormalizeSetting {
    /// The normalisation of every scorer not named below (`None`: `auto`,
    /// not chosen by the user).
    pub default: Option<KeyNormalize>,
    /// (scorer as written, its normalisation), in the order given.
    pub per_scorer: Vec<(String, KeyNormalize)>,
}

impl KeyNormalizeSetting {
    /// The setting of a single normalisation for every scorer.
    pub fn every(normalize: Option<KeyNormalize>) -> KeyNormalizeSetting {
        KeyNormalizeSetting {
            default: normalize,
            per_scorer: Vec::new(),
        }
    }

    /// The normalisation chosen for the scorer with this slug (its own
    /// entry, else the default), and whether the user chose it.
    pub fn for_scorer(&self, slug: &str) -> (KeyNormalize, bool) {
        match self.own(slug) {
            Some(normalize) => (normalize, true),
            None => (self.default.unwrap_or_default(), self.default.is_some()),
        }
    }

    /// The scorer's own normalisation, when it has an entry.
    pub fn own(&self, slug: &str) -> Option<KeyNormalize> {
        self.per_scorer
            .iter()
            .find(|(name, _)| crate::scorer::slug(name) == slug)
            .map(|(_, normalize)| *normalize)
    }

    /// The setting with `slug`'s own normalisation set to `normalize`,
    /// as the command line spells it (the fix a key check suggests).
    pub fn with_scorer(&self, slug: &str, normalize: KeyNormalize) -> KeyNormalizeSetting {
        let mut setting = self.clone();
        setting
            .per_scorer
            .retain(|(name, _)| crate::scorer::slug(name) != slug);
        setting.per_scorer.push((slug.to_string(), normalize));
        setting
    }
}

impl fmt::Display for KeyNormalizeSetting {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<String> = self
            .default
            .map(|n| n.name().into_owned())
            .into_iter()
            .chain(
                self.per_scorer
                    .iter()
                    .map(|(scorer, n)| format!("{scorer}={n}")),
            )
            .collect();
        if parts.is_empty() {
            f.write_str("auto")
        } else {
            f.write_str(&parts.join(","))
        }
    }
}

impl FromStr for KeyNormalizeSetting {
    type Err = String;

    /// `stem`, `musiq=stem,dover=basename` or `basename,musiq=stem`: at
    /// most one entry without a scorer, each scorer named once.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut setting = KeyNormalizeSetting::default();
        for part in s.split(',') {
            let part = part.trim();
            match part.split_once('=') {
                Some((scorer, normalize)) => {
                    let scorer = scorer.trim();
                    let slug = crate::scorer::slug(scorer);
                    if slug.is_empty() {
                        return Err(format!("'{part}' names no scorer before '='"));
                    }
                    if setting
                        .per_scorer
                        .iter()
                        .any(|(name, _)| crate::scorer::slug(name) == slug)
                    {
                        return Err(format!("scorer '{scorer}' is given twice"));
                    }
                    let normalize = normalize.trim().parse()?;
                    setting.per_scorer.push((scorer.to_string(), normalize));
                }
                None if setting.default.is_some() => {
                    return Err(format!(
                        "'{s}' gives more than one normalisation for every scorer \
                         (name the scorer of each other one: SCORER=NORMALISATION)"
                    ))
                }
                None => setting.default = Some(part.parse()?),
            }
        }
        Ok(setting)
    }
}

/// Whether `auto` treats values of `field` as paths.
///
/// The reference rule is "the name contains `path`, `file` or `name`"; the
/// extra candidates `src`, `image`, `img` and `video` hold paths too.
pub fn is_path_like_field(field: &str) -> bool {
    // Compared ignoring ASCII case without a lower-cased copy: this runs
    // once per score row when keys are normalised `auto`.
    let contains = |needle: &str| {
        field
            .as_bytes()
            .windows(needle.len())
            .any(|window| window.eq_ignore_ascii_case(needle.as_bytes()))
    };
    contains("path")
        || contains("file")
        || contains("name")
        || ["src", "image", "img", "video"]
            .iter()
            .any(|name| field.eq_ignore_ascii_case(name))
}

/// The last component of a `/`- or `\`-separated path. Scorers run on
/// Windows write backslashes, so both count as separators.
pub fn basename(value: &str) -> &str {
    let trimmed = value.trim_end_matches(['/', '\\']);
    match trimmed.rfind(['/', '\\']) {
        Some(at) => &trimmed[at + 1..],
        None => trimmed,
    }
}

/// The last `n` components of a `/`- or `\`-separated path, joined with
/// `/`, as `tail:N` reads them: separators at the end are ignored, as
/// basename ignores them; empty and `.` components (`a//b`, `./a/b`) are not
/// components. A path with fewer than `n` components gives all of them,
/// without a leading separator (`/a.mp4` with `n` 2 → `a.mp4`), so a relative
/// and an absolute spelling of the same tail compare equal.
pub fn tail(value: &str, n: usize) -> Cow<'_, str> {
    let trimmed = value.trim_end_matches(['/', '\\']);
    let mut components: Vec<&str> = trimmed
        .rsplit(['/', '\\'])
        .filter(|component| !component.is_empty() && *component != ".")
        .take(n)
        .collect();
    components.reverse();
    let joined = components.join("/");
    // Written with `/` already: the value's own text, not a copy.
    match trimmed.strip_suffix(joined.as_str()) {
        Some(rest) if rest.is_empty() || rest.ends_with(['/', '\\']) => {
            Cow::Borrowed(&trimmed[rest.len()..])
        }
        _ => Cow::Owned(joined),
    }
}

/// The basename without its last extension, as Python's `Path.stem`:
/// `clip.tar.gz` → `clip.tar`, `.hidden` stays `.hidden`.
pub fn stem(value: &str) -> &str {
    let base = basename(value);
    match base.rfind('.') {
        Some(0) | None => base,
        Some(at) => &base[..at],
    }
}

/// Find the first of `candidates` among `names`: exact spelling first, then
/// ignoring ASCII case, candidate by candidate (the reference's order wins
/// over the order of the row's fields).
pub fn find_candidate<'a, I>(names: I, candidates: &[&str]) -> Option<&'a str>
where
    I: IntoIterator<Item = &'a str> + Clone,
{
    candidates.iter().find_map(|candidate| {
        names
            .clone()
            .into_iter()
            .find(|name| name == candidate)
            .or_else(|| {
                names
                    .clone()
                    .into_iter()
                    .find(|name| name.eq_ignore_ascii_case(candidate))
            })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_key_fields_are_borrowed_and_others_owned() {
        for known in REFERENCE_KEY_FIELDS.iter().chain(EXTRA_SCORE_KEY_FIELDS) {
            assert!(matches!(field_name(*known), Cow::Borrowed(name) if name == *known));
            assert!(matches!(field_name(known.to_string()), Cow::Borrowed(name) if name == *known));
        }
        for other in ["clip", "Filename", "the file name", ""] {
            assert!(matches!(field_name(other), Cow::Owned(name) if name == other));
        }
    }

    #[test]
    fn basename_and_stem_follow_python_path_rules() {
        assert_eq!(basename("/corpus/clip_a.yuv"), "clip_a.yuv");
        assert_eq!(basename("C:\\runs\\clip.mp4"), "clip.mp4");
        assert_eq!(basename("./demo/dir/"), "dir");
        assert_eq!(basename("clip"), "clip");
        assert_eq!(stem("/corpus/clip_a.yuv"), "clip_a");
        assert_eq!(stem("clip.tar.gz"), "clip.tar");
        assert_eq!(stem(".hidden"), ".hidden");
        assert_eq!(stem("001"), "001");
    }

    #[test]
    fn auto_is_basename_only_for_path_like_fields() {
        assert_eq!(KeyNormalize::Auto.apply("video_id", "a/b.mp4"), "a/b.mp4");
        assert_eq!(
            KeyNormalize::Auto.apply("name", "/c/clip_a.yuv"),
            "clip_a.yuv"
        );
        assert_eq!(KeyNormalize::Auto.apply("dis_path", "/c/x.mp4"), "x.mp4");
        assert_eq!(KeyNormalize::Auto.apply("src", "/c/x.mp4"), "x.mp4");
        assert_eq!(KeyNormalize::Auto.apply("src_sha256", "ab/cd"), "ab/cd");
        assert_eq!(KeyNormalize::Raw.apply("path", "/c/x.mp4"), "/c/x.mp4");
        assert_eq!(KeyNormalize::Auto.apply("Dis_PATH", "/c/x.mp4"), "x.mp4");
        assert_eq!(KeyNormalize::Auto.apply("SRC", "/c/x.mp4"), "x.mp4");
        assert_eq!(KeyNormalize::Auto.apply("srcs", "/c/x.mp4"), "/c/x.mp4");
        assert_eq!(KeyNormalize::Stem.apply("video_id", "/c/x.mp4"), "x");
        assert_eq!(
            KeyNormalize::Stem.apply("stem", "clip_t_20.0"),
            "clip_t_20.0"
        );
    }

    #[test]
    fn candidates_prefer_list_order_then_exact_case() {
        let names = ["Name", "video_id", "path"];
        assert_eq!(
            find_candidate(names.iter().copied(), REFERENCE_KEY_FIELDS),
            Some("video_id")
        );
        let names = ["NAME", "name"];
        assert_eq!(
            find_candidate(names.iter().copied(), &["name"]),
            Some("name")
        );
        let names = ["Video_ID"];
        assert_eq!(
            find_candidate(names.iter().copied(), REFERENCE_KEY_FIELDS),
            Some("Video_ID")
        );
        assert_eq!(
            find_candidate(["x"].iter().copied(), REFERENCE_KEY_FIELDS),
            None
        );
    }

    #[test]
    fn key_normalize_parses_its_names() {
        for name in KeyNormalize::NAMES.iter().filter(|name| **name != "tail:N") {
            assert_eq!(name.parse::<KeyNormalize>().unwrap().name(), *name);
        }
        assert!("base".parse::<KeyNormalize>().is_err());
        assert_eq!("tail:2".parse(), Ok(KeyNormalize::Tail(2)));
        assert_eq!(KeyNormalize::Tail(12).name(), "tail:12");
        for refused in [
            "tail:0", "tail:x", "tail:", "tail:256", "tail:+2", "tail: 2", "tail",
        ] {
            let message = refused.parse::<KeyNormalize>().unwrap_err();
            assert!(message.contains("tail:N"), "{refused}: {message}");
        }
    }

    #[test]
    fn tail_keeps_the_last_components_joined_with_slashes() {
        let path = "/mnt/nas/ugc/Video/crf23/A0001.mp4";
        assert_eq!(tail(path, 1), "A0001.mp4");
        assert_eq!(tail(path, 2), "crf23/A0001.mp4");
        assert!(matches!(tail(path, 2), Cow::Borrowed(_)));
        assert_eq!(tail("C:\\runs\\crf23\\A.mp4", 2), "crf23/A.mp4");
        assert_eq!(tail("crf23\\A.mp4", 2), "crf23/A.mp4");
        assert_eq!(tail("/A.mp4", 2), "A.mp4");
        assert_eq!(tail("./crf23//A.mp4/", 3), "crf23/A.mp4");
        assert_eq!(tail("xcrf23/A.mp4", 1), "A.mp4");
        assert_eq!(KeyNormalize::Tail(2).apply("video_id", " a/b/c "), "b/c");
    }

    #[test]
    fn key_normalize_settings_name_scorers() {
        let setting: KeyNormalizeSetting = "basename, musiq=stem,Q-Align=tail:2".parse().unwrap();
        assert_eq!(setting.default, Some(KeyNormalize::Basename));
        assert_eq!(setting.for_scorer("musiq"), (KeyNormalize::Stem, true));
        assert_eq!(setting.for_scorer("q_align"), (KeyNormalize::Tail(2), true));
        assert_eq!(setting.for_scorer("dover"), (KeyNormalize::Basename, true));
        assert_eq!(setting.to_string(), "basename,musiq=stem,Q-Align=tail:2");
        let plain: KeyNormalizeSetting = "musiq=stem".parse().unwrap();
        assert_eq!(plain.for_scorer("dover"), (KeyNormalize::Auto, false));
        assert_eq!(
            plain.with_scorer("musiq", KeyNormalize::Raw).to_string(),
            "musiq=raw"
        );
        assert_eq!(
            KeyNormalizeSetting::default()
                .with_scorer("musiq", KeyNormalize::Stem)
                .to_string(),
            "musiq=stem"
        );
        for refused in [
            "stem,raw",
            "musiq=stem,musiq=raw",
            "=stem",
            "musiq=steam",
            "",
        ] {
            assert!(refused.parse::<KeyNormalizeSetting>().is_err(), "{refused}");
        }
    }
}
