//! Which command line a message speaks to. A fix suggested to the user
//! names a setting the command in hand takes: `materialize` has the
//! reference script's flags (no `--format`, `--out-format`, `--replace`),
//! and `batch` takes its settings as keys of the manifest's tables.

/// The command whose settings a suggested fix names.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum CommandLine {
    /// `ingest`, `inspect`, `export` and the registry's other commands:
    /// each message comes from a step only a command taking its flag runs.
    #[default]
    Registry,
    /// `materialize`: the reference script's flags, plus `--registry`,
    /// `--tag` and `--note`.
    Materialize,
    /// `batch`: settings are keys of a table entry (or of `defaults`) in
    /// the manifest.
    Batch,
}

/// The flags of `materialize` a message may suggest (the reference's).
const MATERIALIZE_FLAGS: &[&str] = &[
    "features",
    "scores",
    "out",
    "audit-json",
    "key-column",
    "score-key-field",
    "score-field",
    "key-normalize",
    "missing-policy",
    "prefix",
    "overwrite",
    "registry",
    "scale",
];

/// The per-table settings of a batch manifest, by their flag names
/// (`key-column` is the manifest key `key_column`).
const BATCH_SETTINGS: &[&str] = &[
    "key-column",
    "score-key-field",
    "score-field",
    "key-normalize",
    "missing-policy",
    "prefix",
    "overwrite",
];

impl CommandLine {
    /// Whether this command takes the flag `--<flag>` (or, for `batch`,
    /// the manifest setting of that name).
    pub fn takes(self, flag: &str) -> bool {
        match self {
            CommandLine::Registry => true,
            CommandLine::Materialize => MATERIALIZE_FLAGS.contains(&flag),
            CommandLine::Batch => BATCH_SETTINGS.contains(&flag),
        }
    }

    /// How to give `settings` (flag name without dashes, value) on this
    /// command — `pass --key-normalize stem`, or for `batch` `set
    /// "key_normalize": "stem" in the table's manifest entry` — or `None`
    /// when it takes one of them not at all.
    pub fn fix(self, settings: &[(&str, &str)]) -> Option<String> {
        if !settings.iter().all(|(flag, _)| self.takes(flag)) {
            return None;
        }
        Some(match self {
            CommandLine::Registry | CommandLine::Materialize => format!(
                "pass {}",
                settings
                    .iter()
                    .map(|(flag, value)| format!("--{flag} {value}"))
                    .collect::<Vec<_>>()
                    .join(" ")
            ),
            CommandLine::Batch => format!(
                "set {} in the table's manifest entry",
                settings
                    .iter()
                    .map(|(flag, value)| format!(
                        "{}: {}",
                        serde_json::Value::from(flag.replace('-', "_")),
                        serde_json::Value::from(*value)
                    ))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        })
    }

    /// How to name the setting `flag` in a message: `--key-column`, or
    /// for `batch` the manifest key `"key_column"`.
    pub fn setting_name(self, flag: &str) -> String {
        match self {
            CommandLine::Batch => format!("\"{}\"", flag.replace('-', "_")),
            _ => format!("--{flag}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixes_name_what_each_command_takes() {
        let fix = [("key-column", "src"), ("key-normalize", "stem")];
        assert_eq!(
            CommandLine::Materialize.fix(&fix).unwrap(),
            "pass --key-column src --key-normalize stem"
        );
        assert_eq!(
            CommandLine::Batch.fix(&fix).unwrap(),
            "set \"key_column\": \"src\", \"key_normalize\": \"stem\" in the table's manifest entry"
        );
        assert_eq!(CommandLine::Materialize.fix(&[("format", "maniqa")]), None);
        assert_eq!(CommandLine::Batch.fix(&[("out-format", "csv")]), None);
        assert_eq!(
            CommandLine::Registry.fix(&[("format", "maniqa")]).unwrap(),
            "pass --format maniqa"
        );
    }
}
