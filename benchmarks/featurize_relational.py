"""featsmith relational synthesis vs featuretools.dfs: wall time, peak memory, LightGBM RMSE.

Both tools get the same tables, relationships, time indexes, aggregation primitives (count,
sum, mean, std, min, max, nunique, mode, first, last; plus time_since_last with cutoffs) and
depth 2, and produce features for the same target rows. Each tool runs in its own child
process: it runs once to warm up (imports, caches), then the measured run. Peak memory is the
growth of the child's peak resident set (VmHWM, reset just before the measured run) over its
resident set at that moment, the same way for both tools, so Rust (polars) and Python
allocations both count.

Scenarios: ``mock_customer`` (featuretools' demo data, one cutoff for all customers and a
per-customer cutoff), ``movielens_ratings`` without cutoffs (all train + test target rows,
LightGBM defaults scored on the test split with the raw columns + numeric relational
features) and with per-row cutoffs at each rating's timestamp (point-in-time features) on the
first ``--cutoff-rows`` target rows (featuretools computes each distinct cutoff separately).

    python benchmarks/featurize_relational.py            # 3 repeats, medians
    python benchmarks/featurize_relational.py --quick    # 1 repeat, 200 cutoff rows
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import time
import warnings

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from bench_suite import Suite, add_suite_option, encode_raw, reset_peak, rss_kb

PRIMS = ["count", "sum", "mean", "std", "min", "max", "nunique", "mode", "first", "last"]


def _load(task, cutoff_rows, suite):
    """Return train rows, test rows (or None), y's, tables, relationships, time index, target, key, cutoffs."""
    import numpy as np
    import pandas as pd

    if task.startswith("mock_customer"):
        warnings.filterwarnings("ignore")
        import featuretools as ft

        es = ft.demo.load_mock_customer(return_entityset=True)
        tables = {n: df[[c for c in df.columns if not c.startswith("_ft_")]].reset_index(drop=True)
                  for n, df in es.dataframe_dict.items()}
        X = tables.pop("customers")
        rels = [("sessions.customer_id", "customers.customer_id"), ("transactions.session_id", "sessions.session_id"),
                ("transactions.product_id", "products.product_id")]
        ti = {"sessions": "session_start", "transactions": "transaction_time"}
        if task == "mock_customer_cutoff":
            cut = pd.Timestamp("2014-01-01 02:00") + pd.to_timedelta(np.arange(len(X)) * 40, unit="min")
        else:
            cut = pd.Series([pd.Timestamp("2014-01-01 04:00")] * len(X))
        return X, None, None, None, tables, rels, ti, "customers", "customer_id", pd.Series(cut).to_numpy()
    suite = Suite(suite)
    Xtr, ytr, Xte, yte, tables = suite.load("movielens_ratings")
    info = suite.manifest["movielens_ratings"]
    rels = [tuple(r) for r in info["relationships"]]
    ti = {t: d["time_index"] for t, d in info["tables"].items() if d.get("time_index")}
    target, key = info["target_table"], info["tables"][info["target_table"]]["key"]
    if task == "movielens_cutoff":
        X = Xtr.head(cutoff_rows).reset_index(drop=True)
        return X, None, None, None, tables, rels, ti, target, key, X["timestamp"].to_numpy()
    return Xtr, ytr, Xte, yte, tables, rels, ti, target, key, None


def _featsmith(task, cutoff_rows, suite):
    import polars as pl

    from featsmith.featurize import RelationalSynth

    Xtr, ytr, Xte, yte, tables, rels, ti, target, key, cut = _load(task, cutoff_rows, suite)

    def run():
        X = pl.from_pandas(Xtr)
        # RelationalSynth's inputs: polars tables other than the target's, and relationships
        # as (child, fk, parent, pk).
        frames = {name: pl.from_pandas(t.reset_index(drop=True))
                  for name, t in tables.items() if name != target}
        r = [(*child.split(".", 1), *parent.split(".", 1)) for child, parent in rels]
        prims = PRIMS + (["time_since_last"] if cut is not None else [])
        rs = RelationalSynth(target, r, ti, prims, max_depth=2)
        cutoff = None if cut is None else pl.Series(cut).cast(pl.Datetime("us"))
        train = rs.fit(X, frames, cutoff)
        test = rs.transform(pl.from_pandas(Xte)) if Xte is not None else None  # stored lookups
        return rs, train, test

    run()
    base = rss_kb("VmRSS")
    reset_peak()
    t = time.perf_counter()
    rs, train, test = run()
    wall = time.perf_counter() - t
    peak = rss_kb("VmHWM") - base
    rmse = None
    if ytr is not None:
        num = [c for c in train.columns if train.schema[c].is_numeric()]
        rmse = _lgbm_rmse(train.select(num).to_pandas(), ytr, test.select(num).to_pandas(), yte, Xtr, Xte)
    return {"tool": "featsmith", "wall": wall, "peak_mb": peak / 1024, "n_features": train.width, "rmse": rmse}


def _featuretools(task, cutoff_rows, suite):
    warnings.filterwarnings("ignore")
    import featuretools as ft
    import pandas as pd

    Xtr, ytr, Xte, yte, tables, rels, ti, target, key, cut = _load(task, cutoff_rows, suite)
    X = pd.concat([Xtr, Xte]) if Xte is not None else Xtr
    prims = [{"nunique": "num_unique"}.get(p, p) for p in PRIMS] + (["time_since_last"] if cut is not None else [])

    def run():
        es = ft.EntitySet(task)
        keys = {p.split(".")[0]: p.split(".")[1] for _, p in rels}
        keys[target] = key
        for name, df in {target: X, **tables}.items():
            k = keys.get(name) or df.columns[0]
            es.add_dataframe(dataframe_name=name, dataframe=df.reset_index(drop=True), index=k, time_index=ti.get(name))
        for child, parent in rels:
            (c, fk), (p, pk) = child.split("."), parent.split(".")
            es.add_relationship(p, pk, c, fk)
        kw = {}
        if cut is not None:
            kw = dict(cutoff_time=pd.DataFrame({key: X[key].to_numpy(), "time": cut}), include_cutoff_time=False,
                      cutoff_time_in_index=False)
        return ft.dfs(entityset=es, target_dataframe_name=target, agg_primitives=prims, trans_primitives=[],
                      max_depth=2, **kw)

    run()
    base = rss_kb("VmRSS")
    reset_peak()
    t = time.perf_counter()
    fm, defs = run()
    wall = time.perf_counter() - t
    peak = rss_kb("VmHWM") - base
    rmse = None
    if ytr is not None:
        fm = fm.select_dtypes("number")
        tr = fm.loc[Xtr[key].to_numpy()].reset_index(drop=True)
        te = fm.loc[Xte[key].to_numpy()].reset_index(drop=True)
        rmse = _lgbm_rmse(tr, ytr, te, yte, None, None)
    return {"tool": "featuretools", "wall": wall, "peak_mb": peak / 1024, "n_features": len(defs), "rmse": rmse}


def _lgbm_rmse(tr, ytr, te, yte, Xtr, Xte):
    import lightgbm as lgb
    import numpy as np
    import pandas as pd

    if Xtr is not None:  # featsmith: raw encoded target columns + relational features
        raw_tr, raw_te, _ = encode_raw(Xtr, Xte)
        names = [f"raw{i}" for i in range(raw_tr.shape[1])]
        tr = pd.concat([pd.DataFrame(raw_tr, columns=names), tr], axis=1)
        te = pd.concat([pd.DataFrame(raw_te, columns=names), te], axis=1)
    model = lgb.LGBMRegressor(verbose=-1, n_jobs=1, random_state=0).fit(tr.astype(float), ytr)
    return float(np.sqrt(np.mean((model.predict(te.astype(float)) - np.asarray(yte)) ** 2)))


def _child_main(tool, task, cutoff_rows, suite, q):
    try:
        q.put((_featsmith if tool == "featsmith" else _featuretools)(task, cutoff_rows, suite))
    except BaseException as err:  # report instead of leaving the parent waiting
        q.put({"error": repr(err)})
        raise


def _child(tool, task, cutoff_rows, suite):
    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    p = ctx.Process(target=_child_main, args=(tool, task, cutoff_rows, suite, q))
    p.start()
    res = q.get()
    p.join()
    if "error" in res:
        raise RuntimeError(f"{tool} on {task} failed: {res['error']}")
    return res


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--cutoff-rows", type=int, default=None)
    add_suite_option(ap)
    args = ap.parse_args(argv)
    repeats = 1 if args.quick else args.repeats
    cutoff_rows = args.cutoff_rows or (200 if args.quick else 1000)
    rows = []
    for task in ["mock_customer", "mock_customer_cutoff", "movielens_ratings", "movielens_cutoff"]:
        res = {}
        for tool in ("featsmith", "featuretools"):
            runs = [_child(tool, task, cutoff_rows, str(args.suite)) for _ in range(repeats)]
            r = dict(runs[0])
            r["wall"] = sorted(x["wall"] for x in runs)[len(runs) // 2]
            r["peak_mb"] = sorted(x["peak_mb"] for x in runs)[len(runs) // 2]
            res[tool] = r
        rows.append((task, res["featsmith"], res["featuretools"]))
    label = {"movielens_cutoff": f"movielens_ratings, per-row cutoff ({cutoff_rows} rows)",
             "mock_customer_cutoff": "mock_customer, per-row cutoff", "mock_customer": "mock_customer, one cutoff",
             "movielens_ratings": "movielens_ratings, no cutoff (train+test rows)"}
    print(f"repeats={repeats} (medians)\n")
    print("| scenario | tool | features | wall s | peak MB | LightGBM RMSE (test) |")
    print("|---|---|---|---|---|---|")
    for task, fs, ftr in rows:
        for r in (fs, ftr):
            rmse = "" if r["rmse"] is None else f"{r['rmse']:.4f}"
            print(f"| {label[task]} | {r['tool']} | {r['n_features']} | {r['wall']:.3f} | {r['peak_mb']:.1f} | {rmse} |")
    print()
    print("| scenario | speed-up (featuretools / featsmith wall) | memory (featsmith / featuretools peak) |")
    print("|---|---|---|")
    for task, fs, ftr in rows:
        mem = fs["peak_mb"] / ftr["peak_mb"] if ftr["peak_mb"] > 0 else float("nan")
        print(f"| {label[task]} | {ftr['wall'] / fs['wall']:.1f}x | {mem:.2f} |")


if __name__ == "__main__":
    main()
