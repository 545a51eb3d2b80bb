#!/usr/bin/env python3
"""Ingest baselines for PostgreSQL (issue 17): psycopg 3, `executemany` or `COPY`.

    psycopg_ingest.py executemany|copy URL SCORES.jsonl

What a capable user writes to load a JSON Lines score file into
PostgreSQL: one table with a UNIQUE (scorer, key) index (so a duplicate
fails the load, as `second-opinion ingest` refuses it), rows parsed with
`json.loads` and streamed from a generator, one transaction. `executemany`
sends them as one prepared INSERT per row (psycopg 3 pipelines them);
`copy` streams them with `COPY … FROM STDIN` (`Copy.write_row`, psycopg's
own C encoder when psycopg-binary is installed). The row parsing is
sqlite3_executemany.py's, so the three Python baselines differ only in how
rows reach the database.
"""

import os
import sys

import psycopg

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from sqlite3_executemany import rows_of  # noqa: E402

SCHEMA = """
CREATE TABLE IF NOT EXISTS scores (
    id         BIGSERIAL PRIMARY KEY,
    scorer     TEXT NOT NULL,
    key        TEXT NOT NULL,
    score      DOUBLE PRECISION,
    status     TEXT NOT NULL,
    runtime_ms DOUBLE PRECISION,
    source     TEXT NOT NULL,
    line       BIGINT NOT NULL,
    UNIQUE (scorer, key)
)
"""

COLUMNS = "scorer, key, score, status, runtime_ms, source, line"


def main():
    if len(sys.argv) != 4 or sys.argv[1] not in ("executemany", "copy"):
        sys.exit("usage: psycopg_ingest.py executemany|copy URL SCORES.jsonl")
    method, url, path = sys.argv[1:]
    with psycopg.connect(url) as conn:
        with conn.transaction():
            conn.execute(SCHEMA)
            with conn.cursor() as cur:
                if method == "executemany":
                    cur.executemany(
                        "INSERT INTO scores (%s) VALUES (%%s, %%s, %%s, %%s, %%s, %%s, %%s)" % COLUMNS,
                        rows_of(path),
                    )
                else:
                    with cur.copy("COPY scores (%s) FROM STDIN" % COLUMNS) as copy:
                        for row in rows_of(path):
                            copy.write_row(row)
        count = conn.execute("SELECT count(*) FROM scores").fetchone()[0]
    print("%s: %d rows ingested" % (path, count), file=sys.stderr)


if __name__ == "__main__":
    main()
