#!/usr/bin/env python3
"""Ingest baseline: Python's sqlite3, `executemany` in one transaction.

    sqlite3_executemany.py DB SCORES.jsonl

What a capable user writes to load a JSON Lines score file into SQLite:
one table with a UNIQUE (scorer, key) constraint (so a duplicate fails the
load, as `second-opinion ingest` refuses it), rows parsed with `json.loads`
and streamed from a generator into one `executemany`, one commit. The key,
scorer, score and runtime fields are found once, from the first row, among
the reference's candidate names.
"""

import json
import sqlite3
import sys

KEY_FIELDS = (
    "clip_id", "video_id", "chug_video_id", "content_id", "file_name", "filename",
    "basename", "name", "distorted_path", "dis_path", "path",
)
SCORE_FIELDS = ("score", "mos", "predicted_mos", "predicted_vmaf_or_mos", "quality", "vmaf")
RUNTIME_FIELDS = ("runtime_ms", "runtime_total_ms", "elapsed_ms")

SCHEMA = """
CREATE TABLE IF NOT EXISTS scores (
    id         INTEGER PRIMARY KEY,
    scorer     TEXT NOT NULL,
    key        TEXT NOT NULL,
    score      REAL,
    status     TEXT NOT NULL,
    runtime_ms REAL,
    source     TEXT NOT NULL,
    line       INTEGER NOT NULL,
    UNIQUE (scorer, key)
)
"""


def first(row, candidates):
    return next((c for c in candidates if c in row), None)


def rows_of(path):
    """(scorer, key, score, status, runtime_ms, source, line) of each row of
    a JSON Lines score file; the key, score and runtime fields are found once,
    from the first row."""
    with open(path, encoding="utf-8") as f:
        head = json.loads(f.readline())
    key, score, runtime = first(head, KEY_FIELDS), first(head, SCORE_FIELDS), first(head, RUNTIME_FIELDS)
    with open(path, encoding="utf-8") as f:
        for line_no, line in enumerate(f, 1):
            if not line.strip():
                continue
            row = json.loads(line)
            status = str(row.get("status") or "ok").strip().lower()
            yield (
                row["competitor"],
                str(row[key]),
                row.get(score),
                "ok" if status in ("ok", "pass", "success") else "bad",
                row.get(runtime) if runtime else None,
                path,
                line_no,
            )


def main():
    db, path = sys.argv[1], sys.argv[2]
    conn = sqlite3.connect(db)
    conn.execute(SCHEMA)
    with conn:
        conn.executemany(
            "INSERT INTO scores (scorer, key, score, status, runtime_ms, source, line) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            rows_of(path),
        )
    count = conn.execute("SELECT count(*) FROM scores").fetchone()[0]
    conn.close()
    print("%s: %d rows ingested" % (path, count), file=sys.stderr)


if __name__ == "__main__":
    main()
