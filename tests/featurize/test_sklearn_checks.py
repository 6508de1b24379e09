"""scikit-learn's estimator checks for FeatureGenerator (none skipped except the array-API
check, which scikit-learn itself skips unless SCIPY_ARRAY_API is set)."""

from sklearn.utils.estimator_checks import parametrize_with_checks

from featsmith.featurize import FeatureGenerator


@parametrize_with_checks([FeatureGenerator(max_candidates=50, random_state=0)])
def test_sklearn_compatible(estimator, check):
    check(estimator)
