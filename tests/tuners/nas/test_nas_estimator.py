"""NASHeadClassifier / NASHeadRegressor: inputs, bad inputs, budgets, reproducibility."""

import numpy as np
import pandas as pd
import polars as pl
import pytest
import torch

from featsmith.tuners.nas import Architecture, NASHeadClassifier, NASHeadRegressor, TabularHeadSpace

torch.set_num_threads(1)
FAST = dict(time_budget=None, max_candidates=2, max_epochs=8, random_state=0)


def _table(n=300, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 3))
    city = rng.integers(0, 5, size=n)
    logit = 2 * x[:, 0] - x[:, 1] ** 2 + np.where(city == 2, 2.0, -0.5)
    y = (logit + 0.3 * rng.normal(size=n) > 0).astype(int)
    X = pd.DataFrame({"a": x[:, 0], "b": x[:, 1], "c": x[:, 2], "city": city})
    return X, y


def test_learns_a_nonlinear_rule_with_a_categorical_embedding():
    X, y = _table(600)
    clf = NASHeadClassifier(time_budget=None, max_candidates=3, max_epochs=30, categorical_features=["city"],
                            random_state=0).fit(X.iloc[:450], y[:450])
    assert clf.categorical_features_ == [3]
    assert clf.score(X.iloc[450:], y[450:]) > 0.85
    proba = clf.predict_proba(X.iloc[450:])
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    assert isinstance(clf.best_architecture_, Architecture) and "embedding_dim" in clf.best_architecture_
    hist = clf.search_history_
    assert list(hist.columns[:4]) == ["candidate", "round", "status", "val_loss"]
    assert hist["best"].sum() == 1 and len(hist) == 3


def test_pandas_polars_and_numpy_inputs_agree():
    X, y = _table()
    preds = []
    for data, cats in [(X, ["city"]), (pl.from_pandas(X), ["city"]), (X.to_numpy(), [3])]:
        clf = NASHeadClassifier(categorical_features=cats, **FAST).fit(data, y)
        preds.append(clf.predict_proba(data))
    np.testing.assert_allclose(preds[0], preds[1])
    np.testing.assert_allclose(preds[0], preds[2])


def test_missing_and_infinite_values_are_imputed_and_unseen_categories_accepted():
    X, y = _table()
    X = X.copy()
    X.loc[::7, "a"] = np.nan
    X.loc[::11, "b"] = np.inf
    X.loc[::13, "city"] = np.nan
    clf = NASHeadClassifier(categorical_features=["city"], **FAST).fit(X, y)
    # one missing indicator per numeric column that had missing values in training
    assert clf.preprocessor_.n_numeric == 3 + 2
    new = X.head(4).copy()
    new["city"] = [99, -1, np.nan, 2]
    new.loc[new.index[0], "c"] = -np.inf
    p = clf.predict_proba(new)
    assert np.isfinite(p).all()
    # an unseen city and a missing city share the "unknown" embedding
    same = new.copy()
    same["city"] = [np.nan, np.nan, np.nan, 2]
    np.testing.assert_allclose(clf.predict_proba(same), p)


def test_single_class_is_a_clear_error():
    X, _ = _table(50)
    with pytest.raises(ValueError, match="only 1 class"):
        NASHeadClassifier(**FAST).fit(X, np.zeros(50))


def test_bad_categorical_features_are_named():
    X, y = _table(60)
    with pytest.raises(ValueError, match="'town'.*not a column"):
        NASHeadClassifier(categorical_features=["town"], **FAST).fit(X, y)
    with pytest.raises(ValueError, match="index 9 is out of range"):
        NASHeadClassifier(categorical_features=[9], **FAST).fit(X, y)
    with pytest.raises(ValueError, match="no column names"):
        NASHeadClassifier(categorical_features=["city"], **FAST).fit(X.to_numpy(), y)


def test_text_columns_are_a_clear_type_error():
    X, y = _table(60)
    X = X.assign(city=X["city"].map(lambda v: f"c{v}"))
    with pytest.raises(TypeError, match=r"non-numeric columns \['city'\].*categorical_features"):
        NASHeadClassifier(**FAST).fit(X, y)


def test_a_budget_too_small_still_returns_the_default_architecture():
    X, y = _table(200)
    clf = NASHeadClassifier(time_budget=1e-6, max_epochs=50, random_state=0).fit(X, y)
    hist = clf.search_history_
    assert hist["round"].max() == 0
    assert (hist["epochs"] == 1).all()
    prep = clf.preprocessor_
    default = TabularHeadSpace.search_space(prep.n_numeric, prep.cardinalities_, 1).default()
    assert hist.loc[0, "architecture"] == default
    assert np.isfinite(clf.predict_proba(X)).all()


def test_unbounded_search_is_rejected():
    X, y = _table(60)
    with pytest.raises(ValueError, match="time_budget and max_candidates are both None"):
        NASHeadClassifier(time_budget=None, max_candidates=None).fit(X, y)


def test_same_random_state_same_model():
    X, y = _table(200)
    a = NASHeadRegressor(**FAST).fit(X, y.astype(float) + X["a"])
    b = NASHeadRegressor(**FAST).fit(X, y.astype(float) + X["a"])
    np.testing.assert_array_equal(a.predict(X), b.predict(X))
    assert a.best_architecture_ == b.best_architecture_


def test_torch_threads_and_default_dtype_are_left_as_found():
    X, y = _table(100)
    before_threads, before_dtype = torch.get_num_threads(), torch.get_default_dtype()
    clf = NASHeadClassifier(n_jobs=2, **FAST).fit(X, y)
    clf.predict(X)
    assert torch.get_num_threads() == before_threads
    assert torch.get_default_dtype() == before_dtype


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the error raised without a GPU")
def test_cuda_without_a_gpu_is_a_clear_error():
    X, y = _table(60)
    with pytest.raises(ValueError, match="no CUDA device"):
        NASHeadClassifier(device="cuda", **FAST).fit(X, y)


def test_regressor_fits_a_smooth_function_on_the_original_scale():
    rng = np.random.default_rng(0)
    X = rng.uniform(-2, 2, size=(500, 2))
    y = 1000 + 300 * np.sin(X[:, 0]) + 100 * X[:, 1]
    reg = NASHeadRegressor(time_budget=None, max_candidates=2, max_epochs=40, random_state=0).fit(X[:400], y[:400])
    assert reg.score(X[400:], y[400:]) > 0.9
    assert abs(reg.predict(X[400:]).mean() - y[400:].mean()) < 50


@pytest.mark.parametrize("strategy", ["random", "tpe", "oneshot"])
def test_every_strategy_runs_through_the_estimator(strategy):
    X, y = _table(150)
    clf = NASHeadClassifier(strategy=strategy, time_budget=None, max_candidates=4, max_epochs=3,
                            random_state=0).fit(X, y)
    assert clf.predict(X).shape == (150,)
    assert len(clf.search_history_) >= 4
