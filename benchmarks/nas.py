"""Benchmark featsmith.tuners.nas: batched training speed-up and the searched head on dev tasks.

Part 1 trains K=16 candidates of equal shape (the space's default architecture with different
learning rates, weight decays and dropout rates) one by one as concrete torch modules and
together as one batched module, on the same mini-batches for the same epochs, in the same
run; repetitions are interleaved and the medians of process CPU time compared. It prints ``batched speed-up: N.Nx`` for
the default architecture (two blocks of 128 units); extra rows show narrower equal shapes and 16
random architectures (grouped by the trainer's cost model).

Part 2 compares, on the dev tasks of the dataset suite (``--suite``), the searched head
(``NASHeadClassifier`` / ``NASHeadRegressor``) with scikit-learn's ``MLPClassifier`` /
``MLPRegressor`` at their defaults and LightGBM at its defaults: test score and seconds.
Categorical text columns are ordinal-coded from the training split (unseen -> missing);
columns with at most 100 levels are given to the head as ``categorical_features`` and one-hot
encoded for the scikit-learn MLP; datetimes become seconds since the epoch. The MLP gets median
imputation and standard scaling (it accepts neither NaN nor raw scales) and, for regression,
a standardised target. Everything runs on one thread.

    python benchmarks/nas.py            # all single-table tasks, 60 s search per task
    python benchmarks/nas.py --quick    # 4 tasks, 15 s search, fewer speed-up repetitions
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
import warnings

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numpy as np
import pandas as pd
import torch
from threadpoolctl import threadpool_limits

from featsmith.tuners.nas import (
    NASHeadClassifier,
    NASHeadRegressor,
    TabularHeadSpace,
    TrainingData,
    train_candidates,
)

from bench_suite import Suite, add_suite_option, better, lgbm_model, predictions, score

QUICK_TASKS = ["credit_data", "leaf_species", "ames_housing", "caravan_insurance"]
MAX_EMBEDDED_LEVELS = 100


# ---------------------------------------------------------------- part 1: batched speed-up
def _speed_data(n=4096, d=16, seed=0):
    g = torch.Generator().manual_seed(seed)
    x0 = torch.randn(n, d, generator=g)
    y = ((x0[:, 0] * x0[:, 1] + x0[:, 2]) > 0).float()
    x = torch.stack([x0, x0])
    c = torch.zeros(n, 0, dtype=torch.long)
    tr, va = slice(0, 3 * n // 4), slice(3 * n // 4, n)
    return TrainingData("binary", 1, [], x[:, tr], c[tr], y[tr], x[:, va], c[va], y[va])


def _equal_shape_archs(space, k, width=None):
    lrs, wds, drops = (3e-4, 1e-3, 3e-3, 1e-2), (0.0, 1e-4, 1e-3, 1e-2), (0.0, 0.1, 0.2, 0.3)
    shape = {} if width is None else {"width_0": width, "width_1": width}
    return [
        space.canonicalize(
            {**shape, "lr": lrs[i % 4], "weight_decay": wds[(i // 4) % 4], "dropout": drops[(i // 2) % 4]}
        )
        for i in range(k)
    ]


def _mixed_archs(space, k, seed=0):
    rng = np.random.default_rng(seed)
    # one batch size so that all K share one batched module
    return [space.canonicalize({**space.sample(rng), "batch_size": 256}) for _ in range(k)]


def measure_speedup(archs, data, epochs, reps):
    seeds = list(range(len(archs)))
    times = {True: [], False: []}
    for r in range(reps):
        for batched in ((True, False) if r % 2 == 0 else (False, True)):
            # CPU time of this (single-threaded) process: on a shared machine wall time mostly
            # measures the neighbours.
            t0 = time.process_time()
            train_candidates(data, archs, seeds, max_epochs=epochs, patience=epochs + 1, batched=batched, export=False)
            times[batched].append(time.process_time() - t0)
    one, together = statistics.median(times[False]), statistics.median(times[True])
    return one, together, one / together


# ---------------------------------------------------------------- part 2: dev tasks
def _encode(X_train: pd.DataFrame, X_test: pd.DataFrame):
    """Numeric matrices for both splits and the indices of the low-cardinality categoricals."""
    tr, te, cats = {}, {}, []
    for col in X_train.columns:
        s, t = X_train[col], X_test[col]
        if pd.api.types.is_datetime64_any_dtype(s):
            tr[col] = s.astype("int64").where(s.notna()) / 1e9
            te[col] = t.astype("int64").where(t.notna()) / 1e9
        elif pd.api.types.is_bool_dtype(s) or pd.api.types.is_numeric_dtype(s):
            tr[col], te[col] = s.astype(float), t.astype(float)
        else:
            levels = pd.Index(pd.unique(s.dropna().astype(str)))
            tr[col] = pd.Series(levels.get_indexer(s.astype(str).where(s.notna())), index=s.index).replace(-1, np.nan)
            te[col] = pd.Series(levels.get_indexer(t.astype(str).where(t.notna())), index=t.index).replace(-1, np.nan)
            if len(levels) <= MAX_EMBEDDED_LEVELS:
                cats.append(len(tr) - 1)
    return pd.DataFrame(tr).to_numpy(float), pd.DataFrame(te).to_numpy(float), cats


def _mlp(task, cats, n_cols):
    from sklearn.compose import ColumnTransformer, TransformedTargetRegressor
    from sklearn.impute import SimpleImputer
    from sklearn.neural_network import MLPClassifier, MLPRegressor
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    num = [j for j in range(n_cols) if j not in cats]
    prep = ColumnTransformer(
        [
            ("num", make_pipeline(SimpleImputer(strategy="median"), StandardScaler()), num),
            ("cat", make_pipeline(SimpleImputer(strategy="most_frequent"), OneHotEncoder(handle_unknown="ignore")), cats),
        ]
    )
    if task == "regression":
        return make_pipeline(prep, TransformedTargetRegressor(MLPRegressor(random_state=0), transformer=StandardScaler()))
    return make_pipeline(prep, MLPClassifier(random_state=0))


def run_task(suite, name, budget, strategy):
    info = suite.manifest[name]
    X_train, y_train, X_test, y_test, _ = suite.load(name)
    Xtr, Xte, cats = _encode(X_train, X_test)
    task, metric = info["task"], info["metric"]
    regression = task == "regression"
    y_tr = y_train.to_numpy(float) if regression else y_train.astype(str).to_numpy()
    y_te = y_test.to_numpy(float) if regression else y_test.astype(str).to_numpy()
    if metric == "roc_auc":  # the labels are compared as strings here
        info = {**info, "positive_class": str(info["positive_class"])}
    models = {
        "NAS head": (NASHeadRegressor if regression else NASHeadClassifier)(
            time_budget=budget, strategy=strategy, categorical_features=cats, n_jobs=1, random_state=0
        ),
        "MLP (sklearn)": _mlp(task, cats, Xtr.shape[1]),
        "LightGBM": lgbm_model(info, n_jobs=1, random_state=0),
    }
    row = {"task": name, "metric": metric}
    for label, model in models.items():
        t0 = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model.fit(Xtr, y_tr)
            row[label] = score(info, y_te, predictions(info, model, Xte))
        row[f"{label} s"] = time.perf_counter() - t0
        if label == "NAS head":
            row["candidates"] = int((model.search_history_["status"] != "ranked").sum())
    return row


def _print_speedup(reps, epochs):
    data = _speed_data()
    space = TabularHeadSpace.search_space(data.n_numeric, [], 1)
    print(f"## Batched training, K=16, {epochs} epochs, {data.n_train} rows, median of {reps} interleaved runs\n")
    print("| candidates | one by one CPU s | together CPU s | speed-up |")
    print("|---|---|---|---|")
    one, together, ratio = measure_speedup(_equal_shape_archs(space, 16), data, epochs, reps)
    print(f"| equal shape (default architecture) | {one:.2f} | {together:.2f} | {ratio:.1f}x |")
    for width in (32, 64):
        w_one, w_together, w_ratio = measure_speedup(_equal_shape_archs(space, 16, width), data, epochs, reps)
        print(f"| equal shape, width {width} instead of 128 | {w_one:.2f} | {w_together:.2f} | {w_ratio:.1f}x |")
    m_one, m_together, m_ratio = measure_speedup(_mixed_archs(space, 16), data, epochs, reps)
    print(f"| mixed shapes (random architectures, grouped by cost model) | {m_one:.2f} | {m_together:.2f} "
          f"| {m_ratio:.1f}x |")
    print(f"\nbatched speed-up: {ratio:.1f}x\n")
    sys.stdout.flush()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="4 tasks, 15 s search, 3 speed-up repetitions")
    parser.add_argument("--budget", type=float, default=None, help="search seconds per task (default 60, quick 15)")
    parser.add_argument("--strategy", default="evolution", choices=["evolution", "random", "tpe", "oneshot"])
    parser.add_argument("--tasks", nargs="*", default=None)
    add_suite_option(parser, "--data")
    parser.add_argument("--skip-tasks", action="store_true", help="only measure the batched speed-up")
    parser.add_argument("--skip-speedup", action="store_true", help="only run the dev tasks")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    reps, epochs = (3, 2) if args.quick else (5, 3)

    with threadpool_limits(1):
        if not args.skip_speedup:
            _print_speedup(reps, epochs)
        if args.skip_tasks:
            return

        budget = args.budget or (15.0 if args.quick else 60.0)
        suite = Suite(args.suite)
        tasks = args.tasks or (QUICK_TASKS if args.quick else suite.names(single_table=True))
        tasks = [t for t in tasks if t != "movielens_ratings"]
        rows = []
        for name in tasks:
            rows.append(run_task(suite, name, budget, args.strategy))
            print(f"done {name}", file=sys.stderr, flush=True)

    print(f"## Searched head ({args.strategy}, {budget:.0f} s) vs fixed MLP vs LightGBM, test split\n")
    print("| task | metric | NAS head | MLP (sklearn) | LightGBM | NAS s | MLP s | LightGBM s | candidates |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['task']} | {r['metric']} | {r['NAS head']:.4g} | {r['MLP (sklearn)']:.4g} | {r['LightGBM']:.4g} "
            f"| {r['NAS head s']:.1f} | {r['MLP (sklearn) s']:.1f} | {r['LightGBM s']:.1f} | {r['candidates']} |"
        )
    wins = sum(better(r, r["NAS head"], r["MLP (sklearn)"]) for r in rows)
    lgbm = sum(better(r, r["NAS head"], r["LightGBM"]) for r in rows)
    print(f"\nNAS head beats the default MLP on {wins}/{len(rows)} tasks and LightGBM on {lgbm}/{len(rows)}.")


if __name__ == "__main__":
    main()
