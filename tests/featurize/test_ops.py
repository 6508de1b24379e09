import numpy as np
import pandas as pd
import polars as pl
import pytest

from featsmith.featurize._ops import OPS, group_rank_sketch, group_stat_tables, target_stats


def apply(op, values, state=None):
    return OPS[op].apply(values, state or {})


def test_signed_unary_keep_sign_and_are_finite():
    x = np.array([-4.0, 0.0, 4.0, np.nan])
    np.testing.assert_allclose(apply("log1p", [x])[:3], [-np.log(5), 0, np.log(5)])
    np.testing.assert_allclose(apply("sqrt", [x])[:3], [-2, 0, 2])
    assert np.isnan(apply("recip", [x])[1]) and apply("recip", [x])[2] == 0.25
    assert np.isnan(apply("div", [x, np.array([1.0, 0.0, 2.0, 1.0])])[1])


def test_rank_and_qbin_use_training_quantiles():
    rng = np.random.default_rng(0)
    train = rng.normal(size=2000)
    rank_state = OPS["rank"].fit([train], [None], {})
    r = apply("rank", [np.array([-10.0, 0.0, 10.0, np.nan])], rank_state)
    assert r[0] == 0.0 and r[2] == 1.0 and abs(r[1] - 0.5) < 0.03 and np.isnan(r[3])
    bins = apply("qbin", [train], OPS["qbin"].fit([train], [None], {}))
    assert set(np.unique(bins)) == set(range(10))


def test_datetime_parts_match_polars():
    ts = pl.Series("t", pd.date_range("1999-12-30", periods=500, freq="37h")).cast(pl.Datetime("us"))
    sec = (ts.dt.epoch("us") / 1e6).to_numpy().astype(float)
    expected = {
        "dt_year": ts.dt.year(), "dt_month": ts.dt.month(), "dt_day": ts.dt.day(),
        "dt_dayofweek": ts.dt.weekday() - 1, "dt_hour": ts.dt.hour(), "dt_dayofyear": ts.dt.ordinal_day(),
    }
    for op, exp in expected.items():
        np.testing.assert_array_equal(apply(op, [sec]), exp.cast(pl.Float64).to_numpy(), err_msg=op)
    assert np.isnan(apply("dt_month", [np.array([np.nan])])[0])


def test_group_statistics_match_pandas():
    rng = np.random.default_rng(1)
    k = rng.integers(0, 4, 300).astype(np.int32)
    x = rng.normal(size=300)
    x[::7] = np.nan
    stats = {"mean", "std", "min", "max", "median", "count", "nunique"}
    tables = group_stat_tables(k, 5, {"x": (x, stats)})["x"]
    ref = pd.DataFrame({"k": k, "x": x}).groupby("k")["x"].agg(["mean", "std", "min", "max", "median", "count", "nunique"])
    for stat in ref.columns:
        np.testing.assert_allclose(tables[stat][:4], ref[stat].to_numpy(), err_msg=stat)
        assert np.isnan(tables[stat][5])  # the unknown slot
    sketch = group_rank_sketch(k, 5, x)
    ranks = OPS["gb_rank"].apply([x, k], {"sketch": sketch})
    ok = ~np.isnan(x)
    assert ranks[ok].min() >= 0 and ranks[ok].max() <= 1
    # within a group the rank is monotone in x
    g = (k == 0) & ok
    order = np.argsort(x[g])
    assert np.all(np.diff(ranks[g][order]) >= 0)


def test_combine_and_frequency_handle_unknown_codes():
    a = np.array([0, 0, 1, 2], dtype=np.int32)  # card 2: code 2 is unknown
    b = np.array([0, 1, 1, 1], dtype=np.int32)
    state = OPS["combine"].fit([a[:3], b[:3]], [2, 2], {})
    codes = apply("combine", [a, b], state)
    assert len(set(codes[:3])) == 3 and codes[3] == len(state["sorted"])
    freq = OPS["freq"].fit([a[:3]], [2], {})
    np.testing.assert_allclose(apply("freq", [a], freq), [2 / 3, 2 / 3, 1 / 3, 0.0])


def test_target_stats_smooth_towards_prior():
    codes = np.array([0, 0, 1], dtype=np.int32)
    y = np.array([1.0, 1.0, 0.0])
    table = target_stats(codes, 2, y, smoothing=1.0)
    prior = 2 / 3
    np.testing.assert_allclose(table, [(2 + prior) / 3, prior / 2, prior])


@pytest.mark.parametrize("op", sorted(OPS))
def test_every_operator_has_a_readable_name(op):
    names = ["a", "b", "c"][: max(1, len(OPS[op].inputs))]
    assert OPS[op].label(names) and OPS[op].formula(names)


def test_oof_target_tables_equal_refits_without_each_fold():
    from featsmith.featurize._ops import oof_target_tables

    rng = np.random.default_rng(0)
    codes = rng.integers(0, 6, 200).astype(np.int32)
    y = rng.normal(size=200)
    folds = rng.permutation(200) % 4
    got = oof_target_tables(codes, 6, y, folds, 4, smoothing=3.0)
    for f in range(4):
        keep = folds != f
        np.testing.assert_allclose(got[f], target_stats(codes[keep], 6, y[keep], 3.0))
