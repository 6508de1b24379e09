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

import argparse
import os
import time

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numpy as np

from featsmith.featurize import FeatureGenerator

from bench_suite import Suite, add_suite_option, better, encode_raw, lgbm_model, predictions, score

QUICK = ["credit_data", "diamonds", "hotel_rates", "movielens_ratings"]


def fit_score(info, Xtr, ytr, Xte, yte):
    model = lgbm_model(info, n_jobs=1, random_state=0).fit(Xtr, ytr)
    return score(info, yte, predictions(info, model, Xte))


def run(suite, name, n_candidates):
    info = suite.manifest[name]
    Xtr, ytr, Xte, yte, tables = suite.load(name)
    raw_tr, raw_te, _ = encode_raw(Xtr, Xte)
    raw = fit_score(info, raw_tr, ytr, raw_te, yte)
    kw = {}
    if tables:
        kw = dict(tables=tables, relationships=[tuple(r) for r in info["relationships"]],
                  time_index={t: d["time_index"] for t, d in info["tables"].items() if d.get("time_index")})
    t = time.perf_counter()
    gen = FeatureGenerator(max_candidates=n_candidates, random_state=0).fit(Xtr, ytr, **kw)
    gtr = gen.candidate_source().evaluate(gen.candidate_names_)
    gte = gen.transform(Xte)
    gen_s = time.perf_counter() - t
    both = fit_score(info, np.hstack([raw_tr, gtr]), ytr, np.hstack([raw_te, gte]), yte)
    return info, raw, both, len(gen.candidate_names_), gen_s


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--candidates", type=int, default=None)
    ap.add_argument("--tasks", nargs="*")
    add_suite_option(ap)
    args = ap.parse_args(argv)
    suite = Suite(args.suite)
    tasks = args.tasks or (QUICK if args.quick else suite.names())
    n_cand = args.candidates or (150 if args.quick else 300)
    print("| task | metric | raw (TableEncoder) | raw + generated | candidates | generate s | better? |")
    print("|---|---|---|---|---|---|---|")
    for name in tasks:
        info, raw, both, n, s = run(suite, name, n_cand)
        print(f"| {name} | {info['metric']} | {raw:.4f} | {both:.4f} | {n} | {s:.1f} "
              f"| {'yes' if better(info, both, raw) else 'no'} |", flush=True)


if __name__ == "__main__":
    main()
