//! second-opinion: a score registry for video-quality model training.
//!
//! Scorers (DOVER, Q-Align, FAST-VQA, MUSIQ, libvmaf, …) run elsewhere; this
//! crate reads what they wrote ([`ingest`]), keeps it in an SQLite score
//! registry with its provenance ([`registry`]), and answers where each score
//! came from. The binary `second-opinion` is a thin command line over it.

pub mod allocator;
pub mod atomic_file;
pub mod audit;
pub mod batch;
pub mod command_line;
pub mod contained;
pub mod crash_point;
pub mod digest;
pub mod export;
pub mod frames;
pub mod history;
pub mod ingest;
pub mod key;
pub mod materialize;
pub(crate) mod nonfinite;
pub(crate) mod plain_json;
pub mod progress;
pub mod registry;
pub mod scorer;
pub mod table;
pub(crate) mod threads;
pub mod writeback;
pub mod writer_process;

/// The version of this tool, recorded with every file it ingests.
pub const TOOL_VERSION: &str = env!("CARGO_PKG_VERSION");
