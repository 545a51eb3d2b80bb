//! The library's errors as Python exceptions: `DataError` where the command
//! line exits 1, `UsageError` where it exits 2, both `SecondOpinionError`,
//! with the message the command line prints (file and line included).

use std::str::FromStr;

use pyo3::create_exception;
use pyo3::exceptions::PyException;
use pyo3::PyErr;

use second_opinion::audit::AuditError;
use second_opinion::export::ExportError;
use second_opinion::materialize::MaterializeError;
use second_opinion::registry::{IngestFileError, RegistryError};

create_exception!(
    second_opinion,
    SecondOpinionError,
    PyException,
    "Every error of second-opinion; its message is the command line's."
);
create_exception!(
    second_opinion,
    DataError,
    SecondOpinionError,
    "The data (a file, a table, the registry) does not allow it (the command line's exit code 1)."
);
create_exception!(
    second_opinion,
    UsageError,
    SecondOpinionError,
    "The call is wrong: an option, a name, a clash of paths (the command line's exit code 2)."
);

/// A failed call, decided without the GIL and raised once it is held
/// again: the message and whose mistake it was, as `main.rs` decides it
/// for the command line.
#[derive(Debug)]
pub struct Failure {
    pub message: String,
    pub usage: bool,
}

impl Failure {
    /// The data does not allow it.
    pub fn data(message: impl ToString) -> Failure {
        Failure {
            message: message.to_string(),
            usage: false,
        }
    }

    /// The call is wrong.
    pub fn usage(message: impl ToString) -> Failure {
        Failure {
            message: message.to_string(),
            usage: true,
        }
    }
}

impl From<Failure> for PyErr {
    fn from(failure: Failure) -> PyErr {
        if failure.usage {
            UsageError::new_err(failure.message)
        } else {
            DataError::new_err(failure.message)
        }
    }
}

/// Each library error knows whether it is a usage mistake.
macro_rules! failure_from {
    ($($error:ty),*) => {$(
        impl From<$error> for Failure {
            fn from(e: $error) -> Failure {
                Failure {
                    usage: e.is_usage(),
                    message: e.to_string(),
                }
            }
        }
    )*};
}

failure_from!(IngestFileError, ExportError, MaterializeError, AuditError);

/// The registry's errors are data (one that is missing, too new for this
/// tool, unreadable), but for connection settings that cannot be used (as
/// on the command line).
impl From<RegistryError> for Failure {
    fn from(e: RegistryError) -> Failure {
        if e.is_usage() {
            Failure::usage(e)
        } else {
            Failure::data(e)
        }
    }
}

/// A keyword argument read as the command line reads its flag, refused as
/// a usage mistake naming the argument.
pub fn parse_option<T: FromStr<Err = String>>(name: &str, value: &str) -> Result<T, Failure> {
    value
        .parse()
        .map_err(|e| Failure::usage(format!("{name}={value:?}: {e}")))
}

/// An optional keyword argument (see [`parse_option`]).
pub fn parse_optional<T: FromStr<Err = String>>(
    name: &str,
    value: Option<&str>,
) -> Result<Option<T>, Failure> {
    value.map(|v| parse_option(name, v)).transpose()
}
