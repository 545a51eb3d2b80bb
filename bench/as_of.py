#!/usr/bin/env python3
"""As-of exports against live exports of the same size (issue 14).

    bench/as_of.py [--clips N] [--reps N] [--binary PATH]

A registry of three scorers where a third of all rows were superseded:
each scorer ingests N clips, then re-ingests the first half of them with
--replace (so 3 x 1.5 N rows, 3 x 0.5 N superseded; N = 2,222,222 gives
10 M rows). The feature table holds the N clips. Measured, alternating, the
median of --reps runs each:

- the live export (the newest point: N live rows per scorer), and
- `export --as-of` the point before the re-ingests (N rows per scorer too,
  half of them superseded since), which must write the very bytes an
  export at that point wrote.

Prints a Markdown table: wall time and peak RSS (GNU time) of each, and
their ratio; the target is as-of <= 1.5 x live.
"""

import argparse
import os
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)


def run(binary, args, env):
    started = time.monotonic()
    done = subprocess.run(
        ["/usr/bin/time", "-f", "%M", binary, *args],
        env=env,
        capture_output=True,
        text=True,
    )
    elapsed = time.monotonic() - started
    if done.returncode != 0:
        sys.exit(f"{' '.join(args)} failed:\n{done.stderr}")
    rss_kib = int(done.stderr.strip().splitlines()[-1])
    return elapsed, rss_kib / 1024


def write_scores(path, scorer, clips, value):
    with open(path, "w") as out:
        for clip in range(clips):
            out.write(
                f'{{"filename": "/corpus/ugc/clip_{clip:07d}.mp4", "competitor": "{scorer}", '
                f'"score": {value(clip)}}}\n'
            )


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--clips", type=int, default=2_222_222)
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument(
        "--binary", default=os.path.join(REPO, "target", "release", "second-opinion")
    )
    args = parser.parse_args()
    work = os.path.join(REPO, "target", "bench", f"as-of-{args.clips}")
    os.makedirs(work, exist_ok=True)
    registry = os.path.join(work, "registry.db")
    for suffix in ("", "-wal", "-shm"):
        if os.path.exists(registry + suffix):
            os.remove(registry + suffix)
    env = dict(os.environ, SECOND_OPINION_REGISTRY=registry)

    import pyarrow as pa
    import pyarrow.parquet as pq

    features = os.path.join(work, "features.parquet")
    pq.write_table(
        pa.table(
            {
                "clip_id": [f"clip_{clip:07d}.mp4" for clip in range(args.clips)],
                "vmaf": [float(clip % 97) for clip in range(args.clips)],
            }
        ),
        features,
    )
    scorers = ["dover", "musiq", "clip-iqa"]
    half = args.clips // 2
    for index, scorer in enumerate(scorers):
        first = os.path.join(work, f"{scorer}.jsonl")
        again = os.path.join(work, f"{scorer}-rerun.jsonl")
        write_scores(first, scorer, args.clips, lambda c, i=index: 0.01 * ((c * 7 + i) % 100))
        write_scores(again, scorer, half, lambda c, i=index: 0.01 * ((c * 11 + i) % 100))
    for scorer in scorers:
        run(args.binary, ["ingest", os.path.join(work, f"{scorer}.jsonl")], env)
    before = os.path.join(work, "before.parquet")
    run(args.binary, ["export", "--features", features, "--out", before], env)
    for scorer in scorers:
        run(
            args.binary,
            ["ingest", "--replace", os.path.join(work, f"{scorer}-rerun.jsonl")],
            env,
        )
    live_out = os.path.join(work, "live.parquet")
    as_of_out = os.path.join(work, "as-of.parquet")
    times = {"live": [], "as-of": []}
    rss = {"live": [], "as-of": []}
    for rep in range(args.reps):
        order = ["live", "as-of"] if rep % 2 == 0 else ["as-of", "live"]
        for kind in order:
            extra = ["--as-of", "1"] if kind == "as-of" else []
            out = as_of_out if kind == "as-of" else live_out
            elapsed, peak = run(
                args.binary, ["export", "--features", features, "--out", out, *extra], env
            )
            times[kind].append(elapsed)
            rss[kind].append(peak)
    with open(before, "rb") as a, open(as_of_out, "rb") as b:
        same = a.read() == b.read()
    rows = 3 * (args.clips + half)
    print(
        f"Registry: {rows:,} score rows, 3 scorers, {3 * half:,} superseded; "
        f"table {args.clips:,} rows; median of {args.reps} alternating runs.\n"
    )
    print("| export | time (s) | peak RSS (MB) | time / live |")
    print("|---|---|---|---|")
    live = statistics.median(times["live"])
    for kind in ("live", "as-of"):
        median = statistics.median(times[kind])
        print(
            f"| {kind} | {median:.2f} | {statistics.median(rss[kind]):.0f} | {median / live:.2f} |"
        )
    print(
        f"\nThe as-of export {'writes' if same else 'DOES NOT write'} the bytes "
        "the export at that point wrote."
    )
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
