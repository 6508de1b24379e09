"""Property tests: the NAS heads on generated numeric tables with NaN, +-inf, nullable integers,
booleans, constant and all-missing columns, and 1-3 rows for some classes."""

import io
import warnings

import joblib
import numpy as np
import pandas as pd
import polars as pl
import pytest
import torch
from frame_strategies import assert_probabilities, fit_examples, outcome, tables
from hypothesis import given, settings
from hypothesis import strategies as st

from featsmith.tuners.nas import NASHeadClassifier, NASHeadRegressor

torch.set_num_threads(1)

NUMERIC = ("float", "int_nulls", "bool", "constant", "all_missing")


@settings(max_examples=fit_examples(5))
@given(table=tables(kinds=NUMERIC, min_rows=6, max_rows=40), seed=st.integers(0, 2**16))
def test_nas_head_properties(table, seed):
    X = table.frame()
    cls = NASHeadRegressor if table.task == "regression" else NASHeadClassifier
    make = lambda: cls(time_budget=None, max_candidates=2, max_epochs=3, random_state=seed).fit(X, table.y)  # noqa: E731
    model, error = outcome(make, table)
    if error is not None:
        return
    pred = model.predict(X)
    assert len(pred) == table.n_rows
    if table.task == "regression":
        assert np.isfinite(pred).all()
        first = pred
    else:
        first = model.predict_proba(X)
        assert_probabilities(first, table.n_rows, model.classes_)
        assert (model.classes_[first.argmax(axis=1)] == pred).all()
    # Same random_state, a search bounded by candidates (n_jobs=None is one torch thread):
    # identical predictions.
    again = make()
    assert np.array_equal(again.predict_proba(X) if table.task != "regression" else again.predict(X), first)
    buffer = io.BytesIO()
    joblib.dump(model, buffer)
    buffer.seek(0)
    assert np.array_equal(joblib.load(buffer).predict(X), pred)


def test_all_missing_column_fits_without_a_warning():
    # Found by the property above: an all-missing column made nanmedian warn "All-NaN slice
    # encountered" on every fit (errstate does not silence it); its median is imputed as 0.
    X = np.column_stack([np.arange(10.0), np.full(10, np.nan)])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        model = NASHeadRegressor(time_budget=None, max_candidates=1, max_epochs=2, random_state=0).fit(X, np.arange(10.0))
    assert np.isfinite(model.predict(X)).all()


def test_huge_column_is_scaled_not_zeroed():
    # Found by the property above: squaring a 1e300-scale column overflowed ("overflow
    # encountered in square"), its scale became inf and the column reached the network as zeros.
    rng = np.random.default_rng(0)
    X = rng.normal(size=(30, 2))
    X[:, 0] *= 1e300
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        model = NASHeadRegressor(time_budget=None, max_candidates=1, max_epochs=2, random_state=0).fit(X, X[:, 1])
    assert np.isfinite(model.preprocessor_.scale_).all()
    assert np.isfinite(model.predict(X)).all()


@pytest.mark.parametrize("library", ["pandas", "polars"])
def test_all_none_column_is_missing_not_non_numeric(library):
    # Found by the property: a column whose every value is None (pandas object, polars Null
    # dtype) was a TypeError "non-numeric columns"; it is all missing, imputed like any NaN.
    data = {"a": np.arange(10.0), "e": [None] * 10}
    X = pd.DataFrame({"a": data["a"], "e": pd.Series(data["e"], dtype=object)}) if library == "pandas" else pl.DataFrame(data)
    model = NASHeadClassifier(time_budget=None, max_candidates=1, max_epochs=2, random_state=0).fit(X, [0, 1] * 5)
    assert model.predict_proba(X).shape == (10, 2)
