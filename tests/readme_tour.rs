//! The README's tour shows what a user sees from the repository root: the
//! provenance it prints is the binary's output for the example scores,
//! with no developer machine's absolute path in it.

mod common;

use common::Workspace;

#[test]
fn readme_provenance_is_what_a_user_sees_from_the_repository_root() {
    let repository = env!("CARGO_MANIFEST_DIR");
    let readme = std::fs::read_to_string(format!("{repository}/README.md")).unwrap();
    let command =
        "$ second-opinion provenance --scorer dover-mobile --key /corpus/live-vqc/Video/A003.mp4";
    let shown: Vec<&str> = readme
        .lines()
        .skip_while(|line| *line != command)
        .skip(1)
        .take_while(|line| !line.starts_with("```"))
        .collect();
    assert!(
        !shown.is_empty(),
        "the README's tour has no provenance example"
    );

    // The same files, laid out as in the repository, run from its root.
    let ws = Workspace::new();
    let example =
        std::fs::read(format!("{repository}/examples/scores/dover-mobile.jsonl")).unwrap();
    ws.write("examples/scores/dover-mobile.jsonl", example);
    ws.run(&["ingest", "examples/scores/dover-mobile.jsonl"])
        .ok();
    let run = ws
        .run(&[
            "provenance",
            "--scorer",
            "dover-mobile",
            "--key",
            "/corpus/live-vqc/Video/A003.mp4",
        ])
        .ok();
    let printed: Vec<&str> = run.stdout.lines().collect();
    assert_eq!(printed.len(), shown.len(), "{}", run.stdout);
    for (printed, shown) in printed.iter().zip(&shown) {
        if shown.trim_start().starts_with("ingested_at:") {
            continue;
        }
        // The README shortens the sha256 to its first 8 digits and `…`.
        let shown = shown.trim_end_matches('…');
        assert!(
            printed.starts_with(shown),
            "the binary prints\n{printed}\nthe README shows\n{shown}"
        );
    }
}
