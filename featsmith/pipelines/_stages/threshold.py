"""Stage 7, threshold: the decision threshold of a binary task, chosen on the ensemble's
out-of-fold predictions when predicted labels are scored.

The convention is scikit-learn's ``TunedThresholdClassifierCV``: the threshold applies to the
probability of ``classes_[1]`` (the positive class of ``f1``, ``precision``, ``recall``, ...),
and ``proba[:, 1] >= threshold`` predicts it.
"""

from __future__ import annotations

import functools
import warnings
from dataclasses import dataclass

import numpy as np
from sklearn.exceptions import UndefinedMetricWarning
from sklearn.metrics import get_scorer, get_scorer_names

from featsmith.pipelines._metrics import resolve_metric
from featsmith.pipelines._stages.base import StageResult, stage

DEFAULT_THRESHOLD = 0.5
# Candidates: this many quantiles of the out-of-fold probabilities (dense where most rows are)
# plus as many evenly spaced points between their extremes (reaching into the tail where a rare
# class's rows are), and 0.5, so the tuned threshold never validates worse than the default.
N_GRID = 100
# Label metrics whose plain name scores the positive class only (average="binary").
_BINARY_AVERAGED = ("f1", "precision", "recall", "jaccard")


def needs_labels(metric) -> bool:
    """Whether ``metric`` (a :class:`featsmith.pipelines._metrics.Metric`) scores predicted
    labels (its scorer calls ``predict``: f1, accuracy, ...) rather than probabilities."""
    return getattr(metric.scorer, "_response_method", None) == "predict"


def _is_classification_scorer(scorer) -> bool:
    func = getattr(scorer, "_score_func", None)
    return getattr(func, "__module__", "").startswith("sklearn.metrics._classification")


@functools.cache
def label_metric_names() -> tuple[str, ...]:
    """The scikit-learn scorer names ``threshold_metric`` accepts: classification metrics of
    predicted labels (``"f1"``, ``"balanced_accuracy"``, ``"matthews_corrcoef"``, ...)."""
    names = []
    for name in get_scorer_names():
        scorer = get_scorer(name)
        if (scorer._response_method == "predict" and _is_classification_scorer(scorer)
                and scorer._kwargs.get("average") != "samples"):  # "samples" is for multilabel y
            names.append(name)
    return tuple(names)


def check_threshold_metric(threshold_metric) -> None:
    """``AutoPipeline``'s check of ``threshold_metric=``: None or a label metric's name."""
    names = label_metric_names()
    if threshold_metric is None or (isinstance(threshold_metric, str) and threshold_metric in names):
        return
    if isinstance(threshold_metric, str) and threshold_metric in get_scorer_names():
        problem = "scores probabilities or values, which no threshold changes"
    else:
        problem = "is not the name of a scikit-learn label metric"
    raise ValueError(
        f"threshold_metric={threshold_metric!r} {problem}; give None or the name of a metric of "
        f"predicted labels: {', '.join(names)}."
    )


def check_threshold_task(threshold_metric, task: str) -> None:
    """``threshold_metric`` applies to binary tasks only; say what to do instead for others."""
    if threshold_metric is None or task == "binary":
        return
    if task == "regression":
        fix = "this task is regression, where no labels are predicted: leave threshold_metric=None"
    else:
        # A per-class average is what a multiclass task can tune for.
        averaged = f"{threshold_metric}_macro" if threshold_metric in _BINARY_AVERAGED else threshold_metric
        fix = (f"this task is multiclass, where predict takes the most probable class: leave "
               f"threshold_metric=None, and pass metric={averaged!r} to tune the model for it")
    raise ValueError(f"threshold_metric={threshold_metric!r} sets the decision threshold of a binary task; {fix}.")


def decide(proba: np.ndarray, threshold: float | None) -> np.ndarray:
    """Class codes from probabilities: ``proba[:, 1] >= threshold`` for a tuned binary
    threshold, else the most probable class."""
    if threshold is None or threshold == DEFAULT_THRESHOLD:
        # At the default the argmax (a tie goes to classes_[0]) keeps predict the argmax of
        # predict_proba, as before thresholds were tuned and as scikit-learn's checks require.
        return np.argmax(proba, axis=1)
    return (proba[:, 1] >= threshold).astype(np.intp)


def hard_labels(proba: np.ndarray, threshold: float | None) -> np.ndarray:
    """One-hot "probabilities" of the labels :func:`decide` predicts: a label metric scored on
    them scores the labels ``predict`` returns."""
    return np.eye(proba.shape[1])[decide(proba, threshold)]


def _scores(metric, y: np.ndarray, p1: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
    """``metric``'s value (higher is better) of the labels ``p1 >= t`` for each threshold."""
    pos, neg = np.sort(p1[y == 1]), np.sort(p1[y == 0])
    fn = np.searchsorted(pos, thresholds, side="left")  # positives below the threshold
    tn = np.searchsorted(neg, thresholds, side="left")
    counts = np.column_stack([tn, len(neg) - tn, fn, len(pos) - fn]).astype(np.float64)
    scorer = metric.scorer
    out = np.empty(len(thresholds))
    with warnings.catch_warnings():
        # An undefined precision (no positive predicted) is 0 here, as in the search; no warning
        # per candidate.
        warnings.simplefilter("ignore", UndefinedMetricWarning)
        if _is_classification_scorer(scorer):
            # A scikit-learn label metric depends on the confusion matrix alone, so four rows
            # weighted by its counts score exactly what the n rows would, in constant time.
            y4, pred4 = np.array([0, 0, 1, 1]), np.array([0, 1, 0, 1])
            for i, w in enumerate(counts):
                out[i] = scorer._sign * scorer._score_func(y4, pred4, sample_weight=w, **scorer._kwargs)
        else:  # a custom scorer: score the labels themselves (one pass over the rows each)
            classes = np.arange(2)
            for i, t in enumerate(thresholds):
                out[i] = metric.score_predictions(y, np.eye(2)[(p1 >= t).astype(np.intp)], classes=classes)
    return out


@dataclass(frozen=True, kw_only=True)
class Threshold(StageResult):
    """Attributes
    ----------
    threshold : float or None
        The decision threshold on the probability of ``classes_[1]`` (0.5 when not tuned);
        None for multiclass and regression tasks.
    metric : str or None
        The label metric it was tuned for; None when it was not tuned.
    score_at_threshold : float or None
        That metric on the out-of-fold predictions at ``threshold``, in its natural units
        (optimistic: the threshold was chosen on the same rows).
    """

    threshold: float | None
    metric: str | None = None
    score_at_threshold: float | None = None


@stage("threshold")
def choose_threshold(ctx, ensemble, runner, *, threshold_metric=None) -> Threshold:
    """The binary decision threshold maximising the label metric (``threshold_metric``, else
    the tuned metric when it scores labels) on the ensemble's out-of-fold predictions; 0.5
    when no label metric is asked for or the predictions cannot tell."""
    ctx.progress.stage("threshold")
    if ctx.task != "binary":
        return Threshold(threshold=None, summary=f"none: {ctx.task} tasks predict without a threshold")
    metric = resolve_metric(threshold_metric, "binary") if threshold_metric is not None else ctx.metric
    if not needs_labels(metric):
        return Threshold(threshold=DEFAULT_THRESHOLD, summary=(
            f"0.5: {metric.name} scores probabilities (threshold_metric= tunes it for a label metric)"))
    if any(m.trial.oof is None for m in ensemble.members):
        return Threshold(threshold=DEFAULT_THRESHOLD, summary="0.5: no out-of-fold predictions to tune it on")
    proba = sum(m.weight * m.trial.oof for m in ensemble.members)
    rows = runner.valid_mask & (proba.sum(axis=1) > 0)  # a truncated trial leaves rows unscored
    y, p1 = runner.y[rows], proba[rows, 1]
    if len(np.unique(y)) < 2:
        return Threshold(threshold=DEFAULT_THRESHOLD, summary=(
            f"0.5: the out-of-fold rows hold {'one class' if len(y) else 'no rows'}, nothing to tune on"))
    grid = np.linspace(0.0, 1.0, N_GRID + 1)
    candidates = np.unique(np.concatenate(
        [np.quantile(p1, grid), p1.min() + grid * (p1.max() - p1.min()), [DEFAULT_THRESHOLD]]))
    scores = _scores(metric, y, p1, candidates)
    if not np.isfinite(scores).any():
        return Threshold(threshold=DEFAULT_THRESHOLD, summary=f"0.5: {metric.name} is undefined on every candidate")
    best = np.flatnonzero(scores == np.nanmax(scores))
    # Of equally good thresholds, the one nearest the default.
    pick = best[np.argmin(np.abs(candidates[best] - DEFAULT_THRESHOLD))]
    threshold = float(candidates[pick])
    value = metric.natural(scores[pick])
    default = metric.natural(scores[np.flatnonzero(candidates == DEFAULT_THRESHOLD)[0]])
    return Threshold(
        threshold=threshold, metric=metric.name, score_at_threshold=float(value),
        summary=f"P({ctx.classes[1]}) >= {threshold:.4g} maximises {metric.name} on out-of-fold predictions: "
                f"{value:.4g} (at 0.5: {default:.4g})",
    )
