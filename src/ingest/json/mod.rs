//! JSON score rows, shared by the JSON formats: the reference's field
//! lookup ([`fields`]), the fast typed row reader ([`row`], with its byte
//! scanner), and the retry with Python's bare `NaN`/`Infinity` quoted.

pub(crate) mod fields;
pub(crate) mod row;

use serde::de::{Deserializer, MapAccess, Visitor};
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{Map, Value};

use super::ReadError;
use crate::nonfinite;

pub use fields::FieldNames;
pub(crate) use row::RowReader;

/// Parse one row, which must be a JSON object.
pub(crate) fn parse_row(text: &str) -> Result<Map<String, Value>, String> {
    let value = match serde_json::from_str::<Value>(text) {
        Ok(value) => value,
        Err(error) => match nonfinite::quote_nonfinite_words(text) {
            Some(quoted) => {
                serde_json::from_str::<Value>(&quoted).map_err(|_| json_error(&error))?
            }
            None => return Err(json_error(&error)),
        },
    };
    match value {
        Value::Object(row) => Ok(row),
        other => Err(format!(
            "expected a JSON object, got {}",
            fields::describe(&other)
        )),
    }
}

/// serde_json's message without its own "at line 1 column 7" (the caller
/// gives the file's line), with the column kept.
pub(crate) fn json_error(error: &serde_json::Error) -> String {
    let message = error.to_string();
    let message = message.split(" at line ").next().unwrap_or(&message);
    format!("invalid JSON at column {}: {message}", error.column())
}

/// `text` as a JSON document that parses: as written, or with Python's bare
/// `NaN`/`Infinity` quoted (see [`crate::nonfinite`]) when that is what failed.
/// The error names the line where the original text stopped parsing.
pub(crate) fn valid_json_document(text: &str) -> Result<std::borrow::Cow<'_, str>, ReadError> {
    match serde_json::from_str::<&RawValue>(text) {
        Ok(_) => Ok(std::borrow::Cow::Borrowed(text)),
        Err(error) => match nonfinite::quote_nonfinite_words(text) {
            Some(quoted) if serde_json::from_str::<&RawValue>(&quoted).is_ok() => {
                Ok(std::borrow::Cow::Owned(quoted))
            }
            _ => Err(ReadError::at(error.line() as u64, json_error(&error))),
        },
    }
}

/// serde_json's message without its own "at line L column C" (the caller
/// gives the file's line).
pub(crate) fn message_without_location(error: &serde_json::Error) -> String {
    let text = error.to_string();
    text.split(" at line ").next().unwrap_or(&text).to_string()
}

/// An object's fields in file order (a map would sort them and hide a
/// repeated name), each value as `V`: parsed (a frame's metrics), or raw so
/// that its line can be found (libvmaf's `pooled_metrics`,
/// ffmpeg-quality-metrics' `global` …).
pub(crate) struct Fields<V>(pub Vec<(String, V)>);

/// [`Fields`] with their values unparsed.
pub(crate) type RawFields<'a> = Fields<&'a RawValue>;

impl<'de, V: Deserialize<'de>> Deserialize<'de> for Fields<V> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Fields<V>, D::Error> {
        struct FieldsVisitor<V>(std::marker::PhantomData<V>);
        impl<'de, V: Deserialize<'de>> Visitor<'de> for FieldsVisitor<V> {
            type Value = Fields<V>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("an object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Fields<V>, A::Error> {
                let mut fields = Vec::new();
                while let Some(entry) = map.next_entry::<String, V>()? {
                    fields.push(entry);
                }
                Ok(Fields(fields))
            }
        }
        deserializer.deserialize_map(FieldsVisitor(std::marker::PhantomData))
    }
}
