"""The features stage's top-by-gain fit on multiclass shapes: LightGBM's default 255 bins per
column (the anchor) against the stage's ``TOP_GAIN_MULTICLASS_BINS``, same run.

One fit as the stage makes it (``featsmith.pipelines._stages.features._top_by_gain``'s
parameters: 60 rounds, 31 leaves, half the columns per tree, the pipeline's column-wise,
deterministic LightGBM) on synthetic folds of the shapes the stage met on the dev suite (a
police_force_type fold: 1,235 sampled rows, 1,171 raw and candidate columns, 7 classes; a
leaf_species fold: 1,000 rows, 2,050 columns, 32 classes). The target is a noisy function of
the first five columns, so both fits should rank them first: ``top-5 found`` counts how many
of them each fit's five columns with the most gain hold.

    python benchmarks/top_gain_bins.py                       # both shapes
    python benchmarks/top_gain_bins.py --shapes 1235x1171x7  # rows x columns x classes
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import lightgbm as lgb
import numpy as np

from featsmith.pipelines._stages.features import TOP_GAIN_MULTICLASS_BINS, TOP_GAIN_ROUNDS

SIGNAL = 5


def fit_seconds(X, y, n_classes, max_bin, n_jobs):
    """Seconds of one top-by-gain fit, and how many of the signal columns its top five hold."""
    params = {"objective": "multiclass", "num_class": n_classes, "verbosity": -1, "num_threads": n_jobs,
              "seed": 0, "deterministic": True, "force_col_wise": True, "colsample_bytree": 0.5,
              "num_leaves": 31, "learning_rate": 0.1}
    start = time.perf_counter()
    data = lgb.Dataset(X, y, params={"verbosity": -1, "feature_pre_filter": False, "max_bin": max_bin})
    booster = lgb.train(params, data, num_boost_round=TOP_GAIN_ROUNDS)
    seconds = time.perf_counter() - start
    top = np.argsort(-booster.feature_importance("gain"), kind="stable")[:SIGNAL]
    return seconds, int((top < SIGNAL).sum())


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shapes", nargs="*", default=["1235x1171x7", "1000x2050x32"])
    ap.add_argument("--n-jobs", type=int, default=2)
    args = ap.parse_args(argv)
    print(f"| rows x columns x classes | 255 bins s | {TOP_GAIN_MULTICLASS_BINS} bins s | speed-up "
          f"| top-5 found (255 / {TOP_GAIN_MULTICLASS_BINS}) |")
    print("|---|---|---|---|---|")
    for shape in args.shapes:
        n, p, k = (int(v) for v in shape.split("x"))
        rng = np.random.default_rng(0)
        X = rng.normal(size=(n, p))
        score = X[:, :SIGNAL].sum(axis=1) * 2 + rng.normal(size=n)
        y = score.argsort().argsort() * k // n  # k classes of equal size, ordered by the score
        anchor, found_anchor = fit_seconds(X, y, k, 255, args.n_jobs)
        coarse, found_coarse = fit_seconds(X, y, k, TOP_GAIN_MULTICLASS_BINS, args.n_jobs)
        print(f"| {n:,} x {p:,} x {k} | {anchor:.1f} | {coarse:.1f} | {anchor / coarse:.1f}x "
              f"| {found_anchor} / {found_coarse} |", flush=True)


if __name__ == "__main__":
    main()
