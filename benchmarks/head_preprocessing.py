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

    python benchmarks/head_preprocessing.py
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
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


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", nargs="*", default=QUICK_TASKS)
    parser.add_argument("--runs", type=int, default=50, help="timed calls per measurement")
    add_suite_option(parser)
    args = parser.parse_args(argv)
    print(f"# head preprocessing, {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC, "
          f"{platform.node()}, {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}\n")
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
