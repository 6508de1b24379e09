"""Relational synthesis on every path: several keys to one parent, the target table's own rows."""

import warnings

import numpy as np
import pandas as pd
import polars as pl
import pytest

from featsmith.featurize import FeatureGenerator, RelationalSynth

RELS = [("flights.origin", "airports.faa"), ("flights.dest", "airports.faa"), ("flights.tailnum", "planes.tailnum"),
        ("history.origin", "airports.faa"), ("history.dest", "airports.faa"), ("history.tailnum", "planes.tailnum"),
        ("planes.maker", "makers.maker")]


def flights_world(n=60, m=150, seed=0):
    """A small airline schema: flights (X) and history both key airports twice (origin, dest)."""
    rng = np.random.default_rng(seed)
    faa, tails = list("ABCDE"), [f"N{i}" for i in range(6)]
    airports = pd.DataFrame({"faa": faa, "alt": rng.normal(100, 30, 5).round(1)})
    planes = pd.DataFrame({"tailnum": tails, "seats": rng.integers(50, 300, 6).astype(float),
                           "maker": rng.choice(["boeing", "airbus"], 6)})
    makers = pd.DataFrame({"maker": ["boeing", "airbus"], "founded": [1916.0, 1970.0]})
    t0 = pd.Timestamp("2020-01-01")
    history = pd.DataFrame({
        "history_id": np.arange(m), "origin": rng.choice(faa, m), "dest": rng.choice(faa, m), "tailnum": rng.choice(tails, m),
        "delay": rng.normal(10, 20, m).round(1), "carrier": rng.choice(["AA", "UA", "DL"], m),
        "t": t0 + pd.to_timedelta(rng.integers(0, 60 * 24 * 10, m), unit="min"),
    })
    history.loc[::17, "delay"] = np.nan
    history.loc[5::13, "tailnum"] = None  # rows of no plane count for no plane
    flights = pd.DataFrame({
        "flight_id": np.arange(1000, 1000 + n), "origin": rng.choice(faa, n), "dest": rng.choice(faa, n),
        "tailnum": rng.choice(tails, n), "distance": rng.normal(800, 300, n).round(0),
        "t": t0 + pd.to_timedelta(np.sort(rng.integers(0, 60 * 24 * 12, n)), unit="min"),
    })
    flights.loc[::11, "distance"] = np.nan
    return flights, {"history": history, "airports": airports, "planes": planes, "makers": makers}




def synth(X, tables, cutoff=None, time_index=None, order=None, prims=None, dtype=None):
    from featsmith.featurize._relational import resolve_tables

    ti = {"history": "t"} if time_index is None else time_index
    frames, rels, ti, target = resolve_tables(tables, RELS, ti, "flights", pl.from_pandas(X))
    rs = RelationalSynth(target, rels, ti, prims, max_depth=2, dtype=dtype)
    out = rs.fit(pl.from_pandas(X), frames, cutoff, order)
    return rs, out


def test_two_keys_to_one_parent_give_one_path_each_with_names_and_lineage():
    X, tables = flights_world()
    gen = FeatureGenerator(max_candidates=3000, random_state=0).fit(
        X, tables=tables, relationships=RELS, time_index={"history": "t"})
    names = gen.relational_.output_names
    for key in ("origin", "dest"):
        assert f"airports[{key}].alt" in names
        for via in ("origin", "dest"):  # the parent's history through both of the child's keys
            assert f"airports[{key}].MEAN(history[{via}].delay)" in names
            assert f"airports[{key}].COUNT(flights[{via}])" in names  # X's own rows
    # one key to a parent keeps the plain name; a grandparent through it too
    assert {"planes.seats", "planes.makers.founded", "planes.MEAN(history.delay)"} <= set(names)
    assert not any(n.startswith("airports.") for n in names)
    got = gen.relational_.transform(pl.from_pandas(X))
    alt = dict(zip(tables["airports"]["faa"], tables["airports"]["alt"]))
    assert got["airports[origin].alt"].to_list() == [alt[a] for a in X["origin"]]
    assert got["airports[dest].alt"].to_list() == [alt[a] for a in X["dest"]]
    hist = tables["history"]
    want = [hist.loc[hist["dest"] == a, "delay"].mean() for a in X["origin"]]
    np.testing.assert_allclose(got["airports[origin].MEAN(history[dest].delay)"].to_numpy(), want)
    # lineage: each feature rolls up to the key of X it came through
    plan = gen.plan(["airports[origin].MEAN(history[dest].delay)", "airports[dest].MEAN(history[origin].delay)",
                     "airports[dest].alt"])
    desc = plan.describe()
    assert desc["inputs"].to_list() == ["origin", "dest", "dest"]
    assert "history rows whose dest is the row's origin" in desc["formula"][0]
    # a feature derived from relational columns reaches both keys through every step
    derived = [n for n in gen.candidate_names_ if "airports[origin]" in n and "airports[dest]" in n
               and n not in names]
    assert derived and gen.plan(derived[:1]).lineage()[derived[0]] == ["origin", "dest"]
    assert gen.plan(["airports[dest].alt"]).lineage() == {"airports[dest].alt": ["dest"]}
    again = plan.__class__.from_json(plan.to_json()).transform(X.head(5), tables=tables)
    np.testing.assert_allclose(again.to_numpy()[:, 0], np.asarray(want[:5], np.float32), rtol=1e-6)


def test_own_rows_through_a_parent_without_time_leave_the_row_out():
    X, tables = flights_world()
    X = X.drop(columns="t")
    _, out = synth(X, tables)
    d = X["distance"].to_numpy()
    for via, key in (("origin", "origin"), ("dest", "origin"), ("origin", "dest")):
        name = f"airports[{key}]"
        for i in range(len(X)):
            others = (X[via].to_numpy() == X[key][i]) & (np.arange(len(X)) != i)
            vals = d[others][~np.isnan(d[others])]
            assert out[f"{name}.COUNT(flights[{via}])"][i] == others.sum()
            row = {"SUM": vals.sum(), "MEAN": vals.mean() if len(vals) else np.nan,
                   "STD": vals.std(ddof=1) if len(vals) > 1 else np.nan,
                   "MIN": vals.min() if len(vals) else np.nan, "MAX": vals.max() if len(vals) else np.nan}
            for prim, want in row.items():
                np.testing.assert_allclose(out[f"{name}.{prim}(flights[{via}].distance)"][i], want, rtol=1e-9,
                                           err_msg=f"{name}.{prim} via {via}, row {i}")
    # without a time there is no order: first / last / mode / time since last are not made
    assert not any(n.startswith(("airports[origin].FIRST(flights", "planes.MODE(flights")) for n in out.columns)
    assert "planes.NUM_UNIQUE(flights.origin)" not in out.columns  # a key, not a value
    assert not any("flight_id" in n for n in out.columns)  # X's identifier is never aggregated


def test_own_rows_with_cutoffs_are_strictly_earlier():
    X, tables = flights_world()
    cut = pl.Series(X["t"] + pd.Timedelta(minutes=30)).cast(pl.Datetime("us"))
    _, out = synth(X, tables, cutoff=cut, time_index={"history": "t", "flights": "t"})
    t, c = X["t"].to_numpy(), cut.to_numpy()
    entered = np.maximum(t, c)  # a row is known from the later of its time and its cutoff
    for i in range(len(X)):
        mine = (X["tailnum"].to_numpy() == X["tailnum"][i]) & (entered < c[i])
        assert not mine[i]
        assert out["planes.COUNT(flights)"][i] == mine.sum()
        vals = X["distance"].to_numpy()[mine]
        vals = vals[~np.isnan(vals)]
        np.testing.assert_allclose(out["planes.SUM(flights.distance)"][i], vals.sum())


def test_new_rows_read_the_training_rows_before_their_time():
    """With a time index on X's table, a new row's own-row aggregates read the training rows
    before its time, as the training rows' did (not all of them: the test rows of a random
    split sit among the training rows in time)."""
    from featsmith.featurize import FeaturePlan

    X, tables = flights_world()
    train, new = X.iloc[::2].reset_index(drop=True), X.iloc[1::2].reset_index(drop=True)
    gen = FeatureGenerator(random_state=0).fit(train, tables=tables, relationships=RELS,
                                               time_index={"history": "t", "flights": "t"})
    names = ["planes.COUNT(flights)", "planes.MAX(flights.distance)"]
    plan = gen.plan(names)
    for got in (plan.transform(new), FeaturePlan.from_json(plan.to_json()).transform(new),
                plan.transform(new, tables=tables)):
        for i in range(len(new)):
            before = train[(train["tailnum"] == new["tailnum"][i]) & (train["t"] < new["t"][i])]
            assert got["planes.COUNT(flights)"][i] == len(before)
            np.testing.assert_allclose(got["planes.MAX(flights.distance)"][i],
                                       before["distance"].max() if before["distance"].notna().any() else np.nan,
                                       rtol=1e-6)


def test_target_is_never_aggregated():
    X, tables = flights_world()
    y = X["distance"].fillna(0).to_numpy() * 2
    gen = FeatureGenerator(random_state=0).fit(X.drop(columns="distance"), y, tables=tables, relationships=RELS,
                                               time_index={"history": "t"})
    assert not any("distance" in n for n in gen.relational_.output_names)


def test_time_ordered_folds_read_only_earlier_periods_of_the_own_table():
    """Under time-ordered validation folds (``time_order``), a row's aggregate over its own
    table reads the rows of earlier periods only (the folds: time_periods of the same order),
    never a row of its own period: a validated period then holds the values predict gives,
    where a new row reads the training rows and none of the other new rows."""
    from featsmith.featurize import time_periods

    X, tables = flights_world(n=120)
    order = X["t"].to_numpy()
    names = ["planes.COUNT(flights)", "planes.MAX(flights.distance)", "airports[dest].MEAN(flights[origin].distance)"]
    gen = FeatureGenerator(random_state=0).fit(X.drop(columns="t"), X["distance"].fillna(0), tables=tables,
                                               relationships=RELS, time_index={"history": "t"}, time_order=order)
    got = gen.candidate_source().evaluate(names)
    folds = time_periods(order, 5)
    tail = X["tailnum"].to_numpy()
    same_period_earlier = 0
    for i in range(len(X)):
        earlier = (tail == tail[i]) & (folds < folds[i])
        same_period_earlier += ((tail == tail[i]) & (folds == folds[i]) & (order < order[i])).sum()
        assert got[i, 0] == earlier.sum()
        vals = X["distance"].to_numpy()[earlier]
        vals = vals[~np.isnan(vals)]
        np.testing.assert_allclose(got[i, 1], vals.max() if len(vals) else np.nan, rtol=1e-6)
    assert same_period_earlier > 0  # rows the old rule (strictly earlier in time) would have read
    # A validated period's values are what predict gives its rows after a fit on the earlier periods.
    for p in (2, 4):
        before = X[folds < p].drop(columns="t")
        fitted = FeatureGenerator(random_state=0).fit(before, before["distance"].fillna(0), tables=tables,
                                                      relationships=RELS, time_index={"history": "t"})
        predicted = fitted.relational_.transform(pl.from_pandas(X[folds == p].drop(columns="t"))).select(names)
        np.testing.assert_allclose(got[folds == p], predicted.to_numpy().astype(np.float64), rtol=1e-6)
    # predict: a later row reads all training rows of its plane (the lookups)
    new = X.drop(columns="t").head(2)
    assert gen.relational_.transform(pl.from_pandas(new))["planes.COUNT(flights)"].to_list() == [
        int((tail == tail[i]).sum()) for i in range(2)]


def test_several_pairs_between_two_tables_and_bad_relationships():
    X, tables = flights_world()
    with pytest.raises(ValueError, match="no column 'dst'"):
        FeatureGenerator().fit(X, tables=tables, relationships=RELS + [("flights.dst", "airports.faa")])
    with pytest.raises(ValueError, match="'airport'"):
        FeatureGenerator().fit(X, tables=tables, relationships=RELS + [("flights.dest", "airport.faa")])
    # the same pair twice is one path, not two
    _, out = synth(X, tables)
    from featsmith.featurize._relational import resolve_tables

    _, rels, _, _ = resolve_tables(tables, RELS + RELS[:1], {}, "flights", pl.from_pandas(X))
    assert len(rels) == len(RELS)
    assert "airports[origin].alt" in out.columns


def test_equals_featuretools_dfs_on_two_keys_to_one_parent():
    """Depth 2, per-row cutoffs, every path of a schema with two keys to one parent.

    featuretools counts a target row for itself when its own table is aggregated through a
    parent (and drops a row whose time is not before its cutoff), so the target's own rows
    are given to it as a second, time-indexed table ``past``: ``planes.MEAN(past.distance)``
    there is ``planes.MEAN(flights.distance)`` here. It leaves NUM_UNIQUE of no rows missing,
    where featsmith says 0."""
    ft = pytest.importorskip("featuretools")
    warnings.filterwarnings("ignore")
    X, tables = flights_world(n=24, m=120)  # featuretools computes each distinct cutoff apart
    es = ft.EntitySet("f")
    es.add_dataframe(dataframe_name="flights", dataframe=X, index="flight_id")
    es.add_dataframe(dataframe_name="past", dataframe=X.rename(columns={"flight_id": "pid"}), index="pid", time_index="t")
    es.add_dataframe(dataframe_name="history", dataframe=tables["history"], index="history_id", time_index="t")
    for name, key in [("airports", "faa"), ("planes", "tailnum"), ("makers", "maker")]:
        es.add_dataframe(dataframe_name=name, dataframe=tables[name], index=key)
    for child, parent in RELS + [(c.replace("flights", "past"), p) for c, p in RELS if c.startswith("flights")]:
        (ct, cc), (pt, pc) = child.split("."), parent.split(".")
        es.add_relationship(pt, pc, ct, cc)
    prims = ["count", "sum", "mean", "std", "min", "max", "num_unique", "mode", "first", "last", "time_since_last"]
    fm, defs = ft.dfs(entityset=es, target_dataframe_name="flights", agg_primitives=prims, trans_primitives=[],
                      max_depth=2, cutoff_time=pd.DataFrame({"flight_id": X["flight_id"], "time": X["t"]}),
                      include_cutoff_time=False, cutoff_time_in_index=False)
    fm = fm.loc[X["flight_id"]]
    _, out = synth(X, tables, cutoff=pl.Series(X["t"]).cast(pl.Datetime("us")),
                   time_index={"history": "t", "flights": "t"})
    out = out.rename({c: c.replace("(flights", "(past") for c in out.columns})
    theirs = {d.get_name() for d in defs}
    assert set(out.columns) <= theirs  # every feature made here is one of featuretools'
    # featuretools' others: its own-table aggregations counting the row itself, and FIRST /
    # LAST of a table's identifier (featsmith aggregates no identifier)
    others = theirs - set(out.columns) - set(X.columns)
    assert all("(flights" in n or n.endswith((".pid)", ".history_id)")) for n in others), others
    assert len(out.columns) >= 110
    for c in out.columns:
        ours, ref = out[c], fm[c]
        if ours.dtype.is_numeric() and pd.api.types.is_numeric_dtype(ref):
            ref = ref.astype(float).fillna(0) if "NUM_UNIQUE" in c else ref
            np.testing.assert_allclose(ours.cast(pl.Float64).to_numpy(), np.asarray(ref, float), rtol=1e-6,
                                       equal_nan=True, err_msg=c)
        else:
            want = [None if pd.isna(v) else str(v) for v in ref]
            assert ours.cast(pl.String).to_list() == want, c


def _assert_float32_of(got, want):
    """``got`` (dtype="float32") holds ``want``'s values (the default dtypes) rounded to float32,
    every numeric column as Float32 and the others unchanged."""
    assert got.columns == want.columns
    numeric = [c for c, t in want.schema.items() if t.is_numeric()]
    assert numeric and {got.schema[c] for c in numeric} == {pl.Float32}
    assert {c: t for c, t in got.schema.items() if c not in numeric} == {
        c: t for c, t in want.schema.items() if c not in numeric}
    assert any(want.schema[c].is_integer() for c in numeric)  # counts are cast too
    a = got.select(numeric).to_numpy().astype(np.float64)
    b = want.select(numeric).to_numpy().astype(np.float64)
    np.testing.assert_array_equal(np.isnan(a), np.isnan(b))
    np.testing.assert_array_equal(a, b.astype(np.float32).astype(np.float64))  # float32's rounding, no more
    assert got.drop(numeric).equals(want.drop(numeric))


@pytest.mark.parametrize("scenario", ["no cutoff", "per-row cutoff", "no time"])
def test_float32_output_equals_the_float64_output_rounded(scenario):
    X, tables = flights_world()
    kw = {}
    if scenario == "per-row cutoff":
        kw = dict(cutoff=pl.Series(X["t"] + pd.Timedelta(minutes=30)).cast(pl.Datetime("us")),
                  time_index={"history": "t", "flights": "t"})
    elif scenario == "no time":  # X's own rows left out one at a time, the history unordered
        X, kw = X.drop(columns="t"), dict(time_index={})
    rs64, want = synth(X, tables, **kw)
    rs32, got = synth(X, tables, dtype="float32", **kw)
    assert {"airports[dest].alt", "airports[origin].MEAN(history[dest].delay)", "planes.COUNT(flights)",
            "planes.makers.founded"} <= set(got.columns)
    _assert_float32_of(got, want)
    # new rows: from the stored lookups, and recomputed from the tables
    Xp = pl.from_pandas(X)
    _assert_float32_of(rs32.transform(Xp), rs64.transform(Xp))
    _assert_float32_of(rs32.transform(Xp, tables), rs64.transform(Xp, tables))
    # the dtype survives subset and the JSON round trip
    names = got.columns[:40]
    assert set(rs32.subset(names).transform(Xp).select(pl.selectors.numeric()).dtypes) == {pl.Float32}
    back = RelationalSynth.from_dict(rs32.to_dict())
    assert back.dtype == "float32" and back.transform(Xp).equals(rs32.transform(Xp))


def test_float32_output_of_nested_aggregations_and_a_bad_dtype():
    customers = pl.DataFrame({"cid": [1, 2, 3]})
    sessions = pl.DataFrame({"sid": [1, 2, 3], "cid": [1, 1, 2], "pages": [3, 5, 4]})
    tx = pl.DataFrame({"tid": range(5), "sid": [1, 1, 2, 3, 3], "amount": [0.1, 2.0, 3.0, 4.0, 6.0]})
    rels = [("sessions", "cid", "customers", "cid"), ("tx", "sid", "sessions", "sid")]
    tables = {"sessions": sessions, "tx": tx}
    want = RelationalSynth("customers", rels, {}).fit(customers, tables, None)
    got = RelationalSynth("customers", rels, {}, dtype=np.float32).fit(customers, tables, None)
    assert "MEAN(sessions.SUM(tx.amount))" in got.columns
    _assert_float32_of(got, want)
    assert got["COUNT(sessions)"].to_list() == [2.0, 1.0, 0.0]
    same = RelationalSynth("customers", rels, {}, dtype="float64").fit(customers, tables, None)
    assert set(same.dtypes) == {pl.Float64}
    np.testing.assert_array_equal(same.to_numpy(), want.to_numpy().astype(np.float64))
    for bad in ("float16", "int32", "double precision", pl.Float32, True):
        with pytest.raises(ValueError, match="dtype must be None, 'float32' or 'float64'"):
            RelationalSynth("customers", rels, {}, dtype=bad)
