"""CatBoost as a model family (the optional ``catboost`` extra): early stopping on the fold,
the refit for the rounds found, categorical codes read as categories, deadlines, and the
search that uses it when it is installed and says so when it is not."""

import logging
import time

import io

import joblib
import numpy as np
import pytest

from featsmith.pipelines import make_splits, resolve_metric
from featsmith.pipelines._budget import TrialCost, TrialPlanner
from featsmith.pipelines._catboost import CatBoostOnCodes
from featsmith.pipelines._portfolio import CATBOOST_CONFIG, EstimatorTrialRunner, portfolio_configs
from featsmith.pipelines._trials import TrialResult

catboost = pytest.importorskip("catboost")

CATBOOST = {**CATBOOST_CONFIG, "iterations": 300, "learning_rate": 0.2}


def _data(task, n=400, seed=0):
    """Column 3 holds category codes whose effect is not monotone in the code (so read as a
    number it needs several splits), with missing codes as NaN."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 4))
    codes = rng.integers(0, 6, n).astype(float)
    X[:, 3] = codes
    signal = 1.5 * X[:, 0] + np.where(np.isin(codes, [1, 4]), 1.5, -0.5) + 0.4 * rng.normal(size=n)
    X[::11, 3] = np.nan
    if task == "regression":
        return X, signal
    if task == "binary":
        return X, (signal > 0).astype(np.int64)
    return X, np.digitize(signal, np.quantile(signal, [1 / 3, 2 / 3])).astype(np.int64)


def _runner(task, X=None, y=None):
    if X is None:
        X, y = _data(task)
    n_classes = 0 if task == "regression" else int(y.max()) + 1
    return EstimatorTrialRunner(X, y, categorical=[3], task=task, n_classes=n_classes,
                                metric=resolve_metric(None, task), splits=make_splits(y, task, random_state=0),
                                n_threads=1, seed=0)


@pytest.mark.parametrize("task", ["binary", "multiclass", "regression"])
def test_stops_early_on_the_fold_and_refits_for_the_rounds_found(task):
    runner = _runner(task)
    result = runner.run(CATBOOST, float("inf"))
    assert result.status == "ok" and result.family == "catboost" and not result.stopped
    assert 0 < result.n_rounds < 300  # stopped on the validation rows, not at the most rounds
    if task != "regression":
        np.testing.assert_allclose(result.oof.sum(axis=1), 1.0)
    refit = runner.refit(CATBOOST, result.n_rounds, float("inf"))
    assert refit.n_iter_ == result.n_rounds  # no early stopping on every row
    assert runner.predict_cost(CATBOOST, result.n_rounds) == result.n_rounds * CATBOOST["depth"]
    member = runner.member(refit)
    buffer = io.BytesIO()
    joblib.dump(member, buffer)
    buffer.seek(0)
    np.testing.assert_allclose(joblib.load(buffer).output(runner.X), member.output(runner.X))


def test_categorical_codes_are_read_as_categories():
    X, y = _data("binary")
    model = CatBoostOnCodes("binary", [3], iterations=50).fit(X, y)
    names = model.model_.get_cat_feature_indices()
    assert names == [3]
    # A code never seen in training and a missing code are categories like any other.
    X_new = X[:5].copy()
    X_new[0, 3], X_new[1, 3] = 99.0, np.nan
    proba = model.predict_proba(X_new)
    assert proba.shape == (5, 2) and np.isfinite(proba).all()


def test_a_past_deadline_stops_the_fit_and_the_trial():
    runner = _runner("binary")
    result = runner.run(CATBOOST, time.perf_counter() - 1.0)
    assert result.status == "truncated" and result.stopped and len(result.models) == 1
    # A refit that runs out of time returns None: its fold models stand in.
    assert runner.refit(CATBOOST, 200, time.perf_counter() - 1.0) is None


def test_catboost_runs_first_of_the_other_families_when_installed(monkeypatch):
    assert portfolio_configs()[0]["model"] == "catboost"
    monkeypatch.setattr("featsmith.pipelines._portfolio.catboost_available", lambda: False)
    assert "catboost" not in [c["model"] for c in portfolio_configs()]


def test_the_search_says_whether_catboost_is_installed(monkeypatch, caplog):
    from featsmith import AutoPipeline

    X, y = _data("binary", n=300)
    for available in (True, False):
        monkeypatch.setattr("featsmith.pipelines._portfolio.catboost_available", lambda: available)
        monkeypatch.setattr("featsmith.pipelines._stages.search.catboost_available", lambda: available)
        caplog.clear()
        with caplog.at_level(logging.INFO, logger="featsmith"):
            # The baseline, LightGBM's first known-good configuration, the two cheap families,
            # then CatBoost.
            model = AutoPipeline(time_budget=20, max_trials=5, feature_generation=False, random_state=0).fit(X, y)
        text = " ".join(r.getMessage() for r in caplog.records)
        families = set(model.leaderboard_["model"])
        if available:
            assert "CatBoost, " in text and "catboost" in families
        else:
            assert "featsmith[catboost]" in text and "catboost" not in families


def test_a_trial_stopped_at_its_deadline_does_not_shorten_the_next_estimate():
    # On a holdout a LightGBM trial stops at its deadline and is still validated; counting its
    # few rounds as what a configuration needs made each next trial shorter, down to 1 round.
    base = TrialResult({}, 0.8, 100, 15.0, "ok", models=[None])
    planner = TrialPlanner([base], TrialCost(15.0, 1, 1000, 800.0, 100), n_folds=1)
    before = planner.estimate({}, nas_seconds=0.0)
    planner.record(TrialResult({}, 0.7, 3, 0.5, "ok", models=[None], stopped=True))
    assert planner.estimate({}, nas_seconds=0.0) == pytest.approx(before)
    planner.record(TrialResult({}, 0.7, 30, 4.0, "ok", models=[None]))
    assert planner.estimate({}, nas_seconds=0.0) < before


def test_a_catboost_error_fails_the_trial_not_the_fit():
    X, y = _data("binary")
    with pytest.raises(ValueError, match="CatBoost could not fit"):
        CatBoostOnCodes("binary", [3], iterations=10, depth=40).fit(X, y)  # beyond its 16 levels
    runner = _runner("binary")
    result = runner.run({**CATBOOST, "depth": 40}, float("inf"))
    assert result.status == "failed" and result.value == -np.inf


def test_under_time_order_a_trial_starts_only_when_its_own_refit_fits_too():
    from featsmith.pipelines._stages.search import seconds_needed

    # Forward-chaining folds of 100 .. 500 training rows (mean 300), 600 rows in all.
    cost = TrialCost(trial_seconds=10.0, n_folds=5, n_rows=600, n_train=500.0, n_rounds=100, mean_train=300.0)
    # A mean fold's fit (a fifth of the trial) on twice its rows.
    assert seconds_needed("catboost", 20.0, 5, cost, time_ordered=True) == pytest.approx(20.0 + 4.0 * 2)
    assert seconds_needed("hist_gb", 20.0, 5, cost, True) == seconds_needed("catboost", 20.0, 5, cost, True)
    # Shuffled folds: their models averaged stand in for the refit; LightGBM's refit stops at
    # the hard end, and its reserve is kept by the budget.
    assert seconds_needed("catboost", 20.0, 5, cost, time_ordered=False) == 20.0
    assert seconds_needed("lightgbm", 20.0, 5, cost, True) == 20.0


def test_a_fold_with_one_class_or_no_rows_to_stop_on():
    X, y = _data("binary", n=60)
    y = np.zeros(60, dtype=np.int64)
    y[-3:] = 1  # the first fold's training rows may hold one class only
    splits = [(np.arange(50), np.arange(50, 60)), (np.arange(10, 60), np.arange(10))]
    runner = EstimatorTrialRunner(X, y, categorical=[3], task="binary", n_classes=2,
                                  metric=resolve_metric(None, "binary"), splits=splits, n_threads=1, seed=0)
    result = runner.run(CATBOOST, float("inf"))
    assert result.status == "ok" and len(result.models) == 2  # the one-class fold predicts its class
    # No validation rows to stop on: the rounds given.
    model = CatBoostOnCodes("binary", [3], iterations=20).fit(X[10:], y[10:], X[:0], y[:0])
    assert model.n_iter_ == 20
