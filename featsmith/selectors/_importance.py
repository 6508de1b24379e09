"""LightGBM fits and the importances built on them: split / gain, shadow-feature null
importances and held-out permutation importances."""

from __future__ import annotations

import lightgbm as lgb
import numpy as np

from featsmith._threads import fit_threads
from featsmith.selectors._common import draw_seed
from featsmith.selectors._losses import row_loss


def fit_booster(X, y, params, n_estimators, init_score=None, categorical=()):
    """Train a LightGBM booster on numpy data (no validation set, fixed number of rounds);
    ``categorical`` lists the columns holding integer category codes."""
    data = lgb.Dataset(X, label=y, init_score=init_score, free_raw_data=True,
                       categorical_feature=list(categorical) or "auto",
                       params={"max_bin": params.get("max_bin", 255), "verbosity": -1})
    # One thread on small data (featsmith/_threads.py).
    params = {**params, "num_threads": fit_threads(params.get("num_threads", 0), *X.shape)}
    return lgb.train(params, data, num_boost_round=int(n_estimators))


def booster_importance(booster, importance_type):
    return booster.feature_importance(importance_type=importance_type).astype(np.float64)


def shadow_importances(X, y, params, n_estimators, importance_type, n_runs, rng):
    """Importances next to permuted "shadow" copies of every column (Boruta, Kursa 2010).

    Each run appends a freshly shuffled copy of every column (same marginals, no relation to
    y or to the other columns) and refits; the shadows' importances show what a useless
    feature earns in this very model, so they are calibrated to how much of the target the
    real features already explain. Returns ``(real, shadow)``, each ``(n_runs, p)``.
    """
    n, p = X.shape
    real, shadow = np.empty((n_runs, p)), np.empty((n_runs, p))
    augmented = np.empty((n, 2 * p), dtype=X.dtype)
    augmented[:, :p] = X
    for r in range(n_runs):
        for j in range(p):
            augmented[:, p + j] = X[rng.permutation(n), j]
        booster = fit_booster(augmented, y, {**params, "seed": draw_seed(rng)}, n_estimators)
        imp = booster_importance(booster, importance_type)
        real[r], shadow[r] = imp[:p], imp[p:]
    return real, shadow


def raw_predict(booster, X, kind=None):
    """Raw scores in the layout of :mod:`._losses` (class axis first for multiclass)."""
    raw = np.asarray(booster.predict(X, raw_score=True), dtype=np.float64)
    return raw.T.copy() if raw.ndim == 2 else raw


# Rows per LightGBM predict call when shuffled copies of several columns are stacked.
PREDICT_ROWS = 1 << 18


def _with_offset(raw, offset, reps=1):
    """``raw`` plus ``offset`` (raw scores of the rows, tiled ``reps`` times along rows)."""
    if offset is None:
        return raw
    return raw + (np.tile(offset, reps) if offset.ndim == 1 else np.tile(offset, (1, reps)))


def permutation_importances(booster, X_val, y_val, kind, n_repeats, rng, offset=None):
    """Held-out loss increase when each column is shuffled.

    ``offset``: raw scores added to the booster's (its ``init_score`` on these rows, in the
    layout of :mod:`._losses`), for a booster trained on top of a base model.

    Returns ``(per_repeat, row_sum, row_sq)``: the mean increase for each shuffle, shape
    ``(n_repeats, p)``, and the sum and sum of squares over held-out rows of each row's
    increase (averaged over shuffles), shape ``(p,)``, from which a standard error over rows
    follows: it accounts for which rows happened to be held out, which the spread over
    shuffles alone does not. Shuffled copies of several columns are stacked into one predict
    call, which keeps LightGBM's per-call overhead out of the loop.
    """
    base_rows = row_loss(kind, y_val, _with_offset(raw_predict(booster, X_val), offset))
    n, p = X_val.shape
    out, row_sum, row_sq = np.empty((n_repeats, p)), np.empty(p), np.empty(p)
    block = n * n_repeats
    cols_per_call = max(1, PREDICT_ROWS // block)
    y_rep = np.tile(y_val, n_repeats * cols_per_call)
    for lo in range(0, p, cols_per_call):
        cols = range(lo, min(p, lo + cols_per_call))
        stacked = np.tile(X_val, (n_repeats * len(cols), 1))
        for c, j in enumerate(cols):
            for r in range(n_repeats):
                start = (c * n_repeats + r) * n
                stacked[start:start + n, j] = X_val[rng.permutation(n), j]
        per_row = row_loss(kind, y_rep[:stacked.shape[0]],
                           _with_offset(raw_predict(booster, stacked), offset,
                                        n_repeats * len(cols)))
        per_row = per_row.reshape(len(cols), n_repeats, n) - base_rows
        for c, j in enumerate(cols):
            out[:, j] = per_row[c].mean(axis=1)
            row_diff = per_row[c].mean(axis=0)
            row_sum[j], row_sq[j] = row_diff.sum(), (row_diff ** 2).sum()
    return out, row_sum, row_sq
