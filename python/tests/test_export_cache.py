"""A `Registry` keeps the score indexes of its last export for the next
export at the same registry point: every change made in between (an
ingest by another process, a correction, a rename) and every other point
(`as_of`) loads them again, and a reused export answers exactly as a fresh
one and as the command line."""

from __future__ import annotations

import pyarrow.feather as feather

import second_opinion as so


def cli_export(cli, *flags):
    """The command line's export of features.parquet, read back."""
    cli.run("export", "--features", "features.parquet", "--out", "cli.arrow",
            "--overwrite", *flags)
    return feather.read_table(cli.cwd / "cli.arrow")


def added(table):
    return table.select([n for n in table.column_names if n.startswith("second_opinion_")])


def test_a_repeated_export_answers_as_the_first(cli, features):
    cli.run("ingest", "dover=dover.jsonl", "musiq=musiq.jsonl")
    with so.Registry("cli.db") as registry:
        first = registry.export(features)
        first_report = registry.last_export.report
        assert registry._native._holds_indexes()
        second = registry.export(features)
        # Counts start again from zero: nothing matched twice.
        assert registry.last_export.report["scorers"] == first_report["scorers"]
        assert second.equals(first)
        assert added(second).equals(added(cli_export(cli)))


def test_an_ingest_by_another_process_between_exports_is_seen(cli, features, workspace):
    cli.run("ingest", "dover=dover.jsonl", "musiq=musiq.jsonl")
    with so.Registry("cli.db") as registry:
        before = registry.export(features)
        (workspace / "musiq2.jsonl").write_text(
            '{"video_id": "c.mp4", "score": 80.0}\n'
            '{"video_id": "e.mp4", "score": 12.5}\n'
        )
        cli.run("ingest", "musiq=musiq2.jsonl", "--replace")
        after = registry.export(features)
        assert not added(after).equals(added(before))
        assert added(after).equals(added(cli_export(cli)))
        assert after.column("second_opinion_musiq_score").to_pylist() == [
            62.0, None, 80.0, None, 12.5]


def test_an_as_of_export_after_a_later_one(cli, features):
    cli.run("ingest", "dover=dover.jsonl")
    cli.run("ingest", "musiq=musiq.jsonl")
    with so.Registry("cli.db") as registry:
        latest = registry.export(features)
        assert "second_opinion_musiq_score" in latest.column_names
        earlier = registry.export(features, as_of="seq:1")
        # At point 1 only dover had scores.
        assert "second_opinion_musiq_score" not in earlier.column_names
        assert added(earlier).equals(added(cli_export(cli, "--as-of", "seq:1")))
        # And back to the newest point.
        assert registry.export(features).equals(latest)


def test_a_correction_between_exports_is_seen(cli, features):
    cli.run("ingest", "dover=dover.jsonl", "musiq=musiq.jsonl")
    with so.Registry("cli.db") as registry:
        before = registry.export(features)
        assert before.column("second_opinion_dover_status").to_pylist() == [
            "ok", "ok", "missing", "bad", "missing"]
        # A scale that excludes 71.5 judges that score again: bad now.
        cli.run("scorers", "set", "dover", "--scale", "0:50")
        rescaled = registry.export(features)
        assert rescaled.column("second_opinion_dover_status").to_pylist() == [
            "bad", "ok", "missing", "bad", "missing"]
        assert added(rescaled).equals(added(cli_export(cli)))
        cli.run("scorers", "rename", "dover", "dover-v2")
        renamed = registry.export(features)
        assert "second_opinion_dover_v2_score" in renamed.column_names
        assert "second_opinion_dover_score" not in renamed.column_names
        assert added(renamed).equals(added(cli_export(cli)))


def test_other_load_options_load_again(cli, features):
    cli.run("ingest", "dover=dover.jsonl", "musiq=musiq.jsonl")
    with so.Registry("cli.db") as registry:
        registry.export(features)
        only = registry.export(features, scorers=["musiq"])
        assert "second_opinion_dover_score" not in only.column_names
        prefixed = registry.export(features, prefix="so")
        assert "so_dover_score" in prefixed.column_names


def test_close_frees_the_kept_indexes(cli, features):
    cli.run("ingest", "dover=dover.jsonl", "musiq=musiq.jsonl")
    registry = so.Registry("cli.db")
    registry.export(features)
    assert registry._native._holds_indexes()
    registry.close()
    assert not registry._native._holds_indexes()
    # A later call opens the registry again, and loads them again.
    assert added(registry.export(features)).equals(added(cli_export(cli)))
    registry.close()


def test_changes_by_another_process_are_seen_on_every_backend(cli, backend, features, workspace):
    backend.require("ingest", "export")
    location = backend.location("shared")
    cli.run("ingest", "dover=dover.jsonl", "musiq=musiq.jsonl", registry=location)
    with so.Registry(location) as registry:
        before = registry.export(features)
        (workspace / "musiq2.jsonl").write_text('{"video_id": "e.mp4", "score": 12.5}\n')
        cli.run("ingest", "musiq=musiq2.jsonl", registry=location)
        ingested = registry.export(features)
        assert ingested.column("second_opinion_musiq_score").to_pylist() == [
            62.0, None, 33.5, None, 12.5]
        cli.run("scorers", "set", "dover", "--scale", "0:50", registry=location)
        rescaled = registry.export(features)
        assert rescaled.column("second_opinion_dover_status").to_pylist() == [
            "bad", "ok", "missing", "bad", "missing"]
        cli.run("export", "--features", "features.parquet", "--out", "cli.arrow",
                registry=location)
        assert added(rescaled).equals(added(feather.read_table(workspace / "cli.arrow")))
        assert not added(before).equals(added(rescaled))
