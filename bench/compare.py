"""Canonical forms of the benchmark outputs, to check that every tool wrote
the same scores.

Tables: the key column(s) and every `<prefix>_*` column a tool added, read
with pyarrow. Strings compare exactly (whatever their Arrow string type),
integers as int64, floats as float64 with the same nulls and a relative
tolerance of 1e-9 (pooled means may differ in the last bits with the
summation order). Rows are compared in file order: all tools keep the
table's row order, and a tool that does not is reported.

Registries: (key, score, status) of every live row, as an order-independent
digest.
"""

import sqlite3

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

REL_TOL = 1e-9


def _canonical_column(column):
    t = column.type
    if pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_string_view(t):
        return column.cast(pa.string()), "text"
    if pa.types.is_integer(t):
        return column.cast(pa.int64()), "int"
    if pa.types.is_floating(t):
        return column.cast(pa.float64()), "float"
    return column, "other"


def _same(a, b, kind):
    """None when equal, else a short description of the first difference."""
    if kind == "float":
        na, nb = a.is_null().to_numpy(zero_copy_only=False), b.is_null().to_numpy(zero_copy_only=False)
        if not np.array_equal(na, nb):
            row = int(np.argmax(na != nb))
            return "null at row %d differs (%s vs %s)" % (row, a[row], b[row])
        x = a.fill_null(0.0).to_numpy(zero_copy_only=False)
        y = b.fill_null(0.0).to_numpy(zero_copy_only=False)
        bad = ~np.isclose(x, y, rtol=REL_TOL, atol=1e-12)
        if bad.any():
            row = int(np.argmax(bad))
            return "value at row %d differs (%r vs %r)" % (row, x[row], y[row])
        return None
    if a.equals(b):
        return None
    neq = pc.invert(pc.fill_null(pc.equal(a, b), False))
    row = int(np.argmax(neq.to_numpy(zero_copy_only=False)))
    return "value at row %d differs (%r vs %r)" % (row, a[row].as_py(), b[row].as_py())


def table_digest_columns(path, key_columns, prefix):
    schema = pq.read_schema(path)
    added = sorted(n for n in schema.names if n.startswith(prefix + "_"))
    table = pq.read_table(path, columns=list(key_columns) + added)
    return table, added


def compare_tables(outputs, key_columns, expected_rows, expected_columns, prefix="second_opinion"):
    """outputs: [(tool, path)], the first being the reference. Returns a list
    of problems (empty when every table agrees) and a one-line summary."""
    problems = []
    reference_tool, reference_path = outputs[0]
    ref, ref_added = table_digest_columns(reference_path, key_columns, prefix)
    if sorted(expected_columns) != ref_added:
        problems.append(
            "%s: added columns %s, expected %s" % (reference_tool, ref_added, sorted(expected_columns))
        )
    if ref.num_rows != expected_rows:
        problems.append("%s: %d rows, expected %d" % (reference_tool, ref.num_rows, expected_rows))
    ref_cols = {n: _canonical_column(ref.column(n).combine_chunks()) for n in ref.column_names}
    for tool, path in outputs[1:]:
        try:
            other, added = table_digest_columns(path, key_columns, prefix)
        except Exception as e:  # unreadable output
            problems.append("%s: cannot read %s: %s" % (tool, path, e))
            continue
        if added != ref_added:
            problems.append("%s: added columns differ from %s: %s" % (tool, reference_tool,
                            sorted(set(added) ^ set(ref_added))))
            continue
        if other.num_rows != ref.num_rows:
            problems.append("%s: %d rows, %s has %d" % (tool, other.num_rows, reference_tool, ref.num_rows))
            continue
        for name in other.column_names:
            a, kind = ref_cols[name]
            b, kind_b = _canonical_column(other.column(name).combine_chunks())
            if kind != kind_b:
                problems.append("%s: column %s is %s, %s has %s" % (tool, name, b.type, reference_tool, a.type))
                continue
            diff = _same(a, b, kind)
            if diff:
                what = "row order" if name in key_columns else "column %s" % name
                problems.append("%s vs %s: %s: %s" % (tool, reference_tool, what, diff))
                break
    summary = "%d tools, %d rows, %d key and %d score columns compared" % (
        len(outputs), ref.num_rows, len(key_columns), len(ref_added))
    return problems, summary


def registry_digest(path, query):
    """(rows, order-independent digest) of the rows `query` returns; `path`
    is an SQLite file, or a PostgreSQL URL."""
    if path.startswith(("postgres://", "postgresql://")):
        import psycopg

        conn = psycopg.connect(path)
    else:
        conn = sqlite3.connect("file:%s?mode=ro" % path, uri=True)
    try:
        rows, total = 0, 0
        for row in conn.execute(query):
            rows += 1
            total = (total + hash(tuple(row))) & 0xFFFFFFFFFFFFFFFF
        return rows, total
    finally:
        conn.close()


def compare_registries(outputs, expected_rows):
    """outputs: [(tool, path, query)] with each query returning (key, score, status)."""
    problems, digests = [], []
    for tool, path, query in outputs:
        try:
            digests.append((tool,) + registry_digest(path, query))
        except Exception as e:  # sqlite3's or psycopg's
            problems.append("%s: cannot read %s: %s" % (tool, path, e))
    for tool, rows, digest in digests:
        if rows != expected_rows:
            problems.append("%s: %d rows, expected %d" % (tool, rows, expected_rows))
        elif digest != digests[0][2]:
            problems.append("%s: (key, score, status) rows differ from %s" % (tool, digests[0][0]))
    return problems, "%d tools, %d rows of (key, score, status) compared" % (len(outputs), expected_rows)
