import numpy as np
import pandas as pd
import polars as pl
import pytest

from featsmith.featurize import TableEncoder


@pytest.fixture
def frame():
    return pd.DataFrame(
        {
            "city": ["a", "b", "a", None, "c", "a"],
            "x": [1.0, np.nan, 3.0, 4.0, np.inf, 6.0],
            "when": pd.to_datetime(["2021-01-01 10:00", "2021-06-15", "2021-12-31", None, "2022-02-02", "2022-03-03"], format="mixed"),
            "note": ["short text here", "another longer note with words", "x y z", "a b c", "d e f g", "h i j"],
        }
    )


def test_output_names_and_categorical_positions(frame):
    enc = TableEncoder().fit(frame)
    names = enc.get_feature_names_out().tolist()
    assert names[:3] == ["city", "freq(city)", "missing(city)"]
    assert "hour(when)" in names and "timestamp(when)" in names and "missing(when)" in names
    assert "len(note)" in names and "words(note)" in names
    assert enc.categorical_features_ == [0]
    out = enc.transform(frame)
    assert out.shape == (6, len(names))


def test_values(frame):
    enc = TableEncoder().fit(frame)
    out = pd.DataFrame(enc.transform(frame), columns=enc.get_feature_names_out())
    assert out["city"].tolist()[:3] == [0.0, 1.0, 0.0]  # most frequent category gets code 0
    assert out["freq(city)"].iloc[0] == pytest.approx(3 / 6)
    assert np.isnan(out["x"].iloc[4])  # inf is missing
    assert out["missing(x)"].tolist() == [0, 1, 0, 0, 0, 0]
    assert out["month(when)"].iloc[1] == 6 and out["dayofweek(when)"].iloc[0] == 5  # Friday
    assert out["words(note)"].iloc[1] == 5


def test_unseen_and_rare_categories():
    X = pd.DataFrame({"c": ["a"] * 5 + ["b"] * 3 + ["c"]})
    enc = TableEncoder(max_categories=2).fit(X)
    out = enc.transform(pd.DataFrame({"c": ["a", "c", "new"]}))
    assert out[0, 0] == 0 and np.isnan(out[1, 0]) and np.isnan(out[2, 0])
    assert out[2, 1] == 0.0  # unseen category: frequency 0


def test_polars_and_set_output(frame):
    enc = TableEncoder().set_output(transform="polars").fit(pl.from_pandas(frame))
    out = enc.transform(pl.from_pandas(frame))
    assert isinstance(out, pl.DataFrame) and out.columns == enc.get_feature_names_out().tolist()


def test_missing_column_at_transform(frame):
    enc = TableEncoder().fit(frame)
    with pytest.raises(ValueError, match=r"missing column\(s\) \['x'\]"):
        enc.transform(frame.drop(columns="x"))
