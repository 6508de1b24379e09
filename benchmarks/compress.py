"""Benchmark featsmith.compress: (a) pruning + int8 on the neural head, (b) distillation.

(a) On 4 dev tasks, two heads each: the searched one (``NASHeadClassifier`` /
``NASHeadRegressor``, ``--search`` seconds of regularised evolution) and the widest default
(the space's default architecture with both blocks 256 wide, trained by the NAS trainer). Each
is compared with its compressed copy (:func:`featsmith.compress.compress_head`: 50% of the
output channels of every hidden layer and embedding removed by L1 norm while fine-tuning on
the training rows with the AGP schedule, shrunk, int8 where the per-layer benchmark says int8
is faster). Reported: test metric of each and the relative change (positive = worse), predict
time of the estimator (preprocessing included) at batch 1 and 4096 rows, the model alone at
4096, and the pickled size. The reference is the same unpruned model in float32 (through
``shrink`` with nothing pruned; the estimator ships float64, shown too). The metric's noise
without compression is shown beside it: the same architecture trained with seeds 1 and 2. Prints
``int8+prune speed-up: N.Nx``: fp32 / compressed predict time at batch 4096, median over the
tasks and both heads.

(b) On the same tasks: ``AutoPipeline`` (``--fit`` seconds) against its LightGBM students
(``AutoPipeline.distill``, ``--distill`` seconds each: with the default cost limit, 1/3 of the
ensemble's predict time, features included, and with none) and LightGBM's defaults. Reported:
test scores, the share of the ensemble's gain over LightGBM defaults that the student keeps,
predict time of the test split (student / ensemble; each one's transform alone too: the student
computes only the columns it reads), and the ratio ``distill`` predicted on the training rows.
Prints ``distill gain kept: N%``, the median over the tasks where the ensemble gained, for the
default limit.

(c) On the same tasks: the head searched by ``strategy="cream"``, ``"oneshot"`` and
``"evolution"`` at the same budget (``--nas-budget``, 60 s): test score, candidates trained
(retrained from scratch, or trained by the multi-trial search) and seconds. Part (c) runs only
with ``--cream``.

Everything runs on one thread; predict times are medians of repeated calls in process CPU
time (the machine is shared: wall time mostly measures the neighbours).

    python benchmarks/compress.py                  # (a) and (b): 4 tasks, 20 s search, 60 s fit, 30 s distill
    python benchmarks/compress.py --skip-pruning --skip-distill --cream   # (c) only
"""

from __future__ import annotations

import argparse
import copy
import datetime
import os
import pickle
import platform
import statistics
import sys
import time
import warnings

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numpy as np
import torch
from threadpoolctl import threadpool_limits

import featsmith
from featsmith import AutoPipeline
from featsmith.compress import compress_head, shrink
from featsmith.tuners.nas import NASHeadClassifier, NASHeadRegressor, TabularHeadSpace, TrainingData, train_candidates

from bench_suite import Suite, add_suite_option, lgbm_frame, lgbm_model, lower_is_better, predictions, score
from nas import QUICK_TASKS, _encode as encode_for_head


def _median_seconds(fn, min_seconds=0.3, min_runs=3):
    """Median CPU seconds of this (single-threaded) process per call: on the shared machine
    wall time mostly measures the neighbours."""
    fn()
    runs = []
    start = time.perf_counter()
    while len(runs) < min_runs or time.perf_counter() - start < min_seconds:
        t = time.process_time()
        fn()
        runs.append(time.process_time() - t)
    return statistics.median(runs)


def _head_score(info, est, X, y):
    return score(info, y, predictions(info, est, X))


def _widest_default(est, X, y, seed=0):
    """The default architecture at width 256, trained like a NAS candidate, in place of ``est.model_``."""
    pre = est.preprocessor_
    space = TabularHeadSpace.search_space(pre.n_numeric, pre.cardinalities_, est.model_.head.out_features)
    return _trained(est, X, y, space.canonicalize({**space.default(), "width_0": 256, "width_1": 256}), seed)


def _trained(est, X, y, arch, seed):
    """``arch`` trained by the NAS trainer (seed ``seed``, 1/7 of the rows for early stopping) in place of
    ``est.model_``."""
    pre = est.preprocessor_
    x_num, x_cat = pre.transform(X)
    rng = np.random.default_rng(seed)
    idx = rng.permutation(len(y))
    va, tr = idx[: len(y) // 7], idx[len(y) // 7:]
    if hasattr(est, "classes_"):
        codes = np.searchsorted(est.classes_, y)
        target = codes.astype(np.float32) if len(est.classes_) == 2 else codes.astype(np.int64)
        task = "binary" if len(est.classes_) == 2 else "multiclass"
    else:
        target, task = ((y - est.y_mean_) / est.y_scale_).astype(np.float32), "regression"
    t = lambda a: torch.as_tensor(a)  # noqa: E731
    data = TrainingData(task, est.model_.head.out_features, list(pre.cardinalities_),
                        t(x_num[:, tr]), t(x_cat[tr]), t(target[tr]), t(x_num[:, va]), t(x_cat[va]), t(target[va]))
    trained = train_candidates(data, [arch], [seed], max_epochs=40, patience=6)[0]
    wide = copy.deepcopy(est)
    wide.model_, wide.best_architecture_ = trained.model.double().eval(), arch
    return wide


def _fp32(est):
    """The same model in float32, through the same predict path (shrink with nothing pruned)."""
    out = copy.deepcopy(est)
    out.model_ = shrink(out.model_).float().eval()
    return out


def _model_seconds(est, X):
    x_num, x_cat = est.preprocessor_.transform_one(X, est.best_architecture_["scaler"])
    dtype = next(p for p in est.model_.parameters() if p.is_floating_point()).dtype  # as predict passes them
    xn = torch.as_tensor(x_num, dtype=dtype)
    xc = torch.as_tensor(x_cat)
    with torch.no_grad():
        return _median_seconds(lambda: est.model_(xn, xc))


def _tile(X, n):
    return np.resize(X, (n, X.shape[1])) if len(X) < n else X[:n]


def _head_rows(label, info, heads, Xte, yte):
    """One row per model (fp64 as shipped, fp32, compressed) of one head."""
    X1, X4k = Xte[:1], _tile(Xte, 4096)
    rows = []
    for kind, est in heads.items():
        rows.append({
            "head": label, "model": kind, "score": _head_score(info, est, Xte, yte),
            "b1_ms": 1e3 * _median_seconds(lambda: est.predict(X1), min_seconds=0.2, min_runs=20),
            "b4096_ms": 1e3 * _median_seconds(lambda: est.predict(X4k)),
            "model_ms": 1e3 * _model_seconds(est, X4k),
            "kb": len(pickle.dumps(est.model_)) / 1e3, "est_kb": len(pickle.dumps(est)) / 1e3,
        })
    return rows


def _head_task(suite, name):
    """A dev task as the head's benchmark (nas.py) feeds it: numeric matrices, string labels."""
    info = suite.manifest[name]
    X_train, y_train, X_test, y_test, _ = suite.load(name)
    Xtr, Xte, cats = encode_for_head(X_train, X_test)
    regression = info["task"] == "regression"
    ytr = y_train.to_numpy(float) if regression else y_train.astype(str).to_numpy()
    yte = y_test.to_numpy(float) if regression else y_test.astype(str).to_numpy()
    if info["metric"] == "roc_auc":
        info = {**info, "positive_class": str(info["positive_class"])}
    return info, Xtr, ytr, Xte, yte, cats, (NASHeadRegressor if regression else NASHeadClassifier)


def run_pruning(suite, name, search_seconds, ft_seconds):
    info, Xtr, ytr, Xte, yte, cats, cls = _head_task(suite, name)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        searched = cls(time_budget=search_seconds, categorical_features=cats, n_jobs=1, random_state=0).fit(Xtr, ytr)
    rows = []
    for label, est in (("searched", searched), ("widest default", _widest_default(searched, Xtr, ytr))):
        t = time.perf_counter()
        small = compress_head(est, Xtr, ytr, sparse_ratio=0.5, method="l1", int8=True,
                              time_budget=ft_seconds)
        seconds = time.perf_counter() - t
        arch = est.best_architecture_
        shape = f"{arch['depth']}x" + "/".join(str(arch[f"width_{i}"]) for i in range(arch["depth"]))
        part = _head_rows(f"{label} ({shape}, {arch['norm']} norm)", info,
                          {"fp64 (shipped)": est, "fp32": _fp32(est), "pruned 50% + int8": small}, Xte, yte)
        n_int8 = sum(r["int8"] for r in small.compression_["int8"])
        part[-1]["note"] = f"{n_int8}/{len(small.compression_['int8'])} layers int8, compress {seconds:.0f} s"
        # What the metric does without any compression: the same architecture trained twice, seeds 1 and 2.
        s1, s2 = (_head_score(info, _trained(est, Xtr, ytr, arch, seed), Xte, yte) for seed in (1, 2))
        part[1]["seed_change"] = (1 if lower_is_better(info) else -1) * (s2 - s1) / abs(s1)
        for r in part:
            r.update(task=name, metric=info["metric"], lower=lower_is_better(info))
        rows += part
    return rows


def print_pruning(rows):
    print("## (a) Pruning + int8 on the neural head, test split, one thread\n")
    print("| task | head | model | metric | score | change | batch 1 ms | batch 4096 ms | model alone 4096 ms "
          "| model KB | estimator KB | note |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    speedups, changes, b1 = [], [], []
    for i in range(0, len(rows), 3):
        ref = rows[i + 1]  # fp32
        for r in rows[i:i + 3]:
            sign = 1 if r["lower"] else -1
            change = sign * (r["score"] - ref["score"]) / abs(ref["score"])
            print(f"| {r['task']} | {r['head']} | {r['model']} | {r['metric']} | {r['score']:.4g} | "
                  f"{100 * change:+.2f}% | {r['b1_ms']:.2f} | {r['b4096_ms']:.1f} | {r['model_ms']:.1f} | "
                  f"{r['kb']:.0f} | {r['est_kb']:.0f} | {r.get('note', '')} |")
        small = rows[i + 2]
        speedups.append(ref["b4096_ms"] / small["b4096_ms"])
        b1.append(ref["b1_ms"] / small["b1_ms"])
        changes.append(100 * (1 if small["lower"] else -1) * (small["score"] - ref["score"]) / abs(ref["score"]))
    model_speedups = [rows[i + 1]["model_ms"] / rows[i + 2]["model_ms"] for i in range(0, len(rows), 3)]
    seeds = [100 * rows[i + 1]["seed_change"] for i in range(0, len(rows), 3)]
    print(f"\nAgainst fp32, per head: batch-4096 speed-up {', '.join(f'{s:.1f}x' for s in speedups)}; model alone "
          f"{', '.join(f'{s:.1f}x' for s in model_speedups)}; batch-1 ratio {', '.join(f'{s:.2f}x' for s in b1)}; "
          f"metric change (positive = worse) {', '.join(f'{c:+.2f}%' for c in changes)}; the unpruned architecture "
          f"trained with seed 2 against seed 1 (no compression: the metric's seed noise) "
          f"{', '.join(f'{c:+.2f}%' for c in seeds)}.")
    print(f"\nHeads losing at most 0.5% of their metric: {sum(c <= 0.5 for c in changes)} of {len(changes)}; at most "
          f"0.5% or their seed-to-seed change: {sum(c <= max(0.5, abs(n)) for c, n in zip(changes, seeds))}.")
    print(f"\nint8+prune speed-up: {statistics.median(speedups):.1f}x\n")
    sys.stdout.flush()


def run_distill(suite, name, fit_seconds, distill_seconds):
    info = suite.manifest[name]
    X_train, y_train, X_test, y_test, _ = suite.load(name)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        base = lgbm_model(info, n_jobs=1, random_state=0).fit(lgbm_frame(X_train), y_train)
        lgbm_score = score(info, y_test, predictions(info, base, lgbm_frame(X_test, ref=X_train)))
        ens = AutoPipeline(time_budget=fit_seconds, random_state=0, n_jobs=1, verbose=0).fit(X_train, y_train)
    row = {"task": name, "metric": info["metric"], "lgbm": lgbm_score,
           "ensemble": score(info, y_test, predictions(info, ens, X_test)),
           "members": ", ".join(ens.ensemble_["model"].astype(str)),
           "ens_ms": 1e3 * _median_seconds(lambda: predictions(info, ens, X_test)),
           # The ensemble's features: input checks, encoding, generated features.
           "transform_ms": 1e3 * _median_seconds(lambda: ens.transform(X_test)),
           "n_test": len(X_test), "students": []}
    sign = -1 if lower_is_better(info) else 1
    gain = sign * (row["ensemble"] - row["lgbm"])
    for limit in (1 / 3, None):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            t = time.perf_counter()
            student = ens.distill(X_train, y_train, student="lightgbm", time_budget=distill_seconds,
                                  max_predict_cost=limit, random_state=0)
            d_seconds = time.perf_counter() - t
        s_score = score(info, y_test, predictions(info, student, X_test))
        d = student.distillation_
        row["students"].append({
            "limit": "1/3" if limit else "none", "score": s_score, "distill_s": d_seconds,
            "ms": 1e3 * _median_seconds(lambda: predictions(info, student, X_test)),
            # The student's own features: the columns it reads, of those the ensemble computes.
            "transform_ms": 1e3 * _median_seconds(lambda: student.transform(X_test)),
            "columns": f"{d['n_columns']}/{d['teacher_columns']} ({d['n_generated']}/{d['teacher_generated']} generated)",
            "predicted": d.get("predict_cost", float("nan")),
            "kept": sign * (s_score - row["lgbm"]) / gain if gain > 0 else None,
            "student": f"{d['config']['num_leaves']} leaves, lr {d['config']['learning_rate']:.3g}, {d['rounds']} rounds",
            "oof": d["n_out_of_fold"], "n_aug": d["n_augmented"]})
    return row


def print_distill(rows, fit_seconds, distill_seconds):
    print(f"## (b) Distillation: AutoPipeline ({fit_seconds:.0f} s) vs its LightGBM student "
          f"({distill_seconds:.0f} s) vs LightGBM defaults, test split\n")
    print("| task | metric | LightGBM defaults | ensemble | ensemble members | cost limit | student | student score | "
          "gain kept | ensemble predict ms | its transform ms | student predict ms | its transform ms | "
          "columns read | time ratio | predicted at fit | out-of-fold rows | synthetic rows | distill s |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        for st in r["students"]:
            kept = "n/a (no gain)" if st["kept"] is None else f"{100 * st['kept']:.0f}%"
            print(f"| {r['task']} | {r['metric']} | {r['lgbm']:.4g} | {r['ensemble']:.4g} | {r['members']} | "
                  f"{st['limit']} | {st['student']} | {st['score']:.4g} | {kept} | {r['ens_ms']:.1f} | "
                  f"{r['transform_ms']:.1f} | {st['ms']:.1f} | {st['transform_ms']:.1f} | {st['columns']} | "
                  f"{st['ms'] / r['ens_ms']:.2f} | {st['predicted']:.2f} | {st['oof']} | {st['n_aug']} | "
                  f"{st['distill_s']:.0f} |")
    for i, limit in enumerate(("1/3", "none")):
        kept = [r["students"][i]["kept"] for r in rows if r["students"][i]["kept"] is not None]
        ratio = statistics.median(r["students"][i]["ms"] / r["ens_ms"] for r in rows)
        floor = statistics.median(r["students"][i]["transform_ms"] / r["ens_ms"] for r in rows)
        print(f"\nCost limit {limit}: student predict time / ensemble's: median {ratio:.2f} (the student's transform "
              f"alone: {floor:.2f}). Gain kept over the {len(kept)} task(s) where the ensemble beat LightGBM defaults: "
              + (f"median {100 * statistics.median(kept):.0f}%." if kept else "none."))
    kept = [r["students"][0]["kept"] for r in rows if r["students"][0]["kept"] is not None]
    print(f"\ndistill gain kept: {100 * statistics.median(kept):.0f}%" if kept else
          "\ndistill gain kept: n/a (the ensemble beat LightGBM defaults on no task)")


def run_strategies(suite, name, budget):
    info, Xtr, ytr, Xte, yte, cats, cls = _head_task(suite, name)
    row = {"task": name, "metric": info["metric"]}
    for strategy in ("cream", "oneshot", "evolution"):
        t = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            est = cls(time_budget=budget, strategy=strategy, categorical_features=cats, n_jobs=1,
                      random_state=0).fit(Xtr, ytr)
        row[strategy] = _head_score(info, est, Xte, yte)
        row[f"{strategy} s"] = time.perf_counter() - t
        row[f"{strategy} n"] = int((est.search_history_["status"] != "ranked").sum())
        row[f"{strategy} ranked"] = int((est.search_history_["status"] == "ranked").sum())
    return row


def print_strategies(rows, budget):
    print(f"## (c) Cream vs one-shot vs evolution, {budget:.0f} s search each, test split, one thread\n")
    print("| task | metric | cream | oneshot | evolution | cream trained (ranked) | oneshot trained (ranked) "
          "| evolution trained | cream s | oneshot s | evolution s |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['task']} | {r['metric']} | {r['cream']:.4g} | {r['oneshot']:.4g} | {r['evolution']:.4g} | "
              f"{r['cream n']} ({r['cream ranked']}) | {r['oneshot n']} ({r['oneshot ranked']}) | {r['evolution n']} | "
              f"{r['cream s']:.0f} | {r['oneshot s']:.0f} | {r['evolution s']:.0f} |")
    for other in ("oneshot", "evolution"):
        wins = sum((r["cream"] < r[other]) if r["metric"] in ("rmse", "log_loss") else (r["cream"] > r[other])
                   for r in rows)
        print(f"\ncream beats {other} on {wins}/{len(rows)} tasks.")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", nargs="*", default=QUICK_TASKS)
    parser.add_argument("--search", type=float, default=20.0, help="NAS search seconds per task (a)")
    parser.add_argument("--fine-tune", type=float, default=15.0, help="fine-tuning seconds per head (a)")
    parser.add_argument("--fit", type=float, default=60.0, help="AutoPipeline seconds per task (b)")
    parser.add_argument("--distill", type=float, default=30.0, help="distillation seconds per student (b)")
    parser.add_argument("--skip-pruning", action="store_true")
    parser.add_argument("--skip-distill", action="store_true")
    parser.add_argument("--cream", action="store_true", help="also run (c): cream vs oneshot vs evolution")
    parser.add_argument("--nas-budget", type=float, default=60.0, help="search seconds per strategy and task (c)")
    add_suite_option(parser)
    args = parser.parse_args(argv)
    print(f"# featsmith {featsmith.__version__} compress benchmark, "
          f"{datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC\n")
    print(f"Machine: {platform.node()}, {platform.machine()}, {os.cpu_count()} CPUs, {platform.processor() or '?'}, "
          f"Python {platform.python_version()}, torch {torch.__version__}, "
          f"quantized engine {torch.backends.quantized.engine}; load average "
          f"{', '.join(f'{v:.1f}' for v in os.getloadavg())}\n")
    suite = Suite(args.suite)
    torch.set_num_threads(1)
    with threadpool_limits(1):
        if not args.skip_pruning:
            rows = []
            for name in args.tasks:
                rows += run_pruning(suite, name, args.search, args.fine_tune)
                print(f"done (a) {name}", file=sys.stderr, flush=True)
            print_pruning(rows)
        if not args.skip_distill:
            rows = []
            for name in args.tasks:
                rows.append(run_distill(suite, name, args.fit, args.distill))
                print(f"done (b) {name}", file=sys.stderr, flush=True)
            print_distill(rows, args.fit, args.distill)
        if args.cream:
            rows = []
            for name in args.tasks:
                rows.append(run_strategies(suite, name, args.nas_budget))
                print(f"done (c) {name}", file=sys.stderr, flush=True)
            print_strategies(rows, args.nas_budget)


if __name__ == "__main__":
    main()
