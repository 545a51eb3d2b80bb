//! Scores come back bit for bit: 200,000 random doubles written as Python's
//! `repr` writes them (the shortest text that reads back to the same
//! double: `3.8993672088721293e-07`, `0.1`, `1e+16`) are ingested from
//! JSON Lines and found identical in the registry and in every export
//! format (parquet, Arrow IPC, CSV, JSON Lines).

mod common;

use std::fs::File;

use arrow::array::{Array, Float64Array, RecordBatch, StringArray};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

use common::Workspace;

const VALUES: usize = 200_000;
const SCORE: &str = "second_opinion_lossless_score";

/// Python's `repr` of a finite double: the shortest digits that read back
/// to it (Rust's `{:e}` finds the same digits), laid out as Python does —
/// positional for decimal exponents -4 to 15 (`0.0001`, `100.0`),
/// otherwise `d.ddde±XX` with at least two exponent digits (`1e+16`).
fn python_repr(value: f64) -> String {
    let scientific = format!("{value:e}");
    let (mantissa, exponent) = scientific.split_once('e').expect("{:e} has an exponent");
    let exponent: i32 = exponent.parse().expect("exponent");
    let (sign, mantissa) = match mantissa.strip_prefix('-') {
        Some(rest) => ("-", rest),
        None => ("", mantissa),
    };
    let digits: String = mantissa.chars().filter(|c| *c != '.').collect();
    if (-4..16).contains(&exponent) {
        let point = exponent + 1;
        let text = if point <= 0 {
            format!("0.{}{digits}", "0".repeat((-point) as usize))
        } else if point as usize >= digits.len() {
            format!("{digits}{}.0", "0".repeat(point as usize - digits.len()))
        } else {
            let (whole, fraction) = digits.split_at(point as usize);
            format!("{whole}.{fraction}")
        };
        format!("{sign}{text}")
    } else {
        let mantissa = if digits.len() == 1 {
            digits
        } else {
            format!("{}.{}", &digits[..1], &digits[1..])
        };
        let exponent_sign = if exponent < 0 { '-' } else { '+' };
        format!("{sign}{mantissa}e{exponent_sign}{:02}", exponent.abs())
    }
}

#[test]
fn python_repr_layout() {
    assert_eq!(
        python_repr(3.8993672088721293e-07),
        "3.8993672088721293e-07"
    );
    assert_eq!(python_repr(0.1), "0.1");
    assert_eq!(python_repr(100.0), "100.0");
    assert_eq!(python_repr(1e16), "1e+16");
    assert_eq!(python_repr(1.5e16), "1.5e+16");
    assert_eq!(python_repr(0.0001), "0.0001");
    assert_eq!(python_repr(0.00001), "1e-05");
    assert_eq!(python_repr(-72.5), "-72.5");
    assert_eq!(python_repr(123456789012345.6), "123456789012345.6");
    assert_eq!(python_repr(5e-324), "5e-324");
    assert_eq!(python_repr(0.0), "0.0");
}

/// A fixed-seed generator of doubles that exercise every way a score is
/// written: 17-digit fractions in [0, 1), values scaled to every decimal
/// exponent from 1e-12 to 1e20, and arbitrary bit patterns (subnormals and
/// extremes included), with either sign.
struct Doubles(u64);

impl Doubles {
    fn next_bits(&mut self) -> u64 {
        // xorshift64*
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn next_value(&mut self) -> f64 {
        loop {
            let bits = self.next_bits();
            let unit = (self.next_bits() >> 11) as f64 / (1u64 << 53) as f64;
            let value = match bits % 4 {
                0 => unit,
                1 => unit * 10f64.powi((bits >> 8) as i32 % 33 - 12),
                2 => unit * 100.0,
                _ => f64::from_bits(self.next_bits()),
            };
            let value = if bits & (1 << 40) != 0 { -value } else { value };
            if value.is_finite() {
                return value;
            }
        }
    }
}

#[test]
fn two_hundred_thousand_doubles_come_back_bit_identical() {
    let ws = Workspace::new();
    let mut generator = Doubles(0x9E37_79B9_7F4A_7C15);
    let values: Vec<f64> = (0..VALUES).map(|_| generator.next_value()).collect();
    let written: Vec<String> = values.iter().map(|v| python_repr(*v)).collect();
    assert!(
        written.iter().any(|t| t.contains("e-0")) && written.iter().any(|t| t.len() >= 19),
        "the sample has exponents and 17-digit values"
    );
    let mut scores = String::with_capacity(VALUES * 48);
    let mut features = String::with_capacity(VALUES * 16);
    for (i, text) in written.iter().enumerate() {
        scores.push_str(&format!("{{\"clip_id\": \"c{i}\", \"score\": {text}}}\n"));
        features.push_str(&format!("{{\"clip_id\":\"c{i}\"}}\n"));
    }
    ws.write("scores.jsonl", scores);
    ws.write("features.jsonl", features);
    ws.run(&["ingest", "lossless=scores.jsonl"]).ok();

    // The registry holds each double as it was written.
    let conn = ws.sqlite();
    let mut stmt = conn
        .prepare("SELECT key, score, status FROM score_rows")
        .unwrap();
    let mut stored = vec![None; VALUES];
    let rows = stmt
        .query_map([], |row| {
            Ok((
                row.get::<_, String>(0)?,
                row.get::<_, Option<f64>>(1)?,
                row.get::<_, String>(2)?,
            ))
        })
        .unwrap();
    for row in rows {
        let (key, score, status) = row.unwrap();
        assert_eq!(status, "ok", "{key}");
        let index: usize = key[1..].parse().unwrap();
        stored[index] = score;
    }
    let mismatches = |found: &[Option<f64>]| -> Vec<String> {
        values
            .iter()
            .zip(found)
            .zip(&written)
            .filter(|((value, found), _)| found.map(f64::to_bits) != Some(value.to_bits()))
            .take(5)
            .map(|((_, found), text)| format!("{text} came back as {found:?}"))
            .collect()
    };
    assert_eq!(mismatches(&stored), Vec::<String>::new(), "registry");

    // The four exports run side by side: a debug build takes seconds each.
    let outs = ["out.parquet", "out.arrow", "out.csv", "out.jsonl"];
    let exports: Vec<_> = outs
        .iter()
        .map(|out| {
            ws.command()
                .args(["export", "--features", "features.jsonl", "--out", out])
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .expect("start export")
        })
        .collect();
    for (out, export) in outs.iter().zip(exports) {
        let ended = export.wait_with_output().unwrap();
        assert!(
            ended.status.success(),
            "{out}: {}",
            String::from_utf8_lossy(&ended.stderr)
        );
    }
    for out in outs {
        let found = match out {
            "out.parquet" => {
                let file = File::open(ws.path(out)).unwrap();
                let reader = ParquetRecordBatchReaderBuilder::try_new(file)
                    .unwrap()
                    .build()
                    .unwrap();
                batches_scores(reader.map(Result::unwrap))
            }
            "out.arrow" => {
                let file = File::open(ws.path(out)).unwrap();
                let reader = arrow::ipc::reader::FileReader::try_new(file, None).unwrap();
                batches_scores(reader.map(Result::unwrap))
            }
            "out.csv" => {
                let mut reader = csv::Reader::from_path(ws.path(out)).unwrap();
                let at = reader
                    .headers()
                    .unwrap()
                    .iter()
                    .position(|h| h == SCORE)
                    .expect("score column");
                reader
                    .records()
                    .map(|r| Some(r.unwrap()[at].parse::<f64>().unwrap()))
                    .collect()
            }
            _ => std::fs::read_to_string(ws.path(out))
                .unwrap()
                .lines()
                .map(|line| {
                    // The text written, read with Rust's exact parser.
                    let member = format!("\"{SCORE}\":");
                    let at = line.find(&member).expect("score member") + member.len();
                    let text = line[at..].split([',', '}']).next().unwrap().trim();
                    Some(text.parse::<f64>().unwrap())
                })
                .collect(),
        };
        assert_eq!(found.len(), VALUES, "{out}");
        assert_eq!(mismatches(&found), Vec::<String>::new(), "{out}");
    }
}

/// The score column of every batch, in row order (keys checked in order).
fn batches_scores(batches: impl Iterator<Item = RecordBatch>) -> Vec<Option<f64>> {
    let mut scores = Vec::new();
    for batch in batches {
        let keys = batch
            .column_by_name("clip_id")
            .unwrap()
            .as_any()
            .downcast_ref::<StringArray>()
            .unwrap()
            .clone();
        let column = batch
            .column_by_name(SCORE)
            .unwrap()
            .as_any()
            .downcast_ref::<Float64Array>()
            .unwrap()
            .clone();
        for row in 0..batch.num_rows() {
            assert_eq!(keys.value(row), format!("c{}", scores.len()));
            scores.push((!column.is_null(row)).then(|| column.value(row)));
        }
    }
    scores
}
