#!/usr/bin/env python3
"""Deterministic input files for the benchmark workloads W1-W4 (issue 7).

    python3 bench/generate.py DIR --scale small|full|FACTOR

FACTOR is a fraction of the full sizes (`full` is 1.0). Every value comes
from a seeded NumPy generator or from the row number, so the same scale
gives the same files (given the pinned versions in bench/requirements.txt).
A stamp file records what was generated; generating again with the same
parameters is a no-op.

Layout under DIR (paths are relative: every tool is run from DIR, so the
`_source` columns, which hold the score file path as given, agree):

    w1/features.parquet, w1/features.jsonl   src path key + 40 float features
    w1/scores/<scorer>.jsonl                 5 scorers, scalar rows keyed by basename
    w2/features.parquet                      src path key + 20 float features
    w2/scores/fork-nr-metric.jsonl           external-bench wrapper payloads (frames[])
    w3/features.parquet                      clip_id, frame_idx, 10 float32 columns
    w3/scores/<scorer>.jsonl                 3 clip-level scorers
    w4/scores.jsonl                          scalar score rows, one scorer
    w4/paths.jsonl                           the same count of rows keyed by absolute paths
                                             (`filename`), as scorers write them (issue 18)
    w4/paths.csv                             the rows of paths.jsonl as a `name,score` table
                                             (pyiqa-style names and scores, with a header)
"""

import argparse
import json
import os
import sys

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

GENERATOR_VERSION = 4

# Full sizes, as issue 7 states them.
FULL = {
    "w1_rows": 150_000,
    "w1_features": 40,
    "w2_clips": 20_000,
    "w2_frames": 300,
    "w2_features": 20,
    "w3_rows": 10_000_000,
    "w3_frames_per_clip": 300,
    "w4_rows": 5_000_000,
}
SMALL = {
    "w1_rows": 3_000,
    "w1_features": 40,
    "w2_clips": 300,
    "w2_frames": 300,
    "w2_features": 20,
    "w3_rows": 150_000,
    "w3_frames_per_clip": 300,
    "w4_rows": 100_000,
}

# Scorer labels: real scorer names, so second-opinion applies its known
# scales (all values generated here are inside them).
W1_SCORERS = ["DOVER-Mobile", "musiq", "fork-nr-metric", "x264-pvmaf", "vmaf"]
W3_SCORERS = ["DOVER-Mobile", "musiq", "vmaf"]
W2_SCORER = "fork-nr-metric"
W4_SCORER = "DOVER-Mobile"


def sizes_for(scale):
    if scale == "small":
        return dict(SMALL)
    if scale == "full":
        return dict(FULL)
    factor = float(scale)
    if not 0 < factor <= 1:
        raise SystemExit("generate: --scale takes small, full or a factor in (0, 1]")
    out = {k: v for k, v in FULL.items()}
    for k in ("w1_rows", "w2_clips", "w3_rows", "w4_rows"):
        out[k] = max(100, int(FULL[k] * factor))
    return out


def clip_name(i):
    return "clip_%07d.mp4" % i


def clip_path(i):
    # Full paths in the feature tables; score files key clips by basename.
    return "/corpus/ugc/batch_%03d/%s" % (i % 97, clip_name(i))


def write_lines(path, lines):
    with open(path, "w", encoding="utf-8", newline="\n") as out:
        out.write("".join(lines))


def scalar_score_rows(rng, n_table, scorer_index, key_of, with_competitor=None):
    """Score rows for a table of n_table clips: ~2% of the clips have no
    score, ~1% of the rows name clips that are not in the table, ~0.2% report
    a failure status. Rows come in a shuffled (seeded) order."""
    keys = np.arange(n_table)
    has_score = (keys * 7 + scorer_index * 13) % 50 != 0
    scored = keys[has_score]
    extra = np.arange(n_table, n_table + max(1, n_table // 100))
    all_keys = np.concatenate([scored, extra])
    rng.shuffle(all_keys)
    scores = np.round(rng.uniform(5.0, 95.0, len(all_keys)), 4)
    runtimes = np.round(rng.uniform(1.0, 40.0, len(all_keys)), 2)
    lines = []
    for position, (k, s, r) in enumerate(
        zip(all_keys.tolist(), scores.tolist(), runtimes.tolist())
    ):
        status = "failed" if position % 500 == 499 else "ok"
        competitor = (
            '"competitor": "%s", ' % with_competitor if with_competitor else ""
        )
        lines.append(
            '{"clip_id": "%s", %s"score": %r, "runtime_ms": %r, "status": "%s"}\n'
            % (key_of(k), competitor, s, r, status)
        )
    return lines


def generate_w1(root, sz, rng):
    d = os.path.join(root, "w1")
    os.makedirs(os.path.join(d, "scores"), exist_ok=True)
    n, nf = sz["w1_rows"], sz["w1_features"]
    values = np.round(rng.normal(50.0, 15.0, (n, nf)), 4)
    names = ["f%02d" % j for j in range(nf)]
    src = [clip_path(i) for i in range(n)]
    table = pa.table({"src": src, **{names[j]: values[:, j] for j in range(nf)}})
    pq.write_table(table, os.path.join(d, "features.parquet"))
    template = '{"src": "%s", ' + ", ".join('"%s": %%r' % c for c in names) + "}\n"
    rows = values.tolist()
    write_lines(
        os.path.join(d, "features.jsonl"),
        [template % (src[i], *rows[i]) for i in range(n)],
    )
    for index, scorer in enumerate(W1_SCORERS):
        write_lines(
            os.path.join(d, "scores", scorer + ".jsonl"),
            scalar_score_rows(rng, n, index, clip_name),
        )


def generate_w2(root, sz, rng):
    d = os.path.join(root, "w2")
    os.makedirs(os.path.join(d, "scores"), exist_ok=True)
    n, frames, nf = sz["w2_clips"], sz["w2_frames"], sz["w2_features"]
    values = np.round(rng.normal(50.0, 15.0, (n, nf)), 4)
    table = pa.table(
        {
            "src": [clip_path(i) for i in range(n)],
            **{"g%02d" % j: values[:, j] for j in range(nf)},
        }
    )
    pq.write_table(table, os.path.join(d, "features.parquet"))
    frame_t = '{"frame_idx": %d, "predicted_vmaf_or_mos": %r, "runtime_ms": %r}'
    with open(os.path.join(d, "scores", W2_SCORER + ".jsonl"), "w", newline="\n") as out:
        for i in range(n):
            if i % 200 == 7:
                continue  # a few clips the scorer never finished
            base = rng.uniform(20.0, 90.0)
            vals = np.round(base + rng.normal(0.0, 4.0, frames), 3).tolist()
            runs = np.round(rng.uniform(0.5, 3.0, frames), 2).tolist()
            body = ", ".join(frame_t % (f, vals[f], runs[f]) for f in range(frames))
            out.write(
                '{"name": "%s", "frames": [%s], "summary": {"competitor": "%s", '
                '"runtime_total_ms": %r}}\n'
                % (clip_name(i), body, W2_SCORER, round(sum(runs) + 5.0, 2))
            )


def generate_w3(root, sz, rng):
    d = os.path.join(root, "w3")
    os.makedirs(os.path.join(d, "scores"), exist_ok=True)
    n, per_clip = sz["w3_rows"], sz["w3_frames_per_clip"]
    clips = (n + per_clip - 1) // per_clip
    clip_keys = np.array(["clip_%07d" % c for c in range(clips)], dtype=object)
    writer = None
    chunk = 1_000_000
    path = os.path.join(d, "features.parquet")
    for start in range(0, n, chunk):
        stop = min(n, start + chunk)
        idx = np.arange(start, stop)
        columns = {
            "clip_id": pa.array(clip_keys[idx // per_clip], type=pa.string()),
            "frame_idx": pa.array((idx % per_clip).astype(np.int32)),
        }
        for j in range(10):
            columns["x%d" % j] = pa.array(
                rng.normal(0.0, 1.0, stop - start).astype(np.float32)
            )
        batch = pa.table(columns)
        if writer is None:
            writer = pq.ParquetWriter(path, batch.schema)
        writer.write_table(batch)
    writer.close()
    for index, scorer in enumerate(W3_SCORERS):
        write_lines(
            os.path.join(d, "scores", scorer + ".jsonl"),
            scalar_score_rows(rng, clips, index, lambda c: "clip_%07d" % c),
        )


def generate_w4(root, sz, rng):
    d = os.path.join(root, "w4")
    os.makedirs(d, exist_ok=True)
    n = sz["w4_rows"]
    chunk = 500_000
    with open(os.path.join(d, "scores.jsonl"), "w", newline="\n") as out:
        for start in range(0, n, chunk):
            stop = min(n, start + chunk)
            scores = np.round(rng.uniform(5.0, 95.0, stop - start), 4).tolist()
            runs = np.round(rng.uniform(1.0, 40.0, stop - start), 2).tolist()
            out.write(
                "".join(
                    '{"clip_id": "clip_%09d", "competitor": "%s", "score": %r, '
                    '"runtime_ms": %r, "status": "ok"}\n'
                    % (start + i, W4_SCORER, scores[i], runs[i])
                    for i in range(stop - start)
                )
            )


def generate_w4_paths(root, sz, rng):
    """W4 on realistic rows (issue 18): scorers write the clip's absolute
    path, so every key is normalised (to its basename) and the file's
    spelling is kept apart. The CSV holds the same names and scores."""
    d = os.path.join(root, "w4")
    os.makedirs(d, exist_ok=True)
    n = sz["w4_rows"]
    chunk = 500_000
    with open(os.path.join(d, "paths.jsonl"), "w", newline="\n") as jsonl, open(
        os.path.join(d, "paths.csv"), "w", newline="\n"
    ) as csv:
        csv.write("name,score\n")
        for start in range(0, n, chunk):
            stop = min(n, start + chunk)
            scores = np.round(rng.uniform(5.0, 95.0, stop - start), 6).tolist()
            runs = np.round(rng.uniform(1.0, 40.0, stop - start), 1).tolist()
            jsonl.write(
                "".join(
                    '{"filename": "/corpus/ugc/%s", "competitor": "%s", "score": %r, '
                    '"runtime_ms": %r}\n'
                    % (clip_name(start + i), W4_SCORER, scores[i], runs[i])
                    for i in range(stop - start)
                )
            )
            csv.write(
                "".join(
                    "/corpus/ugc/%s,%r\n" % (clip_name(start + i), scores[i])
                    for i in range(stop - start)
                )
            )


def generate(root, scale):
    sz = sizes_for(scale)
    stamp_path = os.path.join(root, "generated.json")
    stamp = {
        "generator_version": GENERATOR_VERSION,
        "sizes": sz,
        "numpy": np.__version__,
        "pyarrow": pa.__version__,
    }
    try:
        with open(stamp_path) as f:
            if json.load(f) == stamp:
                return sz
    except (OSError, ValueError):
        pass
    os.makedirs(root, exist_ok=True)
    if os.path.exists(stamp_path):
        os.remove(stamp_path)
    # One seeded generator per workload: the files of one workload do not
    # depend on the sizes of another.
    steps = (generate_w1, generate_w2, generate_w3, generate_w4, generate_w4_paths)
    for seed, step in enumerate(steps, 1):
        step(root, sz, np.random.default_rng(20260700 + seed))
    with open(stamp_path, "w") as f:
        json.dump(stamp, f, indent=1, sort_keys=True)
    return sz


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dir")
    parser.add_argument("--scale", default="small")
    args = parser.parse_args()
    sz = generate(args.dir, args.scale)
    json.dump(sz, sys.stdout, indent=1, sort_keys=True)
    print()


if __name__ == "__main__":
    main()
