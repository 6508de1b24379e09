"""Shared helpers for the selectors: the task and target encoding, random-state handling and
LightGBM parameter defaults.

The target check and the task rule are the package's own (:mod:`featsmith._validation`,
:mod:`featsmith._task`), so every selector raises the same clear error for the same bad input
and reads a target the way ``AutoPipeline`` and ``FeatureGenerator`` do.
"""

from __future__ import annotations

import logging
import numbers

import numpy as np
from sklearn.utils._param_validation import StrOptions

from featsmith._task import TASKS, infer_task, task_family
# Re-exported: the selectors import the one target check from here.
from featsmith._validation import check_target

logger = logging.getLogger("featsmith")

# For the selectors' ``_parameter_constraints``.
TASK_OPTIONS = StrOptions(set(TASKS))


def encode_target(y, task):
    """Resolve the task by the package's rule and encode a checked y.

    Returns ``(task, classes or None, y_enc, n_classes)``. ``task`` is the task family,
    ``"classification"`` or ``"regression"``: the selectors fit a binary and a multiclass target
    the same way, telling them apart by ``n_classes``. ``y_enc`` holds integer class codes for
    classification and float64 values (``n_classes=0``) for regression.
    """
    task = task_family(infer_task(y, task))
    if task == "classification":
        classes, codes = np.unique(y, return_inverse=True)
        return task, classes, codes, classes.size
    return task, None, y.astype(np.float64), 0


def make_rng(random_state):
    """A numpy Generator from ``None``, an int or a Generator (used as given)."""
    if random_state is None or isinstance(random_state, (numbers.Integral, np.random.Generator)):
        return np.random.default_rng(random_state)
    raise TypeError(
        f"random_state must be None, an int or a numpy.random.Generator, got "
        f"{type(random_state).__name__}."
    )


def draw_seed(rng) -> int:
    return int(rng.integers(0, 2**31 - 1))


def check_n_jobs(n_jobs):
    if not isinstance(n_jobs, numbers.Integral) or isinstance(n_jobs, bool) or n_jobs == 0:
        raise ValueError(f"n_jobs must be a positive integer or -1, got {n_jobs!r}.")
    if n_jobs < 0:
        import os

        return max(1, (os.cpu_count() or 1) + 1 + int(n_jobs))
    return int(n_jobs)


def lgb_params(task, n_classes, seed, n_jobs, **overrides):
    """LightGBM ``train`` parameters for the task, deterministic and quiet."""
    if task == "regression":
        objective = {"objective": "regression"}
    elif n_classes == 2:
        objective = {"objective": "binary"}
    else:
        objective = {"objective": "multiclass", "num_class": int(n_classes)}
    params = {
        **objective,
        "learning_rate": 0.1,
        "num_leaves": 31,
        "min_data_in_leaf": 20,
        "feature_pre_filter": False,
        "seed": seed,
        "deterministic": True,
        "force_row_wise": True,
        "num_threads": n_jobs,
        "verbosity": -1,
    }
    params.update(overrides)
    return params


def check_X_y(estimator, X, y):
    """Checked ``(X, y)`` for fitting an array selector."""
    X = check_X_numeric(estimator, X)
    return X, check_target(y, X.shape[0], estimator_name=type(estimator).__name__)


def check_X_numeric(estimator, X, reset=True):
    """``validate_data`` for the array selectors, with a clear message for text columns.

    NaN is allowed (LightGBM handles it; the gradient selector imputes it); returns float64 X.
    """
    from sklearn.utils.validation import validate_data

    bad = []
    dtypes = getattr(X, "dtypes", None)
    columns = getattr(X, "columns", None)
    if dtypes is not None and columns is not None:
        for col, dt in zip(list(columns), list(dtypes)):
            kind = getattr(dt, "kind", None)
            is_num = (kind in "biuf") if kind is not None else bool(getattr(dt, "is_numeric", lambda: False)())
            if not is_num and str(dt) not in ("Boolean", "bool"):
                bad.append(str(col))
    if bad:
        raise TypeError(
            f"{type(estimator).__name__} needs numeric columns, but {bad[:5]} "
            f"{'is' if len(bad) == 1 else 'are'} not numeric; encode categorical and text columns "
            "first (e.g. with featsmith.featurize or sklearn.preprocessing.OrdinalEncoder)."
        )
    try:
        X = validate_data(
            estimator, X, reset=reset, dtype=np.float64, ensure_all_finite="allow-nan",
            ensure_min_samples=2 if reset else 1,
        )
    except ValueError as exc:
        if "could not convert" in str(exc):
            raise TypeError(
                f"{type(estimator).__name__} needs numeric X ({exc}); encode categorical and "
                "text columns first."
            ) from exc
        raise
    return X


def ranking_from_order(order):
    """1-based ranks from an ordering of the features (best first)."""
    ranking = np.empty(len(order), dtype=int)
    ranking[order] = np.arange(1, len(order) + 1)
    return ranking


def cut(ranking, values, k, threshold, automatic_mask, who):
    """The support mask of a selector: the automatic mask when neither ``k`` nor
    ``threshold`` is given, else ``values >= threshold`` and / or the ``k`` best ranks among
    those passing. Never empty: the best-ranked feature is kept if nothing passes."""
    if k is None and threshold is None:
        mask = automatic_mask.copy()
    else:
        mask = np.ones(ranking.size, dtype=bool)
        if threshold is not None:
            mask &= values >= threshold
        if k is not None and mask.any():
            kth = np.sort(ranking[mask])[min(k, int(mask.sum())) - 1]
            mask &= ranking <= kth
    if not mask.any():
        logger.warning("%s: no feature passed the cut; keeping the best-ranked one.", who)
        mask[np.argmin(ranking)] = True
    return mask
