import logging

import numpy as np
import pandas as pd
import polars as pl
import pytest

from featsmith._types import CandidateSource
from featsmith.featurize import FeatureGenerator


def make_data(n=400, seed=0):
    rng = np.random.default_rng(seed)
    X = pd.DataFrame({
        "x": rng.normal(size=n),
        "z": rng.exponential(size=n),
        "w": np.where(rng.random(n) < 0.1, np.nan, rng.normal(size=n)),
        "city": rng.choice(["a", "b", "c", "d"], n),
        "shop": rng.choice(["s1", "s2", "s3"], n),
        "when": pd.Timestamp("2021-01-01") + pd.to_timedelta(rng.integers(0, 10**7, n), unit="s"),
        "note": [" ".join(rng.choice(["red", "big", "old", "dog", "cat", "sun"], int(k))) for k in rng.integers(3, 9, n)],
    })
    y = 2 * X["x"] + (X["city"] == "a") + rng.normal(scale=0.1, size=n)
    return X, y


def frames(X):
    return {"pandas": X, "polars": pl.from_pandas(X)}


@pytest.fixture(scope="module")
def fitted():
    X, y = make_data()
    return X, y, FeatureGenerator(random_state=0).fit(X, y)


def test_enumerates_every_operator_family(fitted):
    X, y, gen = fitted
    names = set(gen.get_feature_names_out())
    for expected in [
        "log1p(z)", "sqrt(x)", "square(x)", "1/(x)", "abs(x)", "qbin(x)", "rank(x)",
        "(x + z)", "(x - z)", "(x * z)", "(x / z)", "min(x, z)", "max(x, z)",
        "freq(city)", "te(city)", "nunique(city) by shop", "te((city, shop))",
        "mean(x) by city", "std(x) by city", "min(x) by city", "max(x) by city", "median(x) by city",
        "count(x) by city", "nunique(x) by city", "(x - mean(x) by city)", "(x / mean(x) by city)",
        "rank(x) by city", "mean(x) by (city, shop)",
        "year(when)", "month(when)", "day(when)", "dayofweek(when)", "hour(when)", "dayofyear(when)",
        "weekend(when)", "sin_month(when)", "cos_hour(when)", "elapsed_days(when)",
        "missing(w)", "len(note)", "words(note)",
    ]:
        assert expected in names, expected


def test_deterministic_and_capped():
    X, y = make_data()
    a = FeatureGenerator(max_candidates=100, random_state=3).fit(X, y)
    b = FeatureGenerator(max_candidates=100, random_state=3).fit(X, y)
    assert a.candidate_names_ == b.candidate_names_ and len(a.candidate_names_) == 100
    np.testing.assert_array_equal(a.fit_transform(X, y), b.fit_transform(X, y))
    # the cap keeps a share of every family rather than the first one only
    names = a.candidate_names_
    assert any(n.startswith("te(") for n in names) and any(" by " in n for n in names)
    assert any(n.startswith("(x") for n in names)


def test_candidate_source_contract(fitted):
    X, y, gen = fitted
    src = gen.candidate_source()
    assert isinstance(src, CandidateSource)
    assert src.n_rows == len(X) and src.names == list(gen.candidate_names_)
    names = src.names[::7]
    rows = np.array([5, 1, 300])
    full = src.evaluate(names)
    part = src.evaluate(names, rows)
    assert part.dtype == np.float32 and part.shape == (3, len(names))
    np.testing.assert_array_equal(part, full[rows])
    with pytest.raises(KeyError, match="Unknown candidate"):
        src.evaluate(["nope"])


def test_iter_chunks_matches_transform(fitted):
    X, y, gen = fitted
    gen.set_params(chunk_size=50)
    chunks = list(gen.iter_chunks(X.head(20)))
    assert all(b.shape[1] <= 50 for _, b in chunks)
    assert [n for c, _ in chunks for n in c] == list(gen.candidate_names_)
    np.testing.assert_array_equal(np.hstack([b for _, b in chunks]), gen.transform(X.head(20)))


@pytest.mark.parametrize("kind", ["pandas", "polars"])
def test_input_kinds_agree(kind):
    X, y = make_data(200)
    ref = FeatureGenerator(max_candidates=100, random_state=0).fit(X, y).transform(X)
    Xk = frames(X)[kind]
    got = FeatureGenerator(max_candidates=100, random_state=0).fit(Xk, y).transform(Xk)
    np.testing.assert_array_equal(ref, got)


def test_numpy_input_and_no_target():
    rng = np.random.default_rng(0)
    arr = rng.normal(size=(100, 3))
    gen = FeatureGenerator(max_candidates=40).fit(arr)
    assert gen.transform(arr).shape == (100, 40)
    assert not any(n.startswith("te(") for n in gen.candidate_names_)


def test_set_output(fitted):
    X, y, _ = fitted
    gen = FeatureGenerator(max_candidates=30, random_state=0)
    out = gen.set_output(transform="pandas").fit(X, y).transform(X)
    assert isinstance(out, pd.DataFrame) and list(out.columns) == list(gen.candidate_names_)
    out = gen.set_output(transform="polars").transform(X)
    assert isinstance(out, pl.DataFrame) and out.columns == list(gen.candidate_names_)
    assert isinstance(gen.set_output(transform="default").transform(X), np.ndarray)


def test_statistics_come_from_training_rows_only(fitted):
    X, y, gen = fitted
    new = X.head(50).copy()
    new["x"] = 100.0  # a distribution shift must not move the fitted group means
    plan = gen.plan(["mean(x) by city"])
    got = plan.transform(new).to_series().to_numpy()
    expected = X.groupby("city")["x"].mean().reindex(new["city"]).to_numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-5)


def test_target_encoding_is_out_of_fold_on_noise():
    # A pure-noise id-like column with many levels: in-sample target encoding memorises y,
    # out-of-fold encoding must not.
    rng = np.random.default_rng(0)
    n = 3000
    X = pd.DataFrame({"noise": rng.integers(0, 1000, n).astype(str), "x": rng.normal(size=n)})
    y = rng.normal(size=n)
    gen = FeatureGenerator(operators=["te"], smoothing=1.0, random_state=0).fit(X, y)
    oof = gen.candidate_source().evaluate(["te(noise)"]).ravel()
    in_sample = gen.transform(X).ravel()
    assert abs(np.corrcoef(oof, y)[0, 1]) < 0.08
    assert np.corrcoef(in_sample, y)[0, 1] > 0.4  # the leak the folds remove
    # the train/validation gap of a model on the encoding stays small
    Xv = pd.DataFrame({"noise": rng.integers(0, 1000, n).astype(str), "x": rng.normal(size=n)})
    yv = rng.normal(size=n)
    val = gen.transform(Xv).ravel()
    assert abs(np.corrcoef(oof, y)[0, 1] - np.corrcoef(val, yv)[0, 1]) < 0.1


def test_multiclass_target_encoding_one_column_per_class():
    X, _ = make_data(300)
    y = np.array(["u", "v", "w"])[np.arange(300) % 3]
    gen = FeatureGenerator(operators=["te"], random_state=0).fit(X, y)
    assert {"te(city)[=u]", "te(city)[=v]", "te(city)[=w]"} <= set(gen.candidate_names_)
    block = gen.transform(X)
    shop = [i for i, n in enumerate(gen.candidate_names_) if n.startswith("te(shop)")]
    np.testing.assert_allclose(block[:, shop].sum(axis=1), 1.0, rtol=1e-5)


def test_bad_input_handling(fitted, caplog):
    X, y, gen = fitted
    with pytest.raises(ValueError, match=r"missing column\(s\) \['z'\]"):
        gen.transform(X.drop(columns="z"))
    # extra, reordered columns and dtype drift are fine
    drift = X[list(reversed(X.columns))].assign(extra=1)
    drift["city"] = drift["city"].astype("category")
    np.testing.assert_allclose(gen.transform(drift), gen.transform(X), rtol=1e-5, equal_nan=True)
    ints = pd.DataFrame({"n": np.arange(60) % 7, "c": np.arange(60) % 3})
    g_int = FeatureGenerator(max_candidates=30).fit(ints)
    floats = ints.astype({"n": float, "c": str})
    np.testing.assert_array_equal(g_int.transform(floats), g_int.transform(ints))
    # unseen categories: frequency 0, prior for target encodings
    unseen = X.head(3).assign(city="zzz")
    cols = list(gen.candidate_names_)
    out = gen.transform(unseen)
    assert np.all(out[:, cols.index("freq(city)")] == 0)
    np.testing.assert_allclose(out[:, cols.index("te(city)")], np.mean(y), rtol=1e-5)
    assert np.all(np.isnan(out[:, cols.index("mean(x) by city")]))
    # inf is missing
    assert np.isnan(gen.transform(X.head(2).assign(x=np.inf))[:, cols.index("log1p(x)")]).all()
    with pytest.raises(ValueError, match="duplicate"):
        gen.fit(pd.DataFrame([[1, 2]], columns=["a", "a"]))
    with pytest.raises(ValueError, match="X has 400 rows but y has 3 values"):
        FeatureGenerator().fit(X, y[:3])
    with pytest.raises(ValueError, match="max_candidates"):
        FeatureGenerator(max_candidates=0).fit(X, y)
    with pytest.raises(ValueError, match="Unknown operators"):
        FeatureGenerator(operators=["nope"]).fit(X, y)
    # constant and all-missing columns are skipped (and logged)
    with caplog.at_level(logging.INFO, logger="featsmith"):
        g = FeatureGenerator(max_candidates=50).fit(X.assign(k=1.0, e=np.nan), y)
    assert not any("k" in n.replace("rank", "") .split("(")[-1].strip(")") for n in g.candidate_names_ if n.endswith("(k)"))
    assert "k" not in g.coder_.kinds and "e" not in g.coder_.kinds
    assert "dropped" in caplog.text


def test_plan_json_roundtrip(fitted):
    from featsmith.featurize import FeaturePlan

    X, y, gen = fitted
    names = ["mean(x) by (city, shop)", "te(city)", "rank(x) by shop", "words(note)", "cos_month(when)", "missing(w)"]
    plan = gen.plan(names)
    again = FeaturePlan.from_json(plan.to_json())
    a, b = plan.transform(X), again.transform(X)
    assert a.columns == names
    np.testing.assert_array_equal(a.to_numpy(), b.to_numpy())
    np.testing.assert_array_equal(a.to_numpy(), gen.transform(X)[:, [gen.candidate_names_.index(n) for n in names]])
    d = plan.describe()
    assert d.columns == ["name", "operator", "inputs", "formula"] and d.height == len(names)
    assert d.filter(pl.col("name") == "te(city)")["operator"].item() == "te"
    with pytest.raises(ValueError, match="Unknown feature"):
        gen.plan(["nope"])
    with pytest.raises(ValueError, match="missing column"):
        plan.transform(X.drop(columns="shop"))


def test_plan_subset_computes_its_features_alone_and_as_the_whole_plan_does(fitted):
    X, y, gen = fitted
    names = ["mean(x) by (city, shop)", "te(city)", "rank(x) by shop", "words(note)", "cos_month(when)", "missing(w)"]
    plan = gen.plan(names)
    keep = ["missing(w)", "te(city)"]
    small = plan.subset(keep)
    assert small.names == keep and set(small.input_columns) == {"w", "city"}
    assert set(small.features) < set(plan.features) and "note" not in small.coder.kinds
    # A column only the dropped features read is no longer needed.
    np.testing.assert_array_equal(small.transform(X.drop(columns=["note", "when", "shop"])).to_numpy(),
                                  plan.transform(X).select(keep).to_numpy())
    assert plan.subset([]).transform(X).width == 0
    with pytest.raises(ValueError, match="not in this plan"):
        plan.subset(["log1p(z)"])


def test_groups_keep_target_encoding_folds_whole():
    # Rows of one group share their target: with random folds a group's other rows leak its
    # target into the encoding; with groups=, no row is encoded by its own group.
    rng = np.random.default_rng(0)
    g = np.repeat(np.arange(300), 4)
    X = pd.DataFrame({"grp": g.astype(str), "x": rng.normal(size=g.size)})
    y = rng.normal(size=300)[g]
    leaky = FeatureGenerator(operators=["te"], smoothing=1.0, random_state=0).fit(X, y)
    safe = FeatureGenerator(operators=["te"], smoothing=1.0, random_state=0).fit(X, y, groups=g)
    corr = lambda gen: np.corrcoef(gen.candidate_source().evaluate(["te(grp)"]).ravel(), y)[0, 1]
    assert corr(leaky) > 0.5 and abs(corr(safe)) < 0.1
    assert np.all(pd.Series(safe._folds).groupby(g).nunique() == 1)
    with pytest.raises(ValueError, match="groups has shape"):
        FeatureGenerator().fit(X, y, groups=g[:5])


def test_time_order_encodes_each_row_with_earlier_targets_only():
    rng = np.random.default_rng(0)
    n = 500
    X = pd.DataFrame({"city": rng.choice(list("abcd"), n), "x": rng.normal(size=n)})
    y = rng.normal(size=n)
    when = rng.permutation(n)  # rows arrive out of time order
    gen = FeatureGenerator(operators=["te"], random_state=0).fit(X, y, time_order=when)
    te = gen.candidate_source().evaluate(["te(city)"]).ravel()
    # The first period has no past: missing. Later rows do not move when the targets of
    # their period or later ones change, only when earlier ones do.
    first = gen._folds == 0
    assert np.isnan(te[first]).all() and not np.isnan(te[~first]).any()
    latest = gen._folds == gen._folds.max()
    y_changed = np.where(latest, y + 100.0, y)
    again = FeatureGenerator(operators=["te"], random_state=0).fit(X, y_changed, time_order=when)
    np.testing.assert_allclose(again.candidate_source().evaluate(["te(city)"]).ravel()[~first], te[~first])
    assert np.all(np.diff(gen._folds[np.argsort(when)]) >= 0)  # periods follow the time order
    with pytest.raises(ValueError, match="not both"):
        FeatureGenerator().fit(X, y, groups=np.arange(n) % 7, time_order=when)
