"""AutoPipeline at scale: fit seconds against the budget, peak memory and test AUC, from 100k to
10M rows, against LightGBM's defaults on pandas categoricals in the same run; and
``featsmith predict`` over a large Parquet file.

The data (``scale_data.make_table``) is the column mix of issue 16: 10 numeric columns (one 5%
missing), a 5,000-level categorical with a strong per-level effect, a 300-level and an 8-level
categorical, an hourly timestamp; a binary target; 200,000 test rows. Every fit runs in its
own process (peak RSS is that process's ``ru_maxrss``, data included); the anchor gets the
same frame, its timestamp as int64 seconds.

    python benchmarks/scale.py                                  # 100k/60s 1M/120s 4M/240s 10M/600s
    python benchmarks/scale.py --sizes 100000 --budgets 30      # quick
    python benchmarks/scale.py --predict-rows 10000000          # also featsmith predict over 10M rows
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

HERE = Path(__file__).resolve().parent
TEST_ROWS = 200_000


def _peak_gib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def _anchor_frame(X):
    return X.assign(when=X["when"].astype("int64") // 10**9)


def child(kind: str, n_rows: int, budget: float, seed: int) -> dict:
    """One fit in this process: featsmith's AutoPipeline or LightGBM's defaults."""
    import numpy as np
    from sklearn.metrics import roc_auc_score

    from scale_data import make_table

    X, y = make_table(n_rows, seed=seed)
    X_test, y_test = make_table(TEST_ROWS, seed=10_000 + seed)
    out = {"kind": kind, "rows": n_rows, "budget": budget}
    start = time.perf_counter()
    if kind == "featsmith":
        from featsmith import AutoPipeline

        model = AutoPipeline(time_budget=budget, random_state=seed, verbose=0).fit(X, y)
        out["seconds"] = time.perf_counter() - start
        proba = model.predict_proba(X_test)[:, 1]
        out["search_rows"] = int(model.search_rows_)
        out["summary"] = dict(zip(model.stages_["stage"], model.stages_["summary"]))
    else:
        import lightgbm as lgb

        model = lgb.LGBMClassifier(verbose=-1).fit(_anchor_frame(X), y)
        out["seconds"] = time.perf_counter() - start
        proba = model.predict_proba(_anchor_frame(X_test))[:, 1]
    out["auc"] = float(roc_auc_score(y_test, proba))
    out["peak_gib"] = _peak_gib()
    assert np.isfinite(out["auc"])
    return out


def run_child(kind, n_rows, budget, seed) -> dict:
    cmd = [sys.executable, __file__, "--child", kind, "--rows", str(n_rows), "--budget", str(budget),
           "--seed", str(seed)]
    done = subprocess.run(cmd, capture_output=True, text=True, cwd=HERE)
    if done.returncode != 0:
        return {"kind": kind, "rows": n_rows, "budget": budget, "error": done.stderr.strip().splitlines()[-1:]}
    return json.loads(done.stdout.strip().splitlines()[-1])


def predict_check(n_rows: int, seed: int) -> dict:
    """Fit a small model, write ``n_rows`` rows to Parquet, and time ``featsmith predict`` over
    them in a child process (its peak RSS from the kernel's accounting of children)."""
    import joblib

    from featsmith import AutoPipeline
    from scale_data import make_table

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        X, y = make_table(100_000, seed=seed)
        joblib.dump(AutoPipeline(time_budget=20, random_state=seed, verbose=0).fit(X, y), tmp / "model.joblib")
        data = tmp / "rows.parquet"
        # Written in slices, so that this process never holds the 10M rows either.
        import pyarrow as pa
        import pyarrow.parquet as pq

        writer = None
        for part in range(0, n_rows, 1_000_000):
            frame, _ = make_table(min(1_000_000, n_rows - part), seed=seed + 1 + part)
            table = pa.Table.from_pandas(frame, preserve_index=False)
            writer = writer or pq.ParquetWriter(data, table.schema)
            writer.write_table(table)
        writer.close()
        start = time.perf_counter()
        done = subprocess.run([sys.executable, "-m", "featsmith", "predict", str(tmp / "model.joblib"), str(data),
                               "--out", str(tmp / "pred.parquet"), "--proba", "-q"], capture_output=True, text=True)
        seconds = time.perf_counter() - start
        peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 2**20
        out = {"rows": n_rows, "seconds": seconds, "peak_gib": peak, "ok": done.returncode == 0}
        if done.returncode != 0:
            out["error"] = done.stderr.strip().splitlines()[-1:]
        return out


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="100000,1000000,4000000,10000000")
    parser.add_argument("--budgets", default="60,120,240,600", help="one per size")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--predict-rows", type=int, default=0, help="rows of the predict check (0: skip)")
    parser.add_argument("--out", type=Path, help="write the results as JSON lines")
    parser.add_argument("--child", choices=["featsmith", "lightgbm"], help=argparse.SUPPRESS)
    parser.add_argument("--rows", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--budget", type=float, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(child(args.child, args.rows, args.budget, args.seed)))
        return
    sizes = [int(s) for s in args.sizes.split(",")]
    budgets = [float(b) for b in args.budgets.split(",")]
    if len(budgets) != len(sizes):
        parser.error("--budgets needs one budget per size")
    print(f"# featsmith scale benchmark, {date.today()}, {platform.node()}, {platform.processor() or platform.machine()}, "
          f"{os.cpu_count()} cores, {os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') / 2**30:.0f} GiB, "
          f"Python {platform.python_version()}; test rows {TEST_ROWS:,}")
    header = ("| rows | budget | fit s | fit/budget | peak GiB | search rows | AUC | LightGBM s | LightGBM GiB "
              "| LightGBM AUC | AUC diff |")
    print(header)
    print("|---" * (header.count("|") - 1) + "|")
    results = []
    for n_rows, budget in zip(sizes, budgets):
        ours = run_child("featsmith", n_rows, budget, args.seed)
        anchor = run_child("lightgbm", n_rows, budget, args.seed)
        results += [ours, anchor]
        if "error" in ours or "error" in anchor:
            print(f"| {n_rows:,} | {budget:.0f} | error: {ours.get('error') or anchor.get('error')} |")
            continue
        print(f"| {n_rows:,} | {budget:.0f} | {ours['seconds']:.1f} | {ours['seconds'] / budget:.2f} | "
              f"{ours['peak_gib']:.2f} | {ours['search_rows']:,} | {ours['auc']:.4f} | {anchor['seconds']:.1f} | "
              f"{anchor['peak_gib']:.2f} | {anchor['auc']:.4f} | {ours['auc'] - anchor['auc']:+.4f} |", flush=True)
    fits = [r for r in results if r.get("kind") == "featsmith" and "error" not in r]
    pairs = {r["rows"]: r for r in results if r.get("kind") == "lightgbm" and "error" not in r}
    print(f"within budget + 10%: {sum(r['seconds'] <= 1.1 * r['budget'] for r in fits)} of {len(fits)}; "
          f">= LightGBM's defaults: {sum(r['auc'] >= pairs[r['rows']]['auc'] for r in fits if r['rows'] in pairs)} "
          f"of {len(fits)}")
    for r in fits:
        print(f"  {r['rows']:,} rows: " + "; ".join(f"{k}: {v}" for k, v in r["summary"].items()
                                                      if k in ("rows", "features", "search", "refit")))
    if args.predict_rows:
        pred = predict_check(args.predict_rows, args.seed)
        results.append({"kind": "predict", **pred})
        print(f"featsmith predict over {pred['rows']:,} Parquet rows: {pred['seconds']:.1f}s, peak RSS "
              f"{pred['peak_gib']:.2f} GiB{'' if pred['ok'] else ', failed: ' + str(pred.get('error'))}")
    if args.out:
        args.out.write_text("".join(json.dumps(r) + "\n" for r in results))


if __name__ == "__main__":
    main()
