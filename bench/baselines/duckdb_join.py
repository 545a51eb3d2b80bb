#!/usr/bin/env python3
"""`duckdb`: the materialize join written idiomatically in DuckDB SQL — what
a capable user would write instead of the reference script.

    duckdb_join.py --features T --scores [LABEL=]PATH... --out O.parquet
        [--key-column COL] [--key-normalize auto|raw|basename|stem]

Reads each score file with read_json, finds the key, scorer, score, runtime
and status fields by the reference's candidate names (on the row, then
`summary`; a `frames[]` payload is pooled with list_avg), refuses a
duplicate (scorer, key), then left-joins every scorer onto the feature table
in one query, keeps the table's row order, and COPYs the result to parquet
with five columns per scorer: score, status (ok/bad/missing), runtime_ms,
frames, source.
"""

import argparse
import os
import re
import sys

import duckdb

KEY_FIELDS = (
    "clip_id", "video_id", "chug_video_id", "content_id", "file_name", "filename",
    "basename", "name", "distorted_path", "dis_path", "path",
)
SCORE_FIELDS = ("score", "mos", "predicted_mos", "predicted_vmaf_or_mos", "quality", "vmaf")
RUNTIME_FIELDS = ("runtime_ms", "runtime_total_ms", "elapsed_ms")


def q(name):
    return '"%s"' % name.replace('"', '""')


def lit(text):
    return "'%s'" % text.replace("'", "''")


def first(names, candidates):
    lowered = {n.lower(): n for n in names}
    return next((lowered[c] for c in candidates if c in lowered), None)


def key_sql(expr, field, mode):
    if mode == "auto":
        lower = field.lower()
        mode = "basename" if any(x in lower for x in ("path", "file", "name")) else "raw"
    text = "trim(CAST(%s AS VARCHAR))" % expr
    if mode == "raw":
        return text
    base = "regexp_extract(%s, '([^/\\\\]*)$', 1)" % text
    if mode == "basename":
        return base
    return "regexp_replace(%s, '(.)\\.[^.]*$', '\\1')" % base


def slug(name):
    return re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")


def struct_fields(type_text):
    """Field names of a STRUCT(...) type as DuckDB prints it (top level only)."""
    inner = type_text[type_text.index("(") + 1 : type_text.rindex(")")]
    names, depth, start = [], 0, 0
    for i, ch in enumerate(inner + ","):
        if ch in "([":
            depth += 1
        elif ch in ")]":
            depth -= 1
        elif ch == "," and depth == 0:
            names.append(inner[start:i].strip().split(" ")[0].strip('"'))
            start = i + 1
    return names


def score_select(con, spec, mode):
    label, path = None, spec
    if "=" in spec and not os.path.exists(spec):
        label, path = spec.split("=", 1)
    source = "read_json(%s, format='newline_delimited')" % lit(path)
    schema = {r[0]: r[1] for r in con.execute("DESCRIBE SELECT * FROM %s" % source).fetchall()}
    cols = list(schema)
    summary = struct_fields(schema["summary"]) if schema.get("summary", "").startswith("STRUCT") else []

    def field(candidates):
        name = first(cols, candidates)
        if name is not None:
            return q(name), name
        name = first(summary, candidates)
        if name is not None:
            return "summary.%s" % q(name), name
        return None, None

    competitor = lit(label) if label else "NULL"
    if "competitor" in summary:
        competitor = "coalesce(summary.competitor, %s)" % competitor
    if "competitor" in cols:
        competitor = "coalesce(%s, %s)" % (q("competitor"), competitor)

    key, key_field = field(KEY_FIELDS)
    if key is None:
        raise SystemExit("%s: no key field" % path)
    score, _ = field(SCORE_FIELDS)
    frames = "CAST(0 AS BIGINT)"
    if score is None:
        frame_fields = struct_fields(schema["frames"][: schema["frames"].rindex("[")])
        name = first(frame_fields, SCORE_FIELDS)
        score = "list_avg(list_transform(frames, lambda f: f.%s))" % q(name)
        frames = "CAST(len(frames) AS BIGINT)"
    runtime, _ = field(RUNTIME_FIELDS)
    if runtime is None and "frames" in cols:
        runtime = "list_sum(list_transform(frames, lambda f: f.runtime_ms))"
    status = "'ok'"
    if "status" in cols:
        status = ("CASE WHEN lower(trim(coalesce(CAST(status AS VARCHAR), ''))) "
                  "IN ('', 'ok', 'pass', 'success') THEN 'ok' ELSE 'bad' END")
    return (
        "SELECT trim(%s) AS competitor, %s AS key, CAST(%s AS DOUBLE) AS score, %s AS status, "
        "CAST(%s AS DOUBLE) AS runtime_ms, %s AS frames, %s AS source FROM %s"
        % (competitor, key_sql(key, key_field, mode), score, status,
           runtime or "NULL", frames, lit(path), source)
    )


def main(argv=None):
    p = argparse.ArgumentParser(description="duckdb materialize join")
    p.add_argument("--features", required=True)
    p.add_argument("--scores", required=True, action="append")
    p.add_argument("--out", required=True)
    p.add_argument("--key-column")
    p.add_argument("--key-normalize", default="auto", choices=("auto", "raw", "basename", "stem"))
    p.add_argument("--prefix", default="second_opinion")
    args = p.parse_args(argv)

    con = duckdb.connect()
    con.execute("CREATE TEMP TABLE scores AS " + " UNION ALL ".join(
        score_select(con, spec, args.key_normalize) for spec in args.scores))
    dupe = con.execute("SELECT competitor, key FROM scores GROUP BY ALL HAVING count(*) > 1 LIMIT 1").fetchone()
    if dupe:
        raise SystemExit("duplicate score for competitor=%r key=%r" % dupe)

    if args.features.lower().endswith((".parquet", ".pq")):
        table = "read_parquet(%s, file_row_number = true)" % lit(args.features)
        order = "file_row_number"
    else:
        con.execute("CREATE TEMP TABLE features AS SELECT * FROM read_json(%s, format='newline_delimited')"
                % lit(args.features))
        table, order = "(SELECT *, rowid AS file_row_number FROM features)", "file_row_number"
    columns = [r[0] for r in con.execute("DESCRIBE SELECT * FROM %s" % table).fetchall()]
    column = args.key_column or first(columns, KEY_FIELDS)
    if column is None or column not in columns:
        raise SystemExit("no key column; pass --key-column")

    selects, joins = [], []
    competitors = [r[0] for r in con.execute("SELECT DISTINCT competitor FROM scores ORDER BY 1").fetchall()]
    for i, competitor in enumerate(competitors):
        a, base = "s%d" % i, "%s_%s_" % (args.prefix, slug(competitor))
        joins.append("LEFT JOIN (SELECT * FROM scores WHERE competitor = %s) %s ON %s.key = t.__key"
                     % (lit(competitor), a, a))
        selects += [
            "%s.score AS %s" % (a, q(base + "score")),
            "coalesce(%s.status, 'missing') AS %s" % (a, q(base + "status")),
            "%s.runtime_ms AS %s" % (a, q(base + "runtime_ms")),
            "coalesce(%s.frames, 0) AS %s" % (a, q(base + "frames")),
            "coalesce(%s.source, '') AS %s" % (a, q(base + "source")),
        ]
    query = (
        "SELECT t.* EXCLUDE (__key, file_row_number), %s FROM "
        "(SELECT *, %s AS __key FROM %s) t %s ORDER BY t.file_row_number"
        % (", ".join(selects), key_sql(q(column), column, args.key_normalize), table, " ".join(joins))
    )
    con.execute("COPY (%s) TO %s (FORMAT parquet)" % (query, lit(args.out)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
