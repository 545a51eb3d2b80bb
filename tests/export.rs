//! `export` and `materialize` end to end through the binary: the reference
//! materializer's own cases, the lossless pass-through of every table format,
//! cross-format exports, statuses and policies, key inference, atomic
//! outputs, the `exports` record and determinism.

mod common;

use std::collections::{BTreeMap, HashSet};
use std::fmt;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, BooleanArray, Float64Array, Int64Array, RecordBatch, StringArray,
};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::arrow::ArrowWriter;
use serde::de::{Deserialize, Deserializer, IgnoredAny, MapAccess, Visitor};
use serde_json::{json, Value};

use common::{arg, sha256_hex, Run, Workspace};

// ---------------------------------------------------------------- fixtures

/// Scores of `DOVER-Mobile` for the fixture tables (keys `001`…`004`):
/// `001`, `002` ok, `003` bad (score null), `004` missing, `zzz` unmatched.
const DOVER_SCORES: &str = concat!(
    r#"{"video_id":"001","competitor":"DOVER-Mobile","score":72.5,"runtime_ms":3.0}"#,
    "\n",
    r#"{"video_id":"002","competitor":"DOVER-Mobile","score":64.0,"runtime_ms":4.0}"#,
    "\n",
    r#"{"video_id":"003","competitor":"DOVER-Mobile","score":null,"runtime_ms":5.0}"#,
    "\n",
    r#"{"video_id":"zzz","competitor":"DOVER-Mobile","score":10.0}"#,
    "\n",
);
const DOVER_PATH: &str = "scores/dover.jsonl";
const DOVER: &str = "second_opinion_dover_mobile";

/// The feature table as JSON Lines, with what JSON can say: a string key
/// that looks like a number, a decimal spelled `1.50`, nulls, an absent
/// member, nested values and escapes.
const JSONL_FEATURES: &str = concat!(
    r#"{"video_id":"001","n":1,"x":1.50,"flag":true,"meta":{"a":[1,2],"b":null},"note":null}"#,
    "\n",
    r#"{"video_id":"002","n":null,"x":2.25,"flag":false,"meta":{"a":[]},"note":"hi, there"}"#,
    "\n",
    r#"{"video_id":"003","n":3,"x":-0.5,"flag":null,"meta":null,"note":"\u00fc \"q\""}"#,
    "\n",
    r#"{"video_id":"004","x":1e10,"flag":true,"meta":{},"note":""}"#,
    "\n",
);

/// The same values as the Arrow fixture, flat, as JSON Lines.
const JSONL_FLAT: &str = concat!(
    r#"{"video_id":"001","n":1,"x":1.5,"flag":true}"#,
    "\n",
    r#"{"video_id":"002","n":null,"x":2.25,"flag":false}"#,
    "\n",
    r#"{"video_id":"003","n":3,"x":-0.5,"flag":null}"#,
    "\n",
    r#"{"video_id":"004","n":null,"x":10000000000.0,"flag":true}"#,
    "\n",
);

const CSV_FEATURES: &str = "video_id,n,x,flag,note\n\
001,1,1.50,true,\"hi, there\"\n\
002,,2.25,false,\n\
003,3,-0.5,,\"quote \"\"q\"\"\"\n\
004,,1e10,true,ü\n";

const PANDAS_METADATA: &str = r#"{"index_columns": ["video_id"], "column_indexes": [], "columns": [], "creator": {"library": "pyarrow"}, "pandas_version": "2.2.0"}"#;

/// The typed feature table: string key, int64 with nulls, float64, bool with
/// a null; schema metadata with a `pandas` key and field metadata.
fn features_batch() -> RecordBatch {
    let fields = vec![
        Field::new("video_id", DataType::Utf8, true),
        Field::new("n", DataType::Int64, true),
        Field::new("x", DataType::Float64, true)
            .with_metadata([("unit".to_string(), "dB".to_string())].into()),
        Field::new("flag", DataType::Boolean, true),
    ];
    let metadata = [
        ("pandas".to_string(), PANDAS_METADATA.to_string()),
        ("origin".to_string(), "tests/export.rs".to_string()),
    ]
    .into();
    let schema = Arc::new(Schema::new_with_metadata(fields, metadata));
    let columns: Vec<ArrayRef> = vec![
        Arc::new(StringArray::from(vec!["001", "002", "003", "004"])),
        Arc::new(Int64Array::from(vec![Some(1), None, Some(3), None])),
        Arc::new(Float64Array::from(vec![1.5, 2.25, -0.5, 1e10])),
        Arc::new(BooleanArray::from(vec![
            Some(true),
            Some(false),
            None,
            Some(true),
        ])),
    ];
    RecordBatch::try_new(schema, columns).expect("fixture batch")
}

/// What the five DOVER-Mobile columns hold for keys `001`…`004`:
/// (score, status, runtime_ms, frames, source).
/// (score, status, runtime_ms, frames, source) of one row.
type Expected = (Option<f64>, &'static str, Option<f64>, i64, &'static str);

fn expected_dover() -> Vec<Expected> {
    vec![
        (Some(72.5), "ok", Some(3.0), 0, DOVER_PATH),
        (Some(64.0), "ok", Some(4.0), 0, DOVER_PATH),
        (None, "bad", Some(5.0), 0, DOVER_PATH),
        (None, "missing", None, 0, ""),
    ]
}

fn added_names(prefix: &str) -> Vec<String> {
    ["score", "status", "runtime_ms", "frames", "source"]
        .iter()
        .map(|suffix| format!("{prefix}_{suffix}"))
        .collect()
}

/// A workspace whose registry holds the DOVER-Mobile fixture scores.
fn dover_workspace() -> Workspace {
    let ws = Workspace::new();
    ws.write(DOVER_PATH, DOVER_SCORES);
    ws.run(&["ingest", DOVER_PATH]).ok();
    ws
}

/// Write the fixture feature table as `name`, in the format of its extension.
fn write_features(ws: &Workspace, name: &str) -> PathBuf {
    let path = ws.path(name);
    match extension(&path).as_str() {
        "parquet" | "pq" | "arrow" | "feather" | "ipc" => write_arrow(&path, &features_batch()),
        "jsonl" | "ndjson" => {
            ws.write(name, JSONL_FEATURES);
        }
        "json" => {
            let rows: Vec<&str> = JSONL_FEATURES.lines().collect();
            ws.write(name, format!("{{\"rows\": [\n{}\n]}}\n", rows.join(",\n")));
        }
        "csv" => {
            ws.write(name, CSV_FEATURES);
        }
        other => panic!("no fixture for .{other}"),
    }
    path
}

// ---------------------------------------------------------------- readers

fn extension(path: &Path) -> String {
    path.extension()
        .and_then(|e| e.to_str())
        .unwrap_or_default()
        .to_ascii_lowercase()
}

fn write_arrow(path: &Path, batch: &RecordBatch) {
    let file = File::create(path).expect("create table");
    match extension(path).as_str() {
        "parquet" | "pq" => {
            let mut writer = ArrowWriter::try_new(file, batch.schema(), None).expect("parquet");
            writer.write(batch).expect("write parquet");
            writer.close().expect("close parquet");
        }
        _ => {
            let mut writer =
                arrow::ipc::writer::FileWriter::try_new(file, &batch.schema()).expect("ipc");
            writer.write(batch).expect("write ipc");
            writer.finish().expect("finish ipc");
        }
    }
}

/// A parquet or Arrow IPC file, whole, as one batch.
fn read_arrow(path: &Path) -> RecordBatch {
    let file = File::open(path).unwrap_or_else(|e| panic!("open {}: {e}", path.display()));
    let (schema, batches): (SchemaRef, Vec<RecordBatch>) = match extension(path).as_str() {
        "parquet" | "pq" => {
            let builder = ParquetRecordBatchReaderBuilder::try_new(file).expect("parquet file");
            let schema = builder.schema().clone();
            let batches = builder
                .build()
                .expect("parquet reader")
                .collect::<Result<_, _>>()
                .expect("parquet batches");
            (schema, batches)
        }
        _ => {
            let reader = arrow::ipc::reader::FileReader::try_new(file, None).expect("ipc file");
            let schema = reader.schema();
            let batches = reader.collect::<Result<_, _>>().expect("ipc batches");
            (schema, batches)
        }
    };
    arrow::compute::concat_batches(&schema, &batches).expect("concat")
}

/// Top-level member names of a JSON object, in file order.
struct Members(Vec<String>);

impl<'de> Deserialize<'de> for Members {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct MembersVisitor;
        impl<'de> Visitor<'de> for MembersVisitor {
            type Value = Members;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Members, A::Error> {
                let mut names = Vec::new();
                while let Some((name, _)) = map.next_entry::<String, IgnoredAny>()? {
                    names.push(name);
                }
                Ok(Members(names))
            }
        }
        deserializer.deserialize_map(MembersVisitor)
    }
}

fn members(text: &str) -> Vec<String> {
    serde_json::from_str::<Members>(text)
        .unwrap_or_else(|e| panic!("not an object ({e}): {text}"))
        .0
}

/// A row: its member names in order and its value.
type Row = (Vec<String>, Value);

fn jsonl_rows(text: &str) -> Vec<Row> {
    text.lines()
        .filter(|line| !line.trim().is_empty())
        .map(|line| {
            let value: Value = serde_json::from_str(line)
                .unwrap_or_else(|e| panic!("bad JSONL line ({e}): {line}"));
            (members(line), value)
        })
        .collect()
}

/// The rows of a `{"rows": [...]}` document, member order included.
fn json_document_rows(text: &str) -> Vec<Row> {
    #[derive(serde::Deserialize)]
    struct Raw<'a> {
        #[serde(borrow)]
        rows: Vec<&'a serde_json::value::RawValue>,
    }
    let raw: Raw = serde_json::from_str(text)
        .unwrap_or_else(|e| panic!("not a {{\"rows\": [...]}} document ({e}):\n{text}"));
    raw.rows
        .iter()
        .map(|row| (members(row.get()), serde_json::from_str(row.get()).unwrap()))
        .collect()
}

fn read_rows(path: &Path) -> Vec<Row> {
    let text = std::fs::read_to_string(path).expect("read output");
    match extension(path).as_str() {
        "jsonl" | "ndjson" => jsonl_rows(&text),
        "json" => json_document_rows(&text),
        other => panic!("not a JSON table: .{other}"),
    }
}

fn read_csv(path: &Path) -> (Vec<String>, Vec<Vec<String>>) {
    let mut reader = csv::Reader::from_path(path).expect("open CSV");
    let header = reader
        .headers()
        .expect("CSV header")
        .iter()
        .map(str::to_string)
        .collect();
    let rows = reader
        .records()
        .map(|r| r.expect("CSV record").iter().map(str::to_string).collect())
        .collect();
    (header, rows)
}

/// `row` without the members whose name starts with `prefix`.
fn without_prefix(row: &Value, prefix: &str) -> Value {
    let object = row.as_object().expect("row object");
    Value::Object(
        object
            .iter()
            .filter(|(name, _)| !name.starts_with(prefix))
            .map(|(n, v)| (n.clone(), v.clone()))
            .collect(),
    )
}

fn column<'a, T: 'static>(batch: &'a RecordBatch, name: &str) -> &'a T {
    batch
        .column_by_name(name)
        .unwrap_or_else(|| panic!("no column {name} in {:?}", batch.schema()))
        .as_any()
        .downcast_ref::<T>()
        .unwrap_or_else(|| {
            panic!(
                "column {name} has type {}",
                batch.column_by_name(name).unwrap().data_type()
            )
        })
}

fn floats(batch: &RecordBatch, name: &str) -> Vec<Option<f64>> {
    column::<Float64Array>(batch, name).iter().collect()
}

fn ints(batch: &RecordBatch, name: &str) -> Vec<Option<i64>> {
    column::<Int64Array>(batch, name).iter().collect()
}

fn texts(batch: &RecordBatch, name: &str) -> Vec<Option<String>> {
    column::<StringArray>(batch, name)
        .iter()
        .map(|v| v.map(str::to_string))
        .collect()
}

/// Run the binary without `--registry` (materialize's throw-away registry).
fn run_bare(ws: &Workspace, args: &[&str]) -> Run {
    Run::from(
        Command::new(env!("CARGO_BIN_EXE_second-opinion"))
            .current_dir(ws.dir.path())
            .env_remove("SECOND_OPINION_REGISTRY")
            .args(args)
            .output()
            .expect("run second-opinion"),
    )
}

fn read_json(path: &Path) -> Value {
    let text =
        std::fs::read_to_string(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: not JSON ({e})", path.display()))
}

/// Files in the workspace directory (not recursive), sorted.
fn listing(ws: &Workspace) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(ws.dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

fn assert_no_partial_files(ws: &Workspace) {
    let partial: Vec<String> = listing(ws)
        .into_iter()
        .filter(|n| n.contains("partial") || n.starts_with(".second-opinion"))
        .collect();
    assert!(partial.is_empty(), "temporary files left: {partial:?}");
}

// ------------------------------------------------- checks of added columns

/// The DOVER-Mobile columns of JSON rows, exactly typed: floats are JSON
/// numbers or null, frames integers, status and source strings.
fn check_dover_json(rows: &[Row], prefix: &str, keys: &[&str]) {
    let all: Vec<&str> = vec!["001", "002", "003", "004"];
    let expected = expected_dover();
    assert_eq!(rows.len(), keys.len(), "rows: {rows:?}");
    for ((_, row), key) in rows.iter().zip(keys) {
        let (score, status, runtime, frames, source) =
            expected[all.iter().position(|k| k == key).unwrap()];
        assert_eq!(row["video_id"], json!(key), "{row}");
        assert_eq!(row[format!("{prefix}_score")], json!(score), "{row}");
        assert_eq!(row[format!("{prefix}_status")], json!(status), "{row}");
        assert_eq!(row[format!("{prefix}_runtime_ms")], json!(runtime), "{row}");
        assert_eq!(row[format!("{prefix}_frames")], json!(frames), "{row}");
        assert!(row[format!("{prefix}_frames")].is_i64(), "{row}");
        assert_eq!(row[format!("{prefix}_source")], json!(source), "{row}");
        if let Some(score) = score {
            assert_eq!(row[format!("{prefix}_score")].as_f64(), Some(score));
        }
    }
}

/// The DOVER-Mobile columns of an Arrow batch: types and values.
fn check_dover_arrow(batch: &RecordBatch, prefix: &str, keys: &[&str]) {
    let all = ["001", "002", "003", "004"];
    let expected = expected_dover();
    let schema = batch.schema();
    for (name, data_type) in added_names(prefix).iter().zip([
        DataType::Float64,
        DataType::Utf8,
        DataType::Float64,
        DataType::Int64,
        DataType::Utf8,
    ]) {
        let field = schema.field_with_name(name).expect("added column");
        assert_eq!(field.data_type(), &data_type, "type of {name}");
    }
    let picked: Vec<_> = keys
        .iter()
        .map(|key| expected[all.iter().position(|k| k == key).unwrap()])
        .collect();
    assert_eq!(
        texts(batch, "video_id"),
        keys.iter().map(|k| Some(k.to_string())).collect::<Vec<_>>()
    );
    assert_eq!(
        floats(batch, &format!("{prefix}_score")),
        picked.iter().map(|e| e.0).collect::<Vec<_>>()
    );
    assert_eq!(
        texts(batch, &format!("{prefix}_status")),
        picked
            .iter()
            .map(|e| Some(e.1.to_string()))
            .collect::<Vec<_>>()
    );
    assert_eq!(
        floats(batch, &format!("{prefix}_runtime_ms")),
        picked.iter().map(|e| e.2).collect::<Vec<_>>()
    );
    assert_eq!(
        ints(batch, &format!("{prefix}_frames")),
        picked.iter().map(|e| Some(e.3)).collect::<Vec<_>>()
    );
    assert_eq!(
        texts(batch, &format!("{prefix}_source")),
        picked
            .iter()
            .map(|e| Some(e.4.to_string()))
            .collect::<Vec<_>>()
    );
}

/// The DOVER-Mobile cells of a CSV, compared as text (floats numerically).
fn check_dover_csv(header: &[String], rows: &[Vec<String>], keys: &[&str]) {
    let all = ["001", "002", "003", "004"];
    let expected = expected_dover();
    let at = |name: &str| {
        header
            .iter()
            .position(|h| h == name)
            .unwrap_or_else(|| panic!("no column {name} in {header:?}"))
    };
    let float_cell = |cell: &str| -> Option<f64> {
        (!cell.is_empty()).then(|| cell.parse().expect("float cell"))
    };
    assert_eq!(rows.len(), keys.len());
    for (row, key) in rows.iter().zip(keys) {
        let (score, status, runtime, frames, source) =
            expected[all.iter().position(|k| k == key).unwrap()];
        assert_eq!(row[at("video_id")], *key);
        assert_eq!(float_cell(&row[at(&format!("{DOVER}_score"))]), score);
        assert_eq!(row[at(&format!("{DOVER}_status"))], status);
        assert_eq!(
            float_cell(&row[at(&format!("{DOVER}_runtime_ms"))]),
            runtime
        );
        assert_eq!(row[at(&format!("{DOVER}_frames"))], frames.to_string());
        assert_eq!(row[at(&format!("{DOVER}_source"))], source);
    }
}

/// An Arrow output carries the input's columns unchanged (fields with
/// types, nullability and metadata; values and nulls) followed by the added
/// ones, and the input's schema metadata.
fn assert_arrow_passthrough(input: &RecordBatch, output: &RecordBatch) {
    let (in_schema, out_schema) = (input.schema(), output.schema());
    let width = in_schema.fields().len();
    assert_eq!(
        &out_schema.fields()[..width],
        &in_schema.fields()[..],
        "original fields"
    );
    for index in 0..width {
        assert_eq!(
            output.column(index).as_ref(),
            input.column(index).as_ref(),
            "column {}",
            in_schema.field(index).name()
        );
    }
    assert_eq!(
        out_schema.metadata(),
        in_schema.metadata(),
        "schema metadata"
    );
    assert_eq!(
        out_schema.metadata().get("pandas").map(String::as_str),
        Some(PANDAS_METADATA)
    );
}

// ---------------------------------------------------- materialize (reference)

#[test]
fn materialize_reference_case_and_audit_provenance() {
    let ws = Workspace::new();
    ws.write(
        "features.jsonl",
        "{\"video_id\":\"a\",\"vmaf\":91.0}\n{\"video_id\":\"b\",\"vmaf\":82.0}\n",
    );
    ws.write(
        "scores.jsonl",
        concat!(
            r#"{"video_id":"a","competitor":"DOVER-Mobile","score":72.5,"runtime_ms":3.0}"#,
            "\n",
            r#"{"video_id":"b","competitor":"DOVER-Mobile","score":64.0,"runtime_ms":4.0}"#,
            "\n"
        ),
    );
    let argv = [
        "materialize",
        "--features",
        "features.jsonl",
        "--scores",
        "scores.jsonl",
        "--out",
        "out.jsonl",
        "--audit-json",
        "audit.json",
    ];
    run_bare(&ws, &argv).ok();

    let rows = read_rows(&ws.path("out.jsonl"));
    assert_eq!(rows.len(), 2);
    let (a, b) = (&rows[0].1, &rows[1].1);
    assert_eq!(a["video_id"], "a");
    assert_eq!(a["vmaf"], json!(91.0));
    assert_eq!(a[format!("{DOVER}_score")], json!(72.5));
    assert_eq!(b[format!("{DOVER}_score")], json!(64.0));
    assert_eq!(a[format!("{DOVER}_status")], "ok");
    assert_eq!(b[format!("{DOVER}_status")], "ok");
    assert_eq!(a[format!("{DOVER}_runtime_ms")], json!(3.0));
    assert_eq!(b[format!("{DOVER}_runtime_ms")], json!(4.0));
    assert_eq!(b[format!("{DOVER}_frames")], json!(0));
    assert_eq!(b[format!("{DOVER}_source")], "scores.jsonl");
    let mut expected_members = vec!["video_id".to_string(), "vmaf".to_string()];
    expected_members.extend(added_names(DOVER));
    assert_eq!(rows[0].0, expected_members);

    // The throw-away registry leaves nothing behind.
    assert_eq!(
        listing(&ws),
        ["audit.json", "features.jsonl", "out.jsonl", "scores.jsonl"]
    );

    let text = std::fs::read_to_string(ws.path("audit.json")).unwrap();
    assert!(
        !text.contains("NaN") && !text.contains("Infinity"),
        "{text}"
    );
    let top = members(&text);
    let mut sorted = top.clone();
    sorted.sort();
    assert_eq!(top, sorted, "audit keys are sorted");
    let audit: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(audit["feature_table"], "features.jsonl");
    assert_eq!(audit["output"], "out.jsonl");
    assert_eq!(audit["key_column"], "video_id");
    assert_eq!(audit["key_normalize"], "auto");
    assert_eq!(audit["input_rows"], 2);
    assert_eq!(audit["output_rows"], 2);
    assert_eq!(audit["missing_policy"], "mark");
    let competitor = &audit["competitors"]["DOVER-Mobile"];
    assert_eq!(competitor["competitor"], "DOVER-Mobile");
    assert_eq!(competitor["column_prefix"], DOVER);
    assert_eq!(competitor["scores_loaded"], 2);
    assert_eq!(competitor["matched_rows"], 2);
    assert_eq!(competitor["missing_rows"], 0);
    assert_eq!(competitor["bad_rows"], 0);
    assert_eq!(audit["competitors"].as_object().unwrap().len(), 1);

    // The reference's run_provenance (tests/reference_parity.rs checks it
    // whole); this tool's hashes of every input and output beside it.
    let reference = &audit["run_provenance"];
    let logged: Vec<&str> = reference["argv"]
        .as_array()
        .expect("argv list")
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(&logged[..], &argv[1..], "argv after the subcommand");
    assert_eq!(reference["schema"], "ai-run-provenance-v1");
    assert_eq!(reference["args"]["features"], "features.jsonl");
    assert_eq!(reference["args"]["out"], "out.jsonl");
    assert_eq!(reference["args"]["scores"], json!(["scores.jsonl"]));
    assert_eq!(reference["args"]["missing_policy"], "mark");
    let provenance = &audit["second_opinion_provenance"];
    assert_eq!(provenance["tool_version"], env!("CARGO_PKG_VERSION"));

    let mut hashed = BTreeMap::new();
    for entry in provenance["inputs"]
        .as_array()
        .expect("inputs")
        .iter()
        .chain(provenance["outputs"].as_array().expect("outputs"))
    {
        let path = entry["path"].as_str().expect("path");
        let on_disk = ws.path(path);
        assert_eq!(entry["sha256"], sha256_hex(&on_disk), "sha256 of {path}");
        assert_eq!(
            entry["size_bytes"],
            std::fs::metadata(&on_disk).unwrap().len(),
            "size of {path}"
        );
        hashed.insert(path.to_string(), ());
    }
    assert_eq!(
        hashed.keys().collect::<Vec<_>>(),
        ["features.jsonl", "out.jsonl", "scores.jsonl"]
    );
    assert_eq!(provenance["outputs"][0]["path"], "out.jsonl");
}

#[test]
fn materialize_wrapper_payload_pools_frames() {
    let ws = Workspace::new();
    ws.write(
        "features.jsonl",
        "{\"filename\":\"/corpus/clip_a.yuv\",\"vmaf\":88.0}\n",
    );
    ws.write(
        "wrapper.json",
        r#"{"name":"clip_a.yuv","frames":[{"frame_idx":0,"predicted_vmaf_or_mos":70.0,"runtime_ms":1.5},{"frame_idx":1,"predicted_vmaf_or_mos":74.0,"runtime_ms":2.0}],"summary":{"competitor":"fork-nr-metric","runtime_total_ms":3.5}}"#,
    );
    run_bare(
        &ws,
        &[
            "materialize",
            "--features",
            "features.jsonl",
            "--scores",
            "wrapper.json",
            "--out",
            "out.json",
            "--audit-json",
            "audit.json",
        ],
    )
    .ok();
    let rows = read_rows(&ws.path("out.json"));
    assert_eq!(rows.len(), 1);
    let row = &rows[0].1;
    let prefix = "second_opinion_fork_nr_metric";
    assert_eq!(row["filename"], "/corpus/clip_a.yuv");
    assert_eq!(row[format!("{prefix}_score")], json!(72.0));
    assert_eq!(row[format!("{prefix}_status")], "ok");
    assert_eq!(row[format!("{prefix}_frames")], json!(2));
    assert_eq!(row[format!("{prefix}_runtime_ms")], json!(3.5));
    assert_eq!(row[format!("{prefix}_source")], "wrapper.json");
    let audit = read_json(&ws.path("audit.json"));
    assert_eq!(audit["key_column"], "filename");
    assert_eq!(audit["competitors"]["fork-nr-metric"]["matched_rows"], 1);
}

fn missing_row_workspace() -> Workspace {
    let ws = Workspace::new();
    ws.write(
        "features.jsonl",
        "{\"video_id\":\"a\",\"vmaf\":91.0}\n{\"video_id\":\"b\",\"vmaf\":82.0}\n",
    );
    ws.write(
        "scores.jsonl",
        r#"{"video_id":"a","competitor":"DOVER-Mobile","score":72.5,"runtime_ms":3.0}"#,
    );
    ws
}

#[test]
fn materialize_missing_rows_mark_drop_fail() {
    let ws = missing_row_workspace();
    let base = [
        "materialize",
        "--features",
        "features.jsonl",
        "--scores",
        "scores.jsonl",
    ];

    // mark (the default)
    let mut args = base.to_vec();
    args.extend(["--out", "mark.jsonl", "--audit-json", "mark.json"]);
    run_bare(&ws, &args).ok();
    let rows = read_rows(&ws.path("mark.jsonl"));
    assert_eq!(rows.len(), 2);
    let b = &rows[1].1;
    assert_eq!(b["video_id"], "b");
    assert_eq!(b[format!("{DOVER}_score")], Value::Null);
    assert_eq!(b[format!("{DOVER}_status")], "missing");
    assert_eq!(b[format!("{DOVER}_runtime_ms")], Value::Null);
    assert_eq!(b[format!("{DOVER}_frames")], json!(0));
    assert_eq!(b[format!("{DOVER}_source")], "");
    let audit = read_json(&ws.path("mark.json"));
    assert_eq!(audit["competitors"]["DOVER-Mobile"]["missing_rows"], 1);
    assert_eq!(audit["competitors"]["DOVER-Mobile"]["matched_rows"], 1);
    assert_eq!(audit["output_rows"], 2);

    // drop
    let mut args = base.to_vec();
    args.extend([
        "--out",
        "drop.jsonl",
        "--audit-json",
        "drop.json",
        "--missing-policy",
        "drop",
    ]);
    run_bare(&ws, &args).ok();
    let rows = read_rows(&ws.path("drop.jsonl"));
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].1["video_id"], "a");
    let audit = read_json(&ws.path("drop.json"));
    assert_eq!(audit["input_rows"], 2);
    assert_eq!(audit["output_rows"], 1);
    assert_eq!(audit["missing_policy"], "drop");

    // fail: nothing written, not even the audit
    let mut args = base.to_vec();
    args.extend([
        "--out",
        "fail.jsonl",
        "--audit-json",
        "fail.json",
        "--missing-policy",
        "fail",
    ]);
    let run = run_bare(&ws, &args).fails_with(1);
    assert!(
        run.stderr
            .contains("missing second-opinion scores: DOVER-Mobile=1"),
        "{}",
        run.stderr
    );
    assert!(!ws.path("fail.jsonl").exists());
    assert!(!ws.path("fail.json").exists());
    assert_no_partial_files(&ws);
}

#[test]
fn materialize_duplicate_across_score_files_fails() {
    let ws = Workspace::new();
    ws.write("features.jsonl", "{\"video_id\":\"a\",\"vmaf\":91.0}\n");
    ws.write(
        "musiq-1.jsonl",
        r#"{"video_id":"a","competitor":"musiq","score":50.0}"#,
    );
    ws.write(
        "musiq-2.jsonl",
        r#"{"video_id":"a","competitor":"musiq","score":51.0}"#,
    );
    let run = run_bare(
        &ws,
        &[
            "materialize",
            "--features",
            "features.jsonl",
            "--scores",
            "musiq-1.jsonl",
            "--scores",
            "musiq-2.jsonl",
            "--out",
            "out.jsonl",
            "--audit-json",
            "audit.json",
        ],
    )
    .fails_with(1);
    assert!(
        run.stderr
            .contains("duplicate score for competitor='musiq' key='a'"),
        "{}",
        run.stderr
    );
    // Where both came from.
    assert!(run.stderr.contains("musiq-1.jsonl"), "{}", run.stderr);
    assert!(run.stderr.contains("musiq-2.jsonl"), "{}", run.stderr);
    assert!(!ws.path("out.jsonl").exists());
    assert!(!ws.path("audit.json").exists());
}

#[test]
fn materialize_parquet_to_parquet_and_kept_registry() {
    let ws = dover_workspace();
    write_features(&ws, "features.parquet");
    ws.write(
        "scores/extra.jsonl",
        r#"{"video_id":"004","score":9.5,"runtime_ms":1.0}"#,
    );
    ws.run(&[
        "materialize",
        "--features",
        "features.parquet",
        "--scores",
        "extra=scores/extra.jsonl",
        "--out",
        "out.parquet",
    ])
    .ok();
    let input = read_arrow(&ws.path("features.parquet"));
    let output = read_arrow(&ws.path("out.parquet"));
    assert_arrow_passthrough(&input, &output);
    // materialize exports only the scorers of its --scores files.
    let names: Vec<String> = output
        .schema()
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .collect();
    let mut expected: Vec<String> = ["video_id", "n", "x", "flag"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    expected.extend(added_names("second_opinion_extra"));
    assert_eq!(names, expected);
    assert_eq!(
        floats(&output, "second_opinion_extra_score"),
        [None, None, None, Some(9.5)]
    );
    assert_eq!(
        texts(&output, "second_opinion_extra_status"),
        ["missing", "missing", "missing", "ok"].map(|s| Some(s.to_string()))
    );
    // With --registry the scores stay, and the export is recorded.
    let exports = ws.run(&["exports", "--json"]).ok().json();
    let exports = exports.as_array().unwrap();
    assert_eq!(exports.len(), 1);
    assert_eq!(exports[0]["command"], "materialize");
    assert_eq!(
        exports[0]["output_sha256"],
        sha256_hex(&ws.path("out.parquet"))
    );
}

// ------------------------------------------------------- export: lossless

const ALL_FORMATS: &[&str] = &["parquet", "arrow", "feather", "jsonl", "json", "csv"];

/// Export, then drop the new columns: what is left equals the input.
fn assert_lossless(input: &Path, output: &Path) {
    match extension(input).as_str() {
        "parquet" | "arrow" | "feather" => {
            let before = read_arrow(input);
            let after = read_arrow(output);
            assert_arrow_passthrough(&before, &after);
            assert_eq!(after.num_columns(), before.num_columns() + 5);
            check_dover_arrow(&after, DOVER, &["001", "002", "003", "004"]);
        }
        "jsonl" | "json" => {
            let before = read_rows(input);
            let after = read_rows(output);
            assert_eq!(after.len(), before.len());
            for ((in_names, in_row), (out_names, out_row)) in before.iter().zip(&after) {
                // Same members, same values, same order; the new ones at the end.
                assert_eq!(&without_prefix(out_row, "second_opinion_"), in_row);
                let mut expected = in_names.clone();
                expected.extend(added_names(DOVER));
                assert_eq!(out_names, &expected);
            }
            // Spot checks of what a careless round trip would change.
            assert!(after[0].1["video_id"].is_string());
            assert_eq!(after[0].1["video_id"], "001");
            assert_eq!(after[0].1["x"].as_f64(), Some(1.5));
            assert!(after[0].1["note"].is_null());
            assert_eq!(after[0].1["meta"], json!({"a": [1, 2], "b": null}));
            assert!(after[1].1["n"].is_null());
            assert!(
                after[3].1.get("n").is_none(),
                "an absent member stays absent"
            );
            assert_eq!(after[2].1["note"], "ü \"q\"");
            check_dover_json(&after, DOVER, &["001", "002", "003", "004"]);
        }
        "csv" => {
            let (in_header, in_rows) = read_csv(input);
            let (out_header, out_rows) = read_csv(output);
            let mut expected = in_header.clone();
            expected.extend(added_names(DOVER));
            assert_eq!(out_header, expected);
            assert_eq!(out_rows.len(), in_rows.len());
            for (before, after) in in_rows.iter().zip(&out_rows) {
                assert_eq!(&after[..before.len()], &before[..], "cell text");
            }
            check_dover_csv(&out_header, &out_rows, &["001", "002", "003", "004"]);
        }
        other => panic!("{other}"),
    }
}

#[test]
fn export_is_lossless_for_every_format() {
    let ws = dover_workspace();
    for format in ALL_FORMATS {
        let input = write_features(&ws, &format!("features.{format}"));
        let output = ws.path(&format!("out.{format}"));
        let run = ws
            .run(&["export", "--features", arg(&input), "--out", arg(&output)])
            .ok();
        assert!(run.stderr.contains("4 rows written"), "{}", run.stderr);
        assert_lossless(&input, &output);
    }
    // Spelling survives a text round trip too: `1.50` stays `1.50`.
    let text = std::fs::read_to_string(ws.path("out.jsonl")).unwrap();
    for (before, after) in JSONL_FEATURES.lines().zip(text.lines()) {
        assert!(
            after.starts_with(before.trim_end_matches('}')),
            "{before}\n{after}"
        );
    }
    // A `.json` list of rows is read too, and written as {"rows": [...]}.
    let rows: Vec<&str> = JSONL_FEATURES.lines().collect();
    ws.write("list.json", format!("[{}]", rows.join(",")));
    ws.run(&[
        "export",
        "--features",
        "list.json",
        "--out",
        "list-out.json",
    ])
    .ok();
    let after = read_rows(&ws.path("list-out.json"));
    let before = jsonl_rows(JSONL_FEATURES);
    for ((_, a), (_, b)) in after.iter().zip(&before) {
        assert_eq!(&without_prefix(a, "second_opinion_"), b);
    }
}

#[test]
fn export_parquet_keeps_row_groups_worth_of_rows_in_order() {
    // More rows than one read batch, so the join streams over batches.
    let ws = Workspace::new();
    let rows = 70_000usize;
    let mut scores = String::new();
    for n in (0..rows).step_by(7) {
        scores.push_str(&format!(
            "{{\"clip_id\":\"c{n:06}\",\"competitor\":\"nr\",\"score\":{}.5}}\n",
            n % 100
        ));
    }
    ws.write("scores.jsonl", scores);
    ws.run(&["ingest", "scores.jsonl"]).ok();
    let ids: Vec<String> = (0..rows).map(|n| format!("c{n:06}")).collect();
    let values: Vec<Option<i64>> = (0..rows)
        .map(|n| (n % 3 != 0).then_some(n as i64))
        .collect();
    let schema = Arc::new(Schema::new(vec![
        Field::new("clip_id", DataType::Utf8, false),
        Field::new("v", DataType::Int64, true),
    ]));
    let batch = RecordBatch::try_new(
        schema,
        vec![
            Arc::new(StringArray::from(ids.clone())),
            Arc::new(Int64Array::from(values)),
        ],
    )
    .unwrap();
    write_arrow(&ws.path("big.parquet"), &batch);
    ws.run(&[
        "export",
        "--features",
        "big.parquet",
        "--out",
        "big-out.parquet",
        "--report-json",
        "report.json",
    ])
    .ok();
    let output = read_arrow(&ws.path("big-out.parquet"));
    assert_eq!(output.num_rows(), rows);
    assert_eq!(output.column(0).as_ref(), batch.column(0).as_ref());
    assert_eq!(output.column(1).as_ref(), batch.column(1).as_ref());
    let scores = floats(&output, "second_opinion_nr_score");
    for (n, score) in scores.iter().enumerate() {
        let expected = (n % 7 == 0).then_some((n % 100) as f64 + 0.5);
        assert_eq!(*score, expected, "row {n}");
    }
    let report = read_json(&ws.path("report.json"));
    assert_eq!(report["scorers"]["nr"]["matched"], rows.div_ceil(7));
    assert_eq!(report["scorers"]["nr"]["missing"], rows - rows.div_ceil(7));
    assert_eq!(report["scorers"]["nr"]["unmatched"], 0);
}

// --------------------------------------------------- export: cross-format

#[test]
fn export_jsonl_to_parquet_types_the_columns() {
    let ws = dover_workspace();
    ws.write("flat.jsonl", JSONL_FLAT);
    ws.run(&["export", "--features", "flat.jsonl", "--out", "out.parquet"])
        .ok();
    let output = read_arrow(&ws.path("out.parquet"));
    let fixture = features_batch();
    for (index, field) in fixture.schema().fields().iter().enumerate() {
        let out_field = output.schema().field(index).clone();
        assert_eq!(out_field.name(), field.name());
        assert_eq!(out_field.data_type(), field.data_type(), "{}", field.name());
        assert_eq!(
            output.column(index).as_ref(),
            fixture.column(index).as_ref(),
            "{}",
            field.name()
        );
    }
    check_dover_arrow(&output, DOVER, &["001", "002", "003", "004"]);
}

#[test]
fn export_parquet_to_jsonl_and_csv() {
    let ws = dover_workspace();
    write_features(&ws, "features.parquet");

    ws.run(&[
        "export",
        "--features",
        "features.parquet",
        "--out",
        "out.jsonl",
    ])
    .ok();
    let after = read_rows(&ws.path("out.jsonl"));
    let expected = jsonl_rows(JSONL_FLAT);
    assert_eq!(after.len(), expected.len());
    for ((names, row), (in_names, in_row)) in after.iter().zip(&expected) {
        assert_eq!(&without_prefix(row, "second_opinion_"), in_row);
        assert_eq!(&names[..in_names.len()], &in_names[..]);
    }
    assert!(after[0].1["video_id"].is_string());
    assert!(after[0].1["n"].is_i64());
    assert!(after[1].1["n"].is_null());
    assert!(after[2].1["flag"].is_null());
    check_dover_json(&after, DOVER, &["001", "002", "003", "004"]);

    ws.run(&[
        "export",
        "--features",
        "features.parquet",
        "--out",
        "out.csv",
    ])
    .ok();
    let (header, rows) = read_csv(&ws.path("out.csv"));
    let mut expected_header: Vec<String> = ["video_id", "n", "x", "flag"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    expected_header.extend(added_names(DOVER));
    assert_eq!(header, expected_header);
    let cells: Vec<Vec<&str>> = rows
        .iter()
        .map(|r| vec![r[0].as_str(), r[1].as_str(), r[3].as_str()])
        .collect();
    assert_eq!(
        cells,
        [
            ["001", "1", "true"],
            ["002", "", "false"],
            ["003", "3", ""],
            ["004", "", "true"]
        ]
    );
    let x: Vec<f64> = rows.iter().map(|r| r[2].parse().unwrap()).collect();
    assert_eq!(x, [1.5, 2.25, -0.5, 1e10]);
    check_dover_csv(&header, &rows, &["001", "002", "003", "004"]);
}

#[test]
fn export_csv_to_json_keeps_cell_text() {
    let ws = dover_workspace();
    ws.write("features.csv", CSV_FEATURES);
    ws.run(&["export", "--features", "features.csv", "--out", "out.json"])
        .ok();
    let after = read_rows(&ws.path("out.json"));
    let (header, cells) = read_csv(&ws.path("features.csv"));
    assert_eq!(after.len(), cells.len());
    for ((names, row), cells) in after.iter().zip(&cells) {
        assert_eq!(&names[..header.len()], &header[..]);
        for (name, cell) in header.iter().zip(cells) {
            assert_eq!(row[name], json!(cell), "{name}");
        }
    }
    check_dover_json(&after, DOVER, &["001", "002", "003", "004"]);
}

#[test]
fn export_csv_to_parquet_keeps_string_keys() {
    // "001" must not become the integer 1: it is a key (and would then
    // match nothing).
    let ws = dover_workspace();
    ws.write("features.csv", CSV_FEATURES);
    ws.run(&[
        "export",
        "--features",
        "features.csv",
        "--out",
        "out.parquet",
    ])
    .ok();
    let output = read_arrow(&ws.path("out.parquet"));
    assert_eq!(
        output.schema().field(0).data_type(),
        &DataType::Utf8,
        "video_id"
    );
    assert_eq!(ints(&output, "n"), [Some(1), None, Some(3), None]);
    assert_eq!(
        floats(&output, "x"),
        [Some(1.5), Some(2.25), Some(-0.5), Some(1e10)]
    );
    let flag: Vec<Option<bool>> = column::<BooleanArray>(&output, "flag").iter().collect();
    assert_eq!(flag, [Some(true), Some(false), None, Some(true)]);
    check_dover_arrow(&output, DOVER, &["001", "002", "003", "004"]);
}

#[test]
fn export_out_format_overrides_the_extension() {
    let ws = dover_workspace();
    ws.write("flat.jsonl", JSONL_FLAT);
    ws.run(&[
        "export",
        "--features",
        "flat.jsonl",
        "--out",
        "table.data",
        "--out-format",
        "parquet",
    ])
    .ok();
    let bytes = std::fs::read(ws.path("table.data")).unwrap();
    assert_eq!(&bytes[..4], b"PAR1");
    std::fs::rename(ws.path("table.data"), ws.path("table.parquet")).unwrap();
    check_dover_arrow(
        &read_arrow(&ws.path("table.parquet")),
        DOVER,
        &["001", "002", "003", "004"],
    );

    ws.run(&[
        "export",
        "--features",
        "flat.jsonl",
        "--out",
        "table.jsonl",
        "--out-format",
        "csv",
    ])
    .ok();
    std::fs::rename(ws.path("table.jsonl"), ws.path("table.csv")).unwrap();
    let (header, rows) = read_csv(&ws.path("table.csv"));
    assert_eq!(header[..4], ["video_id", "n", "x", "flag"]);
    check_dover_csv(&header, &rows, &["001", "002", "003", "004"]);

    // No extension and no --out-format: a usage error.
    let run = ws
        .run(&["export", "--features", "flat.jsonl", "--out", "table"])
        .fails_with(2);
    assert!(run.stderr.contains("--out-format"), "{}", run.stderr);
}

// ------------------------------------------- export: statuses and policies

#[test]
fn export_statuses_and_sources() {
    let ws = dover_workspace();
    // A scorer ingested from an absolute path keeps that path as its source.
    let musiq = ws.write(
        "elsewhere/musiq.jsonl",
        r#"{"video_id":"002","competitor":"MUSIQ","score":3.25}"#,
    );
    ws.run(&["ingest", arg(&musiq)]).ok();
    ws.write("flat.jsonl", JSONL_FLAT);
    ws.run(&[
        "export",
        "--features",
        "flat.jsonl",
        "--out",
        "out.jsonl",
        "--report-json",
        "report.json",
    ])
    .ok();
    let rows = read_rows(&ws.path("out.jsonl"));
    check_dover_json(&rows, DOVER, &["001", "002", "003", "004"]);
    let m = "second_opinion_musiq";
    let statuses: Vec<&Value> = rows.iter().map(|r| &r.1[format!("{m}_status")]).collect();
    assert_eq!(statuses, ["missing", "ok", "missing", "missing"]);
    assert_eq!(rows[1].1[format!("{m}_score")], json!(3.25));
    assert_eq!(rows[1].1[format!("{m}_source")], json!(arg(&musiq)));
    assert_eq!(rows[0].1[format!("{m}_source")], "");
    // Scorers come out in slug order, five columns each.
    let mut names: Vec<String> = ["video_id", "n", "x", "flag"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    names.extend(added_names(DOVER));
    names.extend(added_names(m));
    assert_eq!(rows[0].0, names);

    let report = read_json(&ws.path("report.json"));
    let dover = &report["scorers"]["DOVER-Mobile"];
    assert_eq!(dover["loaded"], 4);
    assert_eq!(dover["matched"], 3);
    assert_eq!(dover["missing"], 1);
    assert_eq!(dover["bad"], 1);
    assert_eq!(dover["unmatched"], 1);
    assert_eq!(dover["unmatched_keys"], json!(["zzz"]));
    assert_eq!(dover["column_prefix"], DOVER);
    assert_eq!(report["scorers"]["MUSIQ"]["matched"], 1);
    assert_eq!(report["scorers"]["MUSIQ"]["missing"], 3);
    assert_eq!(report["input_rows"], 4);
    assert_eq!(report["output_rows"], 4);
    assert_eq!(report["key_column"], "video_id");
    assert_eq!(
        report["output"]["sha256"],
        sha256_hex(&ws.path("out.jsonl"))
    );
    assert_eq!(
        report["feature_table"]["sha256"],
        sha256_hex(&ws.path("flat.jsonl"))
    );
}

#[test]
fn export_missing_and_bad_policies() {
    let ws = dover_workspace();
    ws.write("flat.jsonl", JSONL_FLAT);
    write_features(&ws, "features.parquet");
    let export = |features: &str, out: &str, extra: &[&str]| {
        let mut args = vec!["export", "--features", features, "--out", out];
        args.extend(extra);
        ws.run(&args)
    };

    export("flat.jsonl", "m-drop.jsonl", &["--missing-policy", "drop"]).ok();
    check_dover_json(
        &read_rows(&ws.path("m-drop.jsonl")),
        DOVER,
        &["001", "002", "003"],
    );
    export("flat.jsonl", "b-drop.jsonl", &["--bad-policy", "drop"]).ok();
    check_dover_json(
        &read_rows(&ws.path("b-drop.jsonl")),
        DOVER,
        &["001", "002", "004"],
    );
    // The Arrow engine filters too.
    export(
        "features.parquet",
        "both-drop.parquet",
        &["--missing-policy", "drop", "--bad-policy", "drop"],
    )
    .ok();
    let output = read_arrow(&ws.path("both-drop.parquet"));
    check_dover_arrow(&output, DOVER, &["001", "002"]);
    assert_eq!(ints(&output, "n"), [Some(1), None]);

    let run = export("flat.jsonl", "m-fail.jsonl", &["--missing-policy", "fail"]).fails_with(1);
    assert!(
        run.stderr
            .contains("missing second-opinion scores: DOVER-Mobile=1"),
        "{}",
        run.stderr
    );
    assert!(!ws.path("m-fail.jsonl").exists());
    let run = export(
        "features.parquet",
        "b-fail.parquet",
        &["--bad-policy", "fail"],
    )
    .fails_with(1);
    assert!(
        run.stderr
            .contains("bad second-opinion scores: DOVER-Mobile=1"),
        "{}",
        run.stderr
    );
    assert!(!ws.path("b-fail.parquet").exists());
    // Several scorers: `<scorer>=<count>` joined by ", ".
    ws.write(
        "fast.jsonl",
        r#"{"video_id":"001","competitor":"fast-vqa","score":1.0}"#,
    );
    ws.run(&["ingest", "fast.jsonl"]).ok();
    let run = export("flat.jsonl", "m-fail.jsonl", &["--missing-policy", "fail"]).fails_with(1);
    assert!(
        run.stderr
            .contains("missing second-opinion scores: DOVER-Mobile=1, fast-vqa=3"),
        "{}",
        run.stderr
    );
    // A failed export is not recorded.
    let exports = ws.run(&["exports", "--json"]).ok().json();
    assert_eq!(exports.as_array().unwrap().len(), 3);
    assert_no_partial_files(&ws);
}

#[test]
fn export_scorer_selection_and_prefix() {
    let ws = dover_workspace();
    ws.write(
        "musiq.jsonl",
        r#"{"video_id":"001","competitor":"musiq","score":40.0}"#,
    );
    ws.run(&["ingest", "musiq.jsonl"]).ok();
    ws.write("flat.jsonl", JSONL_FLAT);
    let names = |out: &str| read_rows(&ws.path(out))[0].0.clone();
    let base = ["video_id", "n", "x", "flag"].map(String::from).to_vec();

    ws.run(&[
        "export",
        "--features",
        "flat.jsonl",
        "--out",
        "one.jsonl",
        "--scorers",
        "musiq",
    ])
    .ok();
    let mut expected = base.clone();
    expected.extend(added_names("second_opinion_musiq"));
    assert_eq!(names("one.jsonl"), expected);

    ws.run(&[
        "export",
        "--features",
        "flat.jsonl",
        "--out",
        "two.jsonl",
        "--scorers",
        "DOVER-Mobile,musiq",
    ])
    .ok();
    let got: HashSet<String> = names("two.jsonl").into_iter().collect();
    let mut expected: HashSet<String> = base.iter().cloned().collect();
    expected.extend(added_names(DOVER));
    expected.extend(added_names("second_opinion_musiq"));
    assert_eq!(got, expected);
    assert_eq!(names("two.jsonl").len(), 14);

    let run = ws
        .run(&[
            "export",
            "--features",
            "flat.jsonl",
            "--out",
            "bad.jsonl",
            "--scorers",
            "musiq,nope",
        ])
        .fails_with(1);
    assert!(run.stderr.contains("nope"), "{}", run.stderr);
    assert!(!ws.path("bad.jsonl").exists());

    ws.run(&[
        "export",
        "--features",
        "flat.jsonl",
        "--out",
        "so.jsonl",
        "--prefix",
        "so",
        "--scorers",
        "dover-mobile",
    ])
    .ok();
    let rows = read_rows(&ws.path("so.jsonl"));
    let mut expected = base.clone();
    expected.extend(added_names("so_dover_mobile"));
    assert_eq!(rows[0].0, expected);
    check_dover_json(&rows, "so_dover_mobile", &["001", "002", "003", "004"]);
}

// ------------------------------------------------------ export: overwrite

#[test]
fn export_refuses_then_replaces_existing_columns_in_place() {
    let ws = dover_workspace();
    // JSON rows: two of the five columns exist, in the middle of the row.
    ws.write(
        "stale.jsonl",
        concat!(
            r#"{"video_id":"001","second_opinion_dover_mobile_score":1.0,"second_opinion_dover_mobile_status":"stale","tail":1}"#,
            "\n",
            r#"{"video_id":"004","second_opinion_dover_mobile_score":null,"second_opinion_dover_mobile_status":"stale","tail":2}"#,
            "\n",
        ),
    );
    let run = ws
        .run(&["export", "--features", "stale.jsonl", "--out", "out.jsonl"])
        .fails_with(1);
    assert!(
        run.stderr.contains(
            "refusing to overwrite existing second-opinion columns: \
             second_opinion_dover_mobile_score, second_opinion_dover_mobile_status"
        ),
        "{}",
        run.stderr
    );
    assert!(!ws.path("out.jsonl").exists());
    ws.run(&[
        "export",
        "--features",
        "stale.jsonl",
        "--out",
        "out.jsonl",
        "--overwrite",
    ])
    .ok();
    let rows = read_rows(&ws.path("out.jsonl"));
    let expected: Vec<String> = [
        "video_id",
        "second_opinion_dover_mobile_score",
        "second_opinion_dover_mobile_status",
        "tail",
        "second_opinion_dover_mobile_runtime_ms",
        "second_opinion_dover_mobile_frames",
        "second_opinion_dover_mobile_source",
    ]
    .map(String::from)
    .to_vec();
    for (names, row) in &rows {
        assert_eq!(names, &expected, "replaced in place, no duplicates");
        assert!(row["tail"].is_i64());
    }
    check_dover_json(&rows, DOVER, &["001", "004"]);

    // Columnar and CSV: export once, add a score, export the output again.
    for format in ["parquet", "arrow", "csv"] {
        write_features(&ws, &format!("f.{format}"));
        let first = format!("first.{format}");
        let second = format!("second.{format}");
        ws.run(&[
            "export",
            "--features",
            &format!("f.{format}"),
            "--out",
            &first,
        ])
        .ok();
        let run = ws
            .run(&["export", "--features", &first, "--out", &second])
            .fails_with(1);
        assert!(
            run.stderr.contains(&format!(
                "refusing to overwrite existing second-opinion columns: {}",
                added_names(DOVER).join(", ")
            )),
            "{}",
            run.stderr
        );
        assert!(!ws.path(&second).exists());
    }
    ws.write(
        "late.jsonl",
        r#"{"video_id":"004","competitor":"DOVER-Mobile","score":50.0,"runtime_ms":6.0}"#,
    );
    ws.run(&["ingest", "late.jsonl"]).ok();
    for format in ["parquet", "arrow", "csv"] {
        let first = format!("first.{format}");
        let second = format!("second.{format}");
        ws.run(&[
            "export",
            "--features",
            &first,
            "--out",
            &second,
            "--overwrite",
        ])
        .ok();
        if format == "csv" {
            let (h1, r1) = read_csv(&ws.path(&first));
            let (h2, r2) = read_csv(&ws.path(&second));
            assert_eq!(h1, h2);
            let at = h2
                .iter()
                .position(|h| h == &format!("{DOVER}_status"))
                .unwrap();
            assert_eq!(r1[3][at], "missing");
            assert_eq!(r2[3][at], "ok");
            assert_eq!(r2[3][at + 3], "late.jsonl");
            assert_eq!(&r1[..3], &r2[..3]);
        } else {
            let b1 = read_arrow(&ws.path(&first));
            let b2 = read_arrow(&ws.path(&second));
            assert_eq!(b1.schema(), b2.schema(), "same columns, same places");
            assert_eq!(
                floats(&b2, &format!("{DOVER}_score")),
                [Some(72.5), Some(64.0), None, Some(50.0)]
            );
            assert_eq!(
                texts(&b2, &format!("{DOVER}_source"))[3].as_deref(),
                Some("late.jsonl")
            );
            assert_eq!(b1.slice(0, 3), b2.slice(0, 3));
        }
    }
}

// --------------------------------------------------- export: key inference

#[test]
fn export_infers_src_with_basename_and_counts_unmatched() {
    let ws = Workspace::new();
    let mut scores = String::new();
    // Twelve keys the table does not have, written out of order.
    for n in (0..12).rev() {
        scores.push_str(&format!(
            "{{\"filename\":\"/other/extra_{n:02}.mp4\",\"competitor\":\"nr\",\"score\":{n}}}\n"
        ));
    }
    for n in 1..=3 {
        scores.push_str(&format!(
            "{{\"filename\":\"clip_{n:02}.mp4\",\"competitor\":\"nr\",\"score\":{n}.5}}\n"
        ));
    }
    ws.write("nr.jsonl", scores);
    ws.run(&["ingest", "nr.jsonl"]).ok();
    ws.write(
        "corpus.jsonl",
        (1..=3)
            .map(|n| format!("{{\"src\":\"/data/corpus/clip_{n:02}.mp4\",\"vmaf\":9{n}.0}}\n"))
            .collect::<String>(),
    );
    let run = ws
        .run(&[
            "export",
            "--features",
            "corpus.jsonl",
            "--out",
            "out.jsonl",
            "--report-json",
            "report.json",
        ])
        .ok();
    assert!(run.stderr.contains("key src/auto"), "{}", run.stderr);
    let rows = read_rows(&ws.path("out.jsonl"));
    let scores: Vec<&Value> = rows
        .iter()
        .map(|r| &r.1["second_opinion_nr_score"])
        .collect();
    assert_eq!(scores, [&json!(1.5), &json!(2.5), &json!(3.5)]);
    let report = read_json(&ws.path("report.json"));
    assert_eq!(report["key_column"], "src");
    let nr = &report["scorers"]["nr"];
    assert_eq!(nr["loaded"], 15);
    assert_eq!(nr["matched"], 3);
    assert_eq!(nr["unmatched"], 12);
    let first_ten: Vec<String> = (0..10).map(|n| format!("extra_{n:02}.mp4")).collect();
    assert_eq!(nr["unmatched_keys"], json!(first_ten));
}

#[test]
fn export_key_mismatch_names_the_fix() {
    let ws = Workspace::new();
    ws.write(
        "nr.jsonl",
        (1..=3)
            .map(|n| {
                format!("{{\"clip_id\":\"clip_{n:02}\",\"competitor\":\"nr\",\"score\":{n}}}\n")
            })
            .collect::<String>(),
    );
    ws.run(&["ingest", "nr.jsonl"]).ok();
    ws.write(
        "corpus.jsonl",
        (1..=3)
            .map(|n| format!("{{\"src\":\"/data/corpus/clip_{n:02}.mp4\",\"vmaf\":9{n}.0}}\n"))
            .collect::<String>(),
    );
    ws.write("out.jsonl", "precious\n");
    let run = ws
        .run(&["export", "--features", "corpus.jsonl", "--out", "out.jsonl"])
        .fails_with(1);
    assert!(
        run.stderr.contains(
            "corpus.jsonl: 0 of 3 keys matched with src/basename; src/stem matches 3: pass --key-normalize stem"
        ),
        "{}",
        run.stderr
    );
    assert_eq!(
        std::fs::read_to_string(ws.path("out.jsonl")).unwrap(),
        "precious\n"
    );
    assert!(!ws.path("fresh.jsonl").exists());
    ws.run(&[
        "export",
        "--features",
        "corpus.jsonl",
        "--out",
        "fresh.jsonl",
    ])
    .fails_with(1);
    assert!(!ws.path("fresh.jsonl").exists());
    assert_no_partial_files(&ws);

    ws.run(&[
        "export",
        "--features",
        "corpus.jsonl",
        "--out",
        "fresh.jsonl",
        "--key-normalize",
        "stem",
    ])
    .ok();
    let rows = read_rows(&ws.path("fresh.jsonl"));
    let statuses: Vec<&Value> = rows
        .iter()
        .map(|r| &r.1["second_opinion_nr_status"])
        .collect();
    assert_eq!(statuses, ["ok", "ok", "ok"]);

    // Both the column and the normalisation chosen: the user meant it; the
    // export goes ahead and the mismatch is a warning before the summary.
    let run = ws
        .run(&[
            "export",
            "--features",
            "corpus.jsonl",
            "--out",
            "chosen.jsonl",
            "--key-column",
            "src",
            "--key-normalize",
            "basename",
        ])
        .ok();
    let warning = "second-opinion: warning: corpus.jsonl: 0 of 3 keys matched with src/basename; \
                   src/stem matches 3: pass --key-normalize stem\n";
    assert!(run.stderr.starts_with(warning), "{}", run.stderr);
    assert!(ws.path("chosen.jsonl").exists());
}

// ------------------------------------------------------ export: atomicity

#[test]
fn failed_export_leaves_existing_output_untouched() {
    let ws = dover_workspace();
    write_features(&ws, "features.parquet");
    ws.write("flat.jsonl", JSONL_FLAT);
    for out in ["out.parquet", "out.jsonl", "out.csv"] {
        let old = b"old bytes \x00\xff, not a table\n";
        ws.write(out, old);
        for features in ["features.parquet", "flat.jsonl"] {
            ws.run(&[
                "export",
                "--features",
                features,
                "--out",
                out,
                "--missing-policy",
                "fail",
            ])
            .fails_with(1);
            assert_eq!(std::fs::read(ws.path(out)).unwrap(), old, "{out}");
        }
    }
    assert_no_partial_files(&ws);
}

#[test]
fn export_onto_its_own_input() {
    let ws = dover_workspace();
    for format in ALL_FORMATS {
        let name = format!("t.{format}");
        write_features(&ws, &name);
        let args = ["export", "--features", &name, "--out", &name, "--overwrite"];
        ws.run(&args).ok();
        let once = std::fs::read(ws.path(&name)).unwrap();
        ws.run(&args).ok();
        let twice = std::fs::read(ws.path(&name)).unwrap();
        assert!(once == twice, "{name}: the second export changed the table");
        // And the table is the fixture plus the columns, once each.
        let copy = format!("fixture.{format}");
        write_features(&ws, &copy);
        assert_lossless(&ws.path(&copy), &ws.path(&name));
    }
    assert_no_partial_files(&ws);
}

// ------------------------------------------- export: compressed Arrow IPC

/// Feather files as pyarrow and pandas write them by default: Arrow IPC
/// with lz4 (or zstd) compressed buffers. Columns `video_id` = "001", "002"
/// and `x` = 1.5, 2.25. Generated with
/// `pyarrow.feather.write_feather(table, path, compression=...)`.
const LZ4_FEATHER: &str = concat!(
    "4152524f57310000ffffffffa80000001000000000000a000c000600050008000a00000000010400",
    "0c00000008000800000004000800000004000000020000004400000004000000d4ffffff00000103",
    "10000000180000000400000000000000010000007800060008000600060000000000020010001400",
    "0800060007000c000000100010000000000001051000000020000000040000000000000008000000",
    "766964656f5f696400000000040004000400000000000000ffffffffd80000001400000000000000",
    "0c0018000600050008000c000c000000000304001c0000007000000000000000000000000c001c00",
    "1000040008000c000c000000780000001c0000001400000002000000000000000000000004000400",
    "04000000050000000000000000000000000000000000000000000000000000002300000000000000",
    "28000000000000001d00000000000000480000000000000000000000000000004800000000000000",
    "26000000000000000000000002000000020000000000000000000000000000000200000000000000",
    "00000000000000000c0000000000000004224d186040820c00008000000000030000000600000000",
    "0000000000000000060000000000000004224d186040820600008030303130303200000000000000",
    "100000000000000004224d186040820f00000011000100a0f83f0000000000000240000000000000",
    "ffffffff00000000100000000c001400060008000c0010000c000000000004003800000028000000",
    "0400000001000000b800000000000000e00000000000000070000000000000000000000000000000",
    "08000800000004000800000004000000020000004400000004000000d4ffffff0000010310000000",
    "18000000040000000000000001000000780006000800060006000000000002001000140008000600",
    "07000c00000010001000000000000105100000002000000004000000000000000800000076696465",
    "6f5f6964000000000400040004000000d00000004152524f5731",
);
const ZSTD_FEATHER: &str = concat!(
    "4152524f57310000ffffffffa80000001000000000000a000c000600050008000a00000000010400",
    "0c00000008000800000004000800000004000000020000004400000004000000d4ffffff00000103",
    "10000000180000000400000000000000010000007800060008000600060000000000020010001400",
    "0800060007000c000000100010000000000001051000000020000000040000000000000008000000",
    "766964656f5f696400000000040004000400000000000000ffffffffe00000001400000000000000",
    "0c0018000600050008000c000c000000000304001c0000006000000000000000000000000c001e00",
    "1000040008000c000c00000080000000240000001800000002000000000000000000000000000600",
    "08000700060000000000000105000000000000000000000000000000000000000000000000000000",
    "1d000000000000002000000000000000170000000000000038000000000000000000000000000000",
    "38000000000000002100000000000000000000000200000002000000000000000000000000000000",
    "020000000000000000000000000000000c0000000000000028b52ffd200c61000000000000030000",
    "0006000000000000060000000000000028b52ffd2006310000303031303032001000000000000000",
    "28b52ffd2010810000000000000000f83f000000000000024000000000000000ffffffff00000000",
    "100000000c001400060008000c0010000c0000000000040038000000280000000400000001000000",
    "b800000000000000e800000000000000600000000000000000000000000000000800080000000400",
    "0800000004000000020000004400000004000000d4ffffff00000103100000001800000004000000",
    "000000000100000078000600080006000600000000000200100014000800060007000c0000001000",
    "10000000000001051000000020000000040000000000000008000000766964656f5f696400000000",
    "0400040004000000d00000004152524f5731",
);

fn unhex(hex: &str) -> Vec<u8> {
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).expect("hex"))
        .collect()
}

#[test]
fn export_reads_compressed_feather_written_by_pyarrow() {
    let ws = dover_workspace();
    for (name, hex) in [("lz4.feather", LZ4_FEATHER), ("zstd.feather", ZSTD_FEATHER)] {
        ws.write(name, unhex(hex));
        let out = format!("out-{name}");
        ws.run(&["export", "--features", name, "--out", &out]).ok();
        let output = read_arrow(&ws.path(&out));
        assert_eq!(
            texts(&output, "video_id"),
            [Some("001".to_string()), Some("002".to_string())]
        );
        assert_eq!(floats(&output, "x"), [Some(1.5), Some(2.25)]);
        assert_eq!(
            floats(&output, &format!("{DOVER}_score")),
            [Some(72.5), Some(64.0)]
        );
    }
}

// ------------------------------------------------- exports and determinism

#[test]
fn exports_are_recorded_with_hashes_and_registry_digest() {
    let ws = dover_workspace();
    ws.write("flat.jsonl", JSONL_FLAT);
    write_features(&ws, "features.parquet");
    ws.run(&["export", "--features", "flat.jsonl", "--out", "a.jsonl"])
        .ok();
    ws.run(&["export", "--features", "features.parquet", "--out", "b.csv"])
        .ok();
    ws.write(
        "musiq.jsonl",
        r#"{"video_id":"001","competitor":"musiq","score":40.0}"#,
    );
    ws.run(&["ingest", "musiq.jsonl"]).ok();
    ws.run(&["export", "--features", "flat.jsonl", "--out", "c.parquet"])
        .ok();
    ws.run(&[
        "export",
        "--features",
        "flat.jsonl",
        "--out",
        "d.jsonl",
        "--scorers",
        "dover-mobile",
    ])
    .ok();

    let listed = ws.run(&["exports", "--json"]).ok().json();
    let listed = listed.as_array().expect("a list");
    assert_eq!(listed.len(), 4);
    let files = [
        ("flat.jsonl", "a.jsonl", "jsonl"),
        ("features.parquet", "b.csv", "csv"),
        ("flat.jsonl", "c.parquet", "parquet"),
        ("flat.jsonl", "d.jsonl", "jsonl"),
    ];
    for (record, (features, out, format)) in listed.iter().zip(files) {
        assert_eq!(record["command"], "export");
        assert_eq!(record["features_path"], features);
        assert_eq!(record["features_sha256"], sha256_hex(&ws.path(features)));
        assert_eq!(record["output_path"], out);
        assert_eq!(record["output_sha256"], sha256_hex(&ws.path(out)));
        assert_eq!(record["output_format"], format);
        assert_eq!(record["input_rows"], 4);
        assert_eq!(record["output_rows"], 4);
        assert!(record["created_at"].as_str().unwrap().contains('T'));
        assert_eq!(record["tool_version"], env!("CARGO_PKG_VERSION"));
    }
    let digest = |i: usize| listed[i]["registry_digest"].as_str().unwrap().to_string();
    assert_eq!(digest(0).len(), 64);
    assert_eq!(digest(0), digest(1), "same registry state, same digest");
    assert_ne!(digest(0), digest(2), "another scorer, another digest");
    assert_eq!(listed[2]["scorers"], json!(["DOVER-Mobile", "musiq"]));
    assert_eq!(listed[3]["scorers"], json!(["DOVER-Mobile"]));
    assert_eq!(
        listed[3]["registry_state"]["DOVER-Mobile"]["digest"],
        listed[0]["registry_state"]["DOVER-Mobile"]["digest"]
    );
    // The plain listing works too.
    let run = ws.run(&["exports"]).ok();
    assert_eq!(run.stdout.lines().count(), 5, "{}", run.stdout);
}

#[test]
fn exports_are_deterministic_for_every_format() {
    let ws = dover_workspace();
    for format in ALL_FORMATS {
        let input = format!("features.{format}");
        write_features(&ws, &input);
        for out_format in ALL_FORMATS {
            let out = format!("out-{format}.{out_format}");
            let report = |n: u32| format!("report-{format}-{out_format}-{n}.json");
            ws.run(&[
                "export",
                "--features",
                &input,
                "--out",
                &out,
                "--report-json",
                &report(1),
            ])
            .ok();
            let first = std::fs::read(ws.path(&out)).unwrap();
            ws.run(&[
                "export",
                "--features",
                &input,
                "--out",
                &out,
                "--report-json",
                &report(2),
            ])
            .ok();
            let second = std::fs::read(ws.path(&out)).unwrap();
            assert!(first == second, "{input} → {out} differs between runs");
            assert_eq!(
                std::fs::read(ws.path(&report(1))).unwrap(),
                std::fs::read(ws.path(&report(2))).unwrap(),
                "{input} → {out}: reports differ"
            );
        }
    }
}

#[test]
fn columns_chooses_what_each_scorer_writes() {
    let ws = dover_workspace();
    write_features(&ws, "features.jsonl");
    ws.run(&[
        "export",
        "--features",
        "features.jsonl",
        "--out",
        "lean.parquet",
        "--columns",
        "score,status",
    ])
    .ok();
    let lean = read_arrow(&ws.path("lean.parquet"));
    let names: Vec<String> = lean
        .schema()
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .filter(|n| n.starts_with("second_opinion_"))
        .collect();
    assert_eq!(
        names,
        [
            "second_opinion_dover_mobile_score",
            "second_opinion_dover_mobile_status"
        ]
    );
    // score_norm alone asks for the normalised score.
    ws.run(&[
        "export",
        "--features",
        "features.jsonl",
        "--out",
        "norm.jsonl",
        "--columns",
        "score_norm",
    ])
    .ok();
    let text = std::fs::read_to_string(ws.path("norm.jsonl")).unwrap();
    let first = text.lines().next().unwrap();
    assert!(
        first.contains("\"second_opinion_dover_mobile_score_norm\":72.5"),
        "{first}"
    );
    assert!(
        !first.contains("second_opinion_dover_mobile_score\""),
        "{first}"
    );
    // Recorded, so a replay writes the same columns.
    let replay = ws.run(&["exports", "replay", "1"]).ok();
    assert!(
        replay.stdout.contains("content: matches"),
        "{}",
        replay.stdout
    );
    let run = ws
        .run(&[
            "export",
            "--features",
            "features.jsonl",
            "--out",
            "x.jsonl",
            "--columns",
            "score,nope",
        ])
        .fails_with(2);
    assert!(
        run.stderr.contains("unknown column kind 'nope'"),
        "{}",
        run.stderr
    );
}
