//! One function per command. Each takes the registry path and its parsed
//! flags, hands the library a fully built request, and shows the answer
//! through [`render`](super::render); what fails goes back to `main` as a
//! [`Failure`](crate::Failure), which alone picks the exit code.

mod audit;
mod batch;
mod export;
mod ingest;
mod registry;

pub use audit::{audit, families};
pub use batch::batch;
pub use export::{export, materialize};
pub use ingest::{ingest, inspect};
pub use registry::{exports, files, provenance, registry, scorers};
