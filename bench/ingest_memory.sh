#!/usr/bin/env bash
# Peak memory and throughput of `ingest` on a large JSON Lines score file.
#
#   bench/ingest_memory.sh            # ~1 GB file, fails if peak RSS >= 200 MB
#   BENCH_SIZE_MB=64 bench/ingest_memory.sh
#
# Generates a deterministic score file (mostly scalar rows, every 10th row an
# 8-frame wrapper payload) in a temporary directory, builds the release
# binary, ingests the file into a fresh registry under GNU time, and prints
# rows, wall-clock seconds, rows/s and peak RSS. The ingest must stream: a
# peak RSS at or above BENCH_RSS_LIMIT_MB (default 200) exits 1. The
# temporary directory (data and registry) is removed at the end.
set -euo pipefail

size_mb=${BENCH_SIZE_MB:-1024}
limit_mb=${BENCH_RSS_LIMIT_MB:-200}
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

for tool in python3 /usr/bin/time cargo; do
    command -v "$tool" >/dev/null || { echo "bench: needs $tool" >&2; exit 2; }
done

work=$(mktemp -d "${TMPDIR:-/tmp}/second-opinion-bench.XXXXXX")
trap 'rm -rf "$work"' EXIT
scores="$work/scores.jsonl"

echo "bench: generating ~${size_mb} MB of score rows in $work" >&2
rows=$(python3 - "$scores" "$size_mb" <<'PY'
import sys

path, size_mb = sys.argv[1], int(sys.argv[2])
target = size_mb * 1024 * 1024
written = rows = 0
with open(path, "w", newline="\n") as out:
    while written < target:
        batch = []
        for n in range(rows, rows + 10_000):
            score = (n * 7919 % 100_000) / 1000.0
            if n % 10 == 9:
                frames = ", ".join(
                    '{"frame_idx": %d, "predicted_vmaf_or_mos": %.3f, "runtime_ms": 1.25}'
                    % (f, (score + f * 1.5) % 100.0)
                    for f in range(8)
                )
                batch.append(
                    '{"name": "/corpus/clips/clip_%09d.yuv", "frames": [%s], '
                    '"summary": {"competitor": "fork-nr-metric", "runtime_total_ms": 10.0}}\n'
                    % (n, frames)
                )
            else:
                batch.append(
                    '{"clip_id": "clip_%09d", "competitor": "DOVER-Mobile", "score": %.3f, '
                    '"runtime_ms": 3.0, "status": "ok"}\n' % (n, score)
                )
        text = "".join(batch)
        out.write(text)
        written += len(text)
        rows += len(batch)
print(rows)
PY
)
bytes=$(stat -c %s "$scores")
echo "bench: $rows rows, $bytes bytes" >&2

echo "bench: building the release binary" >&2
(cd "$repo" && cargo build --release --quiet)
binary="$repo/target/release/second-opinion"

status=0
/usr/bin/time -v -o "$work/time.txt" \
    "$binary" --registry "$work/r.db" ingest "$scores" 2>"$work/ingest.txt" || status=$?
cat "$work/ingest.txt" >&2
if [ "$status" -ne 0 ]; then
    echo "bench: ingest failed with exit $status" >&2
    exit 1
fi

peak_kb=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$work/time.txt")
wall=$(awk -F': ' '/Elapsed \(wall clock\)/ {print $2}' "$work/time.txt")
# m:ss.ss or h:mm:ss -> seconds
seconds=$(echo "$wall" | awk -F: '{s = 0; for (i = 1; i <= NF; i++) s = s * 60 + $i; print s}')
ingested=$(grep -o '[0-9]* rows ingested' "$work/ingest.txt" | awk '{s += $1} END {print s + 0}')
if [ "$ingested" -ne "$rows" ]; then
    echo "bench: generated $rows rows but ingest reports $ingested" >&2
    exit 1
fi

awk -v rows="$rows" -v bytes="$bytes" -v s="$seconds" -v kb="$peak_kb" 'BEGIN {
    printf "rows:        %d\n", rows
    printf "file size:   %.1f MB\n", bytes / 1048576
    printf "seconds:     %.2f\n", s
    printf "rows/s:      %.0f\n", rows / s
    printf "MB/s:        %.1f\n", bytes / 1048576 / s
    printf "peak RSS:    %.1f MB (%d KiB)\n", kb / 1024, kb
}'

if [ "$peak_kb" -ge $((limit_mb * 1024)) ]; then
    echo "bench: FAIL: peak RSS $((peak_kb / 1024)) MB >= ${limit_mb} MB" >&2
    exit 1
fi
echo "bench: ok: peak RSS under ${limit_mb} MB" >&2
