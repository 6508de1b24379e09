"""Fit AutoPipeline on one dev task and print its stages, leaderboard, tuning history,
ensemble and test score, beside LightGBM's defaults.

Usage::

    python benchmarks/pipeline_leaderboard.py police_force_type 300 [--no-generation]
        [--validation split|auto] [--suite ../shared/datasets]

It fits and scores as ``benchmarks/automl.py`` does (``n_jobs=2``, seed 0, the task's metric
on its test split; ``--validation split``, the default, validates as the manifest says the test
split was drawn), and shows where one fit's time went: each stage's seconds and summary, every
trial's family, view, seconds and status (``truncated``: stopped after a fold), and the tuning
history's skipped proposals with their reasons ("would not finish: ...; queued on the raw
columns"). Use it to trace a score ``automl.py`` reports.
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import pandas as pd

from automl import run_lgbm, split_validation
from bench_suite import Suite, add_suite_option, predictions, score

HISTORY_COLUMNS = ["params.model", "params.view", "state", "value", "duration", "message"]


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("task")
    ap.add_argument("budget", type=float, nargs="?", default=60.0)
    ap.add_argument("--no-generation", action="store_true", help="fit with feature_generation=False")
    ap.add_argument("--validation", choices=("split", "auto"), default="split",
                    help="split (default): validate as the test split was drawn; auto: featsmith chooses")
    add_suite_option(ap)
    args = ap.parse_args(argv)
    from featsmith import AutoPipeline

    suite = Suite(args.suite)
    task = suite.manifest[args.task]
    Xtr, ytr, Xte, yte, _ = suite.load(args.task)
    cv, groups = split_validation(task) if args.validation == "split" else (None, None)
    start = time.perf_counter()
    model = AutoPipeline(time_budget=args.budget, random_state=0, n_jobs=2, verbose=0,
                         feature_generation=not args.no_generation, **({} if cv is None else {"cv": cv})
                         ).fit(Xtr, ytr, **({} if groups is None else {"groups": groups}))
    seconds = time.perf_counter() - start
    with pd.option_context("display.width", 250, "display.max_columns", 30, "display.max_colwidth", 100):
        print(model.stages_.to_string())
        print(model.leaderboard_.drop(columns="params").to_string())
        history = model.tuning_history_
        print(history[[c for c in HISTORY_COLUMNS if c in history]].to_string())
        print(model.ensemble_.to_string())
    lgbm, _, _ = run_lgbm(task, Xtr, ytr, Xte, yte, n_jobs=2)
    print(f"test {task['metric']}: featsmith {score(task, yte, predictions(task, model, Xte)):.5g}, "
          f"LightGBM defaults {lgbm:.5g}")
    print("fit seconds", round(seconds, 1), "validation", model.best_score_)


if __name__ == "__main__":
    main()
