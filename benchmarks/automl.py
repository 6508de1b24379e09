"""AutoPipeline vs LightGBM defaults (and FLAML) on the shared dev suite, in one run.

Usage::

    python benchmarks/automl.py --budget 60 [--tasks credit_data diamonds] [--flaml]
        [--suite ../shared/datasets] [--out results.csv] [--validation split|auto] [--cv 5]

Every tool is scored on each task's fixed test split with the task's metric (ROC AUC for the
manifest's positive class, log loss over all classes, RMSE). "LightGBM defaults" is
``LGBMClassifier()``/``LGBMRegressor()`` with string columns as pandas categoricals and
datetimes as epoch seconds. The table shows test scores, fit seconds, and the normalised score
``(score - lgbm) / (best - lgbm)`` (1 = the best of the tools in this run, 0 = LightGBM
defaults; oriented so that higher is better for every metric), and featsmith's difference from
LightGBM defaults with its standard error from a paired bootstrap over the test rows (positive
is better), which tells a real shortfall from the test split's noise. On relational tasks featsmith
gets the related tables and the manifest's relationships (``--no-tables`` withholds them);
LightGBM and FLAML see the target table only, as they cannot use more. ``used`` is featsmith's
fit seconds over the budget; the summary counts the fits over the budget + 10%. ``fit peak
MB`` is the growth of the process's peak resident set during featsmith's fit (Linux
``VmHWM``, reset just before it).

featsmith is told how each test split was drawn (``--validation split``, the default): the
manifest's ``split`` names it, and featsmith validates the same way, as a user who knows how
the model will be used would: a random split gives ``cv="random"`` (shuffled folds, or a
holdout by size, without the leak check), a split grouped by a column gives grouped folds by
that column. ``--validation auto`` lets featsmith choose its plan from the data (its leak check
may then validate in time order against a random test split: on hotel_rates that plan tunes
for later months, which the test split does not hold). ``--cv N`` overrides both.

``--repeats K`` fits featsmith (and, with ``--ablate-generation``, the arm without generation)
K times each, alternating, and reports each arm's median fit: within a time budget, which
trials a deadline lets finish moves a fit's score between runs, on an otherwise idle machine,
by more than the test rows' noise (leaf_species at 60 s, both arms running the same code: -5.5,
-5.1 and +5.1 standard errors in three pairs). Every fit's score is printed, and with the
ablation "worse" then also has to exceed the larger of the two arms' spreads over their runs.

The script reads only public attributes of ``AutoPipeline``, so an older featsmith can be
measured with it: ``PYTHONPATH=<checkout of that commit> python benchmarks/automl.py ...``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import warnings
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numpy as np
import pandas as pd

from bench_suite import (
    Suite,
    add_suite_option,
    better,
    lgbm_frame,
    lgbm_model,
    lower_is_better,
    paired_bootstrap,
    predictions,
    reset_peak,
    rss_kb,
    score,
    validation_scheme,
)


def run_lgbm(task, Xtr, ytr, Xte, yte, n_jobs):
    A, B = lgbm_frame(Xtr), lgbm_frame(Xte, ref=Xtr)
    t = time.perf_counter()
    m = lgbm_model(task, n_jobs=n_jobs).fit(A, ytr)
    secs = time.perf_counter() - t
    out = predictions(task, m, B)
    return score(task, yte, out), secs, out


def _shares(m, seconds):
    """Seconds the trials of each model family and feature view took, as shares of the fit."""
    board = getattr(m, "leaderboard_", None)
    if board is None or "seconds" not in board:
        return {}, {}
    family = (board.groupby("model")["seconds"].sum() / seconds).round(3).to_dict()
    view = (board.groupby("view")["seconds"].sum() / seconds).round(3).to_dict() if "view" in board else {}
    return family, view


def split_validation(task):
    """``cv`` and ``groups`` for featsmith that validate as the task's test split was drawn
    (the manifest's ``split``), or ``(None, None)`` where the manifest does not say."""
    split = task.get("split", "")
    if " grouped by " in split:
        return "group", split.split(" grouped by ", 1)[1].split()[0]
    if split.startswith(("random", "stratified random")):
        return "random", None
    return None, None


def run_featsmith(task, Xtr, ytr, Xte, yte, budget, n_jobs, seed, tables=None, generation=True, cv=None,
                  groups=None):
    from featsmith import AutoPipeline

    kw = {} if groups is None else {"groups": groups}
    if tables:  # relational task: the related tables and the manifest's relationships
        kw.update({"tables": tables, "relationships": [tuple(r) for r in task["relationships"]]})
    base = rss_kb("VmRSS")
    reset_peak()
    t = time.perf_counter()
    m = AutoPipeline(time_budget=budget, random_state=seed, n_jobs=n_jobs, verbose=0,
                     feature_generation=generation, **({} if cv is None else {"cv": cv})).fit(Xtr, ytr, **kw)
    secs = time.perf_counter() - t
    ensemble = m.ensemble_
    views = ensemble.groupby("view")["weight"].sum().round(2).to_dict() if "view" in ensemble else {}
    family_share, view_share = _shares(m, secs)
    info = {
        "peak_mb": (rss_kb("VmHWM") - base) / 1024,
        "trials": len(m.leaderboard_),
        "new_features": 0 if m.feature_plan_ is None else len(m.feature_plan_.names),
        "ensemble": len(ensemble),
        "validation": validation_scheme(m),
        "ensemble_views": views,
        "ensemble_families": ensemble.groupby("model")["weight"].sum().round(2).to_dict(),
        "family_share": family_share,
        "view_share": view_share,
        "features_share": round((getattr(m, "stage_timings_", None) or {}).get("features", 0.0) / secs, 3),
    }
    # Logged as the pipeline reports them (older checkouts may lack some of these).
    log = {"stages": getattr(m, "stage_timings_", None), "fit_seconds": getattr(m, "fit_seconds_", None)}
    print(json.dumps({"task": task["name"], **info, **log}, default=str), file=sys.stderr, flush=True)
    out = predictions(task, m, Xte)
    return score(task, yte, out), secs, info, out


def _median_run(task, runs):
    """The run with the median score (the worse of the middle two for an even count)."""
    ranked = sorted(runs, key=lambda r: r[0], reverse=not lower_is_better(task))
    return ranked[len(ranked) // 2]


def run_flaml(task, Xtr, ytr, Xte, yte, budget, n_jobs, seed):
    from flaml import AutoML

    metric = {"roc_auc": "roc_auc", "log_loss": "log_loss", "rmse": "rmse"}[task["metric"]]
    kind = "regression" if task["task"] == "regression" else "classification"
    A, B = Xtr.copy(), Xte.copy()
    for c in A.columns:  # FLAML handles categoricals but not raw datetimes everywhere
        if pd.api.types.is_datetime64_any_dtype(A[c]):
            A[c] = A[c].astype("int64") / 1e9
            B[c] = B[c].astype("int64") / 1e9
    automl = AutoML()
    t = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        automl.fit(A, ytr, task=kind, metric=metric, time_budget=budget, n_jobs=n_jobs, seed=seed, verbose=0)
    secs = time.perf_counter() - t
    return score(task, yte, predictions(task, automl, B)), secs


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--budget", type=float, default=60)
    ap.add_argument("--tasks", nargs="*")
    add_suite_option(ap)
    ap.add_argument("--flaml", action="store_true", help="also run FLAML's AutoML at the same budget")
    ap.add_argument("--n-jobs", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path)
    ap.add_argument("--no-tables", action="store_true", help="fit relational tasks on the target table only")
    ap.add_argument("--validation", choices=("split", "auto"), default="split",
                    help="split (default): featsmith validates as the manifest says the test split was "
                    "drawn (random: cv='random'; grouped by a column: grouped folds by it); auto: "
                    "featsmith chooses its plan from the data")
    ap.add_argument("--cv", type=int, help="featsmith's cv (that many shuffled folds, no leak check), "
                    "overriding --validation")
    ap.add_argument("--ablate-generation", action="store_true",
                    help="also fit featsmith with feature_generation=False in the same run")
    ap.add_argument("--repeats", type=int, default=1,
                    help="fit featsmith (and the arm without generation) this many times each, alternating, "
                    "and report each arm's median fit and its spread")
    args = ap.parse_args(argv)
    if args.repeats < 1:
        ap.error(f"--repeats must be at least 1, got {args.repeats}")

    suite = Suite(args.suite)
    manifest = suite.manifest
    names = args.tasks or suite.names()
    rows = []
    for name in names:
        task = manifest[name]
        Xtr, ytr, Xte, yte, tables = suite.load(name)
        row = {"task": name, "metric": task["metric"], "relational": bool(tables)}
        cv, groups = (args.cv, None) if args.cv is not None or args.validation == "auto" else split_validation(task)
        row["lgbm"], row["lgbm_s"], lgbm_out = run_lgbm(task, Xtr, ytr, Xte, yte, args.n_jobs)
        arms = {"featsmith": []} | ({"nogen": []} if args.ablate_generation else {})
        for _ in range(args.repeats):
            for arm, runs in arms.items():
                runs.append(run_featsmith(
                    task, Xtr, ytr, Xte, yte, args.budget, args.n_jobs, args.seed,
                    tables=None if args.no_tables else tables, generation=arm == "featsmith", cv=cv, groups=groups))
        for arm, runs in arms.items():
            row[f"{arm}_runs"] = [r[0] for r in runs]
            row[f"{arm}_spread"] = max(row[f"{arm}_runs"]) - min(row[f"{arm}_runs"])
        row["featsmith"], row["featsmith_s"], info, fs_out = _median_run(task, arms["featsmith"])
        row["fs_used"] = row["featsmith_s"] / args.budget
        row["fs_vs_lgbm"], row["fs_vs_lgbm_se"] = paired_bootstrap(task, yte, fs_out, lgbm_out)
        row.update({f"fs_{k}": v for k, v in info.items()})
        if args.ablate_generation:
            row["nogen"], row["nogen_s"], _, nogen_out = _median_run(task, arms["nogen"])
            row["fs_vs_nogen"], row["fs_vs_nogen_se"] = paired_bootstrap(task, yte, fs_out, nogen_out)
        if args.flaml:
            row["flaml"], row["flaml_s"] = run_flaml(task, Xtr, ytr, Xte, yte, args.budget, args.n_jobs, args.seed)
        rows.append(row)
        print(json.dumps(row), file=sys.stderr, flush=True)
    df = pd.DataFrame(rows)
    tools = ["lgbm", "featsmith"] + (["nogen"] if args.ablate_generation else []) + (["flaml"] if args.flaml else [])
    norm = []
    for _, r in df.iterrows():
        sign = -1 if lower_is_better(manifest[r["task"]]) else 1
        vals = {t: sign * r[t] for t in tools}
        best = max(vals.values())
        span = best - vals["lgbm"]
        norm.append({t: (vals[t] - vals["lgbm"]) / span if span > 0 else 0.0 for t in tools})
    for t in tools:
        df[f"{t}_norm"] = [n[t] for n in norm]
    if args.out:
        df.to_csv(args.out, index=False)

    head = ["task", "metric"] + [f"{t}" for t in tools] + [f"{t} s" for t in tools] + ["featsmith/lgbm"]
    head += ["featsmith - lgbm (SE)"]
    head += ["trials", "new features", "ensemble", "validation", "used", "fit peak MB"]
    cv = f", featsmith cv={args.cv}" if args.cv is not None else f", featsmith validation: {args.validation}"
    print(f"\nbudget {args.budget:g}s, n_jobs={args.n_jobs}, seed={args.seed}{cv}\n")
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    for _, r in df.iterrows():
        ratio = r["featsmith"] / r["lgbm"]
        note = " (relational; baselines see the target table only)" if r["relational"] and not args.no_tables else ""
        cells = [r["task"] + note, r["metric"]]
        cells += [f"{r[t]:.5g}" for t in tools] + [f"{r[t + '_s']:.1f}" for t in tools] + [f"{ratio:.3f}"]
        cells += [f"{r['fs_vs_lgbm']:+.4g} ({r['fs_vs_lgbm_se']:.2g})"]
        cells += [str(r["fs_trials"]), str(r["fs_new_features"]), str(r["fs_ensemble"]), r["fs_validation"]]
        cells += [f"{r['fs_used']:.2f}", f"{r['fs_peak_mb']:.0f}"]
        print("| " + " | ".join(cells) + " |")
    print()
    for t in tools:
        print(f"mean normalised score {t}: {df[f'{t}_norm'].mean():.3f}")
    wins = sum(better(manifest[r["task"]], r["featsmith"], r["lgbm"]) for _, r in df.iterrows())
    print(f"featsmith better than LightGBM defaults on {wins}/{len(df)} tasks")
    worse = df[df["fs_vs_lgbm"] < -2 * df["fs_vs_lgbm_se"]]
    print(
        "featsmith below LightGBM defaults by more than 2 standard errors (paired bootstrap over the "
        f"test rows): {len(worse)}" + (f" {worse['task'].tolist()}" if len(worse) else "")
    )
    if args.flaml:
        wins_f = sum(better(manifest[r["task"]], r["featsmith"], r["flaml"]) for _, r in df.iterrows())
        print(f"featsmith better than FLAML on {wins_f}/{len(df)} tasks")
    if args.ablate_generation:
        uses = sum(any(v != "raw" for v in r["fs_ensemble_views"]) for _, r in df.iterrows())
        wins_g = sum(better(manifest[r["task"]], r["featsmith"], r["nogen"]) for _, r in df.iterrows())
        worse_g = df[df["fs_vs_nogen"] < -2 * df["fs_vs_nogen_se"]]
        print(f"generated features in the final ensemble: {uses}/{len(df)} tasks; with generation better "
              f"than without on {wins_g}/{len(df)}; worse by more than 2 SE: {len(worse_g)}"
              + (f" {worse_g['task'].tolist()}" if len(worse_g) else ""))
        if args.repeats > 1:
            spread = np.maximum(df["featsmith_spread"], df["nogen_spread"])
            worse_r = df[(df["fs_vs_nogen"] < -2 * df["fs_vs_nogen_se"]) & (-df["fs_vs_nogen"] > spread)]
            named = f" {worse_r['task'].tolist()}" if len(worse_r) else ""
            print(f"medians of {args.repeats} fits per arm; worse by more than 2 SE and by more than either "
                  f"arm's spread over its runs: {len(worse_r)}{named}")
    if args.repeats > 1:
        print(f"\neach fit's score ({args.repeats} per arm, the table shows the median)")
        for _, r in df.iterrows():
            runs = lambda arm: ", ".join(f"{v:.5g}" for v in r[f"{arm}_runs"])  # noqa: E731
            without = f"; without generation {runs('nogen')}" if args.ablate_generation else ""
            print(f"  {r['task']}: featsmith {runs('featsmith')}{without}")
    print("\nwhere the time went (share of featsmith's fit seconds) and what the ensemble kept (weights)\n")
    print("| task | features stage | trials by family | trials by view | ensemble families | ensemble views |"
          + (" with - without generation (SE) |" if args.ablate_generation else ""))
    print("|---|---|---|---|---|---|" + ("---|" if args.ablate_generation else ""))
    for _, r in df.iterrows():
        fmt = lambda d: ", ".join(f"{k} {v:g}" for k, v in sorted(d.items(), key=lambda kv: -kv[1]))  # noqa: E731
        cells = [r["task"], f"{r['fs_features_share']:.2f}", fmt(r["fs_family_share"]), fmt(r["fs_view_share"]),
                 fmt(r["fs_ensemble_families"]), fmt(r["fs_ensemble_views"])]
        if args.ablate_generation:
            cells.append(f"{r['fs_vs_nogen']:+.4g} ({r['fs_vs_nogen_se']:.2g})")
        print("| " + " | ".join(cells) + " |")
    used = df["fs_used"]
    print(f"share of the budget featsmith used (fit seconds / budget): min {used.min():.2f}, "
          f"median {used.median():.2f}, max {used.max():.2f}")
    over = df[df["featsmith_s"] > args.budget * 1.1]
    print(f"fits over budget+10%: {len(over)}" + (f" {over['task'].tolist()}" if len(over) else ""))
    over = df[df["featsmith_s"] > args.budget * 1.1 + 3]
    print(f"fits over budget+10% (3 s floor): {len(over)}" + (f" {over['task'].tolist()}" if len(over) else ""))


if __name__ == "__main__":
    main()
