"""Greedy ensemble selection (Caruana et al., 2004) on out-of-fold predictions."""

from __future__ import annotations

import numpy as np


def greedy_ensemble(predictions, score, n_iterations=40, tolerance=1e-7, costs=None, max_cost=None):
    """Choose ensemble weights by forward selection with replacement.

    Starting from the single best model, repeatedly add (again, possibly) the model whose
    inclusion most improves ``score`` of the averaged predictions; stop after
    ``n_iterations`` or when no addition improves by more than ``tolerance``. Selection with
    replacement turns the counts into weights, and stopping early keeps the ensemble small.
    With ``costs`` and ``max_cost``, a model not yet in the ensemble is a candidate only while
    the summed cost of the distinct members stays within ``max_cost`` (adding weight to a
    member costs nothing more); the single best model is always the first member.

    Parameters
    ----------
    predictions : list of ndarray
        Out-of-fold predictions of each model on the same rows (probabilities
        ``(n, n_classes)`` or values ``(n,)``).
    score : callable
        ``score(averaged_predictions) -> float``, higher is better.
    n_iterations : int, default=40
    tolerance : float, default=1e-7
    costs : sequence of float, default=None
        Prediction cost of each model (any unit).
    max_cost : float, default=None
        Most total cost of the distinct members; None for no limit.

    Returns
    -------
    weights : ndarray of shape (n_models,)
        Non-negative, summing to 1.
    best : float
        Score of the weighted average.

    Examples
    --------
    >>> import numpy as np
    >>> y = np.array([0.0, 1.0, 2.0, 3.0])
    >>> a, b = y + np.array([1, -1, 1, -1]), y - np.array([1, -1, 1, -1])
    >>> w, s = greedy_ensemble([a, b], lambda p: -np.mean((p - y) ** 2))
    >>> w.tolist(), s
    ([0.5, 0.5], -0.0)
    >>> greedy_ensemble([a, b], lambda p: -np.mean((p - y) ** 2), costs=[1, 1], max_cost=1.5)[0].tolist()
    [1.0, 0.0]
    """
    n_models = len(predictions)
    if n_models == 0:
        raise ValueError("greedy_ensemble needs at least one model's predictions.")
    counts = np.zeros(n_models)
    single = [score(p) for p in predictions]
    first = int(np.argmax(single))
    counts[first] = 1
    total = predictions[first].astype(np.float64, copy=True)
    best = single[first]
    costs = np.zeros(n_models) if costs is None else np.asarray(costs, dtype=np.float64)
    limit = np.inf if max_cost is None else float(max_cost)
    for _ in range(n_iterations - 1):
        k = counts.sum()
        spent = costs[counts > 0].sum()
        allowed = (counts > 0) | (spent + costs <= limit)
        trial_scores = [score((total + p) / (k + 1)) if ok else -np.inf for p, ok in zip(predictions, allowed)]
        j = int(np.argmax(trial_scores))
        if not np.isfinite(trial_scores[j]) or trial_scores[j] <= best + tolerance:
            break
        best = trial_scores[j]
        counts[j] += 1
        total += predictions[j]
    return counts / counts.sum(), float(best)
