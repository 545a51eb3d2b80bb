"""Registry calls against the command line on the same registry: ingest,
the `--json` queries, export (pyarrow, polars, pandas, paths), scores, and
the errors with their messages."""

from __future__ import annotations

import hashlib
import threading

import pandas as pd
import polars as pl
import pyarrow as pa
import pyarrow.feather as feather
import pyarrow.parquet as pq
import pytest

import second_opinion as so


def ingested(cli, path="cli.db"):
    """A registry both sides ingested the same way into: the CLI into
    `cli.db`, Python into `path` when it differs."""
    cli.run("ingest", "dover=dover.jsonl", "musiq=musiq.jsonl", registry=path)
    return so.Registry(path)


def test_ingest_report_matches_the_command_line(cli, workspace):
    cli.run("ingest", "dover=dover.jsonl", "musiq=musiq.jsonl", "--report-json", "cli.json")
    expected = __import__("json").loads((workspace / "cli.json").read_text())
    with so.Registry("py.db") as registry:
        report = registry.ingest("dover=dover.jsonl", "musiq=musiq.jsonl")
    assert report.failed_files == expected["failed_files"] == 0
    assert len(report.files) == 2
    for mine, theirs in zip(report.files, expected["files"]):
        assert mine == theirs
    assert (report.rows, report.bad, report.skipped) == (5, 1, 0)
    # The same bytes again are skipped, as on the command line.
    with so.Registry("py.db") as registry:
        again = registry.ingest("dover=dover.jsonl")
    assert again.files[0]["status"] == "already_ingested"
    assert again.rows == 0


def test_default_registry_follows_the_command_line(workspace, monkeypatch):
    assert so.Registry().path == "second-opinion.db"
    monkeypatch.setenv("SECOND_OPINION_REGISTRY", "elsewhere.db")
    assert so.Registry().path == "elsewhere.db"
    assert so.default_registry() == "elsewhere.db"


def test_a_conflicting_score_is_refused_with_the_command_line_message(cli, workspace):
    (workspace / "again.jsonl").write_text('{"video_id": "a.mp4", "score": 10}\n')
    cli.run("ingest", "dover=dover.jsonl")
    code, closing = cli.error("ingest", "dover=again.jsonl")
    stderr = cli.run("ingest", "dover=again.jsonl", check=False).stderr
    registry = so.Registry("cli.db")
    with pytest.raises(so.DataError) as raised:
        registry.ingest("dover=again.jsonl")
    assert code == 1
    lines = str(raised.value).splitlines()
    assert lines[-1] == closing == "1 of 1 files not ingested"
    assert f"second-opinion: {lines[0]}" in stderr
    assert lines[0].startswith("again.jsonl:1: duplicate score for competitor='dover'")
    assert raised.value.report.failed_files == 1
    # replace=True supersedes it, as --replace does.
    report = registry.ingest("dover=again.jsonl", replace=True)
    assert report.replaced == 1


def test_a_file_of_unknown_format_is_a_usage_error(cli, workspace):
    (workspace / "odd.txt").write_text("nothing a scorer wrote\n")
    code, closing = cli.error("ingest", "s=odd.txt")
    with pytest.raises(so.UsageError) as raised:
        so.Registry("py.db").ingest("s=odd.txt")
    assert code == 2
    assert str(raised.value) == closing
    assert not (workspace / "py.db").exists()


@pytest.mark.parametrize("query", ["scorers", "files", "exports"])
def test_queries_are_the_command_line_json(cli, features, query):
    registry = ingested(cli)
    registry.export(features)
    assert getattr(registry, query)() == cli.json(query, "--json")


def test_provenance_and_diff_are_the_command_line_json(cli, features, workspace):
    registry = ingested(cli)
    registry.export(features)
    (workspace / "more.jsonl").write_text('{"video_id": "e.mp4", "score": 20}\n')
    registry.ingest("musiq=more.jsonl")
    registry.export(features)
    assert registry.provenance("dover", "a.mp4") == cli.json(
        "provenance", "--scorer", "dover", "--key", "a.mp4", "--json"
    )
    assert registry.provenance(None, "a.mp4", as_of=1) == cli.json(
        "provenance", "--key", "a.mp4", "--as-of", "1", "--json"
    )
    assert registry.diff(1, 2, rows=True) == cli.json("exports", "diff", "1", "2", "--rows", "--json")
    assert registry.show_export(2) == cli.json("exports", "show", "2", "--json")


def cli_export(cli, *flags):
    """The command line's export of features.parquet, read back."""
    cli.run("export", "--features", "features.parquet", "--out", "cli.arrow", *flags)
    return feather.read_table(cli.cwd / "cli.arrow")


@pytest.mark.parametrize("kind", ["pyarrow", "reader", "polars", "pandas", "path"])
def test_export_matches_the_command_line(cli, features, workspace, kind):
    registry = ingested(cli)
    expected = cli_export(cli)
    given = {
        "pyarrow": features,
        "reader": pa.RecordBatchReader.from_batches(features.schema, features.to_batches()),
        "polars": pl.from_arrow(features),
        "pandas": features.to_pandas(),
        "path": workspace / "features.parquet",
    }[kind]
    table = registry.export(given)
    assert isinstance(table, pa.Table)
    added = [n for n in expected.column_names if n.startswith("second_opinion_")]
    assert table.column_names == expected.column_names
    # Values, types and row order of the new columns, exactly.
    assert table.select(added).equals(expected.select(added))
    if kind in ("pyarrow", "reader", "path"):
        # The feature table passes through losslessly, metadata included.
        assert table.equals(expected, check_metadata=True)
    else:
        # polars and pandas pick their own types (large strings, int64 for
        # a nullable int): what they handed over passes through.
        handed = pa.table(given) if kind == "polars" else pa.Table.from_pandas(given, preserve_index=False)
        assert table.select(handed.column_names).cast(handed.schema).equals(handed)
    statuses = table.column("second_opinion_dover_status").to_pylist()
    assert statuses == ["ok", "ok", "missing", "bad", "missing"]


def test_export_records_what_the_command_line_records(cli, features, workspace):
    registry = ingested(cli)
    # The command line reads the same table from an (uncompressed) Arrow file.
    with pa.OSFile(str(workspace / "features.arrow"), "wb") as sink:
        with pa.ipc.new_file(sink, features.schema) as writer:
            writer.write_table(features)
    cli.run("export", "--features", "features.arrow", "--out", "cli.arrow")
    registry.export(features, note="from python")
    cli_record, py_record = registry.exports()
    assert py_record["features_path"] == "<arrow table>"
    assert py_record["output_path"] == "<returned table>"
    assert py_record["note"] == "from python"
    for field in ("registry_digest", "input_rows", "output_rows", "scorers", "options",
                  "output_format", "registry_state", "content_digest"):
        assert py_record[field] == cli_record[field], field
    # The output hash is that of the Arrow IPC file the export wrote: the
    # very bytes `export --out x.arrow` writes for the same table.
    cli_bytes = (workspace / "cli.arrow").read_bytes()
    assert py_record["output_sha256"] == hashlib.sha256(cli_bytes).hexdigest()
    assert registry.last_export.id == py_record["id"]
    assert registry.last_export.report["output"]["sha256"] == py_record["output_sha256"]


def test_export_options_reach_the_join(cli, features):
    registry = ingested(cli)
    expected = cli_export(cli, "--scorers", "musiq", "--missing-policy", "drop", "--prefix", "so")
    table = registry.export(features, scorers=["musiq"], missing_policy="drop", prefix="so",
                            record=False)
    assert table.equals(expected, check_metadata=True)
    assert registry.last_export.id is None
    assert registry.exports() == cli.json("exports", "--json")


def test_a_large_table_in_one_batch_is_recorded_as_the_command_records_it(cli, workspace):
    """A table of more rows than a batch the command reads, handed over as one
    batch: the export joins it in the command's batches (so the output's
    encoding and hashing overlap the join), and the recorded output hash is
    the command's for the same table read from a file."""
    rows = 70_000
    keys = ["a.mp4", "b.mp4", "c.mp4", "d.mp4"] + ["clip_%06d.mp4" % n for n in range(rows - 4)]
    big = pa.table({"video_id": keys, "adm2": pa.array(range(rows), pa.float64())})
    assert big.column(0).num_chunks == 1
    pq.write_table(big, workspace / "big.parquet", row_group_size=rows)
    registry = ingested(cli)
    cli.run("export", "--features", "big.parquet", "--out", "big.arrow")
    table = registry.export(big)
    assert table.num_rows == rows
    assert table.equals(feather.read_table(workspace / "big.arrow"))
    cli_record, py_record = registry.exports()[-2:]
    assert cli_record["content_digest"] == py_record["content_digest"]
    assert py_record["output_sha256"] == hashlib.sha256(
        (workspace / "big.arrow").read_bytes()).hexdigest()
    # The returned table still shares the given buffers.
    given = big.column("adm2").chunk(0).buffers()[1].address
    assert table.column("adm2").chunk(0).buffers()[1].address == given


def test_an_unrecorded_export_hashes_nothing(cli, features, workspace):
    """record=False: the same table, but no file is hashed, so the report's
    hashes and sizes are None; a recorded export still has them."""
    registry = ingested(cli)
    expected = cli_export(cli)
    for out in (None, "unrecorded.arrow"):
        returned = registry.export(features, record=False, out=out)
        table = returned if out is None else feather.read_table(workspace / out)
        assert table.equals(expected, check_metadata=True)
        report = registry.last_export.report
        for part in ("feature_table", "output"):
            assert report[part]["sha256"] is None, part
            assert report[part]["size_bytes"] is None, part
        assert report["content_digest"]
    streamed = registry.export(features, stream=True, record=False).read_all()
    assert streamed.equals(expected, check_metadata=True)
    registry.export(features)
    report = registry.last_export.report
    assert report["output"]["sha256"] == registry.exports()[-1]["output_sha256"]
    assert report["feature_table"]["size_bytes"] > 0


def test_export_to_a_file(cli, features, workspace):
    registry = ingested(cli)
    expected = cli_export(cli)
    assert registry.export(features, out="py.arrow") is None
    assert feather.read_table(workspace / "py.arrow").equals(expected, check_metadata=True)
    assert registry.exports()[-1]["output_path"] == "py.arrow"


def test_export_errors_carry_the_command_line_messages(cli, features, workspace):
    registry = ingested(cli)
    code, closing = cli.error("export", "--features", "features.parquet", "--out", "x.arrow",
                              "--missing-policy", "fail")
    with pytest.raises(so.DataError) as raised:
        registry.export("features.parquet", missing_policy="fail")
    assert code == 1
    assert str(raised.value) == closing
    code, closing = cli.error("export", "--features", "features.parquet", "--out", "x.arrow",
                              "--key-column", "nope")
    with pytest.raises(so.UsageError if code == 2 else so.DataError) as raised:
        registry.export("features.parquet", key_column="nope")
    assert str(raised.value) == closing
    with pytest.raises(so.UsageError, match="missing_policy=\"sometimes\""):
        registry.export(features, missing_policy="sometimes")
    with pytest.raises(so.UsageError, match="expected a path or a table"):
        registry.export(42)
    # Nothing was recorded by a failed export.
    assert registry.exports() == []


def test_a_registry_that_does_not_exist(cli, workspace, features):
    code, closing = cli.error("scorers", registry="absent.db")
    with pytest.raises(so.DataError) as raised:
        so.Registry("absent.db").scorers()
    assert code == 1 and str(raised.value) == closing
    with pytest.raises(so.DataError):
        so.Registry("absent.db").export(features)
    assert not (workspace / "absent.db").exists()


def test_scores_match_export_scores_only(cli):
    registry = ingested(cli)
    cli.run("export", "--scores-only", "--out", "scores.arrow")
    expected = feather.read_table(cli.cwd / "scores.arrow")
    table = registry.scores()
    assert table.equals(expected, check_metadata=True)
    assert registry.scores(scorers=["musiq"]).column("scorer").to_pylist() == ["musiq", "musiq"]
    # Only the command's own export was recorded.
    assert len(registry.exports()) == 1
    registry.scores(record=True, tag="snapshot")
    assert registry.exports()[-1]["tags"] == ["snapshot"]


def test_calls_release_the_gil(cli, features):
    """Another Python thread runs while exports run (the GIL is released)."""
    registry = ingested(cli)
    ticks = []
    stop = threading.Event()

    def tick():
        while not stop.is_set():
            ticks.append(1)
            stop.wait(0.001)

    thread = threading.Thread(target=tick)
    thread.start()
    big = pa.concat_tables([features] * 20000)
    registry.export(big, record=False)
    stop.set()
    thread.join()
    assert len(ticks) > 5


def test_export_of_a_duckdb_relation(cli, features):
    duckdb = pytest.importorskip("duckdb")
    registry = ingested(cli)
    expected = cli_export(cli)
    connection = duckdb.connect()
    relation = connection.sql("SELECT * FROM features")  # the local pyarrow Table, by name
    table = registry.export(relation, record=False)
    added = [n for n in expected.column_names if n.startswith("second_opinion_")]
    assert table.select(added).equals(expected.select(added))
    assert table.column("video_id").to_pylist() == expected.column("video_id").to_pylist()


def test_ctrl_c_between_files_leaves_whole_files(workspace):
    """A KeyboardInterrupt during a long ingest stops it between files:
    every file in the registry is there whole (each is its own
    transaction), none half-written."""
    import os
    import signal

    paths = []
    for i in range(300):
        path = workspace / f"part{i:03}.jsonl"
        path.write_text(f'{{"video_id": "c{i}a.mp4", "score": 1}}\n{{"video_id": "c{i}b.mp4", "score": 2}}\n')
        paths.append(f"s=part{i:03}.jsonl")
    registry = so.Registry("py.db")
    # The registry is created first, so the interrupt falls among the files.
    registry.ingest(paths[0], format="jsonl")
    # Python's own Ctrl-C handler, whatever this process inherited: a
    # process started in the background by a shell inherits SIGINT ignored,
    # and Python then installs no handler (the signal would be dropped).
    inherited = signal.signal(signal.SIGINT, signal.default_int_handler)
    timer = threading.Timer(0.3, lambda: os.kill(os.getpid(), signal.SIGINT))
    try:
        timer.start()
        with pytest.raises(KeyboardInterrupt):
            # format= given: no detection pass before the first file.
            registry.ingest(*paths[1:], format="jsonl")
            # Ingest finished before the timer: wait for the interrupt here.
            threading.Event().wait(5)
        timer.join()
    finally:
        timer.cancel()
        signal.signal(signal.SIGINT, inherited)
    files = registry.files()
    assert 1 <= len(files) <= 300
    live = {row["key"] for row in registry.scores().to_pylist()}
    assert len(live) == 2 * len(files)
