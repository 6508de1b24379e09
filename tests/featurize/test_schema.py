import datetime as dt

import numpy as np
import pandas as pd
import polars as pl
import pytest

from featsmith.featurize import infer_column_kind, infer_schema


@pytest.mark.parametrize(
    "values, kind",
    [
        ([1.0, 2.5, None, 4.0], "numeric"),
        ([True, False, True, None], "boolean"),
        (["yes", "no", "yes", "no"], "boolean"),
        (["a", "b", "a", "c"], "categorical"),
        ([None, None, None, None], "drop"),
        ([7, 7, 7, 7], "drop"),
        ([float("nan")] * 4, "drop"),
    ],
)
def test_column_kinds(values, kind):
    assert infer_column_kind(pl.Series("col", values, strict=False)) == kind


def test_ids_text_and_dates():
    n = 200
    rng = np.random.default_rng(0)
    df = pl.DataFrame(
        {
            "user_id": np.arange(n),
            "amount": np.arange(n) * 1.5,  # all distinct but not named like an id
            "token": [f"T{i:06d}" for i in range(n)],
            "review": [f"this product is great number {i}" for i in range(n)],
            "day": [f"2021-03-{1 + i % 28:02d}" for i in range(n)],
            "ts": pl.datetime_range(pl.datetime(2020, 1, 1), pl.datetime(2020, 1, 1) + pl.duration(hours=n - 1), "1h", eager=True),
            "grade": rng.choice(["A", "B"], n),
        }
    )
    assert infer_schema(df) == {
        "user_id": "id",
        "amount": "numeric",
        "token": "id",
        "review": "text",
        "day": "datetime",
        "ts": "datetime",
        "grade": "categorical",
    }


def test_overrides_and_their_errors():
    df = pl.DataFrame({"zip": [75001, 69001, 75001], "x": [1.0, 2.0, 3.0]})
    assert infer_schema(df, {"zip": "categorical"})["zip"] == "categorical"
    with pytest.raises(ValueError, match="not in X"):
        infer_schema(df, {"nope": "numeric"})
    with pytest.raises(ValueError, match="unknown kinds"):
        infer_schema(df, {"x": "float"})


def test_columns_without_scalars_are_dropped_with_a_warning(caplog):
    df = pl.DataFrame({
        "tags": [[1, 2], [3], None, [4]],
        "blob": pl.Series([b"\xff", b"\xfe", None, b"\xfd"], dtype=pl.Binary),
        "at": [dt.time(1, 30), dt.time(2, 0), None, dt.time(3, 15)],
    })
    with caplog.at_level("WARNING", logger="featsmith"):
        schema = infer_schema(df)
    assert schema == {"tags": "drop", "blob": "drop", "at": "numeric"}  # times of day: seconds since midnight
    assert "Column 'tags' is dropped: it holds List(Int64) values" in caplog.text
    assert "'blob'" in caplog.text and "flatten it into scalar columns" in caplog.text


def test_messy_object_columns_are_categorical_or_dates():
    from featsmith._validation import check_frame

    n = 60
    messy = pd.DataFrame({
        "m": pd.Series([1, "x", None, 2.5, "3"] * (n // 5), dtype=object),
        # dates with a rare placeholder string: still dates (the placeholder is missing)
        "d": pd.Series([dt.datetime(2020, 1, 1 + i % 28) for i in range(n - 1)] + ["unknown"], dtype=object),
    })
    assert infer_schema(check_frame(messy)) == {"m": "categorical", "d": "datetime"}
