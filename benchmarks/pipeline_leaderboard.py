"""Fit AutoPipeline on one dev task and print its leaderboard, ensemble and test score.

Usage::

    python benchmarks/pipeline_leaderboard.py police_force_type 150

Shows which model families (LightGBM, extra trees, linear, the NAS head at budgets of 120 s or
more) the search tried and which the greedy ensemble kept, with the test-split score.
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from sklearn.metrics import log_loss

from bench_suite import Suite, add_suite_option


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("task")
    ap.add_argument("budget", type=float, nargs="?", default=60.0)
    add_suite_option(ap)
    args = ap.parse_args(argv)
    from featsmith import AutoPipeline

    Xtr, ytr, Xte, yte, _ = Suite(args.suite).load(args.task)
    start = time.perf_counter()
    model = AutoPipeline(time_budget=args.budget, random_state=0, verbose=0).fit(Xtr, ytr)
    seconds = time.perf_counter() - start
    print(model.leaderboard_.drop(columns="params").to_string())
    print(model.ensemble_.to_string())
    if model.task_ == "multiclass":
        print("test log loss", log_loss(yte, model.predict_proba(Xte), labels=model.classes_))
    else:
        print(f"test {model.metric_} (scikit-learn sign)", model.score(Xte, yte))
    print("fit seconds", round(seconds, 1), "validation", model.best_score_, model.stage_timings_)


if __name__ == "__main__":
    main()
