//! libpq's connection service files: a name (`PGSERVICE`, `service=` in
//! the URL) standing for a group of connection parameters.
//!
//! As libpq looks them up: the user's file (`servicefile=`, else
//! `PGSERVICEFILE`, else `~/.pg_service.conf`), then the system's
//! (`PGSYSCONFDIR/pg_service.conf`, else Debian's
//! `/etc/postgresql-common/pg_service.conf`); the first file holding the
//! service gives all of its parameters, and a file that does not exist is
//! passed over. The format is libpq's "INI" one: `[name]` starts a
//! service, `key=value` lines (no spaces around `=`: libpq keeps them as
//! part of the key or the value) give its parameters, `#` starts a
//! comment line, and leading and trailing blanks of a line are ignored.

use std::path::{Path, PathBuf};

use super::settings::SettingsError;

/// Where libpq looks for the system-wide service file when `PGSYSCONFDIR`
/// is not set: the `sysconfdir` Debian's libpq is built with.
const SYSTEM_CONF_DIR: &str = "/etc/postgresql-common";

/// The connection parameters libpq accepts in a service file. A key not
/// in this list is a syntax error, as libpq reports it; whether this tool
/// can honour a known key is decided where the parameters are applied.
const KNOWN_KEYS: &[&str] = &[
    "host",
    "hostaddr",
    "port",
    "dbname",
    "user",
    "password",
    "passfile",
    "channel_binding",
    "connect_timeout",
    "client_encoding",
    "options",
    "application_name",
    "fallback_application_name",
    "keepalives",
    "keepalives_idle",
    "keepalives_interval",
    "keepalives_count",
    "tcp_user_timeout",
    "replication",
    "gssencmode",
    "sslmode",
    "sslnegotiation",
    "sslcompression",
    "sslcert",
    "sslkey",
    "sslpassword",
    "sslcertmode",
    "sslrootcert",
    "sslcrl",
    "sslcrldir",
    "sslsni",
    "requirepeer",
    "ssl_min_protocol_version",
    "ssl_max_protocol_version",
    "krbsrvname",
    "gsslib",
    "gssdelegation",
    "require_auth",
    "target_session_attrs",
    "load_balance_hosts",
    "requiressl",
];

/// The parameters of `service`, in the order the file gives them, from
/// the first service file that defines it. `servicefile` is the URL's
/// `servicefile=` parameter, if any.
pub fn service_parameters(
    service: &str,
    servicefile: Option<&str>,
) -> Result<Vec<(String, String)>, SettingsError> {
    let env = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty());
    let user_file = match servicefile {
        Some(file) => Some(PathBuf::from(file)),
        None => env("PGSERVICEFILE")
            .map(PathBuf::from)
            .or_else(|| env("HOME").map(|home| Path::new(&home).join(".pg_service.conf"))),
    };
    let system_file = env("PGSYSCONFDIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(SYSTEM_CONF_DIR))
        .join("pg_service.conf");
    let mut searched = Vec::new();
    for file in user_file.into_iter().chain([system_file]) {
        searched.push(file.clone());
        // As libpq: a file that is not there is passed over.
        let text = match std::fs::read(&file) {
            Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => {
                return Err(SettingsError::ServiceFile {
                    path: file,
                    line: None,
                    message: format!("cannot read it: {e}"),
                })
            }
        };
        if let Some(parameters) = parse_service(&text, service, &file)? {
            return Ok(parameters);
        }
    }
    Err(SettingsError::UnknownService {
        service: service.to_string(),
        searched,
    })
}

/// The parameters of `service` in one file's `text`, `None` when the file
/// does not define it. Only the service's own lines are checked, as libpq
/// checks them: another service's lines are not this command's business.
fn parse_service(
    text: &str,
    service: &str,
    file: &Path,
) -> Result<Option<Vec<(String, String)>>, SettingsError> {
    let mut found: Option<Vec<(String, String)>> = None;
    for (index, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if let Some(section) = line.strip_prefix('[') {
            if found.is_some() {
                // The service ends where the next one starts.
                break;
            }
            // libpq compares the name and then wants `]` right after it.
            if section
                .strip_prefix(service)
                .is_some_and(|rest| rest.starts_with(']'))
            {
                found = Some(Vec::new());
            }
            continue;
        }
        let Some(parameters) = found.as_mut() else {
            continue;
        };
        let malformed = |message: String| SettingsError::ServiceFile {
            path: file.to_path_buf(),
            line: Some(index + 1),
            message,
        };
        let Some((key, value)) = line.split_once('=') else {
            return Err(malformed(format!(
                "syntax error in service \"{service}\": not `key=value` or `[service]`"
            )));
        };
        if key == "service" {
            return Err(malformed(
                "nested service specifications are not supported".to_string(),
            ));
        }
        if !KNOWN_KEYS.contains(&key) {
            return Err(malformed(format!(
                "syntax error in service \"{service}\": `{key}` is not a connection parameter"
            )));
        }
        // libpq keeps the first value of a key a service gives twice.
        if !parameters.iter().any(|(known, _)| known == key) {
            parameters.push((key.to_string(), value.to_string()));
        }
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str, service: &str) -> Result<Option<Vec<(String, String)>>, SettingsError> {
        parse_service(text, service, Path::new("pg_service.conf"))
    }

    #[test]
    fn a_service_is_its_section_up_to_the_next() {
        let text = "# team registry\n[scores]\nhost=db1\n  port=5433  \n\n[scoresx]\nhost=other\n[scores_test]\ndbname=t\n";
        assert_eq!(
            parse(text, "scores").unwrap(),
            Some(vec![
                ("host".to_string(), "db1".to_string()),
                ("port".to_string(), "5433".to_string())
            ])
        );
        assert_eq!(parse(text, "nope").unwrap(), None);
        assert_eq!(
            parse(text, "scores_test").unwrap(),
            Some(vec![("dbname".to_string(), "t".to_string())])
        );
    }

    #[test]
    fn a_malformed_line_of_the_service_names_its_line() {
        let text = "[other]\nthis line is not read\n[scores]\nhost=db1\nhost db2\n";
        let error = parse(text, "scores").unwrap_err().to_string();
        assert!(error.starts_with("pg_service.conf:5: "), "{error}");
        assert_eq!(
            parse(text, "other").unwrap_err().to_string(),
            "pg_service.conf:2: syntax error in service \"other\": not `key=value` or `[service]`"
        );
        let error = parse("[scores]\ndatabase=x\n", "scores")
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("`database` is not a connection parameter"),
            "{error}"
        );
        let error = parse("[scores]\nservice=x\n", "scores")
            .unwrap_err()
            .to_string();
        assert!(error.contains("nested service"), "{error}");
    }

    #[test]
    fn a_password_in_a_malformed_line_is_not_repeated() {
        let error = parse("[scores]\npassword hunter2\n", "scores")
            .unwrap_err()
            .to_string();
        assert!(!error.contains("hunter2"), "{error}");
    }
}
