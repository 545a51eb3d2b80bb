#!/usr/bin/env python3
"""SQLite's own insert rate as a registry grows (issue 18): the floor under
`ingest`'s "rate into a registry of 15 M rows ÷ rate into an empty one".

    bench/sqlite_growth.py DIR [--rows 5000000] [--before 15000000] [--reps 2]

A table shaped like `scores` (rowid, scorer, key, a row's other ~60 bytes)
with the registry's partial UNIQUE (scorer, key) index and its pragmas (64 KiB
pages, WAL, 64 MiB cache), filled by `executemany` in one transaction per
file. It times inserting `--rows` keys (`clip_0000000.mp4` …, sorted, as a
scorer writes them) into an empty database and into one already holding
`--before` rows of later-sorting keys (`clipb_…`, `clipc_…`, `clipd_…`, as
`bench/generate.py`'s W4-paths rows renamed), alternating, and prints both
times and their ratio. Only SQLite's B-tree work differs between the two.
"""

import argparse
import os
import shutil
import sqlite3
import time

SCHEMA = """
CREATE TABLE scores (id INTEGER PRIMARY KEY, scorer_id INTEGER NOT NULL, key TEXT NOT NULL,
                     rest BLOB, superseded_at TEXT);
CREATE UNIQUE INDEX scores_live_scorer_key ON scores (scorer_id, key) WHERE superseded_at IS NULL;
"""
REST = bytes(60)


def connect(path):
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA page_size = 65536")
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA cache_size = -65536")
    return conn


def fill(conn, prefix, rows):
    started = time.perf_counter()
    conn.execute("BEGIN IMMEDIATE")
    conn.executemany(
        "INSERT INTO scores (scorer_id, key, rest) VALUES (1, ?, ?)",
        (("%s_%07d.mp4" % (prefix, i), REST) for i in range(rows)),
    )
    conn.execute("COMMIT")
    return time.perf_counter() - started


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dir")
    parser.add_argument("--rows", type=int, default=5_000_000)
    parser.add_argument("--before", type=int, default=15_000_000)
    parser.add_argument("--reps", type=int, default=2)
    args = parser.parse_args()
    os.makedirs(args.dir, exist_ok=True)
    grown_base = os.path.join(args.dir, "grown-base.db")
    if not os.path.exists(grown_base):
        conn = connect(grown_base)
        conn.executescript(SCHEMA)
        per_file = args.before // 3
        for prefix in ("clipb", "clipc", "clipd"):
            fill(conn, prefix, per_file)
        conn.close()
    results = {"empty": [], "grown": []}
    for _ in range(args.reps):
        for kind in ("empty", "grown"):
            path = os.path.join(args.dir, kind + ".db")
            for suffix in ("", "-wal", "-shm"):
                if os.path.exists(path + suffix):
                    os.remove(path + suffix)
            if kind == "grown":
                shutil.copy(grown_base, path)
                conn = connect(path)
            else:
                conn = connect(path)
                conn.executescript(SCHEMA)
            results[kind].append(fill(conn, "clip", args.rows))
            conn.close()
            print("%s: %.2f s" % (kind, results[kind][-1]), flush=True)
    empty, grown = min(results["empty"]), min(results["grown"])
    print("rate into %d rows ÷ rate into none: %.2f (best of %d each: %.2f s, %.2f s)"
          % (args.before, empty / grown, args.reps, grown, empty))


if __name__ == "__main__":
    main()
