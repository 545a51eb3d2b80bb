//! How the binary reaches a PostgreSQL registry (issue #17): TLS as
//! libpq's `sslmode` defines it, and connection service files, end to end
//! against the test cluster (`tests/postgres/cluster.sh`, which listens on
//! 127.0.0.1 with TLS and a throw-away CA beside its socket).
//!
//! Every run gets a home directory and environment of its own (no `PG*`
//! variable of the caller's, no `~/.postgresql/`, `~/.pg_service.conf` or
//! `~/.pgpass` but the test's), so the sources libpq reads are exactly the
//! test's.

mod common;

use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::Command;

use common::{Run, Workspace};

/// The test cluster: its socket URL, its TCP port, its CA and another CA.
struct Cluster {
    socket_url: String,
    port: u16,
    ca: PathBuf,
    other_ca: PathBuf,
}

/// The cluster of `SECOND_OPINION_TEST_POSTGRES` (see tests/backends.rs),
/// with the TCP port and certificates cluster.sh made beside its socket.
fn cluster() -> Option<Cluster> {
    let required = std::env::var("SECOND_OPINION_REQUIRE_POSTGRES").as_deref() == Ok("1");
    let Some(url) = std::env::var("SECOND_OPINION_TEST_POSTGRES")
        .ok()
        .filter(|url| !url.is_empty())
    else {
        assert!(
            !required,
            "SECOND_OPINION_REQUIRE_POSTGRES=1 but SECOND_OPINION_TEST_POSTGRES is not set"
        );
        eprintln!(
            "note: SECOND_OPINION_TEST_POSTGRES is not set: PostgreSQL connection tests skipped"
        );
        return None;
    };
    // postgresql://postgres@%2Fpath%2Fto%2Fdir:PORT/postgres
    let authority = url
        .split_once('@')
        .map(|(_, rest)| rest.split('/').next().unwrap_or(""))
        .unwrap_or("");
    let socket_dir = authority
        .rsplit_once(':')
        .map_or(authority, |(dir, _)| dir)
        .replace("%2F", "/")
        .replace("%2f", "/");
    let dir = PathBuf::from(socket_dir);
    let port = std::fs::read_to_string(dir.join("port"))
        .ok()
        .and_then(|port| port.trim().parse().ok());
    let ca = dir.join("tls/ca.crt");
    let Some(port) = port.filter(|_| ca.exists()) else {
        assert!(
            !required,
            "{url}: not a cluster of tests/postgres/cluster.sh with TLS (no {}/port or tls/ca.crt)",
            dir.display()
        );
        eprintln!("note: {url} has no TCP port and test CA: TLS tests skipped");
        return None;
    };
    Some(Cluster {
        socket_url: url,
        port,
        other_ca: dir.join("tls/other-ca.crt"),
        ca,
    })
}

/// A database of the test's own on the cluster, dropped at the end.
struct Database {
    admin_url: String,
    name: String,
}

impl Database {
    fn create(cluster: &Cluster, test: &str) -> Database {
        let name = format!("so_conn_{}_{}", test, std::process::id());
        let mut admin = postgres::Client::connect(&cluster.socket_url, postgres::NoTls)
            .unwrap_or_else(|e| panic!("connect to {}: {e}", cluster.socket_url));
        for statement in [
            format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
            format!("CREATE DATABASE {name}"),
        ] {
            admin
                .batch_execute(&statement)
                .expect("create the test database");
        }
        Database {
            admin_url: cluster.socket_url.clone(),
            name,
        }
    }

    /// The score rows the registry in this database holds.
    fn score_rows(&self) -> i64 {
        let (base, _) = self
            .admin_url
            .rsplit_once('/')
            .expect("a URL with a database");
        let mut client =
            postgres::Client::connect(&format!("{base}/{}", self.name), postgres::NoTls)
                .expect("connect to the test database");
        client
            .query_one("SELECT count(*) FROM scores", &[])
            .map(|row| row.get(0))
            .unwrap_or(0)
    }
}

impl Drop for Database {
    fn drop(&mut self) {
        if let Ok(mut admin) = postgres::Client::connect(&self.admin_url, postgres::NoTls) {
            let _ = admin.batch_execute(&format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                self.name
            ));
        }
    }
}

/// A workspace whose runs see only the environment the test gives: HOME
/// is the workspace, and no `PG*` variable of the caller's.
struct Scene {
    ws: Workspace,
}

impl Scene {
    fn new() -> Scene {
        let scene = Scene {
            ws: Workspace::new(),
        };
        scene
            .ws
            .write("dover.csv", "key,score\na.mp4,0.5\nb.mp4,0.7\n");
        scene.ws.write("clips.csv", "key\na.mp4\nb.mp4\nc.mp4\n");
        std::fs::create_dir_all(scene.ws.path("sysconf")).unwrap();
        scene
    }

    fn command(&self, env: &[(&str, &str)]) -> Command {
        let mut command = self.ws.bare();
        for (name, _) in std::env::vars() {
            if name.starts_with("PG") {
                command.env_remove(name);
            }
        }
        command
            .env("HOME", self.ws.dir.path())
            .env("PGSYSCONFDIR", self.ws.path("sysconf"));
        for (name, value) in env {
            command.env(name, value);
        }
        command
    }

    /// Run the binary against `registry` with `env` set.
    fn run(&self, registry: &str, env: &[(&str, &str)], args: &[&str]) -> Run {
        Run::from(
            self.command(env)
                .arg("--registry")
                .arg(registry)
                .args(args)
                .output()
                .expect("run second-opinion"),
        )
    }

    /// Ingest and export through `registry`: both succeed.
    fn ingest_and_export(&self, registry: &str, env: &[(&str, &str)]) {
        self.run(registry, env, &["ingest", "DOVER=dover.csv"]).ok();
        self.run(
            registry,
            env,
            &["export", "--features", "clips.csv", "--out", "out.csv"],
        )
        .ok();
        let out = std::fs::read_to_string(self.ws.path("out.csv")).unwrap();
        assert!(out.contains("a.mp4,0.5,ok"), "{out}");
    }
}

fn path(path: &std::path::Path) -> &str {
    path.to_str().expect("a UTF-8 path")
}

fn assert_hidden(run: &Run, secret: &str) {
    assert!(
        !run.stdout.contains(secret) && !run.stderr.contains(secret),
        "the password is shown:\n{}\n{}",
        run.stdout,
        run.stderr
    );
}

/// `sslmode=require` on TCP: TLS without checking the certificate, as
/// libpq; ingest and export go through it. (Without TLS it could not
/// connect: see `require_against_a_server_without_tls_fails_clearly`.)
#[test]
fn ingest_and_export_over_tls_with_sslmode_require() {
    let Some(cluster) = cluster() else { return };
    let db = Database::create(&cluster, "require");
    let scene = Scene::new();
    let url = format!(
        "postgresql://postgres@127.0.0.1:{}/{}?sslmode=require",
        cluster.port, db.name
    );
    scene.ingest_and_export(&url, &[]);
    assert_eq!(db.score_rows(), 2);
    // The mode from the environment, as libpq reads PGSSLMODE.
    let bare = format!(
        "postgresql://postgres@127.0.0.1:{}/{}",
        cluster.port, db.name
    );
    scene
        .run(&bare, &[("PGSSLMODE", "require")], &["scorers"])
        .ok();
    // The default (prefer) on TCP: TLS, offered by the server.
    scene.run(&bare, &[], &["scorers"]).ok();
}

/// `verify-full` with the CA that signed the server's certificate and
/// the name it holds succeeds, from the URL or from PGSSLROOTCERT; and
/// libpq's rule that `require` verifies the chain when
/// `~/.postgresql/root.crt` exists holds.
#[test]
fn verify_full_with_the_right_ca_and_host_succeeds() {
    let Some(cluster) = cluster() else { return };
    let db = Database::create(&cluster, "verify_full");
    let scene = Scene::new();
    let url = format!(
        "postgresql://postgres@localhost:{}/{}?sslmode=verify-full&sslrootcert={}",
        cluster.port,
        db.name,
        path(&cluster.ca)
    );
    scene.ingest_and_export(&url, &[]);
    assert_eq!(db.score_rows(), 2);
    let bare = format!(
        "postgresql://postgres@localhost:{}/{}",
        cluster.port, db.name
    );
    scene
        .run(
            &bare,
            &[
                ("PGSSLMODE", "verify-ca"),
                ("PGSSLROOTCERT", path(&cluster.ca)),
            ],
            &["scorers"],
        )
        .ok();

    // ~/.postgresql/root.crt: a wrong root there makes `require` fail as
    // verify-ca would, while `prefer` falls back to a connection without
    // TLS, as libpq's do.
    scene.ws.write(
        ".postgresql/root.crt",
        std::fs::read(&cluster.other_ca).unwrap(),
    );
    let refused = scene
        .run(&bare, &[("PGSSLMODE", "require")], &["scorers"])
        .fails_with(1);
    assert!(
        refused.stderr.contains("certificate verify failed"),
        "{}",
        refused.stderr
    );
    scene
        .run(&bare, &[("PGSSLMODE", "prefer")], &["scorers"])
        .ok();
    scene
        .ws
        .write(".postgresql/root.crt", std::fs::read(&cluster.ca).unwrap());
    scene
        .run(&bare, &[("PGSSLMODE", "verify-full")], &["scorers"])
        .ok();
}

/// A root that did not sign the server's certificate, or a host name the
/// certificate does not hold: exit 1 saying which, the password unshown;
/// no root at all for a verifying mode: a usage error.
#[test]
fn a_wrong_ca_or_host_fails_clearly_without_the_password() {
    let Some(cluster) = cluster() else { return };
    let db = Database::create(&cluster, "wrong_ca");
    let scene = Scene::new();
    let secret = "tls-S3cret-pw";
    for mode in ["verify-ca", "verify-full"] {
        let url = format!(
            "postgresql://postgres:{secret}@localhost:{}/{}?sslmode={mode}&sslrootcert={}",
            cluster.port,
            db.name,
            path(&cluster.other_ca)
        );
        let run = scene
            .run(&url, &[], &["ingest", "DOVER=dover.csv"])
            .fails_with(1);
        assert_hidden(&run, secret);
        assert!(
            run.stderr.contains("postgres@localhost")
                && run.stderr.contains("certificate verify failed")
                && run.stderr.contains("not signed by a root of sslrootcert"),
            "{}",
            run.stderr
        );
    }
    assert_eq!(db.score_rows(), 0);

    // The right CA, but connected by a name the certificate does not hold.
    let url = format!(
        "postgresql://postgres:{secret}@wrong.example:{}/{}?hostaddr=127.0.0.1&sslmode=verify-full&sslrootcert={}",
        cluster.port,
        db.name,
        path(&cluster.ca)
    );
    let run = scene.run(&url, &[], &["scorers"]).fails_with(1);
    assert_hidden(&run, secret);
    assert!(
        run.stderr.contains("does not name the host"),
        "{}",
        run.stderr
    );
    // verify-ca does not check the name.
    let url = url.replace("verify-full", "verify-ca");
    scene.run(&url, &[], &["ingest", "DOVER=dover.csv"]).ok();
    // The address from PGHOSTADDR, as libpq reads it.
    let by_name = format!(
        "postgresql://postgres@wrong.example:{}/{}?sslmode=verify-ca&sslrootcert={}",
        cluster.port,
        db.name,
        path(&cluster.ca)
    );
    scene
        .run(&by_name, &[("PGHOSTADDR", "127.0.0.1")], &["scorers"])
        .ok();

    // No root certificate file for a verifying mode: the user's to fix.
    let url = format!(
        "postgresql://postgres:{secret}@localhost:{}/{}?sslmode=verify-full",
        cluster.port, db.name
    );
    let run = scene.run(&url, &[], &["scorers"]).fails_with(2);
    assert_hidden(&run, secret);
    assert!(
        run.stderr.contains("root.crt\" does not exist") && run.stderr.contains("sslrootcert"),
        "{}",
        run.stderr
    );
    let run = scene
        .run(&url.replace("verify-full", "strict"), &[], &["scorers"])
        .fails_with(2);
    assert!(
        run.stderr.contains("sslmode \"strict\" is not one of"),
        "{}",
        run.stderr
    );
}

/// A listener that answers the TLS request with "no", as a server with
/// `ssl = off` does, then closes.
fn listener_without_tls() -> (u16, std::thread::JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    // Bounded: a run that never connects must not hang the test.
    listener.set_nonblocking(true).unwrap();
    let handle = std::thread::spawn(move || {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        let accepted = loop {
            match listener.accept() {
                Ok((stream, _)) => break Some(stream),
                Err(_) if std::time::Instant::now() < deadline => {
                    std::thread::sleep(std::time::Duration::from_millis(20))
                }
                Err(_) => break None,
            }
        };
        if let Some(mut stream) = accepted {
            stream.set_nonblocking(false).unwrap();
            let mut request = [0u8; 8];
            if stream.read_exact(&mut request).is_ok() {
                // SSLRequest: length 8, code 80877103.
                assert_eq!(&request[4..], &80877103u32.to_be_bytes());
                let _ = stream.write_all(b"N");
            }
        }
    });
    (port, handle)
}

/// `sslmode=require` against a server that does not do TLS: exit 1
/// naming the cause, nothing sent in the clear (not even the password).
#[test]
fn require_against_a_server_without_tls_fails_clearly() {
    // No cluster needed; but run with the others so CI covers it.
    let scene = Scene::new();
    let (port, listener) = listener_without_tls();
    let secret = "plain-S3cret-pw";
    let url = format!("postgresql://ana:{secret}@127.0.0.1:{port}/scores?sslmode=require");
    let run = scene
        .run(&url, &[], &["ingest", "DOVER=dover.csv"])
        .fails_with(1);
    listener.join().unwrap();
    assert_hidden(&run, secret);
    assert!(
        run.stderr.contains("server does not support TLS")
            && run.stderr.contains("does not accept TLS"),
        "{}",
        run.stderr
    );
}

/// A service file names the registry: `PGSERVICEFILE` + `PGSERVICE`, or
/// `service=` in the URL; the URL's parameters win over the service's,
/// the service's over the environment's; the password it holds is never
/// shown.
#[test]
fn a_service_selects_the_database() {
    let Some(cluster) = cluster() else { return };
    let first = Database::create(&cluster, "service_a");
    let second = Database::create(&cluster, "service_b");
    let scene = Scene::new();
    let secret = "svc-S3cret-pw";
    let services = format!(
        "# the team's registries\n\
         [scores]\n\
         host=localhost\n\
         port={port}\n\
         user=postgres\n\
         password={secret}\n\
         dbname={first}\n\
         sslmode=verify-full\n\
         sslrootcert={ca}\n\
         \n\
         [scores-b]\n\
         host=127.0.0.1\n\
         port={port}\n\
         user=postgres\n\
         dbname={second}\n",
        port = cluster.port,
        first = first.name,
        second = second.name,
        ca = path(&cluster.ca),
    );
    let file = scene.ws.write("services.conf", services);
    let file = path(&file);
    // PGSERVICE names it; PGDATABASE loses to the service's dbname.
    scene.ingest_and_export(
        "postgresql://",
        &[
            ("PGSERVICEFILE", file),
            ("PGSERVICE", "scores"),
            ("PGDATABASE", "nosuchdb"),
        ],
    );
    assert_eq!((first.score_rows(), second.score_rows()), (2, 0));
    // service= in the URL; it wins over PGSERVICE.
    let run = scene.run(
        "postgresql:///?service=scores-b",
        &[("PGSERVICEFILE", file), ("PGSERVICE", "scores")],
        &["ingest", "DOVER=dover.csv"],
    );
    run.ok();
    assert_eq!((first.score_rows(), second.score_rows()), (2, 2));
    // The URL's database wins over the service's: a database that does
    // not exist fails, naming it and not the password.
    let run = scene
        .run(
            "postgresql:///so_conn_nosuch?service=scores",
            &[("PGSERVICEFILE", file)],
            &["scorers"],
        )
        .fails_with(1);
    assert_hidden(&run, secret);
    assert!(run.stderr.contains("so_conn_nosuch"), "{}", run.stderr);
    // The system file, PGSYSCONFDIR/pg_service.conf, when the user's has
    // no such service.
    std::fs::copy(file, scene.ws.path("sysconf/pg_service.conf")).unwrap();
    scene
        .run("postgresql://?service=scores", &[], &["scorers"])
        .ok();
    // .pgpass's password is never shown either.
    let pgpass = scene.ws.write(".pgpass", format!("*:*:*:*:{secret}\n"));
    set_mode(&pgpass, 0o600);
    let run = scene
        .run(
            "postgresql:///so_conn_nosuch?service=scores-b",
            &[("PGSERVICEFILE", file)],
            &["scorers"],
        )
        .fails_with(1);
    assert_hidden(&run, secret);
}

/// A service no file defines is a usage error naming it and the files
/// searched; a malformed line of the service names its file and line.
#[test]
fn an_unknown_service_or_a_malformed_line_is_a_usage_error() {
    let scene = Scene::new();
    let file = scene
        .ws
        .write("services.conf", "[scores]\nhost=localhost\nport 5432\n");
    let file = path(&file);
    let run = scene
        .run(
            "postgresql://",
            &[("PGSERVICEFILE", file), ("PGSERVICE", "nosuch")],
            &["scorers"],
        )
        .fails_with(2);
    assert!(
        run.stderr.contains("service \"nosuch\" is not defined")
            && run.stderr.contains(file)
            && run.stderr.contains("sysconf/pg_service.conf"),
        "{}",
        run.stderr
    );
    let run = scene
        .run(
            "postgresql://?service=scores",
            &[("PGSERVICEFILE", file)],
            &["ingest", "DOVER=dover.csv"],
        )
        .fails_with(2);
    assert!(
        run.stderr.contains(&format!("{file}:3: ")),
        "{}",
        run.stderr
    );
    // A parameter libpq knows but this tool does not honour is refused,
    // named, rather than connecting with less than asked.
    let run = scene
        .run(
            "postgresql://localhost/x?sslcrl=/etc/crl.pem",
            &[],
            &["scorers"],
        )
        .fails_with(2);
    assert!(
        run.stderr.contains("unknown option `sslcrl`"),
        "{}",
        run.stderr
    );
}

/// A client certificate: sent from `~/.postgresql/postgresql.crt` (or
/// `sslcert`/`sslkey`), which the test cluster demands of `so_cert_user`
/// over TCP; its key refused when others may read it, decrypted with
/// `sslpassword` when encrypted (never shown).
#[test]
fn a_client_certificate_is_sent_with_its_key() {
    let Some(cluster) = cluster() else { return };
    let db = Database::create(&cluster, "client_cert");
    let mut admin = postgres::Client::connect(&cluster.socket_url, postgres::NoTls).unwrap();
    // The role may exist from an earlier run of the suite on this cluster.
    let _ = admin.batch_execute("CREATE ROLE so_cert_user LOGIN SUPERUSER");
    let scene = Scene::new();
    let tls_dir = cluster.ca.parent().unwrap();
    let copy_private = |from: &str, to: &str| {
        let path = scene
            .ws
            .write(to, std::fs::read(tls_dir.join(from)).unwrap());
        set_mode(&path, 0o600);
        path
    };
    let url = format!(
        "postgresql://so_cert_user@localhost:{}/{}?sslmode=verify-full&sslrootcert={}",
        cluster.port,
        db.name,
        path(&cluster.ca)
    );
    // Without a certificate the server refuses the role.
    let refused = scene.run(&url, &[], &["scorers"]).fails_with(1);
    assert!(refused.stderr.contains("certificate"), "{}", refused.stderr);
    // Nor without TLS.
    let refused = scene
        .run(&url.replace("verify-full", "disable"), &[], &["scorers"])
        .fails_with(1);
    assert!(refused.stderr.contains("pg_hba.conf"), "{}", refused.stderr);
    // The default files.
    scene.ws.write(
        ".postgresql/postgresql.crt",
        std::fs::read(tls_dir.join("client.crt")).unwrap(),
    );
    let key = copy_private("client.key", ".postgresql/postgresql.key");
    scene.ingest_and_export(&url, &[]);
    assert_eq!(db.score_rows(), 2);
    // `allow` tries without TLS first; the server refuses the role that
    // way (hostssl only), and the second try, with TLS, gets in.
    scene
        .run(&url.replace("verify-full", "allow"), &[], &["scorers"])
        .ok();
    // A key others may read is refused before connecting, as by libpq.
    set_mode(&key, 0o644);
    let run = scene.run(&url, &[], &["scorers"]).fails_with(2);
    assert!(
        run.stderr.contains("group or world access"),
        "{}",
        run.stderr
    );
    set_mode(&key, 0o600);

    // Named files, the key encrypted: sslpassword decrypts it.
    let secret = "key-S3cret-pw";
    let encrypted = scene.ws.path("encrypted.key");
    let status = Command::new("openssl")
        .args(["pkey", "-aes256", "-passout"])
        .arg(format!("pass:{secret}"))
        .arg("-in")
        .arg(tls_dir.join("client.key"))
        .arg("-out")
        .arg(&encrypted)
        .status()
        .expect("run openssl");
    assert!(status.success());
    set_mode(&encrypted, 0o600);
    std::fs::remove_file(scene.ws.path(".postgresql/postgresql.key")).unwrap();
    let named = format!(
        "{url}&sslcert={}&sslkey={}",
        path(&tls_dir.join("client.crt")),
        path(&encrypted)
    );
    let run = scene.run(&named, &[], &["scorers"]).fails_with(2);
    assert!(
        run.stderr.contains("sslpassword is missing or wrong"),
        "{}",
        run.stderr
    );
    let run = scene
        .run(&format!("{named}&sslpassword={secret}"), &[], &["scorers"])
        .ok();
    assert_hidden(&run, secret);
    // Its certificate without a key file: refused, naming both.
    let run = scene
        .run(
            &url,
            &[("PGSSLKEY", "/nonexistent/client.key")],
            &["scorers"],
        )
        .fails_with(2);
    assert!(
        run.stderr.contains("/nonexistent/client.key"),
        "{}",
        run.stderr
    );
}

fn set_mode(path: &std::path::Path, mode: u32) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
    }
}

/// Over a Unix socket `sslmode` is ignored, as libpq ignores it
/// (PostgreSQL serves TLS over TCP only): a team's `PGSSLMODE=verify-full`
/// does not stop a job on the server's own machine, even without a root
/// certificate file.
#[test]
fn sslmode_is_ignored_over_a_unix_socket() {
    let Some(cluster) = cluster() else { return };
    let db = Database::create(&cluster, "socket");
    let scene = Scene::new();
    let (base, _) = cluster.socket_url.rsplit_once('/').unwrap();
    let url = format!("{base}/{}", db.name);
    scene.ingest_and_export(&url, &[("PGSSLMODE", "verify-full")]);
    scene
        .run(&format!("{url}?sslmode=require"), &[], &["scorers"])
        .ok();
    assert_eq!(db.score_rows(), 2);
}
