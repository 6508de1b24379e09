"""Metrics: one object that knows how to score out-of-fold predictions with any scikit-learn
scorer, and how to report the value in the metric's natural units."""

from __future__ import annotations

import inspect
import warnings
from dataclasses import dataclass

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.exceptions import UndefinedMetricWarning
from sklearn.metrics import get_scorer, get_scorer_names, log_loss, make_scorer

DEFAULT_METRICS = {"binary": "roc_auc", "multiclass": "log_loss", "regression": "rmse"}

# name -> (scikit-learn scorer name, sign that turns the scorer's value into the natural one)
_ALIASES = {
    "roc_auc": ("roc_auc", 1),
    "auc": ("roc_auc", 1),
    "log_loss": ("neg_log_loss", -1),
    "logloss": ("neg_log_loss", -1),
    "rmse": ("neg_root_mean_squared_error", -1),
    "mse": ("neg_mean_squared_error", -1),
    "mae": ("neg_mean_absolute_error", -1),
}


class _FrozenClassifier(ClassifierMixin, BaseEstimator):
    """Serves precomputed predictions to a scorer; ``X`` is an array of row indices."""

    def __init__(self, proba=None, classes=None):
        self.proba = proba
        self.classes = classes

    def predict_proba(self, X):
        return self.proba[np.asarray(X).ravel()]

    def predict(self, X):
        return self.classes_[np.argmax(self.predict_proba(X), axis=1)]

    @property
    def classes_(self):
        return self.classes


class _FrozenRegressor(RegressorMixin, BaseEstimator):
    def __init__(self, pred=None):
        self.pred = pred

    def predict(self, X):
        return self.pred[np.asarray(X).ravel()]


@dataclass
class Metric:
    """A scorer (higher is better) plus how to show its value.

    ``natural(value) = sign * value``: RMSE and log loss are shown as positive losses,
    scikit-learn scorer names as scikit-learn reports them.
    """

    name: str
    scorer: object
    sign: int = 1

    @property
    def greater_is_better(self) -> bool:
        return self.sign > 0

    def score_predictions(self, y, pred, classes=None) -> float:
        """Score predictions: class probabilities ``(n, n_classes)`` for classification or
        values for regression; returns the scorer's (higher-is-better) value."""
        if classes is not None and getattr(self.scorer, "_score_func", None) is log_loss:
            # The scorer would infer the labels from ``y``: a class missing from the scored rows
            # (a rare class outside a holdout) would then make every trial fail.
            return float(self.scorer._sign * log_loss(y, pred, labels=classes, **self.scorer._kwargs))
        idx = np.arange(len(y))
        if classes is not None:
            est = _FrozenClassifier(proba=pred, classes=classes)
        else:
            est = _FrozenRegressor(pred=pred)
        with warnings.catch_warnings():
            # An undefined score (ROC AUC on one class) comes back as NaN, which the caller
            # handles; the warning would repeat once per trial.
            warnings.simplefilter("ignore", UndefinedMetricWarning)
            return float(self.scorer(est, idx, y))

    def natural(self, value: float) -> float:
        return self.sign * value


def _looks_like_loss(name: str) -> bool:
    low = name.lower()
    return any(k in low for k in ("error", "loss", "deviance"))


def greater_is_better(name: str) -> bool:
    """Whether higher values of the metric called ``name`` are better, as it is reported.

    The one rule for a metric's direction, used by the estimator, the report and the CLI:
    the aliases (``"rmse"``, ``"log_loss"``, ...) are losses reported as positive numbers;
    scikit-learn scorer names follow scikit-learn (``"neg_mean_absolute_error"`` is higher
    is better); any other name (a custom function's) is a loss when it contains "error",
    "loss" or "deviance".

    Examples
    --------
    >>> greater_is_better("rmse"), greater_is_better("roc_auc"), greater_is_better("neg_log_loss")
    (False, True, True)
    """
    key = str(name).lower()
    if key in _ALIASES:
        return _ALIASES[key][1] > 0
    if name in get_scorer_names():
        return True
    return not _looks_like_loss(key)


def resolve_metric(metric, task: str) -> Metric:
    """Turn ``metric=`` into a :class:`Metric`.

    Accepts ``None`` (the task's default: ROC AUC, log loss or RMSE), a name (``"rmse"``,
    ``"mae"``, ``"log_loss"``, ``"roc_auc"`` or any scikit-learn scorer name such as
    ``"accuracy"``, ``"f1_macro"``, ``"r2"``), a scikit-learn scorer (``make_scorer(...)``,
    named after its function and reported in its units, its sign giving the direction) or a
    plain function ``f(y_true, y_pred)``. A plain function's direction follows its
    name by :func:`greater_is_better` (minimised when it is a loss alias such as ``rmse`` or
    contains "error", "loss" or "deviance"); wrap it with ``make_scorer`` to be explicit (and to
    ask for probabilities with ``response_method="predict_proba"``).

    Examples
    --------
    >>> import numpy as np
    >>> m = resolve_metric(None, "regression")
    >>> m.name, m.natural(m.score_predictions(np.array([1.0, 3.0]), np.array([2.0, 2.0])))
    ('rmse', 1.0)
    """
    if metric is None:
        metric = DEFAULT_METRICS[task]
    if isinstance(metric, str):
        key = metric.lower()
        if key in _ALIASES:
            scorer_name, sign = _ALIASES[key]
            return Metric(key, get_scorer(scorer_name), sign)
        if metric in get_scorer_names():
            return Metric(metric, get_scorer(metric), 1)
        raise ValueError(
            f"Unknown metric {metric!r}; use one of {sorted(_ALIASES)} or a scikit-learn scorer name "
            "(sklearn.metrics.get_scorer_names()), or pass a callable."
        )
    if not callable(metric):
        raise TypeError(f"metric must be None, a string or a callable, got {type(metric).__name__}.")
    if hasattr(metric, "_score_func"):  # a scikit-learn scorer object: its own sign says the direction
        return Metric(getattr(metric._score_func, "__name__", "custom"), metric, getattr(metric, "_sign", 1))
    try:
        n_params = sum(
            1
            for p in inspect.signature(metric).parameters.values()
            if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) and p.default is p.empty
        )
    except (TypeError, ValueError):
        n_params = 2
    name = getattr(metric, "__name__", "custom")
    if n_params >= 3:  # scorer-like callable(estimator, X, y)
        return Metric(name, metric, 1)
    loss = not greater_is_better(name)
    return Metric(name, make_scorer(metric, greater_is_better=not loss), -1 if loss else 1)
