"""AutoPipeline against scikit-learn's estimator checks and composition tools."""

import joblib
import numpy as np
import pandas as pd
import pytest
from frame_strategies import TWO_FIT_CHECKS, run_estimator_check
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer
from sklearn.utils.estimator_checks import parametrize_with_checks

from featsmith import AutoPipeline

EXPECTED_FAILED_CHECKS = {
    "check_regressors_train": (
        "score() returns the tuned metric in scikit-learn's higher-is-better convention "
        "(negative RMSE by default), not R^2, so the check's 'score > 0.5' does not apply"
    ),
}


def _expected_failures(estimator):
    failures = dict(EXPECTED_FAILED_CHECKS)
    if estimator.task != "regression":
        failures.pop("check_regressors_train")
    return failures


def _small(task):
    # A generous budget: with max_trials the work is fixed, and no stage is skipped for time on a
    # loaded machine (which would make two fits differ).
    return AutoPipeline(task=task, time_budget=100, max_trials=2, random_state=0, n_jobs=1, verbose=0)


@parametrize_with_checks(
    [_small("classification"), _small("regression")],
    expected_failed_checks=_expected_failures,
)
def test_sklearn_compatible(estimator, check):
    check(estimator)


# A tiny wall-clock budget, as a user running the checks would set it: the checks that feed
# odd shapes and targets (and check_fit_idempotent, reported failing in issue 20) run in the
# "ci" profile, every check with HYPOTHESIS_PROFILE=deep.
TINY_BUDGET_CI_CHECKS = {
    "check_fit_score_takes_y", "check_fit_idempotent", "check_fit2d_1sample", "check_fit2d_1feature",
    "check_classifiers_one_label", "check_estimators_nan_inf", "check_n_features_in_after_fitting",
    "check_dtype_object",
}
TIME_BOUND = dict.fromkeys(TWO_FIT_CHECKS, (
    "compares two fits: without max_trials, the wall-clock budget decides how many trials run, so "
    "two fits with the same random_state differ when the machine's load differs (README: set "
    "max_trials and n_jobs=1 for identical runs; checked by test_sklearn_compatible)"
))


def _expected_failures_time_bound(estimator):
    return {**_expected_failures(estimator), **TIME_BOUND}


@parametrize_with_checks(
    [AutoPipeline(time_budget=1, random_state=0, verbose=0),
     AutoPipeline(task="regression", time_budget=1, random_state=0, verbose=0)],
    expected_failed_checks=_expected_failures_time_bound,
)
def test_sklearn_compatible_at_tiny_budget(estimator, check):
    run_estimator_check(check, estimator, TINY_BUDGET_CI_CHECKS)


def test_tiny_table_fits_at_a_tiny_budget():
    # check_fit_score_takes_y at time_budget=2 raised IndexError (issue 20): the features
    # stage's screen splits its rows into cross-fitting halves at random; on a handful of rows
    # (a tiny table, or a baseline cut to the folds that finished) one half can be empty, and
    # binning it failed. These 6 rows and seed reproduced it every time.
    rng = np.random.default_rng(0)
    X = pd.DataFrame({"a": rng.normal(size=6), "b": rng.normal(size=6)})
    y = np.arange(6) % 2
    model = AutoPipeline(time_budget=1, random_state=0, n_jobs=1, verbose=0).fit(X, y)
    assert model.predict_proba(X).shape == (6, 2)
