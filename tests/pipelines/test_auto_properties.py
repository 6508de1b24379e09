"""Property tests: AutoPipeline at a tiny budget over generated messy tables
(tests/frame_strategies.py). Fits are the expensive part, so these draw fit_examples() tables."""

import io

import joblib
import numpy as np
import pandas as pd
import pytest
from frame_strategies import (
    assert_probabilities,
    drift_column,
    fit_examples,
    outcome,
    reorder_with_extra,
    tables,
    with_unseen_categories,
)
from hypothesis import given, settings
from hypothesis import strategies as st

from featsmith import AutoPipeline


def _tiny(**params):
    return AutoPipeline(time_budget=1.5, random_state=0, n_jobs=1, verbose=0, **params)


@settings(max_examples=fit_examples(5))
@given(table=tables(min_rows=2, max_rows=40), seed=st.integers(0, 3))
def test_fit_predict_properties(table, seed):
    X = table.frame()
    model, error = outcome(lambda: _tiny().fit(X, table.y), table)
    if error is not None:
        return
    pred = model.predict(X)
    assert len(pred) == table.n_rows
    if model.task_ == "regression":
        assert np.isfinite(pred).all()
    else:
        assert set(np.unique(pred)) <= set(model.classes_)
        assert model.classes_.tolist() == sorted(set(table.y.tolist()))
        proba = model.predict_proba(X)
        assert_probabilities(proba, table.n_rows, model.classes_)
        # Columns follow classes_: the label predict gives has the highest probability (a tie:
        # the first), or (a tuned binary threshold) classes_[1] where its probability reaches it.
        if model.task_ == "multiclass" or model.decision_threshold_ == 0.5:
            assert (model.classes_[proba.argmax(axis=1)] == pred).all()
        else:
            assert (model.classes_[(proba[:, 1] >= model.decision_threshold_).astype(int)] == pred).all()
    # One row alone: the same prediction (to rounding: a batch of one sums in another order).
    if model.task_ == "regression":
        np.testing.assert_allclose(model.predict(table.frame(rows=[0])), pred[:1], rtol=1e-9)
    else:
        np.testing.assert_allclose(model.predict_proba(table.frame(rows=[0])), proba[:1], rtol=1e-9, atol=1e-12)
    # Extra and reordered columns are fine (matched by name); unseen categories are missing.
    assert np.array_equal(model.predict(reorder_with_extra(X)), pred)
    unseen = with_unseen_categories(table)
    assert len(model.predict(unseen.frame())) == table.n_rows
    # A joblib round trip gives identical predictions.
    buffer = io.BytesIO()
    joblib.dump(model, buffer)
    buffer.seek(0)
    assert np.array_equal(joblib.load(buffer).predict(X), pred)
    # A column whose type drifts is read as its fit-time type, or is a ValueError naming it.
    drifted = drift_column(table, np.random.default_rng(seed))
    if drifted is not None:
        name, new = drifted
        out, error = outcome(lambda: model.predict(new.frame()), new)
        if error is not None:
            assert isinstance(error, ValueError) and repr(name) in str(error)
        else:
            assert len(out) == table.n_rows


@settings(max_examples=fit_examples(15))
@given(table=tables(min_rows=12, max_rows=30, max_columns=3), seed=st.integers(0, 2**16))
def test_same_random_state_same_predictions(table, seed):
    # README: max_trials (with a generous budget) and n_jobs=1 give identical runs.
    X = table.frame()
    make = lambda: AutoPipeline(  # noqa: E731
        time_budget=60, max_trials=2, random_state=seed, n_jobs=1, verbose=0
    ).fit(X, table.y)
    first, error = outcome(make, table)
    if error is not None:
        return
    second = make()
    assert np.array_equal(first.predict(X), second.predict(X))
    if first.task_ != "regression":
        assert np.array_equal(first.predict_proba(X), second.predict_proba(X))


# -- regression tests for what the properties found --------------------------------------------

@pytest.mark.parametrize("y", [["no", "yes"], [1.0, 2.5]])
def test_two_row_table_fits(y):
    # Was LightGBMError "num_data > 0": a known-good configuration bags 80% of the rows, and
    # 80% of a fold's one training row is none.
    model = _tiny().fit(pd.DataFrame({"a": [1.0, 2.0]}), y)
    assert len(model.predict(pd.DataFrame({"a": [1.0, 3.0, 5.0]}))) == 3
