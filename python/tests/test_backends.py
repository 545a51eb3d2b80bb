"""The registry calls on every backend (SQLite, and PostgreSQL when
$SECOND_OPINION_TEST_POSTGRES is set): each compared with the command
line's answer on a registry of the same backend. A test `require()`s the
calls it makes; see `Backend.SUPPORTS` in conftest.py."""

from __future__ import annotations

import json

import pyarrow.feather as feather

import second_opinion as so


def both(cli, backend):
    """A registry the command line ingested into and one Python did, the
    same files the same way."""
    theirs, ours = backend.location("cli"), backend.location("py")
    cli.run("ingest", "dover=dover.jsonl", "musiq=musiq.jsonl", "--report-json", "cli.json",
            registry=theirs)
    registry = so.Registry(ours)
    report = registry.ingest("dover=dover.jsonl", "musiq=musiq.jsonl")
    return theirs, registry, report


def test_ingest(cli, backend, workspace):
    backend.require("ingest")
    _, registry, report = both(cli, backend)
    expected = json.loads((workspace / "cli.json").read_text())
    assert report.files == expected["files"]
    assert (report.rows, report.bad) == (5, 1)


def test_scorers_and_files(cli, backend):
    backend.require("ingest", "scorers", "files")
    theirs, registry, _ = both(cli, backend)
    assert registry.scorers() == cli.json("scorers", "--json", registry=theirs)
    ours = registry.files()
    expected = cli.json("files", "--json", registry=theirs)
    assert len(ours) == len(expected)
    for mine, cli_file in zip(ours, expected):
        for field in ("path", "sha256", "rows", "format"):
            if field in cli_file:
                assert mine[field] == cli_file[field], field


def test_export(cli, backend, features):
    backend.require("ingest", "export")
    theirs, registry, _ = both(cli, backend)
    cli.run("export", "--features", "features.parquet", "--out", "cli.arrow", registry=theirs)
    expected = feather.read_table(cli.cwd / "cli.arrow")
    assert registry.export(features).equals(expected, check_metadata=True)
    assert registry.export(features, stream=True).read_all().equals(expected)
    assert registry.last_export is None


def test_scores(cli, backend):
    backend.require("ingest", "scores")
    theirs, registry, _ = both(cli, backend)
    cli.run("export", "--scores-only", "--out", "scores.arrow", registry=theirs)
    expected = feather.read_table(cli.cwd / "scores.arrow")
    ours = registry.scores()
    # The source paths, times and digests are those of each registry's
    # own ingest; the scores are the same.
    for name in ("scorer", "key", "score", "status"):
        assert ours.column(name).equals(expected.column(name)), name
