"""Benchmark LightGBM's thread count under OMP_WAIT_POLICY=PASSIVE (featsmith's setting).

(1) LightGBM alone: 100 rounds of a binary model on synthetic rows x 50 columns, with one
thread, with every core, and with the count :func:`featsmith._threads.fit_threads` picks.
(2) ``AutoPipeline`` with the default ``n_jobs`` (every core) on suite tasks, twice in the same
run: every LightGBM fit on every core (as before ``featsmith/_threads.py``; the threshold set
to one cell) and the threads picked by size. Reported: trials completed, test score, fit
seconds.

Thread wake-ups are what is measured, so run it on an otherwise idle machine.

    python benchmarks/threads.py                           # (1) and (2) on 4 tasks at 30 s
    python benchmarks/threads.py --tasks credit_data --budget 60
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import statistics
import time
import warnings

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import featsmith  # noqa: E402  (sets OMP_WAIT_POLICY before LightGBM loads OpenMP)
import featsmith._threads as threads  # noqa: E402
import lightgbm as lgb  # noqa: E402
import numpy as np  # noqa: E402

from bench_suite import Suite, add_suite_option, predictions, score  # noqa: E402

DEFAULT_TASKS = ("credit_data", "caravan_insurance", "ames_housing", "leaf_species")


def _seconds(fn, repeats=3):
    runs = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        runs.append(time.perf_counter() - t)
    return statistics.median(runs)


def run_lightgbm(sizes, n_columns=50):
    cores = os.cpu_count() or 1
    rng = np.random.default_rng(0)
    print(f"## (1) LightGBM, 100 rounds, binary, {n_columns} columns, median of 3 (seconds)\n")
    print(f"| rows | 1 thread | {cores} threads | picked | picked threads | {cores} threads / picked |")
    print("|---|---|---|---|---|---|")
    for n in sizes:
        X = rng.normal(size=(n, n_columns))
        y = (X[:, 0] + X[:, 1] ** 2 + rng.normal(size=n) > 1).astype(int)
        data = lgb.Dataset(X, y, params={"verbosity": -1}).construct()

        def fit(k):
            return lambda: lgb.train({"objective": "binary", "verbosity": -1, "num_threads": k}, data, 100)

        picked = threads.fit_threads(0, n, n_columns)
        one, every, chosen = _seconds(fit(1)), _seconds(fit(cores)), _seconds(fit(picked))
        print(f"| {n:,} | {one:.2f} | {every:.2f} | {chosen:.2f} | {picked} | {every / chosen:.2f}x |", flush=True)


def run_automl(suite, names, budget):
    print(f"\n## (2) AutoPipeline(time_budget={budget}), default n_jobs, test split\n")
    print("| task | LightGBM threads | trials completed | score | fit s |")
    print("|---|---|---|---|---|")
    default = threads.CELLS_PER_THREAD
    for name in names:
        info = suite.manifest[name]
        X_train, y_train, X_test, y_test, _ = suite.load(name)
        for label, cells in (("every core (before)", 1), ("by size", default)):
            threads.CELLS_PER_THREAD = cells
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    t = time.perf_counter()
                    model = featsmith.AutoPipeline(time_budget=budget, random_state=0, verbose=0).fit(X_train, y_train)
                    seconds = time.perf_counter() - t
                    s = score(info, y_test, predictions(info, model, X_test))
            finally:
                threads.CELLS_PER_THREAD = default
            history = model.tuning_history_
            done = int((history["status"] == "complete").sum()) if history is not None else 0
            print(f"| {name} | {label} | {done} | {s:.5g} | {seconds:.1f} |", flush=True)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_suite_option(parser)
    parser.add_argument("--tasks", nargs="*", default=list(DEFAULT_TASKS))
    parser.add_argument("--budget", type=float, default=30.0)
    parser.add_argument("--sizes", type=int, nargs="*", default=[5_000, 20_000, 50_000, 300_000])
    parser.add_argument("--skip-automl", action="store_true")
    args = parser.parse_args(argv)
    print(f"# featsmith {featsmith.__version__} threads benchmark, "
          f"{datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC\n")
    print(f"Machine: {platform.node()}, {platform.machine()}, {os.cpu_count()} CPUs, "
          f"Python {platform.python_version()}, LightGBM {lgb.__version__}, "
          f"OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY')}; load average "
          f"{', '.join(f'{v:.1f}' for v in os.getloadavg())}\n")
    run_lightgbm(args.sizes)
    if not args.skip_automl:
        run_automl(Suite(args.suite), args.tasks, args.budget)


if __name__ == "__main__":
    main()
