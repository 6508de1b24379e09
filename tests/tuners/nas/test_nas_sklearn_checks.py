"""scikit-learn's estimator checks on the NAS head estimators (tiny, bounded search)."""

import torch
from sklearn.utils.estimator_checks import parametrize_with_checks

from featsmith.tuners.nas import NASHeadClassifier, NASHeadRegressor

torch.set_num_threads(1)


def _expected_failed_checks(estimator):
    return {}


@parametrize_with_checks(
    [
        NASHeadClassifier(time_budget=None, max_candidates=2, max_epochs=10, random_state=0),
        NASHeadRegressor(time_budget=None, max_candidates=2, max_epochs=10, random_state=0),
    ],
    expected_failed_checks=_expected_failed_checks,
)
def test_sklearn_compatible(estimator, check):
    check(estimator)
