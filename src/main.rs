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

/// mimalloc: see `second_opinion::allocator` for why, and its settings.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    second_opinion::allocator::set_options(second_opinion::allocator::Owner::Process);
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
