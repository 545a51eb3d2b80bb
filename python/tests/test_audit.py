"""`audit()`: the report of `second-opinion audit --out-json` on the same
tables, from paths and from in-memory tables."""

from __future__ import annotations

import json

import pandas as pd
import polars as pl
import pyarrow as pa
import pytest

import second_opinion as so


def comparable(report: dict) -> dict:
    """The report without what names the run: provenance, and the runs
    recorded before it (the two runs go to different registries)."""
    report = dict(report)
    report.pop("run_provenance")
    return report


def test_audit_of_a_path_is_the_command_line_report(cli, workspace):
    cli.run("audit", "--input", "features.parquet", "--out-json", "cli.json", registry="none.db")
    expected = json.loads((workspace / "cli.json").read_text())
    report = so.audit("features.parquet", registry="none.db", out_json="py.json")
    assert comparable(report) == comparable(expected)
    assert json.loads((workspace / "py.json").read_text()) == report
    assert report["run_provenance"]["inputs"][0]["path"] == "features.parquet"
    assert not (workspace / "none.db").exists()


@pytest.mark.parametrize("kind", ["pyarrow", "polars", "pandas"])
def test_audit_of_a_table_in_memory(cli, workspace, features, kind):
    cli.run("audit", "--input", "features=features.parquet", "--out-json", "cli.json",
            registry="none.db")
    expected = json.loads((workspace / "cli.json").read_text())
    given = {"pyarrow": features, "polars": pl.from_arrow(features),
             "pandas": features.to_pandas()}[kind]
    report = so.audit([("features", given)], registry="none.db")
    mine, theirs = comparable(report), comparable(expected)
    # The inputs as given: `features=features.parquet` against `features=<arrow table>`.
    assert mine["options"].pop("inputs") == ["features=<arrow table>"]
    theirs["options"].pop("inputs")
    for table in mine["tables"] + theirs["tables"]:
        # The table's file and hash differ by nature (a temporary Arrow
        # file against the parquet file); the findings must not.
        for name in ("path", "absolute_path", "sha256", "size_bytes", "format"):
            table.pop(name, None)
    assert mine == theirs
    assert report["run_provenance"]["inputs"][0]["path"] == "<arrow table>"


def test_audit_records_its_run_in_an_existing_registry(cli, workspace):
    cli.run("ingest", "dover=dover.jsonl", registry="kept.db")
    so.audit("features.parquet", registry="kept.db")
    # The command line's next run compares with the one Python recorded.
    cli.run("audit", "--input", "features.parquet", "--compare-last", "--out-json", "cli.json",
            registry="kept.db")
    changes = json.loads((workspace / "cli.json").read_text())["tables"][0]["changes_since_last"]
    assert changes["previous"] is not None
    assert changes["same_table_bytes"] is True


def test_audit_usage_errors(cli, workspace):
    code, closing = cli.error("audit", "--input", "features.parquet", "--disagreement-threshold",
                              "2", "--out-json", "x.json", registry="none.db")
    with pytest.raises(so.UsageError) as raised:
        so.audit("features.parquet", registry="none.db", disagreement_threshold=2)
    assert code == 2 and str(raised.value) == closing
