//! The SQLite floor of W4 (issue 18): SQLite's own insert rate of a score
//! file's rows into the registry's `scores` table, with its indexes and
//! the connection settings `second-opinion` uses, and nothing else.
//!
//!     cargo run --release --example sqlite_floor -- SCORES.jsonl REGISTRY.db [--grown]
//!
//! REGISTRY.db must not exist: it is made by `second-opinion`'s library (so
//! its schema, page size and journal mode are the registry's), with one
//! scorer and one source file for the rows to name. With `--grown` it must
//! exist instead, a registry `second-opinion` made and filled (a copy: the
//! floor adds to it): the rows go to its first scorer, under a new source
//! file, among the scores it holds — SQLite's rate into a grown registry,
//! whose unique index the new keys land inside. The file is then
//! parsed into memory, untimed, into the columns `ingest` stores for such
//! a file (the key as the basename of `filename`/`clip_id`, the directory
//! once in `raw_key_prefixes`, status `ok`), and only the insert is timed:
//! one transaction of multi-row `INSERT OR IGNORE` statements of 64 rows,
//! prepared once (what `ingest` sends), then the commit and the close,
//! which checkpoints the WAL into the database. What is left out is what
//! `ingest` does besides SQLite: reading and parsing the file (on another
//! thread), its rules, the scores' digest and counts.
//!
//! Prints the rows and the seconds and rows per second of the insert.

use std::io::BufRead;
use std::path::Path;
use std::process::ExitCode;
use std::time::Instant;

use rusqlite::{params_from_iter, Connection};
use second_opinion::registry::{OpenMode, Registry};
use serde_json::Value;

/// Rows per INSERT statement, as `ingest` batches them.
const ROWS_PER_STATEMENT: usize = 64;

/// The columns `ingest` binds per score row, in its order.
const COLUMNS: &str = "(scorer_id, key, raw_key, key_field, score, status, reason, note, \
    runtime_ms, frame_count, source_file_id, line, raw_key_prefix)";
const PARAMS: usize = 13;

/// One row as the registry stores it.
struct Row {
    key: String,
    key_field: &'static str,
    prefix: Option<i64>,
    score: f64,
    runtime_ms: Option<f64>,
    line: i64,
}

fn parse(path: &str, conn: &Connection) -> Result<Vec<Row>, Box<dyn std::error::Error>> {
    // The directories a grown registry holds already keep their ids.
    let mut prefixes: std::collections::HashMap<String, i64> = conn
        .prepare("SELECT prefix, id FROM raw_key_prefixes")?
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<Result<_, _>>()?;
    let known = prefixes.len();
    let first_prefix: i64 = conn.query_row(
        "SELECT coalesce(max(id), 0) FROM raw_key_prefixes",
        [],
        |r| r.get(0),
    )?;
    let mut rows = Vec::new();
    let file = std::io::BufReader::new(std::fs::File::open(path)?);
    for (number, line) in file.lines().enumerate() {
        let line = line?;
        if line.trim().is_empty() {
            continue;
        }
        let value: Value = serde_json::from_str(&line)?;
        let (key_field, written) = ["filename", "clip_id"]
            .into_iter()
            .find_map(|field| value[field].as_str().map(|key| (field, key.to_string())))
            .ok_or_else(|| format!("{path}:{}: no filename or clip_id", number + 1))?;
        let (prefix, key) = match written.rfind('/') {
            Some(at) => {
                let directory = &written[..=at];
                let next = first_prefix + (prefixes.len() - known) as i64 + 1;
                let id = *prefixes.entry(directory.to_string()).or_insert(next);
                (Some(id), written[at + 1..].to_string())
            }
            None => (None, written),
        };
        rows.push(Row {
            key,
            key_field,
            prefix,
            score: value["score"]
                .as_f64()
                .ok_or("a score that is not a number")?,
            runtime_ms: value["runtime_ms"].as_f64(),
            line: number as i64 + 1,
        });
    }
    let mut ids: Vec<(String, i64)> = prefixes
        .into_iter()
        .filter(|(_, id)| *id > first_prefix)
        .collect();
    ids.sort_by_key(|(_, id)| *id);
    for (prefix, id) in ids {
        conn.execute(
            "INSERT INTO raw_key_prefixes (id, prefix) VALUES (?1, ?2)",
            rusqlite::params![id, prefix],
        )?;
    }
    Ok(rows)
}

fn run(scores: &str, registry: &str, grown: bool) -> Result<(), Box<dyn std::error::Error>> {
    if Path::new(registry).exists() != grown {
        return Err(match grown {
            false => format!("{registry} exists: the floor needs a registry of its own"),
            true => format!("{registry} does not exist: --grown adds to a registry"),
        }
        .into());
    }
    // Made, or migrated and checked, by the library.
    drop(Registry::open(
        Path::new(registry),
        OpenMode::CreateIfMissing,
    )?);
    let mut conn = Connection::open(registry)?;
    // The connection settings of `Registry::open`, and the ingest's
    // foreign keys off (its rows name ids it has just read or made).
    conn.pragma_update(None, "cache_size", -65536)?;
    conn.pragma_update(None, "foreign_keys", false)?;
    if !grown {
        conn.execute(
            "INSERT INTO scorers (id, name, slug, created_at) \
             VALUES (1, 'floor', 'floor', '2026-01-01T00:00:00Z')",
            [],
        )?;
    }
    let scorer_id: i64 = conn.query_row("SELECT min(id) FROM scorers", [], |r| r.get(0))?;
    let file_id: i64 = conn.query_row(
        "SELECT coalesce(max(id), 0) + 1 FROM source_files",
        [],
        |r| r.get(0),
    )?;
    conn.execute(
        "INSERT INTO source_files (id, path, absolute_path, sha256, size_bytes, format, ingested_at, tool_version) \
         VALUES (?1, 'floor', '/floor', '', 0, 'jsonl', '2026-01-01T00:00:00Z', 'floor')",
        [file_id],
    )?;
    let rows = parse(scores, &conn)?;
    let values = vec![format!("({})", vec!["?"; PARAMS].join(", ")); ROWS_PER_STATEMENT].join(", ");
    let started = Instant::now();
    let tx = conn.transaction()?;
    {
        let mut batch = tx.prepare(&format!(
            "INSERT OR IGNORE INTO scores {COLUMNS} VALUES {values}"
        ))?;
        let mut single = tx.prepare(&format!(
            "INSERT INTO scores {COLUMNS} VALUES ({})",
            vec!["?"; PARAMS].join(", ")
        ))?;
        let bind = |row: &Row| -> [rusqlite::types::Value; PARAMS] {
            use rusqlite::types::Value as V;
            [
                V::Integer(scorer_id),
                V::Text(row.key.clone()),
                V::Null,
                V::Text(row.key_field.to_string()),
                V::Real(row.score),
                V::Text("ok".into()),
                V::Null,
                V::Null,
                row.runtime_ms.map_or(V::Null, V::Real),
                V::Integer(0),
                V::Integer(file_id),
                V::Integer(row.line),
                row.prefix.map_or(V::Null, V::Integer),
            ]
        };
        let mut chunks = rows.chunks_exact(ROWS_PER_STATEMENT);
        for chunk in &mut chunks {
            batch.execute(params_from_iter(chunk.iter().flat_map(bind)))?;
        }
        for row in chunks.remainder() {
            single.execute(params_from_iter(bind(row)))?;
        }
    }
    tx.commit()?;
    conn.close().map_err(|(_, e)| e)?;
    let seconds = started.elapsed().as_secs_f64();
    println!(
        "{} rows inserted in {seconds:.3} s ({:.0} rows/s)",
        rows.len(),
        rows.len() as f64 / seconds
    );
    Ok(())
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (scores, registry, grown) = match args.as_slice() {
        [scores, registry] => (scores, registry, false),
        [scores, registry, flag] if flag == "--grown" => (scores, registry, true),
        _ => {
            eprintln!("usage: sqlite_floor SCORES.jsonl REGISTRY.db [--grown]");
            return ExitCode::from(2);
        }
    };
    match run(scores, registry, grown) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("sqlite_floor: {e}");
            ExitCode::FAILURE
        }
    }
}
