import warnings

import numpy as np
import pandas as pd
import polars as pl
import pytest

from featsmith.featurize import FeatureGenerator, RelationalSynth
from featsmith.featurize._relational import resolve_tables

RELS = [("ratings.user", "users.user"), ("history.user", "users.user"), ("history.item", "items.item"),
        ("ratings.item", "items.item")]


def small_world():
    ratings = pd.DataFrame({
        "rid": [1, 2, 3, 4],
        "user": ["a", "a", "b", "c"],
        "item": [10, 11, 10, 12],
        "t": pd.to_datetime(["2020-01-05", "2020-01-10", "2020-01-03", "2020-01-07"]),
    })
    history = pd.DataFrame({
        "hid": range(7),
        "user": ["a", "a", "a", "b", "b", "zz", "a"],  # "zz" is an orphan (no such user)
        "item": [10, 11, 12, 10, 12, 10, 10],
        "score": [1.0, 2.0, 6.0, 4.0, np.nan, 9.0, 3.0],
        "t": pd.to_datetime(["2020-01-01", "2020-01-04", "2020-01-05", "2020-01-02", "2020-01-02",
                             "2020-01-01", "2020-01-09"]),
    })
    users = pd.DataFrame({"user": ["a", "b", "c"], "age": [30.0, 40.0, 50.0]})
    items = pd.DataFrame({"item": [10, 11, 12], "kind": ["x", "y", "x"]})
    return ratings, {"history": history, "users": users, "items": items}


def test_parent_history_aggregates_respect_cutoff():
    X, tables = small_world()
    gen = FeatureGenerator(max_candidates=200, random_state=0).fit(
        X, tables=tables, relationships=RELS, time_index={"history": "t", "ratings": "t"}, cutoff_time="t")
    rel = set(gen.relational_.output_names)
    assert {"users.age", "items.kind", "users.MEAN(history.score)", "items.COUNT(history)",
            "users.TIME_SINCE_LAST(history.t)"} <= rel
    src = gen.candidate_source()
    got = dict(zip(src.names, src.evaluate(src.names).T))
    # row 1: user a, cutoff 01-05 -> history of a strictly before: 01-01 (1.0), 01-04 (2.0)
    # row 2: user a, cutoff 01-10 -> 1, 2, 6, 3 ; row 3: user b, cutoff 01-03 -> 4, nan ; row 4: c -> none
    np.testing.assert_allclose(got["users.MEAN(history.score)"], [1.5, 3.0, 4.0, np.nan])
    np.testing.assert_allclose(got["users.COUNT(history)"], [2, 4, 2, 0])
    np.testing.assert_allclose(got["users.SUM(history.score)"], [3, 12, 4, 0])
    np.testing.assert_allclose(got["users.STD(history.score)"], [np.std([1, 2], ddof=1), np.std([1, 2, 6, 3], ddof=1), np.nan, np.nan])
    np.testing.assert_allclose(got["users.LAST(history.score)"], [2, 3, np.nan, np.nan])
    np.testing.assert_allclose(got["users.TIME_SINCE_LAST(history.t)"], [86400, 86400, 86400, np.nan])
    # item 10 history: 01-01 (a; and zz, an orphan user, still counts for the item), 01-02, 01-09
    np.testing.assert_allclose(got["items.COUNT(history)"], [3, 1, 3, 2])
    assert "users.age" in got and got["users.age"].tolist() == [30, 30, 40, 50]


def test_lookups_without_tables_equal_recompute_without_cutoff():
    X, tables = small_world()
    gen = FeatureGenerator(max_candidates=200, random_state=0).fit(
        X, tables=tables, relationships=RELS, time_index={"history": "t"})
    new = pd.DataFrame({"rid": [9, 8], "user": ["b", "nobody"], "item": [12, 10], "t": pd.to_datetime(["2021-01-01"] * 2)})
    # relational columns that are constant or all missing on the training rows are not candidates
    names = [n for n in gen.relational_.output_names if n in gen.candidate_names_]
    plan = gen.plan(names)
    a = plan.transform(new)
    b = plan.transform(new, tables=tables)
    np.testing.assert_allclose(a.to_numpy(), b.to_numpy(), equal_nan=True)
    assert a["users.COUNT(history)"].to_list() == [2, 0]
    from featsmith.featurize import FeaturePlan

    c = FeaturePlan.from_json(plan.to_json()).transform(new)
    np.testing.assert_array_equal(a.to_numpy(), c.to_numpy())
    assert "relational" in plan.describe()["operator"].to_list()
    # A subset keeps only the relational features it names, each computed as before.
    one = plan.subset(names[-1:])
    assert one.relational.output_names == names[-1:]
    np.testing.assert_array_equal(one.transform(new).to_numpy(), a.select(names[-1:]).to_numpy())


def test_relationship_errors_name_the_problem():
    X, tables = small_world()
    with pytest.raises(ValueError, match="'nope'"):
        FeatureGenerator(target_table="ratings").fit(X, tables=tables, relationships=[("nope.user", "users.user")])
    with pytest.raises(ValueError, match="no column 'uid'"):
        FeatureGenerator().fit(X, tables=tables, relationships=[("ratings.uid", "users.user")])
    with pytest.raises(ValueError, match="table.column"):
        FeatureGenerator().fit(X, tables=tables, relationships=[("ratings", "users.user")])
    with pytest.raises(ValueError, match="target_table"):
        FeatureGenerator().fit(X, tables={**tables, "ratings": X}, relationships=RELS)
    with pytest.raises(ValueError, match="cutoff_time"):
        FeatureGenerator().fit(X, tables=tables, relationships=RELS, cutoff_time="missing_col")


def test_grandchild_and_nested_aggregations():
    customers = pl.DataFrame({"cid": [1, 2]})
    sessions = pl.DataFrame({"sid": [1, 2, 3], "cid": [1, 1, 2]})
    tx = pl.DataFrame({"tid": range(5), "sid": [1, 1, 2, 3, 3], "amount": [1.0, 2.0, 3.0, 4.0, 6.0]})
    rels = [("sessions", "cid", "customers", "cid"), ("tx", "sid", "sessions", "sid")]
    out = RelationalSynth("customers", rels, {}).fit(customers, {"sessions": sessions, "tx": tx}, None)
    assert out["SUM(tx.amount)"].to_list() == [6.0, 10.0]
    assert out["COUNT(sessions)"].to_list() == [2, 1]
    assert out["MEAN(sessions.SUM(tx.amount))"].to_list() == [3.0, 10.0]
    assert out["MAX(sessions.COUNT(tx))"].to_list() == [2.0, 2.0]


def test_equals_featuretools_dfs_on_mock_customer():
    ft = pytest.importorskip("featuretools")
    warnings.filterwarnings("ignore")
    es = ft.demo.load_mock_customer(return_entityset=True)
    X = es["customers"][["customer_id", "join_date"]].reset_index(drop=True)
    # a different cutoff per customer, some before part of their sessions
    cutoff = pd.Timestamp("2014-01-01 02:00:00") + pd.to_timedelta(np.arange(len(X)) * 40, unit="min")
    ct = pd.DataFrame({"customer_id": X["customer_id"], "time": cutoff})
    prims = ["count", "sum", "mean", "std", "min", "max", "num_unique", "mode", "first", "last", "time_since_last"]
    fm, _ = ft.dfs(entityset=es, target_dataframe_name="customers", agg_primitives=prims, trans_primitives=[],
                   max_depth=2, cutoff_time=ct, include_cutoff_time=False, cutoff_time_in_index=False)
    fm = fm.loc[X["customer_id"]]
    gen = FeatureGenerator(random_state=0, target_table="customers")
    gen.fit(X.assign(cut=cutoff), tables=es, cutoff_time="cut")  # an EntitySet is accepted as tables
    src = gen.candidate_source()
    ours = dict(zip(src.names, src.evaluate(src.names).T))
    common = [c for c in gen.relational_.output_names if c in fm.columns]
    must = {"COUNT(sessions)", "NUM_UNIQUE(sessions.device)", "MODE(sessions.device)", "SUM(transactions.amount)",
            "MEAN(transactions.amount)", "STD(transactions.amount)", "MIN(transactions.amount)",
            "MAX(transactions.amount)", "FIRST(transactions.amount)", "LAST(transactions.amount)",
            "TIME_SINCE_LAST(transactions.transaction_time)", "MEAN(sessions.SUM(transactions.amount))",
            "STD(sessions.MEAN(transactions.amount))", "MAX(sessions.NUM_UNIQUE(transactions.product_id))"}
    assert must - {"MAX(sessions.NUM_UNIQUE(transactions.product_id))"} <= set(common)
    numeric = [c for c in common if pd.api.types.is_numeric_dtype(fm[c])]
    assert len(numeric) >= 30
    for c in numeric:
        np.testing.assert_allclose(ours[c], fm[c].astype(float), rtol=1e-6, equal_nan=True, err_msg=c)
    # categorical results (mode, first, last of device) compare as labels
    raw = gen.relational_.fit(pl.from_pandas(X), resolve_tables(es, None, None, "customers", pl.from_pandas(X))[0],
                              pl.Series(cutoff).cast(pl.Datetime("us")))
    for c in [c for c in common if c not in numeric]:
        assert raw[c].cast(pl.String).to_list() == fm[c].astype(str).tolist(), c


def test_fresh_tables_recompute_with_the_cutoff_column():
    X, tables = small_world()
    gen = FeatureGenerator(max_candidates=200, random_state=0).fit(
        X, tables=tables, relationships=RELS, time_index={"history": "t"}, cutoff_time="t")
    plan = gen.plan(["users.COUNT(history)", "users.MEAN(history.score)"])
    new = pd.DataFrame({"rid": [7, 8], "user": ["a", "a"], "item": [10, 10],
                        "t": pd.to_datetime(["2020-01-02", "2020-02-01"])})
    fresh = plan.transform(new, tables=tables)  # as of each row's t
    assert fresh["users.COUNT(history)"].to_list() == [1, 4]
    np.testing.assert_allclose(fresh["users.MEAN(history.score)"].to_numpy(), [1.0, 3.0])
    stored = plan.transform(new)  # lookups: all history of the fitted tables
    assert stored["users.COUNT(history)"].to_list() == [4, 4]
    idx = gen.candidate_names_.index("users.COUNT(history)")
    assert gen.transform(new, tables=tables)[:, idx].tolist() == [1, 4]
