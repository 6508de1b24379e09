"""Losses, gradients and hessians on raw (margin) scores, as LightGBM's ``init_score`` uses them.

Raw scores are the prediction for regression, the logit for binary classification and one
logit per class for multiclass. Multiclass scores put the class axis FIRST (``(K, n)`` or
``(K, n, c)`` with a candidate axis): reductions over a short trailing axis are slow in numpy,
over a leading one they are plain element-wise sums. Targets are floats for regression and
integer class codes otherwise.
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import minimize
from scipy.special import expit


def kind_of(task, n_classes):
    if task == "regression":
        return "l2"
    return "binary" if n_classes == 2 else "multiclass"


def prior_raw(kind, y, n_classes):
    """The best constant raw score: the mean, the log-odds, or the log class priors."""
    if kind == "l2":
        return np.full(y.shape[0], float(np.mean(y)))
    counts = np.bincount(y, minlength=n_classes).astype(np.float64) + 0.5
    p = counts / counts.sum()
    if kind == "binary":
        return np.full(y.shape[0], float(np.log(p[1] / p[0])))
    return np.tile(np.log(p)[:, None], (1, y.shape[0]))


def _bcast(y, raw, lead=0):
    """``y`` reshaped to broadcast against ``raw`` rows (axis ``lead``) and trailing axes."""
    return y.reshape((-1,) + (1,) * (raw.ndim - 1 - lead))


def _softmax_parts(raw):
    top = raw.max(axis=0)
    expd = np.exp(raw - top)
    total = expd.sum(axis=0)
    return top, expd, total


def _pick(raw, y):
    """``raw[y_i, i, ...]`` for every row ``i``."""
    return raw[y, np.arange(y.shape[0])]


def row_loss(kind, y, raw):
    """Per-row loss. ``raw`` may carry a trailing candidate axis (``(n, c)``, or ``(K, n, c)``
    for multiclass); the result is then ``(n, c)``."""
    if kind == "l2":
        return (raw - _bcast(y, raw)) ** 2
    if kind == "binary":
        # log(1 + exp(-s * raw)) with s = +-1, computed stably.
        return np.logaddexp(0.0, np.where(_bcast(y, raw) == 1, -raw, raw))
    top, _, total = _softmax_parts(raw)
    return top + np.log(total) - _pick(raw, y)


def mean_loss(kind, y, raw):
    """Mean loss over rows (axis 0), one value per candidate if ``raw`` has a candidate axis."""
    return row_loss(kind, y, raw).mean(axis=0)


def grad_hess(kind, y, raw):
    """First and second derivatives of the loss in the raw score (diagonal for multiclass,
    scaled as LightGBM scales it)."""
    if kind == "l2":
        return raw - _bcast(y, raw), np.ones_like(raw)
    if kind == "binary":
        p = expit(raw)
        return p - _bcast(y, raw), np.maximum(p * (1.0 - p), 1e-6)
    _, expd, total = _softmax_parts(raw)
    p = expd / total
    # LightGBM's multiclass factor K / (K - 1): the diagonal Newton step moves every class's
    # logit at once and overshoots (by exactly 2x for K = 2) without it.
    n_classes = raw.shape[0]
    hess = np.maximum(p * (1.0 - p), 1e-6) * (n_classes / max(n_classes - 1, 1))
    grad = p
    grad[y, np.arange(y.shape[0])] -= 1.0
    return grad, hess


def recalibrate(kind, y, raw):
    """``raw`` replaced by the loss-minimising ``a + b * raw`` (an intercept per class for
    multiclass, one common scale ``b``).

    Out-of-fold scores of a boosted model are rarely calibrated: they are often
    over-confident or biased in the large. A correction fitted on top of such scores lowers
    the loss with no information at all (a shift in every bin of a noise column), which would
    credit noise candidates with gain. Two parameters (``K + 1`` for ``K`` classes) fitted on
    all rows leave next to no room to overfit.
    """
    if kind == "l2":
        design = np.column_stack([np.ones_like(raw), raw])
        intercept, scale = np.linalg.lstsq(design, y, rcond=None)[0]
        return intercept + scale * raw
    multiclass = raw.ndim == 2

    def calibrated(theta):
        return theta[0] * raw + (theta[1:, None] if multiclass else theta[1])

    def loss_and_grad(theta):
        score = calibrated(theta)
        grad, _ = grad_hess(kind, y, score)  # d loss / d score, per row (and class)
        d_intercept = grad.sum(axis=-1) if multiclass else [grad.sum()]
        d_theta = np.concatenate([[np.sum(grad * raw)], d_intercept])
        return row_loss(kind, y, score).mean(), d_theta / y.shape[0]

    start = np.concatenate([[1.0], np.zeros(raw.shape[0] if multiclass else 1)])
    theta = minimize(loss_and_grad, start, jac=True, method="L-BFGS-B").x
    return calibrated(theta)
