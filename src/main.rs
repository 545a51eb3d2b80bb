//! The `second-opinion` command line: parse, hand each command to its one
//! function in [`cli::commands`], and turn what failed into an exit code
//! (1: data, 2: usage) here, in one place. Nothing here decides what a
//! score means.

#[macro_use]
mod cli;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::parser::ValueSource;
use clap::{CommandFactory, FromArgMatches};

use second_opinion::audit::AuditError;
use second_opinion::batch::BatchError;
use second_opinion::export::ExportError;
use second_opinion::materialize::MaterializeError;
use second_opinion::registry::{IngestFileError, RegistryError, DEFAULT_REGISTRY};

use cli::args::{Cli, Command};
use cli::commands;
use cli::render;

/// Ingest parses on one thread and frees on another, millions of small
/// strings a second: glibc's allocator spent 40% of W4 there, mimalloc's
/// thread-free lists make that cost vanish (bench/RESULTS.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

extern "C" {
    /// mimalloc's `mi_option_set`, from the library the `mimalloc` crate links.
    fn mi_option_set(option: std::ffi::c_int, value: std::ffi::c_long);
}

/// `mi_option_purge_decommits` in mimalloc's `mi_option_e` (the same in
/// mimalloc 2 and 3).
const MI_OPTION_PURGE_DECOMMITS: std::ffi::c_int = 5;

/// Let mimalloc give freed memory back lazily (`MADV_FREE`) instead of
/// decommitting it (`MADV_DONTNEED`) 10 ms after it is freed. A
/// `materialize` frees and allocates its parquet writer's column buffers
/// over and over: decommitted, each reuse faulted ~120 MB of zeroed pages
/// back in (29 000 minor faults a W1 run), and how many depended on
/// how the threads were scheduled against the purge timer, so the system
/// time of identical runs swung from 0.15 s to 1.26 s (issue 18). Lazily
/// freed pages are reused without a fault (4 000–6 000 a run) and the
/// kernel still takes them back under memory pressure. `MIMALLOC_PURGE_DECOMMITS`
/// in the environment still decides, for measuring.
///
/// And no transparent huge pages for this process. mimalloc asks for them
/// (`MADV_HUGEPAGE`), and where the machine's memory is fragmented — as
/// after any other large process, the runs of the baselines between ours
/// in bench/run — the kernel compacts memory and zeroes 2 MiB at every
/// first touch: W1's `materialize` took 1.30 s (system time up to 1 s)
/// beside polars and DuckDB runs, and 0.94 s with huge pages off, with
/// 60 MB less peak memory (bench/RESULTS.md, issue 18). Back to back on
/// an idle machine the two are even. `MIMALLOC_ALLOW_THP` in the
/// environment still decides, for measuring.
fn allocator_options() {
    if std::env::var_os("MIMALLOC_PURGE_DECOMMITS").is_none() {
        // SAFETY: sets one of mimalloc's integer options, by its documented
        // index, before any other thread exists.
        unsafe { mi_option_set(MI_OPTION_PURGE_DECOMMITS, 0) };
    }
    #[cfg(target_os = "linux")]
    if std::env::var_os("MIMALLOC_ALLOW_THP").is_none() {
        // What mimalloc itself does for `MIMALLOC_ALLOW_THP=0`: the
        // process's memory, allocated from here on, stays in 4 KiB pages.
        // A kernel without the call leaves things as they were.
        // SAFETY: a process-wide flag with integer arguments only.
        unsafe { libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0) };
    }
}

fn main() -> ExitCode {
    allocator_options();
    // Rust ignores SIGPIPE, so printing into a closed pipe (`… | head`)
    // would panic; like other command-line tools, end quietly instead.
    #[cfg(unix)]
    // SAFETY: restoring a signal's default disposition at startup, before
    // any thread exists, has no memory-safety implications.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    // A reader's panic on a damaged table is contained and reported as an
    // error naming the file; its panic message would only repeat it.
    second_opinion::contained::quiet_contained_panics();
    // An empty SECOND_OPINION_REGISTRY (`export SECOND_OPINION_REGISTRY=`)
    // names no registry: clap would take it as a flag given no value and
    // refuse every command, even one with --registry on its command line.
    if std::env::var_os("SECOND_OPINION_REGISTRY").is_some_and(|v| v.is_empty()) {
        // SAFETY: at startup, before any thread exists.
        unsafe { std::env::remove_var("SECOND_OPINION_REGISTRY") };
    }
    let matches = Cli::command().get_matches();
    // materialize and batch keep their scores only when told on their
    // command line: a SECOND_OPINION_REGISTRY exported for ingest must not
    // turn the reference's one-shot drop-ins into ones that write a registry.
    let registry_on_command_line =
        matches.value_source("registry") == Some(ValueSource::CommandLine);
    let cli = Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
    let registry = cli
        .registry
        .clone()
        .unwrap_or_else(|| PathBuf::from(DEFAULT_REGISTRY));
    let result = match cli.command {
        Command::Ingest(args) => commands::ingest(&registry, args),
        Command::Scorers(args) => commands::scorers(&registry, args),
        Command::Files(args) => commands::files(&registry, args),
        Command::Provenance(args) => commands::provenance(&registry, args),
        Command::Inspect(args) => commands::inspect(&registry, args),
        Command::Export(args) => commands::export(&registry, args),
        Command::Exports(args) => commands::exports(&registry, args),
        Command::Materialize(args) => {
            commands::materialize(cli.registry.filter(|_| registry_on_command_line), args)
        }
        Command::Batch(args) => {
            commands::batch(cli.registry.filter(|_| registry_on_command_line), args)
        }
        Command::Audit(args) => commands::audit(&registry, args),
        Command::Families(args) => commands::families(&registry, args.command),
        Command::Registry(args) => commands::registry(args),
    };
    render::print_swept(&second_opinion::atomic_file::take_swept());
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            if !failure.message.is_empty() {
                tell!("second-opinion: {}", failure.message);
            }
            failure.exit_code()
        }
    }
}

/// A failed command as the user sees it: the message, and whose mistake it
/// was. Every library error becomes one through `From` (`?`), asking the
/// error itself whether it is a usage mistake.
pub struct Failure {
    message: String,
    usage: bool,
}

impl Failure {
    /// The data (a file, a table, the registry) does not allow it.
    pub fn data(message: impl ToString) -> Failure {
        Failure {
            message: message.to_string(),
            usage: false,
        }
    }

    /// The command line is wrong.
    pub fn usage(message: impl ToString) -> Failure {
        Failure {
            message: message.to_string(),
            usage: true,
        }
    }

    /// A data failure the command has already told in full on stderr (a
    /// batch's failed tables, then its summary line, which must stay last):
    /// only the exit code remains to be given.
    pub fn already_shown() -> Failure {
        Failure {
            message: String::new(),
            usage: false,
        }
    }

    /// The same failure told with another message.
    pub fn reworded(self, message: impl ToString) -> Failure {
        Failure {
            message: message.to_string(),
            ..self
        }
    }

    /// The only place exit codes are chosen: 2 for usage, 1 for data.
    fn exit_code(&self) -> ExitCode {
        ExitCode::from(if self.usage { 2 } else { 1 })
    }
}

impl From<IngestFileError> for Failure {
    fn from(e: IngestFileError) -> Failure {
        Failure {
            usage: e.is_usage(),
            message: e.to_string(),
        }
    }
}

impl From<ExportError> for Failure {
    fn from(e: ExportError) -> Failure {
        Failure {
            usage: e.is_usage(),
            message: e.to_string(),
        }
    }
}

impl From<MaterializeError> for Failure {
    fn from(e: MaterializeError) -> Failure {
        Failure {
            usage: e.is_usage(),
            message: e.to_string(),
        }
    }
}

impl From<BatchError> for Failure {
    fn from(e: BatchError) -> Failure {
        Failure {
            usage: e.is_usage(),
            message: e.to_string(),
        }
    }
}

impl From<AuditError> for Failure {
    fn from(e: AuditError) -> Failure {
        Failure {
            usage: e.is_usage(),
            message: e.to_string(),
        }
    }
}

impl From<second_opinion::registry::copy::CopyError> for Failure {
    fn from(e: second_opinion::registry::copy::CopyError) -> Failure {
        Failure {
            usage: e.is_usage(),
            message: e.to_string(),
        }
    }
}

/// The registry's errors are data (one that is missing, too new for this
/// tool, unreadable, a server that fails), but for connection settings
/// that cannot be used.
impl From<RegistryError> for Failure {
    fn from(e: RegistryError) -> Failure {
        Failure {
            usage: e.is_usage(),
            message: e.to_string(),
        }
    }
}
