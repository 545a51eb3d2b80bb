//! The I/O floor of W3 (issue 7): read a parquet table and write it back with
//! the arrow/parquet crates, no join and no added columns.
//!
//!     cargo run --release --example parquet_floor -- IN.parquet OUT.parquet
//!
//! Reads record batches of the same size and writes with the same writer
//! settings (snappy, 128 Ki-row row groups, 1 MiB buffered file) as
//! `second-opinion export`, so `export` ÷ floor is what the join, the added
//! columns and the export's bookkeeping cost on top of pure parquet I/O.

use std::fs::File;
use std::io::BufWriter;
use std::process::ExitCode;

use arrow::record_batch::RecordBatchReader;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::arrow::ArrowWriter;
use parquet::basic::Compression;
use parquet::file::properties::WriterProperties;

/// Rows per batch read, as `second-opinion`'s table reader (`BATCH_ROWS`).
const BATCH_ROWS: usize = 65_536;

fn run(input: &str, output: &str) -> Result<u64, Box<dyn std::error::Error>> {
    let reader = ParquetRecordBatchReaderBuilder::try_new(File::open(input)?)?
        .with_batch_size(BATCH_ROWS)
        .build()?;
    let properties = WriterProperties::builder()
        .set_compression(Compression::SNAPPY)
        .set_max_row_group_size(1 << 17)
        .build();
    let sink = BufWriter::with_capacity(1 << 20, File::create(output)?);
    let mut writer = ArrowWriter::try_new(sink, reader.schema(), Some(properties))?;
    let mut rows = 0u64;
    for batch in reader {
        let batch = batch?;
        rows += batch.num_rows() as u64;
        writer.write(&batch)?;
    }
    writer.into_inner()?.into_inner()?.sync_all()?;
    Ok(rows)
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    if args.len() != 3 {
        eprintln!("usage: parquet_floor IN.parquet OUT.parquet");
        return ExitCode::from(2);
    }
    match run(&args[1], &args[2]) {
        Ok(rows) => {
            eprintln!("{}: {rows} rows written", args[2]);
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("parquet_floor: {e}");
            ExitCode::FAILURE
        }
    }
}
