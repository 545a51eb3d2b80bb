"""Inputs of bench/run's growth-export workload (issue 18): a feature table,
the score file of its clips, and a score file of every other clip of the
corpus for the same scorer, so one registry holds only the table's scores
and another holds them among many more. Written once per size (a stamp
says which), plain Python: every value derives from the clip's number."""

import json
import os

FULL = {"table_rows": 100_000, "registry_rows": 8_000_000}
SMALL = {"table_rows": 5_000, "registry_rows": 400_000}
SCORER = "DOVER-Mobile"
VERSION = 1


def sizes(scale):
    if scale == "small":
        return dict(SMALL)
    if scale == "full":
        return dict(FULL)
    factor = float(scale)
    return {k: max(1_000, int(v * factor)) for k, v in FULL.items()}


def clip(i):
    return "/corpus/ugc/clip_%07d.mp4" % i


def score_line(i):
    return '{"filename": "%s", "competitor": "%s", "score": %d.%06d, "runtime_ms": %d.5}\n' % (
        clip(i), SCORER, 5 + i % 90, (i * 7919) % 1_000_000, 1 + i % 40)


def generate(root, sz):
    stamp_path = os.path.join(root, "stamp.json")
    stamp = {"version": VERSION, "sizes": sz}
    try:
        with open(stamp_path) as f:
            if json.load(f) == stamp:
                return
    except (OSError, ValueError):
        pass
    os.makedirs(root, exist_ok=True)
    # The table's clips are spread over the corpus's key order.
    step = sz["registry_rows"] // sz["table_rows"]
    table = [i * step for i in range(sz["table_rows"])]
    with open(os.path.join(root, "table.jsonl"), "w", newline="\n") as out:
        out.write("".join(
            '{"filename": "%s", "f0": %d.5, "f1": %d.25, "f2": %d, "f3": "batch_%03d"}\n'
            % (clip(i), i % 1000, i % 777, i, i % 97) for i in table))
    with open(os.path.join(root, "matching.jsonl"), "w", newline="\n") as out:
        out.write("".join(score_line(i) for i in table))
    with open(os.path.join(root, "others.jsonl"), "w", newline="\n") as out:
        chunk = 500_000
        for start in range(0, sz["registry_rows"], chunk):
            out.write("".join(score_line(i) for i in range(start, min(start + chunk, sz["registry_rows"]))
                              if i % step != 0 or i // step >= sz["table_rows"]))
    with open(stamp_path, "w") as f:
        json.dump(stamp, f)
