"""Bad input gets a clear error naming the column and the fix, or sensible handling."""

import numpy as np
import pandas as pd
import polars as pl
import pyarrow as pa
import pytest

from featsmith import AutoPipeline


def fast(**kw):
    return AutoPipeline(time_budget=30, max_trials=1, random_state=0, n_jobs=1, verbose=0, **kw)


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    X = pd.DataFrame(
        {"x": rng.normal(size=200), "c": rng.choice(["a", "b", "c"], 200), "z": rng.normal(size=200)}
    )
    y = (X["x"] + (X["c"] == "a") > 0.3).astype(int).to_numpy()
    return X, y


@pytest.fixture(scope="module")
def model(data):
    X, y = data
    return fast().fit(X, y)


def test_empty_frame():
    with pytest.raises(ValueError, match="0 sample"):
        fast().fit(pd.DataFrame({"a": []}), [])
    with pytest.raises(ValueError, match="0 feature"):
        fast().fit(pd.DataFrame(index=range(5)), [0, 1, 0, 1, 0])


def test_length_mismatch(data):
    X, y = data
    with pytest.raises(ValueError, match="X has 200 rows but y has 199 values"):
        fast().fit(X, y[:-1])


def test_nan_and_inf_in_y(data):
    X, _ = data
    y = np.ones(200)
    y[[3, 7]] = np.nan
    with pytest.raises(ValueError, match="y contains NaN in 2 of 200 rows"):
        fast().fit(X, y)
    y[[3, 7]] = np.inf
    with pytest.raises(ValueError, match="infinity"):
        fast().fit(X, y)
    y_obj = np.array(["a", None] * 100, dtype=object)
    with pytest.raises(ValueError, match="NaN/None in 100"):
        fast().fit(X, y_obj)


def test_one_class_target(data):
    X, _ = data
    with pytest.raises(ValueError, match="single class"):
        fast(task="classification").fit(X, np.array(["yes"] * 200))


def test_missing_target_column(data):
    X, _ = data
    with pytest.raises(ValueError, match="Target column 'label' is not in X"):
        fast().fit(X, "label")


def test_all_nan_and_constant_columns_are_dropped(data):
    X, y = data
    model = fast().fit(X.assign(all_nan=np.nan, const="k"), y)
    assert model.encoder_.schema_["all_nan"] == "drop"
    assert model.encoder_.schema_["const"] == "drop"
    with pytest.raises(ValueError, match="No usable feature"):
        fast().fit(pd.DataFrame({"a": [np.nan] * 10, "b": [1] * 10}), [0, 1] * 5)


def test_inf_values_are_treated_as_missing(data, caplog):
    X, y = data
    Xi = X.copy()
    Xi.loc[:20, "x"] = np.inf
    Xi.loc[21:30, "x"] = -np.inf
    with caplog.at_level("WARNING", logger="featsmith"):
        model = fast().fit(Xi, y)
    assert "infinite" in caplog.text and "'x'" in caplog.text
    proba = model.predict_proba(Xi)
    assert np.isfinite(proba).all()
    # inf at predict time behaves exactly like a missing value
    np.testing.assert_allclose(
        model.predict_proba(Xi.iloc[:5]), model.predict_proba(Xi.iloc[:5].assign(x=np.nan))
    )


def test_duplicate_column_names(data):
    X, y = data
    dup = pd.concat([X, X[["x"]]], axis=1)
    with pytest.raises(ValueError, match=r"duplicate column names \['x'\]"):
        fast().fit(dup, y)
    table = pa.Table.from_arrays([pa.array([1.0, 2.0]), pa.array([3.0, 4.0])], names=["a", "a"])
    with pytest.raises(ValueError, match="duplicate column names"):
        fast().fit(table, [0, 1])


def test_unseen_categories_at_predict(model, data):
    X, _ = data
    new = X.head(5).assign(c=["zzz", "a", None, "qqq", "b"])
    proba = model.predict_proba(new)
    assert proba.shape == (5, 2) and np.isfinite(proba).all()


def test_reordered_and_extra_columns_at_predict(model, data):
    X, _ = data
    expected = model.predict_proba(X)
    shuffled = X[["z", "c", "x"]].assign(extra=1.0)
    np.testing.assert_array_equal(model.predict_proba(shuffled), expected)
    np.testing.assert_array_equal(model.predict_proba(pl.from_pandas(shuffled)), expected)


def test_missing_columns_at_predict(model, data):
    X, _ = data
    with pytest.raises(ValueError, match=r"missing column\(s\) \['c'\]"):
        model.predict(X.drop(columns="c"))


def test_dtype_drift_at_predict(model, data):
    X, _ = data
    expected = model.predict_proba(X)
    as_category = X.assign(c=X["c"].astype("category"))
    np.testing.assert_array_equal(model.predict_proba(as_category), expected)
    # float32 rounding may move a value across a split threshold, nothing more
    as_float32 = X.assign(x=X["x"].astype("float32"))
    assert np.abs(model.predict_proba(as_float32) - expected).mean() < 0.01
    as_text = X.assign(z=X["z"].astype(str))  # numbers arriving as strings are parsed
    np.testing.assert_allclose(model.predict_proba(as_text), expected)


def test_wrong_types():
    with pytest.raises(TypeError, match="X must be"):
        fast().fit("not a table", [1, 2])
    with pytest.raises(ValueError, match="time_budget"):
        AutoPipeline(time_budget=-1).fit(pd.DataFrame({"a": [1, 2]}), [0, 1])
    with pytest.raises(ValueError, match="task="):
        AutoPipeline(task="ranking").fit(pd.DataFrame({"a": [1, 2]}), [0, 1])
    import scipy.sparse as sp

    with pytest.raises(TypeError, match="sparse"):
        fast().fit(sp.csr_matrix(np.eye(3)), [0, 1, 0])


def test_unfitted_predict_raises():
    from sklearn.exceptions import NotFittedError

    with pytest.raises(NotFittedError):
        fast().predict(pd.DataFrame({"a": [1.0]}))


# -- messy columns: mixed object columns, and columns whose type changes after fit ---------------
def small():
    return AutoPipeline(time_budget=5, max_trials=2, random_state=0, n_jobs=1, verbose=0)


@pytest.fixture(scope="module")
def messy():
    """``m`` mixes numbers, strings and None (what read_csv gives for a messy column)."""
    rng = np.random.default_rng(1)
    n = 240
    m = pd.Series(rng.choice(np.array([1, "x", None, 2.5, "3"], dtype=object), n), dtype=object)
    X = pd.DataFrame({"x": rng.normal(size=n), "m": m, "day": pd.date_range("2021-01-01", periods=n, freq="D")})
    y = ((X["x"] > 0) ^ (X["m"] == "x")).astype(int).to_numpy()
    return X, y


@pytest.fixture(scope="module")
def messy_model(messy):
    X, y = messy
    return small().fit(X, y)


def test_mixed_object_column_at_fit_and_predict(messy, messy_model):
    X, y = messy
    assert messy_model.encoder_.schema_["m"] == "categorical"
    assert messy_model.score(X, y) > 0.8  # the column is used: y depends on m == "x"
    unseen = X.head(5).assign(m=pd.Series([3.0, "new", None, b"x", True], dtype=object))
    proba = messy_model.predict_proba(unseen)
    assert proba.shape == (5, 2) and np.isfinite(proba).all()
    # 3.0 and "3" are one category, as are b"x" and "x"
    same = X.head(5).assign(m=pd.Series(["3", "new", None, "x", "true"], dtype=object))
    np.testing.assert_allclose(messy_model.predict_proba(same), proba)


@pytest.mark.parametrize("kind", ["polars", "numpy"])
def test_mixed_object_column_from_polars_and_numpy(messy, kind):
    X, y = messy
    if kind == "polars":
        data = pl.from_pandas(X.drop(columns="m")).with_columns(pl.Series("m", X["m"].tolist(), dtype=pl.Object))
        new = data.head(3).with_columns(pl.Series("m", [2.5, "zzz", None], dtype=pl.Object))
    else:
        data = X.to_numpy(dtype=object)
        new = data[:3].copy()
        new[:, 1] = [2.5, "zzz", None]
    model = small().fit(data, y)
    assert "categorical" in model.encoder_.schema_.values()
    assert np.isfinite(model.predict_proba(new)).all()


def test_drift_numbers_at_fit_strings_at_predict(messy, messy_model, caplog):
    X, _ = messy
    rows = X.head(6)
    expected = messy_model.predict_proba(rows)
    np.testing.assert_allclose(messy_model.predict_proba(rows.assign(x=rows["x"].astype(str))), expected)
    with caplog.at_level("WARNING", logger="featsmith"):
        proba = messy_model.predict_proba(rows.assign(x=["0.5", "n/a!", "-1", None, "2", "?"]))
    assert np.isfinite(proba).all()
    drift = [r.getMessage() for r in caplog.records if "holds strings now" in r.getMessage()]
    assert len(drift) == 1 and "Column 'x' held numbers at fit" in drift[0] and "2 of 6" in drift[0]


def test_drift_strings_at_fit_numbers_at_predict(messy, messy_model):
    X, _ = messy
    rows = X.head(6)
    as_numbers = rows.assign(m=pd.Series([1, 2.5, 3, None, 3.0, 1.0]))  # float64 column
    as_spelled = rows.assign(m=pd.Series(["1", "2.5", "3", None, "3", "1"], dtype=object))
    np.testing.assert_allclose(messy_model.predict_proba(as_numbers), messy_model.predict_proba(as_spelled))
    np.testing.assert_allclose(
        messy_model.predict_proba(pl.from_pandas(as_numbers)), messy_model.predict_proba(as_spelled)
    )


def test_drift_datetimes_at_fit_strings_at_predict(messy, messy_model):
    X, _ = messy
    rows = X.head(6)
    as_text = rows.assign(day=rows["day"].dt.strftime("%Y-%m-%d"))
    np.testing.assert_allclose(messy_model.predict_proba(as_text), messy_model.predict_proba(rows))
    junk = rows.assign(day=["someday"] * 6)  # nothing parses: missing dates, not a polars error
    assert np.isfinite(messy_model.predict_proba(junk)).all()


@pytest.mark.parametrize(
    "column, values, match",
    [
        ("x", pd.date_range("2021-01-01", periods=6), r"Column 'x' of X held numbers at fit \(typed numeric\) but holds Datetime"),
        ("day", np.arange(6), r"Column 'day' of X held datetimes at fit \(typed datetime\) but holds Int64"),
        ("m", pd.Series([[1], [2], None, [3], [4], [5]], dtype=object), r"Column 'm' of X held strings at fit"),
    ],
)
def test_drift_a_column_cannot_read_is_a_clear_error(messy, messy_model, column, values, match):
    X, _ = messy
    with pytest.raises(ValueError, match=match) as err:
        messy_model.predict(X.head(6).assign(**{column: values}))
    assert "as at fit, or refit" in str(err.value)
    with pytest.raises(TypeError, match=r"Column 'm' mixes nested values \(list\) with scalars"):
        messy_model.predict(X.head(2).assign(m=pd.Series([[1], "x"], dtype=object)))
