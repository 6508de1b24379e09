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
    full = prep._impute(np.where(np.isfinite(test), test, np.nan))
    expected = np.clip(quantile_normal(prep.quantile_, full), -8, 8).astype(np.float32)
    np.testing.assert_array_equal(prep.transform_one(test, "quantile")[0], expected)
    loaded = pickle.loads(pickle.dumps(prep))
    np.testing.assert_array_equal(loaded.transform_one(test, "quantile")[0], expected)
    del loaded.quantile_lookup_  # a head pickled before the table existed
    np.testing.assert_array_equal(loaded.transform_one(test, "quantile")[0], expected)
