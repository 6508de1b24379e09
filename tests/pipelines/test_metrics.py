"""resolve_metric, Metric (scoring out-of-fold predictions, natural units) and the one rule for
a metric's direction, greater_is_better."""

import numpy as np
import pytest
from sklearn.metrics import (
    accuracy_score,
    f1_score,
    log_loss,
    make_scorer,
    mean_absolute_error,
    mean_squared_error,
    r2_score,
    roc_auc_score,
)

from featsmith.pipelines import DEFAULT_METRICS, greater_is_better, resolve_metric


def _binary(n=200, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    p1 = np.clip(0.3 * y + 0.7 * rng.random(n), 0.01, 0.99)
    return y, np.column_stack([1 - p1, p1])


def _multiclass(n=200, k=3, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, k, n)
    logits = rng.normal(size=(n, k))
    logits[np.arange(n), y] += 1.0
    proba = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    return y, proba


def _regression(n=200, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.normal(size=n)
    return y, y + 0.5 * rng.normal(size=n)


@pytest.mark.parametrize(
    ("task", "name", "sign"),
    [("binary", "roc_auc", 1), ("multiclass", "log_loss", -1), ("regression", "rmse", -1)],
)
def test_none_resolves_to_the_task_default(task, name, sign):
    metric = resolve_metric(None, task)
    assert DEFAULT_METRICS[task] == name
    assert (metric.name, metric.sign, metric.greater_is_better) == (name, sign, sign > 0)


@pytest.mark.parametrize(
    ("given", "name", "sign"),
    [
        ("auc", "auc", 1),
        ("ROC_AUC", "roc_auc", 1),
        ("logloss", "logloss", -1),
        ("LogLoss", "logloss", -1),
        ("RMSE", "rmse", -1),
        ("mse", "mse", -1),
        ("mae", "mae", -1),
    ],
)
def test_aliases_are_case_insensitive_and_losses_are_shown_positive(given, name, sign):
    metric = resolve_metric(given, "regression")
    assert (metric.name, metric.sign) == (name, sign)


def test_alias_scores_are_higher_is_better_and_natural_is_the_plain_value():
    y, pred = _regression()
    for name, plain in [
        ("rmse", np.sqrt(mean_squared_error(y, pred))),
        ("mse", mean_squared_error(y, pred)),
        ("mae", mean_absolute_error(y, pred)),
    ]:
        metric = resolve_metric(name, "regression")
        value = metric.score_predictions(y, pred)
        assert value == pytest.approx(-plain)  # the scorer's value: maximised by the search
        assert metric.natural(value) == pytest.approx(plain)


@pytest.mark.parametrize("name", ["accuracy", "f1_macro", "r2", "neg_mean_absolute_error", "neg_log_loss"])
def test_scikit_learn_scorer_names_keep_their_name_and_sign(name):
    metric = resolve_metric(name, "binary")
    assert (metric.name, metric.sign, metric.greater_is_better) == (name, 1, True)
    assert metric.natural(-0.25) == -0.25  # shown as scikit-learn reports it


def test_unknown_name_is_a_value_error_naming_it():
    with pytest.raises(ValueError, match="Unknown metric 'rmsle_typo'.*get_scorer_names"):
        resolve_metric("rmsle_typo", "regression")


@pytest.mark.parametrize("bad", [3, 0.5, ["rmse"]])
def test_non_callable_is_a_type_error(bad):
    with pytest.raises(TypeError, match=f"got {type(bad).__name__}"):
        resolve_metric(bad, "regression")


def test_scorer_object_is_used_as_given():
    scorer = make_scorer(f1_score)
    metric = resolve_metric(scorer, "binary")
    assert metric.scorer is scorer
    assert (metric.name, metric.sign) == ("f1_score", 1)
    y, proba = _binary()
    expected = f1_score(y, proba.argmax(axis=1))
    assert metric.score_predictions(y, proba, classes=np.arange(2)) == pytest.approx(expected)


def test_plain_function_is_maximised_unless_named_like_a_loss():
    def agreement(y_true, y_pred):
        return float(np.mean(y_true == y_pred))

    def my_error(y_true, y_pred):
        return float(np.mean(np.abs(y_true - y_pred)))

    y, proba = _binary()
    gain = resolve_metric(agreement, "binary")
    assert (gain.name, gain.sign) == ("agreement", 1)
    # A plain function gets hard predictions (the most probable class).
    assert gain.score_predictions(y, proba, classes=np.arange(2)) == pytest.approx(
        accuracy_score(y, proba.argmax(axis=1))
    )

    y_reg, pred = _regression()
    loss = resolve_metric(my_error, "regression")
    assert (loss.name, loss.sign, loss.greater_is_better) == ("my_error", -1, False)
    value = loss.score_predictions(y_reg, pred)
    assert value == pytest.approx(-mean_absolute_error(y_reg, pred))
    assert loss.natural(value) == pytest.approx(mean_absolute_error(y_reg, pred))


@pytest.mark.parametrize("word", ["loss", "Deviance", "ERROR"])
def test_loss_detection_in_function_names(word):
    def f(y_true, y_pred):
        return 0.0

    f.__name__ = f"custom_{word}_fn"
    assert resolve_metric(f, "regression").sign == -1


def test_three_argument_callable_is_a_scorer():
    def scorer(estimator, X, y):
        return -float(np.mean((estimator.predict(X) - y) ** 2))

    metric = resolve_metric(scorer, "regression")
    assert metric.scorer is scorer and metric.sign == 1
    y, pred = _regression()
    assert metric.score_predictions(y, pred) == pytest.approx(-mean_squared_error(y, pred))


def test_binary_roc_auc_scores_the_positive_column():
    y, proba = _binary()
    metric = resolve_metric("roc_auc", "binary")
    value = metric.score_predictions(y, proba, classes=np.arange(2))
    assert value == pytest.approx(roc_auc_score(y, proba[:, 1]))
    assert value > 0.6  # the positive class's column, not its complement


def test_multiclass_log_loss_and_accuracy():
    y, proba = _multiclass()
    classes = np.arange(3)
    ll = resolve_metric(None, "multiclass")
    value = ll.score_predictions(y, proba, classes=classes)
    assert value == pytest.approx(-log_loss(y, proba))
    assert ll.natural(value) == pytest.approx(log_loss(y, proba))
    acc = resolve_metric("accuracy", "multiclass")
    assert acc.score_predictions(y, proba, classes=classes) == pytest.approx(accuracy_score(y, proba.argmax(1)))


def test_classes_map_columns_to_labels():
    # Hard predictions are classes[argmax], so labels that are not 0..k-1 score correctly.
    y, proba = _multiclass()
    labels = np.array([10, 20, 30])
    acc = resolve_metric("accuracy", "multiclass")
    assert acc.score_predictions(labels[y], proba, classes=labels) == pytest.approx(
        accuracy_score(y, proba.argmax(1))
    )


def test_regression_r2():
    y, pred = _regression()
    assert resolve_metric("r2", "regression").score_predictions(y, pred) == pytest.approx(r2_score(y, pred))


def test_log_loss_with_a_class_absent_from_the_scored_rows():
    y, proba = _multiclass()
    rows = y != 2
    value = resolve_metric(None, "multiclass").score_predictions(y[rows], proba[rows], classes=np.arange(3))
    assert value == pytest.approx(-log_loss(y[rows], proba[rows], labels=np.arange(3)))


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("rmse", False), ("RMSE", False), ("mse", False), ("mae", False), ("log_loss", False),
        ("logloss", False), ("roc_auc", True), ("auc", True),
        ("neg_log_loss", True), ("neg_root_mean_squared_error", True), ("neg_mean_absolute_error", True),
        ("accuracy", True), ("r2", True), ("f1_macro", True),
        ("my_error", False), ("huber_loss", False), ("Poisson_Deviance", False), ("gain", True), ("agreement", True),
    ],
)
def test_greater_is_better_rule(name, expected):
    assert greater_is_better(name) is expected


def _named(name, body):
    body.__name__ = name
    return body


@pytest.mark.parametrize(
    "spec",
    [None, "rmse", "MAE", "logloss", "auc", "roc_auc", "accuracy", "neg_log_loss", "r2",
     _named("my_error", lambda y, p: 0.0), _named("agreement", lambda y, p: 0.0), make_scorer(f1_score)],
    ids=lambda s: getattr(s, "__name__", None) or repr(s),
)
@pytest.mark.parametrize("task", ["binary", "regression"])
def test_greater_is_better_agrees_with_the_resolved_metric(spec, task):
    metric = resolve_metric(spec, task)
    assert greater_is_better(metric.name) is metric.greater_is_better


def test_plain_function_named_rmse_is_minimised():
    def rmse(y_true, y_pred):
        return float(np.sqrt(np.mean((y_true - y_pred) ** 2)))

    metric = resolve_metric(rmse, "regression")
    assert greater_is_better(metric.name) is metric.greater_is_better is False


def test_loss_scorer_object_direction_agrees_with_its_name():
    metric = resolve_metric(make_scorer(mean_squared_error, greater_is_better=False), "regression")
    assert greater_is_better(metric.name) is metric.greater_is_better
