#!/usr/bin/env python3
"""Read every table format `second-opinion export` writes back with pyarrow
and pandas, and check it against the input.

    python3 tests/python/check_outputs.py target/release/second-opinion

Builds a feature table with pandas (a named index, an int column with NaN, a
nullable Int64 column, a string key column holding "001", float columns),
writes it as parquet, feather, CSV, JSON Lines and {"rows": [...]} JSON,
ingests a JSONL score file into a fresh registry, exports onto every table
(same format in and out, plus a few cross-format exports), reads each output
back with pyarrow and with pandas and checks that

* the original columns keep their values, nulls, order and types (for
  parquet: the pandas index comes back as the index, and the nullable Int64
  dtype survives through the pandas schema metadata);
* the new `second_opinion_<scorer>_*` columns hold the expected values with
  the expected types (float64 score/runtime, string status/source, int64
  frames).

Exits 1 listing every mismatch, 0 when everything matches.
"""

import json
import math
import os
import subprocess
import sys
import tempfile
import traceback
from pathlib import Path

try:
    import numpy as np
    import pandas as pd
    import pandas.testing as pdt
    import pyarrow as pa
    import pyarrow.csv as pa_csv
    import pyarrow.feather as pa_feather
    import pyarrow.json as pa_json
    import pyarrow.parquet as pq
except ImportError as error:  # pragma: no cover - environment problem
    sys.exit(f"check_outputs.py needs pyarrow and pandas: {error}")

KEYS = ["001", "002", "003", "004"]
PREFIX = "second_opinion_dover_mobile"
SUFFIXES = ["score", "status", "runtime_ms", "frames", "source"]
ADDED = [f"{PREFIX}_{suffix}" for suffix in SUFFIXES]
SCORES_PATH = "scores/dover.jsonl"

# Per key: score, status, runtime_ms, frames, source.
EXPECTED = {
    "001": (72.5, "ok", 3.0, 0, SCORES_PATH),
    "002": (64.0, "ok", 4.0, 0, SCORES_PATH),
    "003": (None, "bad", 5.0, 0, SCORES_PATH),
    "004": (None, "missing", None, 0, ""),
}
SCORE_ROWS = [
    {"video_id": "001", "competitor": "DOVER-Mobile", "score": 72.5, "runtime_ms": 3.0},
    {"video_id": "002", "competitor": "DOVER-Mobile", "score": 64.0, "runtime_ms": 4.0},
    {"video_id": "003", "competitor": "DOVER-Mobile", "score": None, "runtime_ms": 5.0},
]

ARROW_TYPES = {
    "score": (pa.float64(),),
    "status": (pa.string(), pa.large_string()),
    "runtime_ms": (pa.float64(),),
    "frames": (pa.int64(),),
    "source": (pa.string(), pa.large_string()),
}

failures = []


class Mismatch(Exception):
    pass


def expect(condition, message):
    if not condition:
        raise Mismatch(message)


def feature_frame():
    """The feature table, with a named index."""
    return pd.DataFrame(
        {
            "video_id": ["001", "002", "003", "004"],
            "n_frames": [120, np.nan, 240, np.nan],  # int with NaN -> float64
            "crf": pd.array([23, None, 28, 35], dtype="Int64"),
            "vmaf": [91.5, 82.25, 70.0, 60.125],
            "psnr_y": [41.03125, 38.5, np.nan, 33.0],
        },
        index=pd.Index(["clip_a", "clip_b", "clip_c", "clip_d"], name="clip"),
    )


def write_inputs(directory: Path):
    df = feature_frame()
    flat = df.reset_index()
    df.to_parquet(directory / "features.parquet")
    # Feather keeps no index: the index is a column. pandas compresses
    # feather files (lz4) by default, as users' files are.
    flat.to_feather(directory / "features.feather")
    flat.to_csv(directory / "features.csv", index=False)
    flat.to_json(directory / "features.jsonl", orient="records", lines=True)
    rows = json.loads(flat.to_json(orient="records"))
    (directory / "features.json").write_text(json.dumps({"rows": rows}) + "\n")
    scores = directory / SCORES_PATH
    scores.parent.mkdir(parents=True, exist_ok=True)
    scores.write_text("".join(json.dumps(row) + "\n" for row in SCORE_ROWS))


def run(binary, directory, *args):
    env = {k: v for k, v in os.environ.items() if k != "SECOND_OPINION_REGISTRY"}
    command = [binary, "--registry", str(directory / "registry.db"), *args]
    done = subprocess.run(command, cwd=directory, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise Mismatch(
            f"`{' '.join(command[1:])}` exited {done.returncode}:\n{done.stderr.strip()}"
        )
    return done


# ------------------------------------------------------------------ readers


def read_pyarrow(path: Path) -> pa.Table:
    suffix = path.suffix
    if suffix == ".parquet":
        return pq.read_table(path)
    if suffix == ".feather":
        return pa_feather.read_table(path)
    if suffix == ".csv":
        options = pa_csv.ConvertOptions(column_types={"video_id": pa.string()})
        return pa_csv.read_csv(path, convert_options=options)
    if suffix == ".jsonl":
        return pa_json.read_json(path)
    if suffix == ".json":
        document = json.loads(path.read_text())
        expect(
            isinstance(document, dict) and list(document) == ["rows"],
            f'{path.name}: not a {{"rows": [...]}} document',
        )
        return pa.Table.from_pylist(document["rows"])
    raise ValueError(suffix)


def read_pandas(path: Path) -> pd.DataFrame:
    suffix = path.suffix
    if suffix == ".parquet":
        return pd.read_parquet(path)
    if suffix == ".feather":
        return pd.read_feather(path)
    if suffix == ".csv":
        return pd.read_csv(path, dtype={"video_id": str})
    if suffix == ".jsonl":
        return pd.read_json(path, lines=True, dtype={"video_id": str})
    if suffix == ".json":
        return pd.DataFrame(json.loads(path.read_text())["rows"])
    raise ValueError(suffix)


# ------------------------------------------------------------------- checks


def check_added_pyarrow(table: pa.Table, where: str):
    names = table.column_names
    expect(names[-len(ADDED):] == ADDED, f"{where}: new columns {names[-len(ADDED):]}, want {ADDED}")
    for suffix in SUFFIXES:
        name = f"{PREFIX}_{suffix}"
        field = table.schema.field(name)
        expect(
            field.type in ARROW_TYPES[suffix],
            f"{where}: {name} has type {field.type}, want {ARROW_TYPES[suffix][0]}",
        )
    keys = table.column("video_id").to_pylist()
    expect(keys == KEYS, f"{where}: video_id is {keys!r}, want {KEYS!r}")
    for index, suffix in enumerate(SUFFIXES):
        got = table.column(f"{PREFIX}_{suffix}").to_pylist()
        want = [EXPECTED[key][index] for key in KEYS]
        expect(got == want, f"{where}: {PREFIX}_{suffix} is {got!r}, want {want!r}")


def check_added_pandas(frame: pd.DataFrame, where: str, text_nulls=False):
    for suffix in ("score", "runtime_ms"):
        name = f"{PREFIX}_{suffix}"
        expect(frame[name].dtype == np.float64, f"{where}: {name} dtype {frame[name].dtype}, want float64")
    name = f"{PREFIX}_frames"
    expect(frame[name].dtype == np.int64, f"{where}: {name} dtype {frame[name].dtype}, want int64")
    for suffix in ("status", "source"):
        name = f"{PREFIX}_{suffix}"
        expect(
            pd.api.types.is_string_dtype(frame[name].dtype),
            f"{where}: {name} dtype {frame[name].dtype}, want a string dtype",
        )
    expect(list(frame["video_id"]) == KEYS, f"{where}: video_id is {list(frame['video_id'])!r}")
    for index, suffix in enumerate(SUFFIXES):
        name = f"{PREFIX}_{suffix}"
        got = [None if isinstance(v, float) and math.isnan(v) else v for v in frame[name].tolist()]
        if text_nulls and suffix == "source":
            # pandas' CSV reader turns the empty source of a missing row into NaN.
            got = ["" if v is None else v for v in got]
        want = [EXPECTED[key][index] for key in KEYS]
        expect(got == want, f"{where}: {name} is {got!r}, want {want!r}")


def original_columns(frame, reference):
    return frame[list(reference.columns)]


def check_same_format(directory: Path, fmt: str):
    source = directory / f"features.{fmt}"
    output = directory / f"out.{fmt}"
    run(sys.argv[1], directory, "export", "--features", source.name, "--out", output.name)
    where = f"{fmt} -> {fmt}"

    # pyarrow: original columns identical (types, values, nulls, order).
    before, after = read_pyarrow(source), read_pyarrow(output)
    expect(
        after.column_names[: before.num_columns] == before.column_names,
        f"{where}: columns {after.column_names}, input {before.column_names}",
    )
    kept = after.select(before.column_names)
    expect(
        kept.schema.remove_metadata() == before.schema.remove_metadata(),
        f"{where} (pyarrow): schema changed:\n{kept.schema}\n-- input --\n{before.schema}",
    )
    expect(kept.equals(before), f"{where} (pyarrow): values changed")
    if fmt in ("parquet", "feather"):
        expect(
            after.schema.metadata.get(b"pandas") == before.schema.metadata.get(b"pandas"),
            f"{where}: the pandas schema metadata did not survive",
        )
    check_added_pyarrow(after, f"{where} (pyarrow)")

    # pandas: the same frame, dtypes included.
    before_df, after_df = read_pandas(source), read_pandas(output)
    try:
        pdt.assert_frame_equal(original_columns(after_df, before_df), before_df, check_dtype=True)
    except AssertionError as error:
        raise Mismatch(f"{where} (pandas): original columns differ: {error}") from None
    check_added_pandas(after_df, f"{where} (pandas)", text_nulls=(fmt == "csv"))

    if fmt == "parquet":
        expect(after_df.index.name == "clip", f"{where}: index name {after_df.index.name!r}, want 'clip'")
        expected = feature_frame()
        try:
            pdt.assert_frame_equal(original_columns(after_df, expected), expected, check_dtype=True)
        except AssertionError as error:
            raise Mismatch(f"{where}: not the frame pandas wrote: {error}") from None
        expect(str(after_df["crf"].dtype) == "Int64", f"{where}: crf dtype {after_df['crf'].dtype}, want Int64")


def check_cross_format(directory: Path, source_fmt: str, out_fmt: str):
    source = directory / f"features.{source_fmt}"
    output = directory / f"cross-{source_fmt}.{out_fmt}"
    run(sys.argv[1], directory, "export", "--features", source.name, "--out", output.name)
    where = f"{source_fmt} -> {out_fmt}"
    table = read_pyarrow(output)
    check_added_pyarrow(table, f"{where} (pyarrow)")
    frame = read_pandas(output)
    check_added_pandas(frame, f"{where} (pandas)", text_nulls=(out_fmt == "csv"))
    expected = feature_frame().reset_index()
    if source_fmt == "parquet" and out_fmt == "parquet":
        expected = feature_frame()
    for name in ("vmaf", "psnr_y", "n_frames"):
        got = frame[name].astype("float64").tolist()
        want = expected[name].astype("float64").tolist()
        same = all((math.isnan(g) and math.isnan(w)) or g == w for g, w in zip(got, want))
        expect(same and len(got) == len(want), f"{where}: {name} is {got!r}, want {want!r}")
    if out_fmt == "parquet":
        # "001" must stay a string on its way into a typed format.
        field = table.schema.field("video_id")
        expect(
            field.type in (pa.string(), pa.large_string()),
            f"{where}: video_id has type {field.type}, want string",
        )


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: check_outputs.py PATH/TO/second-opinion")
    binary = os.path.abspath(sys.argv[1])
    if not os.access(binary, os.X_OK):
        sys.exit(f"check_outputs.py: {binary} is not an executable")
    sys.argv[1] = binary
    with tempfile.TemporaryDirectory(prefix="second-opinion-py-") as temporary:
        directory = Path(temporary)
        write_inputs(directory)
        run(binary, directory, "ingest", SCORES_PATH)
        checks = [(f"{fmt} -> {fmt}", check_same_format, (fmt,)) for fmt in ("parquet", "feather", "csv", "jsonl", "json")]
        checks += [
            (f"{a} -> {b}", check_cross_format, (a, b))
            for a, b in [
                ("parquet", "jsonl"),
                ("parquet", "csv"),
                ("parquet", "feather"),
                ("jsonl", "parquet"),
                ("csv", "parquet"),
                ("json", "feather"),
            ]
        ]
        for name, check, args in checks:
            try:
                check(directory, *args)
                print(f"ok    {name}")
            except Mismatch as error:
                failures.append(f"{name}: {error}")
                print(f"FAIL  {name}")
            except Exception:  # a reader crashed: report it, keep going
                failures.append(f"{name}: {traceback.format_exc()}")
                print(f"FAIL  {name}")
    if failures:
        print("\ncheck_outputs.py: outputs do not match their inputs:", file=sys.stderr)
        for failure in failures:
            print(f"- {failure}", file=sys.stderr)
        return 1
    print("check_outputs.py: every output format reads back as expected")
    return 0


if __name__ == "__main__":
    sys.exit(main())
