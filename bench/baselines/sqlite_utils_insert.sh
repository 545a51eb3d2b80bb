#!/usr/bin/env bash
# Ingest baseline: `sqlite-utils insert` of a JSON Lines score file, with a
# (competitor, key) primary key so a duplicate fails the load as
# `second-opinion ingest` refuses it.
#
#   sqlite_utils_insert.sh DB SCORES.jsonl [KEY_FIELD]   (KEY_FIELD default clip_id)
#
# --batch-size 10000: sqlite-utils commits every batch, and its default of
# 100 rows makes a commit (an fsync) per 100 rows — 15.8 s for 100 000 rows
# on the benchmark machine, 1.3 s with 10 000. A capable user loading
# millions of rows raises it, so the baseline does too.
set -euo pipefail
exec sqlite-utils insert "$1" scores "$2" --nl --pk competitor --pk "${3:-clip_id}" \
    --batch-size 10000 --silent
