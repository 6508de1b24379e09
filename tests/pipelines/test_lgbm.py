"""LGBMTrialRunner: parameters, early stopping, the wall-clock deadline, refit, prediction cost
and fold averages, on small generated data built the way AutoPipeline builds its runner."""

import time

import numpy as np
import pytest
from sklearn.metrics import log_loss, roc_auc_score

from featsmith.pipelines import make_splits, resolve_metric
from featsmith.pipelines._lgbm import EARLY_STOPPING_ROUNDS, MAX_ROUNDS, LGBMTrialRunner
from featsmith.pipelines._trials import BoosterAverage, booster_output

CAT = 3  # the categorical column (integer codes, as TableEncoder gives them)


def _data(task, n, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 4))
    X[:, CAT] = rng.integers(0, 4, n)
    signal = X[:, 0] + 0.5 * X[:, 1] + (X[:, CAT] == 2) + 0.5 * rng.normal(size=n)
    if task == "regression":
        return X, signal
    if task == "binary":
        return X, (signal > np.median(signal)).astype(np.int64)
    return X, np.digitize(signal, np.quantile(signal, [1 / 3, 2 / 3])).astype(np.int64)


def _runner(task="binary", metric=None, n=300, cv=None):
    X, y = _data(task, n)
    splits = make_splits(y, task, cv=cv, random_state=0)
    n_classes = 0 if task == "regression" else int(y.max()) + 1
    return LGBMTrialRunner(X, y, categorical=[CAT], task=task, n_classes=n_classes,
                           metric=resolve_metric(metric, task), splits=splits, n_threads=1, seed=0)


@pytest.mark.parametrize(
    ("task", "metric", "objective", "eval_metric"),
    [
        ("binary", None, "binary", "auc"),
        ("binary", "auc", "binary", "auc"),
        ("binary", "log_loss", "binary", "binary_logloss"),
        ("binary", "accuracy", "binary", "binary_logloss"),
        ("multiclass", None, "multiclass", "multi_logloss"),
        ("multiclass", "accuracy", "multiclass", "multi_logloss"),
        ("regression", None, "regression", "l2"),
        ("regression", "mae", "regression", "l1"),
        ("regression", "r2", "regression", "l2"),
    ],
)
def test_base_params_choose_objective_and_eval_metric(task, metric, objective, eval_metric):
    params = _runner(task, metric, n=60).base_params()
    assert (params["objective"], params["metric"]) == (objective, eval_metric)
    assert (params["num_threads"], params["seed"], params["deterministic"]) == (1, 0, True)
    assert params.get("num_class") == (3 if task == "multiclass" else None)


def test_trials_take_one_thread_on_small_folds():
    """Two threads were twice as slow as one below about 50,000 rows x 50 columns (featsmith/_threads.py)."""
    X, y = _data("binary", 300)
    splits = make_splits(y, "binary", cv=None, random_state=0)
    runner = LGBMTrialRunner(X, y, categorical=[CAT], task="binary", n_classes=2,
                             metric=resolve_metric(None, "binary"), splits=splits, n_threads=2, seed=0)
    assert runner.base_params()["num_threads"] == 1


def test_a_refit_on_every_row_takes_the_threads_of_every_row(monkeypatch):
    import lightgbm as lgb

    import featsmith._threads

    # 300 rows x 4 columns: a fold's 240 rows get one thread per 550 cells (1), every row 2.
    monkeypatch.setattr(featsmith._threads, "CELLS_PER_THREAD", 550)
    X, y = _data("binary", 300)
    runner = LGBMTrialRunner(X, y, categorical=[CAT], task="binary", n_classes=2,
                             metric=resolve_metric(None, "binary"), splits=make_splits(y, "binary", random_state=0),
                             n_threads=8, seed=0)
    seen, train = [], lgb.train
    monkeypatch.setattr(lgb, "train", lambda params, *a, **k: seen.append(params["num_threads"]) or train(
        params, *a, **k))
    assert runner.base_params()["num_threads"] == 1
    runner.refit({"learning_rate": 0.1}, 2, float("inf"))
    assert seen == [2]


def test_min_child_samples_is_clamped_on_tiny_data():
    tiny = _runner(n=40)  # 5 folds of 32 training rows: 20 rows per leaf could never split
    assert tiny._params({})["min_child_samples"] == 3
    assert tiny._params({"min_child_samples": 2})["min_child_samples"] == 2
    big = _runner(n=300)  # 240 training rows per fold
    assert big._params({})["min_child_samples"] == 20
    assert big._params({"min_child_samples": 100})["min_child_samples"] == 24


def test_tiny_data_defaults_still_learn():
    runner = _runner(n=40)
    result = runner.run({}, float("inf"))
    assert result.status == "ok"
    assert all(b.dump_model()["tree_info"][0]["num_leaves"] > 1 for b in result.models)
    assert result.value > 0.6


def test_subsample_below_one_turns_bagging_on():
    runner = _runner(n=60)
    config = {"subsample": 0.8}
    assert runner._params(config)["subsample_freq"] == 1
    assert config == {"subsample": 0.8}  # the caller's config is left alone
    assert "subsample_freq" not in runner._params({"subsample": 1.0})
    assert "subsample_freq" not in runner._params({})


def test_early_stopping_on_each_fold():
    runner = _runner("regression")
    result = runner.run({"learning_rate": 0.2}, float("inf"))
    assert result.status == "ok" and result.family == "lightgbm"
    best = [b.best_iteration for b in result.models]
    assert all(0 < k < MAX_ROUNDS - EARLY_STOPPING_ROUNDS for k in best)
    # Each fold's booster is kept at its best validation round.
    assert [b.current_iteration() for b in result.models] == best
    assert result.n_rounds == int(np.mean(best))


@pytest.mark.parametrize("task", ["binary", "multiclass", "regression"])
def test_oof_are_the_fold_boosters_predictions_and_value_their_score(task):
    runner = _runner(task)
    result = runner.run({"learning_rate": 0.2}, float("inf"))
    assert result.status == "ok" and len(result.models) == 5
    for booster, (_, va) in zip(result.models, runner.splits, strict=True):
        raw = booster.predict(runner.X[va], num_iteration=booster.best_iteration)
        np.testing.assert_allclose(result.oof[va], booster_output(raw, task))
    y, oof = runner.y, result.oof
    expected = {
        "binary": lambda: roc_auc_score(y, oof[:, 1]),
        "multiclass": lambda: -log_loss(y, oof),
        "regression": lambda: -np.sqrt(np.mean((oof - y) ** 2)),
    }[task]()
    assert result.value == pytest.approx(expected)


def test_a_past_deadline_truncates_the_trial_after_one_round_of_one_fold():
    runner = _runner()
    result = runner.run({}, time.perf_counter() - 1.0)
    assert result.status == "truncated" and len(result.models) == 1
    assert result.models[0].current_iteration() == 1 and result.n_rounds == 1
    va = runner.splits[0][1]
    assert result.value == pytest.approx(roc_auc_score(runner.y[va], result.oof[va, 1]))


def test_a_past_deadline_on_a_holdout_is_a_complete_but_short_trial():
    runner = _runner(cv=2)
    runner.restrict_folds(1)
    result = runner.run({}, time.perf_counter() - 1.0)
    assert result.status == "ok" and result.n_rounds == 1


def test_the_deadline_stops_boosting_midway():
    runner = _runner("regression")
    # This slow a learning rate boosts for thousands of rounds (seconds) before early stopping.
    result = runner.run({"learning_rate": 0.001}, time.perf_counter() + 0.05)
    assert result.status == "truncated" and len(result.models) == 1
    assert result.models[0].current_iteration() < MAX_ROUNDS


def test_multiclass_blow_up_is_diverged():
    runner = _runner("multiclass")
    assert runner.run({"learning_rate": 0.1}, float("inf")).status == "ok"
    blown = runner.run({"learning_rate": 50.0}, float("inf"))
    assert (blown.status, blown.value) == ("diverged", -np.inf)


def test_refit_trains_all_rows_for_the_rounds_given():
    runner = _runner()
    booster = runner.refit({"learning_rate": 0.1}, 7, float("inf"))
    trees = booster.trees_to_dataframe()
    assert booster.current_iteration() == 7 and trees["tree_index"].nunique() == 7
    assert trees.loc[trees["node_depth"] == 1, "count"].tolist() == [len(runner.y)] * 7  # all rows
    assert runner.refit({}, 0, float("inf")).current_iteration() == 1
    p = runner.member(booster).output(runner.X)
    assert p.shape == (len(runner.y), 2) and np.allclose(p.sum(axis=1), 1.0)


def test_refit_at_a_past_deadline_returns_none():
    assert _runner().refit({}, 50, time.perf_counter() - 1.0) is None


def test_predict_cost_grows_with_rounds_leaves_and_classes():
    runner = _runner(n=60)
    base = runner.predict_cost({}, 100)
    assert base == pytest.approx(100 * np.log2(31))
    assert runner.predict_cost({}, 200) == pytest.approx(2 * base)
    assert runner.predict_cost({}, 0) == pytest.approx(base / 100)  # at least one round
    assert runner.predict_cost({"num_leaves": 255}, 100) > base > runner.predict_cost({"num_leaves": 7}, 100)
    assert runner.predict_cost({"num_leaves": 255, "max_depth": 3}, 100) == pytest.approx(300)
    multi = _runner("multiclass", n=60)
    assert multi.predict_cost({}, 100) == pytest.approx(3 * base)


def test_fold_average_averages_the_fold_boosters():
    runner = _runner()
    result = runner.run({"learning_rate": 0.2}, float("inf"))
    avg = runner.fold_average(result.models)
    assert isinstance(avg, BoosterAverage)
    assert avg.n_iterations == [b.best_iteration for b in result.models]
    X = runner.X[:20]
    expected = np.mean([b.predict(X, num_iteration=b.best_iteration) for b in result.models], axis=0)
    np.testing.assert_allclose(avg.predict(X), expected)
    np.testing.assert_allclose(runner.member(avg).output(X)[:, 1], expected)


def test_free_drops_the_cached_folds_and_runs_again():
    runner = _runner()
    first = runner.run({"learning_rate": 0.2}, float("inf"))
    runner.free()
    again = runner.run({"learning_rate": 0.2}, float("inf"))
    assert again.value == first.value  # seeded and deterministic
