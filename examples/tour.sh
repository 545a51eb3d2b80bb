#!/usr/bin/env bash
# A tour of second-opinion on the example data in this folder: builds the
# binary, ingests three scorers' outputs into a fresh registry and asks the
# registry what it holds. Run from anywhere: bash examples/tour.sh
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cd "$here/.."
cargo build --release --quiet
bin=target/release/second-opinion
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export SECOND_OPINION_REGISTRY="$work/registry.db"

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
