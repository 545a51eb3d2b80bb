//! TLS to the registry's server, as libpq's `sslmode` defines it.
//!
//! The client knows three modes (disable, prefer, require) and leaves
//! certificates to its connector; libpq's six are built from them:
//!
//! - `disable`: no TLS. `allow`: without TLS first, with it when the
//!   server refuses that. `prefer` (the default): with TLS when the server
//!   offers it, and again without when the TLS attempt fails.
//! - `require`: TLS or nothing; the server's certificate is not checked,
//!   unless the root certificate file (`sslrootcert`, default
//!   `~/.postgresql/root.crt`) exists: then, as in libpq, it is checked as
//!   `verify-ca` checks it.
//! - `verify-ca`: the certificate must chain to a root of that file.
//!   `verify-full`: and name the host connected to (its SAN, else its CN).
//!   Either fails when the file is missing.
//! - `sslrootcert=system`: the system's trusted roots; only `verify-full`
//!   is allowed with it, and is its default.
//!
//! A client certificate (`sslcert`, default `~/.postgresql/postgresql.crt`)
//! is sent when its file exists, with its key (`sslkey`, default
//! `~/.postgresql/postgresql.key`, decrypted with `sslpassword` when it
//! is encrypted; a key others may read is refused, as libpq refuses it).
//! TLS is never tried over a Unix socket: PostgreSQL serves it over TCP
//! only, and libpq ignores `sslmode` there.
//!
//! The connector is OpenSSL's, the library libpq itself uses, so a
//! certificate is accepted or refused as `psql` would.

use std::path::{Path, PathBuf};

use openssl::pkey::PKey;
use openssl::ssl::{SslConnector, SslMethod, SslVerifyMode};
use openssl::x509::store::X509StoreBuilder;
use openssl::x509::X509;
use postgres::config::{Host, SslMode as ClientSslMode};
use postgres::{Client, Config, NoTls};
use postgres_openssl::MakeTlsConnector;

use super::settings::SettingsError;

/// libpq's `sslmode`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SslMode {
    Disable,
    Allow,
    Prefer,
    Require,
    VerifyCa,
    VerifyFull,
}

impl SslMode {
    fn parse(text: &str) -> Result<SslMode, SettingsError> {
        Ok(match text {
            "disable" => SslMode::Disable,
            "allow" => SslMode::Allow,
            "prefer" => SslMode::Prefer,
            "require" => SslMode::Require,
            "verify-ca" => SslMode::VerifyCa,
            "verify-full" => SslMode::VerifyFull,
            other => {
                return Err(SettingsError::Invalid(format!(
                    "sslmode \"{other}\" is not one of disable, allow, prefer, require, \
                     verify-ca, verify-full"
                )))
            }
        })
    }

    fn verifies(self) -> bool {
        matches!(self, SslMode::VerifyCa | SslMode::VerifyFull)
    }
}

/// Where the trusted roots come from.
enum Roots {
    /// None: the server's certificate is not checked.
    Unchecked,
    /// The certificates of a PEM file.
    File(PathBuf),
    /// The system's trust store (`sslrootcert=system`).
    System,
}

/// The TLS settings of a connection. A file named but unusable is an error
/// of the settings (exit 2) before the handshake, not a failed handshake.
pub struct TlsSettings {
    mode: SslMode,
    /// `sslrootcert`, `sslcert`, `sslkey` as given: their files are looked
    /// at only when TLS is tried (never over a socket, as libpq).
    rootcert: Option<String>,
    cert: Option<String>,
    key: Option<String>,
    /// The passphrase of an encrypted client key (`sslpassword`).
    key_password: Option<String>,
}

impl std::fmt::Debug for TlsSettings {
    /// Without the key's passphrase.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsSettings")
            .field("mode", &self.mode)
            .field("rootcert", &self.rootcert)
            .field("cert", &self.cert)
            .field("key", &self.key)
            .finish_non_exhaustive()
    }
}

impl TlsSettings {
    /// The settings from libpq's parameters (each from the URL, the service
    /// or the environment, as the caller found them).
    pub fn new(
        mode: Option<&str>,
        rootcert: Option<String>,
        cert: Option<String>,
        key: Option<String>,
        key_password: Option<String>,
    ) -> Result<TlsSettings, SettingsError> {
        let system = rootcert.as_deref() == Some("system");
        let mode = match mode {
            Some(mode) => SslMode::parse(mode)?,
            None if system => SslMode::VerifyFull,
            None => SslMode::Prefer,
        };
        if system && mode != SslMode::VerifyFull {
            return Err(SettingsError::Invalid(format!(
                "sslmode \"{}\" may not be used with sslrootcert=system: a certificate any \
                 public CA signed proves nothing but the host name (use verify-full)",
                mode_name(mode)
            )));
        }
        Ok(TlsSettings {
            mode,
            rootcert,
            cert,
            key,
            key_password,
        })
    }

    /// The roots to trust and the client certificate to send, from the
    /// files the settings name (or libpq's defaults in ~/.postgresql).
    #[allow(clippy::type_complexity)]
    fn files(&self) -> Result<(Roots, Option<(PathBuf, PathBuf)>), SettingsError> {
        let mode = self.mode;
        let system = self.rootcert.as_deref() == Some("system");
        let postgresql_dir =
            || std::env::var_os("HOME").map(|home| Path::new(&home).join(".postgresql"));
        let roots = if system {
            Roots::System
        } else {
            let file = self
                .rootcert
                .as_ref()
                .map(PathBuf::from)
                .or_else(|| postgresql_dir().map(|dir| dir.join("root.crt")));
            match file {
                Some(file) if file.exists() && mode != SslMode::Disable => Roots::File(file),
                file if mode.verifies() => {
                    return Err(SettingsError::Tls(format!(
                        "sslmode={} checks the server's certificate, but the root certificate \
                         file {} does not exist: give it with sslrootcert=FILE or \
                         PGSSLROOTCERT, use the system's roots with sslrootcert=system, or \
                         use sslmode=require",
                        mode_name(mode),
                        file.map(|file| format!("\"{}\"", file.display()))
                            .unwrap_or_else(|| "(no home directory)".to_string())
                    )))
                }
                _ => Roots::Unchecked,
            }
        };
        let cert = self
            .cert
            .as_ref()
            .map(PathBuf::from)
            .or_else(|| postgresql_dir().map(|dir| dir.join("postgresql.crt")));
        let client = match cert {
            // As libpq: no certificate file, no client certificate.
            Some(cert) if cert.exists() && mode != SslMode::Disable => {
                let key = self
                    .key
                    .as_ref()
                    .map(PathBuf::from)
                    .or_else(|| postgresql_dir().map(|dir| dir.join("postgresql.key")))
                    .unwrap_or_default();
                if !key.exists() {
                    return Err(SettingsError::Tls(format!(
                        "client certificate \"{}\" exists, but not its private key file \"{}\" \
                         (give it with sslkey=FILE or PGSSLKEY)",
                        cert.display(),
                        key.display()
                    )));
                }
                check_key_permissions(&key)?;
                Some((cert, key))
            }
            _ => None,
        };
        Ok((roots, client))
    }

    /// The OpenSSL connector these settings make.
    fn connector(&self) -> Result<MakeTlsConnector, SettingsError> {
        let tls_error = |what: String| {
            move |e: openssl::error::ErrorStack| SettingsError::Tls(format!("{what}: {e}"))
        };
        let (roots, client) = self.files()?;
        let mut builder = SslConnector::builder(SslMethod::tls_client())
            .map_err(tls_error("cannot set up TLS".to_string()))?;
        match &roots {
            Roots::Unchecked => builder.set_verify(SslVerifyMode::NONE),
            Roots::System => {
                builder.set_default_verify_paths().map_err(tls_error(
                    "cannot read the system's trusted roots".to_string(),
                ))?;
                builder.set_verify(SslVerifyMode::PEER);
            }
            Roots::File(file) => {
                // Only this file's roots: the connector would otherwise
                // also trust the system's, which libpq does not.
                let shown = file.display().to_string();
                let pem = std::fs::read(file).map_err(|e| {
                    SettingsError::Tls(format!("root certificate file \"{shown}\": {e}"))
                })?;
                let roots = X509::stack_from_pem(&pem).map_err(tls_error(format!(
                    "root certificate file \"{shown}\" is not PEM certificates"
                )))?;
                let mut store =
                    X509StoreBuilder::new().map_err(tls_error("cannot set up TLS".to_string()))?;
                for root in roots {
                    store
                        .add_cert(root)
                        .map_err(tls_error(format!("root certificate file \"{shown}\"")))?;
                }
                builder.set_cert_store(store.build());
                builder.set_verify(SslVerifyMode::PEER);
            }
        }
        if let Some((cert, key)) = &client {
            let cert_shown = cert.display().to_string();
            builder
                .set_certificate_chain_file(cert)
                .map_err(tls_error(format!("client certificate \"{cert_shown}\"")))?;
            let key_shown = key.display().to_string();
            let pem = std::fs::read(key).map_err(|e| {
                SettingsError::Tls(format!("private key file \"{key_shown}\": {e}"))
            })?;
            // Never a prompt on the terminal: an encrypted key without
            // sslpassword fails to decrypt, as with libpq.
            let passphrase = self.key_password.as_deref().unwrap_or("");
            let private_key = PKey::private_key_from_pem_passphrase(&pem, passphrase.as_bytes())
                .map_err(|_| {
                    SettingsError::Tls(format!(
                        "private key file \"{key_shown}\" cannot be read: not a PEM key, or \
                         encrypted and sslpassword is missing or wrong"
                    ))
                })?;
            builder
                .set_private_key(&private_key)
                .and_then(|()| builder.check_private_key())
                .map_err(tls_error(format!(
                    "private key file \"{key_shown}\" does not match \"{cert_shown}\""
                )))?;
        }
        let mut connector = MakeTlsConnector::new(builder.build());
        let check_name = self.mode == SslMode::VerifyFull;
        connector.set_callback(move |connection, _host| {
            connection.set_verify_hostname(check_name);
            Ok(())
        });
        Ok(connector)
    }
}

/// libpq's name of `mode`.
fn mode_name(mode: SslMode) -> &'static str {
    match mode {
        SslMode::Disable => "disable",
        SslMode::Allow => "allow",
        SslMode::Prefer => "prefer",
        SslMode::Require => "require",
        SslMode::VerifyCa => "verify-ca",
        SslMode::VerifyFull => "verify-full",
    }
}

/// libpq refuses a private key others may read, unless root owns it and
/// only its group may (a key shared with a system service).
fn check_key_permissions(key: &Path) -> Result<(), SettingsError> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        let metadata = std::fs::metadata(key).map_err(|e| {
            SettingsError::Tls(format!("private key file \"{}\": {e}", key.display()))
        })?;
        let mode = metadata.mode();
        let allowed = if metadata.uid() == 0 { 0o037 } else { 0o077 };
        if mode & allowed != 0 {
            return Err(SettingsError::Tls(format!(
                "private key file \"{}\" has group or world access; permissions should be \
                 u=rw (0600) or less",
                key.display()
            )));
        }
    }
    Ok(())
}

/// A connection made as `tls` says, to the servers `config` names.
pub fn connect(config: &Config, tls: &TlsSettings) -> Result<Client, ConnectFailure> {
    let over_sockets_only = config
        .get_hosts()
        .iter()
        .all(|host| !matches!(host, Host::Tcp(_)))
        && config.get_hostaddrs().is_empty();
    if tls.mode == SslMode::Disable || over_sockets_only {
        return plain(config);
    }
    let connector = tls.connector().map_err(ConnectFailure::Settings)?;
    match tls.mode {
        SslMode::Disable => plain(config),
        SslMode::Allow => {
            plain(config).or_else(|_| encrypted(config, ClientSslMode::Require, connector))
        }
        SslMode::Prefer => {
            encrypted(config, ClientSslMode::Prefer, connector).or_else(|_| plain(config))
        }
        SslMode::Require | SslMode::VerifyCa | SslMode::VerifyFull => {
            encrypted(config, ClientSslMode::Require, connector)
        }
    }
}

/// Why no connection was made.
#[derive(Debug)]
pub enum ConnectFailure {
    /// The TLS settings cannot be used (a file, a key).
    Settings(SettingsError),
    /// The server could not be reached or refused.
    Server(postgres::Error),
}

fn plain(config: &Config) -> Result<Client, ConnectFailure> {
    let mut config = config.clone();
    config.ssl_mode(ClientSslMode::Disable);
    config.connect(NoTls).map_err(ConnectFailure::Server)
}

fn encrypted(
    config: &Config,
    mode: ClientSslMode,
    connector: MakeTlsConnector,
) -> Result<Client, ConnectFailure> {
    let mut config = config.clone();
    config.ssl_mode(mode);
    config.connect(connector).map_err(ConnectFailure::Server)
}

/// What to add to a TLS failure's message so the user knows which
/// setting it is about.
pub fn hint(message: &str) -> Option<&'static str> {
    if message.contains("certificate verify failed") {
        if message.contains("hostname mismatch") || message.contains("Hostname mismatch") {
            return Some(
                "the server's certificate does not name the host connected to (sslmode=verify-full \
                 checks it; connect by the name the certificate holds, or use verify-ca)",
            );
        }
        return Some(
            "the server's certificate is not signed by a root of sslrootcert (PGSSLROOTCERT, \
             default ~/.postgresql/root.crt): give the CA that signed it",
        );
    }
    if message.contains("server does not support TLS") {
        return Some(
            "the server does not accept TLS (ssl = off in its postgresql.conf): use sslmode=prefer \
             or disable, or turn TLS on at the server",
        );
    }
    None
}
