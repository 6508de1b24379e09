"""GBDTSelector: keep the features a LightGBM model finds important."""

from __future__ import annotations

import numbers

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.feature_selection import SelectorMixin
from sklearn.model_selection import KFold, StratifiedKFold
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted

from featsmith.selectors._common import (
    TASK_OPTIONS,
    check_n_jobs,
    check_X_y,
    cut,
    draw_seed,
    encode_target,
    lgb_params,
    make_rng,
    ranking_from_order,
)
from featsmith.selectors._importance import (
    booster_importance,
    fit_booster,
    permutation_importances,
    shadow_importances,
)
from featsmith.selectors._losses import kind_of


# A feature passes the automatic permutation cut when its mean held-out loss increase is this
# many standard errors above zero: one-sided, about 0.1% false passes per noise feature.
PERMUTATION_Z = 3.0


def check_k(k, n_features):
    if k is not None and k > n_features:
        raise ValueError(
            f"k={k} is larger than the number of features ({n_features}); pass k <= {n_features} "
            "or k=None for an automatic cut."
        )


class GBDTSelector(SelectorMixin, BaseEstimator):
    """Select features by LightGBM importance: top-k, a threshold, or an automatic cut.

    A LightGBM model is fitted on all features; each feature is scored by its total split gain
    (default), its number of splits, or the held-out loss increase when it is shuffled
    (``importance_type="permutation"``). The cut is chosen by:

    * ``k``: the ``k`` most important features;
    * ``threshold``: features whose normalised importance (importances sum to 1) is at least
      ``threshold``;
    * both: the ``k`` most important among those passing ``threshold``;
    * neither (automatic): the features that beat noise. For ``"gain"`` and ``"split"`` the
      model is refitted ``n_null_runs`` times next to a shuffled "shadow" copy of every column
      (Boruta's null features: what a useless feature earns in this very model), and a
      feature is kept when it is more important than the best shadow in every run. For
      ``"permutation"`` a feature is kept when its mean held-out loss increase is more than
      three standard errors (over held-out rows) above zero.

    Parameters
    ----------
    k : int or None, default=None
        Number of features to keep.
    threshold : float or None, default=None
        Minimum normalised importance.
    importance_type : {"gain", "split", "permutation"}, default="gain"
    n_estimators : int, default=100
        Boosting rounds of the importance model.
    learning_rate : float, default=0.1
    num_leaves : int, default=31
    max_bin : int, default=63
        LightGBM histogram bins; importances need less resolution than predictions, and 63
        bins make the fits about twice as fast as LightGBM's 255.
    n_null_runs : int, default=5
        Shadow-feature refits for the automatic cut (not done when ``k`` or ``threshold`` is
        given, unless ``compute_null=True``).
    compute_null : bool, default=False
        Also compute the null importances and ``null_pvalues_`` when ``k`` or ``threshold``
        is given.
    cv : int, default=3
        Folds for permutation importances: every row is scored by a model fitted on the other
        folds, so each feature is judged on all rows, none of them seen by the model.
    n_repeats : int, default=5
        Shuffles per feature for permutation importances.
    task : {"auto", "classification", "binary", "multiclass", "regression"}, default="auto"
        ``"auto"`` infers it from ``y`` by the rule of :func:`featsmith.pipelines.infer_task`.
    random_state : int, numpy.random.Generator or None, default=None
    n_jobs : int, default=1
        LightGBM threads.

    Attributes
    ----------
    importances_ : ndarray of shape (n_features,)
        Raw importances (total gain, split count, or mean held-out loss increase).
    feature_importances_ : ndarray of shape (n_features,)
        Importances normalised to sum to 1 (negative permutation importances count as 0).
    permutation_importances_ : ndarray of shape (cv * n_repeats, n_features)
        Only for ``importance_type="permutation"``: the held-out loss increase of every
        fold and shuffle.
    null_importances_ : ndarray of shape (n_null_runs, n_features) or None
        Importance of each column's shuffled shadow copy, per run.
    null_pvalues_ : ndarray of shape (n_features,) or None
        Share of all shadow importances (pooled, plus one) at least as large as the feature's
        mean importance in the shadow runs: small means it beats noise.
    null_hits_ : ndarray of int, shape (n_features,) or None
        Runs in which the feature beat the best shadow.
    support_ : ndarray of bool, shape (n_features,)
    ranking_ : ndarray of int, shape (n_features,)
        1 for the most important feature.
    task_ : {"classification", "regression"}
        The task family (binary and multiclass are both ``"classification"``).
    classes_ : ndarray or None
    n_features_in_, feature_names_in_

    Examples
    --------
    >>> import numpy as np
    >>> from featsmith.selectors import GBDTSelector
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(500, 6))
    >>> y = 3 * X[:, 0] - 2 * X[:, 3] + 0.1 * rng.normal(size=500)
    >>> GBDTSelector(k=2, random_state=0).fit(X, y).get_support(indices=True).tolist()
    [0, 3]
    """

    _parameter_constraints = {
        "k": [Interval(numbers.Integral, 1, None, closed="left"), None],
        "threshold": [Interval(numbers.Real, 0, None, closed="left"), None],
        "importance_type": [StrOptions({"gain", "split", "permutation"})],
        "n_estimators": [Interval(numbers.Integral, 1, None, closed="left")],
        "learning_rate": [Interval(numbers.Real, 0, None, closed="neither")],
        "num_leaves": [Interval(numbers.Integral, 2, None, closed="left")],
        "max_bin": [Interval(numbers.Integral, 2, None, closed="left")],
        "n_null_runs": [Interval(numbers.Integral, 1, None, closed="left")],
        "compute_null": ["boolean"],
        "cv": [Interval(numbers.Integral, 2, None, closed="left")],
        "n_repeats": [Interval(numbers.Integral, 1, None, closed="left")],
        "task": [TASK_OPTIONS],
        "random_state": [None, numbers.Integral, np.random.Generator],
        "n_jobs": [numbers.Integral],
    }

    def __init__(
        self,
        k=None,
        threshold=None,
        importance_type="gain",
        n_estimators=100,
        learning_rate=0.1,
        num_leaves=31,
        max_bin=63,
        n_null_runs=5,
        compute_null=False,
        cv=3,
        n_repeats=5,
        task="auto",
        random_state=None,
        n_jobs=1,
    ):
        self.k = k
        self.threshold = threshold
        self.importance_type = importance_type
        self.n_estimators = n_estimators
        self.learning_rate = learning_rate
        self.num_leaves = num_leaves
        self.max_bin = max_bin
        self.n_null_runs = n_null_runs
        self.compute_null = compute_null
        self.cv = cv
        self.n_repeats = n_repeats
        self.task = task
        self.random_state = random_state
        self.n_jobs = n_jobs

    def fit(self, X, y):
        """Fit the importance model(s) and choose the features.

        Parameters
        ----------
        X : array-like or DataFrame of shape (n_samples, n_features)
            Numeric features; NaN is allowed.
        y : array-like of shape (n_samples,)

        Returns
        -------
        self
        """
        self._validate_params()
        n_jobs = check_n_jobs(self.n_jobs)
        X, y = check_X_y(self, X, y)
        check_k(self.k, X.shape[1])
        rng = make_rng(self.random_state)
        self.task_, self.classes_, y_enc, n_classes = encode_target(y, self.task)
        kind = kind_of(self.task_, n_classes)
        params = lgb_params(self.task_, n_classes, draw_seed(rng), n_jobs,
                            learning_rate=float(self.learning_rate),
                            num_leaves=int(self.num_leaves), max_bin=int(self.max_bin),
                            min_data_in_leaf=int(min(20, max(1, X.shape[0] // 10))))

        automatic = self.k is None and self.threshold is None
        self.null_importances_ = self.null_pvalues_ = self.null_hits_ = None
        if self.importance_type == "permutation":
            self.importances_, row_se, self.permutation_importances_ = self._crossfit_permutation(
                X, y_enc, params, kind, rng)
            beats_noise = self.importances_ > PERMUTATION_Z * row_se
        else:
            booster = fit_booster(X, y_enc, params, self.n_estimators)
            self.importances_ = booster_importance(booster, self.importance_type)
            beats_noise = None
            if automatic or self.compute_null:
                real, null = shadow_importances(X, y_enc, params, self.n_estimators,
                                                self.importance_type, self.n_null_runs, rng)
                self.null_importances_ = null
                pooled = np.sort(null.ravel())
                beaten_by = pooled.size - np.searchsorted(pooled, real.mean(axis=0), side="left")
                self.null_pvalues_ = (1.0 + beaten_by) / (1.0 + pooled.size)
                hits = (real > null.max(axis=1, keepdims=True)).sum(axis=0)
                self.null_hits_ = hits
                beats_noise = hits == self.n_null_runs

        positive = np.clip(self.importances_, 0.0, None)
        total = positive.sum()
        self.feature_importances_ = positive / total if total > 0 else np.zeros_like(positive)
        # Stable order: ties keep the column order, so results do not depend on the sort.
        self.ranking_ = ranking_from_order(np.argsort(-self.importances_, kind="stable"))
        mask = cut(self.ranking_, self.feature_importances_, self.k, self.threshold, beats_noise,
                   "GBDTSelector")
        self.support_ = mask
        return self

    def _crossfit_permutation(self, X, y_enc, params, kind, rng):
        """Permutation importances on every row: each of ``cv`` folds is scored by a model
        fitted on the other folds. Returns (mean increase, its standard error over rows,
        per-fold-and-shuffle increases)."""
        n = X.shape[0]
        if self.task_ == "classification" and np.bincount(y_enc).min() >= self.cv:
            folds = StratifiedKFold(self.cv, shuffle=True, random_state=draw_seed(rng))
        else:
            folds = KFold(self.cv, shuffle=True, random_state=draw_seed(rng))
        total, total_sq, repeats = 0.0, 0.0, []
        for fit_idx, val_idx in folds.split(X, y_enc):
            booster = fit_booster(X[fit_idx], y_enc[fit_idx], params, self.n_estimators)
            per_repeat, row_sum, row_sq = permutation_importances(
                booster, X[val_idx], y_enc[val_idx], kind, self.n_repeats, rng)
            total, total_sq = total + row_sum, total_sq + row_sq
            repeats.append(per_repeat)
        mean = total / n
        var = np.maximum(total_sq / n - mean ** 2, 0.0) * n / max(n - 1, 1)
        return mean, np.sqrt(var / n), np.vstack(repeats)

    def _get_support_mask(self):
        check_is_fitted(self, "support_")
        return self.support_

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        tags.target_tags.required = True
        return tags

