//! Library enums as flag values: the names clap knows from each enum's
//! `ValueEnum` derive, and the message the command line has always given for
//! a name it does not know.

use std::ffi::OsStr;
use std::marker::PhantomData;

use clap::builder::{PossibleValue, TypedValueParser};
use clap::ValueEnum;
use second_opinion::key::KeyNormalize;

/// Parses a flag's value into `E` by the names and aliases of its
/// `ValueEnum` derive. An unknown name is refused with
/// `unknown <what> 'NAME' (expected …)` (exit 2), the wording scripts and
/// tests already match, instead of clap's own.
#[derive(Clone)]
pub struct EnumValue<E> {
    what: &'static str,
    listing: Listing,
    value: PhantomData<fn() -> E>,
}

/// How the expected names are listed in the message.
#[derive(Clone, Copy, Debug)]
enum Listing {
    /// `expected one of: a, b, c`
    OneOf,
    /// `expected a, b or c`
    Or,
}

impl<E: ValueEnum> EnumValue<E> {
    /// Refuses an unknown name with `(expected one of: a, b, c)`.
    pub fn one_of(what: &'static str) -> Self {
        EnumValue {
            what,
            listing: Listing::OneOf,
            value: PhantomData,
        }
    }

    /// Refuses an unknown name with `(expected a, b or c)`.
    pub fn either(what: &'static str) -> Self {
        EnumValue {
            what,
            listing: Listing::Or,
            value: PhantomData,
        }
    }

    /// The value named `name`, or the message refusing it.
    fn parse(&self, name: &str) -> Result<E, String> {
        E::from_str(name, false).map_err(|_| self.unknown(name))
    }

    fn unknown(&self, name: &str) -> String {
        // The names, not their aliases: `pq` is accepted for parquet but
        // only `parquet` is offered.
        let names: Vec<String> = E::value_variants()
            .iter()
            .filter_map(E::to_possible_value)
            .filter(|value| !value.is_hide_set())
            .map(|value| value.get_name().to_string())
            .collect();
        let expected = match (self.listing, names.split_last()) {
            (Listing::Or, Some((last, rest))) if !rest.is_empty() => {
                format!("{} or {last}", rest.join(", "))
            }
            (Listing::Or, _) => names.join(""),
            (Listing::OneOf, _) => format!("one of: {}", names.join(", ")),
        };
        format!("unknown {} '{name}' (expected {expected})", self.what)
    }
}

impl<E: ValueEnum + Send + Sync + 'static> TypedValueParser for EnumValue<E> {
    type Value = E;

    fn parse_ref(
        &self,
        command: &clap::Command,
        arg: Option<&clap::Arg>,
        value: &OsStr,
    ) -> Result<E, clap::Error> {
        // Through clap's parser for a function returning `Result<_, String>`,
        // so the error reads as it always has: "invalid value 'x' for
        // '--flag <FLAG>': unknown …", and non-UTF-8 is refused the same way.
        let parser = self.clone();
        (move |name: &str| parser.parse(name)).parse_ref(command, arg, value)
    }

    /// The names for `--help`'s `[possible values: …]` and completions,
    /// without the variants' doc comments: with them clap would switch the
    /// whole `--help` page to its long layout.
    fn possible_values(&self) -> Option<Box<dyn Iterator<Item = PossibleValue> + '_>> {
        Some(Box::new(
            E::value_variants()
                .iter()
                .filter_map(E::to_possible_value)
                .map(|value| value.help(None::<&'static str>)),
        ))
    }
}

/// `--key-normalize`: not a `ValueEnum`, since `tail:N` carries a number.
/// Parsed by the library's `FromStr` (the message a recorded export or a
/// batch manifest gets too); `--help` lists its names with `tail:N`.
#[derive(Clone, Copy, Debug, Default)]
pub struct KeyNormalizeValue;

impl TypedValueParser for KeyNormalizeValue {
    type Value = KeyNormalize;

    fn parse_ref(
        &self,
        command: &clap::Command,
        arg: Option<&clap::Arg>,
        value: &OsStr,
    ) -> Result<KeyNormalize, clap::Error> {
        (|name: &str| name.parse::<KeyNormalize>()).parse_ref(command, arg, value)
    }

    fn possible_values(&self) -> Option<Box<dyn Iterator<Item = PossibleValue> + '_>> {
        Some(Box::new(
            KeyNormalize::NAMES
                .iter()
                .map(|name| PossibleValue::new(*name)),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use second_opinion::export::RowPolicy;
    use second_opinion::frames::{FrameMatch, PoolStat};
    use second_opinion::ingest::Format;
    use second_opinion::table::TableFormat;

    /// Names, aliases and near misses: every one must parse as the
    /// library's own parser reads it.
    fn spellings<E: ValueEnum>() -> Vec<String> {
        let mut spellings: Vec<String> = ["", " ", "xml", "base", "p50", "keep", "closest"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        for value in E::value_variants().iter().filter_map(E::to_possible_value) {
            for name in value.get_name_and_aliases() {
                spellings.push(name.to_string());
                spellings.push(name.to_uppercase());
                spellings.push(name.replace('-', "_"));
                spellings.push(name.replace('_', "-"));
                spellings.push(format!("{name} "));
            }
        }
        spellings
    }

    #[test]
    fn every_format_name_parses_as_from_name_reads_it() {
        let parser = EnumValue::<Format>::one_of("format");
        for spelling in spellings::<Format>() {
            assert_eq!(
                parser.parse(&spelling).ok(),
                Format::from_name(&spelling),
                "{spelling:?}"
            );
        }
        for format in Format::ALL {
            assert_eq!(parser.parse(format.name()), Ok(*format));
        }
        assert_eq!(
            parser.parse("xml").unwrap_err(),
            format!(
                "unknown format 'xml' (expected one of: {})",
                Format::names()
            )
        );
    }

    #[test]
    fn every_table_format_name_and_extension_parses_as_from_name_reads_it() {
        let parser = EnumValue::<TableFormat>::one_of("table format");
        for spelling in spellings::<TableFormat>()
            .into_iter()
            .chain(["pq", "feather", "ipc", "ndjson", "arrow-ipc"].map(String::from))
        {
            assert_eq!(
                parser.parse(&spelling).ok(),
                TableFormat::from_name(&spelling),
                "{spelling:?}"
            );
        }
        assert_eq!(
            parser.parse("xlsx").unwrap_err(),
            format!(
                "unknown table format 'xlsx' (expected one of: {})",
                TableFormat::names()
            )
        );
    }

    /// The enums whose library `FromStr` the flags used: same values, same
    /// messages.
    fn parses_as_from_str<E>(parser: EnumValue<E>)
    where
        E: ValueEnum + std::str::FromStr<Err = String> + PartialEq + std::fmt::Debug,
    {
        for spelling in spellings::<E>() {
            assert_eq!(
                parser.parse(&spelling),
                spelling.parse::<E>(),
                "{spelling:?}"
            );
        }
    }

    #[test]
    fn pool_frame_match_and_policy_parse_as_from_str_reads_them() {
        parses_as_from_str(EnumValue::<PoolStat>::one_of("pooling"));
        parses_as_from_str(EnumValue::<FrameMatch>::either("frame match"));
        parses_as_from_str(EnumValue::<RowPolicy>::either("policy"));
    }

    #[test]
    fn possible_values_carry_no_help_and_hide_aliases() {
        let parser = EnumValue::<TableFormat>::one_of("table format");
        let values: Vec<PossibleValue> = parser.possible_values().unwrap().collect();
        let names: Vec<&str> = values.iter().map(PossibleValue::get_name).collect();
        assert_eq!(names, ["parquet", "arrow", "jsonl", "json", "csv"]);
        let names: Vec<String> = KeyNormalizeValue
            .possible_values()
            .unwrap()
            .map(|value| value.get_name().to_string())
            .collect();
        assert_eq!(names, ["auto", "raw", "basename", "stem", "tail:N"]);
    }
}
