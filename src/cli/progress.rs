//! The byte progress bar of a long ingest.

use std::io::IsTerminal;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use second_opinion::progress::Progress;
use second_opinion::registry::SourceSpec;

/// Files smaller than this are read too fast for a bar to be worth drawing.
const WORTH_A_BAR: u64 = 16 << 20;

/// A byte progress bar on stderr, drawn only when stderr is a terminal and
/// the file is large enough to take a while.
pub fn file_bar(source: &SourceSpec) -> ProgressBar {
    let size = std::fs::metadata(&source.path)
        .map(|m| m.len())
        .unwrap_or(0);
    if !std::io::stderr().is_terminal() || size < WORTH_A_BAR {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::with_draw_target(Some(size), ProgressDrawTarget::stderr());
    bar.set_style(
        ProgressStyle::with_template(
            "{msg} [{bar:30}] {bytes}/{total_bytes} ({bytes_per_sec}, {eta})",
        )
        .expect("valid template")
        .progress_chars("=> "),
    );
    bar.set_message(super::render::shown(&source.path.display().to_string()).into_owned());
    bar
}

/// The library's progress reports, drawn on a bar.
pub struct BytesBar<'a>(pub &'a ProgressBar);

impl Progress for BytesBar<'_> {
    fn begin(&self, total: u64) {
        self.0.set_length(total);
        self.0.set_position(0);
    }

    fn advance(&self, done: u64) {
        self.0.inc(done);
    }
}
