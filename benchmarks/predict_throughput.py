"""Batch prediction throughput: a fitted AutoPipeline vs its bare LightGBM model, same rows.

Usage::

    python benchmarks/predict_throughput.py [--tasks diamonds hotel_rates] [--budget 30] [--repeats 5]

The pipeline's ``predict`` does everything a user's call does (validation, column typing,
encoding, generated features, every ensemble member); the anchor is the best trial's LightGBM
configuration refit by LightGBM alone on the already-encoded matrix, with the rounds the
pipeline's own refit gives it (the fold models' best iteration scaled to all rows), and asked to
predict that matrix: the cheapest possible prediction of a comparable model. Rows per second
are the median over repeats.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import lightgbm as lgb
import numpy as np

from bench_suite import Suite, add_suite_option, validation_scheme


def median_seconds(fn, repeats):
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return float(np.median(times))


def measure(task, suite, budget, repeats):
    from featsmith import AutoPipeline

    Xtr, ytr, Xte, yte, tables = suite.load(task)
    model = AutoPipeline(time_budget=budget, random_state=0, verbose=0).fit(Xtr, ytr)
    # The matrix the final model predicts from (encoded raw columns + generated features).
    encoded_test = model.transform(Xte)
    encoded_train = model.transform(Xtr)
    lb = model.leaderboard_
    best = lb[(lb["model"] == "lightgbm") & (lb["status"] == "ok")].iloc[0]
    params = {"verbosity": -1, "seed": 0, **best["params"]}
    params["objective"] = {"regression": "regression", "binary": "binary", "multiclass": "multiclass"}[model.task_]
    n_rows = len(ytr)
    scheme = validation_scheme(model)
    folds = scheme.split()[0]
    k = int(folds.split("-")[0]) if folds.endswith("-fold") else 5  # holdout: 80/20
    n_fold_train = n_rows * (1 - 1 / k)
    y_codes = ytr.to_numpy() if model.task_ == "regression" else np.searchsorted(model.classes_, ytr.to_numpy())
    if model.task_ == "multiclass":
        params["num_class"] = len(model.classes_)
    bare = lgb.train(
        params, lgb.Dataset(encoded_train, y_codes, categorical_feature=model.encoder_.categorical_features_),
        # as many rounds as the pipeline's refit of this configuration on all rows gets
        num_boost_round=max(int(np.ceil(best["n_rounds"] * n_rows / n_fold_train)), 1),
    )
    predict = model.predict_proba if model.task_ != "regression" else model.predict
    pipeline_s = median_seconds(lambda: predict(Xte), repeats)
    bare_s = median_seconds(lambda: bare.predict(encoded_test), repeats)
    n = len(Xte)
    row = {
        "task": task, "rows": n, "ensemble members": len(model.ensemble_),
        "generated features": 0 if model.feature_plan_ is None else len(model.feature_plan_.names),
        "pipeline rows/s": n / pipeline_s, "bare LightGBM rows/s": n / bare_s, "ratio": pipeline_s / bare_s,
    }
    row["ratio per member"] = row["ratio"] / row["ensemble members"]
    row["members"] = model.ensemble_.to_dict("records")
    print(json.dumps(row), file=sys.stderr, flush=True)
    return row


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tasks", nargs="+", default=["diamonds"])
    ap.add_argument("--budget", type=float, default=30)
    ap.add_argument("--repeats", type=int, default=5)
    add_suite_option(ap)
    args = ap.parse_args(argv)

    suite = Suite(args.suite)
    rows = [measure(task, suite, args.budget, args.repeats) for task in args.tasks]
    print("| task | rows | ensemble members | generated features | pipeline rows/s | bare LightGBM rows/s "
          "| pipeline time / bare time | per member |")
    print("|---|---|---|---|---|---|---|---|")
    for row in rows:
        print(
            f"| {row['task']} | {row['rows']} | {row['ensemble members']} | {row['generated features']} | "
            f"{row['pipeline rows/s']:,.0f} | {row['bare LightGBM rows/s']:,.0f} | {row['ratio']:.2f} "
            f"| {row['ratio per member']:.2f} |"
        )


if __name__ == "__main__":
    main()
