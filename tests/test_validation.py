"""The one target check (featsmith._validation.check_target), as AutoPipeline, FeatureGenerator
and the selectors meet it."""

import numpy as np
import pandas as pd
import polars as pl
import pyarrow as pa
import pytest
from sklearn.exceptions import DataConversionWarning

from featsmith._validation import check_n_features, check_target
from featsmith.featurize import FeatureGenerator
from featsmith.selectors import GBDTSelector


@pytest.mark.parametrize(
    "y",
    [
        [1, 0, 1],
        np.array([1, 0, 1]),
        pd.Series([1, 0, 1]),
        pl.Series([1, 0, 1]),
        pa.array([1, 0, 1]),
        pd.DataFrame({"y": [1, 0, 1]}),
        np.array([1, 0, 1], dtype=object),
    ],
    ids=["list", "numpy", "pandas", "polars", "pyarrow", "one-column frame", "objects"],
)
def test_any_supported_target_becomes_a_numeric_1d_array(y):
    out = check_target(y, 3)
    assert out.ndim == 1 and out.dtype.kind == "i" and out.tolist() == [1, 0, 1]


def test_a_column_vector_is_flattened_with_a_warning():
    with pytest.warns(DataConversionWarning, match="column-vector"):
        assert check_target(np.array([[1.0], [2.0]]), 2).tolist() == [1.0, 2.0]


@pytest.mark.parametrize(
    "y, match",
    [
        (None, "This estimator requires y to be passed"),
        (np.ones((3, 2)), "y should be a 1d array"),
        (np.arange(2.0), "X has 3 rows but y has 2 values"),
        (np.array([1.0, np.nan, 2.0]), r"y contains NaN in 1 of 3 rows \(missing target values\)"),
        (np.array([1.0, np.inf, 2.0]), "infinity"),
        (np.array(["a", None, "b"], dtype=object), "NaN/None in 1 of 3 rows"),
        (np.array([1 + 1j, 2, 3]), "Complex"),
    ],
)
def test_clear_errors(y, match):
    with pytest.raises(ValueError, match=match):
        check_target(y, 3)


def test_the_estimators_raise_the_same_target_errors():
    X = np.c_[np.arange(20.0), np.arange(20) % 3]
    y = np.r_[np.arange(19.0), np.nan]
    for estimator in (FeatureGenerator(max_candidates=5), GBDTSelector()):
        with pytest.raises(ValueError, match="y contains NaN in 1 of 20 rows"):
            estimator.fit(X, y)
        with pytest.raises(ValueError, match="X has 20 rows but y has 3 values"):
            estimator.fit(X, y[:3])
    with pytest.raises(ValueError, match="GBDTSelector requires y to be passed"):
        GBDTSelector().fit(X, None)


def test_check_n_features_matches_arrays_by_position_and_frames_by_name():
    check_n_features(np.ones((2, 3)), 3)
    check_n_features(pd.DataFrame({"a": [1], "b": [2]}), 3)  # frames: matched by name later
    with pytest.raises(ValueError, match="X has 2 features, but FeatureGenerator is expecting 3"):
        check_n_features(np.ones((2, 2)), 3, estimator_name="FeatureGenerator")
