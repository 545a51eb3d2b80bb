#!/usr/bin/env python3
"""W1 from Python (issue 16): `Registry.export` of the W1 feature table held
in memory as a pyarrow Table, against the command line's `export` of the
same table from parquet, and against the same join written idiomatically in
polars on in-memory frames — all timed from one Python process.

    python3 bench/python_w1.py BIN [--scale small|full|FACTOR] [--reps N] [--dir DIR] [--json PATH]

BIN is a release build of `second-opinion`; the package must be installed
(`pip install ./python`, a release build). Generates only W1 (bench/generate.py's
generator, same seed, so the same files as bench/run) under DIR (default
target/bench/python-w1, git-ignored), ingests its five score files into a fresh registry,
then times each tool REPS times, the tools taking turns (so a change in the
machine's load falls on all of them), and prints the medians as a Markdown
table with the load average before and after. `Registry.export` is timed
without a record (`record=False`) and with one (as the CLI always records);
its first call, which loads the score indexes a `Registry` then keeps for
later exports at the same registry point, is timed once on its own.
Every tool's output is checked to agree on the added columns. With
--json, the figures are also written there (bench/run's W1-PY reads them).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

import numpy as np
import polars as pl
import pyarrow.parquet as pq

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import generate  # noqa: E402

import second_opinion as so  # noqa: E402


def timed_in_turns(reps, calls):
    """Each of `calls` once per round, REPS rounds: the median seconds and
    the last result of each."""
    times = [[] for _ in calls]
    results = [None] * len(calls)
    for _ in range(reps):
        for i, call in enumerate(calls):
            start = time.perf_counter()
            results[i] = call()
            times[i].append(time.perf_counter() - start)
    return [statistics.median(t) for t in times], results


def polars_join(features: pl.DataFrame, scores: pl.DataFrame, slugs: dict) -> pl.DataFrame:
    """The join as a polars user writes it: the key's basename, then one
    left join per scorer keeping the table's order, missing rows marked."""
    joined = features.lazy().with_columns(
        pl.col("src").str.split("/").list.last().alias("__key")
    )
    for name in sorted(slugs, key=slugs.get):
        base = "second_opinion_%s_" % slugs[name]
        part = (
            scores.lazy()
            .filter(pl.col("scorer") == name)
            .select(
                pl.col("key"),
                pl.col("score").alias(base + "score"),
                pl.col("status").alias(base + "status"),
                pl.col("runtime_ms").alias(base + "runtime_ms"),
                pl.col("frames").alias(base + "frames"),
                pl.col("source_path").alias(base + "source"),
            )
        )
        joined = joined.join(part, left_on="__key", right_on="key", how="left",
                             maintain_order="left").with_columns(
            pl.col(base + "status").fill_null("missing"),
            pl.col(base + "frames").fill_null(0),
            pl.col(base + "source").fill_null(""),
        )
    return joined.drop("__key").collect()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("binary")
    parser.add_argument("--scale", default="small")
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--dir", default=os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                                      os.pardir, "target", "bench", "python-w1"))
    parser.add_argument("--json", help="also write the figures here, as JSON")
    args = parser.parse_args()

    sizes = generate.sizes_for(args.scale)
    root = os.path.abspath(args.dir)
    if not os.path.exists(os.path.join(root, "w1", "features.parquet")):
        generate.generate_w1(root, sizes, np.random.default_rng(20260700 + 1))
    w1 = os.path.join(root, "w1")
    registry_path = os.path.join(root, "registry.db")
    for suffix in ("", "-wal", "-shm"):
        if os.path.exists(registry_path + suffix):
            os.remove(registry_path + suffix)
    specs = ["%s=%s" % (s, os.path.join(w1, "scores", s + ".jsonl")) for s in generate.W1_SCORERS]
    options = dict(key_column="src", key_normalize="basename")

    table = pq.read_table(os.path.join(w1, "features.parquet"))
    with so.Registry(registry_path) as registry:
        registry.ingest(*specs)
        slugs = {s["name"]: s["slug"] for s in registry.scorers()}
        scores = pl.from_arrow(registry.scores())
        features = pl.from_arrow(table)

        out = os.path.join(root, "cli-out.parquet")
        command = [args.binary, "--registry", registry_path, "export", "--features",
                   os.path.join(w1, "features.parquet"), "--out", out, "--overwrite",
                   "--key-column", "src", "--key-normalize", "basename"]
        load_before = os.getloadavg()
        # The first export of a Registry loads the score indexes; later
        # ones at the same registry point reuse them (docs/python.md), as
        # the polars join reuses its preloaded frames. Timed apart, so
        # both are seen.
        start = time.perf_counter()
        registry.export(table, record=False, **options)
        cold_time = time.perf_counter() - start
        (py_time, recorded_time, cli_time, polars_time), (py_out, _, _, polars_out) = \
            timed_in_turns(args.reps, [
                lambda: registry.export(table, record=False, **options),
                lambda: registry.export(table, record=True, **options),
                lambda: subprocess.run(command, check=True, capture_output=True),
                lambda: polars_join(features, scores, slugs),
            ])
        load_after = os.getloadavg()

    cli_out = pq.read_table(out)
    added = [n for n in py_out.column_names if n.startswith("second_opinion_")]
    for name in added:
        mine = py_out.column(name).to_pylist()
        assert mine == cli_out.column(name).to_pylist(), name
        assert mine == polars_out.get_column(name).to_list(), name

    rows, cols = table.num_rows, table.num_columns
    timed = (("Registry.export, first call (loads the score indexes)", cold_time),
             ("Registry.export (record=False)", py_time),
             ("Registry.export (record=True, the default)", recorded_time),
             ("CLI export (parquet → parquet)", cli_time),
             ("polars idiomatic join (in memory)", polars_time))
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"rows": rows, "columns": cols, "scorers": len(slugs), "reps": args.reps,
                       "load_before": load_before, "load_after": load_after,
                       "seconds": {"first": cold_time, "unrecorded": py_time,
                                   "recorded": recorded_time, "cli": cli_time,
                                   "polars": polars_time},
                       "names": [name for name, _ in timed]}, f, indent=1)
    print("W1 from Python: %s rows x %d columns, %d scorers, median of %d, tools in turns" %
          (format(rows, ","), cols, len(slugs), args.reps))
    print("load average (1, 5, 15 min) before: %.2f %.2f %.2f, after: %.2f %.2f %.2f on %d cores" %
          (*load_before, *load_after, os.cpu_count()))
    print()
    print("| tool | seconds | ÷ Registry.export |")
    print("|---|---:|---:|")
    for name, seconds in timed:
        print("| %s | %.3f | %.2f× |" % (name, seconds, seconds / py_time))
    return 0


if __name__ == "__main__":
    sys.exit(main())
