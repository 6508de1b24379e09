"""Shared checks and small helpers for the selectors: target validation, task inference,
random-state handling and LightGBM parameter defaults.

Kept in one place so that every selector raises the same clear error for the same bad input.
"""

from __future__ import annotations

import logging
import numbers

import numpy as np
import pandas as pd

logger = logging.getLogger("featsmith")

TASKS = ("auto", "regression", "classification")

# An integer target with more distinct values than this is treated as a regression target
# when ``task="auto"``; fewer are treated as class labels.
MAX_AUTO_CLASSES = 20


def check_task(task):
    if task not in TASKS:
        raise ValueError(f"task must be one of {TASKS}, got {task!r}.")
    return task


def check_target(y, n_rows=None, name="y"):
    """Return ``y`` as a 1-D numpy array after checking its shape, length and missing values."""
    if y is None:
        raise ValueError(
            f"This selector requires y to be passed, but the target {name} is None; pass the "
            "target values, one per row of X."
        )
    if hasattr(y, "to_numpy"):
        y = y.to_numpy()
    y = np.asarray(y)
    if y.ndim == 2 and y.shape[1] == 1:
        y = y.ravel()
    if y.ndim != 1:
        raise ValueError(
            f"{name} must be 1-D (one target per row), got shape {y.shape}; multi-output targets "
            "are not supported."
        )
    if n_rows is not None and y.shape[0] != n_rows:
        raise ValueError(
            f"{name} has {y.shape[0]} values but X has {n_rows} rows; pass one target per row."
        )
    missing = pd.isna(y) if y.dtype == object else (np.isnan(y) if y.dtype.kind == "f" else None)
    if missing is not None and missing.any():
        raise ValueError(
            f"{name} contains {int(missing.sum())} missing (NaN) values; drop those rows or impute "
            "the target before selecting features."
        )
    if y.dtype.kind == "f" and not np.isfinite(y).all():
        raise ValueError(f"{name} contains infinite values; drop or clip them first.")
    return y


def infer_task(y, task):
    """Resolve ``task="auto"`` from the target: float or many-valued integer -> regression."""
    check_task(task)
    if task != "auto":
        return task
    if y.dtype.kind in "OUSb" or isinstance(y.dtype, pd.CategoricalDtype):
        return "classification"
    if y.dtype.kind == "f" and not np.all(np.mod(y, 1) == 0):
        return "regression"
    return "classification" if np.unique(y).size <= MAX_AUTO_CLASSES else "regression"


def encode_classes(y):
    """Return ``(classes, codes)`` for a classification target with at least two classes."""
    classes, codes = np.unique(y, return_inverse=True)
    if classes.size < 2:
        raise ValueError(
            f"y has a single class ({classes[0]!r}); classification needs at least two classes."
        )
    return classes, codes


def encode_target(y, task):
    """Resolve the task and encode y: ``(task, classes or None, y_enc, n_classes)`` with
    integer class codes for classification and float64 values (``n_classes=0``) otherwise."""
    task = infer_task(y, task)
    if task == "classification":
        classes, codes = encode_classes(y)
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
    return X, check_target(y, n_rows=X.shape[0])


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
