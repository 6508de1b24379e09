"""Validation plan: AutoPipeline's default (``cv=None``: a leak check, then time-ordered,
grouped or shuffled folds) against the same fit forced to shuffled folds (``cv=5``), scored
on rows LATER than every training row.

Usage::

    python benchmarks/validation.py --budget 60 [--parts a b] [--seed 0] [--n-seeds 5]
        [--tasks mpls_stops_search ...] [--suite ../shared/datasets] [--n-jobs 2]

(a) **Synthetic day effects.** Parcel deliveries, late or on time (binary, ROC AUC). Every
    day has a shared effect on lateness (weather, traffic; persistent from one day to the
    next) that no column gives exactly: ``forecast`` is a noisy reading of it, the same for
    every delivery of the day, and ``road_reading`` a noisier one per delivery; ``distance``,
    ``parcels``, ``depot`` and the weekend act per delivery. Train on the first 80% of the days,
    test on the last 20%. Shuffled folds put deliveries of the same day on both sides, so a
    model can learn each day's effect from ``when`` or ``forecast`` (a day identifier in
    disguise): a flattering estimate, and a search that prefers memorising days. The script
    draws ``--n-seeds`` data sets (seed = data and ``random_state``) and reports, per seed and
    the median: the scheme the default chose and its leak check, each fit's estimate
    (``best_score_``), its later-days score with a standard error from a bootstrap over test
    DAYS (rows of one day move together), ``|estimate - later|`` in those SE, and the paired
    difference default - cv=5 on the later days (day bootstrap; positive = default better).
(b) **Real data, split in time.** Suite tasks with a datetime column: train + test merged and
    cut at the 80% quantile of that column (earlier rows train, rows at or after it test; rows
    with the same time stay on one side). The same two fits, and LightGBM's defaults on the
    raw columns as the anchor; the estimate, the later-rows score
    with the paired bootstrap over test rows of ``bench_suite`` (positive = default better),
    the scheme and its reason, the generated features kept (``feature_plan_``) and trials.

"optimism" is ``estimate - later score`` oriented so that positive means the estimate
flattered the model (for log loss and RMSE: ``later - estimate``). Each fit's details
(validation plan, leaderboard head, features kept) are logged to stderr as JSON lines.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numpy as np
import pandas as pd

from bench_suite import (Suite, add_suite_option, lgbm_frame, lgbm_model, lower_is_better, paired_bootstrap,
                         predictions, score)

# Suite tasks with a datetime column, and that column.
TIME_TASKS = {
    "mpls_stops_search": "date",
    "police_force_type": "response_datetime",
    "email_spam": "time",
    "hotel_rates": "arrival_date",
}
TEST_SHARE = 0.2
SYNTHETIC_TASK = {"name": "synthetic_days", "task": "binary", "metric": "roc_auc", "positive_class": 1}
FITS = (("default", None), ("cv=5", 5))


# ---------------------------------------------------------------- data
def day_effect_data(seed, n_days=180, per_day=40):
    """``(X_train, y_train, X_test, y_test, test_day)``: deliveries on the first 80% of the days
    to train on, those of the last 20% to test on (see the module docstring)."""
    rng = np.random.default_rng(seed)
    # The day's shared effect persists a little (AR(1), unit variance).
    shock = rng.normal(size=n_days)
    effect = np.empty(n_days)
    effect[0] = shock[0]
    for t in range(1, n_days):
        effect[t] = 0.5 * effect[t - 1] + np.sqrt(1 - 0.5**2) * shock[t]
    forecast = 0.7 * effect + 0.7 * rng.normal(size=n_days)
    day = np.repeat(np.arange(n_days), rng.poisson(per_day, n_days))
    n = len(day)
    start = pd.Timestamp("2023-01-02")  # a Monday
    weekend = ((day + start.dayofweek) % 7 >= 5).astype(float)
    depot_effect = rng.normal(scale=0.7, size=12)
    depot = rng.integers(0, 12, n)
    distance = rng.lognormal(2.5, 0.6, n)
    parcels = rng.poisson(3, n)
    road_reading = effect[day] + 1.5 * rng.normal(size=n)
    logit = (-1.5 + 0.8 * (np.log(distance) - 2.5) / 0.6 + 0.4 * np.maximum(parcels - 3, 0)
             + depot_effect[depot] + 0.5 * weekend + 1.5 * effect[day])
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    X = pd.DataFrame({
        "when": start + pd.to_timedelta(day, unit="D") + pd.to_timedelta(rng.integers(6 * 3600, 22 * 3600, n), unit="s"),
        "depot": [f"depot_{d:02d}" for d in depot],
        "distance": distance.round(1),
        "parcels": parcels,
        "forecast": forecast[day].round(2),
        "road_reading": road_reading.round(2),
    })
    later = day >= int((1 - TEST_SHARE) * n_days)
    return (X[~later].reset_index(drop=True), y[~later], X[later].reset_index(drop=True), y[later], day[later])


def time_split(suite, name, column):
    """The task's train + test rows, cut at the 80% quantile of ``column``: ``(X_train,
    y_train, X_test, y_test, cut)``."""
    Xtr, ytr, Xte, yte, _ = suite.load(name)
    X = pd.concat([Xtr, Xte], ignore_index=True)
    y = np.concatenate([np.asarray(ytr), np.asarray(yte)])
    cut = X[column].quantile(1 - TEST_SHARE)
    later = (X[column] >= cut).to_numpy()
    return X[~later].reset_index(drop=True), y[~later], X[later].reset_index(drop=True), y[later], cut


# ---------------------------------------------------------------- fits and scores
def fit_one(task, label, cv, Xtr, ytr, Xte, budget, seed, n_jobs):
    """Fit AutoPipeline with ``cv``; its test predictions and what it chose."""
    from featsmith import AutoPipeline

    t = time.perf_counter()
    m = AutoPipeline(time_budget=budget, cv=cv, random_state=seed, n_jobs=n_jobs, verbose=0).fit(Xtr, ytr)
    secs = time.perf_counter() - t
    names = [] if m.feature_plan_ is None else list(m.feature_plan_.names)
    board = m.leaderboard_
    info = {
        "validation": m.validation_, "estimate": float(m.best_score_), "seconds": secs,
        "features": names, "trials": len(board), "ensemble": m.ensemble_["model"].tolist(),
        "best_model": board["model"].iloc[0] if len(board) else None,
    }
    log = {"task": task["name"], "fit": label, "seed": seed, **info,
           "leaderboard": board[["model", "score", "params", "status"]].head(5).to_dict("records")}
    print(json.dumps(log, default=str), file=sys.stderr, flush=True)
    return predictions(task, m, Xte), info


def cluster_bootstrap(task, y, outs, clusters, n_boot=500, seed=0):
    """Standard errors of each score in ``outs`` and of ``outs[0] - outs[1]`` (oriented,
    positive = the first better), resampling whole clusters of test rows (rows of one day
    move together, so a bootstrap over rows would understate the noise)."""
    sign = -1 if lower_is_better(task) else 1
    labels, inverse = np.unique(clusters, return_inverse=True)
    members = np.split(np.argsort(inverse, kind="stable"), np.cumsum(np.bincount(inverse))[:-1])
    rng = np.random.default_rng(seed)
    draws = []
    for _ in range(n_boot):
        rows = np.concatenate([members[i] for i in rng.integers(0, len(labels), len(labels))])
        try:
            draws.append([score(task, y, out, rows) for out in outs])
        except ValueError:  # a resample with one class
            continue
    draws = np.asarray(draws)
    return draws.std(axis=0).tolist(), float(np.std(sign * (draws[:, 0] - draws[:, 1])))


def optimism(task, estimate, later):
    """How much the estimate flattered the model on later rows (positive = flattered)."""
    return (later - estimate) if lower_is_better(task) else (estimate - later)


def fit_pair(task, Xtr, ytr, Xte, yte, args, seed):
    """The default and the cv=5 fit on the same rows: ``{label: (test predictions, info)}``
    with ``info["later"]`` the later-rows score."""
    fits = {}
    for label, cv in FITS:
        out, info = fit_one(task, label, cv, Xtr, ytr, Xte, args.budget, seed, args.n_jobs)
        info["later"] = score(task, yte, out)
        info["optimism"] = optimism(task, info["estimate"], info["later"])
        fits[label] = (out, info)
    return fits


def check_cell(validation):
    check = validation.get("check")
    if not check:
        return "-"
    return f"{check['difference']:+.3f} ({check['se']:.3f})"


def table(head, rows):
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    for r in rows:
        print("| " + " | ".join(str(c) for c in r) + " |")
    print()


# ---------------------------------------------------------------- (a)
def part_a(args):
    task = SYNTHETIC_TASK
    recs = []
    for seed in range(args.seed, args.seed + args.n_seeds):
        Xtr, ytr, Xte, yte, test_day = day_effect_data(seed)
        fits = fit_pair(task, Xtr, ytr, Xte, yte, args, seed)
        (d_out, d), (r_out, r) = fits["default"], fits["cv=5"]
        (d_se, r_se), diff_se = cluster_bootstrap(task, yte, [d_out, r_out], test_day, seed=seed)
        recs.append({
            "seed": seed, "rows": f"{len(Xtr):,} / {len(Xte):,}", "scheme": d["validation"]["scheme"],
            "check": check_cell(d["validation"]), "reason": d["validation"]["reason"],
            "d_est": d["estimate"], "d_later": d["later"], "d_se": d_se, "d_gap": abs(d["optimism"]),
            "r_est": r["estimate"], "r_later": r["later"], "r_se": r_se, "r_gap": abs(r["optimism"]),
            "diff": d["later"] - r["later"], "diff_se": diff_se,
            "feats": f"{len(d['features'])} / {len(r['features'])}", "trials": f"{d['trials']} / {r['trials']}",
            "best": f"{d['best_model']} / {r['best_model']}", "secs": f"{d['seconds']:.0f} / {r['seconds']:.0f}",
        })
    print(f"\n### (a) synthetic day effects: budget {args.budget:g}s, n_jobs={args.n_jobs}, "
          f"seeds {args.seed}..{args.seed + args.n_seeds - 1}\n")
    head = ["seed", "train / test rows", "default scheme", "leak check: ordered - shuffled loss (SE)",
            "default estimate", "default later (SE)", "default |est - later| (SE units)",
            "cv=5 estimate", "cv=5 later (SE)", "cv=5 |est - later| (SE units)",
            "default - cv=5 later (SE)", "features kept default / cv=5", "trials default / cv=5",
            "best trial's model default / cv=5", "fit s default / cv=5"]
    rows = []
    for r in recs:
        rows.append([r["seed"], r["rows"], r["scheme"], r["check"],
                     f"{r['d_est']:.4f}", f"{r['d_later']:.4f} ({r['d_se']:.4f})",
                     f"{r['d_gap']:.4f} ({r['d_gap'] / r['d_se']:.1f})",
                     f"{r['r_est']:.4f}", f"{r['r_later']:.4f} ({r['r_se']:.4f})",
                     f"{r['r_gap']:.4f} ({r['r_gap'] / r['r_se']:.1f})",
                     f"{r['diff']:+.4f} ({r['diff_se']:.4f})", r["feats"], r["trials"], r["best"], r["secs"]])
    med = {k: float(np.median([r[k] for r in recs])) for k in
           ("d_est", "d_later", "d_se", "d_gap", "r_est", "r_later", "r_se", "r_gap", "diff", "diff_se")}
    n_time = sum("time-ordered" in r["scheme"] for r in recs)
    rows.append(["median", "", f"time order {n_time}/{len(recs)}", "", f"{med['d_est']:.4f}",
                 f"{med['d_later']:.4f} ({med['d_se']:.4f})", f"{med['d_gap']:.4f}", f"{med['r_est']:.4f}",
                 f"{med['r_later']:.4f} ({med['r_se']:.4f})", f"{med['r_gap']:.4f}",
                 f"{med['diff']:+.4f} ({med['diff_se']:.4f})", "", "", "", ""])
    table(head, rows)
    within = sum(r["d_gap"] <= 2 * r["d_se"] for r in recs)
    better = sum(r["diff"] >= 0 for r in recs)
    worse = sum(r["diff"] < -2 * r["diff_se"] for r in recs)
    print(f"default chose time order: {n_time}/{len(recs)}")
    print(f"default estimate within 2 SE of its later-days score: {within}/{len(recs)} "
          f"(cv=5: {sum(r['r_gap'] <= 2 * r['r_se'] for r in recs)}/{len(recs)})")
    print(f"default later-days AUC >= cv=5's: {better}/{len(recs)}; below it by more than 2 SE: {worse}/{len(recs)}")
    print("reasons: " + "; ".join(f"seed {r['seed']}: {r['reason']}" for r in recs))
    print()


# ---------------------------------------------------------------- (b)
def part_b(args):
    suite = Suite(args.suite)
    recs = []
    for name in args.tasks:
        task = suite.manifest[name]
        column = TIME_TASKS[name]
        Xtr, ytr, Xte, yte, cut = time_split(suite, name, column)
        fits = fit_pair(task, Xtr, ytr, Xte, yte, args, args.seed)
        (d_out, d), (r_out, r) = fits["default"], fits["cv=5"]
        diff, diff_se = paired_bootstrap(task, yte, d_out, r_out)
        anchor = lgbm_model(task, n_jobs=args.n_jobs).fit(lgbm_frame(Xtr), ytr)
        anchor_out = predictions(task, anchor, lgbm_frame(Xte, ref=Xtr))
        lgbm = score(task, yte, anchor_out)
        vs_lgbm, vs_lgbm_se = paired_bootstrap(task, yte, d_out, anchor_out)
        recs.append({"task": name, "metric": task["metric"], "column": column, "cut": cut, "lgbm": lgbm,
                     "vs_lgbm": vs_lgbm, "vs_lgbm_se": vs_lgbm_se,
                     "rows": f"{len(Xtr):,} / {len(Xte):,}", "d": d, "r": r, "diff": diff, "diff_se": diff_se})
    print(f"\n### (b) real data split in time: budget {args.budget:g}s, n_jobs={args.n_jobs}, seed {args.seed}\n")
    head = ["task", "metric", "split (test from)", "train / test rows", "LightGBM defaults later",
            "default scheme", "leak check (SE)",
            "default estimate", "default later", "default optimism", "cv=5 estimate", "cv=5 later",
            "cv=5 optimism", "default - cv=5 later (SE)", "default - LightGBM later (SE)",
            "features kept default / cv=5",
            "trials default / cv=5", "fit s default / cv=5"]
    rows = []
    for x in recs:
        d, r = x["d"], x["r"]
        rows.append([x["task"], x["metric"], f"{x['column']} >= {x['cut']:%Y-%m-%d %H:%M}", x["rows"],
                     f"{x['lgbm']:.5g}", d["validation"]["scheme"], check_cell(d["validation"]),
                     f"{d['estimate']:.5g}", f"{d['later']:.5g}", f"{d['optimism']:+.4g}",
                     f"{r['estimate']:.5g}", f"{r['later']:.5g}", f"{r['optimism']:+.4g}",
                     f"{x['diff']:+.4g} ({x['diff_se']:.2g})", f"{x['vs_lgbm']:+.4g} ({x['vs_lgbm_se']:.2g})",
                     f"{len(d['features'])} / {len(r['features'])}",
                     f"{d['trials']} / {r['trials']}", f"{d['seconds']:.0f} / {r['seconds']:.0f}"])
    table(head, rows)
    print("The default's validation plan, and the features each fit kept:\n")
    for x in recs:
        print(f"- **{x['task']}**: {x['d']['validation']['scheme']}: {x['d']['validation']['reason']}. "
              f"Features kept: default {x['d']['features'] or 'none'}; cv=5 {x['r']['features'] or 'none'}.")
    print()
    worse = [x["task"] for x in recs if x["diff"] < -2 * x["diff_se"]]
    better = [x["task"] for x in recs if x["diff"] > 2 * x["diff_se"]]
    print(f"default better than cv=5 on later rows by more than 2 SE: {len(better)} {better}; "
          f"worse by more than 2 SE: {len(worse)} {worse}")
    below = [x["task"] for x in recs if x["vs_lgbm"] < -2 * x["vs_lgbm_se"]]
    print(f"default below LightGBM defaults on later rows by more than 2 SE: {len(below)} {below}")
    print()


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--budget", type=float, default=60)
    ap.add_argument("--seed", type=int, default=0, help="(a): the first data/model seed; (b): random_state")
    ap.add_argument("--n-seeds", type=int, default=5, help="(a): synthetic data sets")
    ap.add_argument("--parts", nargs="+", choices=["a", "b"], default=["a", "b"])
    ap.add_argument("--tasks", nargs="+", choices=sorted(TIME_TASKS), default=list(TIME_TASKS),
                    help="(b): suite tasks with a datetime column")
    add_suite_option(ap)
    ap.add_argument("--n-jobs", type=int, default=2)
    args = ap.parse_args(argv)
    start = time.perf_counter()
    if "a" in args.parts:
        part_a(args)
    if "b" in args.parts:
        part_b(args)
    print(f"total {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
