"""The fold runner every model family shares (FoldRunner.run / score_oof / restrict_folds), its
TrialResult, and the pieces of the shipped model (BoosterAverage, WeightedModel, MemberOutput,
booster_output, estimator_output)."""

import dataclasses
import logging
import time

import lightgbm as lgb
import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import log_loss, roc_auc_score

from featsmith.pipelines import _trials, make_splits, resolve_metric
from featsmith.pipelines._stages.validation import time_ordered_splits
from featsmith.pipelines._trials import (
    BoosterAverage,
    FoldRunner,
    MemberOutput,
    TrialResult,
    WeightedModel,
    booster_output,
    estimator_output,
)


class _LineRunner(FoldRunner):
    """A family with a known output: a least-squares line on column 0 (a sigmoid of it for
    binary). ``config`` steers it: ``raise_on`` / ``hit_on`` (fold indices) raise an error or
    report the deadline hit on those folds, ``sleep`` slows each fold."""

    family = "line"

    def _fit_fold(self, config, index, train_rows, valid_rows, deadline):
        if index in config.get("raise_on", ()):
            raise config.get("error", ValueError)("fold blew up")
        time.sleep(config.get("sleep", 0.0))
        if "clock" in config:  # a fake clock: each fold costs its training rows
            config["clock"].append(config["clock"][-1] + 1e-3 * len(train_rows))
        slope, intercept = np.polyfit(self.X[train_rows, 0], self.y[train_rows], 1)
        line = slope * self.X[valid_rows, 0] + intercept
        if self.task == "binary":
            p1 = 1.0 / (1.0 + np.exp(-4.0 * (line - 0.5)))
            line = np.column_stack([1.0 - p1, p1])
        return (slope, intercept), line, index + 1, index in config.get("hit_on", ())


def _runner(task="regression", n=200, metric=None, splits=None, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 2))
    signal = X[:, 0] + 0.7 * rng.normal(size=n)
    y = (signal > 0).astype(np.int64) if task == "binary" else signal
    n_classes = 2 if task == "binary" else 0
    if splits is None:
        splits = make_splits(y, task, random_state=0)
    return _LineRunner(X, y, task=task, n_classes=n_classes, metric=resolve_metric(metric, task),
                       splits=splits, n_threads=1, seed=0)


def _multiclass_runner(metric=None):
    y = np.repeat([0, 1, 2], [60, 30, 10])
    return FoldRunner(np.zeros((100, 1)), y, task="multiclass", n_classes=3,
                      metric=resolve_metric(metric, "multiclass"), splits=make_splits(y, "multiclass"),
                      n_threads=1, seed=0)


def _confident(y, n_classes, p_true):
    """Probabilities giving ``p_true`` to each row's true class, the rest spread evenly."""
    proba = np.full((len(y), n_classes), (1.0 - p_true) / (n_classes - 1))
    proba[np.arange(len(y)), y] = p_true
    return proba


def test_trial_result_defaults_and_immutability():
    a = TrialResult({"x": 1}, 0.5, 10, 1.0, "ok")
    b = TrialResult({}, 0.4, 10, 1.0, "ok")
    assert (a.family, a.started, a.oof, a.runner) == ("lightgbm", 0.0, None, None)
    assert a.models == [] and a.models is not b.models  # not shared between results
    assert "oof" not in repr(a) and "models" not in repr(a) and "'x': 1" in repr(a)
    with pytest.raises(dataclasses.FrozenInstanceError):
        a.value = 0.9  # a stage makes a changed copy instead


def _trial(value, status="ok", **kw):
    return TrialResult({}, value, 10, 1.0, status, **kw)


def test_usable_and_best_trial():
    ok, better, truncated = _trial(0.7), _trial(0.8), _trial(0.9, "truncated")
    failed, diverged = _trial(-np.inf, "failed"), _trial(-np.inf, "diverged")
    assert [_trials.usable(t) for t in (ok, truncated, failed, _trial(np.nan))] == [True, False, False, False]
    # A complete trial beats a better-scored truncated one (scored on fewer rows).
    assert _trials.best_trial([ok, truncated, better, failed]) is better
    assert _trials.best_trial([failed, truncated, _trial(0.5, "truncated")]) is truncated
    assert _trials.best_trial([failed, diverged]) is failed  # nothing usable: the first


def test_without_models_is_a_lighter_copy():
    trial = _trial(0.7, oof=np.zeros(3), models=["m"])
    light = _trials.without_models(trial)
    assert (light.models, light.oof, light.value) == ([], None, 0.7)
    assert trial.models == ["m"] and trial.oof is not None


def test_oof_covers_exactly_the_validation_rows():
    full = make_splits(np.zeros(200), "regression", random_state=0)
    runner = _runner(splits=full[:3])  # 3 of 5 folds: 40% of the rows are never validated
    result = runner.run({}, float("inf"))
    assert runner.valid_mask.sum() == 120
    assert np.all(result.oof[~runner.valid_mask] == 0.0)
    for (slope, intercept), (_, va) in zip(result.models, runner.splits, strict=True):
        np.testing.assert_allclose(result.oof[va], slope * runner.X[va, 0] + intercept)


@pytest.mark.parametrize("task", ["regression", "binary"])
def test_value_is_the_metric_of_the_oof_predictions(task):
    runner = _runner(task)
    result = runner.run({}, float("inf"))
    assert result.status == "ok" and len(result.models) == 5 and runner.valid_mask.all()
    if task == "regression":
        expected = -np.sqrt(np.mean((result.oof - runner.y) ** 2))
    else:
        expected = roc_auc_score(runner.y, result.oof[:, 1])
        assert expected > 0.7
    assert result.value == pytest.approx(expected)


def test_result_records_the_trial():
    runner = _runner()
    config = {"sleep": 0.0}
    result = runner.run(config, float("inf"))
    config["sleep"] = 5.0
    assert result.params == {"sleep": 0.0}  # a copy, not the caller's dict
    assert result.family == "line" and result.runner is runner
    assert result.n_rounds == 3  # mean of the folds' rounds 1..5
    assert result.seconds > 0


@pytest.mark.parametrize("error", [ValueError, ZeroDivisionError, MemoryError])
def test_a_failing_fold_gives_a_failed_trial(error, caplog):
    with caplog.at_level(logging.WARNING, logger="featsmith"):
        result = _runner().run({"raise_on": (2,), "error": error}, float("inf"))
    assert result.status == "failed" and result.value == -np.inf
    assert len(result.models) == 2  # the folds before the failure
    assert "line trial" in caplog.text and "fold blew up" in caplog.text


def test_a_programming_error_is_not_swallowed():
    with pytest.raises(TypeError):
        _runner().run({"raise_on": (0,), "error": TypeError}, float("inf"))


def test_a_past_deadline_truncates_after_one_fold():
    runner = _runner("binary")
    result = runner.run({}, time.perf_counter() - 1.0)
    assert result.status == "truncated" and len(result.models) == 1 and result.n_rounds == 1
    va = runner.splits[0][1]
    assert result.value == pytest.approx(roc_auc_score(runner.y[va], result.oof[va, 1]))


@pytest.mark.parametrize(("hit_on", "n_models", "status"), [(1, 2, "truncated"), (4, 5, "ok")])
def test_a_deadline_hit_stops_after_that_fold(hit_on, n_models, status):
    result = _runner().run({"hit_on": (hit_on,)}, float("inf"))
    # Stopped on the last fold, every row was still validated: the trial is complete.
    assert (len(result.models), result.status) == (n_models, status)
    assert np.isfinite(result.value)


def test_folds_budget_stops_when_the_projection_overruns():
    runner = _runner()
    short = runner.run({"sleep": 0.02}, float("inf"), folds_budget=0.01)
    assert short.status == "truncated" and len(short.models) == 1
    full = runner.run({"sleep": 0.0}, float("inf"), folds_budget=60.0)
    assert full.status == "ok" and len(full.models) == 5


@pytest.mark.parametrize(("folds_budget", "n_models"), [(1.0, 1), (1.6, 5)])
def test_folds_budget_projects_by_training_rows(monkeypatch, folds_budget, n_models):
    # Forward-chaining folds train on 100, 200, ... 500 rows (1,500 in all): after the first
    # fold (0.1 s on the fake clock) the trial projects to 1.5 s, not five folds of 0.1 s.
    splits = time_ordered_splits(np.arange(600), n_folds=5)
    assert [len(tr) for tr, _ in splits] == [100, 200, 300, 400, 500]
    clock = [0.0]
    monkeypatch.setattr(_trials.time, "perf_counter", lambda: clock[-1])
    result = _runner(n=600, splits=splits).run({"clock": clock}, float("inf"), folds_budget=folds_budget)
    assert len(result.models) == n_models
    assert result.status == ("truncated" if n_models < 5 else "ok")


def test_restrict_folds_keeps_the_first_folds():
    runner = _runner()
    first_two = runner.splits[:2]
    runner.restrict_folds(2)
    assert len(runner.splits) == 2
    expected = np.zeros(len(runner.y), dtype=bool)
    expected[np.concatenate([va for _, va in first_two])] = True
    np.testing.assert_array_equal(runner.valid_mask, expected)
    result = runner.run({}, float("inf"))
    assert result.status == "ok" and len(result.models) == 2
    assert np.all(result.oof[~expected] == 0.0)
    rows = runner.valid_mask
    assert result.value == pytest.approx(-np.sqrt(np.mean((result.oof[rows] - runner.y[rows]) ** 2)))


def test_score_oof_rescoring_a_truncated_trial_on_its_folds():
    # What the pipeline does when k-fold is too slow: keep the folds that ran, rescore on them.
    runner = _runner("binary")
    result = runner.run({}, time.perf_counter() - 1.0)
    runner.restrict_folds(len(result.models))
    value, status = runner.score_oof(result.oof, runner.valid_mask)
    assert (value, status) == (result.value, "ok")


def test_a_metric_raising_on_a_one_class_fold_gives_a_failed_trial():
    def strict_auc(y_true, y_pred):
        if len(np.unique(y_true)) < 2:
            raise ValueError("one class")
        return roc_auc_score(y_true, y_pred)

    runner = _runner("binary")
    y = runner.y
    one_class = np.flatnonzero(y == 0)[:30]
    runner.splits = [(np.setdiff1d(np.arange(len(y)), one_class), one_class)]
    runner.restrict_folds(1)
    runner.metric = resolve_metric(strict_auc, "binary")
    result = runner.run({}, float("inf"))
    assert (result.status, result.value) == ("failed", -np.inf)
    assert len(result.models) == 1


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.UndefinedMetricWarning")
def test_one_class_roc_auc_is_a_failed_trial():
    runner = _runner("binary")
    rows = runner.y == 1
    assert runner.score_oof(np.full((len(rows), 2), 0.5), rows) == (-np.inf, "failed")


def test_non_finite_score_is_minus_inf():
    runner = _runner(metric=lambda y_true, y_pred: float("nan"))
    value, _ = runner.score_oof(np.zeros(len(runner.y)), runner.valid_mask)
    assert value == -np.inf


def test_multiclass_prior_log_loss():
    runner = _multiclass_runner()
    prior = np.array([0.6, 0.3, 0.1])
    assert runner.prior_log_loss == pytest.approx(-np.sum(prior * np.log(prior)))


def test_multiclass_blow_up_is_diverged():
    runner = _multiclass_runner()
    y, rows = runner.y, runner.valid_mask
    good = _confident(y, 3, 0.6)
    value, status = runner.score_oof(good, rows)
    assert status == "ok" and value == pytest.approx(-log_loss(y, good))
    # Confidently wrong: log loss far above the class prior's.
    assert runner.score_oof(_confident(y, 3, 0.02), rows, "ok") == (-np.inf, "diverged")


def test_divergence_is_judged_by_log_loss_whatever_the_metric():
    runner = _multiclass_runner(metric="accuracy")
    proba = _confident(runner.y, 3, 0.4)  # right argmax everywhere, log loss 0.92 > prior's 0.90
    assert runner.score_oof(proba, runner.valid_mask) == (-np.inf, "diverged")
    value, status = runner.score_oof(_confident(runner.y, 3, 0.5), runner.valid_mask)
    assert (value, status) == (1.0, "ok")


def test_booster_output():
    raw = np.array([0.2, 0.9])
    np.testing.assert_allclose(booster_output(raw, "binary"), [[0.8, 0.2], [0.1, 0.9]])
    multi = np.array([[0.2, 0.3, 0.5]])
    assert booster_output(multi, "multiclass") is multi
    assert booster_output(raw, "regression") is raw


def test_estimator_output_aligns_classes_and_fills_unseen_ones():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 2))
    y = np.where(X[:, 0] > 0, 2, 0)  # class 1 never seen
    model = LogisticRegression().fit(X, y)
    out = estimator_output(model, X, "multiclass", 3)
    assert out.shape == (60, 3)
    np.testing.assert_array_equal(out[:, 1], 0.0)
    np.testing.assert_allclose(out[:, [0, 2]], model.predict_proba(X))

    class _Reg:
        def predict(self, X):
            return np.arange(len(X), dtype=np.float32)

    reg = estimator_output(_Reg(), X, "regression", 0)
    assert reg.dtype == np.float64 and reg.shape == (60,)


def _boosters():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 3))
    y = X[:, 0] + 0.1 * rng.normal(size=200)
    params = {"objective": "regression", "verbosity": -1, "num_threads": 1, "seed": 0, "deterministic": True}
    a = lgb.train(params, lgb.Dataset(X[:100], y[:100]), num_boost_round=20)
    b = lgb.train(params, lgb.Dataset(X[100:], y[100:]), num_boost_round=20)
    return X, a, b


def test_booster_average_uses_each_boosters_iterations():
    X, a, b = _boosters()
    avg = BoosterAverage([a, b], [5, 12])
    expected = (a.predict(X, num_iteration=5) + b.predict(X, num_iteration=12)) / 2
    np.testing.assert_allclose(avg.predict(X), expected)
    assert not np.allclose(avg.predict(X), (a.predict(X) + b.predict(X)) / 2)
    np.testing.assert_allclose(
        avg.feature_importance(), (a.feature_importance("gain") + b.feature_importance("gain")) / 2
    )


class _Fixed:
    """A member whose output is a fixed array; ``importance`` makes it look like a booster."""

    def __init__(self, out, importance=None):
        self.out = np.asarray(out, dtype=float)
        self.model = self
        if importance is not None:
            self.feature_importance = lambda importance_type="gain": np.asarray(importance, dtype=float)

    def output(self, X):
        return self.out


def test_weighted_model_averages_member_outputs():
    a = _Fixed([[0.9, 0.1], [0.2, 0.8]])
    b = _Fixed([[0.5, 0.5], [0.6, 0.4]])
    model = WeightedModel([(0.25, a), (0.75, b)], "binary")
    np.testing.assert_allclose(model.predict(None), 0.25 * a.out + 0.75 * b.out)


def test_weighted_model_importance_renormalises_over_boosters():
    members = [(0.2, _Fixed([0.0], [1.0, 0.0])), (0.3, _Fixed([0.0], [0.0, 1.0])), (0.5, _Fixed([0.0]))]
    np.testing.assert_allclose(WeightedModel(members, "regression").feature_importance(), [0.4, 0.6])
    assert WeightedModel([(1.0, _Fixed([0.0]))], "regression").feature_importance() is None


def test_member_output_by_kind():
    runner = _multiclass_runner()
    assert runner.member("m").kind == "estimator" and runner.member("m").n_classes == 3

    class _RawBooster:
        def predict(self, X):
            return np.array([0.25, 0.75])

    out = MemberOutput(_RawBooster(), "booster", "binary", 2).output(None)
    np.testing.assert_allclose(out, [[0.75, 0.25], [0.25, 0.75]])
    X = np.random.default_rng(0).normal(size=(40, 2))
    est = LogisticRegression().fit(X, (X[:, 0] > 0) * 2)  # classes 0 and 2 of 3
    out = MemberOutput(est, "estimator", "multiclass", 3).output(X)
    assert out.shape == (40, 3) and np.all(out[:, 1] == 0)
