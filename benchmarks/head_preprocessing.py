"""Benchmark the neural head's input preprocessing (``TabularPreprocessor.transform_one``).

On the dev tasks (the head's encoding of ``benchmarks/nas.py``), for each scaling the head can
use, the time to turn 1 and 4096 rows into the head's inputs, against the scikit-learn
transformers a user would put together for the same job in the same run (the anchor):
``SimpleImputer(strategy="median", add_indicator=True)`` then ``StandardScaler`` or
``QuantileTransformer(output_distribution="normal")`` on the numeric columns, and an
``OrdinalEncoder`` (unknown and missing values coded apart) on the categorical ones. The
quantile outputs are checked against scikit-learn's, clipped at +/-8 as the head's are (to 1e-5:
the head's inputs are float32). One thread; medians of repeated calls in wall time (run it on an
idle machine).

``--rows N`` times the same on N synthetic rows instead (20 normal, 15 integer-coded of which 5
categorical, 5 exponential columns, 1% missing; fitted on the first 100,000): the median of 3
calls after one more (a process's first call at this size pays for fresh memory pages: 2.0 s
instead of 0.6 s for featsmith's standard scaling of a million rows), and the process's peak
memory after featsmith's calls (before the anchor runs).

    python benchmarks/head_preprocessing.py
    python benchmarks/head_preprocessing.py --rows 1000000
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import resource
import statistics
import time

import numpy as np
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OrdinalEncoder, QuantileTransformer, StandardScaler
from threadpoolctl import threadpool_limits

from bench_suite import Suite, add_suite_option
from featsmith.tuners.nas._data import TabularPreprocessor
from nas import QUICK_TASKS, _encode


def _median_ms(fn, runs):
    fn()
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return 1e3 * statistics.median(times)


def _anchor(scaler, n_rows, numeric, categorical):
    last = (StandardScaler() if scaler == "standard" else
            QuantileTransformer(n_quantiles=max(2, min(1000, n_rows)), output_distribution="normal",
                                subsample=100_000, random_state=0))
    scaled = make_pipeline(SimpleImputer(strategy="median", add_indicator=True, keep_empty_features=True), last)
    coded = OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=-1, encoded_missing_value=-2)
    return ColumnTransformer([("numeric", scaled, numeric), ("categorical", coded, categorical)])


def run_scale(n_rows):
    """featsmith and the anchor on ``n_rows`` synthetic rows: one call each, seconds."""
    rng = np.random.default_rng(0)
    X = np.column_stack([rng.normal(size=(n_rows, 20)), rng.integers(0, 30, size=(n_rows, 15)).astype(float),
                         rng.exponential(size=(n_rows, 5))])
    X[rng.random(X.shape) < 0.01] = np.nan
    cats = list(range(20, 25))
    prep = TabularPreprocessor(cats).fit(X[:100_000])
    numeric = prep.numeric_
    print("| rows | scaling | featsmith s | scikit-learn s | ratio |\n|---|---|---|---|---|")
    ours = {scaler: _median_ms(lambda: prep.transform_one(X, scaler), 3) / 1e3 for scaler in ("standard", "quantile")}
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    for scaler in ("standard", "quantile"):
        anchor = _anchor(scaler, 100_000, numeric, cats).fit(X[:100_000])
        theirs = _median_ms(lambda: anchor.transform(X), 3) / 1e3
        print(f"| {n_rows:,} | {scaler} | {ours[scaler]:.2f} | {theirs:.2f} | {theirs / ours[scaler]:.1f}x |")
    print(f"\npeak memory after featsmith's calls: {peak:.2f} GiB")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", nargs="*", default=QUICK_TASKS)
    parser.add_argument("--runs", type=int, default=50, help="timed calls per measurement")
    parser.add_argument("--rows", type=int, default=0, help="time N synthetic rows instead of the dev tasks")
    add_suite_option(parser)
    args = parser.parse_args(argv)
    print(f"# head preprocessing, {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC, "
          f"{platform.node()}, {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}\n")
    if args.rows:
        with threadpool_limits(1):
            run_scale(args.rows)
        return
    print("| task | numeric / categorical columns | scaling | featsmith 1 row ms | scikit-learn 1 row ms "
          "| featsmith 4096 ms | scikit-learn 4096 ms | ratio at 4096 |")
    print("|---|---|---|---|---|---|---|---|")
    suite = Suite(args.suite)
    ratios = []
    with threadpool_limits(1):
        for name in args.tasks:
            X_train, _, X_test, _, _ = suite.load(name)
            Xtr, Xte, cats = _encode(X_train, X_test)
            prep = TabularPreprocessor(cats).fit(Xtr)
            numeric = prep.numeric_
            X4k = np.resize(Xte, (4096, Xte.shape[1]))
            for scaler in ("standard", "quantile"):
                anchor = _anchor(scaler, len(Xtr), numeric, cats).fit(Xtr)
                if scaler == "quantile":
                    ours = prep.transform_one(X4k, scaler)[0]
                    theirs = np.clip(anchor.transform(X4k)[:, :ours.shape[1]], -8, 8)
                    np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-5)  # float32 output
                row = [_median_ms(lambda: prep.transform_one(X4k[:1], scaler), args.runs * 4),
                       _median_ms(lambda: anchor.transform(X4k[:1]), args.runs * 4),
                       _median_ms(lambda: prep.transform_one(X4k, scaler), args.runs),
                       _median_ms(lambda: anchor.transform(X4k), args.runs)]
                ratios.append(row[3] / row[2])
                print(f"| {name} | {len(numeric)} / {len(cats)} | {scaler} | {row[0]:.3f} | {row[1]:.3f} | "
                      f"{row[2]:.2f} | {row[3]:.2f} | {row[3] / row[2]:.1f}x |", flush=True)
    print(f"\nmedian scikit-learn / featsmith time at 4096 rows: {statistics.median(ratios):.1f}x")


if __name__ == "__main__":
    main()
