#!/usr/bin/env python3
"""`pandas-reference`: the reference materializer's semantics, done the way
the reference script does them (see shared/reference/reference-materializer.md):
read the whole feature table into pandas, read every score file row by row
into a per-scorer dict, loop over the table's keys in Python for each scorer,
assign five columns per scorer, write the table.

    pandas_reference.py --features T --scores [LABEL=]PATH... --out O
        [--key-column COL] [--score-key-field F] [--score-field F]
        [--key-normalize auto|raw|basename|stem] [--missing-policy mark|drop|fail]
        [--prefix P] [--overwrite]

Written for the benchmark from the written-down behaviour; it is the tool
users have today, not something tuned to lose.
"""

import argparse
import json
import math
import os
import re
import sys

import pandas as pd

KEY_FIELDS = (
    "clip_id", "video_id", "chug_video_id", "content_id", "file_name", "filename",
    "basename", "name", "distorted_path", "dis_path", "path",
)
SCORE_FIELDS = ("score", "mos", "predicted_mos", "predicted_vmaf_or_mos", "quality", "vmaf")
RUNTIME_FIELDS = ("runtime_ms", "runtime_total_ms", "elapsed_ms")


def slug(name):
    out = re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")
    if not out:
        raise ValueError("no column slug for scorer %r" % name)
    return out


def split_label(spec):
    if "=" in spec and not os.path.exists(spec):
        label, path = spec.split("=", 1)
        return (label.strip() or None), path
    return None, spec


def lookup(row, names):
    """First of `names` present in `row`, ignoring case; None when absent."""
    lowered = {str(k).lower(): k for k in row}
    for name in names:
        found = lowered.get(name.lower())
        if found is not None:
            return found, row[found]
    return None, None


def number(value, what):
    if value is None or isinstance(value, bool):
        raise ValueError("%s must be numeric" % what)
    out = float(value)
    if not math.isfinite(out):
        raise ValueError("%s must be finite" % what)
    return out


def normalise(value, mode, field):
    text = str(value).strip()
    if not text:
        return ""
    if mode == "auto":
        lower = field.lower()
        mode = "basename" if ("path" in lower or "file" in lower or "name" in lower) else "raw"
    if mode == "raw":
        return text
    base = re.split(r"[/\\]", text)[-1] if "\\" in text else os.path.basename(text)
    if mode == "basename":
        return base
    stem, dot, ext = base.rpartition(".")
    return stem if dot and stem else base


def read_table(path):
    suffix = os.path.splitext(path)[1].lower()
    if suffix in (".parquet", ".pq"):
        return pd.read_parquet(path)
    if suffix in (".jsonl", ".ndjson"):
        return pd.read_json(path, lines=True)
    if suffix == ".json":
        with open(path, encoding="utf-8") as f:
            doc = json.load(f)
        return pd.DataFrame(doc["rows"] if isinstance(doc, dict) else doc)
    raise ValueError("unsupported table format: %s" % path)


def write_table(df, path):
    suffix = os.path.splitext(path)[1].lower()
    if suffix in (".parquet", ".pq"):
        df.to_parquet(path, index=False)
    elif suffix in (".jsonl", ".ndjson"):
        with open(path, "w", encoding="utf-8") as out:
            for row in df.to_dict(orient="records"):
                clean = {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in row.items()}
                out.write(json.dumps(clean, sort_keys=True) + "\n")
    else:
        raise ValueError("unsupported output format: %s" % path)


def score_rows(path):
    if path.lower().endswith((".jsonl", ".ndjson")):
        with open(path, encoding="utf-8") as f:
            for line_no, line in enumerate(f, 1):
                line = line.strip()
                if line:
                    row = json.loads(line)
                    if not isinstance(row, dict):
                        raise ValueError("%s:%d: score row must be an object" % (path, line_no))
                    yield row
        return
    with open(path, encoding="utf-8") as f:
        doc = json.load(f)
    if isinstance(doc, dict):
        rows = doc.get("rows") or doc.get("results")
        doc = rows if isinstance(rows, list) else [doc]
    yield from doc


def record_of(row, label, args, source):
    competitor = row.get("competitor")
    summary = row.get("summary") if isinstance(row.get("summary"), dict) else None
    if not (isinstance(competitor, str) and competitor.strip()):
        competitor = summary.get("competitor") if summary else None
        if not (isinstance(competitor, str) and competitor.strip()):
            competitor = label
    if not competitor:
        raise ValueError("%s: score row names no competitor; use LABEL=PATH" % source)
    competitor = competitor.strip()

    if args.score_key_field:
        field, value = args.score_key_field, row[args.score_key_field]
    else:
        field, value = lookup(row, KEY_FIELDS)
        if field is None and summary:
            field, value = lookup(summary, KEY_FIELDS)
        if field is None:
            raise ValueError("%s: score row has no key field" % source)
    key = normalise(value, args.key_normalize, str(field))
    if not key:
        raise ValueError("%s: empty score key" % source)

    frames = 0
    if args.score_field and args.score_field in row:
        score = number(row[args.score_field], "score")
    else:
        field, value = lookup(row, SCORE_FIELDS)
        if field is None and summary:
            field, value = lookup(summary, SCORE_FIELDS)
        if field is not None:
            score = number(value, "score")
        else:
            per_frame = row.get("frames")
            if not isinstance(per_frame, list) or not per_frame:
                raise ValueError("%s: score row has neither a score nor frames[]" % source)
            values = []
            for i, frame in enumerate(per_frame):
                field, value = lookup(frame, SCORE_FIELDS)
                if field is None:
                    raise ValueError("%s: frames[%d] has no score" % (source, i))
                values.append(number(value, "frame score"))
            score, frames = sum(values) / len(values), len(values)

    field, value = lookup(row, RUNTIME_FIELDS)
    if field is None and summary:
        field, value = lookup(summary, RUNTIME_FIELDS)
    if field is not None:
        runtime = number(value, "runtime")
    else:
        runtime, seen = 0.0, False
        for frame in row.get("frames") or []:
            field, value = lookup(frame, RUNTIME_FIELDS)
            if field is not None:
                runtime += number(value, "frame runtime")
                seen = True
        if not seen:
            runtime = float("nan")

    status = row.get("status", "ok")
    status = "" if status is None else str(status).strip().lower()
    status = "ok" if status in ("", "ok", "pass", "success") else "bad"
    return competitor, key, (score, status, runtime, frames, source)


def main(argv=None):
    p = argparse.ArgumentParser(description="pandas reference materializer")
    p.add_argument("--features", required=True)
    p.add_argument("--scores", required=True, action="append")
    p.add_argument("--out", required=True)
    p.add_argument("--key-column")
    p.add_argument("--score-key-field")
    p.add_argument("--score-field")
    p.add_argument("--key-normalize", default="auto", choices=("auto", "raw", "basename", "stem"))
    p.add_argument("--missing-policy", default="mark", choices=("mark", "drop", "fail"))
    p.add_argument("--prefix", default="second_opinion")
    p.add_argument("--overwrite", action="store_true")
    args = p.parse_args(argv)

    df = read_table(args.features)
    if args.key_column:
        if args.key_column not in df.columns:
            raise ValueError("--key-column %r is not in the table" % args.key_column)
        column = args.key_column
    else:
        by_lower = {str(c).lower(): str(c) for c in df.columns}
        column = next((by_lower[k] for k in KEY_FIELDS if k in by_lower), None)
        if column is None:
            raise ValueError("cannot infer the key column; pass --key-column")

    scores = {}
    for spec in args.scores:
        label, path = split_label(spec)
        for row in score_rows(path):
            competitor, key, record = record_of(row, label, args, path)
            by_key = scores.setdefault(competitor, {})
            if key in by_key:
                raise ValueError("duplicate score for competitor=%r key=%r" % (competitor, key))
            by_key[key] = record
    if not scores:
        raise ValueError("no scores loaded")

    keys = [normalise(v, args.key_normalize, column) for v in df[column].tolist()]
    keep = [True] * len(keys)
    missing_counts = {}
    nan = float("nan")
    for competitor, by_key in sorted(scores.items()):
        base = "%s_%s" % (args.prefix, slug(competitor))
        names = [base + s for s in ("_score", "_status", "_runtime_ms", "_frames", "_source")]
        clash = [n for n in names if n in df.columns]
        if clash and not args.overwrite:
            raise ValueError("refusing to overwrite existing second-opinion columns: " + ", ".join(clash))
        score, status, runtime, frames, source = [], [], [], [], []
        missing = 0
        for i, key in enumerate(keys):
            record = by_key.get(key)
            if record is None:
                missing += 1
                score.append(nan)
                status.append("missing")
                runtime.append(nan)
                frames.append(0)
                source.append("")
                if args.missing_policy == "drop":
                    keep[i] = False
                continue
            score.append(record[0])
            status.append(record[1])
            runtime.append(record[2])
            frames.append(record[3])
            source.append(record[4])
        missing_counts[competitor] = missing
        df[names[0]] = score
        df[names[1]] = status
        df[names[2]] = runtime
        df[names[3]] = frames
        df[names[4]] = source

    if args.missing_policy == "fail":
        offenders = ["%s=%d" % (c, n) for c, n in missing_counts.items() if n]
        if offenders:
            raise ValueError("missing second-opinion scores: " + ", ".join(offenders))
    if args.missing_policy == "drop":
        df = df.loc[keep].reset_index(drop=True)
    write_table(df, args.out)
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except ValueError as e:
        print("pandas_reference: %s" % e, file=sys.stderr)
        sys.exit(1)
