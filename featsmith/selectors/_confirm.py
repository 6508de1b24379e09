"""The confirmation stage of the halving screen: from-scratch cross-validated refits.

Stage I asks whether a candidate adds held-out gain on top of the base model's scores. What a
user finally gets from a selection is different: a model trained from scratch on the base
columns plus the selection. The two disagree where a candidate only helps a model learn (a
better split for trees grown from the start) and the base scores already carry its signal.
This stage asks the final question directly, on a bounded number of refits: the finalists are
ranked (stage-I passes first, the rest by their gain importance in one from-scratch model on
the base columns and all finalists), and a few prefix sizes of that ranking are scored by the
out-of-fold loss of a from-scratch LightGBM on the base columns plus the prefix, on the same
folds as the base columns alone; inside the cross-validation each fold ranks on its own
training rows. A prefix replaces the stage-I selection only if its paired
per-row loss is lower by more than ``z`` standard errors; of those, the smallest within one
standard error of the best is kept.
"""

from __future__ import annotations

import numpy as np

from featsmith.selectors._importance import fit_booster, raw_predict
from featsmith.selectors._losses import row_loss


def cv_row_loss(X, categorical, y, folds, params, n_estimators, kind):
    """Out-of-fold loss of every row (LightGBM from scratch, one model per fold); ``X`` is one
    matrix, or a list of one per fold (when the folds pick their own columns)."""
    loss = np.empty(y.shape[0])
    for i, (fit_idx, pred_idx) in enumerate(folds):
        X_fold = X[i] if isinstance(X, list) else X
        booster = fit_booster(X_fold[fit_idx], y[fit_idx], params, n_estimators,
                              categorical=categorical)
        loss[pred_idx] = row_loss(kind, y[pred_idx], raw_predict(booster, X_fold[pred_idx]))
    return loss


def prefix_sizes(n_incumbent, n_ranked):
    """The selection sizes worth a refit: none, the incumbent, and the incumbent plus 1, 2, 4,
    ... further candidates, then all ``n_ranked`` (doubling keeps the refits logarithmic; a
    doubled size within 1.5x of ``n_ranked`` is left to ``n_ranked``)."""
    sizes = {0, n_incumbent, n_ranked}
    step = 1
    while n_incumbent + step < n_ranked and (
            step == 1 or 1.5 * (n_incumbent + step) <= n_ranked):
        sizes.add(n_incumbent + step)
        step *= 2
    return sorted(sizes)


def rank_by_gain(base_X, categorical, values, y, params, n_estimators, n_first):
    """Column order for the prefixes: the first ``n_first`` columns of ``values`` as given,
    then the others by gain importance in one model on ``base_X`` plus all of ``values``
    (those with none are left out)."""
    booster = fit_booster(np.column_stack([base_X, values]), y, params, n_estimators,
                          categorical=categorical)
    gain = booster.feature_importance(importance_type="gain")[base_X.shape[1]:]
    rest = np.arange(n_first, values.shape[1])
    rest = rest[np.argsort(-gain[rest], kind="stable")]
    return list(range(n_first)) + [int(j) for j in rest if gain[j] > 0]


def confirm_selection(base_X, categorical, values, y, folds, base_loss, kind, params,
                      n_estimators, n_incumbent, n_keep, z):
    """Pick how many of the ranked columns of ``values`` to keep.

    Parameters
    ----------
    base_X : ndarray (n, n_base)
    values : ndarray (n, m)
        The finalists on the same rows, the ``n_incumbent`` stage-I passes first.
    folds : list of (fit rows, predict rows)
    base_loss : ndarray (n,)
        Out-of-fold loss of the base columns alone on these folds.
    z : float
        Standard errors by which a prefix must beat the incumbent to replace it.

    Returns
    -------
    order : list of int
        Columns of ``values`` in rank order.
    chosen : int
        The number of ranked columns to keep.
    trials : list of dict
        Per size tried: ``size``, ``loss`` (mean out-of-fold loss), ``z`` (its paired loss
        reduction against the incumbent over its standard error).
    """
    n_incumbent = min(n_incumbent, n_keep)
    order = rank_by_gain(base_X, categorical, values, y, params, n_estimators, n_incumbent)
    order = order[:n_keep]
    # Each fold ranks on its own training rows, so a prefix's out-of-fold loss judges the
    # procedure "rank, then keep the top k" without the held-out rows having picked the columns
    # (a ranking on all rows favours columns that fit these rows' noise).
    fold_orders = [rank_by_gain(base_X[fit], categorical, values[fit], y[fit], params,
                                n_estimators, n_incumbent)[:n_keep] for fit, _ in folds]
    losses = {0: base_loss}
    for size in prefix_sizes(n_incumbent, len(order)):
        if size not in losses:
            per_fold = [np.column_stack([base_X, values[:, o[:size]]]) for o in fold_orders]
            losses[size] = cv_row_loss(per_fold, categorical, y, folds, params, n_estimators,
                                       kind)
    trials = [{"size": size, "loss": float(loss.mean()),
               "z": _paired_z(losses[n_incumbent], loss)} for size, loss in sorted(losses.items())]
    best = min(trials, key=lambda t: (t["loss"], t["size"]))
    if best["z"] <= z:
        return order, n_incumbent, trials
    # One-standard-error rule (Breiman et al.): the smallest size that beats the incumbent
    # beyond noise and is not worse than the best one by more than one standard error; the
    # best of several noisy estimates is optimistic, and fewer columns are the safer bet.
    for t in trials:
        if t["z"] > z and _paired_z(losses[t["size"]], losses[best["size"]]) <= 1.0:
            return order, t["size"], trials
    return order, best["size"], trials


def _paired_z(reference, loss):
    """Mean per-row loss reduction of ``loss`` against ``reference`` over its standard error."""
    diff = reference - loss
    se = diff.std() / np.sqrt(diff.size)
    return float(diff.mean() / se) if se > 0 else 0.0
