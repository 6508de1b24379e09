import numpy as np
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
