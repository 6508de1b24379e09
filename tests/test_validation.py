"""The one target check (featsmith._validation.check_target), as AutoPipeline, FeatureGenerator
and the selectors meet it, and the conversion of messy object columns (check_frame)."""

import datetime as dt
import decimal

import numpy as np
import pandas as pd
import polars as pl
import pyarrow as pa
import pytest
from sklearn.exceptions import DataConversionWarning

from featsmith._validation import check_frame, check_n_features, check_predict_frame, check_target
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


# -- object columns: what read_csv gives for a messy column --------------------------------------
MIXED = [1, "x", None, 2.5, "3", 3.0, np.nan]


def _object_input(values, kind):
    """One object column ``m`` (plus a clean ``n``) as pandas or as a numpy object array."""
    if kind == "pandas":
        return pd.DataFrame({"m": pd.Series(values, dtype=object), "n": np.arange(len(values))})
    arr = np.empty((len(values), 2), dtype=object)
    arr[:, 0] = pd.Series(values, dtype=object).to_numpy()
    arr[:, 1] = np.arange(len(values))
    return arr


@pytest.fixture(params=["pandas", "numpy"])
def object_kind(request):
    return request.param


def test_mixed_object_column_becomes_strings(object_kind):
    df = check_frame(_object_input(MIXED, object_kind), column_names=["m", "n"])
    assert df.schema["m"] == pl.String and df.schema["n"] == pl.Int64
    # integral floats are spelled as integers (one category with 3 and "3"); NaN is missing
    assert df["m"].to_list() == ["1", "x", None, "2.5", "3", "3", None]


@pytest.mark.parametrize(
    "values, expected",
    [
        ([True, "x", False, None], ["true", "x", "false", None]),
        ([dt.datetime(2020, 1, 1, 12), "x", None, pd.Timestamp("2020-01-02")],
         ["2020-01-01 12:00:00", "x", None, "2020-01-02 00:00:00"]),
        ([dt.date(2020, 1, 1), "x", None, dt.date(2020, 1, 2)], ["2020-01-01", "x", None, "2020-01-02"]),
        ([b"ab", "x", None, 2], ["ab", "x", None, "2"]),
        ([decimal.Decimal("1.50"), "x", None, decimal.Decimal("2")], ["1.5", "x", None, "2"]),
        ([np.int64(7), "x", None, np.float32(0.5)], ["7", "x", None, "0.5"]),
        ([1 + 2j, "x", None, 3], ["(1+2j)", "x", None, "3"]),
        ([2**70, 3, None, 4], ["1180591620717411303424", "3", None, "4"]),  # beyond int64
    ],
    ids=["bool-str", "datetime-str", "date-str", "bytes-str", "decimal-str", "numpy-scalars", "complex",
         "huge-int"],
)
def test_mixed_scalars_are_stringified(values, expected, object_kind):
    df = check_frame(_object_input(values, object_kind), column_names=["m", "n"])
    assert df.schema["m"] == pl.String and df["m"].to_list() == expected


@pytest.mark.parametrize(
    "values, dtype, expected",
    [
        ([1, 2, None], pl.Int64, [1, 2, None]),
        ([1.5, None, np.nan], pl.Float64, [1.5, None, None]),
        (["a", None, np.nan], pl.String, ["a", None, None]),
        ([b"a", None, b"b"], pl.String, ["a", None, "b"]),  # bytes are UTF-8 text
        ([b"\xff\xfe", None, b"a"], pl.Binary, [b"\xff\xfe", None, b"a"]),  # ... unless they are not
        ([decimal.Decimal("1.5"), None, decimal.Decimal("2")], pl.Decimal, None),
        ([dt.time(1, 2), None, dt.time(3, 4)], pl.Time, [dt.time(1, 2), None, dt.time(3, 4)]),
        ([[1, 2], None, [3]], pl.List(pl.Int64), [[1, 2], None, [3]]),
        ([{1, 2}, None, {3}], pl.List(pl.Int64), [[1, 2], None, [3]]),
    ],
    ids=["ints", "floats", "strings", "bytes", "binary", "decimal", "time", "lists", "sets"],
)
def test_object_columns_of_one_type_keep_it(values, dtype, expected, object_kind):
    df = check_frame(_object_input(values, object_kind), column_names=["m", "n"])
    assert df.schema["m"] == dtype if dtype != pl.Decimal else isinstance(df.schema["m"], pl.Decimal)
    if expected is not None:
        assert df["m"].to_list() == expected


@pytest.mark.parametrize(
    "values, match",
    [
        ([[1, 2], "x", None], r"Column 'm' mixes nested values \(list\) with scalars \(str\)"),
        ([{"a": 1}, 3, None], r"Column 'm' mixes nested values \(dict\) with scalars \(int\)"),
        ([[1], {"a": 1}, None], r"Column 'm' holds nested values \(list\) of no single type"),
    ],
)
def test_nested_values_mixed_with_others_name_the_column(values, match, object_kind):
    with pytest.raises(TypeError, match=match) as err:
        check_frame(_object_input(values, object_kind), column_names=["m", "n"])
    assert "latten it into scalar columns" in str(err.value)  # the fix


def test_mixed_categorical_dtype_and_polars_objects():
    cat = pd.DataFrame({"c": pd.Series([1, "x", None, 1], dtype="category")})
    assert check_frame(cat)["c"].to_list() == ["1", "x", None, "1"]
    objects = pl.DataFrame({"o": pl.Series([1, "x", None], dtype=pl.Object)})
    assert check_frame(objects)["o"].to_list() == ["1", "x", None]


def test_typed_pyarrow_and_polars_columns_pass_through():
    table = pa.table({
        "i": pa.array([1, None, 3]), "d": pa.array([decimal.Decimal("1.5")] * 3), "b": pa.array([b"x", b"y", None]),
        "l": pa.array([[1], [2, 3], None]), "t": pa.array([dt.datetime(2020, 1, 1)] * 3),
    })
    df = check_frame(table)
    assert df.schema["i"] == pl.Int64 and isinstance(df.schema["d"], pl.Decimal)
    assert df.schema["b"] == pl.String and df["b"].to_list() == ["x", "y", None]
    assert df.schema["l"] == pl.List(pl.Int64) and isinstance(df.schema["t"], pl.Datetime)
    clean = pl.DataFrame({"x": [1.0, 2.0], "s": ["a", "b"]})
    assert check_frame(clean) is clean  # no copy


def test_predict_frame_of_a_model_reading_some_columns_converts_only_those():
    X = pd.DataFrame({"a": [1.0, 2.0], "b": ["x", "y"], "nested": pd.Series([[1], "z"], dtype=object)})
    names = ["a", "b", "nested"]
    with pytest.raises(TypeError, match="nested"):  # every column read: the mixed one is rejected
        check_predict_frame(X, n_features_in=3, feature_names_in=names)
    df = check_predict_frame(X, n_features_in=3, feature_names_in=names, read=["b", "a"])
    assert df.columns == ["b", "a"] and df["a"].to_list() == [1.0, 2.0]
    # Every training column must still be there, read or not.
    with pytest.raises(ValueError, match=r"missing column\(s\) \['nested'\]"):
        check_predict_frame(X.drop(columns="nested"), n_features_in=3, feature_names_in=names, read=["a"])
    # Other kinds of input are converted whole, then checked for the columns read.
    assert check_predict_frame(pl.from_pandas(X[["a", "b"]]), n_features_in=3, feature_names_in=["a", "b"],
                               read=["a"]).columns == ["a", "b"]
