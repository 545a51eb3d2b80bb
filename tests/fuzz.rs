//! A fuzz harness on the stable toolchain, run by `cargo test` (issue 13):
//! every score file in `tests/data/` and `examples/`, and feature tables in
//! every table format, mutated with a fixed seed and read in process
//! through the library's entry points — a score file through
//! `Registry::ingest_file` (detection, its reader, the ingest rules, an
//! in-memory registry), a table through `TableReader` in each engine that
//! reads it.
//!
//! Invariants: no panic and no abort (an abort ends this process, failing
//! the test); every input either succeeds or fails with an error naming
//! the file; a failed ingest leaves the registry as it was.
//!
//! `FUZZ_ITERS` sets how many inputs the two tests read in all (default
//! 20,000: two in five score files, the rest tables); a long run is e.g.
//! `FUZZ_ITERS=1000000 cargo test --release --test fuzz -- --nocapture`,
//! and `FUZZ_SEED` starts the generator elsewhere. A failure prints the
//! seed and input number that reproduce it.

mod common;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::{BooleanArray, Float64Array, Int64Array, RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Schema};
use arrow::ipc::writer::{FileWriter, IpcWriteOptions};
use arrow::ipc::CompressionType;
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::WriterProperties;

use common::mutation::{Rng, EXTREME_WORDS};
use second_opinion::ingest::{detect_format, Format, IngestOptions, SourceSpec};
use second_opinion::progress::NoProgress;
use second_opinion::registry::{ConflictPolicy, Registry};
use second_opinion::table::{TableFormat, TableReader};

/// Inputs in all: `FUZZ_ITERS`, else 20,000.
fn total_inputs() -> u64 {
    std::env::var("FUZZ_ITERS")
        .ok()
        .map(|text| text.parse().expect("FUZZ_ITERS is a number of inputs"))
        .unwrap_or(20_000)
}

/// The score files' share of the inputs: two in five, since an ingest
/// costs about twice a table read; the two tests then take about as long.
fn score_inputs() -> u64 {
    total_inputs() * 2 / 5
}

fn table_inputs() -> u64 {
    total_inputs() - score_inputs()
}

fn seed() -> u64 {
    std::env::var("FUZZ_SEED")
        .ok()
        .map(|text| text.parse().expect("FUZZ_SEED is a number"))
        .unwrap_or(0x5ec0_0d0f)
}

/// Numbers that readers must take or refuse without surprise.
const SPECIAL_NUMBERS: &[&str] = &[
    "NaN",
    "-NaN",
    "nan",
    "Infinity",
    "-Infinity",
    "inf",
    "1e999",
    "-1e999",
    "-0",
    "0.0",
    "1e-400",
    "18446744073709551616",
    "-9223372036854775809",
    "9007199254740993",
    "",
    "null",
    "\"1\"",
    "1.",
    ".5",
    "0x10",
    "1_000",
];

/// `bytes` put in at `at`, copied in bulk (an element-wise splice of a
/// long line is slow in the debug profile).
fn insert(input: &mut Vec<u8>, at: usize, bytes: &[u8]) {
    let tail = input.split_off(at);
    input.extend_from_slice(bytes);
    input.extend_from_slice(&tail);
}

/// One mutation of `input`, in place: byte flips, truncation, splices,
/// special numbers, deep nesting, long lines, invalid UTF-8, extreme words.
fn mutate_once(input: &mut Vec<u8>, rng: &mut Rng) {
    let len = input.len();
    let at = rng.below(len + 1);
    match rng.below(14) {
        0 => {
            if len > 0 {
                input[at.min(len - 1)] ^= 1 << rng.below(8);
            }
        }
        1 => {
            if len > 0 {
                input[at.min(len - 1)] = rng.next() as u8;
            }
        }
        2 => input.truncate(at),
        3 => {
            // Delete a run.
            let end = (at + 1 + rng.below(32)).min(len);
            input.drain(at.min(end)..end);
        }
        4 => {
            // A splice: a run of the input copied in elsewhere.
            if len > 0 {
                let from = rng.below(len);
                let run = input[from..(from + rng.below(256)).min(len)].to_vec();
                insert(input, at, &run);
            }
        }
        5 => {
            // A special number in place of the next number.
            let start = input[at.min(len)..]
                .iter()
                .position(|b| b.is_ascii_digit())
                .map(|p| p + at);
            if let Some(start) = start {
                let end = input[start..]
                    .iter()
                    .position(|b| !(b.is_ascii_digit() || b".eE+-".contains(b)))
                    .map_or(len, |p| p + start);
                let number = rng.pick(SPECIAL_NUMBERS).as_bytes().to_vec();
                input.splice(start..end, number);
            }
        }
        6 => {
            // Deep nesting.
            let depth = 1 + rng.below(5_000);
            let (open, close) = *rng.pick(&[(b'[', b']'), (b'{', b'}'), (b'<', b'>')]);
            let mut nest = vec![open; depth];
            if rng.below(2) == 0 {
                nest.extend(std::iter::repeat_n(close, depth));
            }
            insert(input, at, &nest);
        }
        7 => {
            // A long line.
            let byte = *rng.pick(b"a9,\" \t;x");
            insert(input, at, &vec![byte; 1 + rng.below(100_000)]);
        }
        8 => {
            // Invalid UTF-8: a lone continuation byte, an overlong form, a
            // surrogate, a truncated sequence, a byte-order mark.
            let bytes: &[u8] = rng.pick::<&[u8]>(&[
                &[0x80][..],
                &[0xc0, 0xaf],
                &[0xed, 0xa0, 0x80],
                &[0xe2, 0x82],
                &[0xff, 0xfe],
                &[0xef, 0xbb, 0xbf],
                &[0x00],
            ]);
            insert(input, at, bytes);
        }
        9 => {
            // A word with an extreme value over the bytes.
            let width = if rng.below(2) == 0 { 4 } else { 8 };
            let word = rng.pick(EXTREME_WORDS).to_le_bytes();
            let end = (at + width).min(len);
            input[at.min(end)..end].copy_from_slice(&word[..end - at.min(end)]);
        }
        10 => {
            // A line repeated, or removed.
            let start = input[..at]
                .iter()
                .rposition(|&b| b == b'\n')
                .map_or(0, |p| p + 1);
            let end = input[at..]
                .iter()
                .position(|&b| b == b'\n')
                .map_or(len, |p| p + at + 1);
            if rng.below(2) == 0 {
                let line = input[start..end].to_vec();
                insert(input, start, &line);
            } else {
                input.drain(start..end);
            }
        }
        11 => {
            // Line endings: CRLF, a lone CR, none.
            let ending: &[u8] = rng.pick::<&[u8]>(&[&b"\r\n"[..], b"\r", b"\n\n", b""]);
            if let Some(p) = input[at.min(len)..].iter().position(|&b| b == b'\n') {
                input.splice(at + p..at + p + 1, ending.iter().copied());
            }
        }
        12 => {
            // A structural character.
            let byte = *rng.pick(b"{}[]\",:;\t\n=<>/'\\");
            input.insert(at, byte);
        }
        _ => {
            // Nothing but a few bytes.
            let keep = rng.below(8).min(len);
            input.truncate(keep);
        }
    }
}

fn mutate(seed: &[u8], rng: &mut Rng) -> Vec<u8> {
    let mut input = seed.to_vec();
    // Half the inputs carry one mutation, so that many still parse.
    let rounds = match rng.below(2) {
        0 => 1,
        _ => 2 + rng.below(3),
    };
    for _ in 0..rounds {
        mutate_once(&mut input, rng);
    }
    input
}

/// Run `read` on input `number`, turning a panic into a failure that says
/// how to reproduce it.
fn no_panic<T>(what: &str, number: u64, read: impl FnOnce() -> T) -> T {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(read)).unwrap_or_else(|_| {
        panic!(
            "{what} (input {number}, FUZZ_SEED={}) panicked; the panic is printed above",
            seed()
        )
    })
}

fn quiet_contained_panics() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(second_opinion::contained::quiet_contained_panics);
}

// ------------------------------------------------------------ score files

/// Every score file the tests and examples hold.
fn score_seeds() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut seeds = Vec::new();
    let mut folders = vec![root.join("examples/scores")];
    for entry in std::fs::read_dir(root.join("tests/data")).expect("tests/data") {
        folders.push(entry.expect("entry").path());
    }
    for folder in folders {
        for entry in std::fs::read_dir(&folder).expect("fixture folder") {
            let path = entry.expect("entry").path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            let table_or_registry =
                name == "features.jsonl" || name.ends_with(".parquet") || name.ends_with(".sqlite");
            if path.is_file() && !name.starts_with('.') && name != "README.md" && !table_or_registry
            {
                seeds.push(path);
            }
        }
    }
    seeds.sort();
    seeds
}

/// What the registry holds, table by table, as counts and last row ids.
fn fingerprint(registry: &Registry) -> Vec<(String, i64, i64)> {
    let connection = registry.connection();
    let mut tables: Vec<String> = connection
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
        .unwrap()
        .query_map([], |row| row.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    tables.retain(|name: &String| !name.starts_with("sqlite_"));
    tables
        .into_iter()
        .map(|table| {
            // Tables WITHOUT ROWID have no last row id: their count says it.
            let (count, last) = connection
                .query_row(
                    &format!("SELECT count(*), coalesce(max(rowid), 0) FROM \"{table}\""),
                    [],
                    |row| Ok((row.get(0)?, row.get(1)?)),
                )
                .or_else(|_| {
                    connection.query_row(
                        &format!("SELECT count(*), 0 FROM \"{table}\""),
                        [],
                        |row| Ok((row.get(0)?, row.get(1)?)),
                    )
                })
                .unwrap();
            (table, count, last)
        })
        .collect()
}

/// A score seed with the options it ingests under.
struct ScoreSeed {
    name: String,
    bytes: Vec<u8>,
    options: IngestOptions,
}

/// The options each seed ingests under, found by ingesting it (a seed that
/// names no scorer gets `--scorer`).
fn ingestible(seeds: &[PathBuf]) -> Vec<ScoreSeed> {
    let mut ingestible = Vec::new();
    for path in seeds {
        // A seed detection does not place is named by its folder
        // (`tests/data/maniqa-txt/output.txt` needs `--format maniqa-txt`).
        let folder = path
            .parent()
            .unwrap()
            .file_name()
            .unwrap()
            .to_string_lossy();
        let format = detect_format(path)
            .map(|(format, _)| format)
            .ok()
            .or_else(|| Format::from_name(&folder))
            .unwrap_or_else(|| panic!("no format for {}", path.display()));
        let tries = [
            IngestOptions {
                format: Some(format),
                ..Default::default()
            },
            IngestOptions {
                format: Some(format),
                scorer: Some("fuzz".into()),
                ..Default::default()
            },
        ];
        let options = tries.into_iter().find(|options| {
            let mut registry = Registry::open_in_memory().unwrap();
            let source = SourceSpec::parse(path.to_str().unwrap());
            registry.ingest_file(&source, options, &NoProgress).is_ok()
        });
        let options = options.unwrap_or_else(|| panic!("seed {} does not ingest", path.display()));
        ingestible.push(ScoreSeed {
            name: path.file_name().unwrap().to_string_lossy().into_owned(),
            bytes: std::fs::read(path).unwrap(),
            options,
        });
    }
    ingestible
}

#[test]
fn mutated_score_files_are_ingested_or_refused_and_a_refusal_changes_nothing() {
    let started = std::time::Instant::now();
    let seeds = ingestible(&score_seeds());
    assert!(seeds.len() >= 20, "{} seeds", seeds.len());
    let dir = tempfile::tempdir().unwrap();
    let mut rng = Rng(seed());
    let mut registry = Registry::open_in_memory().unwrap();
    let (mut ingested, mut refused) = (0u64, 0u64);
    for number in 0..score_inputs() {
        // A fresh registry now and then keeps the fingerprint cheap.
        if number % 500 == 0 {
            registry = Registry::open_in_memory().unwrap();
        }
        let seed_index = rng.below(seeds.len());
        let seed = &seeds[seed_index];
        let input = mutate(&seed.bytes, &mut rng);
        // The seed's own name (detection and some formats read it), in a
        // folder of the seed's own.
        let path = dir.path().join(seed_index.to_string()).join(&seed.name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, &input).unwrap();
        let mut options = seed.options.clone();
        if rng.below(2) == 0 {
            options.format = None; // detected from the damaged bytes
        }
        options.strict = rng.below(4) == 0;
        // Mutants of one seed share its keys: most inputs replace or keep
        // the live rows, some refuse the duplicates (the default).
        options.on_conflict = *rng.pick(&[
            ConflictPolicy::Replace,
            ConflictPolicy::Replace,
            ConflictPolicy::Ignore,
            ConflictPolicy::Refuse,
        ]);
        let source = SourceSpec::parse(path.to_str().unwrap());
        let before = fingerprint(&registry);
        let outcome = no_panic(&path.display().to_string(), number, || {
            registry.ingest_file(&source, &options, &NoProgress)
        });
        match outcome {
            Ok(_) => ingested += 1,
            Err(error) => {
                refused += 1;
                let message = error.to_string();
                assert!(
                    message.contains(&seed.name),
                    "input {number}: the error names no file: {message}"
                );
                assert_eq!(
                    fingerprint(&registry),
                    before,
                    "input {number} ({message}) changed the registry"
                );
            }
        }
    }
    println!(
        "score files: {} inputs from {} seeds, {ingested} ingested, {refused} refused, in {:.1?}",
        score_inputs(),
        seeds.len(),
        started.elapsed()
    );
    assert!(
        ingested > 0 && refused > 0,
        "the mutations reach both outcomes"
    );
}

// ---------------------------------------------------------- feature tables

/// A small feature table of every column kind a table holds.
fn feature_batch() -> RecordBatch {
    let keys: Vec<String> = (0..24).map(|n| format!("clip_{n:03}")).collect();
    let schema = Arc::new(Schema::new(vec![
        Field::new("clip_id", DataType::Utf8, false),
        Field::new("n", DataType::Int64, true),
        Field::new("x", DataType::Float64, true),
        Field::new("flag", DataType::Boolean, true),
        Field::new("note", DataType::Utf8, true),
    ]));
    RecordBatch::try_new(
        schema,
        vec![
            Arc::new(StringArray::from_iter_values(&keys)),
            Arc::new(Int64Array::from_iter(
                (0..24).map(|n| (n % 5 != 0).then_some(n)),
            )),
            Arc::new(Float64Array::from_iter(
                (0..24).map(|n| Some(n as f64 / 3.0)),
            )),
            Arc::new(BooleanArray::from_iter((0..24).map(|n| Some(n % 2 == 0)))),
            Arc::new(StringArray::from_iter(
                (0..24).map(|n| (n % 3 == 0).then(|| format!("a, \"b\" ü {n}"))),
            )),
        ],
    )
    .unwrap()
}

fn parquet_bytes(batch: &RecordBatch, compression: Compression) -> Vec<u8> {
    let properties = WriterProperties::builder()
        .set_compression(compression)
        .set_max_row_group_row_count(Some(10))
        .build();
    let mut out = Vec::new();
    let mut writer = ArrowWriter::try_new(&mut out, batch.schema(), Some(properties)).unwrap();
    writer.write(batch).unwrap();
    writer.close().unwrap();
    out
}

fn ipc_bytes(batch: &RecordBatch, compression: Option<CompressionType>) -> Vec<u8> {
    let options = IpcWriteOptions::default()
        .try_with_compression(compression)
        .unwrap();
    let mut out = Vec::new();
    let mut writer = FileWriter::try_new_with_options(&mut out, &batch.schema(), options).unwrap();
    writer.write(&batch.slice(0, 12)).unwrap();
    writer.write(&batch.slice(12, 12)).unwrap();
    writer.finish().unwrap();
    drop(writer);
    out
}

/// Seed tables, each with the name it is read under.
fn table_seeds() -> Vec<(&'static str, Vec<u8>)> {
    let batch = feature_batch();
    let mut csv = Vec::new();
    arrow::csv::Writer::new(&mut csv).write(&batch).unwrap();
    let mut jsonl = Vec::new();
    let mut writer = arrow::json::LineDelimitedWriter::new(&mut jsonl);
    writer.write(&batch).unwrap();
    writer.finish().unwrap();
    let json = format!(
        "{{\"rows\": [{}]}}",
        String::from_utf8(jsonl.clone())
            .unwrap()
            .trim()
            .replace('\n', ",")
    );
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let fixture = |path: &str| std::fs::read(root.join(path)).unwrap();
    vec![
        ("t.csv", csv),
        ("t.jsonl", jsonl),
        ("t.json", json.into_bytes()),
        ("t.jsonl", fixture("examples/features.jsonl")),
        ("t.parquet", parquet_bytes(&batch, Compression::SNAPPY)),
        (
            "t.parquet",
            parquet_bytes(&batch, Compression::ZSTD(ZstdLevel::default())),
        ),
        (
            "t.parquet",
            parquet_bytes(&batch, Compression::UNCOMPRESSED),
        ),
        (
            "t.parquet",
            fixture("tests/data/registry-v6/export-1.parquet"),
        ),
        ("t.arrow", ipc_bytes(&batch, None)),
        (
            "t.arrow",
            ipc_bytes(&batch, Some(CompressionType::LZ4_FRAME)),
        ),
        ("t.arrow", ipc_bytes(&batch, Some(CompressionType::ZSTD))),
    ]
}

/// Read `path` to the end as `format` in the engine `out_format` needs,
/// asking each batch for its first column as keys; the rows read.
fn read_table(
    path: &Path,
    format: TableFormat,
    out_format: TableFormat,
) -> Result<usize, second_opinion::table::TableError> {
    let mut reader = TableReader::open(path, format, out_format)?;
    let key = reader.columns().first().cloned();
    let mut rows = 0;
    while let Some(batch) = reader.next_batch()? {
        if let Some(key) = &key {
            let keys = batch.key_column(key);
            rows += (0..keys.len())
                .filter(|&row| keys.get(row).is_some())
                .count();
        }
    }
    Ok(rows)
}

#[test]
fn mutated_feature_tables_are_read_or_refused_with_the_file_named() {
    quiet_contained_panics();
    let started = std::time::Instant::now();
    let seeds = table_seeds();
    let dir = tempfile::tempdir().unwrap();
    let mut rng = Rng(seed() ^ 0x7ab1e);
    let (mut read, mut refused) = (0u64, 0u64);
    for number in 0..table_inputs() {
        let (name, seed) = rng.pick(&seeds);
        let input = mutate(seed, &mut rng);
        let path = dir.path().join(name);
        std::fs::write(&path, &input).unwrap();
        let format = TableFormat::from_path(&path).unwrap();
        // A text table is read as rows for a text output and through Arrow
        // for a columnar one; a columnar table always through Arrow.
        let out_format = match (format.is_columnar(), rng.below(2)) {
            (false, 0) => TableFormat::Parquet,
            _ => format,
        };
        let outcome = no_panic(name, number, || read_table(&path, format, out_format));
        match outcome {
            Ok(_) => read += 1,
            Err(error) => {
                refused += 1;
                let message = error.to_string();
                assert!(
                    message.starts_with(&path.display().to_string()),
                    "input {number}: the error names no file: {message}"
                );
            }
        }
    }
    println!(
        "feature tables: {} inputs from {} seeds, {read} read, {refused} refused, in {:.1?}",
        table_inputs(),
        seeds.len(),
        started.elapsed()
    );
    assert!(read > 0 && refused > 0, "the mutations reach both outcomes");
}
