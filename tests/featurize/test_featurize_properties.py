"""Property tests: TableEncoder and FeatureGenerator over generated messy tables
(tests/frame_strategies.py), with plain regression tests for the bugs they found."""

import datetime
import warnings

import numpy as np
import pandas as pd
import polars as pl
import pyarrow as pa
import pytest
from frame_strategies import (
    KINDS,
    drift_column,
    outcome,
    reorder_with_extra,
    tables,
    with_unseen_categories,
)
from hypothesis import given
from hypothesis import strategies as st

from featsmith.featurize import FeatureGenerator, TableEncoder

# Arrow holds one type per column, so a mixed object column is a different input there.
SAME_IN_EVERY_LIBRARY = [k for k in KINDS if k != "mixed_object"]


def _same(a, b):
    return np.array_equal(np.asarray(a, dtype=float), np.asarray(b, dtype=float), equal_nan=True)


def _check_drift(est, table, seed):
    """A column whose type drifts after fit is read as its fit-time type, or is a ValueError
    naming it (README, "Bad input")."""
    drifted = drift_column(table, np.random.default_rng(seed))
    if drifted is None:
        return
    name, new = drifted
    out, error = outcome(lambda: est.transform(new.frame()), new)
    if error is not None:
        assert isinstance(error, ValueError) and repr(name) in str(error)
    else:
        assert out.shape[0] == new.n_rows


@given(tables(), st.integers(0, 3), st.data())
def test_table_encoder_properties(table, seed, data):
    X = table.frame()
    enc, error = outcome(lambda: TableEncoder().fit(X), table)
    if error is not None:
        return
    out = enc.transform(X)
    assert out.shape == (table.n_rows, len(enc.get_feature_names_out()))
    assert not np.isinf(out).any()  # inf is missing
    rows = data.draw(st.lists(st.integers(0, table.n_rows - 1), min_size=1, max_size=3))
    assert _same(enc.transform(table.frame(rows=rows)), out[rows])  # rows are encoded alone
    assert _same(enc.transform(reorder_with_extra(X)), out)
    new = with_unseen_categories(table)
    unseen = enc.transform(new.frame())
    assert unseen.shape == out.shape
    names = enc.feature_names_out_
    for name in enc.categories_:  # unseen categories: missing code, frequency 0
        fresh = [i for i, v in enumerate(new.columns[name]) if str(v).startswith("unseen-")]
        assert np.isnan(unseen[fresh, names.index(name)]).all()
        assert (unseen[fresh, names.index(f"freq({name})")] == 0).all()
    _check_drift(enc, table, seed)


@given(tables(kinds=SAME_IN_EVERY_LIBRARY))
def test_table_encoder_same_output_from_every_library(table):
    outs = []
    for library in ("pandas", "polars", "pyarrow"):
        enc = TableEncoder().fit(table.frame(library=library))
        outs.append((list(enc.get_feature_names_out()), enc.transform(table.frame(library=library))))
    for names, values in outs[1:]:
        assert names == outs[0][0]
        assert _same(values, outs[0][1])


@given(tables(max_rows=40), st.integers(0, 3), st.data())
def test_feature_generator_properties(table, seed, data):
    X = table.frame()
    make = lambda: FeatureGenerator(max_candidates=40, random_state=seed).fit(X, table.y)  # noqa: E731
    gen, error = outcome(make, table)
    if error is not None:
        return
    out = gen.transform(X)
    assert out.shape == (table.n_rows, len(gen.get_feature_names_out()))
    assert _same(make().transform(X), out)  # same random_state, same features
    rows = data.draw(st.lists(st.integers(0, table.n_rows - 1), min_size=1, max_size=3))
    assert _same(gen.transform(table.frame(rows=rows)), np.asarray(out)[rows])
    assert _same(gen.transform(reorder_with_extra(X)), out)
    assert gen.transform(with_unseen_categories(table).frame()).shape == out.shape
    _check_drift(gen, table, seed)


# -- regression tests for what the properties found --------------------------------------------

def test_table_encoder_keeps_the_rows_when_every_column_is_dropped():
    # Was a (0, 0) array: the rows were lost with the columns.
    X = pd.DataFrame({"constant": [7.0] * 5, "empty": [None] * 5})
    enc = TableEncoder().fit(X)
    assert enc.transform(X).shape == (5, 0)


@pytest.mark.parametrize("unit", ["ns", "us", "ms"])
def test_durations_are_seconds_whatever_the_unit(unit):
    # Was the raw integer of the column's own unit: pandas (ns) and a Parquet file (us) gave
    # values 1000x apart for the same durations, at fit and predict.
    values = [datetime.timedelta(minutes=m) for m in (1, 2, 5, 30)]
    X = pl.DataFrame({"wait": pl.Series(values, dtype=pl.Duration(unit)), "k": [1.0, 2.0, 3.0, 4.0]})
    enc = TableEncoder().fit(X)
    col = enc.get_feature_names_out().tolist().index("wait")
    assert enc.transform(X)[:, col].tolist() == [60.0, 120.0, 300.0, 1800.0]
    as_arrow = pa.table({"wait": pa.array(values, type=pa.duration("ms")), "k": [1.0, 2.0, 3.0, 4.0]})
    assert enc.transform(as_arrow)[:, col].tolist() == [60.0, 120.0, 300.0, 1800.0]


def test_feature_generator_no_usable_column_names_columns_and_fix():
    X = pd.DataFrame({"constant": [1.0] * 6, "empty": [None] * 6})
    with pytest.raises(ValueError, match=r"'constant'.*pass at least one column"):
        FeatureGenerator(max_candidates=10).fit(X, [0, 1] * 3)


def test_huge_numbers_give_missing_features_not_a_warning_per_feature():
    # Was one "overflow encountered in cast" RuntimeWarning per generated feature (15 on this
    # table): crosses of 1e300-scale columns do not fit float32. They are missing now, as inf is.
    rng = np.random.default_rng(0)
    X = pd.DataFrame({"a": rng.normal(size=40) * 1e300, "b": rng.normal(size=40), "k": rng.choice(["u", "v"], 40)})
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = FeatureGenerator(max_candidates=200, random_state=0).fit(X, rng.normal(size=40)).transform(X)
    assert not np.isinf(out).any()
