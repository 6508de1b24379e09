"""The head's vectorised quantile scaling matches scikit-learn's QuantileTransformer."""

import numpy as np
import pytest
from sklearn.preprocessing import QuantileTransformer

from featsmith.tuners.nas._data import quantile_normal


@pytest.mark.parametrize("n_quantiles", [2, 10, 500])
def test_quantile_normal_matches_scikit_learn(n_quantiles):
    rng = np.random.default_rng(0)
    X = np.column_stack([
        rng.normal(size=500), rng.exponential(size=500), rng.integers(0, 3, 500).astype(float),  # ties
        np.ones(500), rng.standard_cauchy(size=500),
    ])
    qt = QuantileTransformer(n_quantiles=n_quantiles, output_distribution="normal", subsample=10_000,
                             random_state=0).fit(X)
    test = np.vstack([X[:100], X[:5] * 10, X[:5] - 100, rng.normal(size=(50, 5))])  # beyond the range too
    np.testing.assert_allclose(quantile_normal(qt, test), qt.transform(test), rtol=1e-12, atol=1e-12)


def test_lookup_of_coded_columns_gives_the_same_scaling():
    """Columns with few distinct values are scaled through a table made at fit; values outside
    it (unseen codes, beyond the range, missing) take the general path: the same numbers."""
    import pickle

    from featsmith.tuners.nas._data import TabularPreprocessor

    rng = np.random.default_rng(0)
    X = np.column_stack([rng.integers(0, 6, 400), rng.normal(size=400), rng.integers(0, 5000, 400)]).astype(float)
    X[::17, 0] = np.nan
    prep = TabularPreprocessor().fit(X)
    assert [t is not None for t in prep.quantile_lookup_.tables][:3] == [True, False, False]
    test = np.vstack([X[:50], [[2.5, 0.1, 7.0], [99.0, -5.0, -3.0], [np.inf, np.nan, 1.0]]])
    full = prep._imputed_in_place(test[:, prep.numeric_])
    expected = np.clip(quantile_normal(prep.quantile_, full), -8, 8).astype(np.float32)
    np.testing.assert_array_equal(prep.transform_one(test, "quantile")[0], expected)
    loaded = pickle.loads(pickle.dumps(prep))
    np.testing.assert_array_equal(loaded.transform_one(test, "quantile")[0], expected)
    del loaded.quantile_lookup_  # a head pickled before the table existed
    np.testing.assert_array_equal(loaded.transform_one(test, "quantile")[0], expected)


def test_positional_and_tie_tables_give_the_same_scaling():
    """Integer columns looked up by position (in blocks of rows), continuous columns whose
    repeated quantiles are looked up, and everything they miss: the numbers of the general
    path, and of scikit-learn's transformer; also for a head pickled before those tables."""
    from featsmith.tuners.nas._data import QuantileLookup

    rng = np.random.default_rng(1)
    n = 700
    X = np.column_stack([
        rng.choice([0.0, 2.0, 4.0, 10.0], n),  # integers with gaps
        -rng.integers(0, 50, n).astype(float),  # negative integers
        np.where(rng.random(n) < 0.6, 0.0, rng.exponential(size=n)),  # continuous, most ties at 0
        rng.normal(size=n),  # continuous, no ties
        rng.choice([0.5, 1.5, 2.5], n),  # few values, not integers: binary search
    ])
    qt = QuantileTransformer(n_quantiles=200, output_distribution="normal", random_state=0).fit(X)
    lookup = QuantileLookup(qt, X)
    assert lookup.positional_columns.tolist() == [0, 1]
    assert lookup.tie_tables[2] is not None and lookup.tie_tables[3] is None
    unseen = np.array([[1.0, -51.0, 0.0, 0.0, 1.0], [3.5, 7.0, -1.0, 99.0, 0.5], [1e12, -1e12, 1e-300, -5.0, 9.0]])
    test = np.vstack([X, unseen, X[:300]])  # more rows than one block
    np.testing.assert_array_equal(lookup.transform(test), quantile_normal(qt, test))
    np.testing.assert_allclose(lookup.transform(test), qt.transform(test), rtol=1e-12, atol=1e-12)
    old = QuantileLookup(qt, X)
    del old.positional_columns, old.tie_tables
    np.testing.assert_array_equal(old.transform(test), quantile_normal(qt, test))


def test_category_codes_by_position_match_the_binary_search():
    """Integer vocabularies are coded by position; others, unseen values, non-integers, missing
    and infinite values give the codes of the per-column search (unknown = 0)."""
    from featsmith.tuners.nas._data import TabularPreprocessor

    rng = np.random.default_rng(2)
    n = 600
    X = np.column_stack([
        rng.choice([0.0, 3.0, 7.0], n), rng.integers(-20, 20, n).astype(float),
        rng.choice([0.5, 1.5], n), rng.choice([0.0, 1e9], n), rng.normal(size=n),
    ])
    X[::13, 1] = np.nan
    prep = TabularPreprocessor([0, 1, 2, 3]).fit(X)
    assert prep.codes_by_position_.columns == [0, 1]
    odd = [[1.0, 25.0, 0.5, 1e9, 0.0], [np.inf, -np.inf, np.nan, 5.0, 0.0], [3.5, -1e300, 2.0, 0.0, 1.0]]
    test = np.vstack([X, odd])
    codes = prep.transform_one(test, "standard")[1]
    del prep.codes_by_position_  # the per-column search of heads pickled before it
    np.testing.assert_array_equal(codes, prep.transform_one(test, "standard")[1])
    assert codes[-3:].tolist() == [[0, 0, 1, 2], [0, 0, 0, 0], [0, 0, 0, 1]]
