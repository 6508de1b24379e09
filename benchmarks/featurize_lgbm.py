"""LightGBM defaults on the raw columns vs raw + generated candidates, per dev task.

Raw = :class:`TableEncoder` output (the anchor). Generated = the raw columns plus every
FeatureGenerator candidate (``--candidates`` of them; target encodings out of fold on the
training rows); relational tasks also get their tables. No selection: this shows what the
candidates carry before the selectors prune them. Metrics as in the suite's manifest
(roc_auc higher is better; log_loss, rmse lower).

    python benchmarks/featurize_lgbm.py            # all tasks, 300 candidates
    python benchmarks/featurize_lgbm.py --quick    # 4 tasks, 150 candidates
"""

from __future__ import annotations

import os
import sys

# Run as a script, this folder is sys.path[0]; a sibling script named like a standard-library
# module (benchmarks/selectors.py) would shadow it, so drop the folder from the path.
sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != os.path.dirname(os.path.abspath(__file__))]

import argparse
import time

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import lightgbm as lgb
import numpy as np
from sklearn.metrics import log_loss, roc_auc_score

from featsmith.featurize import FeatureGenerator, TableEncoder

DATASETS = "/work/shared/datasets"
QUICK = ["credit_data", "diamonds", "hotel_rates", "movielens_ratings"]


def score(info, model, Xte, yte):
    if info["task"] == "regression":
        return float(np.sqrt(np.mean((model.predict(Xte) - np.asarray(yte, float)) ** 2)))
    proba = model.predict_proba(Xte)
    if info["task"] == "binary":
        pos = list(model.classes_).index(info["positive_class"])
        return float(roc_auc_score(np.asarray(yte) == info["positive_class"], proba[:, pos]))
    return float(log_loss(yte, proba, labels=model.classes_))


def fit_model(info, Xtr, ytr):
    cls = lgb.LGBMRegressor if info["task"] == "regression" else lgb.LGBMClassifier
    return cls(verbose=-1, n_jobs=1, random_state=0).fit(Xtr, ytr)


def run(name, n_candidates):
    sys.path.insert(0, DATASETS)
    from load import load, task_info

    info = task_info(name)
    Xtr, ytr, Xte, yte, tables = load(name)
    enc = TableEncoder().fit(Xtr)
    raw_tr, raw_te = enc.transform(Xtr), enc.transform(Xte)
    raw = score(info, fit_model(info, raw_tr, ytr), raw_te, yte)
    kw = {}
    if tables:
        kw = dict(tables=tables, relationships=[tuple(r) for r in info["relationships"]],
                  time_index={t: d["time_index"] for t, d in info["tables"].items() if d.get("time_index")})
    t = time.perf_counter()
    gen = FeatureGenerator(max_candidates=n_candidates, random_state=0).fit(Xtr, ytr, **kw)
    gtr = gen.candidate_source().evaluate(gen.candidate_names_)
    gte = gen.transform(Xte)
    gen_s = time.perf_counter() - t
    both = score(info, fit_model(info, np.hstack([raw_tr, gtr]), ytr), np.hstack([raw_te, gte]), yte)
    return info, raw, both, len(gen.candidate_names_), gen_s


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--candidates", type=int, default=None)
    ap.add_argument("--tasks", nargs="*")
    args = ap.parse_args(argv)
    sys.path.insert(0, DATASETS)
    from load import list_tasks

    tasks = args.tasks or (QUICK if args.quick else list_tasks())
    n_cand = args.candidates or (150 if args.quick else 300)
    print("| task | metric | raw (TableEncoder) | raw + generated | candidates | generate s | better? |")
    print("|---|---|---|---|---|---|---|")
    for name in tasks:
        info, raw, both, n, s = run(name, n_cand)
        higher = info["metric"] == "roc_auc"
        better = (both > raw) if higher else (both < raw)
        print(f"| {name} | {info['metric']} | {raw:.4f} | {both:.4f} | {n} | {s:.1f} | {'yes' if better else 'no'} |",
              flush=True)


if __name__ == "__main__":
    main()
