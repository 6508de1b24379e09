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
