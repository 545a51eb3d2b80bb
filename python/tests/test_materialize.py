"""`materialize()`: the reference function's scenarios (written from the
reference's documented behaviour: a plain join, drop, fail, a duplicate,
the overwrite guard, a wrapper with frames, the audit JSON), each compared
with `second-opinion materialize` on the same files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import second_opinion as so

FEATURES = (
    '{"clip_id": "a", "adm2": 0.9}\n'
    '{"clip_id": "b", "adm2": 0.8}\n'
    '{"clip_id": "c", "adm2": 0.7}\n'
)


@pytest.fixture
def files(workspace: Path) -> Path:
    (workspace / "features.jsonl").write_text(FEATURES)
    (workspace / "musiq.jsonl").write_text(
        '{"clip_id": "a", "score": 61.5, "runtime_ms": 5}\n'
        '{"clip_id": "b", "score": 48, "status": "failed"}\n'
        '{"clip_id": "c", "score": 52.25}\n'
    )
    (workspace / "fast.jsonl").write_text(
        '{"clip_id": "a", "competitor": "fast-vqa", "score": 0.61}\n'
        '{"clip_id": "b", "competitor": "fast-vqa", "score": 0.42}\n'
    )
    return workspace


def both(cli, workspace: Path, scores: list[str], **options):
    """The same run by the command line (into cli/) and by Python (into
    py/): both outputs, the CLI's audit file and Python's returned dict."""
    flags = []
    for name, value in options.items():
        flag = "--" + name.replace("_", "-")
        if value is True:
            flags.append(flag)
        else:
            flags += [flag, str(value)]
    (workspace / "cli").mkdir(exist_ok=True)
    cli.run("materialize", "--features", "features.jsonl",
            *[a for s in scores for a in ("--scores", s)],
            "--out", "cli/out.jsonl", "--audit-json", "cli/audit.json", *flags, registry=None)
    returned = so.materialize("features.jsonl", scores, "py/out.jsonl",
                              audit_json="py/audit.json", **options)
    cli_audit = json.loads((workspace / "cli/audit.json").read_text())
    py_audit = json.loads((workspace / "py/audit.json").read_text())
    assert returned == py_audit
    return (workspace / "cli/out.jsonl").read_text(), (workspace / "py/out.jsonl").read_text(), cli_audit, py_audit


def same_audit(cli_audit: dict, py_audit: dict) -> None:
    """Equal but for what names the run and its paths (cli/ vs py/)."""
    def strip(audit):
        audit = json.loads(json.dumps(audit).replace("cli/", "").replace("py/", ""))
        provenance = audit.pop("run_provenance")
        return audit, provenance["args"], provenance["schema"]
    assert strip(cli_audit) == strip(py_audit)


def rows(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def test_1_a_plain_join_marks_missing_and_bad_rows(cli, files):
    cli_out, py_out, cli_audit, py_audit = both(cli, files, ["musiq=musiq.jsonl", "fast.jsonl"])
    assert cli_out == py_out
    same_audit(cli_audit, py_audit)
    out = rows(py_out)
    assert [r["second_opinion_musiq_status"] for r in out] == ["ok", "bad", "ok"]
    assert [r["second_opinion_fast_vqa_status"] for r in out] == ["ok", "ok", "missing"]
    assert out[2]["second_opinion_fast_vqa_score"] is None
    assert out[2]["second_opinion_fast_vqa_source"] == ""
    assert out[2]["second_opinion_fast_vqa_frames"] == 0
    assert sorted(py_audit) == ["competitors", "feature_table", "input_rows", "key_column",
                                "key_normalize", "missing_policy", "output", "output_rows",
                                "run_provenance", "second_opinion_provenance"]
    assert py_audit["competitors"]["fast-vqa"]["missing_rows"] == 1


def test_2_drop_removes_rows_with_a_missing_scorer(cli, files):
    cli_out, py_out, cli_audit, py_audit = both(cli, files, ["musiq=musiq.jsonl", "fast.jsonl"],
                                                missing_policy="drop")
    assert cli_out == py_out
    same_audit(cli_audit, py_audit)
    assert [r["clip_id"] for r in rows(py_out)] == ["a", "b"]
    assert py_audit["output_rows"] == 2


def test_3_fail_refuses_and_writes_nothing(cli, files):
    code, closing = cli.error("materialize", "--features", "features.jsonl", "--scores",
                              "fast.jsonl", "--out", "out.jsonl", "--missing-policy", "fail",
                              registry=None)
    with pytest.raises(so.DataError) as raised:
        so.materialize("features.jsonl", ["fast.jsonl"], "out.jsonl", missing_policy="fail")
    assert code == 1
    assert str(raised.value) == closing
    assert "missing second-opinion scores: fast-vqa=1" in closing
    assert not (files / "out.jsonl").exists()


def test_4_a_duplicate_score_is_refused_naming_file_and_line(cli, files):
    (files / "twice.jsonl").write_text('{"clip_id": "a", "score": 1}\n{"clip_id": "a", "score": 2}\n')
    code, closing = cli.error("materialize", "--features", "features.jsonl", "--scores",
                              "musiq=twice.jsonl", "--out", "out.jsonl", registry=None)
    with pytest.raises(so.DataError) as raised:
        so.materialize("features.jsonl", "musiq=twice.jsonl", "out.jsonl")
    assert code == 1
    assert str(raised.value) == closing
    assert "twice.jsonl:2: duplicate score for competitor='musiq' key='a'" in closing
    assert not (files / "out.jsonl").exists()


def test_5_existing_columns_need_overwrite(cli, files):
    so.materialize("features.jsonl", ["musiq=musiq.jsonl"], "once.jsonl")
    (files / "features.jsonl").write_text((files / "once.jsonl").read_text())
    code, closing = cli.error("materialize", "--features", "features.jsonl", "--scores",
                              "musiq=musiq.jsonl", "--out", "out.jsonl", registry=None)
    with pytest.raises(so.SecondOpinionError) as raised:
        so.materialize("features.jsonl", ["musiq=musiq.jsonl"], "out.jsonl")
    assert str(raised.value) == closing
    assert "refusing to overwrite existing second-opinion columns" in closing
    assert isinstance(raised.value, so.UsageError if code == 2 else so.DataError)
    cli_out, py_out, cli_audit, py_audit = both(cli, files, ["musiq=musiq.jsonl"], overwrite=True)
    assert cli_out == py_out
    same_audit(cli_audit, py_audit)


def test_6_a_wrapper_with_frames_pools_their_mean(cli, files):
    (files / "wrapper.json").write_text(json.dumps({"results": [
        {"summary": {"competitor": "dover", "clip_id": "a"},
         "frames": [{"score": 60, "runtime_ms": 2}, {"score": 70, "runtime_ms": 3}]},
        {"summary": {"competitor": "dover", "clip_id": "c", "score": 44.5}},
    ]}))
    cli_out, py_out, cli_audit, py_audit = both(cli, files, ["wrapper.json"])
    assert cli_out == py_out
    same_audit(cli_audit, py_audit)
    out = rows(py_out)
    assert out[0]["second_opinion_dover_score"] == 65
    assert out[0]["second_opinion_dover_frames"] == 2
    assert out[0]["second_opinion_dover_runtime_ms"] == 5
    assert out[2]["second_opinion_dover_score"] == 44.5


def test_7_the_audit_json_has_the_reference_provenance(cli, files):
    returned = so.materialize("features.jsonl", ["musiq=musiq.jsonl"], "out.parquet",
                              audit_json="audit.json", key_column="clip_id")
    written = (files / "audit.json").read_text()
    assert json.loads(written) == returned
    # Strict, sorted, indented, with a trailing newline, as the reference writes it.
    assert written == json.dumps(returned, indent=2, sort_keys=True, allow_nan=False) + "\n"
    provenance = returned["run_provenance"]
    assert provenance["schema"] == "ai-run-provenance-v1"
    assert provenance["args"] == {
        "audit_json": "audit.json", "features": "features.jsonl", "key_column": "clip_id",
        "key_normalize": "auto", "missing_policy": "mark", "out": "out.parquet",
        "overwrite": False, "prefix": "second_opinion", "score_field": None,
        "score_key_field": None, "scores": ["musiq=musiq.jsonl"],
    }
    assert provenance["inputs"]["features"]["kind"] == "file"
    assert returned["competitors"]["musiq"]["bad_rows"] == 1


def test_a_registry_keeps_the_scores(cli, files):
    so.materialize("features.jsonl", ["musiq=musiq.jsonl"], "out.jsonl", registry="kept.db",
                   tag="first")
    with so.Registry("kept.db") as registry:
        assert [s["name"] for s in registry.scorers()] == ["musiq"]
        assert registry.exports()[0]["tags"] == ["first"]
    with pytest.raises(so.UsageError, match="pass registry=PATH"):
        so.materialize("features.jsonl", ["musiq=musiq.jsonl"], "out.jsonl", tag="first")
