#!/usr/bin/env python3
"""`polars`: the materialize join written idiomatically in polars — what a
capable user would write instead of the reference script.

    polars_join.py --features T --scores [LABEL=]PATH... --out O.parquet
        [--key-column COL] [--key-normalize auto|raw|basename|stem]

Reads each score file (JSON Lines) into a frame, finds the key, scorer,
score, runtime and status fields by the reference's candidate names (on the
row, then `summary`; a `frames[]` payload is pooled with a list mean),
refuses a duplicate (scorer, key), then left-joins every scorer onto the
feature table (lazy scan, order of the table kept) and writes parquet with
five columns per scorer: score, status (ok/bad/missing), runtime_ms, frames,
source.
"""

import argparse
import os
import sys

import polars as pl

KEY_FIELDS = (
    "clip_id", "video_id", "chug_video_id", "content_id", "file_name", "filename",
    "basename", "name", "distorted_path", "dis_path", "path",
)
SCORE_FIELDS = ("score", "mos", "predicted_mos", "predicted_vmaf_or_mos", "quality", "vmaf")
RUNTIME_FIELDS = ("runtime_ms", "runtime_total_ms", "elapsed_ms")


def first(names, candidates):
    lowered = {n.lower(): n for n in names}
    return next((lowered[c] for c in candidates if c in lowered), None)


def key_expr(expr, field, mode):
    if mode == "auto":
        lower = field.lower()
        mode = "basename" if any(x in lower for x in ("path", "file", "name")) else "raw"
    text = expr.cast(pl.String).str.strip_chars()
    if mode == "raw":
        return text
    base = text.str.extract(r"([^/\\]*)$", 1)
    if mode == "basename":
        return base
    return pl.when(base.str.contains(r"^.+\.[^.]*$")).then(base.str.replace(r"\.[^.]*$", "")).otherwise(base)


def slug(name):
    import re

    return re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")


def load_scores(spec, mode):
    label, path = None, spec
    if "=" in spec and not os.path.exists(spec):
        label, path = spec.split("=", 1)
    raw = pl.read_ndjson(path)
    cols = raw.columns
    summary = raw.schema.get("summary")
    summary_fields = [f.name for f in summary.fields] if isinstance(summary, pl.Struct) else []

    def field(candidates):
        name = first(cols, candidates)
        if name is not None:
            return pl.col(name), name
        name = first(summary_fields, candidates)
        if name is not None:
            return pl.col("summary").struct.field(name), name
        return None, None

    competitor = pl.lit(label, dtype=pl.String)
    if "summary" in cols and "competitor" in summary_fields:
        competitor = pl.col("summary").struct.field("competitor").fill_null(competitor)
    if "competitor" in cols:
        competitor = pl.col("competitor").fill_null(competitor)

    key, key_field = field(KEY_FIELDS)
    if key is None:
        raise SystemExit("%s: no key field" % path)

    score, _ = field(SCORE_FIELDS)
    frames = pl.lit(0, dtype=pl.Int64)
    if score is None:
        frame_type = raw.schema["frames"].inner
        name = first([f.name for f in frame_type.fields], SCORE_FIELDS)
        values = pl.col("frames").list.eval(pl.element().struct.field(name))
        score = values.list.mean()
        frames = pl.col("frames").list.len().cast(pl.Int64)

    runtime, _ = field(RUNTIME_FIELDS)
    if runtime is None and "frames" in cols:
        runtime = pl.col("frames").list.eval(pl.element().struct.field("runtime_ms")).list.sum()
    if runtime is None:
        runtime = pl.lit(None, dtype=pl.Float64)

    status = pl.lit("ok")
    if "status" in cols:
        s = pl.col("status").cast(pl.String).str.strip_chars().str.to_lowercase().fill_null("")
        status = pl.when(s.is_in(["", "ok", "pass", "success"])).then(pl.lit("ok")).otherwise(pl.lit("bad"))

    return raw.select(
        competitor.str.strip_chars().alias("competitor"),
        key_expr(key, key_field, mode).alias("key"),
        score.cast(pl.Float64).alias("score"),
        status.alias("status"),
        runtime.cast(pl.Float64).alias("runtime_ms"),
        frames.alias("frames"),
        pl.lit(path).alias("source"),
    )


def main(argv=None):
    p = argparse.ArgumentParser(description="polars materialize join")
    p.add_argument("--features", required=True)
    p.add_argument("--scores", required=True, action="append")
    p.add_argument("--out", required=True)
    p.add_argument("--key-column")
    p.add_argument("--key-normalize", default="auto", choices=("auto", "raw", "basename", "stem"))
    p.add_argument("--prefix", default="second_opinion")
    args = p.parse_args(argv)

    if args.features.lower().endswith((".parquet", ".pq")):
        table = pl.scan_parquet(args.features)
    else:
        table = pl.scan_ndjson(args.features)
    columns = table.collect_schema().names()
    column = args.key_column or first(columns, KEY_FIELDS)
    if column is None or column not in columns:
        raise SystemExit("no key column; pass --key-column")

    scores = pl.concat([load_scores(spec, args.key_normalize) for spec in args.scores])
    dupes = scores.filter(pl.struct("competitor", "key").is_duplicated())
    if dupes.height:
        row = dupes.row(0, named=True)
        raise SystemExit("duplicate score for competitor=%r key=%r" % (row["competitor"], row["key"]))

    joined = table.with_columns(key_expr(pl.col(column), column, args.key_normalize).alias("__key"))
    for competitor in sorted(scores.get_column("competitor").unique().to_list()):
        base = "%s_%s_" % (args.prefix, slug(competitor))
        part = (
            scores.lazy()
            .filter(pl.col("competitor") == competitor)
            .drop("competitor")
            .rename({c: base + c for c in ("score", "status", "runtime_ms", "frames", "source")})
        )
        joined = joined.join(part, left_on="__key", right_on="key", how="left", maintain_order="left")
        joined = joined.with_columns(
            pl.col(base + "status").fill_null("missing"),
            pl.col(base + "frames").fill_null(0),
            pl.col(base + "source").fill_null(""),
        )
    joined.drop("__key").sink_parquet(args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
