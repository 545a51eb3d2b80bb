//! Where a PostgreSQL registry is, and how it is shown.
//!
//! A registry is named by a URL (`postgresql://user@host:port/db?…`,
//! `postgres://…`). What the URL leaves out is taken from libpq's usual
//! sources, in libpq's order, as `psql` would: a connection service
//! (`service=`, `PGSERVICE`; see [`service`](super::service)), then
//! `PGHOST`, `PGPORT`, `PGUSER`, `PGPASSWORD`, `PGDATABASE`, `PGSSLMODE`,
//! `PGSSLROOTCERT`, `PGSSLCERT`, `PGSSLKEY`, then `~/.pgpass` (or
//! `passfile=`, `PGPASSFILE`). The `postgres` crate reads none of them
//! itself.
//!
//! A password never leaves this file: the URL is shown everywhere (messages,
//! export records) through [`shown_url`], which drops it, and no error here
//! repeats a value a service file or `.pgpass` gave.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use postgres::config::Host;
use postgres::Config;

use super::service;
use super::tls::TlsSettings;

/// Whether `location` (a `--registry` value) names a PostgreSQL registry.
pub fn is_postgres_url(location: &Path) -> bool {
    location
        .to_str()
        .is_some_and(|text| text.starts_with("postgresql://") || text.starts_with("postgres://"))
}

/// The parameters that hold a secret: never shown.
const SECRET_PARAMETERS: &[&str] = &["password", "sslpassword"];

/// The URL without its password: the user-info's `:password` and any
/// `password=` (or `sslpassword=`, a client key's) parameter are dropped,
/// so it can be shown and recorded.
pub fn shown_url(url: &str) -> String {
    let (scheme, rest) = match url.split_once("://") {
        Some(parts) => parts,
        None => return url.to_string(),
    };
    let (authority_and_path, query) = match rest.split_once('?') {
        Some((head, query)) => (head, Some(query)),
        None => (rest, None),
    };
    // The user-info ends at the last '@' before the path (a password may
    // itself hold '@' when not percent-encoded).
    let authority_end = authority_and_path
        .find('/')
        .unwrap_or(authority_and_path.len());
    let (authority, path) = authority_and_path.split_at(authority_end);
    let authority = match authority.rsplit_once('@') {
        Some((user_info, hosts)) => {
            let user = user_info
                .split_once(':')
                .map_or(user_info, |(user, _)| user);
            format!("{user}@{hosts}")
        }
        None => authority.to_string(),
    };
    let mut shown = format!("{scheme}://{authority}{path}");
    if let Some(query) = query {
        let kept: Vec<&str> = query
            .split('&')
            .filter(|pair| {
                let key = pair.split_once('=').map_or(*pair, |(key, _)| key);
                let key = percent_decoded(key).unwrap_or_else(|_| key.to_string());
                !SECRET_PARAMETERS.contains(&key.to_ascii_lowercase().as_str())
            })
            .collect();
        if !kept.is_empty() {
            shown.push('?');
            shown.push_str(&kept.join("&"));
        }
    }
    shown
}

/// Why the connection settings could not be made; every one is the
/// user's to fix (a usage error), and none holds a password.
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    /// The URL, an environment variable or a parameter cannot be read.
    #[error("{0}")]
    Invalid(String),
    /// `service=` or `PGSERVICE` names a service no service file defines.
    #[error(
        "service \"{service}\" is not defined in any connection service file (searched {}): \
         define it in one of them, name another file with PGSERVICEFILE, or give the connection \
         in the URL",
        searched.iter().map(|path| path.display().to_string()).collect::<Vec<_>>().join(", ")
    )]
    UnknownService {
        service: String,
        searched: Vec<PathBuf>,
    },
    /// A service file cannot be read or holds a line libpq would refuse.
    #[error("{}{}: {message}", path.display(), line.map(|line| format!(":{line}")).unwrap_or_default())]
    ServiceFile {
        path: PathBuf,
        line: Option<usize>,
        message: String,
    },
    /// A certificate or key named for TLS cannot be used.
    #[error("{0}")]
    Tls(String),
}

/// How to reach a registry's server: the client's settings, and the TLS
/// ones it leaves to its connector.
pub struct Settings {
    pub config: Config,
    pub tls: TlsSettings,
}

/// The parameters this tool reads itself rather than the client: the
/// service, the password file, and TLS, whose modes beyond the client's
/// three (`allow`, `verify-ca`, `verify-full`) and files are the
/// connector's.
const OWN_PARAMETERS: &[&str] = &[
    "service",
    "servicefile",
    "passfile",
    "sslmode",
    "sslrootcert",
    "sslcert",
    "sslkey",
    "sslpassword",
];

/// The client parameters libpq also reads from the environment, besides
/// those completed with defaults of their own (`PGHOST`, `PGPORT`,
/// `PGUSER`, `PGDATABASE`, `PGPASSWORD`) and this tool's own.
const ENVIRONMENT_PARAMETERS: &[(&str, &str)] = &[
    ("hostaddr", "PGHOSTADDR"),
    ("options", "PGOPTIONS"),
    ("application_name", "PGAPPNAME"),
    ("connect_timeout", "PGCONNECT_TIMEOUT"),
    ("target_session_attrs", "PGTARGETSESSIONATTRS"),
    ("channel_binding", "PGCHANNELBINDING"),
    ("load_balance_hosts", "PGLOADBALANCEHOSTS"),
    ("sslnegotiation", "PGSSLNEGOTIATION"),
];

/// The connection settings of `url`, completed as libpq completes them:
/// what the URL gives wins, then the service's parameters (`service=` or
/// `PGSERVICE`), then the environment (`PGHOST` …), then the defaults.
/// Errors never hold the password.
pub fn settings_from_url(url: &str) -> Result<Settings, SettingsError> {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, query),
        None => (url, ""),
    };
    let mut client_parameters = Vec::new();
    let mut own = BTreeMap::new();
    for pair in query.split('&').filter(|pair| !pair.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        let key = percent_decoded(key).map_err(|what| {
            SettingsError::Invalid(format!("a parameter name of the URL {what}"))
        })?;
        let value = percent_decoded(value).map_err(|what| {
            // The value may be a password: only its name is shown.
            SettingsError::Invalid(format!("the URL's parameter `{key}` {what}"))
        })?;
        if OWN_PARAMETERS.contains(&key.as_str()) {
            own.insert(key, value);
        } else {
            client_parameters.push((key, value));
        }
    }
    let parse = |parameters: &[(String, String)], origin: &str| {
        Config::from_str(&with_query(base, parameters)).map_err(|e| {
            // The client's message is only "invalid connection string";
            // its cause names the parameter (never its value).
            let cause = std::error::Error::source(&e)
                .map(|cause| format!(": {cause}"))
                .unwrap_or_default();
            SettingsError::Invalid(format!(
                "{origin}: not a PostgreSQL connection that second-opinion can read: {e}{cause}"
            ))
        })
    };
    let mut config = parse(&client_parameters, "the URL")?;
    let env = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());

    let service = own.get("service").cloned().or_else(|| env("PGSERVICE"));
    if let Some(service) = service {
        let parameters =
            service::service_parameters(&service, own.get("servicefile").map(String::as_str))?;
        for (key, value) in parameters {
            if given(&config, &client_parameters, &own, &key) {
                continue;
            }
            if OWN_PARAMETERS.contains(&key.as_str()) {
                own.insert(key, value);
            } else {
                client_parameters.push((key, value));
            }
        }
        config = parse(&client_parameters, &format!("service \"{service}\""))?;
    }
    // The environment's client parameters, where neither the URL nor the
    // service gave one (PGHOST … below need defaults of their own).
    let mut from_environment = false;
    for (key, variable) in ENVIRONMENT_PARAMETERS {
        if let Some(value) = env(variable) {
            if !given(&config, &client_parameters, &own, key) {
                client_parameters.push((key.to_string(), value));
                from_environment = true;
            }
        }
    }
    if from_environment {
        config = parse(
            &client_parameters,
            "the environment (PGHOSTADDR, PGOPTIONS …)",
        )?;
    }

    if config.get_hosts().is_empty() && config.get_hostaddrs().is_empty() {
        match env("PGHOST") {
            Some(host) => {
                for host in host.split(',') {
                    add_host(&mut config, host);
                }
            }
            None => {
                // libpq's default as Debian builds it: the local socket.
                let socket = ["/var/run/postgresql", "/tmp"]
                    .into_iter()
                    .find(|dir| Path::new(dir).is_dir())
                    .unwrap_or("/tmp");
                config.host_path(socket);
            }
        }
    }
    if config.get_ports().is_empty() {
        if let Some(port) = env("PGPORT") {
            let port = port.parse::<u16>().map_err(|_| {
                SettingsError::Invalid(format!("PGPORT '{port}' is not a port number"))
            })?;
            config.port(port);
        }
    }
    if config.get_user().is_none() {
        let user = env("PGUSER")
            .or_else(|| env("USER"))
            .or_else(|| env("LOGNAME"))
            .unwrap_or_else(|| "postgres".to_string());
        config.user(&user);
    }
    if config.get_dbname().is_none() {
        let dbname = env("PGDATABASE").unwrap_or_else(|| config.get_user().unwrap_or("").into());
        config.dbname(&dbname);
    }
    let own_or_env = |key: &str, variable: &str| own.get(key).cloned().or_else(|| env(variable));
    let tls = TlsSettings::new(
        own_or_env("sslmode", "PGSSLMODE").as_deref(),
        own_or_env("sslrootcert", "PGSSLROOTCERT"),
        own_or_env("sslcert", "PGSSLCERT"),
        own_or_env("sslkey", "PGSSLKEY"),
        own.get("sslpassword").cloned(),
    )?;
    if config.get_password().is_none() {
        let passfile = own_or_env("passfile", "PGPASSFILE");
        if let Some(password) = env("PGPASSWORD").or_else(|| pgpass_password(&config, passfile)) {
            config.password(password);
        }
    }
    if config.get_application_name().is_none() {
        config.application_name("second-opinion");
    }
    Ok(Settings { config, tls })
}

/// Whether the URL gave `key` already (a service's value then does not
/// count, as in libpq).
fn given(
    config: &Config,
    client_parameters: &[(String, String)],
    own: &BTreeMap<String, String>,
    key: &str,
) -> bool {
    if own.contains_key(key) || client_parameters.iter().any(|(given, _)| given == key) {
        return true;
    }
    match key {
        "host" => !config.get_hosts().is_empty(),
        "port" => !config.get_ports().is_empty(),
        "user" => config.get_user().is_some(),
        "password" => config.get_password().is_some(),
        "dbname" => config.get_dbname().is_some(),
        "hostaddr" => !config.get_hostaddrs().is_empty(),
        _ => false,
    }
}

/// `base` (a URL without its query) with `parameters` as its query,
/// each percent-encoded.
fn with_query(base: &str, parameters: &[(String, String)]) -> String {
    let mut url = base.to_string();
    for (index, (key, value)) in parameters.iter().enumerate() {
        url.push(if index == 0 { '?' } else { '&' });
        url.push_str(&percent_encoded(key));
        url.push('=');
        url.push_str(&percent_encoded(value));
    }
    url
}

fn percent_encoded(text: &str) -> String {
    let mut encoded = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            encoded.push(byte as char);
        } else {
            encoded.push_str(&format!("%{byte:02X}"));
        }
    }
    encoded
}

/// A URL query's key or value with its `%XX` escapes decoded (libpq reads
/// `+` as itself); the error says what is wrong, never the text.
fn percent_decoded(text: &str) -> Result<String, &'static str> {
    let bytes = text.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        if bytes[index] == b'%' {
            let hex = bytes
                .get(index + 1..index + 3)
                .and_then(|hex| std::str::from_utf8(hex).ok())
                .and_then(|hex| u8::from_str_radix(hex, 16).ok())
                .ok_or("holds an invalid percent-encoded token")?;
            decoded.push(hex);
            index += 3;
        } else {
            decoded.push(bytes[index]);
            index += 1;
        }
    }
    String::from_utf8(decoded).map_err(|_| "is not UTF-8 once decoded")
}

fn add_host(config: &mut Config, host: &str) {
    if host.starts_with('/') {
        config.host_path(host);
    } else {
        config.host(host);
    }
}

/// The password `~/.pgpass` (or `passfile=`, `PGPASSFILE`) gives for the first host,
/// port, database and user, as libpq matches them: `*` matches anything,
/// `\` escapes `:` and `\`. As libpq does, a file readable by others is
/// ignored.
fn pgpass_password(config: &Config, passfile: Option<String>) -> Option<String> {
    let file = match passfile {
        Some(file) => PathBuf::from(file),
        None => PathBuf::from(std::env::var_os("HOME")?).join(".pgpass"),
    };
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&file).ok()?.permissions().mode();
        if mode & 0o077 != 0 {
            return None;
        }
    }
    let text = std::fs::read_to_string(&file).ok()?;
    let host = match config.get_hosts().first()? {
        Host::Tcp(name) => name.clone(),
        // libpq matches a socket connection as `localhost`.
        #[cfg(unix)]
        Host::Unix(_) => "localhost".to_string(),
    };
    let port = config
        .get_ports()
        .first()
        .copied()
        .unwrap_or(5432)
        .to_string();
    let wanted = [
        host.as_str(),
        port.as_str(),
        config.get_dbname().unwrap_or(""),
        config.get_user().unwrap_or(""),
    ];
    text.lines()
        .filter(|line| !line.trim_start().starts_with('#'))
        .find_map(|line| {
            let fields = pgpass_fields(line);
            if fields.len() != 5 {
                return None;
            }
            let matches = fields[..4]
                .iter()
                .zip(wanted)
                .all(|(field, wanted)| field == "*" || field == wanted);
            matches.then(|| fields[4].clone())
        })
}

/// A `.pgpass` line's fields: `:` separates, `\` escapes.
fn pgpass_fields(line: &str) -> Vec<String> {
    let mut fields = vec![String::new()];
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                if let Some(next) = chars.next() {
                    fields.last_mut().expect("one field").push(next);
                }
            }
            ':' => fields.push(String::new()),
            c => fields.last_mut().expect("one field").push(c),
        }
    }
    fields
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_password_is_never_shown() {
        assert_eq!(
            shown_url("postgresql://ana:s3cr%40t@db.example:5433/scores?sslmode=disable"),
            "postgresql://ana@db.example:5433/scores?sslmode=disable"
        );
        assert_eq!(
            shown_url("postgres://ana:p@ss@db/scores"),
            "postgres://ana@db/scores"
        );
        assert_eq!(
            shown_url("postgresql://db/scores?password=hunter2&application_name=x"),
            "postgresql://db/scores?application_name=x"
        );
        assert_eq!(
            shown_url("postgresql://db/scores?sslmode=verify-full&sslpassword=k3y&pass%77ord=x"),
            "postgresql://db/scores?sslmode=verify-full"
        );
        assert_eq!(
            shown_url("postgresql://%2Ftmp%2Fpg/scores"),
            "postgresql://%2Ftmp%2Fpg/scores"
        );
    }

    #[test]
    fn a_badly_encoded_password_parameter_is_not_repeated() {
        let error = settings_from_url("postgresql://db/scores?password=hunter2%zz")
            .err()
            .expect("refused")
            .to_string();
        assert!(
            error.contains("`password`") && !error.contains("hunter2"),
            "{error}"
        );
    }

    #[test]
    fn urls_are_told_from_paths() {
        assert!(is_postgres_url(Path::new("postgresql://h/db")));
        assert!(is_postgres_url(Path::new("postgres://h/db")));
        assert!(!is_postgres_url(Path::new("second-opinion.db")));
        assert!(!is_postgres_url(Path::new("./postgres:/x.db")));
    }

    #[test]
    fn pgpass_lines_escape_colons() {
        assert_eq!(
            pgpass_fields(r"db\:1:5432:*:ana:pa\:ss"),
            vec!["db:1", "5432", "*", "ana", "pa:ss"]
        );
    }
}
