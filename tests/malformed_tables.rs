//! Issue 13 (2): a damaged parquet or Arrow IPC feature table ends in exit 1
//! with the file named, never in a panic (101) or an abort (134), and never
//! leaves an output behind.
//!
//! The tables are small valid ones written by the binary itself (and, for
//! the compressed IPC bodies pyarrow writes by default, by arrow's own
//! writer), then damaged deterministically: bits flipped, bytes and words
//! overwritten with extreme values, truncated, spliced.

mod common;

use std::sync::Arc;

use arrow::array::{Float64Array, Int64Array, RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Schema};
use arrow::ipc::writer::{FileWriter, IpcWriteOptions};
use arrow::ipc::CompressionType;

use common::mutation::{Rng, EXTREME_WORDS};
use common::{Run, Workspace};

/// How many damaged copies of each table are exported.
const MUTANTS_PER_TABLE: u64 = 120;

/// One damaged copy of `table`.
fn mutate(table: &[u8], rng: &mut Rng) -> Vec<u8> {
    let mut bytes = table.to_vec();
    let rounds = 1 + rng.below(3);
    for _ in 0..rounds {
        if bytes.is_empty() {
            break;
        }
        match rng.below(6) {
            0 => {
                let at = rng.below(bytes.len());
                bytes[at] ^= 1 << rng.below(8);
            }
            1 => {
                let at = rng.below(bytes.len());
                bytes[at] = rng.next() as u8;
            }
            2 | 3 => {
                // A word (4 or 8 bytes, little-endian) with an extreme value,
                // where the formats keep their lengths and offsets.
                let width = if rng.below(2) == 0 { 4 } else { 8 };
                let word = EXTREME_WORDS[rng.below(EXTREME_WORDS.len())].to_le_bytes();
                let at = rng.below(bytes.len().saturating_sub(width) + 1);
                let end = (at + width).min(bytes.len());
                bytes[at..end].copy_from_slice(&word[..end - at]);
            }
            4 => {
                let keep = rng.below(bytes.len());
                bytes.truncate(keep);
            }
            _ => {
                // A splice: a run of the table copied over another place.
                let from = rng.below(bytes.len());
                let to = rng.below(bytes.len());
                let len = rng.below(64).min(bytes.len() - from).min(bytes.len() - to);
                let run = bytes[from..from + len].to_vec();
                bytes[to..to + len].copy_from_slice(&run);
            }
        }
    }
    bytes
}

/// A registry with scores for keys `c0`…`c39` and the valid tables:
/// parquet and Arrow IPC written by `export`, and Arrow IPC with LZ4 and
/// zstd bodies written by arrow.
fn workspace_and_tables() -> (Workspace, Vec<(&'static str, Vec<u8>)>) {
    let ws = Workspace::new();
    let keys: Vec<String> = (0..40).map(|n| format!("c{n}")).collect();
    let scores: String = keys
        .iter()
        .enumerate()
        .map(|(n, key)| format!("{{\"clip_id\": \"{key}\", \"score\": {}.5}}\n", n % 5))
        .collect();
    ws.write("nr.jsonl", scores);
    ws.run(&["ingest", "nr.jsonl", "--scorer", "nr"]).ok();
    let features: String = keys
        .iter()
        .enumerate()
        .map(|(n, key)| {
            format!(
                "{{\"clip_id\": \"{key}\", \"n\": {n}, \"x\": {n}.25, \"note\": \"row {n}\"}}\n"
            )
        })
        .collect();
    ws.write("features.jsonl", features);
    let mut tables = Vec::new();
    for (name, out) in [("parquet", "base.parquet"), ("arrow", "base.arrow")] {
        ws.run(&["export", "--features", "features.jsonl", "--out", out])
            .ok();
        tables.push((name, std::fs::read(ws.path(out)).expect("read base table")));
    }
    for (name, codec) in [
        ("arrow-lz4", CompressionType::LZ4_FRAME),
        ("arrow-zstd", CompressionType::ZSTD),
    ] {
        tables.push((name, compressed_ipc(&keys, codec)));
    }
    (ws, tables)
}

/// An Arrow IPC file of two batches with compressed bodies.
fn compressed_ipc(keys: &[String], codec: CompressionType) -> Vec<u8> {
    let schema = Arc::new(Schema::new(vec![
        Field::new("clip_id", DataType::Utf8, false),
        Field::new("n", DataType::Int64, true),
        Field::new("x", DataType::Float64, true),
    ]));
    let options = IpcWriteOptions::default()
        .try_with_compression(Some(codec))
        .expect("compression");
    let mut out = Vec::new();
    let mut writer =
        FileWriter::try_new_with_options(&mut out, &schema, options).expect("ipc writer");
    for half in keys.chunks(keys.len() / 2) {
        let batch = RecordBatch::try_new(
            schema.clone(),
            vec![
                Arc::new(StringArray::from_iter_values(half)),
                Arc::new(Int64Array::from_iter((0..half.len() as i64).map(Some))),
                Arc::new(Float64Array::from_iter(
                    (0..half.len()).map(|n| Some(n as f64 / 4.0)),
                )),
            ],
        )
        .expect("batch");
        writer.write(&batch).expect("write batch");
    }
    writer.finish().expect("finish");
    drop(writer);
    out
}

/// Leftovers of an export in the workspace: its output or a temporary.
fn leftovers(ws: &Workspace, out: &str) -> Vec<String> {
    std::fs::read_dir(ws.dir.path())
        .expect("list workspace")
        .map(|entry| {
            entry
                .expect("entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .filter(|name| name == out || name.ends_with(".partial"))
        .collect()
}

#[test]
fn damaged_columnar_tables_fail_with_the_file_named_and_leave_nothing() {
    let (ws, tables) = workspace_and_tables();
    let mut failed = 0;
    let mut problems = Vec::new();
    for (table_index, (format, table)) in tables.iter().enumerate() {
        let extension = if *format == "parquet" {
            "parquet"
        } else {
            "arrow"
        };
        // The valid table exports: the damage below is what fails.
        let valid = format!("valid-{format}.{extension}");
        ws.write(&valid, table);
        ws.run(&[
            "export",
            "--features",
            &valid,
            "--out",
            "out.jsonl",
            "--overwrite",
        ])
        .ok();
        std::fs::remove_file(ws.path("out.jsonl")).expect("remove output");

        let mut rng = Rng(0x5eed_0000 + table_index as u64);
        for mutant in 0..MUTANTS_PER_TABLE {
            let damaged = mutate(table, &mut rng);
            let name = format!("mutant-{format}-{mutant}.{extension}");
            ws.write(&name, &damaged);
            let run: Run = ws.run(&[
                "export",
                "--features",
                &name,
                "--out",
                "out.jsonl",
                "--overwrite",
            ]);
            let context = format!(
                "{name} (seed {table_index}, mutant {mutant}): exit {}\nstderr:\n{}",
                run.code, run.stderr
            );
            match run.code {
                0 => std::fs::remove_file(ws.path("out.jsonl")).expect("remove output"),
                1 => {
                    failed += 1;
                    if !run.stderr.contains(&name) {
                        problems.push(format!("the file is not named: {context}"));
                    } else if run.stderr.contains("panicked") {
                        problems.push(format!("a panic is shown: {context}"));
                    } else if !leftovers(&ws, "out.jsonl").is_empty() {
                        problems.push(format!("left {:?}: {context}", leftovers(&ws, "out.jsonl")));
                    }
                }
                _ => problems.push(format!("neither success nor a data error: {context}")),
            }
            std::fs::remove_file(ws.path(&name)).expect("remove mutant");
        }
    }
    assert!(
        problems.is_empty(),
        "{} of {} mutants went wrong; the first:\n{}",
        problems.len(),
        MUTANTS_PER_TABLE * tables.len() as u64,
        problems[..problems.len().min(400)].join("\n")
    );
    // The damage is real: most mutants are refused.
    assert!(
        failed as u64 > MUTANTS_PER_TABLE * tables.len() as u64 / 2,
        "only {failed} mutants failed"
    );
}
