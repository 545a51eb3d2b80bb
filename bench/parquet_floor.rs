//! The I/O floor of W3 (issue 7): read a parquet table and write it back with
//! the arrow/parquet crates, no join and no added columns.
//!
//!     cargo run --release --example parquet_floor -- IN.parquet OUT.parquet [--plain-floats]
//!
//! Reads record batches of the same size and writes with the same writer
//! settings (snappy, 128 Ki-row row groups, 1 MiB buffered file, fsync) as
//! `second-opinion export`, so `export` ÷ floor is what the join, the added
//! columns and the export's bookkeeping cost on top of pure parquet I/O.
//!
//! `--plain-floats` turns dictionary encoding off for floating-point columns.
//! The writer's default dictionary-encodes every column; a 128 Ki-row group
//! of float32 never outgrows the 1 MiB dictionary page limit, so random
//! floats are hashed value by value into a dictionary as large as the data
//! (slower, and a larger file). This variant shows what that setting costs.

use std::fs::File;
use std::io::BufWriter;
use std::process::ExitCode;

use arrow::record_batch::RecordBatchReader;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::arrow::ArrowWriter;
use parquet::basic::Compression;
use parquet::file::properties::WriterProperties;
use parquet::schema::types::ColumnPath;

/// Rows per batch read, as `second-opinion`'s table reader (`BATCH_ROWS`).
const BATCH_ROWS: usize = 65_536;

fn run(input: &str, output: &str, plain_floats: bool) -> Result<u64, Box<dyn std::error::Error>> {
    let reader = ParquetRecordBatchReaderBuilder::try_new(File::open(input)?)?
        .with_batch_size(BATCH_ROWS)
        .build()?;
    let mut properties = WriterProperties::builder()
        .set_compression(Compression::SNAPPY)
        .set_max_row_group_row_count(Some(1 << 17));
    if plain_floats {
        for field in reader.schema().fields() {
            if field.data_type().is_floating() {
                properties = properties
                    .set_column_dictionary_enabled(ColumnPath::from(field.name().as_str()), false);
            }
        }
    }
    let properties = properties.build();
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
    let plain_floats = args.len() == 4 && args[3] == "--plain-floats";
    if args.len() != 3 && !plain_floats {
        eprintln!("usage: parquet_floor IN.parquet OUT.parquet [--plain-floats]");
        return ExitCode::from(2);
    }
    match run(&args[1], &args[2], plain_floats) {
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
