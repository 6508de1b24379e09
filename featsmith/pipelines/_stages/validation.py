"""Stage 2, validate: the splits every trial of the fit is validated on."""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
from sklearn.model_selection import GroupKFold, KFold, StratifiedGroupKFold, StratifiedKFold, train_test_split

from featsmith.pipelines._context import ValidationPlan
from featsmith.pipelines._stages.base import StageResult, stage

# Above this many rows a single stratified 80/20 holdout replaces k-fold CV: the estimate is
# already tight and k-fold would spend the budget on k fits per trial.
HOLDOUT_MIN_ROWS = 20_000
DEFAULT_FOLDS = 5
# A time holdout validates the last of this many equal periods (the latest 20%).
HOLDOUT_PERIODS = 5


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


def time_ordered_splits(key, n_folds=DEFAULT_FOLDS, holdout=False):
    """Forward-chaining splits in time order: the rows cut into ``n_folds + 1`` consecutive
    periods of about equal size (:func:`featsmith.featurize.time_periods`), fold i trained on
    every period before period i + 1 and validated on it (the first period is never
    validated); with ``holdout``, one split that validates on the latest 20% (the last of
    :data:`HOLDOUT_PERIODS` periods). Rows with the same time stay in one period.
    :func:`period_count` gives the number of periods.

    Examples
    --------
    >>> import numpy as np
    >>> splits = time_ordered_splits(np.arange(12), n_folds=2)
    >>> [(tr.tolist(), va.tolist()) for tr, va in splits]
    [([0, 1, 2, 3], [4, 5, 6, 7]), ([0, 1, 2, 3, 4, 5, 6, 7], [8, 9, 10, 11])]
    """
    from featsmith.featurize import time_periods

    period = time_periods(key, period_count(n_folds, holdout))
    if holdout:
        period = (period == HOLDOUT_PERIODS - 1).astype(np.int64)
    splits = []
    for p in np.unique(period)[1:]:
        train, valid = np.flatnonzero(period < p), np.flatnonzero(period == p)
        if len(train) and len(valid):
            splits.append((train, valid))
    return splits


def period_count(n_folds, holdout):
    """How many consecutive periods :func:`time_ordered_splits` cuts the rows into; the
    out-of-fold target encodings use the same periods (see the features stage)."""
    return HOLDOUT_PERIODS if holdout else n_folds + 1


def _group_column(ctx):
    """A column naming repeated entities (a customer, a store): an identifier-like name whose
    values repeat, with at least 10 of them."""
    from featsmith.featurize import looks_like_id_name

    n = ctx.n_rows
    for name in ctx.frame.columns:
        if name == ctx.time_column or not looks_like_id_name(name):
            continue
        n_unique = ctx.frame.get_column(name).n_unique()
        if 10 <= n_unique <= n / 2:
            return name
    return None


def _shuffled_plan(ctx, cv, reason=None):
    splits = make_splits(ctx.y_enc, ctx.task, cv=cv, random_state=ctx.sub_seed)
    scheme = "none" if not splits else "holdout" if len(splits) == 1 else f"{len(splits)}-fold"
    if reason is None:
        if not splits:
            reason = f"{ctx.n_rows} rows are too few to validate"
        elif cv is None and ctx.n_rows > HOLDOUT_MIN_ROWS:
            reason = f"{ctx.n_rows:,} rows: one 80/20 holdout is already a tight estimate"
        else:
            reason = f"{'cv given' if cv is not None else f'{ctx.n_rows:,} rows'}: shuffled folds" + (
                ", stratified" if ctx.task != "regression" else "")
    return ValidationPlan(splits, scheme, reason)


def _time_plan(ctx, cv, reason, check=None):
    n_folds = int(cv) if isinstance(cv, (int, np.integer)) else DEFAULT_FOLDS
    holdout = cv in (None, "time") and ctx.n_rows > HOLDOUT_MIN_ROWS
    splits = time_ordered_splits(ctx.time_values, n_folds, holdout=holdout)
    base = "holdout" if len(splits) == 1 else f"{len(splits)}-fold"
    return ValidationPlan(splits, f"{base} time-ordered", reason, order="time", column=ctx.time_column,
                          key=ctx.time_values, check=check, periods=period_count(n_folds, holdout))


def time_holdout(plan, reason):
    """``plan`` (time-ordered) as one split that validates on the latest of
    :data:`HOLDOUT_PERIODS` periods: where forward-chaining k-fold is too slow for the budget.
    Its first folds would train on the earliest period alone and validate on the next, the
    rows least like the ones the model will predict."""
    splits = time_ordered_splits(plan.key, holdout=True)
    return replace(plan, splits=splits, scheme="holdout time-ordered", reason=reason,
                   periods=period_count(DEFAULT_FOLDS, True))


def _group_plan(ctx, cv, groups, column, reason, check=None):
    k = int(cv) if isinstance(cv, (int, np.integer)) else None
    splits = make_splits(ctx.y_enc, ctx.task, cv=k, random_state=ctx.sub_seed, groups=groups)
    base = "holdout" if len(splits) == 1 else f"{len(splits)}-fold"
    return ValidationPlan(splits, f"{base} grouped", reason, order="group", column=column, key=groups,
                          check=check)


def _detect(ctx, budget):
    """Random folds, unless the leak check finds them optimistic for the rows' time order or
    their repeated entities (in that order of checking)."""
    from featsmith.pipelines._stages.leak_check import check_leak

    random_plan = _shuffled_plan(ctx, None)
    if len(random_plan.splits) == 0:
        return random_plan
    deadline = budget.validation_deadline()
    notes = []
    candidates = []
    if ctx.time_values is not None:
        candidates.append(("time", ctx.time_column, ctx.time_values))
    group_col = _group_column(ctx)
    if group_col is not None:
        candidates.append(("group", group_col, ctx.frame.get_column(group_col).to_numpy()))
    for kind, column, key in candidates:
        check = check_leak(ctx, kind, column, key, deadline)
        if check is None:
            notes.append(f"{kind} check by {column!r} not possible")
            continue
        if check.optimistic:
            reason = f"shuffled folds are optimistic for {kind} by {column!r}: {check.describe()}"
            if kind == "time":
                return _time_plan(ctx, None, reason, check.as_dict())
            return _group_plan(ctx, None, key, column, reason, check.as_dict())
        notes.append(f"{kind} by {column!r} checked, within noise: {check.describe()}")
        random_plan = replace(random_plan, check=check.as_dict())
    if notes:
        random_plan = replace(random_plan, reason=f"{random_plan.reason}; " + "; ".join(notes))
    return random_plan


@dataclass(frozen=True, kw_only=True)
class Validated(StageResult):
    """Attributes
    ----------
    plan : ValidationPlan
    """

    plan: ValidationPlan


@stage("validate")
def plan_validation(ctx, cv, budget) -> Validated:
    """Choose the validation plan.

    The user's choice wins: a scikit-learn splitter as ``cv``; ``cv="time"`` (forward-chaining
    folds in time order); ``cv="group"`` or ``groups`` (whole groups on one side); an int
    (that many shuffled folds); ``cv="random"`` (the shuffled plan by size, no check).
    Otherwise (``cv=None``) shuffled folds, unless the leak check
    (:func:`~featsmith.pipelines._stages.leak_check.check_leak`, within the budget's
    validation share) finds them optimistic for the time order of the rows or for a column
    of repeated entities: then time-ordered or grouped folds.
    """
    ctx.progress.stage("validate")
    if cv is not None and not isinstance(cv, (int, np.integer, str)):
        splits = make_splits(ctx.y_enc, ctx.task, cv=cv, groups=ctx.groups)
        plan = ValidationPlan(splits, f"{len(splits)}-fold" if len(splits) > 1 else "holdout",
                              f"the splitter given as cv ({type(cv).__name__})", order="custom")
    elif cv == "time":
        if ctx.time_values is None:
            raise ValueError("cv='time' needs a time order: pass time_column= (a column of X), or give X a "
                             "datetime column.")
        if ctx.groups is not None:
            raise ValueError("cv='time' and groups= are both given, but the folds follow one of them: drop "
                             "groups to validate in time order, or pass cv='group' to keep groups whole.")
        plan = _time_plan(ctx, cv, f"cv='time': forward-chaining folds by {ctx.time_column!r}")
    elif cv == "group" or ctx.groups is not None:
        groups, column = ctx.groups, "groups"
        if groups is None:
            column = _group_column(ctx)
            if column is None:
                raise ValueError("cv='group' needs groups: pass fit(..., groups=...) (labels, or the name of a "
                                 "column of X).")
            groups = ctx.frame.get_column(column).to_numpy()
        plan = _group_plan(ctx, cv if cv != "group" else None, groups, column,
                           "groups given: whole groups stay on one side")
    elif cv == "random":
        plan = _shuffled_plan(ctx, None)
        plan = replace(plan, reason=f"cv='random': {plan.reason}")
    elif cv is not None:
        plan = _shuffled_plan(ctx, cv)
    else:
        plan = _detect(ctx, budget)
    return Validated(plan=plan, summary=f"{plan.scheme} ({plan.reason})")
