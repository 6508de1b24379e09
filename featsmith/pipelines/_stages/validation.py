"""Stage 2, validate: the splits every trial of the fit is validated on."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.model_selection import GroupKFold, KFold, StratifiedGroupKFold, StratifiedKFold, train_test_split

from featsmith.pipelines._context import ValidationPlan
from featsmith.pipelines._stages.base import StageResult, stage

# Above this many rows a single stratified 80/20 holdout replaces k-fold CV: the estimate is
# already tight and k-fold would spend the budget on k fits per trial.
HOLDOUT_MIN_ROWS = 20_000
DEFAULT_FOLDS = 5


def make_splits(y, task, *, cv=None, random_state=0, groups=None):
    """Validation splits for tuning, as a list of ``(train_idx, valid_idx)``.

    ``cv=None``: 5-fold CV (stratified for classification) up to 20,000 rows, a single 80/20
    holdout (stratified for classification) above. An int asks for that many folds; any
    scikit-learn splitter (``GroupKFold``, ``TimeSeriesSplit``, ...) is used as given, with
    ``groups``. With ``groups`` and no splitter, whole groups stay on one side
    (``StratifiedGroupKFold`` for classification, ``GroupKFold`` otherwise). Classes too rare
    to stratify fall back to plain shuffled folds; a handful of rows gets as many folds as it
    can hold.

    Examples
    --------
    >>> import numpy as np
    >>> splits = make_splits(np.array([0, 1] * 50), "binary", random_state=0)
    >>> len(splits), len(splits[0][1])
    (5, 20)
    """
    n = len(y)
    classification = task != "regression"
    if cv is not None and not isinstance(cv, (int, np.integer)):
        return [(np.asarray(tr), np.asarray(va)) for tr, va in cv.split(np.zeros((n, 1)), y, groups)]
    if groups is not None:
        n_groups = len(np.unique(groups))
        k = min(int(cv) if cv is not None else DEFAULT_FOLDS, n_groups)
        if k < 2:
            raise ValueError(f"groups has {n_groups} distinct value(s); grouped validation needs at least 2.")
        splitter = (
            StratifiedGroupKFold(k, shuffle=True, random_state=random_state)
            if classification else GroupKFold(k)
        )
        return list(splitter.split(np.zeros((n, 1)), y, groups))
    min_class = int(np.bincount(y).min()) if classification else n
    if cv is None and n > HOLDOUT_MIN_ROWS:
        strat = y if classification and min_class >= 2 else None
        tr, va = train_test_split(np.arange(n), test_size=0.2, random_state=random_state, stratify=strat)
        return [(np.sort(tr), np.sort(va))]
    k = int(cv) if cv is not None else DEFAULT_FOLDS
    if k < 2:
        raise ValueError(f"cv={cv} must be at least 2 folds.")
    k = min(k, n)
    if k < 2:
        return []
    if classification and min_class >= k:
        splitter = StratifiedKFold(k, shuffle=True, random_state=random_state)
    elif classification and min_class >= 2:
        splitter = StratifiedKFold(min_class, shuffle=True, random_state=random_state)
    else:
        splitter = KFold(k, shuffle=True, random_state=random_state)
    return list(splitter.split(np.zeros((n, 1)), y))


def _reason(ctx, cv, splits) -> str:
    if cv is not None and not isinstance(cv, (int, np.integer)):
        return f"the splitter given as cv ({type(cv).__name__})"
    if ctx.groups is not None:
        return "groups given: whole groups stay on one side"
    if not splits:
        return f"{ctx.n_rows} rows are too few to validate"
    if cv is None and ctx.n_rows > HOLDOUT_MIN_ROWS:
        return f"{ctx.n_rows:,} rows: one 80/20 holdout is already a tight estimate"
    return f"{'cv given' if cv is not None else f'{ctx.n_rows:,} rows'}: shuffled folds" + (
        ", stratified" if ctx.task != "regression" else ""
    )


@dataclass(frozen=True, kw_only=True)
class Validated(StageResult):
    """Attributes
    ----------
    plan : ValidationPlan
    """

    plan: ValidationPlan


@stage("validate")
def plan_validation(ctx, cv) -> Validated:
    """Choose the validation plan: ``cv`` and ``groups`` when given, else by the row count."""
    splits = make_splits(ctx.y_enc, ctx.task, cv=cv, random_state=ctx.sub_seed, groups=ctx.groups)
    scheme = "none" if not splits else "holdout" if len(splits) == 1 else f"{len(splits)}-fold"
    plan = ValidationPlan(splits, scheme, _reason(ctx, cv, splits))
    return Validated(plan=plan, summary=f"{plan.scheme} ({plan.reason})")
