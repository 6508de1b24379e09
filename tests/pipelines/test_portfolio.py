"""EstimatorTrialRunner: the scikit-learn families (extra trees, linear) validated on the same
folds as LightGBM, with their family names, prediction cost and fold averages."""

import time

import numpy as np
import pytest
from sklearn.metrics import accuracy_score, roc_auc_score

from featsmith.pipelines import make_splits, resolve_metric
from featsmith.pipelines._catboost import catboost_available
from featsmith.pipelines._portfolio import PORTFOLIO_CONFIGS, EstimatorTrialRunner
from featsmith.pipelines._trials import estimator_output

EXTRA_TREES = {"model": "extra_trees", "n_estimators": 20, "max_features": 0.5, "min_samples_leaf": 2}
LINEAR = {"model": "linear", "C": 1.0}
HIST_GB = {"model": "hist_gb", "learning_rate": 0.1, "max_leaf_nodes": 15, "min_samples_leaf": 10, "max_iter": 300}
CATBOOST = {"model": "catboost", "learning_rate": 0.2, "depth": 4, "iterations": 200}
needs_catboost = pytest.mark.skipif(not catboost_available(), reason="catboost is not installed")


def _data(task, n=240, seed=0):
    """Column 1 has missing values and column 3 is categorical (codes), as TableEncoder gives."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 4))
    X[:, 3] = rng.integers(0, 4, n)
    signal = 1.5 * X[:, 0] + (X[:, 3] == 1) + 0.4 * rng.normal(size=n)
    X[::9, 1] = np.nan
    if task == "regression":
        return X, signal
    if task == "binary":
        return X, (signal > 0).astype(np.int64)
    return X, np.digitize(signal, np.quantile(signal, [1 / 3, 2 / 3])).astype(np.int64)


def _runner(task, X=None, y=None, splits=None, metric=None):
    if X is None:
        X, y = _data(task)
    if splits is None:
        splits = make_splits(y, task, random_state=0)
    n_classes = 0 if task == "regression" else int(y.max()) + 1
    return EstimatorTrialRunner(X, y, categorical=[3], task=task, n_classes=n_classes,
                                metric=resolve_metric(metric, task), splits=splits, n_threads=1, seed=0)


@pytest.mark.parametrize("config", [EXTRA_TREES, LINEAR], ids=["extra_trees", "linear"])
def test_binary_trial(config):
    runner = _runner("binary")
    result = runner.run(config, float("inf"))
    assert (result.status, result.family, result.n_rounds) == ("ok", config["model"], 0)
    assert len(result.models) == 5 and result.runner is runner
    np.testing.assert_allclose(result.oof.sum(axis=1), 1.0)
    assert result.value == pytest.approx(roc_auc_score(runner.y, result.oof[:, 1]))
    assert result.value > 0.85  # columns in class order: swapped, this would be far below 0.5


def test_portfolio_configs_run_as_shipped():
    runner = _runner("binary")
    results = [runner.run(config, float("inf")) for config in PORTFOLIO_CONFIGS]
    assert [r.family for r in results] == [c["model"] for c in PORTFOLIO_CONFIGS]
    assert all(r.status == "ok" and r.value > 0.85 for r in results)


@pytest.mark.parametrize("config", [EXTRA_TREES, LINEAR], ids=["extra_trees", "linear"])
def test_regression_trial(config):
    runner = _runner("regression")
    result = runner.run(config, float("inf"))
    assert (result.status, result.family) == ("ok", config["model"])
    rmse = np.sqrt(np.mean((result.oof - runner.y) ** 2))
    assert result.value == pytest.approx(-rmse)
    assert rmse < 0.7 * runner.y.std()  # learned something
    fitted = runner.refit(config, 0, float("inf"))
    out = runner.member(fitted).output(runner.X)
    assert out.shape == (len(runner.y),) and out.dtype == np.float64


def _missing_class_splits(y):
    """Two folds; fold 0 trains without class 2 (all its rows are validated there)."""
    rare = np.flatnonzero(y == 2)
    others = np.flatnonzero(y != 2)
    first = np.sort(np.concatenate([rare, others[::2]]))
    second = np.setdiff1d(np.arange(len(y)), first)
    return [(second, first), (first, second)]


@pytest.mark.parametrize("config", [EXTRA_TREES, LINEAR, HIST_GB, pytest.param(CATBOOST, marks=needs_catboost)],
                         ids=["extra_trees", "linear", "hist_gb", "catboost"])
def test_multiclass_with_a_class_missing_from_a_folds_training_rows(config):
    X, y = _data("multiclass")
    # Class 2 is rare: 2 rows (so the fold that never trains on it is not flagged diverged);
    # the boosting families leave them out of their early stopping there.
    y = np.where(y == 2, 1, y)
    y[[5, 50]] = 2
    runner = _runner("multiclass", X, y, splits=_missing_class_splits(y), metric="accuracy")
    result = runner.run(config, float("inf"))
    assert result.status == "ok" and result.family == config["model"]
    assert result.oof.shape == (len(y), 3)
    first_valid = runner.splits[0][1]
    np.testing.assert_array_equal(result.oof[first_valid, 2], 0.0)  # a class it never saw
    np.testing.assert_allclose(result.oof.sum(axis=1), 1.0)
    assert result.value == pytest.approx(accuracy_score(y, result.oof.argmax(axis=1)))
    assert result.value > 0.8
    # The fold average aligns the folds' classes: a 2-class and a 3-class model.
    avg = runner.fold_average(result.models)
    expected = np.mean([estimator_output(m, X, "multiclass", 3) for m in result.models], axis=0)
    np.testing.assert_allclose(avg.predict_proba(X), expected)
    np.testing.assert_array_equal(avg.predict(X), expected.argmax(axis=1))
    np.testing.assert_array_equal(avg.classes_, [0, 1, 2])


def test_regression_fold_average_is_the_mean_prediction():
    runner = _runner("regression")
    result = runner.run(LINEAR, float("inf"))
    avg = runner.fold_average(result.models)
    X = runner.X[:30]
    np.testing.assert_allclose(avg.predict(X), np.mean([m.predict(X) for m in result.models], axis=0))
    np.testing.assert_allclose(runner.member(avg).output(X), avg.predict(X))


def test_a_past_deadline_stops_after_the_first_fold():
    result = _runner("binary").run(LINEAR, time.perf_counter() - 1.0)
    assert result.status == "truncated" and len(result.models) == 1 and result.family == "linear"


def test_predict_cost():
    runner = _runner("binary")
    small = runner.predict_cost({"model": "extra_trees", "n_estimators": 50}, 0)
    assert runner.predict_cost({"model": "extra_trees", "n_estimators": 100}, 0) == pytest.approx(2 * small)
    # Smaller leaves grow deeper trees.
    assert runner.predict_cost({"model": "extra_trees", "n_estimators": 50, "min_samples_leaf": 1}, 0) > small
    more_rows = _runner("binary", *_data("binary", n=2000))
    assert more_rows.predict_cost({"model": "extra_trees", "n_estimators": 50}, 0) > small
    assert runner.predict_cost(LINEAR, 0) == 1.0 < small
    assert runner.predict_cost({"model": "nas_head"}, 0) == 100.0


def test_unknown_family():
    runner = _runner("binary")
    with pytest.raises(ValueError, match="Unknown model family 'svm'"):
        runner.build({"model": "svm"})
    with pytest.raises(ValueError, match="Unknown model family"):
        runner.refit({"model": "svm"}, 0, float("inf"))
    # Inside a trial it is isolated like any failure: recorded, not raised.
    result = runner.run({"model": "svm"}, float("inf"))
    assert (result.status, result.value, result.family) == ("failed", -np.inf, "svm")


def test_extra_trees_take_values_beyond_float32():
    # Found by tests/pipelines/test_auto_properties.py: a 1e300-scale column failed every extra
    # trees trial ("Input X contains infinity or a value too large for dtype('float32')"),
    # two logged warnings each; the values are clipped to float32's range now.
    X, y = _data("binary")
    X[:, 2] *= 1e300
    runner = _runner("binary", X, y)
    result = runner.run(EXTRA_TREES, float("inf"))
    assert result.status == "ok" and result.value > 0.85
    assert runner.refit(EXTRA_TREES, 0, float("inf")).predict_proba(X).shape == (len(y), 2)


def test_linear_trial_on_a_fold_with_one_class():
    # Found by the same property on a 2-row table: a training fold of one class made
    # LogisticRegression raise, a failed trial and two logged warnings; that fold now predicts
    # its one class, as a tree fitted there would.
    X, y = np.array([[0.0, 1.0, 2.0, 0.0], [1.0, 0.0, 1.0, 1.0]]), np.array([0, 1])
    result = _runner("binary", X, y, splits=[(np.array([0]), np.array([1])), (np.array([1]), np.array([0]))]).run(
        LINEAR, float("inf"))
    assert result.status != "failed"
    np.testing.assert_allclose(result.oof, [[0.0, 1.0], [1.0, 0.0]])


@pytest.mark.parametrize("task", ["binary", "multiclass", "regression"])
def test_hist_gb_stops_early_on_the_fold_and_refits_for_the_rounds_found(task):
    runner = _runner(task)
    result = runner.run(HIST_GB, float("inf"))
    assert result.status == "ok" and result.family == "hist_gb"
    assert 0 < result.n_rounds < 300  # stopped on the validation rows, not at max_iter
    refit = runner.refit(HIST_GB, result.n_rounds, float("inf"))
    assert refit[-1].n_iter_ == result.n_rounds  # no early stopping on every row
    cost = runner.predict_cost(HIST_GB, result.n_rounds)
    assert cost == pytest.approx(result.n_rounds * (3 if task == "multiclass" else 1) * np.log2(15))


def test_hist_gb_fits_on_one_openmp_thread_on_small_data(monkeypatch):
    """Two OpenMP threads were 2x-4x slower than one below 50,000 rows x 50 columns with
    OMP_WAIT_POLICY=PASSIVE (featsmith/_threads.py); the caller's n_threads is a ceiling."""
    from sklearn.ensemble import HistGradientBoostingClassifier
    from threadpoolctl import threadpool_info

    seen = []
    original = HistGradientBoostingClassifier.fit

    def spy(self, *args, **kwargs):
        seen.append({d["num_threads"] for d in threadpool_info() if d["user_api"] == "openmp"})
        return original(self, *args, **kwargs)

    monkeypatch.setattr(HistGradientBoostingClassifier, "fit", spy)
    X, y = _data("binary")
    splits = make_splits(y, "binary", random_state=0)
    runner = EstimatorTrialRunner(X, y, categorical=[3], task="binary", n_classes=2,
                                  metric=resolve_metric(None, "binary"), splits=splits, n_threads=2, seed=0)
    result = runner.run(HIST_GB, float("inf"))
    runner.refit(HIST_GB, result.n_rounds, float("inf"))
    assert seen and all(threads <= {1} for threads in seen)


def test_hist_gb_reads_codes_beyond_its_bins_as_numbers():
    X, y = _data("binary", n=600)
    X[:, 3] = np.arange(600) % 300  # 300 codes: more than HistGradientBoosting's 255 bins
    runner = _runner("binary", X, y)
    assert runner.hist_gb_categorical == []
    assert runner.run(HIST_GB, float("inf")).status == "ok"
    assert _runner("binary").hist_gb_categorical == [3]


def test_hist_gb_takes_a_column_with_no_value_in_a_folds_training_rows():
    # A generated feature of a time-ordered plan: missing in the first period, valued later.
    X, y = _data("regression")
    X[:120, 2] = np.nan
    splits = [(np.arange(120), np.arange(120, 180)), (np.arange(180), np.arange(180, 240))]
    runner = _runner("regression", X, y, splits=splits)
    result = runner.run(HIST_GB, float("inf"))
    assert result.status == "ok" and len(result.models) == 2 and np.isfinite(result.oof[120:]).all()
    X[:, 2] = np.nan  # no value in any row: the refit too
    model = _runner("regression", X, y, splits=splits).refit(HIST_GB, 20, float("inf"))
    assert np.isfinite(model.predict(X)).all()


def test_linear_model_takes_infinite_generated_values():
    X, y = _data("binary")
    X[:5, 0] = np.inf  # a generated product of two 1e300-scale columns
    X[5:10, 0] = 1e300
    result = _runner("binary", X, y).run(LINEAR, float("inf"))
    assert result.status == "ok" and np.isfinite(result.oof).all()
