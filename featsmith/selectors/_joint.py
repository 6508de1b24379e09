"""The joint second stage of the halving screen (OpenFE's stage II, with a noise test).

One LightGBM model is trained on the base columns and all finalists together, on top of the
base model's raw scores (``init_score``), so a candidate is judged next to the others and
next to the base columns rather than alone. Each candidate is then scored by the held-out loss
increase when its column is shuffled (permutation importance). The model is cross-fitted: fitted
on one half of the rows (early-stopped on the other half) and the candidates scored on that
other half, then the halves swap, so every row's loss change comes from a model that did not
train on it and the standard error over rows gives the noise test. A half whose model stops
after its first round (nothing found beyond the base scores) credits no candidate.
"""

from __future__ import annotations

import lightgbm as lgb
import numpy as np

from featsmith.selectors._common import draw_seed, lgb_params
from featsmith.selectors._importance import permutation_importances, raw_predict
from featsmith.selectors._losses import row_loss

# The joint model: OpenFE's stage-II shape (small trees, early stopping on held-out rows), with
# a lower learning rate so that the model, starting from a strong base score, still grows
# enough trees for a candidate's contribution to show.
JOINT_PARAMS = {"num_leaves": 16, "learning_rate": 0.1, "min_data_in_leaf": 20}
JOINT_MAX_ROUNDS = 300
JOINT_EARLY_STOPPING = 30
# A half whose early-stopped model kept no more rounds than this credits no candidate.
MIN_ROUNDS = 1


def joint_permutation_gain(X, categorical, y, raw0, half, kind, task, n_classes, n_candidates,
                           rng, n_jobs=1):
    """Held-out relative loss increase when each of the last ``n_candidates`` columns of ``X``
    is shuffled in a joint LightGBM model trained on top of ``raw0``.

    Parameters
    ----------
    X : ndarray (n, n_base + n_candidates)
        Base columns first (``categorical`` indexes those holding category codes), then the
        candidates.
    y : ndarray (n,)
    raw0 : ndarray (n,) or (K, n)
        Base raw scores (out-of-fold), the joint model's ``init_score``.
    half : ndarray (n,) bool
        The cross-fitting split.

    Returns
    -------
    score, se : ndarray (n_candidates,)
        Mean loss increase over all rows relative to the joint model's mean loss, and its
        standard error over rows; ``iterations``: the boosting rounds of the two models.
    """
    n, p = X.shape
    cand = np.arange(p - n_candidates, p)
    params = lgb_params(task, n_classes, draw_seed(rng), n_jobs, **JOINT_PARAMS)
    total, total_sq = np.zeros(n_candidates), np.zeros(n_candidates)
    base_total, iterations = 0.0, []
    for fit_mask in (half, ~half):
        fit, ev = np.flatnonzero(fit_mask), np.flatnonzero(~fit_mask)
        if fit.size < 2 or ev.size < 2:
            continue
        init_fit, init_ev = _lgb_init(raw0[..., fit]), _lgb_init(raw0[..., ev])
        cats = list(categorical) or "auto"
        train = lgb.Dataset(X[fit], label=y[fit], init_score=init_fit, categorical_feature=cats,
                            params={"verbosity": -1}, free_raw_data=False)
        valid = lgb.Dataset(X[ev], label=y[ev], init_score=init_ev, reference=train)
        booster = lgb.train(params, train, num_boost_round=JOINT_MAX_ROUNDS, valid_sets=[valid],
                            callbacks=[lgb.early_stopping(JOINT_EARLY_STOPPING, verbose=False)])
        iterations.append(booster.best_iteration or booster.current_iteration())
        base_total += row_loss(kind, y[ev], raw_predict(booster, X[ev]) + raw0[..., ev]).sum()
        if iterations[-1] <= MIN_ROUNDS:
            # Early stopping kept one round: nothing beyond the base scores was found on
            # these rows, and the importances of a single round are noise; they count as 0.
            continue
        # Shuffle the candidates only: the base columns are not up for selection.
        _, row_sum, row_sq = permutation_importances(
            _CandidateView(booster, X[ev], cand), X[ev][:, cand], y[ev], kind, 1, rng,
            offset=raw0[..., ev])
        total, total_sq = total + row_sum, total_sq + row_sq
    mean = total / n
    var = np.maximum(total_sq / n - mean ** 2, 0.0) * n / max(n - 1, 1)
    scale = max(base_total / n, 1e-12)
    return mean / scale, np.sqrt(var / n) / scale, iterations


def _lgb_init(raw):
    """LightGBM's ``init_score`` layout: class-major flat for multiclass."""
    return raw.ravel() if raw.ndim == 2 else raw


class _CandidateView:
    """A booster seen as a model of the candidate columns only (the base columns held at their
    values on ``X``), so ``permutation_importances`` shuffles candidates and nothing else."""

    def __init__(self, booster, X, cand):
        self.booster, self.X, self.cand = booster, X, cand

    def predict(self, Xc, raw_score=True):
        reps = Xc.shape[0] // self.X.shape[0]
        full = np.tile(self.X, (reps, 1))
        full[:, self.cand] = Xc
        return self.booster.predict(full, raw_score=raw_score)
