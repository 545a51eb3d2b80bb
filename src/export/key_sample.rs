//! The first rows' keys, kept while the table streams: what a scorer's
//! own key check tries other key columns and normalisations on, once the
//! join has shown that the scorer matched too few rows.

use crate::command_line::CommandLine;
use crate::table::{Batch, KeyColumn};

use super::plan::ExportPlan;
use super::ExportOptions;

/// Rows kept: enough to tell a working key from a failing one, few enough
/// that an export of millions of rows holds a fixed amount.
pub(super) const SAMPLE_ROWS: usize = 20_000;

/// The trimmed values of each candidate key column in the table's first
/// [`SAMPLE_ROWS`] rows (empty when the command has no per-scorer check).
#[derive(Default)]
pub(super) struct KeySample {
    /// (column, its value in each sampled row), the key column first.
    pub columns: Vec<(String, Vec<Option<String>>)>,
    pub rows: usize,
    /// Whether every row of the table is in the sample.
    pub whole_table: bool,
}

impl KeySample {
    pub(super) fn new(plan: &ExportPlan, options: &ExportOptions) -> KeySample {
        let columns = match options.command_line {
            CommandLine::Registry => plan
                .candidate_columns
                .iter()
                .map(|column| (column.clone(), Vec::new()))
                .collect(),
            CommandLine::Materialize | CommandLine::Batch => Vec::new(),
        };
        KeySample {
            columns,
            rows: 0,
            whole_table: true,
        }
    }

    /// Keep `batch`'s rows while the sample has room; `keys` is its key
    /// column, already read.
    pub(super) fn take(&mut self, batch: &Batch, plan: &ExportPlan, keys: &KeyColumn) {
        if self.columns.is_empty() {
            return;
        }
        let rows = batch.num_rows();
        let room = SAMPLE_ROWS - self.rows;
        if rows > room {
            self.whole_table = false;
        }
        let taken = rows.min(room);
        if taken == 0 {
            return;
        }
        for (column, values) in &mut self.columns {
            let read;
            let source = if *column == plan.key_column {
                keys
            } else {
                read = batch.key_column(column);
                &read
            };
            values.extend((0..taken).map(|row| source.get(row).map(|v| v.trim().to_string())));
        }
        self.rows += taken;
    }
}
