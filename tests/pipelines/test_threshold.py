"""The decision threshold of binary tasks: chosen on out-of-fold predictions for a label metric,
recorded in ``decision_threshold_`` and used by ``predict`` and ``score``."""

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import f1_score, make_scorer

from featsmith import AutoPipeline
from featsmith.pipelines._metrics import resolve_metric
from featsmith.pipelines._stages import Threshold, choose_threshold, decide, label_metric_names
from featsmith.pipelines._stages.ensemble import Member


def _oof(n=2000, seed=0, rate=0.05):
    """Out-of-fold probabilities of an imbalanced task: every one below 0.5, so the default
    threshold predicts no positive, yet the positives rank higher."""
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < rate).astype(int)
    p1 = np.clip(0.03 + 0.25 * y * rng.random(n) + 0.12 * rng.random(n), 0, 0.45)
    return y, np.column_stack([1 - p1, p1])


def _stage(y, proba, metric="f1", *, valid=None, threshold_metric=None, task="binary", members=None):
    ctx = SimpleNamespace(task=task, metric=resolve_metric(metric, task), classes=np.array(["no", "yes"]),
                          progress=SimpleNamespace(stage=lambda name: None))
    members = members or [(proba, 1.0)]
    ensemble = SimpleNamespace(members=[Member(SimpleNamespace(oof=p), w) for p, w in members])
    runner = SimpleNamespace(y=y, valid_mask=np.ones(len(y), bool) if valid is None else valid)
    return choose_threshold(ctx, ensemble, runner, threshold_metric=threshold_metric)


def test_a_label_metric_gets_the_threshold_that_maximises_it():
    y, proba = _oof()
    result = _stage(y, proba)
    assert isinstance(result, Threshold) and result.stage == "threshold"
    assert f1_score(y, decide(proba, 0.5)) == 0.0
    assert 0 < result.threshold < 0.5 and result.metric == "f1"
    tuned = f1_score(y, decide(proba, result.threshold))
    assert tuned > 0.5 and result.score_at_threshold == pytest.approx(tuned)
    # No threshold on a fine grid does better on these rows.
    assert max(f1_score(y, proba[:, 1] >= t) for t in np.linspace(0.01, 0.45, 300)) <= tuned + 0.02
    assert "maximises f1 on out-of-fold predictions" in result.summary and "P(yes) >=" in result.summary


def test_the_threshold_is_chosen_on_out_of_fold_rows_only():
    y, proba = _oof(seed=1)
    valid = np.zeros(len(y), bool)
    valid[: len(y) // 2] = True
    # Rows no fold validated: their predictions (zeros here, as a fit leaves them, or
    # anything else) must not move the threshold.
    spoiled = proba.copy()
    spoiled[~valid] = [[0.0, 1.0]] * int((~valid).sum())
    on_valid = _stage(y[valid], proba[valid])
    assert _stage(y, spoiled, valid=valid).threshold == on_valid.threshold
    unscored = proba.copy()
    unscored[~valid] = 0.0
    assert _stage(y, unscored, valid=valid | True).threshold == on_valid.threshold


def test_the_ensemble_weights_its_members():
    y, proba = _oof(seed=2)
    noise = np.random.default_rng(0).random(len(y))
    other = np.column_stack([1 - noise, noise])
    mixed = _stage(y, None, members=[(proba, 0.7), (other, 0.3)])
    assert mixed.threshold == _stage(y, 0.7 * proba + 0.3 * other).threshold


def test_threshold_metric_tunes_while_the_search_keeps_its_metric():
    y, proba = _oof(seed=3)
    default = _stage(y, proba, metric="roc_auc")
    assert default.threshold == 0.5 and default.metric is None
    assert "roc_auc scores probabilities" in default.summary
    tuned = _stage(y, proba, metric="roc_auc", threshold_metric="balanced_accuracy")
    assert tuned.metric == "balanced_accuracy" and tuned.threshold < 0.5
    assert tuned.score_at_threshold > 0.8


def test_a_custom_label_scorer_scores_the_labels_themselves():
    y, proba = _oof(seed=4)
    custom = make_scorer(lambda t, p: f1_score(t, p))  # not a scikit-learn metric: no shortcut
    result = _stage(y, proba, metric=custom)
    assert result.threshold == _stage(y, proba).threshold
    assert result.score_at_threshold == pytest.approx(_stage(y, proba).score_at_threshold)


def test_nothing_to_tune_on_keeps_the_default_and_says_why():
    y, proba = _oof(seed=5)
    one_class = _stage(np.zeros(len(y), int), proba)
    assert one_class.threshold == 0.5 and "one class" in one_class.summary
    assert _stage(y, proba, task="multiclass").threshold is None


def test_decide_is_the_argmax_at_the_default():
    proba = np.array([[0.5, 0.5], [0.4, 0.6], [0.7, 0.3]])
    assert list(decide(proba, 0.5)) == [0, 1, 0] == list(decide(proba, None))
    assert list(decide(proba, 0.3)) == [1, 1, 1] and list(decide(proba, 0.55)) == [0, 1, 0]


# -- AutoPipeline ---------------------------------------------------------------------------


def _imbalanced(n=1000, seed=0):
    rng = np.random.default_rng(seed)
    X = pd.DataFrame({"a": rng.normal(size=n), "b": rng.normal(size=n), "c": rng.choice(list("xyz"), n)})
    logit = 1.5 * X["a"] - 3.5
    return X, np.where(rng.random(n) < 1 / (1 + np.exp(-logit)), "pos", "neg")


def _fit(X, y, **kw):
    return AutoPipeline(time_budget=20, max_trials=2, random_state=0, n_jobs=1, verbose=0, **kw).fit(X, y)


@pytest.fixture(scope="module")
def tuned():
    X, y = _imbalanced()
    return _fit(X, y, threshold_metric="f1"), X, y


def test_predict_and_score_use_the_tuned_threshold(tuned):
    model, X, y = tuned
    assert list(model.classes_) == ["neg", "pos"] and model.metric_ == "roc_auc"
    t = model.decision_threshold_
    assert isinstance(t, float) and 0 < t < 0.5
    assert list(model.stages_["stage"]).index("threshold") == list(model.stages_["stage"]).index("refit") - 1
    assert "threshold" in model.stage_timings_
    proba = model.predict_proba(X)
    np.testing.assert_array_equal(model.predict(X), np.where(proba[:, 1] >= t, "pos", "neg"))
    # On new rows (in-sample, an ensemble that fits its training rows closely can score a
    # better F1 at the argmax than at a threshold tuned out of fold).
    X_new, y_new = _imbalanced(n=4000, seed=7)
    at_default = model.classes_[model.predict_proba(X_new).argmax(1)]
    assert f1_score(y_new, model.predict(X_new), pos_label="pos") > f1_score(y_new, at_default, pos_label="pos")
    # score() with a label metric scores the labels predict gives.
    model.set_params(metric="f1")
    try:
        assert model.score(X, y) == pytest.approx(f1_score(y, model.predict(X), pos_label="pos"))
    finally:
        model.set_params(metric=None)


def test_a_label_metric_tunes_the_threshold_by_itself():
    X, y = _imbalanced(seed=1)
    model = _fit(X, y, metric="balanced_accuracy")
    assert model.decision_threshold_ < 0.5
    assert "balanced_accuracy" in model.stages_.set_index("stage").loc["threshold", "summary"]


def test_a_probability_metric_keeps_the_most_probable_class():
    X, y = _imbalanced(seed=2)
    model = _fit(X, y)
    assert model.decision_threshold_ == 0.5
    np.testing.assert_array_equal(model.predict(X), model.classes_[model.predict_proba(X).argmax(1)])


@pytest.mark.parametrize("task, make_y", [
    ("regression", lambda rng, n: rng.normal(size=n)),
    ("multiclass", lambda rng, n: rng.choice(["a", "b", "c"], n)),
])
def test_other_tasks_have_no_threshold_and_refuse_threshold_metric(task, make_y):
    rng = np.random.default_rng(0)
    X = pd.DataFrame({"a": rng.normal(size=150), "b": rng.normal(size=150)})
    y = make_y(rng, 150)
    refused = f"threshold_metric='f1' sets the decision threshold of a binary task; this task is {task}"
    with pytest.raises(ValueError, match=refused):
        _fit(X, y, threshold_metric="f1")
    assert _fit(X, y).decision_threshold_ is None


@pytest.mark.parametrize("bad, message", [
    ("roc_auc", "scores probabilities or values"),
    ("nope", "is not the name of a scikit-learn label metric"),
    (3, "is not the name of a scikit-learn label metric"),
    ("r2", "scores probabilities or values"),
])
def test_a_bad_threshold_metric_is_refused_before_any_work(bad, message):
    X, y = _imbalanced(n=50)
    with pytest.raises(ValueError, match=message) as info:
        _fit(X, y, threshold_metric=bad)
    assert "balanced_accuracy" in str(info.value)  # the valid names are listed


def test_the_label_metric_names():
    names = label_metric_names()
    assert {"f1", "balanced_accuracy", "precision", "recall", "accuracy", "matthews_corrcoef"} <= set(names)
    assert not {"roc_auc", "neg_log_loss", "r2", "f1_samples", "adjusted_rand_score"} & set(names)
