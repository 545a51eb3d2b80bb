#!/usr/bin/env bash
# A tour of second-opinion on the example data in this folder: builds the
# binary, ingests three scorers' outputs into a fresh registry and asks the
# registry what it holds, exports, retrains, materializes and audits.
# Run from anywhere: bash examples/tour.sh
# Everything it makes stays in tour-output/ at the repository's root
# (git-ignored, emptied at the start of each tour).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cd "$here/.."
echo "== building second-opinion (release profile; the first build takes 10 minutes or more on two cores) ==" >&2
cargo build --release
# Where cargo put it: target/, or wherever CARGO_TARGET_DIR says.
bin="${CARGO_TARGET_DIR:-target}/release/second-opinion"
work=tour-output
rm -rf "$work"
mkdir -p "$work"
export SECOND_OPINION_REGISTRY="$work/registry.db"
trap 'status=$?; echo >&2; if [ "$status" = 0 ]; then echo "== the tour left its registry, tables and reports in tour-output/ (open tour-output/audit.html in a browser) ==" >&2; else echo "== the tour stopped with an error (exit $status); what it made so far is in tour-output/ ==" >&2; fi' EXIT

step() { printf '\n$ %s\n' "$*"; "$@"; }

# Scorers finish one by one; each output is ingested as it lands.
step "$bin" ingest examples/scores/dover-mobile.jsonl
step "$bin" ingest musiq=examples/scores/musiq.json --scale 0:100 --higher-is-better
step "$bin" ingest examples/scores/fork-nr-metric.jsonl --report-json "$work/ingest.json"
# Ingesting the same file again is a no-op.
step "$bin" ingest examples/scores/dover-mobile.jsonl
step "$bin" scorers
step "$bin" files
# Where did this score come from? Any spelling of the clip works.
step "$bin" provenance --scorer dover-mobile --key /corpus/live-vqc/Video/A003.mp4
step "$bin" provenance --scorer musiq --key A007.mp4

# Export the registry onto the feature table (keys: src paths → basenames).
step "$bin" export --features examples/features.jsonl --out "$work/features.second-opinion.parquet" \
    --report-json "$work/export.json"
# A scorer finishes later: ingest it and re-export; the new columns join the old.
cat > "$work/fast-vqa.jsonl" <<'ROWS'
{"video_id": "A001.mp4", "score": 0.81}
{"video_id": "A002.mp4", "score": 0.55}
{"video_id": "A003.mp4", "score": 0.77}
ROWS
step "$bin" ingest fast-vqa="$work/fast-vqa.jsonl" --key-normalize basename
step "$bin" export --features examples/features.jsonl --out "$work/features.second-opinion.jsonl"
step "$bin" exports
# The retrain story: name what the first model trained on, fix a scorer's
# run, retrain, then compare the two or rebuild the first at any time.
sed -e 's/"score": 43.2845/"score": 47.5/' -e 's/"score": 85.4521/"score": 80.0/' \
    examples/scores/dover-mobile.jsonl > "$work/dover-mobile-rerun.jsonl"
step "$bin" export --features examples/features.jsonl --out "$work/retrain-1.parquet" --tag retrain-1
step "$bin" ingest --replace "$work/dover-mobile-rerun.jsonl"
step "$bin" export --features examples/features.jsonl --out "$work/retrain-2.parquet" --tag retrain-2
step "$bin" exports diff retrain-1 retrain-2 --rows
step "$bin" exports replay retrain-1 --out "$work/retrain-1-again.parquet"
# The reference script's command line, unchanged: one-shot, nothing kept.
step "$bin" materialize --features examples/features.jsonl \
    --scores examples/scores/dover-mobile.jsonl --scores musiq=examples/scores/musiq.json \
    --out "$work/materialized.jsonl" --audit-json "$work/materialize-audit.json"
# Several tables at once, from the reference's batch manifest: one report.
# Paths in a manifest are relative to its folder (or to --base-dir).
cat > "$work/batch.json" <<'MANIFEST'
{"defaults": {"missing_policy": "mark"},
 "tables": [
  {"id": "dover", "features": "../examples/features.jsonl",
   "scores": ["../examples/scores/dover-mobile.jsonl"],
   "out": "out/dover.jsonl", "audit_json": "out/dover.audit.json"},
  {"id": "musiq", "features": "../examples/features.jsonl",
   "scores": ["musiq=../examples/scores/musiq.json"], "out": "out/musiq.parquet"}
 ]}
MANIFEST
step "$bin" batch --manifest "$work/batch.json" --report-md "$work/batch.md"
cat "$work/batch.md"
# Before the retrain: which signal families does the enriched table cover?
step "$bin" audit --input "$work/features.second-opinion.parquet" \
    --out-json "$work/audit.json" --out-md "$work/audit.md" --out-html "$work/audit.html"
sed -n '1,25p' "$work/audit.md"
printf '\n$ head -n 1 %s\n' "$work/materialized.jsonl"
head -n 1 "$work/materialized.jsonl"
