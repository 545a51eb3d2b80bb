//! Where a PostgreSQL registry is, and how it is shown.
//!
//! A registry is named by a URL (`postgresql://user@host:port/db?…`,
//! `postgres://…`). What the URL leaves out is taken from libpq's usual
//! sources, as `psql` would: `PGHOST`, `PGPORT`, `PGUSER`, `PGPASSWORD`,
//! `PGDATABASE`, `PGSSLMODE`, and `~/.pgpass` (or `PGPASSFILE`). The
//! `postgres` crate reads none of them itself.
//!
//! A password never leaves this file: the URL is shown everywhere (messages,
//! export records) through [`shown_url`], which drops it.

use std::path::Path;
use std::str::FromStr;

use postgres::config::{Host, SslMode};
use postgres::Config;

/// Whether `location` (a `--registry` value) names a PostgreSQL registry.
pub fn is_postgres_url(location: &Path) -> bool {
    location
        .to_str()
        .is_some_and(|text| text.starts_with("postgresql://") || text.starts_with("postgres://"))
}

/// The URL without its password: the user-info's `:password` and any
/// `password=` parameter are dropped, so it can be shown and recorded.
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
            .filter(|pair| !pair.to_ascii_lowercase().starts_with("password="))
            .collect();
        if !kept.is_empty() {
            shown.push('?');
            shown.push_str(&kept.join("&"));
        }
    }
    shown
}

/// The connection settings of `url`, completed from the environment as
/// libpq completes them. Errors never hold the password.
pub fn config_from_url(url: &str) -> Result<Config, String> {
    let mut config = Config::from_str(url)
        .map_err(|e| format!("not a PostgreSQL URL that second-opinion can read: {e}"))?;
    let env = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    if env("PGSERVICE").is_some() {
        // pg_service.conf is not read yet: refusing is better than
        // connecting somewhere other than the service the user named.
        return Err(
            "PGSERVICE is set, but service files are not read yet: give the host, \
                    port, user and database in the URL or in PGHOST, PGPORT, PGUSER and \
                    PGDATABASE"
                .to_string(),
        );
    }
    if config.get_hosts().is_empty() {
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
            let port = port
                .parse::<u16>()
                .map_err(|_| format!("PGPORT '{port}' is not a port number"))?;
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
    if !url.contains("sslmode=") {
        if let Some(mode) = env("PGSSLMODE") {
            config.ssl_mode(match mode.as_str() {
                "disable" => SslMode::Disable,
                "allow" | "prefer" => SslMode::Prefer,
                other => {
                    return Err(format!(
                        "PGSSLMODE={other}: TLS connections are not supported yet \
                         (use sslmode=disable or prefer, e.g. over a Unix socket or an SSH tunnel)"
                    ))
                }
            });
        }
    }
    if config.get_ssl_mode() == SslMode::Require {
        return Err("sslmode=require: TLS connections are not supported yet \
                    (use sslmode=disable or prefer, e.g. over a Unix socket or an SSH tunnel)"
            .to_string());
    }
    if config.get_password().is_none() {
        if let Some(password) = env("PGPASSWORD").or_else(|| pgpass_password(&config)) {
            config.password(password);
        }
    }
    config.application_name("second-opinion");
    Ok(config)
}

fn add_host(config: &mut Config, host: &str) {
    if host.starts_with('/') {
        config.host_path(host);
    } else {
        config.host(host);
    }
}

/// The password `~/.pgpass` (or `PGPASSFILE`) gives for the first host,
/// port, database and user, as libpq matches them: `*` matches anything,
/// `\` escapes `:` and `\`. As libpq does, a file readable by others is
/// ignored.
fn pgpass_password(config: &Config) -> Option<String> {
    let file = match std::env::var_os("PGPASSFILE") {
        Some(file) => std::path::PathBuf::from(file),
        None => std::path::PathBuf::from(std::env::var_os("HOME")?).join(".pgpass"),
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
            shown_url("postgresql://%2Ftmp%2Fpg/scores"),
            "postgresql://%2Ftmp%2Fpg/scores"
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
