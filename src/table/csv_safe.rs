//! `--csv-safe`: CSV cells a spreadsheet would run as a formula.
//!
//! A cell starting with `=`, `+`, `-` or `@` (or a tab or carriage return,
//! which some spreadsheets skip before such a character) is a formula to
//! Excel, LibreOffice and Google Sheets: a score file named `=cmd|…` would
//! make every `_source` cell one. As OWASP advises ("CSV Injection"), such
//! a cell is written with a `'` in front, which spreadsheets show as text.
//!
//! Applied to every text cell of a CSV output — header names, cells passed
//! through from the feature table, and the cells the tool adds — because a
//! formula is as dangerous in a column the user brought as in `_source`.
//! A cell that is a plain number (`-1.5`, `+3`, `-2e-5`) is left as it is:
//! a spreadsheet reads it as that number, not a formula, and prefixing it
//! would turn data into text. Off by default: an export is lossless unless
//! asked otherwise.

use std::borrow::Cow;

/// The cell as `--csv-safe` writes it: `'` in front of a formula-like text.
pub fn safe_cell(text: &str) -> Cow<'_, str> {
    let formula_like = matches!(
        text.as_bytes().first(),
        Some(b'=' | b'+' | b'-' | b'@' | b'\t' | b'\r')
    );
    if formula_like && !is_plain_number(text) {
        Cow::Owned(format!("'{text}"))
    } else {
        Cow::Borrowed(text)
    }
}

/// A decimal number as a spreadsheet reads one: an optional sign, digits
/// with at most one point, an optional exponent. Nothing else (`-inf`,
/// `1+1`, `-A1`) counts.
fn is_plain_number(text: &str) -> bool {
    let bytes = text.as_bytes();
    let mut at = usize::from(matches!(bytes.first(), Some(b'+' | b'-')));
    let digits_from = at;
    let mut point = false;
    while at < bytes.len() && (bytes[at].is_ascii_digit() || (bytes[at] == b'.' && !point)) {
        point |= bytes[at] == b'.';
        at += 1;
    }
    let mantissa = &bytes[digits_from..at];
    if !mantissa.iter().any(u8::is_ascii_digit) {
        return false;
    }
    if at < bytes.len() && matches!(bytes[at], b'e' | b'E') {
        at += 1;
        at += usize::from(matches!(bytes.get(at), Some(b'+' | b'-')));
        let exponent_from = at;
        while at < bytes.len() && bytes[at].is_ascii_digit() {
            at += 1;
        }
        if at == exponent_from {
            return false;
        }
    }
    at == bytes.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formula_cells_are_prefixed_numbers_and_text_are_not() {
        for (cell, safe) in [
            ("=HYPERLINK(\"x\")", "'=HYPERLINK(\"x\")"),
            ("+cmd|' /C calc'!A0", "'+cmd|' /C calc'!A0"),
            ("-2+3", "'-2+3"),
            ("@SUM(A1)", "'@SUM(A1)"),
            ("\t=1", "'\t=1"),
            ("-inf", "'-inf"),
            ("-", "'-"),
            ("-1.5", "-1.5"),
            ("+3", "+3"),
            ("-2e-5", "-2e-5"),
            ("-.5", "-.5"),
            ("runs/=a.jsonl", "runs/=a.jsonl"),
            ("", ""),
            ("ok", "ok"),
        ] {
            assert_eq!(safe_cell(cell), safe, "{cell:?}");
        }
    }
}
