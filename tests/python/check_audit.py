#!/usr/bin/env python3
"""Check the numbers of `second-opinion audit` against numpy, scipy, pandas
and scikit-learn on the same data.

    python3 tests/python/check_audit.py target/release/second-opinion

Builds a 160-row feature table with numpy (a fixed seed): FR features with
NaN holes and ties, a constant column, a key column, MOS, two second-opinion
scorers with `_status` columns (ok, bad, missing) and a component column;
writes it as JSON Lines and CSV, runs `audit` on both (no registry: the
scorers are found from the columns), and checks

* every target correlation (Pearson, and Spearman as the reference computes
  it: each column ranked on its own with average ranks, then Pearson on the
  rows where both ranks are finite) to 1e-9 against numpy/pandas, and, on
  columns without holes, against scipy.stats.pearsonr/spearmanr;
* every redundant pair and the column statistics (np.mean, np.std, …);
* the retrain impact estimate: the same folds (SplitMix64 + Fisher-Yates, as
  src/audit/impact.rs documents), a scikit-learn Pipeline(StandardScaler(),
  Ridge(alpha)) per fold, PLCC/SROCC from scipy and RMSE from numpy, per
  fold and summarised, to 1e-9;
* that JSON Lines and CSV give the same numbers.

Exits 1 listing every mismatch, 0 when everything matches.
"""

import json
import math
import subprocess
import sys
import tempfile
from pathlib import Path

try:
    import numpy as np
    import pandas as pd
    from scipy import stats
    from sklearn.linear_model import Ridge
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
except ImportError as error:  # pragma: no cover - environment problem
    sys.exit(f"check_audit.py needs numpy, pandas, scipy and scikit-learn: {error}")

TOLERANCE = 1e-9
ROWS = 160
MASK64 = (1 << 64) - 1
PREFIX = "second_opinion"

failures: list[str] = []


def close(a, b, what: str, tolerance: float = TOLERANCE) -> None:
    if a is None or b is None or (isinstance(a, float) and math.isnan(a)):
        if not ((a is None or (isinstance(a, float) and math.isnan(a))) and
                (b is None or (isinstance(b, float) and math.isnan(b)))):
            failures.append(f"{what}: {a!r} vs {b!r}")
        return
    if isinstance(b, float) and math.isnan(b):
        failures.append(f"{what}: {a!r} vs nan")
        return
    if abs(a - b) > tolerance * max(1.0, abs(b)):
        failures.append(f"{what}: {a!r} vs {b!r} (diff {abs(a - b):.3g})")


def build_table() -> pd.DataFrame:
    rng = np.random.default_rng(20261128)
    quality = rng.uniform(0.0, 1.0, ROWS)
    frame = pd.DataFrame({"src": [f"/corpus/clip_{i:03d}.mp4" for i in range(ROWS)]})
    frame["vmaf"] = 30 + 65 * quality + rng.normal(0, 3, ROWS)
    frame["adm2"] = 0.6 + 0.4 * quality + rng.normal(0, 0.02, ROWS)
    frame["vif_scale0"] = 0.3 + 0.5 * quality + rng.normal(0, 0.05, ROWS)
    frame.loc[rng.choice(ROWS, 9, replace=False), "vif_scale0"] = np.nan
    frame["motion2"] = rng.integers(0, 6, ROWS).astype(float)  # ties
    frame["psnr_y"] = 28 + 16 * quality + rng.normal(0, 1.5, ROWS)
    frame["float_ssim"] = 0.9 + 0.09 * quality + rng.normal(0, 0.004, ROWS)
    frame["bitdepth"] = 10.0
    frame["width"] = rng.choice([1280.0, 1920.0, 3840.0], ROWS)
    frame["mos"] = 1 + 4 * quality + rng.normal(0, 0.35, ROWS)
    dover = 20 + 70 * quality + rng.normal(0, 8, ROWS)
    status = np.array(["ok"] * ROWS, dtype=object)
    status[rng.choice(ROWS, 6, replace=False)] = "missing"
    bad = rng.choice(np.flatnonzero(status == "ok"), 4, replace=False)
    status[bad] = "bad"
    dover[status == "missing"] = np.nan
    frame[f"{PREFIX}_dover_score"] = dover
    frame[f"{PREFIX}_dover_status"] = status
    frame[f"{PREFIX}_dover_aesthetic"] = dover * 0.5 + rng.normal(0, 4, ROWS)
    frame[f"{PREFIX}_dover_runtime_ms"] = rng.uniform(20, 40, ROWS)
    musiq = 40 + 30 * quality + rng.normal(0, 10, ROWS)
    frame[f"{PREFIX}_musiq_score"] = musiq
    frame[f"{PREFIX}_musiq_status"] = "ok"
    return frame


def write_jsonl(frame: pd.DataFrame, path: Path) -> None:
    with path.open("w") as out:
        for record in frame.to_dict(orient="records"):
            clean = {k: (None if isinstance(v, float) and math.isnan(v) else v)
                     for k, v in record.items()}
            out.write(json.dumps(clean) + "\n")


def reference_pearson(a: np.ndarray, b: np.ndarray) -> float:
    mask = np.isfinite(a) & np.isfinite(b)
    if int(mask.sum()) < 3:
        return float("nan")
    x, y = a[mask], b[mask]
    if float(np.std(x)) <= 1e-12 or float(np.std(y)) <= 1e-12:
        return float("nan")
    return float(np.corrcoef(x, y)[0, 1])


def reference_spearman(a: pd.Series, b: pd.Series) -> float:
    return reference_pearson(
        a.rank(method="average").to_numpy(dtype=np.float64, na_value=np.nan),
        b.rank(method="average").to_numpy(dtype=np.float64, na_value=np.nan),
    )


def numeric(frame: pd.DataFrame, column: str) -> np.ndarray:
    return frame[column].to_numpy(dtype=np.float64, na_value=np.nan)


def splitmix64_folds(n: int, k: int, seed: int) -> list[list[int]]:
    state = seed & MASK64

    def next_u64() -> int:
        nonlocal state
        state = (state + 0x9E3779B97F4A7C15) & MASK64
        z = state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK64
        return z ^ (z >> 31)

    order = list(range(n))
    for i in range(n - 1, 0, -1):
        j = next_u64() % (i + 1)
        order[i], order[j] = order[j], order[i]
    folds, start = [], 0
    for fold in range(k):
        size = n // k + (1 if fold < n % k else 0)
        folds.append(order[start:start + size])
        start += size
    return folds


def check_correlations(frame: pd.DataFrame, table: dict, name: str) -> None:
    target = table["target"]
    if target != "vmaf":
        failures.append(f"{name}: target {target!r}, expected 'vmaf'")
        return
    expected_signals = {"adm2", "vif_scale0", "motion2", "psnr_y", "float_ssim", "bitdepth",
                        "width", f"{PREFIX}_dover_score", f"{PREFIX}_dover_aesthetic",
                        f"{PREFIX}_musiq_score"}
    if set(table["signal_columns"]) != expected_signals:
        failures.append(f"{name}: signal columns {sorted(table['signal_columns'])}")
    y = numeric(frame, target)
    seen = set()
    for row in table["target_correlations"]:
        column = row["column"]
        seen.add(column)
        x = numeric(frame, column)
        close(row["pearson"], reference_pearson(x, y), f"{name}: pearson {column}")
        close(row["spearman"], reference_spearman(frame[column], frame[target]),
              f"{name}: spearman {column}")
        mask = np.isfinite(x) & np.isfinite(y)
        if mask.all():
            close(row["pearson"], float(stats.pearsonr(x, y).statistic),
                  f"{name}: scipy pearsonr {column}")
            close(row["spearman"], float(stats.spearmanr(x, y).statistic),
                  f"{name}: scipy spearmanr {column}")
    # bitdepth is constant: no correlation, so it is left out.
    if seen != expected_signals - {"bitdepth"}:
        failures.append(f"{name}: correlated columns {sorted(seen)}")
    for column, values in table["column_stats"].items():
        x = numeric(frame, column)
        finite = x[np.isfinite(x)]
        close(values["finite_ratio"], finite.size / x.size, f"{name}: finite_ratio {column}")
        close(values["mean"], float(np.mean(finite)), f"{name}: mean {column}")
        close(values["std"], float(np.std(finite)), f"{name}: std {column}")
    signals = table["signal_columns"]
    expected_pairs = {}
    for i, left in enumerate(signals):
        for right in signals[i + 1:]:
            r = reference_pearson(numeric(frame, left), numeric(frame, right))
            if not math.isnan(r) and abs(r) >= 0.95:
                expected_pairs[(left, right)] = r
    got = {(p["left"], p["right"]): p["pearson"] for p in table["redundant_pairs"]}
    if set(got) != set(expected_pairs):
        failures.append(f"{name}: redundant pairs {sorted(got)} vs {sorted(expected_pairs)}")
    for pair, r in expected_pairs.items():
        if pair in got:
            close(got[pair], r, f"{name}: redundant pair {pair}")


def check_impact(frame: pd.DataFrame, table: dict, name: str, options: dict) -> None:
    impact = table["retrain_impact"]
    if not impact.get("computed"):
        failures.append(f"{name}: impact not computed: {impact.get('reason')}")
        return
    target = impact["target"]
    values = frame.copy()
    # A scorer's values count only where its status is ok.
    for scorer in ("dover", "musiq"):
        status = values[f"{PREFIX}_{scorer}_status"]
        for column in values.columns:
            if column.startswith(f"{PREFIX}_{scorer}_") and values[column].dtype.kind == "f":
                values.loc[status != "ok", column] = np.nan
    baseline = impact["fr_only"]["columns"]
    full = impact["fr_plus_second_opinion"]["columns"]
    expected_baseline = ["adm2", "vif_scale0", "motion2", "psnr_y", "float_ssim", "width"]
    if baseline != expected_baseline:
        failures.append(f"{name}: FR-only columns {baseline}, expected {expected_baseline}")
    if full != baseline + [f"{PREFIX}_dover_score", f"{PREFIX}_dover_aesthetic",
                           f"{PREFIX}_musiq_score"]:
        failures.append(f"{name}: FR+second-opinion columns {full}")
    complete = values[[target] + full].apply(np.isfinite).all(axis=1).to_numpy()
    rows = values[complete]
    if impact["rows"] != len(rows):
        failures.append(f"{name}: impact rows {impact['rows']} vs {len(rows)}")
        return
    y = rows[target].to_numpy(dtype=np.float64)
    folds = splitmix64_folds(len(rows), options["folds"], options["seed"])
    for model_key, columns in (("fr_only", baseline), ("fr_plus_second_opinion", full)):
        x = rows[columns].to_numpy(dtype=np.float64)
        plcc, srocc, rmse = [], [], []
        for fold, test in enumerate(folds):
            train = np.setdiff1d(np.arange(len(rows)), test)
            model = make_pipeline(StandardScaler(), Ridge(alpha=options["ridge_alpha"]))
            model.fit(x[train], y[train])
            predicted = model.predict(x[test])
            truth = y[test]
            plcc.append(float(stats.pearsonr(predicted, truth).statistic))
            srocc.append(float(stats.spearmanr(predicted, truth).statistic))
            rmse.append(float(np.sqrt(np.mean((predicted - truth) ** 2))))
            got = impact[model_key]["per_fold"][fold]
            if got["test_rows"] != len(test):
                failures.append(f"{name}: {model_key} fold {fold} test rows {got['test_rows']}")
            close(got["plcc"], plcc[-1], f"{name}: {model_key} fold {fold} plcc")
            close(got["srocc"], srocc[-1], f"{name}: {model_key} fold {fold} srocc")
            close(got["rmse"], rmse[-1], f"{name}: {model_key} fold {fold} rmse")
        for metric, series in (("plcc", plcc), ("srocc", srocc), ("rmse", rmse)):
            close(impact[model_key][metric]["mean"], float(np.mean(series)),
                  f"{name}: {model_key} {metric} mean")
            close(impact[model_key][metric]["std"], float(np.std(series)),
                  f"{name}: {model_key} {metric} std")


def main() -> int:
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    binary = Path(sys.argv[1]).resolve()
    frame = build_table()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        write_jsonl(frame, work / "features.jsonl")
        frame.to_csv(work / "features.csv", index=False)
        reports = {}
        for name in ("features.jsonl", "features.csv"):
            out = work / f"{name}.audit.json"
            completed = subprocess.run(
                [str(binary), "--registry", str(work / "none.db"), "audit",
                 "--input", str(work / name), "--out-json", str(out),
                 "--out-md", str(work / f"{name}.audit.md")],
                capture_output=True, text=True, check=False,
            )
            if completed.returncode != 0:
                failures.append(f"audit {name} exited {completed.returncode}: {completed.stderr}")
                continue
            text = out.read_text()
            for word in ("NaN", "Infinity"):
                if word in text:
                    failures.append(f"{name}: the JSON report holds {word}")
            report = json.loads(text)
            reports[name] = report
            table = report["tables"][0]
            check_correlations(frame, table, name)
            check_impact(frame, table, name, report["options"])
        if len(reports) == 2:
            a, b = (reports[n]["tables"][0] for n in ("features.jsonl", "features.csv"))
            for key in ("target_correlations", "redundant_pairs", "retrain_impact"):
                if json.dumps(a[key], sort_keys=True) != json.dumps(b[key], sort_keys=True):
                    failures.append(f"JSON Lines and CSV disagree on {key}")
    if failures:
        print(f"check_audit.py: {len(failures)} mismatches", file=sys.stderr)
        for failure in failures:
            print(f"  {failure}", file=sys.stderr)
        return 1
    print("check_audit.py: correlations, statistics and ridge CV match numpy/scipy/scikit-learn")
    return 0


if __name__ == "__main__":
    sys.exit(main())
