//! One end-to-end suite for every registry backend (issue #17): each
//! scenario runs the built binary against an SQLite registry file and a
//! PostgreSQL registry, and asserts the same exit codes, messages and
//! outputs on both.
//!
//! PostgreSQL comes from `SECOND_OPINION_TEST_POSTGRES`, a URL of a server
//! on which the tests may create databases (`tests/postgres/cluster.sh
//! start DIR` prints one); each test makes a database of its own, so the
//! tests run in parallel. Without the variable the PostgreSQL half is
//! skipped, with a note, unless `SECOND_OPINION_REQUIRE_POSTGRES=1` (CI),
//! where that is a failure.

mod common;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{Run, Workspace};
use serde_json::Value;

/// The server URL of the tests, if any (see the module docs).
fn server_url() -> Option<String> {
    match std::env::var("SECOND_OPINION_TEST_POSTGRES") {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            let required = std::env::var("SECOND_OPINION_REQUIRE_POSTGRES").as_deref() == Ok("1");
            assert!(
                !required,
                "SECOND_OPINION_REQUIRE_POSTGRES=1 but SECOND_OPINION_TEST_POSTGRES is not set: \
                 the PostgreSQL half of the suite would be skipped"
            );
            eprintln!(
                "note: SECOND_OPINION_TEST_POSTGRES is not set: PostgreSQL scenarios skipped \
                 (tests/postgres/cluster.sh start DIR prints a URL)"
            );
            None
        }
    }
}

/// `url` with its database replaced by `database`.
fn with_database(url: &str, database: &str) -> String {
    let (head, query) = match url.split_once('?') {
        Some((head, query)) => (head, format!("?{query}")),
        None => (url, String::new()),
    };
    let scheme_end = head.find("://").expect("a URL") + 3;
    let base = match head[scheme_end..].find('/') {
        Some(slash) => &head[..scheme_end + slash],
        None => head,
    };
    format!("{base}/{database}{query}")
}

/// A database of the test's own, dropped when the test ends.
struct Database {
    server: String,
    name: String,
    url: String,
}

impl Database {
    fn create(server: &str, test: &str) -> Database {
        let name = format!("so_{}_{}", test, std::process::id());
        let mut admin = postgres::Client::connect(server, postgres::NoTls)
            .unwrap_or_else(|e| panic!("connect to {server}: {e}"));
        admin
            .batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            .expect("drop an old test database");
        admin
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .expect("create the test database");
        Database {
            server: server.to_string(),
            url: with_database(server, &name),
            name,
        }
    }

    fn client(&self) -> postgres::Client {
        postgres::Client::connect(&self.url, postgres::NoTls).expect("connect to the test database")
    }
}

impl Drop for Database {
    fn drop(&mut self) {
        if let Ok(mut admin) = postgres::Client::connect(&self.server, postgres::NoTls) {
            let _ = admin.batch_execute(&format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                self.name
            ));
        }
    }
}

/// One registry of one backend, in a workspace of its own.
struct Target {
    backend: &'static str,
    ws: Workspace,
    /// What `--registry` is given.
    location: String,
    /// How messages name the registry.
    shown: String,
    db: Option<Database>,
}

impl Target {
    fn run(&self, args: &[&str]) -> Run {
        Run::from(
            self.command()
                .args(args)
                .output()
                .expect("run second-opinion"),
        )
    }

    fn command(&self) -> Command {
        let mut command = self.ws.bare();
        command.arg("--registry").arg(&self.location);
        command
    }

    fn spawn(&self, args: &[&str]) -> Child {
        self.command()
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start second-opinion")
    }

    /// `text` with what differs between backends by design replaced:
    /// the workspace, the registry's location, times.
    fn normalised(&self, text: &str) -> String {
        let times = regex::Regex::new(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z").unwrap();
        let text = text
            .replace(&self.shown, "<registry>")
            .replace(&self.location, "<registry>")
            .replace(&self.ws.dir.path().display().to_string(), "<ws>");
        // The content digest of a scores-only table covers ingest times;
        // table contents are compared by `same_file_on_all`.
        let digests = regex::Regex::new(r"\(content [0-9a-f]{12}\)").unwrap();
        let text = times.replace_all(&text, "<time>");
        digests
            .replace_all(&text, "(content <digest>)")
            .into_owned()
    }

    fn write(&self, name: &str, bytes: impl AsRef<[u8]>) {
        self.ws.write(name, bytes);
    }

    fn read(&self, name: &str) -> String {
        std::fs::read_to_string(self.ws.path(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
    }
}

/// The registries a scenario runs against: SQLite always, PostgreSQL when
/// a server is given.
fn targets(test: &str) -> Vec<Target> {
    let ws = Workspace::new();
    let location = ws.registry().display().to_string();
    let mut targets = vec![Target {
        backend: "sqlite",
        shown: location.clone(),
        location,
        ws,
        db: None,
    }];
    if let Some(server) = server_url() {
        let db = Database::create(&server, test);
        targets.push(Target {
            backend: "postgres",
            ws: Workspace::new(),
            location: db.url.clone(),
            shown: second_opinion::registry::postgres::shown_url(&db.url),
            db: Some(db),
        });
    }
    targets
}

/// Run `args` on every target; assert each exits `code` and that all say
/// the same (normalised stdout and stderr). Returns the runs.
fn same_on_all(targets: &[Target], args: &[&str], code: i32) -> Vec<Run> {
    let runs: Vec<Run> = targets.iter().map(|t| t.run(args)).collect();
    let first = &targets[0];
    for (target, run) in targets.iter().zip(&runs) {
        assert_eq!(
            run.code, code,
            "{} {:?}: expected exit {code}\nstdout:\n{}\nstderr:\n{}",
            target.backend, args, run.stdout, run.stderr
        );
        assert_eq!(
            target.normalised(&run.stdout),
            first.normalised(&runs[0].stdout),
            "{:?}: stdout of {} differs from {}",
            args,
            target.backend,
            first.backend
        );
        assert_eq!(
            target.normalised(&run.stderr),
            first.normalised(&runs[0].stderr),
            "{:?}: stderr of {} differs from {}",
            args,
            target.backend,
            first.backend
        );
    }
    runs
}

/// Every target holds the same output file `name` (its times aside).
fn same_file_on_all(targets: &[Target], name: &str) -> String {
    let first = targets[0].normalised(&targets[0].read(name));
    for target in &targets[1..] {
        assert_eq!(
            target.normalised(&target.read(name)),
            first,
            "{name} of {} differs from sqlite's",
            target.backend
        );
    }
    first
}

fn write_all(targets: &[Target], name: &str, bytes: &str) {
    for target in targets {
        target.write(name, bytes);
    }
}

fn postgres_of(targets: &[Target]) -> Option<&Target> {
    targets.iter().find(|t| t.db.is_some())
}

#[test]
fn ingest_rules_and_their_messages_are_the_same() {
    let targets = targets("rules");
    write_all(&targets, "dover1.csv", "key,score\na.mp4,0.5\nb.mp4,0.7\n");
    write_all(&targets, "dover2.csv", "key,score\na.mp4,0.6\nc.mp4,0.1\n");
    write_all(&targets, "dover3.csv", "key,score\nc.mp4,0.2\nd.mp4,0.3\n");
    write_all(&targets, "twice.csv", "key,score\ne.mp4,0.2\ne.mp4,0.3\n");
    write_all(&targets, "broken.csv", "key,score\nf.mp4,0.2\ng.mp4\n");
    // A file with many rows: several COPY batches are not needed for the
    // rules, but the staged path (and its file order) is.
    let mut many = String::from("key,score\n");
    for i in 0..3000 {
        many.push_str(&format!("clip{i:05}.mp4,{}\n", (i % 97) as f64 / 100.0));
    }
    many.push_str("clip00042.mp4,0.5\n");
    write_all(&targets, "many.csv", &many);

    same_on_all(&targets, &["ingest", "DOVER=dover1.csv"], 0);
    same_on_all(&targets, &["ingest", "DOVER=dover1.csv"], 0);
    let refused = same_on_all(&targets, &["ingest", "DOVER=dover2.csv"], 1);
    assert!(
        refused[0].stderr.contains("dover2.csv:2:"),
        "{}",
        refused[0].stderr
    );
    let ignored = same_on_all(&targets, &["ingest", "--ignore", "DOVER=dover2.csv"], 0);
    assert!(
        ignored[0].stderr.contains("1 ignored"),
        "{}",
        ignored[0].stderr
    );
    let replaced = same_on_all(&targets, &["ingest", "--replace", "DOVER=dover3.csv"], 0);
    assert!(
        replaced[0].stderr.contains("1 replaced"),
        "{}",
        replaced[0].stderr
    );
    let twice = same_on_all(&targets, &["ingest", "--replace", "DOVER=twice.csv"], 1);
    assert!(
        twice[0].stderr.contains("twice.csv:3:"),
        "{}",
        twice[0].stderr
    );
    let broken = same_on_all(&targets, &["ingest", "DOVER=broken.csv"], 1);
    assert!(
        broken[0].stderr.contains("broken.csv:3"),
        "{}",
        broken[0].stderr
    );
    let many = same_on_all(&targets, &["ingest", "DOVER=many.csv"], 1);
    assert!(
        many[0].stderr.contains("many.csv:3002:"),
        "{}",
        many[0].stderr
    );
    same_on_all(
        &targets,
        &[
            "ingest",
            "--scorer",
            "DOVER",
            "--scale",
            "0:1",
            "dover1.csv",
        ],
        1,
    );

    // The same bytes under other options: refused, then read again in
    // place of the earlier ingest with --replace.
    same_on_all(
        &targets,
        &["ingest", "--key-strip-prefix", "x/", "DOVER=dover3.csv"],
        1,
    );
    let again = same_on_all(
        &targets,
        &[
            "ingest",
            "--replace",
            "--key-strip-prefix",
            "x/",
            "DOVER=dover3.csv",
        ],
        0,
    );
    assert!(
        again[0].stderr.contains("superseded 2 live rows"),
        "{}",
        again[0].stderr
    );
    let scorers = same_on_all(&targets, &["scorers", "--json"], 0);
    let scorers: Value = serde_json::from_str(&scorers[0].stdout).unwrap();
    assert_eq!(scorers[0]["live_rows"], 4);
    assert_eq!(scorers[0]["superseded_rows"], 3);
    same_on_all(&targets, &["scorers"], 0);
    same_on_all(&targets, &["files", "--json"], 0);
    same_on_all(&targets, &["files"], 0);
}

/// PostgreSQL copies a file's scalar rows straight into `scores` until one
/// meets a live row; then it settles the rows the staged way, from that
/// batch on when the refused copy was the first (under a savepoint), else
/// from the file's start in a new attempt (`postgres/ingest.rs`). Either
/// way a conflict is found and settled as SQLite settles it.
#[test]
fn conflicts_after_rows_went_straight_in_are_settled_alike() {
    let targets = targets("straight");
    // More rows than one batch of 50,000, so the conflicts below come
    // after a batch was copied straight in.
    let batch = 50_000;
    let keys = |prefix: &str, n: usize| -> String {
        (0..n)
            .map(|i| format!("{prefix}{i:06}.mp4,{}\n", (i % 89) as f64 / 100.0))
            .collect()
    };
    let first = format!("key,score\n{}", keys("a", batch + 20));
    write_all(&targets, "first.csv", &first);
    // A key of the first batch again, in the second: refused, naming both
    // lines, and nothing of the file kept.
    let repeated = format!("{first}a000007.mp4,0.5\n");
    write_all(&targets, "repeated.csv", &repeated);
    let refused = same_on_all(&targets, &["ingest", "DOVER=repeated.csv"], 1);
    assert!(
        refused[0]
            .stderr
            .contains(&format!("repeated.csv:{}:", batch + 22)),
        "{}",
        refused[0].stderr
    );
    same_on_all(&targets, &["ingest", "DOVER=first.csv"], 0);
    // The first batch refused: a key of it is live.
    let rerun = same_on_all(&targets, &["ingest", "--ignore", "DOVER=repeated.csv"], 0);
    assert!(
        rerun[0].stderr.contains("0 rows ingested") || rerun[0].stderr.contains("nothing new"),
        "{}",
        rerun[0].stderr
    );
    // New keys for a whole batch, then keys live already, then new ones.
    let mixed = format!(
        "key,score\n{}{}{}",
        keys("b", batch),
        keys("a", 10),
        keys("c", 10)
    );
    write_all(&targets, "mixed.csv", &mixed);
    same_on_all(&targets, &["ingest", "DOVER=mixed.csv"], 1);
    let ignored = same_on_all(&targets, &["ingest", "--ignore", "DOVER=mixed.csv"], 0);
    assert!(
        ignored[0]
            .stderr
            .contains(&format!("{} rows ingested", batch + 10))
            && ignored[0].stderr.contains("10 ignored"),
        "{}",
        ignored[0].stderr
    );
    let scorers = same_on_all(&targets, &["scorers", "--json"], 0);
    let scorers: Value = serde_json::from_str(&scorers[0].stdout).unwrap();
    assert_eq!(scorers[0]["live_rows"], 2 * batch + 30);
    same_on_all(&targets, &["files", "--json"], 0);
}

#[test]
fn exports_live_as_of_and_scores_only_are_the_same() {
    let targets = targets("exports");
    write_all(&targets, "dover1.csv", "key,score\na.mp4,0.5\nb.mp4,0.7\n");
    write_all(&targets, "dover2.csv", "key,score\na.mp4,0.6\nc.mp4,0.1\n");
    write_all(&targets, "musiq.csv", "key,score\nb.mp4,41.5\nc.mp4,nan\n");
    write_all(
        &targets,
        "clips.csv",
        "key,size\na.mp4,1\nb.mp4,2\nc.mp4,3\nd.mp4,4\n",
    );
    let vmaf = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/libvmaf-json/bbb_crf28.json"),
    )
    .unwrap();
    write_all(&targets, "bbb_crf28.json", &vmaf);
    write_all(&targets, "frames.jsonl", "{\"key\": \"bbb_crf28\"}\n");

    same_on_all(&targets, &["ingest", "DOVER=dover1.csv"], 0);
    same_on_all(&targets, &["ingest", "MUSIQ=musiq.csv"], 0);
    same_on_all(&targets, &["ingest", "--replace", "DOVER=dover2.csv"], 0);
    same_on_all(&targets, &["ingest", "bbb_crf28.json"], 0);

    same_on_all(
        &targets,
        &["export", "--features", "clips.csv", "--out", "live.csv"],
        0,
    );
    same_file_on_all(&targets, "live.csv");
    same_on_all(
        &targets,
        &[
            "export",
            "--features",
            "clips.csv",
            "--out",
            "p1.csv",
            "--as-of",
            "seq:1",
            "--tag",
            "first",
        ],
        0,
    );
    let at_first = same_file_on_all(&targets, "p1.csv");
    assert!(at_first.contains("a.mp4,1,0.5,ok"), "{at_first}");
    same_on_all(
        &targets,
        &[
            "export",
            "--features",
            "clips.csv",
            "--out",
            "p2.csv",
            "--as-of",
            "first",
        ],
        0,
    );
    assert_eq!(same_file_on_all(&targets, "p2.csv"), at_first);
    same_on_all(
        &targets,
        &[
            "export",
            "--features",
            "clips.csv",
            "--out",
            "p3.csv",
            "--as-of",
            "seq:2",
        ],
        0,
    );
    same_file_on_all(&targets, "p3.csv");
    same_on_all(
        &targets,
        &[
            "export",
            "--features",
            "clips.csv",
            "--out",
            "p4.csv",
            "--as-of",
            "seq:9",
        ],
        1,
    );
    same_on_all(
        &targets,
        &[
            "export",
            "--features",
            "clips.csv",
            "--out",
            "p4.csv",
            "--as-of",
            "nosuch",
        ],
        1,
    );
    same_on_all(
        &targets,
        &[
            "export",
            "--features",
            "clips.csv",
            "--out",
            "p5.csv",
            "--as-of",
            "3",
        ],
        0,
    );
    same_file_on_all(&targets, "p5.csv");
    same_on_all(
        &targets,
        &["export", "--scores-only", "--out", "scores.csv"],
        0,
    );
    same_file_on_all(&targets, "scores.csv");
    same_on_all(
        &targets,
        &[
            "export",
            "--scores-only",
            "--out",
            "scores1.jsonl",
            "--as-of",
            "seq:2",
        ],
        0,
    );
    same_file_on_all(&targets, "scores1.jsonl");
    // Components and frames (libvmaf), live and at a point.
    same_on_all(
        &targets,
        &[
            "export",
            "--features",
            "frames.jsonl",
            "--out",
            "vmaf.jsonl",
        ],
        0,
    );
    same_file_on_all(&targets, "vmaf.jsonl");
    same_on_all(
        &targets,
        &[
            "export",
            "--features",
            "frames.jsonl",
            "--out",
            "vmaf4.jsonl",
            "--as-of",
            "seq:4",
        ],
        0,
    );
    same_file_on_all(&targets, "vmaf4.jsonl");
    same_on_all(
        &targets,
        &[
            "export",
            "--features",
            "clips.csv",
            "--out",
            "x.csv",
            "--tag",
            "first",
        ],
        1,
    );
}

/// `materialize --registry` and `batch --registry` ingest their score
/// files and record their export in one transaction: the same on both
/// backends, and a file that fails leaves the registry as it was.
#[test]
fn materialize_and_batch_keep_their_scores_alike() {
    let targets = targets("one_transaction");
    write_all(&targets, "features.csv", "key,width\na.mp4,1\nb.mp4,2\n");
    write_all(&targets, "dover.csv", "key,score\na.mp4,0.5\nb.mp4,0.7\n");
    write_all(&targets, "musiq.csv", "key,score\na.mp4,31\nb.mp4,42\n");
    write_all(&targets, "dup.csv", "key,score\na.mp4,1\na.mp4,2\n");
    let materialize = |scores: &[&str], out: &str| -> Vec<String> {
        let mut args = vec!["materialize", "--features", "features.csv", "--out", out];
        for s in scores {
            args.extend(["--scores", s]);
        }
        args.into_iter().map(str::to_string).collect()
    };
    let args = materialize(&["DOVER=dover.csv", "MUSIQ=musiq.csv"], "out.csv");
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    same_on_all(&targets, &args, 0);
    same_file_on_all(&targets, "out.csv");
    same_on_all(&targets, &["files"], 0);
    same_on_all(&targets, &["exports"], 0);
    let before: Vec<String> = targets
        .iter()
        .map(|t| t.run(&["files"]).ok().stdout)
        .collect();

    // The second file fails after the first was ingested: neither is kept.
    write_all(&targets, "dover2.csv", "key,score\na.mp4,0.6\nc.mp4,0.1\n");
    let args = materialize(&["DOVER=dover2.csv", "QA=dup.csv"], "out2.csv");
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    same_on_all(&targets, &args, 1);
    for (target, before) in targets.iter().zip(&before) {
        assert_eq!(
            &target.run(&["files"]).ok().stdout,
            before,
            "{}: the registry after a failed materialize",
            target.backend
        );
        assert!(!target.ws.path("out2.csv").exists(), "{}", target.backend);
    }
    same_on_all(&targets, &["exports"], 0);

    // batch: each table as materialize, into the same registry; a table
    // whose file meets a live score fails alone and keeps nothing.
    let manifest = serde_json::json!({
        "tables": [
            {"id": "t1", "features": "features.csv", "scores": ["DOVER=dover2.csv"],
             "out": "b1.csv"},
            {"id": "t2", "features": "features.csv", "scores": ["QA=dover2.csv"],
             "out": "b2.csv"}
        ]
    });
    write_all(&targets, "m.json", &manifest.to_string());
    same_on_all(&targets, &["batch", "--manifest", "m.json"], 1);
    same_file_on_all(&targets, "b2.csv");
    for target in &targets {
        assert!(!target.ws.path("b1.csv").exists(), "{}", target.backend);
    }
    same_on_all(&targets, &["files"], 0);
    same_on_all(&targets, &["exports"], 0);
    same_on_all(&targets, &["provenance", "--key", "a.mp4"], 0);
}

#[test]
fn a_password_is_never_shown_or_recorded() {
    let targets = targets("password");
    let Some(pg) = postgres_of(&targets) else {
        return;
    };
    let secret = "hunter2-Secret";
    // The test server trusts its socket, so any password is accepted.
    let url = pg
        .location
        .replacen("://postgres@", &format!("://postgres:{secret}@"), 1);
    assert!(url.contains(secret), "{url}");
    pg.write("dover.csv", "key,score\na.mp4,0.5\nb.mp4,0.7\n");
    pg.write("dup.csv", "key,score\na.mp4,0.6\n");
    pg.write("clips.csv", "key\na.mp4\nb.mp4\n");
    let run = |args: &[&str]| {
        Run::from(
            pg.ws
                .bare()
                .arg("--registry")
                .arg(&url)
                .args(args)
                .output()
                .unwrap(),
        )
    };
    let env_run = |args: &[&str]| {
        Run::from(
            pg.ws
                .bare()
                .env("SECOND_OPINION_REGISTRY", &url)
                .args(args)
                .output()
                .unwrap(),
        )
    };
    let runs = vec![
        run(&["ingest", "DOVER=dover.csv"]).ok(),
        run(&["ingest", "DOVER=dup.csv"]).fails_with(1),
        run(&[
            "export",
            "--features",
            "clips.csv",
            "--out",
            "out.csv",
            "--report-json",
            "r.json",
        ])
        .ok(),
        env_run(&["scorers", "--json"]).ok(),
        env_run(&["exports"]).ok(),
        env_run(&["exports", "show", "99"]).fails_with(1),
        run(&["export", "--features", "nosuch.csv", "--out", "o.csv"]).fails_with(1),
    ];
    for run in &runs {
        assert!(
            !run.stdout.contains(secret) && !run.stderr.contains(secret),
            "{}\n{}",
            run.stdout,
            run.stderr
        );
    }
    // The registry is named in messages without it.
    assert!(runs[6].stderr.contains("nosuch.csv"), "{}", runs[6].stderr);
    assert!(
        runs[5].stderr.contains("no export 99"),
        "{}",
        runs[5].stderr
    );
    for file in ["out.csv", "r.json"] {
        assert!(!pg.read(file).contains(secret), "{file}");
    }
    // Nothing recorded in the registry holds it.
    let mut client = pg.db.as_ref().unwrap().client();
    let dump: String = client
        .query_one(
            "SELECT string_agg(t::text, ' ') FROM (SELECT e::text AS t FROM exports e \
             UNION ALL SELECT f::text FROM source_files f UNION ALL SELECT c::text FROM changes c) x",
            &[],
        )
        .unwrap()
        .get(0);
    assert!(dump.contains("out.csv") && !dump.contains(secret), "{dump}");
    // A server that refuses the login names the user, not the password.
    let wrong = url.replace("postgres:", "nosuchuser:");
    let refused = Run::from(
        pg.ws
            .bare()
            .arg("--registry")
            .arg(&wrong)
            .args(["scorers"])
            .output()
            .unwrap(),
    );
    assert_eq!(refused.code, 1, "{}", refused.stderr);
    assert!(
        !refused.stderr.contains(secret) && refused.stderr.contains("nosuchuser"),
        "{}",
        refused.stderr
    );
}

#[test]
fn the_schema_is_tracked_and_a_newer_one_refused() {
    let targets = targets("schema");
    let Some(pg) = postgres_of(&targets) else {
        return;
    };
    let empty = pg.run(&["scorers"]).fails_with(1);
    assert!(
        empty
            .stderr
            .contains("an empty database, not a registry yet"),
        "{}",
        empty.stderr
    );
    pg.write("dover.csv", "key,score\na.mp4,0.5\n");
    pg.run(&["ingest", "DOVER=dover.csv"]).ok();
    let mut client = pg.db.as_ref().unwrap().client();
    let versions: Vec<i64> = client
        .query(
            "SELECT version FROM second_opinion_migrations ORDER BY version",
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    // Every migration of migrations/postgres/, once, the newest last.
    assert_eq!(versions.first(), Some(&1), "{versions:?}");
    assert_eq!(
        versions,
        (1..=second_opinion::registry::postgres::PG_SCHEMA_VERSION).collect::<Vec<_>>()
    );
    client
        .batch_execute("INSERT INTO second_opinion_migrations VALUES (99, 'future', 'x', 'x')")
        .unwrap();
    let refused = pg.run(&["scorers"]).fails_with(1);
    assert!(
        refused.stderr.contains("has schema version 99")
            && refused.stderr.contains("upgrade second-opinion"),
        "{}",
        refused.stderr
    );
    // A database of something else is not made a registry.
    let other = Database::create(&pg.db.as_ref().unwrap().server, "schema_other");
    other
        .client()
        .batch_execute("CREATE TABLE invoices (id int)")
        .unwrap();
    let run = Run::from(
        pg.ws
            .bare()
            .arg("--registry")
            .arg(&other.url)
            .args(["ingest", "DOVER=dover.csv"])
            .output()
            .unwrap(),
    );
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr
            .contains("a database of something else (tables invoices)"),
        "{}",
        run.stderr
    );
}

/// Wait until a session of the test database waits on a lock.
fn wait_for_lock_wait(client: &mut postgres::Client, database: &str) {
    wait_for_lock_waits(client, database, 1);
}

/// Wait until `count` sessions of `database` wait for a lock.
fn wait_for_lock_waits(client: &mut postgres::Client, database: &str, count: i64) {
    let started = Instant::now();
    loop {
        let waiting: i64 = client
            .query_one(
                "SELECT COUNT(*) FROM pg_stat_activity WHERE datname = $1 AND wait_event_type = 'Lock'",
                &[&database],
            )
            .unwrap()
            .get(0);
        if waiting >= count {
            return;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "no ingest came to wait"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn points_are_in_commit_order_when_ingests_overlap() {
    let targets = targets("commit_order");
    let Some(pg) = postgres_of(&targets) else {
        return;
    };
    let db = pg.db.as_ref().unwrap();
    pg.write("setup.csv", "key,score\nz.mp4,0.9\n");
    pg.write("slow.csv", "key,score\nx.mp4,0.1\nk.mp4,0.2\n");
    pg.write("quick.csv", "key,score\nq.mp4,50\n");
    pg.write("clips.csv", "key\nk.mp4\nq.mp4\nx.mp4\nz.mp4\n");
    pg.run(&["ingest", "DOVER=setup.csv"]).ok();
    // Hold an uncommitted live row for (DOVER, k.mp4): the slow ingest,
    // which starts first (and so gets the lower file id), waits on it
    // mid-transaction while the quick one commits.
    let mut blocker = db.client();
    let mut watcher = db.client();
    let mut tx = blocker.transaction().unwrap();
    tx.batch_execute(
        "INSERT INTO scores (scorer_id, key, key_field, status, source_file_id, line) \
         SELECT s.id, 'k.mp4', 'key', 'ok', f.id, 99 FROM scorers s, source_files f LIMIT 1",
    )
    .unwrap();
    let slow = pg.spawn(&["ingest", "DOVER=slow.csv"]);
    wait_for_lock_wait(&mut watcher, &db.name);
    pg.run(&["ingest", "MUSIQ=quick.csv"]).ok();
    tx.rollback().unwrap();
    let slow = slow.wait_with_output().unwrap();
    assert!(
        slow.status.success(),
        "{}",
        String::from_utf8_lossy(&slow.stderr)
    );

    let order: Vec<(String, i64, i64)> = watcher
        .query("SELECT path, id, seq FROM source_files ORDER BY seq", &[])
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect();
    assert_eq!(
        order.iter().map(|o| o.0.as_str()).collect::<Vec<_>>(),
        ["setup.csv", "quick.csv", "slow.csv"]
    );
    assert!(
        order[2].1 < order[1].1,
        "the slow file started first: {order:?}"
    );
    // seq:2 is the quick file's commit: the slow file's rows are not in it.
    pg.run(&[
        "export",
        "--features",
        "clips.csv",
        "--out",
        "p2.csv",
        "--as-of",
        "seq:2",
    ])
    .ok();
    let p2 = pg.read("p2.csv");
    assert!(
        p2.contains("50.0,ok,,0,quick.csv") && p2.contains("z.mp4,0.9,ok"),
        "{p2}"
    );
    assert!(!p2.contains("slow.csv"), "{p2}");
    pg.run(&[
        "export",
        "--features",
        "clips.csv",
        "--out",
        "p3.csv",
        "--as-of",
        "seq:3",
    ])
    .ok();
    assert!(pg.read("p3.csv").contains("x.mp4,0.1,ok,,0,slow.csv"));
}

#[test]
fn two_machines_ingesting_one_file_ingest_it_once() {
    let targets = targets("same_file");
    let Some(pg) = postgres_of(&targets) else {
        return;
    };
    for round in 0..3 {
        let mut rows = String::from("key,score\n");
        for i in 0..2000 {
            rows.push_str(&format!("r{round}c{i}.mp4,0.{i}\n"));
        }
        let name = format!("scores{round}.csv");
        pg.write(&name, &rows);
        let label = format!("DOVER={name}");
        let children: Vec<Child> = (0..2).map(|_| pg.spawn(&["ingest", &label])).collect();
        let outputs: Vec<_> = children
            .into_iter()
            .map(|c| c.wait_with_output().unwrap())
            .collect();
        let said: Vec<String> = outputs
            .iter()
            .map(|o| {
                assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
                String::from_utf8_lossy(&o.stderr).into_owned()
            })
            .collect();
        let ingested = said
            .iter()
            .filter(|s| s.contains("2000 rows ingested"))
            .count();
        let skipped = said
            .iter()
            .filter(|s| s.contains("already ingested"))
            .count();
        assert_eq!((ingested, skipped), (1, 1), "{said:?}");
    }
    let scorers = pg.run(&["scorers", "--json"]).ok().json();
    assert_eq!(scorers[0]["live_rows"], 6000);
    assert_eq!(scorers[0]["files"], 3);
}

/// A file no file of its size came before is read before its hash is
/// known. Two machines with `--replace` ingest one such file at once: the
/// first is held at its commit while the second reads the same rows (and
/// waits on the first's). The second, replacing the first's rows, would
/// end as a second ingest of the same bytes; its look for them before its
/// commit finds the first's, and it reports the file already ingested.
#[test]
fn the_same_new_file_from_two_machines_with_replace_is_ingested_once() {
    let targets = targets("same_new_file");
    let Some(pg) = postgres_of(&targets) else {
        return;
    };
    let db = pg.db.as_ref().unwrap();
    pg.write("setup.csv", "key,score\nz.mp4,0.9\n");
    pg.run(&["ingest", "DOVER=setup.csv"]).ok();
    let mut rows = String::from("key,score\n");
    for i in 0..2000 {
        rows.push_str(&format!("c{i}.mp4,0.{i}\n"));
    }
    pg.write("scores.csv", &rows);
    // Hold the clock: the first ingest waits there, rows in, uncommitted.
    let mut blocker = db.client();
    let mut watcher = db.client();
    let mut clock = blocker.transaction().unwrap();
    clock
        .batch_execute("SELECT seq FROM registry_clock FOR UPDATE")
        .unwrap();
    let args = ["ingest", "--replace", "DOVER=scores.csv"];
    let first = pg.spawn(&args);
    wait_for_lock_waits(&mut watcher, &db.name, 1);
    let second = pg.spawn(&args);
    wait_for_lock_waits(&mut watcher, &db.name, 2);
    clock.commit().unwrap();
    let said: Vec<String> = [first, second]
        .into_iter()
        .map(|child| {
            let output = child.wait_with_output().unwrap();
            let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
            assert!(output.status.success(), "{stderr}");
            stderr
        })
        .collect();
    assert!(said[0].contains("2000 rows ingested"), "{said:?}");
    assert!(said[1].contains("already ingested"), "{said:?}");
    let scorers = pg.run(&["scorers", "--json"]).ok().json();
    assert_eq!(scorers[0]["live_rows"], 2001);
    assert_eq!(scorers[0]["files"], 2);
    // The first's hash, taken as it read, is the bytes'.
    let files = pg.run(&["files", "--json"]).ok().json();
    assert_eq!(
        files[1]["sha256"],
        second_opinion::digest::sha256_file(&pg.ws.path("scores.csv")).unwrap()
    );
}

#[test]
fn a_connection_dropped_mid_ingest_leaves_nothing_and_a_rerun_completes() {
    let targets = targets("dropped");
    let Some(pg) = postgres_of(&targets) else {
        return;
    };
    let db = pg.db.as_ref().unwrap();
    pg.write("setup.csv", "key,score\nz.mp4,0.9\n");
    let mut rows = String::from("key,score\n");
    for i in 0..5000 {
        rows.push_str(&format!("c{i:05}.mp4,0.5\n"));
    }
    rows.push_str("k.mp4,0.2\n");
    pg.write("big.csv", &rows);
    pg.run(&["ingest", "DOVER=setup.csv"]).ok();
    // Stop the ingest mid-transaction (waiting on an uncommitted row of
    // its own last key), then end its server process.
    let mut blocker = db.client();
    let mut watcher = db.client();
    let mut tx = blocker.transaction().unwrap();
    tx.batch_execute(
        "INSERT INTO scores (scorer_id, key, key_field, status, source_file_id, line) \
         SELECT s.id, 'k.mp4', 'key', 'ok', f.id, 99 FROM scorers s, source_files f LIMIT 1",
    )
    .unwrap();
    // With a password in the URL (the test server trusts its socket),
    // which the message must not show.
    let with_password = db.url.replacen("postgres@", "postgres:s3cret-pw@", 1);
    let ingest = pg
        .ws
        .bare()
        .args(["--registry", &with_password, "ingest", "DOVER=big.csv"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_for_lock_wait(&mut watcher, &db.name);
    let ended: i64 = watcher
        .query_one(
            "SELECT COUNT(pg_terminate_backend(pid)) FROM pg_stat_activity \
             WHERE datname = $1 AND application_name = 'second-opinion'",
            &[&db.name],
        )
        .unwrap()
        .get(0);
    assert_eq!(ended, 1);
    let output = ingest.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        // The server's last word, or only the closed socket.
        stderr.contains("big.csv")
            && (stderr.contains("terminating connection")
                || stderr.contains("PostgreSQL server was lost")),
        "{stderr}"
    );
    // Which registry went away, without the password.
    assert!(stderr.contains(&pg.shown), "{stderr}");
    assert!(!stderr.contains("s3cret"), "{stderr}");
    tx.rollback().unwrap();
    let stored: i64 = watcher
        .query_one("SELECT COUNT(*) FROM scores", &[])
        .unwrap()
        .get(0);
    assert_eq!(stored, 1, "the file is all or nothing");
    let files: i64 = watcher
        .query_one("SELECT COUNT(*) FROM source_files", &[])
        .unwrap()
        .get(0);
    assert_eq!(files, 1, "no record of the file either");
    let rerun = pg.run(&["ingest", "DOVER=big.csv"]).ok();
    assert!(
        rerun.stderr.contains("5001 rows ingested"),
        "{}",
        rerun.stderr
    );
}

/// A throw-away server of one test's own (`tests/postgres/cluster.sh`),
/// which the test may stop and start; stopped when dropped.
struct OwnServer {
    dir: tempfile::TempDir,
}

impl OwnServer {
    fn script() -> &'static str {
        concat!(env!("CARGO_MANIFEST_DIR"), "/tests/postgres/cluster.sh")
    }

    fn start() -> (OwnServer, String) {
        let dir = tempfile::tempdir().unwrap();
        let server = OwnServer { dir };
        let url = server.cluster("start");
        (server, url)
    }

    fn cluster(&self, action: &str) -> String {
        let output = Command::new(Self::script())
            .arg(action)
            .arg(self.dir.path())
            .output()
            .expect("run cluster.sh");
        assert!(
            output.status.success(),
            "cluster.sh {action}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8_lossy(&output.stdout).trim().to_string()
    }
}

impl Drop for OwnServer {
    fn drop(&mut self) {
        let _ = Command::new(Self::script())
            .arg("stop")
            .arg(self.dir.path())
            .output();
    }
}

/// The server itself stopped while a file is being ingested (its other
/// way of going away): exit 1 naming the registry, nothing of the file
/// kept, and once the server is back a rerun ingests it.
#[test]
fn a_server_stopped_mid_ingest_leaves_nothing_and_a_rerun_completes() {
    if server_url().is_none() {
        return;
    }
    let (server, url) = OwnServer::start();
    let ws = Workspace::new();
    ws.write("setup.csv", "key,score\nz.mp4,0.9\n");
    let mut rows = String::from("key,score\n");
    for i in 0..5000 {
        rows.push_str(&format!("c{i:05}.mp4,0.5\n"));
    }
    rows.push_str("k.mp4,0.2\n");
    ws.write("big.csv", &rows);
    let run = |args: &[&str]| ws.run_bare(&[&["--registry", url.as_str()][..], args].concat());
    run(&["ingest", "DOVER=setup.csv"]).ok();
    let mut blocker = postgres::Client::connect(&url, postgres::NoTls).unwrap();
    let mut watcher = postgres::Client::connect(&url, postgres::NoTls).unwrap();
    let mut tx = blocker.transaction().unwrap();
    tx.batch_execute(
        "INSERT INTO scores (scorer_id, key, key_field, status, source_file_id, line) \
         SELECT s.id, 'k.mp4', 'key', 'ok', f.id, 99 FROM scorers s, source_files f LIMIT 1",
    )
    .unwrap();
    let ingest = ws
        .bare()
        .args(["--registry", &url, "ingest", "DOVER=big.csv"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_for_lock_wait(&mut watcher, "postgres");
    server.cluster("stop");
    drop(tx);
    let output = ingest.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("big.csv")
            && stderr.contains(&second_opinion::registry::postgres::shown_url(&url))
            && (stderr.contains("terminating connection")
                || stderr.contains("PostgreSQL server was lost")),
        "{stderr}"
    );
    assert_eq!(server.cluster("start"), url);
    let mut client = postgres::Client::connect(&url, postgres::NoTls).unwrap();
    let counts: (i64, i64) = {
        let row = client
            .query_one(
                "SELECT (SELECT COUNT(*) FROM scores), (SELECT COUNT(*) FROM source_files)",
                &[],
            )
            .unwrap();
        (row.get(0), row.get(1))
    };
    assert_eq!(counts, (1, 1), "the file is all or nothing");
    let rerun = run(&["ingest", "DOVER=big.csv"]).ok();
    assert!(
        rerun.stderr.contains("5001 rows ingested"),
        "{}",
        rerun.stderr
    );
}

#[test]
fn machines_replacing_overlapping_keys_at_once_all_succeed() {
    let targets = targets("overlap");
    let Some(pg) = postgres_of(&targets) else {
        return;
    };
    // Six files over the same 400 keys, in different orders: concurrent
    // ingests wait on each other's rows and deadlock; the tool retries.
    let keys = 400;
    let files = 6;
    let mut names = Vec::new();
    for f in 0..files {
        let mut rows = String::from("key,score\n");
        for i in 0..keys {
            let k = if f % 2 == 0 { i } else { keys - 1 - i };
            // A multiplier prime to 400 permutes the keys.
            let k = (k * [1, 3, 7, 9, 11, 13][f] + f) % keys;
            rows.push_str(&format!("k{k:04}.mp4,{}.{f}\n", k % 90));
        }
        let name = format!("run{f}.csv");
        pg.write(&name, &rows);
        names.push(format!("DOVER={name}"));
    }
    let children: Vec<Child> = names
        .iter()
        .map(|label| pg.spawn(&["ingest", "--replace", label]))
        .collect();
    for child in children {
        let output = child.wait_with_output().unwrap();
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let scorers = pg.run(&["scorers", "--json"]).ok().json();
    assert_eq!(scorers[0]["live_rows"], keys);
    assert_eq!(scorers[0]["superseded_rows"], keys * (files - 1));
    let files_seen = pg.run(&["files", "--json"]).ok().json();
    let seqs: Vec<i64> = files_seen
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["id"].as_i64().unwrap())
        .collect();
    assert_eq!(seqs, (1..=files as i64).collect::<Vec<_>>());
}

/// The per-scorer key check and a normalisation applied to the keys the
/// scorers wrote: the same refusals, fixes and tables on both backends.
#[test]
fn key_checks_and_normalised_registry_keys_are_the_same() {
    let targets = targets("keys");
    write_all(
        &targets,
        "dover.jsonl",
        "{\"path\":\"/mnt/ugc/A1.mp4\",\"competitor\":\"dover\",\"score\":50.5}\n\
         {\"path\":\"/mnt/ugc/A2.mp4\",\"competitor\":\"dover\",\"score\":40.5}\n",
    );
    write_all(
        &targets,
        "musiq.jsonl",
        "{\"name\":\"A1.png\",\"competitor\":\"musiq\",\"score\":61.25}\n\
         {\"name\":\"A2.png\",\"competitor\":\"musiq\",\"score\":33.0}\n",
    );
    write_all(
        &targets,
        "clips.jsonl",
        "{\"src\":\"/data/ugc/A1.mp4\"}\n{\"src\":\"/data/ugc/A2.mp4\"}\n",
    );
    same_on_all(&targets, &["ingest", "dover.jsonl", "musiq.jsonl"], 0);
    let refused = same_on_all(
        &targets,
        &["export", "--features", "clips.jsonl", "--out", "out.jsonl"],
        1,
    );
    assert!(
        refused[0]
            .stderr
            .contains("pass --key-normalize musiq=stem"),
        "{}",
        refused[0].stderr
    );
    for normalize in ["musiq=stem", "stem", "tail:2"] {
        let name = format!("out-{}.jsonl", normalize.replace([':', '='], "-"));
        same_on_all(
            &targets,
            &[
                "export",
                "--features",
                "clips.jsonl",
                "--out",
                &name,
                "--key-normalize",
                normalize,
                "--scorers",
                if normalize == "tail:2" {
                    "dover"
                } else {
                    "dover,musiq"
                },
            ],
            0,
        );
        let table = same_file_on_all(&targets, &name);
        assert!(!table.contains("\"missing\""), "{normalize}: {table}");
    }
}

/// The registry `history` scenarios start from: three ingests (one
/// replacing), two recorded exports (the first tagged `first`).
fn with_history(test: &str) -> Vec<Target> {
    let targets = targets(test);
    write_all(&targets, "dover1.csv", "key,score\na.mp4,0.5\nb.mp4,0.7\n");
    write_all(&targets, "dover2.csv", "key,score\na.mp4,0.6\nc.mp4,0.1\n");
    write_all(&targets, "musiq.csv", "key,score\nb.mp4,41.5\nc.mp4,nan\n");
    write_all(
        &targets,
        "clips.csv",
        "key,size\na.mp4,1\nb.mp4,2\nc.mp4,3\nd.mp4,4\n",
    );
    same_on_all(&targets, &["ingest", "DOVER=dover1.csv"], 0);
    same_on_all(&targets, &["ingest", "MUSIQ=musiq.csv"], 0);
    same_on_all(&targets, &["ingest", "--replace", "DOVER=dover2.csv"], 0);
    same_on_all(
        &targets,
        &[
            "export",
            "--features",
            "clips.csv",
            "--out",
            "e1.csv",
            "--tag",
            "first",
        ],
        0,
    );
    same_on_all(
        &targets,
        &[
            "export",
            "--features",
            "clips.csv",
            "--out",
            "e2.csv",
            "--as-of",
            "seq:1",
        ],
        0,
    );
    targets
}

#[test]
fn exports_show_diff_tag_and_replay_are_the_same() {
    let targets = with_history("exports_history");
    same_on_all(&targets, &["exports"], 0);
    same_on_all(&targets, &["exports", "--json"], 0);
    same_on_all(&targets, &["exports", "show", "1"], 0);
    same_on_all(&targets, &["exports", "show", "first", "--json"], 0);
    same_on_all(&targets, &["exports", "show", "99"], 1);
    same_on_all(&targets, &["exports", "show", "seq:2"], 1);
    same_on_all(&targets, &["exports", "diff", "2", "1"], 0);
    same_on_all(
        &targets,
        &["exports", "diff", "seq:1", "first", "--rows"],
        0,
    );
    same_on_all(&targets, &["exports", "diff", "2", "--json", "seq:3"], 0);
    same_on_all(&targets, &["exports", "diff", "1", "7"], 1);
    same_on_all(&targets, &["exports", "tag", "second", "2"], 0);
    same_on_all(&targets, &["exports", "tag", "at-two", "seq:2"], 0);
    same_on_all(&targets, &["exports", "tag", "second", "1"], 1);
    same_on_all(&targets, &["exports", "tag", "third", "nosuch"], 1);
    same_on_all(&targets, &["exports", "show", "at-two"], 1);
    same_on_all(&targets, &["exports"], 0);
    // Replays reproduce the recorded digests, on either backend.
    let runs = same_on_all(&targets, &["exports", "replay", "first"], 0);
    assert!(
        runs[0].stdout.contains("content: matches"),
        "{}",
        runs[0].stdout
    );
    same_on_all(
        &targets,
        &["exports", "replay", "2", "--out", "r2.csv", "--json"],
        0,
    );
    assert_eq!(
        same_file_on_all(&targets, "r2.csv"),
        same_file_on_all(&targets, "e2.csv")
    );
    same_on_all(&targets, &["exports", "replay", "99"], 1);
    // The features changed: refused, nothing written.
    write_all(&targets, "clips.csv", "key,size\na.mp4,9\n");
    same_on_all(&targets, &["exports", "replay", "1", "--out", "r1.csv"], 1);
    for target in &targets {
        assert!(!target.ws.path("r1.csv").exists(), "{}", target.backend);
    }
}

#[test]
fn provenance_and_inspect_are_the_same() {
    let targets = with_history("provenance");
    same_on_all(&targets, &["provenance", "--key", "a.mp4"], 0);
    same_on_all(
        &targets,
        &["provenance", "--key", "/clips/a.mp4", "--json"],
        0,
    );
    same_on_all(
        &targets,
        &["provenance", "--scorer", "dover", "--key", "a"],
        0,
    );
    same_on_all(
        &targets,
        &[
            "provenance",
            "--scorer",
            "DOVER",
            "--key",
            "a.mp4",
            "--as-of",
            "seq:1",
        ],
        0,
    );
    same_on_all(
        &targets,
        &["provenance", "--key", "a.mp4", "--as-of", "first", "--json"],
        0,
    );
    same_on_all(
        &targets,
        &["provenance", "--scorer", "nosuch", "--key", "a.mp4"],
        1,
    );
    same_on_all(
        &targets,
        &["provenance", "--scorer", "MUSIQ", "--key", "a.mp4"],
        1,
    );
    same_on_all(&targets, &["provenance", "--key", "zzz.mp4"], 1);
    same_on_all(
        &targets,
        &["provenance", "--key", "a.mp4", "--as-of", "seq:77"],
        1,
    );

    // inspect judges a file against the registry and writes nothing.
    write_all(&targets, "dover3.csv", "key,score\nd.mp4,0.2\ne.mp4,0.3\n");
    write_all(&targets, "clash.csv", "key,score\na.mp4,0.9\n");
    same_on_all(&targets, &["inspect", "DOVER=dover3.csv"], 0);
    same_on_all(&targets, &["inspect", "DOVER=dover3.csv", "--json"], 0);
    same_on_all(&targets, &["inspect", "DOVER=clash.csv"], 1);
    same_on_all(&targets, &["inspect", "DOVER=clash.csv", "--replace"], 0);
    same_on_all(&targets, &["inspect", "DOVER=missing.csv"], 1);
    same_on_all(&targets, &["files"], 0);
    same_on_all(&targets, &["scorers"], 0);
}

#[test]
fn corrections_and_their_points_are_the_same() {
    let targets = with_history("corrections");
    // files retire: by number, path and sha256; errors.
    same_on_all(&targets, &["files", "retire", "99"], 1);
    same_on_all(&targets, &["files", "retire", "nosuch.csv"], 1);
    same_on_all(&targets, &["files", "retire", "3", "--restore-previous"], 0);
    same_on_all(&targets, &["files", "retire", "dover2.csv"], 1);
    same_on_all(&targets, &["files", "retire", "3", "--json"], 1);
    same_on_all(&targets, &["files"], 0);
    same_on_all(&targets, &["scorers"], 0);
    same_on_all(&targets, &["provenance", "--key", "a.mp4"], 0);
    // scorers set: a scale that makes values bad, then the same again.
    same_on_all(&targets, &["scorers", "set", "DOVER"], 2);
    same_on_all(&targets, &["scorers", "set", "nosuch", "--scale", "0:1"], 1);
    same_on_all(
        &targets,
        &["scorers", "set", "DOVER", "--scale", "0:0.6"],
        0,
    );
    same_on_all(
        &targets,
        &["scorers", "set", "DOVER", "--scale", "0:0.6"],
        1,
    );
    same_on_all(
        &targets,
        &[
            "scorers",
            "--json",
            "set",
            "MUSIQ",
            "--lower-is-better",
            "--version",
            "v2",
        ],
        0,
    );
    // rename and merge, with their refusals.
    same_on_all(&targets, &["scorers", "rename", "MUSIQ", "dover"], 1);
    same_on_all(&targets, &["scorers", "rename", "MUSIQ", "MUSIQ"], 1);
    same_on_all(&targets, &["scorers", "rename", "MUSIQ", "MUSIQ-koniq"], 0);
    same_on_all(&targets, &["scorers", "merge", "MUSIQ-koniq", "DOVER"], 1);
    write_all(&targets, "qalign.csv", "key,score\nd.mp4,3.5\n");
    write_all(&targets, "qalign2.csv", "key,score\ne.mp4,2.5\n");
    same_on_all(
        &targets,
        &[
            "ingest",
            "--scale",
            "0:5",
            "--higher-is-better",
            "inhouse=qalign.csv",
        ],
        0,
    );
    same_on_all(
        &targets,
        &[
            "ingest",
            "--scale",
            "0:5",
            "--higher-is-better",
            "inhouse-b=qalign2.csv",
        ],
        0,
    );
    same_on_all(&targets, &["scorers", "merge", "inhouse-b", "inhouse"], 0);
    same_on_all(&targets, &["scorers", "merge", "inhouse-b", "inhouse"], 1);
    same_on_all(&targets, &["scorers", "merge", "DOVER", "DOVER"], 1);
    same_on_all(&targets, &["scorers", "--json"], 0);
    same_on_all(&targets, &["files", "--json"], 0);
    // Every point reads the settings and rows in force then.
    for point in 1..=10 {
        let out = format!("at{point}.csv");
        let reference = format!("seq:{point}");
        same_on_all(
            &targets,
            &[
                "export",
                "--features",
                "clips.csv",
                "--out",
                &out,
                "--as-of",
                &reference,
                "--normalize",
            ],
            0,
        );
        same_file_on_all(&targets, &out);
        let scores = format!("scores{point}.csv");
        same_on_all(
            &targets,
            &[
                "export",
                "--scores-only",
                "--out",
                &scores,
                "--as-of",
                &reference,
            ],
            0,
        );
        same_file_on_all(&targets, &scores);
    }
    // Before the rename, MUSIQ's columns; after it, MUSIQ-koniq's.
    let before = same_file_on_all(&targets, "at5.csv");
    let after = same_file_on_all(&targets, "at7.csv");
    assert!(before.contains("second_opinion_musiq_score"), "{before}");
    assert!(
        after.contains("second_opinion_musiq_koniq_score"),
        "{after}"
    );
    same_on_all(
        &targets,
        &["exports", "diff", "seq:3", "seq:10", "--rows"],
        0,
    );
    same_on_all(
        &targets,
        &["provenance", "--key", "a.mp4", "--as-of", "seq:5"],
        0,
    );
    same_on_all(
        &targets,
        &["export", "--features", "clips.csv", "--out", "now.csv"],
        0,
    );
    same_file_on_all(&targets, "now.csv");
    same_on_all(&targets, &["exports", "replay", "seq:6"], 1);
}

#[test]
fn families_and_audits_are_the_same() {
    let targets = with_history("audit");
    same_on_all(&targets, &["families", "list"], 0);
    same_on_all(&targets, &["families", "list", "--json"], 0);
    same_on_all(&targets, &["families", "add-pattern", "nosuch", "x"], 1);
    same_on_all(
        &targets,
        &["families", "add-pattern", "noise_grain_blur", "("],
        2,
    );
    same_on_all(
        &targets,
        &["families", "add-pattern", "noise_grain_blur", "^size$"],
        0,
    );
    same_on_all(
        &targets,
        &["families", "add-pattern", "noise_grain_blur", "^size$"],
        0,
    );
    same_on_all(
        &targets,
        &["families", "remove-pattern", "noise_grain_blur", "zzz"],
        1,
    );
    same_on_all(
        &targets,
        &["families", "remove-pattern", "noise_grain_blur", "^size$"],
        0,
    );
    same_on_all(
        &targets,
        &[
            "families",
            "add",
            "house_style",
            "--label",
            "House style",
            "--pattern",
            "^size$",
            "--candidate",
            "in-house metric",
        ],
        0,
    );
    same_on_all(
        &targets,
        &["families", "add", "house_style", "--label", "Again"],
        1,
    );
    same_on_all(&targets, &["families", "add", "Bad-Key", "--label", "x"], 2);
    same_on_all(&targets, &["families", "list"], 0);
    // The audit reads the registry's families and scorers, and records
    // its runs there: the second run compares with the first.
    same_on_all(
        &targets,
        &[
            "audit",
            "--input",
            "live=e1.csv",
            "--out-json",
            "a1.json",
            "--out-md",
            "a1.md",
        ],
        0,
    );
    same_file_on_all(&targets, "a1.md");
    same_on_all(
        &targets,
        &[
            "audit",
            "--input",
            "live=e2.csv",
            "--out-json",
            "a2.json",
            "--compare-last",
        ],
        0,
    );
    let report = same_file_on_all(&targets, "a2.json");
    assert!(report.contains("house_style"), "{report}");
}

/// A correction waiting for rows another machine's ingest holds does not
/// hold the point clock meanwhile: that ingest can take its point and
/// commit (no deadlock), and then the correction completes.
#[test]
fn a_correction_waiting_for_an_ingest_lets_it_commit() {
    let targets = targets("correction_wait");
    let Some(pg) = postgres_of(&targets) else {
        return;
    };
    let db = pg.db.as_ref().unwrap();
    pg.write("dover.csv", "key,score\na.mp4,0.5\nb.mp4,0.9\n");
    pg.run(&["ingest", "DOVER=dover.csv"]).ok();
    // An ingest mid-transaction: it holds DOVER's live rows.
    let mut ingest = db.client();
    let mut watcher = db.client();
    let mut tx = ingest.transaction().unwrap();
    tx.batch_execute(
        "SET LOCAL lock_timeout = '20s'; \
         SELECT id FROM scores WHERE superseded_at IS NULL FOR UPDATE",
    )
    .unwrap();
    let correction = pg.spawn(&["scorers", "set", "DOVER", "--scale", "0:0.6"]);
    wait_for_lock_wait(&mut watcher, &db.name);
    // The ingest now takes its point, as it does just before committing.
    let started = Instant::now();
    tx.batch_execute("UPDATE registry_clock SET seq = seq + 1")
        .expect("the clock is free while the correction waits");
    assert!(started.elapsed() < Duration::from_secs(10));
    tx.rollback().unwrap();
    let correction = correction.wait_with_output().unwrap();
    assert!(
        correction.status.success(),
        "{}",
        String::from_utf8_lossy(&correction.stderr)
    );
    let out = pg
        .run(&["provenance", "--scorer", "DOVER", "--key", "b.mp4"])
        .ok();
    assert!(out.stdout.contains("bad"), "{}", out.stdout);
}

/// A registry made by the previous schema (0001 alone) is brought up to
/// date by the next command; its scorers' settings until then are in
/// force from point 0, so an as-of read before a later `scorers set` uses
/// them.
#[test]
fn a_registry_of_the_first_schema_is_upgraded_with_its_settings() {
    let targets = targets("upgrade");
    let Some(pg) = postgres_of(&targets) else {
        return;
    };
    let mut client = pg.db.as_ref().unwrap().client();
    client
        .batch_execute(concat!(
            "CREATE TABLE second_opinion_migrations (version int8 PRIMARY KEY, name text NOT NULL, \
             applied_at text NOT NULL, tool_version text NOT NULL);",
            include_str!("../migrations/postgres/0001_registry.sql"),
            "INSERT INTO second_opinion_migrations VALUES (1, '0001_registry', 'x', 'x');
             INSERT INTO scorers (name, slug, created_at, scale_min, scale_max, higher_is_better)
                 VALUES ('inhouse', 'inhouse', 'x', 0, 1, true);"
        ))
        .unwrap();
    pg.write("scores.csv", "key,score\na.mp4,0.5\n");
    pg.write("clips.csv", "key\na.mp4\n");
    pg.run(&["ingest", "inhouse=scores.csv"]).ok();
    pg.run(&["scorers", "set", "inhouse", "--scale", "0:0.6"])
        .ok();
    let export = |out: &str, extra: &[&str]| {
        let mut args = vec![
            "export",
            "--features",
            "clips.csv",
            "--out",
            out,
            "--normalize",
        ];
        args.extend(extra);
        pg.run(&args).ok();
        pg.read(out)
    };
    let before = export("before.csv", &["--as-of", "seq:1"]);
    let now = export("now.csv", &[]);
    let normalised = |table: &str| -> f64 {
        let row = table.lines().nth(1).unwrap();
        row.rsplit(',').next().unwrap().parse().unwrap()
    };
    assert_eq!(normalised(&before), 50.0, "{before}");
    assert!((normalised(&now) - 83.3333).abs() < 0.001, "{now}");
    // Every revision was stamped with its point: 0 (the upgrade), then
    // the `scorers set`.
    let revisions: Vec<Option<i64>> = client
        .query("SELECT seq FROM scorer_revisions ORDER BY seq", &[])
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(revisions, vec![Some(0), Some(2)]);
    // A writer bringing its own revisions (a registry copy) gets none made.
    client
        .batch_execute(
            "BEGIN; SET LOCAL second_opinion.revisions_given = 'on';              INSERT INTO scorers (name, slug, created_at) VALUES ('copied', 'copied', 'x'); COMMIT",
        )
        .unwrap();
    let made: i64 = client
        .query_one(
            "SELECT COUNT(*) FROM scorer_revisions WHERE slug = 'copied'",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(made, 0);
}

/// A registry at schema 4 (a BRIN index on `scores.source_file_id`, an
/// uncached id sequence) is upgraded by the next command to migration 5:
/// each file gets the bounds of its rows' ids, the index goes, the
/// sequence is cached; and every question by file is answered as before:
/// files, provenance, a retired file and its restored rows (copies made
/// by a correction, outside their file's bounds), an export.
#[test]
fn a_registry_at_schema_4_gets_id_bounds_and_answers_the_same() {
    let targets = with_history("bounds_upgrade");
    let Some(pg) = postgres_of(&targets) else {
        return;
    };
    let mut client = pg.db.as_ref().unwrap().client();
    // Back to what migration 4 left.
    client
        .batch_execute(
            "DROP INDEX scores_copies_of_file; \
             CREATE INDEX scores_source_file ON scores USING brin (source_file_id) \
                 WITH (autosummarize = on); \
             ALTER TABLE source_files DROP COLUMN first_score_id, DROP COLUMN last_score_id; \
             ALTER SEQUENCE scores_ids CACHE 1; \
             ALTER SEQUENCE scores_ids RENAME TO scores_id_seq; \
             DROP INDEX source_files_size; \
             DELETE FROM second_opinion_migrations WHERE version = 5",
        )
        .unwrap();
    let cache = |client: &mut postgres::Client| -> i64 {
        client
            .query_one(
                "SELECT cache_size FROM pg_sequences \
                 WHERE sequencename = pg_get_serial_sequence('scores', 'id')::regclass::text",
                &[],
            )
            .unwrap()
            .get(0)
    };
    assert_eq!(cache(&mut client), 1);
    same_on_all(&targets, &["files"], 0);
    assert_eq!(cache(&mut client), 1000);
    let version: i64 = client
        .query_one("SELECT MAX(version) FROM second_opinion_migrations", &[])
        .unwrap()
        .get(0);
    assert_eq!(version, 5);
    let file_index: i64 = client
        .query_one(
            "SELECT COUNT(*) FROM pg_class WHERE relname = 'scores_source_file'",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(file_index, 0);
    // Each file's bounds are those of the rows it wrote.
    let bounds: Vec<(i64, i64, i64, i64)> = client
        .query(
            "SELECT f.first_score_id, f.last_score_id, MIN(s.id), MAX(s.id) \
             FROM source_files f JOIN scores s ON s.source_file_id = f.id \
             GROUP BY f.id ORDER BY f.id",
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3)))
        .collect();
    assert_eq!(bounds.len(), 3);
    for (first, last, min, max) in bounds {
        assert_eq!((first, last), (min, max));
    }
    let renamed: i64 = client
        .query_one(
            "SELECT COUNT(*) FROM pg_sequences WHERE sequencename = 'scores_ids'",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(renamed, 1, "the id sequence is renamed");
    same_on_all(&targets, &["provenance", "--key", "a.mp4"], 0);
    same_on_all(&targets, &["provenance", "--key", "c.mp4"], 0);
    same_on_all(&targets, &["files", "retire", "3", "--restore-previous"], 0);
    same_on_all(&targets, &["files"], 0);
    same_on_all(&targets, &["scorers"], 0);
    // The restored rows are copies of file 1's, with later ids: retiring
    // file 1 now retires them too (found by their index, not the bounds).
    same_on_all(&targets, &["files", "retire", "1"], 0);
    same_on_all(&targets, &["files"], 0);
    same_on_all(&targets, &["provenance", "--key", "a.mp4"], 0);
    same_on_all(
        &targets,
        &["export", "--features", "clips.csv", "--out", "after.csv"],
        0,
    );
    same_file_on_all(&targets, "after.csv");
    // A file ingested by a binary older than schema 5, still connected as
    // it migrated, has no bounds: a lookup by file fills them first.
    client
        .batch_execute(
            "UPDATE source_files SET first_score_id = NULL, last_score_id = NULL WHERE seq = 2",
        )
        .unwrap();
    same_on_all(&targets, &["files", "retire", "2"], 0);
    same_on_all(&targets, &["files"], 0);
}

/// Two long-lived sessions (as two `Registry` objects, or a Python
/// trainer beside the CLI) take ids from the cached sequence a block at a
/// time, so ids interleave out of time order and one file's id bounds
/// hold another's rows. A key's history is still newest first, a file
/// that meets live rows finds the rows its move wrote, and a file is
/// retired alone: as on SQLite, where the same ingests ran one by one.
#[test]
fn sessions_with_cached_ids_keep_history_in_order_and_files_apart() {
    use second_opinion::ingest::SourceSpec;
    use second_opinion::progress::NoProgress;
    use second_opinion::registry::{ConflictPolicy, IngestOptions, OpenMode, Registry};

    let targets = targets("cached_ids");
    let Some(pg) = postgres_of(&targets) else {
        return;
    };
    let mut big = String::from("key,score\n");
    for n in 0..1500 {
        big.push_str(&format!("c{n:04}.mp4,{}\n", n % 7));
    }
    write_all(&targets, "k1.csv", "key,score\na.mp4,0.1\n");
    write_all(&targets, "k2.csv", "key,score\na.mp4,0.2\nb.mp4,0.2\n");
    write_all(&targets, "k3.csv", "key,score\na.mp4,0.3\n");
    write_all(&targets, "big.csv", &big);
    write_all(&targets, "k4.csv", "key,score\na.mp4,0.4\n");
    // Session one, two, one twice (a.mp4 from its first block of ids,
    // below two's block; then a file that needs its next block, after
    // two's), two again; every file but the first replaces.
    let order = [
        (0, "k1.csv"),
        (1, "k2.csv"),
        (0, "k3.csv"),
        (0, "big.csv"),
        (1, "k4.csv"),
    ];
    let sqlite = &targets[0];
    for (n, (_, name)) in order.iter().enumerate() {
        let source = format!("DOVER={}", sqlite.ws.path(name).display());
        let args: &[&str] = if n == 0 {
            &["ingest", &source]
        } else {
            &["ingest", "--replace", &source]
        };
        assert_eq!(sqlite.run(args).code, 0);
    }
    let open = || Registry::open(Path::new(&pg.location), OpenMode::CreateIfMissing).unwrap();
    let mut sessions = [open(), open()];
    for (n, (session, name)) in order.iter().enumerate() {
        let source = SourceSpec {
            label: Some("DOVER".to_string()),
            path: pg.ws.path(name),
        };
        let mut options = IngestOptions {
            on_conflict: if n == 0 {
                ConflictPolicy::Refuse
            } else {
                ConflictPolicy::Replace
            },
            ..IngestOptions::default()
        };
        options.prepare_for(std::slice::from_ref(&source)).unwrap();
        sessions[*session]
            .ingest_file(&source, &options, &NoProgress)
            .unwrap();
    }
    drop(sessions);
    // The premise: the big file's id bounds hold the rows of others.
    let mut client = pg.db.as_ref().unwrap().client();
    let inside: i64 = client
        .query_one(
            "SELECT COUNT(*) FROM scores s JOIN source_files f ON f.seq = 4 \
             WHERE s.id BETWEEN f.first_score_id AND f.last_score_id AND s.source_file_id <> f.id",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(
        inside, 3,
        "the rows of files 2 and 5 lie within file 4's id bounds"
    );
    let history = same_on_all(&targets, &["provenance", "--key", "a.mp4", "--json"], 0);
    let scores: Vec<f64> = serde_json::from_str::<Value>(&history[1].stdout)
        .unwrap()
        .as_array()
        .unwrap()
        .iter()
        .map(|row| row["score"].as_f64().unwrap())
        .collect();
    assert_eq!(scores, [0.4, 0.3, 0.2, 0.1]);
    same_on_all(&targets, &["files"], 0);
    same_on_all(&targets, &["files", "retire", "4"], 0);
    same_on_all(&targets, &["files"], 0);
    same_on_all(&targets, &["provenance", "--key", "b.mp4"], 0);
    same_on_all(&targets, &["files", "retire", "2"], 0);
    same_on_all(&targets, &["files"], 0);
    same_on_all(&targets, &["provenance", "--key", "a.mp4"], 0);
}

/// `registry copy`: a registry with corrections, superseded rows, frames,
/// components, exports (one as of an earlier point) and a tag, copied
/// SQLite → PostgreSQL → SQLite (and SQLite → SQLite), answers every
/// question the same, and every export replays on the copy with the same
/// digests. A target that is not empty is refused, untouched.
#[test]
fn registry_copy_keeps_everything_both_ways() {
    let targets = targets("copy");
    let sqlite = &targets[0];
    sqlite.write(
        "dover.jsonl",
        "{\"key\":\"a.mp4\",\"score\":3.1}\n{\"key\":\"b.mp4\",\"score\":2.5}\n\
         {\"key\":\"c.mp4\",\"score\":4.0}\n",
    );
    sqlite.write(
        "dover_fix.jsonl",
        "{\"key\":\"a.mp4\",\"score\":3.3}\n{\"key\":\"d.mp4\",\"score\":1.5}\n",
    );
    // Path keys: SQLite keeps their directory once (raw_key_prefixes).
    sqlite.write(
        "musiq.csv",
        "path,score\n/corpus/x/a.mp4,0.7\n/corpus/x/b.mp4,0.8\n/corpus/x/c.mp4,bad\n",
    );
    sqlite.write(
        "qa.jsonl",
        "{\"key\":\"a.mp4\",\"score\":3.1,\"frames\":[{\"frame\":0,\"score\":3.0},{\"frame\":1,\"score\":3.2}]}\n\
         {\"key\":\"b.mp4\",\"score\":2.0,\"frames\":[{\"frame\":0,\"score\":2.0}]}\n",
    );
    sqlite.write("vmaf.json", common_vmaf_log());
    sqlite.write(
        "feat.csv",
        "key,width\na.mp4,1\nb.mp4,2\nc.mp4,3\nd.mp4,4\n",
    );
    let steps: &[&[&str]] = &[
        &["ingest", "DOVER=dover.jsonl"],
        &["ingest", "MUSIQ=musiq.csv"],
        &["export", "--features", "feat.csv", "--out", "out1.csv"],
        &["ingest", "--replace", "DOVER=dover_fix.jsonl"],
        &["ingest", "--scale", "1:5", "qalign=qa.jsonl"],
        &["ingest", "--key", "a.mp4", "vmaf.json"],
        &["scorers", "set", "DOVER", "--version", "dover-v2"],
        &["export", "--features", "feat.csv", "--out", "out2.csv"],
        &[
            "export",
            "--features",
            "feat.csv",
            "--out",
            "out3.csv",
            "--as-of",
            "1",
        ],
        &["exports", "tag", "first", "1"],
    ];
    for step in steps {
        sqlite.run(step).ok();
    }
    let questions: &[&[&str]] = &[
        &["exports", "--json"],
        &["scorers", "--json"],
        &["files", "--json"],
        &["provenance", "--key", "a.mp4", "--json"],
        &["provenance", "--key", "a.mp4", "--as-of", "first", "--json"],
        &["exports", "show", "first", "--json"],
    ];
    let answers = |location: &str| -> Vec<String> {
        questions
            .iter()
            .map(|question| {
                let run = sqlite
                    .ws
                    .run_bare(&[&["--registry", location][..], question].concat());
                assert_eq!(run.code, 0, "{question:?} on {location}: {}", run.stderr);
                run.stdout
            })
            .collect()
    };
    let original = answers(&sqlite.location);
    let export_ids = 1..=3;

    // Where the copy goes through: PostgreSQL when a server is given.
    let through_db = server_url().map(|server| Database::create(&server, "copy_into"));
    let (through, through_shown) = match &through_db {
        Some(db) => {
            // A password in the URL (the test server trusts the socket):
            // never printed.
            let with_password = db.url.replacen("postgres@", "postgres:s3cret-pw@", 1);
            (
                with_password,
                second_opinion::registry::postgres::shown_url(&db.url),
            )
        }
        None => {
            let path = sqlite.ws.path("through.db").display().to_string();
            (path.clone(), path)
        }
    };
    let there = sqlite
        .ws
        .run_bare(&["registry", "copy", &sqlite.location, &through])
        .ok();
    assert!(!there.stdout.contains("s3cret"), "{}", there.stdout);
    assert!(there.stdout.contains(&through_shown), "{}", there.stdout);
    let back = sqlite.ws.path("back.db").display().to_string();
    let again = sqlite
        .ws
        .run_bare(&["registry", "copy", "--json", &through, &back])
        .ok();
    let summary = again.json();
    assert!(!again.stdout.contains("s3cret"), "{}", again.stdout);
    assert_eq!(summary["rows"]["exports"], 3);
    assert_eq!(summary["rows"]["tags"], 1);
    assert_eq!(summary["rows"]["frame_scores"], 5);
    assert_eq!(
        answers(&back),
        original,
        "the registry after the round trip"
    );
    if through_db.is_some() {
        // What PostgreSQL answers itself of the copy.
        for question in [&["scorers", "--json"][..], &["files", "--json"]] {
            let on_sqlite = sqlite.run(question).ok().stdout;
            let on_postgres = sqlite
                .ws
                .run_bare(&[&["--registry", through.as_str()][..], question].concat())
                .ok()
                .stdout;
            assert_eq!(
                on_postgres, on_sqlite,
                "{question:?} on the PostgreSQL copy"
            );
        }
    }
    for id in export_ids {
        let id = id.to_string();
        let out = format!("replay{id}.csv");
        let replay = sqlite
            .ws
            .run_bare(&["--registry", &back, "exports", "replay", &id, "--out", &out])
            .ok();
        assert!(
            replay.stdout.contains("bytes: match") && replay.stdout.contains("content: matches"),
            "replay of export {id} on the copy:\n{}",
            replay.stdout
        );
    }

    // SQLite → SQLite as well.
    let twin = sqlite.ws.path("twin.db").display().to_string();
    sqlite
        .ws
        .run_bare(&["registry", "copy", &sqlite.location, &twin])
        .ok();
    assert_eq!(answers(&twin), original, "the SQLite copy");

    // A source that names rows it does not hold fails the copy part way:
    // no file, and a PostgreSQL target keeps nothing.
    {
        let damaged = rusqlite::Connection::open(&twin).unwrap();
        damaged
            .execute_batch(
                "PRAGMA foreign_keys = OFF; \
                 INSERT INTO score_components (score_id, name, value) VALUES (99999, 'orphan', 1.0)",
            )
            .unwrap();
    }
    let nowhere = sqlite.ws.path("damaged-copy.db");
    let failed = sqlite
        .ws
        .run_bare(&["registry", "copy", &twin, &nowhere.display().to_string()]);
    assert_eq!(failed.code, 1, "{}", failed.stderr);
    assert!(
        failed
            .stderr
            .contains("a row of score_components names a missing row of scores")
            && failed.stderr.contains("nothing was written"),
        "{}",
        failed.stderr
    );
    assert!(!nowhere.exists());
    if let Some(server) = server_url() {
        let empty = Database::create(&server, "copy_damaged");
        let failed = sqlite.ws.run_bare(&["registry", "copy", &twin, &empty.url]);
        assert_eq!(failed.code, 1, "{}", failed.stderr);
        let kept: i64 = empty
            .client()
            .query_one(
                "SELECT (SELECT COUNT(*) FROM scorers) + (SELECT COUNT(*) FROM scores) \
                 + (SELECT COUNT(*) FROM source_files)",
                &[],
            )
            .unwrap()
            .get(0);
        assert_eq!(kept, 0, "a failed copy keeps nothing");
    }

    // A target that holds a registry already: refused, exit 2, untouched.
    let before = sqlite.ws.registry_snapshot();
    let refused = sqlite
        .ws
        .run_bare(&["registry", "copy", &twin, &sqlite.location]);
    assert_eq!(refused.code, 2, "{}", refused.stderr);
    assert!(
        refused.stderr.contains("is not empty") && refused.stderr.contains("nothing was written"),
        "{}",
        refused.stderr
    );
    assert_eq!(sqlite.ws.registry_snapshot(), before);
    let refused = sqlite.ws.run_bare(&["registry", "copy", &back, &through]);
    assert_eq!(refused.code, 2, "{}", refused.stderr);
    assert!(!refused.stderr.contains("s3cret"), "{}", refused.stderr);
    // A source that does not exist: nothing is made.
    let missing = sqlite.ws.path("none.db").display().to_string();
    let nowhere = sqlite.ws.path("nowhere.db");
    let failed =
        sqlite
            .ws
            .run_bare(&["registry", "copy", &missing, &nowhere.display().to_string()]);
    assert_eq!(failed.code, 1, "{}", failed.stderr);
    assert!(!nowhere.exists());
}

/// A libvmaf JSON log of one clip, two frames: per-frame components.
fn common_vmaf_log() -> &'static str {
    r#"{"version":"2.3.1","frames":[{"frameNum":0,"metrics":{"vmaf":90.0,"psnr_y":40.0}},{"frameNum":1,"metrics":{"vmaf":92.0,"psnr_y":41.0}}],"pooled_metrics":{"vmaf":{"mean":91.0},"psnr_y":{"mean":40.5}}}"#
}

/// A deadlock between an ingest and another transaction: the server ends
/// the ingest's transaction, and the tool runs the file again instead of
/// showing the error. (The other session waits longer before it checks
/// for a deadlock, so the ingest is the one the server picks.)
#[test]
fn a_deadlock_is_retried_inside_the_tool() {
    let targets = targets("deadlock");
    let Some(pg) = postgres_of(&targets) else {
        return;
    };
    let db = pg.db.as_ref().unwrap();
    pg.write("setup.csv", "key,score\nz.mp4,0.9\n");
    pg.write("pair.csv", "key,score\na.mp4,0.1\nb.mp4,0.2\n");
    pg.run(&["ingest", "DOVER=setup.csv"]).ok();
    let deadlocks = |client: &mut postgres::Client| -> i64 {
        client
            .batch_execute("SELECT pg_stat_clear_snapshot()")
            .unwrap();
        client
            .query_one(
                "SELECT deadlocks FROM pg_stat_database WHERE datname = current_database()",
                &[],
            )
            .unwrap()
            .get(0)
    };
    let mut watcher = db.client();
    let before = deadlocks(&mut watcher);
    let mut blocker = db.client();
    blocker
        .batch_execute("SET deadlock_timeout = '30s'")
        .unwrap();
    let mut tx = blocker.transaction().unwrap();
    let insert = |key: &str| {
        format!(
            "INSERT INTO scores (scorer_id, key, key_field, status, source_file_id, line) \
             SELECT s.id, '{key}', 'key', 'ok', f.id, 99 FROM scorers s, source_files f LIMIT 1"
        )
    };
    // The ingest writes a.mp4, then waits for b.mp4, which the blocker
    // holds; the blocker then waits for a.mp4: a cycle.
    tx.batch_execute(&insert("b.mp4")).unwrap();
    let ingest = pg.spawn(&["ingest", "DOVER=pair.csv"]);
    wait_for_lock_wait(&mut watcher, &db.name);
    tx.batch_execute(&insert("a.mp4")).unwrap();
    tx.rollback().unwrap();
    let output = ingest.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert!(!stderr.contains("deadlock"), "{stderr}");
    assert!(stderr.contains("2 rows ingested"), "{stderr}");
    let started = Instant::now();
    while deadlocks(&mut watcher) == before {
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "the server saw no deadlock"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The load scenario of #17: 16 machines ingest 200 small files between
/// them (overlapping keys, `--ignore`; one scorer's files `--replace`), while
/// exports, live and as of a point, run in a loop. Every ingest succeeds
/// (deadlocks between them are retried inside the tool, never shown), no
/// row is lost, every export is the registry at its point (a state between
/// whole files: an as-of export of that point afterwards writes the same
/// bytes, and its per-scorer counts are the rows live at that point), and
/// the final registry holds the live scores a serial run of the same
/// files gives. Copied to SQLite, it replays every export.
#[test]
fn sixteen_machines_and_exports_at_once_equal_a_serial_run() {
    let targets = targets("load");
    let Some(pg) = postgres_of(&targets) else {
        return;
    };
    const MACHINES: usize = 16;
    const FILES: usize = 200;
    const KEYS: usize = 300;
    const ROWS: usize = 40;
    const SCORERS: [&str; 4] = ["load_a", "load_b", "load_c", "load_fix"];
    // A score is a function of its scorer and key, so overlapping files
    // agree (kept once with --ignore; with --replace each file's row is a
    // new live row), and the live scores do not depend on the commit order.
    let value = |scorer: usize, key: usize| ((scorer * 131 + key * 17) % 1000) as f64 / 10.0;
    let mut files: Vec<(usize, String)> = Vec::new();
    for f in 0..FILES {
        let scorer = f % SCORERS.len();
        let start = (f * 37) % KEYS;
        let mut keys: Vec<usize> = (0..ROWS).map(|i| (start + i) % KEYS).collect();
        // Opposite orders: concurrent files wait on each other's rows.
        if f % 2 == 1 {
            keys.reverse();
        }
        let mut text = String::from("key,score\n");
        for key in keys {
            text.push_str(&format!("k{key:03}.mp4,{}\n", value(scorer, key)));
        }
        let name = format!("f{f:03}.csv");
        pg.write(&name, &text);
        files.push((scorer, format!("{}={name}", SCORERS[scorer])));
    }
    let mut clips = String::from("key\n");
    for key in 0..KEYS {
        clips.push_str(&format!("k{key:03}.mp4\n"));
    }
    pg.write("clips.csv", &clips);
    // What a machine runs: its plain files, then its corrections.
    let commands_of = |chosen: &mut dyn Iterator<Item = &(usize, String)>| {
        let (fixes, plain): (Vec<_>, Vec<_>) = chosen.partition(|(scorer, _)| *scorer == 3);
        let mut commands: Vec<Vec<String>> = Vec::new();
        for (replace, group) in [(false, plain), (true, fixes)] {
            if group.is_empty() {
                continue;
            }
            let policy = if replace { "--replace" } else { "--ignore" };
            let mut args = vec!["ingest".to_string(), policy.to_string()];
            args.extend(group.into_iter().map(|(_, label)| label.clone()));
            commands.push(args);
        }
        commands
    };

    let db = pg.db.as_ref().unwrap();
    let started = Instant::now();
    let machines: Vec<std::thread::JoinHandle<Vec<Run>>> = (0..MACHINES)
        .map(|m| {
            let commands = commands_of(&mut files.iter().skip(m).step_by(MACHINES));
            let command = pg.command();
            let program = command.get_program().to_owned();
            let base: Vec<std::ffi::OsString> = command.get_args().map(|a| a.to_owned()).collect();
            let dir = pg.ws.dir.path().to_path_buf();
            let envs: Vec<(std::ffi::OsString, Option<std::ffi::OsString>)> = command
                .get_envs()
                .map(|(k, v)| (k.to_owned(), v.map(|v| v.to_owned())))
                .collect();
            std::thread::spawn(move || {
                commands
                    .iter()
                    .map(|args| {
                        let mut run = Command::new(&program);
                        run.current_dir(&dir).args(&base).args(args);
                        for (key, value) in &envs {
                            match value {
                                Some(value) => run.env(key, value),
                                None => run.env_remove(key),
                            };
                        }
                        Run::from(run.output().unwrap())
                    })
                    .collect()
            })
        })
        .collect();
    // Exports in a loop while the machines ingest: live ones, and now and
    // then one as of the point half way to the newest.
    let mut client = db.client();
    // The first export once the first file has committed.
    while client
        .query_one("SELECT seq FROM registry_clock", &[])
        .map_or(true, |row| row.get::<_, i64>(0) == 0)
    {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "no ingest committed"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let mut made = 0;
    let mut as_of_made = 0;
    while made < 6 || machines.iter().any(|m| !m.is_finished()) {
        let out = format!("e{made:02}.csv");
        let mut args = vec!["export", "--features", "clips.csv", "--out", &out];
        let point;
        if made % 3 == 2 {
            let newest: i64 = client
                .query_one("SELECT seq FROM registry_clock", &[])
                .unwrap()
                .get(0);
            if newest > 0 {
                point = format!("seq:{}", (newest + 1) / 2);
                args.extend(["--as-of", &point]);
                as_of_made += 1;
            }
        }
        pg.run(&args).ok();
        made += 1;
        // Enough to overlap the ingests; CI has two cores.
        if made >= 10 {
            break;
        }
    }
    for machine in machines {
        for run in machine.join().unwrap() {
            assert_eq!(run.code, 0, "an ingest failed:\n{}", run.stderr);
            assert!(
                !run.stderr.contains("deadlock") && !run.stderr.contains("serializ"),
                "{}",
                run.stderr
            );
        }
    }
    let took = started.elapsed();
    assert!(
        made >= 6 && as_of_made >= 2,
        "{made} exports, {as_of_made} as of"
    );

    // Every export is the registry at its point: counts and bytes.
    let exports: Vec<(i64, i64, String, String)> = client
        .query(
            "SELECT id, seq, output_path, registry_state FROM exports ORDER BY id",
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3)))
        .collect();
    assert_eq!(exports.len(), made);
    for (id, seq, output, state) in &exports {
        let state: Value = serde_json::from_str(state).unwrap();
        let live_at: Vec<(String, i64)> = client
            .query(
                "SELECT sc.name, COUNT(*) FROM scores s JOIN scorers sc ON sc.id = s.scorer_id \
                 JOIN source_files f ON f.id = s.source_file_id \
                 WHERE COALESCE(s.born_seq, f.seq) <= $1 \
                   AND (s.superseded_seq IS NULL OR s.superseded_seq > $1) \
                 GROUP BY sc.name ORDER BY sc.name",
                &[seq],
            )
            .unwrap()
            .iter()
            .map(|r| (r.get(0), r.get(1)))
            .collect();
        for (scorer, rows) in &live_at {
            assert_eq!(
                state[scorer]["live_rows"].as_i64(),
                Some(*rows),
                "export {id} at seq:{seq}: {scorer}"
            );
        }
        assert_eq!(
            state.as_object().unwrap().len(),
            live_at.len(),
            "export {id}"
        );
        let again = format!("again{id}.csv");
        let point = format!("seq:{seq}");
        pg.run(&[
            "export",
            "--features",
            "clips.csv",
            "--out",
            &again,
            "--as-of",
            &point,
        ])
        .ok();
        assert_eq!(
            pg.read(&again),
            pg.read(output),
            "export {id} is not the registry at seq:{seq}"
        );
    }

    // The same files, one after another, into a registry of their own.
    let serial_db = Database::create(&db.server, "load_serial");
    for args in commands_of(&mut files.iter()) {
        let run = Run::from(
            pg.ws
                .bare()
                .arg("--registry")
                .arg(&serial_db.url)
                .args(&args)
                .output()
                .unwrap(),
        );
        assert_eq!(run.code, 0, "{}", run.stderr);
    }
    let live = |client: &mut postgres::Client| -> Vec<(String, String, Option<f64>, String)> {
        client
            .query(
                "SELECT sc.name, s.key, s.score, s.status FROM scores s \
                 JOIN scorers sc ON sc.id = s.scorer_id WHERE s.superseded_at IS NULL \
                 ORDER BY 1, 2",
                &[],
            )
            .unwrap()
            .iter()
            .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3)))
            .collect()
    };
    let totals = |client: &mut postgres::Client| -> Vec<(String, i64, i64)> {
        client
            .query(
                "SELECT sc.name, COUNT(*), COUNT(*) FILTER (WHERE s.superseded_at IS NOT NULL) \
                 FROM scores s JOIN scorers sc ON sc.id = s.scorer_id GROUP BY 1 ORDER BY 1",
                &[],
            )
            .unwrap()
            .iter()
            .map(|r| (r.get(0), r.get(1), r.get(2)))
            .collect()
    };
    let concurrent = live(&mut client);
    assert_eq!(concurrent, live(&mut serial_db.client()));
    assert_eq!(totals(&mut client), totals(&mut serial_db.client()));
    // No row lost: every key each scorer's files name is live, and each of
    // load_fix's rows was kept (the earlier ones superseded).
    let named: Vec<std::collections::BTreeSet<usize>> = (0..SCORERS.len())
        .map(|scorer| {
            (0..FILES)
                .filter(|f| f % SCORERS.len() == scorer)
                .flat_map(|f| (0..ROWS).map(move |i| (f * 37 % KEYS + i) % KEYS))
                .collect()
        })
        .collect();
    assert_eq!(
        concurrent.len(),
        named.iter().map(|keys| keys.len()).sum::<usize>()
    );
    let fix_rows = (FILES / SCORERS.len() * ROWS) as i64;
    let fix_keys = named[3].len() as i64;
    assert!(
        totals(&mut client).contains(&("load_fix".to_string(), fix_rows, fix_rows - fix_keys)),
        "{:?}",
        totals(&mut client)
    );
    // Moved to SQLite, the registry the machines made (ids in start order,
    // points in commit order) replays every export with the same bytes.
    let copy = pg.ws.path("load-copy.db").display().to_string();
    pg.ws
        .run_bare(&["registry", "copy", &pg.location, &copy])
        .ok();
    for (id, _, _, _) in &exports {
        let id = id.to_string();
        let out = format!("replayed{id}.csv");
        let replay = pg
            .ws
            .run_bare(&["--registry", &copy, "exports", "replay", &id, "--out", &out])
            .ok();
        assert!(
            replay.stdout.contains("bytes: match"),
            "export {id} on the SQLite copy:\n{}",
            replay.stdout
        );
    }
    let deadlocks: i64 = client
        .query_one(
            "SELECT deadlocks FROM pg_stat_database WHERE datname = current_database()",
            &[],
        )
        .unwrap()
        .get(0);
    eprintln!(
        "load: {MACHINES} machines, {FILES} files, {made} exports in {took:.1?}; \
         {deadlocks} deadlocks retried by the tool"
    );
}

/// A scorer's settings changed on a PostgreSQL registry (`scorers set`)
/// are carried by `registry copy` into SQLite and into PostgreSQL again:
/// an export as of before the change and one as of after it are the same
/// on every copy as on the source.
#[test]
fn registry_copy_carries_settings_history_from_postgres() {
    let Some(server) = server_url() else {
        return;
    };
    let targets = targets("copy_revisions");
    let pg = &targets[1];
    pg.write(
        "dover.jsonl",
        "{\"key\":\"a.mp4\",\"score\":0.5}\n{\"key\":\"b.mp4\",\"score\":0.7}\n",
    );
    pg.write("musiq.csv", "key,score\na.mp4,0.2\nb.mp4,0.9\n");
    pg.write("feat.csv", "key,width\na.mp4,1\nb.mp4,2\n");
    pg.run(&["ingest", "DOVER=dover.jsonl"]).ok();
    pg.run(&["ingest", "MUSIQ=musiq.csv"]).ok();
    pg.run(&["scorers", "set", "DOVER", "--scale", "0:0.6"])
        .ok();
    let exports = |location: &str, name: &str| -> Vec<String> {
        ["seq:2", "seq:3"]
            .iter()
            .map(|point| {
                let out = format!("{name}-{}.csv", &point[4..]);
                pg.ws
                    .run_bare(&[
                        "--registry",
                        location,
                        "export",
                        "--features",
                        "feat.csv",
                        "--out",
                        &out,
                        "--as-of",
                        point,
                    ])
                    .ok();
                pg.read(&out)
            })
            .collect()
    };
    let original = exports(&pg.location, "source");
    assert_ne!(
        original[0], original[1],
        "the change of scale shows in the export"
    );
    let back = pg.ws.path("back.db").display().to_string();
    pg.ws
        .run_bare(&["registry", "copy", &pg.location, &back])
        .ok();
    assert_eq!(exports(&back, "sqlite"), original, "the SQLite copy");
    let twin = Database::create(&server, "copy_revisions_twin");
    pg.ws
        .run_bare(&["registry", "copy", &pg.location, &twin.url])
        .ok();
    assert_eq!(
        exports(&twin.url, "postgres"),
        original,
        "the PostgreSQL copy"
    );
    // The copied scorers made no revisions of their own: every one is
    // stamped, and there are as many as on the source.
    let count = |db: &mut postgres::Client| -> (i64, i64) {
        let row = db
            .query_one(
                "SELECT COUNT(*), COUNT(*) FILTER (WHERE seq IS NULL) FROM scorer_revisions",
                &[],
            )
            .unwrap();
        (row.get(0), row.get(1))
    };
    let source_revisions = count(&mut pg.db.as_ref().unwrap().client());
    assert_eq!(count(&mut twin.client()), source_revisions);
    assert_eq!(source_revisions.1, 0);
}
