"""Feature selection vs OpenFE, per dev task: LightGBM defaults on

  (a) raw     the TableEncoder columns (the anchor),
  (b) all     raw + every FeatureGenerator candidate,
  (c) screen  raw + the candidates featsmith's HalvingScreen keeps (at most ``--keep``),
  (d) openfe  raw + the top ``--openfe-keep`` (default ``--keep``) features of OpenFE 0.0.12,
              run by the Python of its own virtualenv (``--openfe-python``, or the
              ``OPENFE_PYTHON`` environment variable; without either, (d) comes from
              ``--openfe-cache`` or is left out) through a subprocess, same n_jobs,
              categoricals as strings, missing as a level.

Seconds: (b) generate + fit, (c) generate + screen + fit, (d) OpenFE fit + transform + fit.
The screen is compared with OpenFE on selection time alone (``screen s`` vs ``openfe s``).
Metrics as in the suite's manifest (roc_auc higher is better; log_loss, rmse lower). The
relational task is skipped (OpenFE takes one table).

``--splits N`` is the dev evaluation that leaves the test split alone: on each task, N seeded
70/30 splits of the TRAINING rows; generator and screen see the 70 %, (a) and (c) are scored on
the 30 %, and the gap is printed in that split's paired-bootstrap standard errors. Use it to
choose between screen settings; the test split then scores the choice once.

``--scale`` also times HalvingScreen on 5,000 generated candidates x 100,000 rows and
GradientFeatureSelector on 100,000 rows x 1,000 features.

    python benchmarks/selection.py --quick     # 3 tasks, 1,000 candidates
    python benchmarks/selection.py             # all single-table tasks, 1,000 candidates
    python benchmarks/selection.py --scale     # the timing runs only
    python benchmarks/selection.py --splits 5  # (c) vs (a) on repeated splits of the training rows

OpenFE on the wide tasks (thousands to tens of thousands of candidates) can take the better part
of an hour each at n_jobs=1; ``--openfe-max-candidates`` bounds it (a seeded subset of its own
candidate list) and ``--openfe-cache`` keeps its outputs for a later run, e.g.

    python benchmarks/selection.py --openfe-only --openfe-max-candidates 5000 --openfe-cache DIR
    python benchmarks/selection.py --openfe-max-candidates 5000 --openfe-cache DIR

The dataset suite is ``--suite`` (default: ``$FEATSMITH_SUITE``, else ../shared/datasets from
the repository root).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import tempfile
import time

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numpy as np
import pandas as pd

from featsmith.featurize import FeatureGenerator
from featsmith.selectors import GradientFeatureSelector, HalvingScreen

from bench_suite import (
    Suite,
    add_suite_option,
    better,
    encode_raw,
    lgbm_model,
    lower_is_better,
    paired_bootstrap,
    predictions,
    score,
)

QUICK = ["credit_data", "hotel_rates", "diamonds"]

# Runs inside the OpenFE virtualenv: reads the prepared parquet files, writes OpenFE's new
# columns for the train and test rows, and the seconds fit + transform took.
OPENFE_RUNNER = r"""
import json, sys, time, warnings
warnings.filterwarnings("ignore")
import pandas as pd
from openfe import OpenFE, transform
cfg = json.load(open(sys.argv[1]))
tr = pd.read_parquet(cfg["train"]); te = pd.read_parquet(cfg["test"])
y = tr.pop("__target__"); te.pop("__target__")
for c in cfg["categorical"]:
    tr[c] = tr[c].astype("category"); te[c] = te[c].astype("category")
t0 = time.perf_counter()
candidates = None
if cfg["max_candidates"]:
    # Bounded setting: a seeded random subset of the candidate list OpenFE builds by default
    # (numeric columns with <= 100 distinct values as ordinal), where it is longer.
    import random
    from openfe import get_candidate_features
    rest = [c for c in tr.columns if c not in cfg["categorical"]]
    ordinal = [c for c in rest if tr[c].nunique() <= 100]
    full = get_candidate_features(numerical_features=[c for c in rest if c not in ordinal],
                                  categorical_features=cfg["categorical"],
                                  ordinal_features=ordinal)
    if len(full) > cfg["max_candidates"]:
        candidates = random.Random(0).sample(full, cfg["max_candidates"])
ofe = OpenFE()
feats = ofe.fit(data=tr, label=y.to_frame(), n_jobs=cfg["n_jobs"], task=cfg["task"],
                categorical_features=cfg["categorical"], candidate_features_list=candidates,
                seed=0, verbose=False)
new_tr, new_te = transform(tr, te, feats[:cfg["keep"]], n_jobs=cfg["n_jobs"])
seconds = time.perf_counter() - t0
added = [c for c in new_tr.columns if c not in tr.columns]
out_tr, out_te = new_tr[added].copy(), new_te[added].copy()
for c in added:
    if not pd.api.types.is_numeric_dtype(out_tr[c]):
        cats = pd.Categorical(out_tr[c]).categories
        out_tr[c] = pd.Categorical(out_tr[c], categories=cats).codes.astype(float)
        out_te[c] = pd.Categorical(out_te[c], categories=cats).codes.astype(float)
out_tr.columns = out_te.columns = [f"ofe{i}" for i in range(len(added))]
out_tr.to_parquet(cfg["out_train"]); out_te.to_parquet(cfg["out_test"])
json.dump({"seconds": seconds, "n_features": len(added),
           "n_candidates": len(candidates) if candidates else None}, open(cfg["out_meta"], "w"))
"""


def fit_score(info, Xtr, ytr, Xte, yte, categorical, n_jobs):
    """LightGBM defaults; returns (score, fit seconds, test predictions)."""
    t = time.perf_counter()
    model = lgbm_model(info, n_jobs=n_jobs, random_state=0).fit(
        Xtr, ytr, categorical_feature=list(categorical) or "auto")
    out = predictions(info, model, Xte)
    return score(info, yte, out), time.perf_counter() - t, out


def paired_se(info, yte, ours, anchor, n_boot=500):
    """Standard error of the test-score difference ``ours - anchor`` (paired bootstrap)."""
    return paired_bootstrap(info, yte, ours, anchor, n_boot=n_boot)[1]


def openfe_inputs(X):
    """OpenFE's input: categoricals as strings with missing as its own level (NaN crashes
    its group-by operators), datetimes as seconds, booleans as numbers."""
    out, cats = pd.DataFrame(index=X.index), []
    for c in X.columns:
        s = X[c]
        if pd.api.types.is_datetime64_any_dtype(s):
            out[c] = s.astype("int64").where(s.notna(), np.nan) / 1e9
        elif pd.api.types.is_bool_dtype(s):
            out[c] = s.astype(float)
        elif pd.api.types.is_numeric_dtype(s):
            out[c] = s.astype(float)
        else:
            out[c] = s.astype(str).where(s.notna(), "__missing__")
            cats.append(c)
    out.columns = [f"c{i}" for i in range(len(out.columns))]  # OpenFE's formulas dislike odd names
    cats = [f"c{list(X.columns).index(c)}" for c in cats]
    return out, cats


def run_openfe(info, Xtr, ytr, Xte, keep, n_jobs, timeout, python, max_candidates=None,
               cache=None):
    """OpenFE's top ``keep`` features on the train and test rows and its seconds, read from
    ``cache`` (a folder) when an earlier run with the same settings stored them there;
    ``python``: the interpreter of OpenFE's virtualenv."""
    key = f"{info['name']}-keep{keep}-jobs{n_jobs}-cand{max_candidates or 'all'}"
    if cache:
        path = os.path.join(cache, key + ".npz")
        if os.path.exists(path):
            got = np.load(path)
            return got["train"], got["test"], float(got["seconds"]), int(got["n_candidates"])
    if python is None:
        raise RuntimeError(f"{key} is not in the OpenFE cache and no OpenFE Python was given "
                           "(--openfe-python)")
    o_tr, o_te, seconds, n_cand = _run_openfe(info, Xtr, ytr, Xte, keep, n_jobs, timeout,
                                              max_candidates, python)
    if cache:
        os.makedirs(cache, exist_ok=True)
        np.savez(os.path.join(cache, key + ".npz"), train=o_tr, test=o_te, seconds=seconds,
                 n_candidates=-1 if n_cand is None else n_cand)
    return o_tr, o_te, seconds, -1 if n_cand is None else n_cand


def _run_openfe(info, Xtr, ytr, Xte, keep, n_jobs, timeout, max_candidates, python):
    with tempfile.TemporaryDirectory() as d:
        tr, cats = openfe_inputs(Xtr)
        te, _ = openfe_inputs(Xte)
        if info["task"] == "regression":
            target = np.asarray(ytr, float)
        else:
            target = pd.Categorical(ytr).codes.astype(int)
        tr["__target__"] = target
        te["__target__"] = 0
        cfg = {k: os.path.join(d, f"{k}.parquet") for k in ("train", "test", "out_train", "out_test")}
        cfg.update(out_meta=os.path.join(d, "meta.json"), categorical=cats, keep=keep,
                   n_jobs=n_jobs, max_candidates=max_candidates,
                   task="regression" if info["task"] == "regression" else "classification")
        tr.to_parquet(cfg["train"])
        te.to_parquet(cfg["test"])
        with open(os.path.join(d, "cfg.json"), "w") as fh:
            json.dump(cfg, fh)
        env = {**os.environ, "OMP_WAIT_POLICY": "PASSIVE"}
        proc = subprocess.run([python, "-c", OPENFE_RUNNER, os.path.join(d, "cfg.json")],
                              capture_output=True, text=True, timeout=timeout, env=env,
                              cwd=d)  # OpenFE writes its temporary feather file to the cwd
        if proc.returncode != 0:
            raise RuntimeError(proc.stderr[-2000:])
        meta = json.load(open(cfg["out_meta"]))
        return (pd.read_parquet(cfg["out_train"]).to_numpy(float),
                pd.read_parquet(cfg["out_test"]).to_numpy(float), meta["seconds"],
                meta["n_candidates"])


def screen_options(args):
    """HalvingScreen keyword arguments from the command line: only those set, so that the
    screen's own defaults apply otherwise (and older featsmith versions run too)."""
    options = {}
    if args.z is not None:
        options["z_threshold"] = args.z
    if args.no_recalibrate:
        options["recalibrate"] = False
    return options


def run_task(suite, name, n_candidates, keep, n_jobs, openfe=None, screen_kwargs=None):
    """One row of the table; ``openfe``: None, or run_openfe's keyword arguments;
    ``screen_kwargs``: HalvingScreen's (see ``screen_options``)."""
    info = suite.manifest[name]
    Xtr, ytr, Xte, yte, _ = suite.load(name)
    raw_tr, raw_te, cats = encode_raw(Xtr, Xte)
    row = {"task": name, "metric": info["metric"]}
    row["raw"], row["raw_s"], raw_out = fit_score(info, raw_tr, ytr, raw_te, yte, cats, n_jobs)

    t = time.perf_counter()
    gen = FeatureGenerator(max_candidates=n_candidates, random_state=0).fit(Xtr, ytr)
    src = gen.candidate_source()
    gen_s = time.perf_counter() - t
    names = list(src.names)
    all_tr = src.evaluate(names)  # target encodings out of fold on the training rows
    all_te = gen.transform(Xte)
    row["n_candidates"] = len(names)
    s, fit_s, _ = fit_score(info, np.hstack([raw_tr, all_tr]), ytr, np.hstack([raw_te, all_te]),
                            yte, cats, n_jobs)
    row["all"], row["all_s"] = s, gen_s + fit_s

    t = time.perf_counter()
    screen = HalvingScreen(n_keep=keep, random_state=0, n_jobs=n_jobs,
                           **(screen_kwargs or {})).fit(src, ytr, base=raw_tr)
    row["screen_s"] = time.perf_counter() - t
    idx = [names.index(a) for a in screen.selected_names_]
    row["n_selected"] = len(idx)
    s, fit_s, sel_out = fit_score(info, np.hstack([raw_tr, all_tr[:, idx]]), ytr,
                                  np.hstack([raw_te, all_te[:, idx]]), yte, cats, n_jobs)
    row["sel"], row["sel_s"] = s, gen_s + row["screen_s"] + fit_s
    row["sel_se"] = paired_se(info, yte, sel_out, raw_out) if idx else 0.0
    row["gen_s"] = gen_s
    row["selected"] = screen.selected_names_[:5]

    row["ofe"] = row["ofe_s"] = row["openfe_s"] = None
    if openfe is not None:
        try:
            o_tr, o_te, o_s, row["ofe_candidates"] = run_openfe(info, Xtr, ytr, Xte,
                                                                n_jobs=n_jobs, **openfe)
            s, fit_s, _ = fit_score(info, np.hstack([raw_tr, o_tr]), ytr,
                                    np.hstack([raw_te, o_te]), yte, cats, n_jobs)
            row["ofe"], row["openfe_s"], row["ofe_s"] = s, o_s, o_s + fit_s
        except Exception as exc:  # recorded in the table, not fatal to the other tasks
            row["ofe_error"] = f"{type(exc).__name__}: {str(exc).strip().splitlines()[-1][:120]}"
    return info, row


def run_splits(suite, name, n_splits, n_candidates, keep, n_jobs, screen_kwargs, with_all=False):
    """Per seeded 70/30 split of the task's training rows: (c) - (a) in paired-bootstrap
    standard errors (positive: (c) better), the number selected, and (with ``with_all``)
    (b) - (a) for raw + every candidate (else None)."""
    from sklearn.model_selection import train_test_split

    info = suite.manifest[name]
    X, y, _, _, _ = suite.load(name)
    y = pd.Series(np.asarray(y))
    sign = -1 if lower_is_better(info) else 1
    out = []
    for seed in range(n_splits):
        strat = y if info["task"] != "regression" else None
        try:
            fit_rows, val_rows = train_test_split(np.arange(len(y)), test_size=0.3,
                                                  random_state=seed, stratify=strat)
        except ValueError:  # a class too rare to stratify
            fit_rows, val_rows = train_test_split(np.arange(len(y)), test_size=0.3,
                                                  random_state=seed)
        Xf, yf = X.iloc[fit_rows].reset_index(drop=True), y.iloc[fit_rows].reset_index(drop=True)
        Xv, yv = X.iloc[val_rows].reset_index(drop=True), y.iloc[val_rows].reset_index(drop=True)
        if info["task"] != "regression":  # classes seen in fitting only (log loss needs them)
            seen = yv.isin(set(yf)).to_numpy()
            Xv, yv = Xv[seen].reset_index(drop=True), yv[seen].reset_index(drop=True)
        raw_f, raw_v, cats = encode_raw(Xf, Xv)
        gen = FeatureGenerator(max_candidates=n_candidates, random_state=0).fit(Xf, yf)
        src = gen.candidate_source()
        names = list(src.names)
        raw, _, raw_out = fit_score(info, raw_f, yf, raw_v, yv, cats, n_jobs)

        def gap(cols_f, cols_v):
            s, _, s_out = fit_score(info, np.hstack([raw_f, cols_f]), yf,
                                    np.hstack([raw_v, cols_v]), yv, cats, n_jobs)
            se = paired_se(info, yv, s_out, raw_out, n_boot=200)
            return sign * (s - raw) / se if se > 0 else 0.0

        screen = HalvingScreen(n_keep=keep, random_state=0, n_jobs=n_jobs, **screen_kwargs).fit(
            src, yf, base=raw_f)
        chosen = screen.selected_names_
        cand_v = gen.transform(Xv) if chosen or with_all else None
        sel_gap = 0.0
        if chosen:
            sel_gap = gap(src.evaluate(chosen), cand_v[:, [names.index(a) for a in chosen]])
        all_gap = gap(src.evaluate(names), cand_v) if with_all else None
        out.append((sel_gap, len(chosen), all_gap))
    return out


def fmt(v, digits=4):
    return "—" if v is None else f"{v:.{digits}f}"


def scale_runs(n_jobs):
    """Timing at the issue's scale on synthetic data (no quality claim)."""
    rng = np.random.default_rng(0)
    n, p = 100_000, 100
    X = rng.normal(size=(n, p)).astype(np.float32)
    y = X[:, 0] * X[:, 1] + X[:, 2] + np.abs(X[:, 3]) + 0.5 * rng.normal(size=n)

    class PairSource:
        """5,000 candidates op(x_a, x_b), computed on demand (never all at once)."""

        OPS = (np.multiply, np.subtract, np.add, lambda a, b: a / (np.abs(b) + 1e-3))

        def __init__(self):
            pairs = [(a, b) for a in range(p) for b in range(a + 1, p)]
            self.specs = [(o, a, b) for a, b in pairs for o in range(4)][:5000]
            self.names = [f"op{o}(x{a},x{b})" for o, a, b in self.specs]
            self._index = dict(zip(self.names, self.specs))
            self.n_rows = n

        def evaluate(self, names, rows=None):
            Xr = X if rows is None else X[rows]
            out = np.empty((Xr.shape[0], len(names)), np.float32)
            for j, nm in enumerate(names):
                o, a, b = self._index[nm]
                out[:, j] = self.OPS[o](Xr[:, a], Xr[:, b])
            return out

    src = PairSource()
    t = time.perf_counter()
    screen = HalvingScreen(n_keep=50, random_state=0, n_jobs=n_jobs).fit(src, y, base=X[:, :10])
    total = time.perf_counter() - t
    print(f"\nHalvingScreen, 5,000 candidates x 100,000 rows, base = 10 columns, n_jobs={n_jobs}: "
          f"{total:.1f} s total ({screen.base_seconds_:.1f} s out-of-fold base model, "
          f"{total - screen.base_seconds_:.1f} s screening); rounds: "
          + ", ".join(f"{r['candidates']}x{r['rows']}" for r in screen.rounds_))
    print("  top 5:", screen.selected_names_[:5])

    Xg = rng.normal(size=(n, 1000)).astype(np.float32)
    yg = Xg[:, :10] @ rng.normal(size=10) + 0.5 * rng.normal(size=n)
    t = time.perf_counter()
    sel = GradientFeatureSelector(k=10, random_state=0, n_jobs=n_jobs).fit(Xg, yg)
    found = len(set(sel.get_support(indices=True)) & set(range(10)))
    print(f"GradientFeatureSelector, 100,000 x 1,000, n_jobs={n_jobs}, defaults (10 epochs): "
          f"{time.perf_counter() - t:.1f} s; {found}/10 true features in its top 10")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--tasks", nargs="*")
    ap.add_argument("--candidates", type=int, default=None)
    ap.add_argument("--keep", type=int, default=20)
    ap.add_argument("--openfe-keep", type=int, default=None,
                    help="OpenFE's top N features in (d) (default: --keep)")
    ap.add_argument("--n-jobs", type=int, default=1)
    ap.add_argument("--z", type=float, default=None,
                    help="HalvingScreen z_threshold (default: the screen's own, 2)")
    ap.add_argument("--no-openfe", action="store_true")
    ap.add_argument("--openfe-python", default=os.environ.get("OPENFE_PYTHON"),
                    help="the Python of a virtualenv with OpenFE 0.0.12 (default: $OPENFE_PYTHON); "
                         "without it (d) is read from --openfe-cache, or left out")
    ap.add_argument("--openfe-timeout", type=int, default=1800)
    ap.add_argument("--openfe-max-candidates", type=int, default=None,
                    help="bounded OpenFE: a seeded random subset of this many of its order-1 "
                         "candidates on tasks whose list is longer (default: all)")
    ap.add_argument("--openfe-cache", default=None,
                    help="folder for OpenFE's outputs and seconds, reused by later runs with the "
                         "same settings")
    ap.add_argument("--openfe-only", action="store_true",
                    help="only run OpenFE (filling --openfe-cache)")
    ap.add_argument("--scale", action="store_true", help="only the timing runs at scale")
    ap.add_argument("--splits", type=int, default=0,
                    help="only (c) vs (a) on this many seeded 70/30 splits of the training rows")
    ap.add_argument("--with-all", action="store_true",
                    help="with --splits: also (b) raw + every candidate against (a)")
    ap.add_argument("--no-recalibrate", action="store_true",
                    help="HalvingScreen(recalibrate=False): candidates judged against the base "
                         "scores as they are")
    add_suite_option(ap)
    args = ap.parse_args(argv)
    if args.scale:
        scale_runs(args.n_jobs)
        return
    suite = Suite(args.suite)
    tasks = args.tasks or (QUICK if args.quick else suite.names(single_table=True))
    n_cand = args.candidates or 1000
    kwargs = screen_options(args)
    if args.splits:
        print(f"(c) - (a) on {args.splits} seeded 70/30 splits of the training rows, in "
              f"paired-bootstrap SE of each split's 30 %; HalvingScreen {kwargs}, keep "
              f"{args.keep}, {n_cand} candidates.\n")
        extra = " (b) - (a) / SE per split | (b) mean |" if args.with_all else ""
        print(f"| task | (c) - (a) / SE per split | mean | better | worse | same | selected |{extra}")
        print("|---|---|---|---|---|---|---|" + ("---|---|" if args.with_all else ""))
        every = []
        for name in tasks:
            res = run_splits(suite, name, args.splits, n_cand, args.keep, args.n_jobs, kwargs,
                             args.with_all)
            z = np.array([g for g, _, _ in res])
            every.append(z)
            line = (f"| {name} | {', '.join(f'{g:+.2f}' for g in z)} | {z.mean():+.2f} | "
                    f"{int((z > 0).sum())} | {int((z < 0).sum())} | {int((z == 0).sum())} | "
                    f"{', '.join(str(k) for _, k, _ in res)} |")
            if args.with_all:
                b = np.array([g for _, _, g in res])
                line += f" {', '.join(f'{g:+.2f}' for g in b)} | {b.mean():+.2f} |"
            print(line, flush=True)
        z = np.concatenate(every)
        means = np.array([e.mean() for e in every])
        print(f"\nAll splits: mean {z.mean():+.3f} SE; {int((z > 0).sum())} better, "
              f"{int((z < 0).sum())} worse, {int((z == 0).sum())} same. Tasks by mean gap: "
              f"{int((means > 0).sum())} better, {int((means < 0).sum())} worse, "
              f"{int((means == 0).sum())} same.")
        return
    # A cache of earlier OpenFE runs serves (d) without OpenFE itself.
    have_python = args.openfe_python is not None and os.path.exists(args.openfe_python)
    with_openfe = not args.no_openfe and (have_python or args.openfe_cache is not None)
    openfe_keep = args.openfe_keep or args.keep
    openfe = None if not with_openfe else {
        "keep": openfe_keep, "timeout": args.openfe_timeout,
        "python": args.openfe_python if have_python else None,
        "max_candidates": args.openfe_max_candidates, "cache": args.openfe_cache}
    if args.openfe_only:
        if not have_python:
            ap.error("--openfe-only needs OpenFE's Python: --openfe-python or $OPENFE_PYTHON")
        for name in tasks:
            Xtr, ytr, Xte, _, _ = suite.load(name)
            t = time.perf_counter()
            try:
                _, _, sec, n_c = run_openfe(suite.manifest[name], Xtr, ytr, Xte, n_jobs=args.n_jobs,
                                            **openfe)
                print(f"{name}: OpenFE {sec:.1f} s ({n_c} candidates; -1: all)", flush=True)
            except Exception as exc:
                print(f"{name}: OpenFE failed after {time.perf_counter() - t:.0f} s: "
                      f"{type(exc).__name__}", flush=True)
        return
    print(f"LightGBM defaults, n_jobs={args.n_jobs}; {n_cand} candidates; keep {args.keep} "
          f"(OpenFE: {openfe_keep}); HalvingScreen {kwargs} (the rest its defaults).\n")
    print("| task | metric | (a) raw | (b) raw+all | (c) raw+screen | (d) raw+OpenFE | (c) vs (a) "
          "| (c) - (a) / SE | (c) vs (d) | (b) s | (c) s (screen s) | (d) s (OpenFE s) "
          "| screen / OpenFE time |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    notes, vs_raw = [], []
    for name in tasks:
        info, r = run_task(suite, name, n_cand, args.keep, args.n_jobs, openfe, kwargs)

        def compare(a, b):
            if a is None or b is None:
                return "—"
            return "better" if better(info, a, b) else ("same" if a == b else "worse")

        ratio = "—" if not r["openfe_s"] else f"{r['screen_s'] / r['openfe_s']:.3f}"
        # Oriented so that positive is better; in test-split standard errors (paired bootstrap).
        gap = (r["sel"] - r["raw"]) * (-1 if lower_is_better(info) else 1)
        z = gap / r["sel_se"] if r["sel_se"] > 0 else 0.0
        vs_raw.append(z)
        print(f"| {name} | {info['metric']} | {fmt(r['raw'])} | {fmt(r['all'])} | {fmt(r['sel'])} | "
              f"{fmt(r['ofe'])} | {compare(r['sel'], r['raw'])} | {z:+.2f} | "
              f"{compare(r['sel'], r['ofe'])} | "
              f"{r['all_s']:.1f} | {r['sel_s']:.1f} ({r['screen_s']:.1f}) | "
              f"{fmt(r['ofe_s'], 1)} ({fmt(r['openfe_s'], 1)}) | {ratio} |", flush=True)
        notes.append(f"- {name}: {r['n_candidates']} candidates (generated in {r['gen_s']:.1f} s), "
                     f"{r['n_selected']} selected, first: {r['selected']}"
                     + (f"; OpenFE on a bounded list of {r['ofe_candidates']} candidates"
                        if r.get("ofe_candidates", -1) > 0 else "")
                     + (f"; OpenFE failed: {r['ofe_error']}" if "ofe_error" in r else ""))
    print("\n" + "\n".join(notes))
    z = np.array(vs_raw)
    print(f"\n(c) vs (a): {int((z > 0).sum())} better, {int((z < 0).sum())} worse, "
          f"{int((z == 0).sum())} same; beyond 2 test-split SE: {int((z > 2).sum())} better, "
          f"{int((z < -2).sum())} worse.")


if __name__ == "__main__":
    main()
