//! ffmpeg-quality-metrics' CSV result (`ffmpeg-quality-metrics dist ref -m …
//! -of csv -o out.csv`): one run, one clip, one row per frame.
//!
//! Layout, from `get_results_csv` in slhck/ffmpeg-quality-metrics (Python's
//! `csv.writer`, so CRLF line ends and fields quoted only when they must be):
//! ```text
//! n,integer_adm2,…,mse_avg,…,psnr_avg,…,scale_0,…,ssim_avg,…,vmaf,input_file_dist,input_file_ref
//! 1,0.699075,…,test/dist-854x480.mkv,test/ref-1280x720.mkv
//! ```
//! What becomes of it is described in [`super::fqm`]; this file only reads
//! the layout. Quirks handled here:
//! - The frames of every metric are merged into rows by `n`, and the header
//!   names submetrics only: which metric a column belongs to is known from
//!   the names the tool gives its filters' values ([`metric_of_column`]);
//!   every other column is one of libvmaf's (`vmaf`, `integer_adm2`, …).
//! - A metric that has no frame numbered `n` leaves its cells of that row
//!   empty. With the `vif` quirk (its frames counted from 0, the others'
//!   from 1) the first row holds only `vif` and the last row no `vif`.
//! - Values are Python's `str(float)`: `nan`, `inf`, and `None` for a value
//!   libvmaf wrote `null`, are unusable frame values.
//! - Columns come sorted by name in 3.x; older versions wrote them in
//!   metric order. Columns are found by name, so either reads.
//! - There are no `global` statistics in this layout, so nothing to check.
//! - Concatenated runs show as a second header line or a row of another
//!   `input_file_dist`: refused at that line.
//!
//! Read line by line; only each metric's main value per frame is kept.

use std::borrow::Cow;
use std::io::BufRead;

use super::fqm::{second_run, Run, FRAME_FIELD, KEY_FIELD, REFERENCE_FIELD};
use crate::ingest::libvmaf::printf_number;
use crate::ingest::text_rows::{split_csv_line, Lines};
use crate::ingest::{ReadError, ReadOptions, RecordSink, ScoreReader};

/// Reader for ffmpeg-quality-metrics CSV results.
pub struct FqmCsvReader;

/// The submetrics of ffmpeg's filters, by metric, with the submetric whose
/// presence in the header says the filter ran. Every other column is
/// libvmaf's (whose `psnr` feature also writes a `psnr_y`: it is read as
/// libvmaf's when the `psnr` filter did not run).
const FILTER_COLUMNS: &[(&str, &str, &[&str])] = &[
    (
        "psnr",
        "psnr_avg",
        &[
            "mse_avg", "mse_y", "mse_u", "mse_v", "psnr_avg", "psnr_y", "psnr_u", "psnr_v",
        ],
    ),
    (
        "ssim",
        "ssim_avg",
        &["ssim_y", "ssim_u", "ssim_v", "ssim_avg"],
    ),
    (
        "msad",
        "msad_avg",
        &["msad_y", "msad_u", "msad_v", "msad_avg"],
    ),
];
/// `vif`'s columns: `scale_0` … `scale_3`.
const VIF_COLUMN_PREFIX: &str = "scale_";
const VMAF: &str = "vmaf";

impl ScoreReader for FqmCsvReader {
    const NAME: &'static str = "ffmpeg-quality-metrics-csv";
    const EXTENSIONS: &'static [&'static str] = &["csv"];

    fn detect(head: &str, _extension: &str) -> Option<String> {
        let first = head.lines().next()?.trim_end_matches('\r');
        let names: Vec<&str> = first.split(',').collect();
        (names.first() == Some(&FRAME_FIELD)
            && names.contains(&KEY_FIELD)
            && names.contains(&REFERENCE_FIELD))
        .then(|| {
            format!(
                "an ffmpeg-quality-metrics CSV header (`{FRAME_FIELD}`, submetrics, `{KEY_FIELD},{REFERENCE_FIELD}`)"
            )
        })
    }

    fn read<S: RecordSink>(
        input: &mut dyn BufRead,
        _options: &ReadOptions,
        sink: &mut S,
    ) -> Result<(), S::Error> {
        let mut lines = Lines::new(input);
        let Some((_, header_text)) = lines.next_row()? else {
            return Err(lines.no_rows("a header").into());
        };
        let header_text = header_text.to_string();
        let header = Header::parse(&header_text).map_err(|m| ReadError::at(1, m))?;
        let mut run = Run::default();
        // The run's distorted input, from its first row.
        let mut dist: Option<String> = None;
        let mut values: Vec<(&str, Option<f64>)> = Vec::new();
        while let Some((line, text)) = lines.next_row()? {
            if text == header_text {
                return Err(second_run(line, dist.as_deref().unwrap_or(""), None).into());
            }
            let cells = split_csv_line(text, ',').map_err(|m| ReadError::at(line, m))?;
            if cells.len() != header.names.len() {
                return Err(ReadError::at(
                    line,
                    format!(
                        "the row has {} cells but the header names {} columns",
                        cells.len(),
                        header.names.len()
                    ),
                )
                .into());
            }
            let n_text = cells[0].trim();
            let n = n_text
                .parse::<i64>()
                .ok()
                .filter(|n| *n >= 0)
                .ok_or_else(|| {
                    ReadError::at(
                        line,
                        format!("`{FRAME_FIELD}` must be a non-negative integer, got '{n_text}'"),
                    )
                })?;
            let row_dist = &cells[header.dist];
            match &dist {
                None => dist = Some(row_dist.to_string()),
                Some(first) if first != row_dist => {
                    return Err(second_run(line, first, Some(row_dist)).into())
                }
                Some(_) => {}
            }
            let mut any = false;
            for (metric, columns) in &header.metrics {
                values.clear();
                for &column in columns {
                    let cell: &Cow<str> = &cells[column];
                    if cell.is_empty() {
                        continue;
                    }
                    let value = cell_value(cell).ok_or_else(|| {
                        ReadError::at(
                            line,
                            format!(
                                "{} of frame n={n} is not a number: '{cell}'",
                                header.names[column]
                            ),
                        )
                    })?;
                    values.push((header.names[column].as_str(), value));
                }
                if !values.is_empty() {
                    any = true;
                    run.add_frame(metric, line, n, &values)?;
                }
            }
            if !any {
                return Err(
                    ReadError::at(line, format!("frame n={n} has no value of any metric")).into(),
                );
            }
        }
        let Some(dist) = dist else {
            return Err(ReadError::at(1, "no frames: the file holds only its header").into());
        };
        run.finish(dist, &[], sink)
    }
}

/// The header: every column's name, where the paths are, and which columns
/// each metric has.
struct Header {
    names: Vec<String>,
    dist: usize,
    /// Each metric with its columns, in the order of their first column.
    metrics: Vec<(&'static str, Vec<usize>)>,
}

impl Header {
    fn parse(text: &str) -> Result<Header, String> {
        let names: Vec<String> = split_csv_line(text, ',')?
            .into_iter()
            .map(Cow::into_owned)
            .collect();
        let position = |name: &str| names.iter().position(|n| n == name);
        let (Some(0), Some(dist), Some(_)) = (
            position(FRAME_FIELD),
            position(KEY_FIELD),
            position(REFERENCE_FIELD),
        ) else {
            return Err(format!(
                "expected ffmpeg-quality-metrics' CSV header `{FRAME_FIELD},<submetric>,…,{KEY_FIELD},{REFERENCE_FIELD}`, got `{text}`"
            ));
        };
        let mut metrics: Vec<(&'static str, Vec<usize>)> = Vec::new();
        for (column, name) in names.iter().enumerate() {
            if [FRAME_FIELD, KEY_FIELD, REFERENCE_FIELD].contains(&name.as_str()) {
                continue;
            }
            if name.is_empty() {
                return Err(format!("column {} of the header has no name", column + 1));
            }
            if names[..column].contains(name) {
                return Err(format!("column '{name}' appears twice in the header"));
            }
            let metric = metric_of_column(name, &names);
            match metrics.iter_mut().find(|(m, _)| *m == metric) {
                Some((_, columns)) => columns.push(column),
                None => metrics.push((metric, vec![column])),
            }
        }
        if metrics.is_empty() {
            return Err("the header names no submetric".to_string());
        }
        Ok(Header {
            names,
            dist,
            metrics,
        })
    }
}

/// The metric a column of the header belongs to.
fn metric_of_column(name: &str, header: &[String]) -> &'static str {
    let ran = |marker: &str| header.iter().any(|n| n == marker);
    for (metric, marker, columns) in FILTER_COLUMNS {
        if columns.contains(&name) && ran(marker) {
            return metric;
        }
    }
    if name.starts_with(VIF_COLUMN_PREFIX) {
        return "vif";
    }
    VMAF
}

/// A cell as Python's `str()` wrote it: a number, or (`nan`, `inf`, `None`)
/// an unusable value. `None` when it is neither.
fn cell_value(text: &str) -> Option<Option<f64>> {
    if text.trim() == "None" {
        return Some(None);
    }
    printf_number(text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ingest::test_support::error_of;
    use crate::ingest::text_rows::read_with_notes;
    use crate::ingest::RawScore;

    /// Two frames of `-m psnr vif -of csv`, sorted columns, CRLF, the `vif`
    /// quirk leaving the first and last rows half empty.
    const PSNR_VIF: &[u8] =
        b"n,mse_avg,psnr_avg,psnr_y,scale_0,scale_1,input_file_dist,input_file_ref\r\n\
0,,,,0.262,0.557,\"runs/a,b.mkv\",ref.mkv\r\n\
1,536.66,20.83,18.59,0.263,0.56,\"runs/a,b.mkv\",ref.mkv\r\n\
2,535.24,20.85,nan,,,\"runs/a,b.mkv\",ref.mkv\r\n";

    #[test]
    fn detects_its_header_only() {
        let head = std::str::from_utf8(PSNR_VIF).unwrap();
        assert!(FqmCsvReader::detect(head, "csv").is_some());
        assert!(FqmCsvReader::detect("n,vmaf,input_file_dist,input_file_ref\n", "txt").is_some());
        assert!(FqmCsvReader::detect("Frame,vmaf,\n0,1,\n", "csv").is_none());
        assert!(FqmCsvReader::detect("n,score,input_file_dist\n", "csv").is_none());
    }

    #[test]
    fn columns_go_to_the_metric_whose_filter_wrote_them() {
        let header: Vec<String> = ["n", "psnr_y", "psnr_cb", "vmaf", "ssim_avg", "ssim_y"]
            .map(String::from)
            .to_vec();
        assert_eq!(
            metric_of_column("psnr_y", &header),
            "vmaf",
            "no psnr filter ran"
        );
        assert_eq!(metric_of_column("ssim_y", &header), "ssim");
        assert_eq!(metric_of_column("scale_3", &header), "vif");
        assert_eq!(metric_of_column("integer_adm2", &header), "vmaf");
    }

    #[test]
    fn reads_each_metric_with_the_vif_quirk() {
        let (records, notes) = read_with_notes::<FqmCsvReader>(PSNR_VIF);
        let [vif, psnr] = &records[..] else {
            panic!("{records:?}")
        };
        assert_eq!(
            (vif.metric.as_deref(), psnr.metric.as_deref()),
            (Some("vif"), Some("psnr")),
            "in the order of their first frames"
        );
        assert_eq!(psnr.raw_key, "runs/a,b.mkv");
        assert_eq!(psnr.line, 3, "psnr's first row");
        assert_eq!(psnr.value, RawScore::Number((20.83 + 20.85) / 2.0));
        assert_eq!(
            psnr.components,
            [
                ("mse_avg".to_string(), Some((536.66 + 535.24) / 2.0)),
                ("psnr_y".to_string(), Some(18.59)),
            ]
        );
        assert_eq!(vif.line, 2);
        assert_eq!(
            vif.frames
                .iter()
                .map(|f| (f.frame_index, f.value))
                .collect::<Vec<_>>(),
            [
                (0, Some((0.262 + 0.557) / 2.0)),
                (1, Some((0.263 + 0.56) / 2.0))
            ]
        );
        assert!(notes.is_empty(), "{notes:?}");
    }

    #[test]
    fn concatenated_runs_and_bad_rows_are_refused_at_their_line() {
        let twice = [PSNR_VIF, PSNR_VIF].concat();
        assert_eq!(
            error_of::<FqmCsvReader>(&twice),
            (
                5,
                "a second run starts here: the file holds concatenated runs; give each run a file of its own"
                    .to_string()
            )
        );
        let other =
            b"n,vmaf,input_file_dist,input_file_ref\n1,10.0,a.mkv,r.mkv\n2,11.0,b.mkv,r.mkv\n";
        assert_eq!(
            error_of::<FqmCsvReader>(other),
            (
                3,
                "a second run starts here, of input_file_dist 'b.mkv' after 'a.mkv': the file \
                 holds concatenated runs; give each run a file of its own"
                    .to_string()
            )
        );
        assert_eq!(
            error_of::<FqmCsvReader>(b"n,vmaf,input_file_dist,input_file_ref\n1,high,a,r\n"),
            (2, "vmaf of frame n=1 is not a number: 'high'".to_string())
        );
        assert_eq!(
            error_of::<FqmCsvReader>(b"n,vmaf,input_file_dist,input_file_ref\n1,1.0,a\n"),
            (
                2,
                "the row has 3 cells but the header names 4 columns".to_string()
            )
        );
        assert_eq!(
            error_of::<FqmCsvReader>(b"n,vmaf,input_file_dist,input_file_ref\n1,,a,r\n"),
            (2, "frame n=1 has no value of any metric".to_string())
        );
        assert_eq!(
            error_of::<FqmCsvReader>(b"n,vmaf,input_file_dist,input_file_ref\r\n"),
            (1, "no frames: the file holds only its header".to_string())
        );
        assert!(
            error_of::<FqmCsvReader>(b"vmaf,n,input_file_dist,input_file_ref\n")
                .1
                .starts_with("expected ffmpeg-quality-metrics' CSV header")
        );
        let (line, message) =
            error_of::<FqmCsvReader>(b"n,integer_adm2,input_file_dist,input_file_ref\n1,0.5,a,r\n");
        assert_eq!(line, 2);
        assert_eq!(
            message,
            "metric 'vmaf' has no vmaf value to take as its score (it has integer_adm2)"
        );
    }
}
