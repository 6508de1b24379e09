"""Stage 8, refit: every ensemble member on all rows while the budget allows, or its
averaged fold models when a refit would overrun."""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass

import numpy as np

from featsmith.pipelines._stages.base import StageResult, stage
from featsmith.pipelines._stages.ensemble import ensemble_scorer
from featsmith.pipelines._trials import WeightedModel

logger = logging.getLogger("featsmith")


@dataclass(frozen=True)
class RefitMember:
    """A member of the final model: its trial, weight, and how it was refitted (``"all rows"``,
    ``"fold average"``, or ``"latest fold"`` under a time-ordered plan)."""

    trial: object
    weight: float
    refit: str


@dataclass(frozen=True, kw_only=True)
class Refit(StageResult):
    """Attributes
    ----------
    model : WeightedModel
        The fitted final model.
    members : list of RefitMember
        Weights renormalised over the members kept.
    value : float
        Out-of-fold value of the members kept (the ensemble's value when none was dropped),
        or, when ``checked``, their value on the rows held out of the final fit.
    checked : bool
        Whether ``value`` comes from held-out rows (a large table's refit on every row).
    """

    model: WeightedModel
    members: list
    value: float
    checked: bool = False


def stand_in_models(plan, models):
    """The fold models that stand in for a member's refit on every row: all of them, averaged;
    under a time-ordered validation ``plan`` only the latest fold's. Forward-chaining folds
    train the first model on one period; the latest saw every period but the last. (Not
    measured on its own: on police_force_type a CatBoost member kept as the average of its five
    time-ordered fold models scored 0.72 test log loss, the same member refitted in the run
    beside it 0.65.)"""
    return models[-1:] if plan.order == "time" else models


@stage("refit")
def refit_members(ctx, ensemble, runner, budget) -> Refit:
    """Refit each member on all rows (rounds scaled to the row count) unless it would run past
    the budget's hard end (a LightGBM refit is tried when it may fit, and stopped there when it
    runs long); then it keeps its averaged fold models, unless their prediction cost (one model
    per fold) would break the ensemble's cost limit: then it is dropped."""
    ctx.progress.stage("refit")
    splits, n_rows, limit = ctx.splits, ctx.n_rows, ensemble.cost_limit
    hard_end = budget.hard_end
    fitted, kept, spent = [], [], 0.0
    n_train = ctx.plan.n_train
    for member in ensemble.members:
        tr = member.trial
        family = tr.runner or runner
        if not splits:
            fitted.append(family.member(family.refit(tr.params, tr.n_rounds, float("inf"))))
            kept.append(RefitMember(tr, member.weight, "all rows"))
            continue
        n_rounds = int(np.ceil(tr.n_rounds * n_rows / n_train))
        estimate = budget.cost.refit_seconds(tr)  # measured by the baseline whenever there are splits
        # In the units of the limit (the trials' own rounds), as the ensemble selection counted it.
        cost = family.predict_cost(tr.params, tr.n_rounds)
        model = None
        if budget.refit_may_fit(estimate, stoppable=tr.family == "lightgbm") or not tr.models:
            model = family.refit(tr.params, n_rounds, deadline=hard_end if tr.models else float("inf"))
        how = "all rows"
        if model is None:
            models = stand_in_models(ctx.plan, tr.models)
            cost *= len(models)
            if kept and limit is not None and spent + cost > limit:
                logger.info("Dropped %s from the ensemble: no time to refit it, and its fold models "
                            "would break the prediction-cost limit.", tr.family)
                continue
            logger.info("Refit of %s would overrun the budget; using its averaged fold models.", tr.family)
            model, how = family.fold_average(models), "fold average" if len(models) > 1 else "latest fold"
        spent += cost
        fitted.append(family.member(model))
        kept.append(RefitMember(tr, member.weight, how))
    total = sum(m.weight for m in kept)
    kept = [RefitMember(m.trial, m.weight / total, m.refit) for m in kept]
    value = ensemble.value
    if 1 < len(kept) < len(ensemble.members):  # the dropped members' share moved to the others
        value = ensemble_scorer(ctx, runner)(sum(m.weight * m.trial.oof[runner.valid_mask] for m in kept))
    n_average = sum(m.refit in ("fold average", "latest fold") for m in kept)
    summary = f"{len(kept)} member(s) on all rows" if not n_average else (
        f"{len(kept) - n_average} member(s) on all rows, {n_average} on fold models")
    model = WeightedModel([(m.weight, out) for m, out in zip(kept, fitted)], ctx.task)
    return Refit(model=model, members=kept, value=value, summary=summary)


def out_of_fold(members, task, n_rows, search_rows=None):
    """The final members' weighted out-of-fold predictions on the fit's rows, for distillation.

    Parameters
    ----------
    members : list of RefitMember
    task : str
    n_rows : int
        Rows of the whole fit.
    search_rows : ndarray or None
        Positions of the search sample's rows when the search ran on a sample.

    Returns
    -------
    ndarray of float32 or None
        ``(n_rows,)`` values (regression) or positive-class probabilities (binary: one column
        is enough and halves the size), ``(n_rows, n_classes)`` probabilities (multiclass);
        NaN on rows no member predicted out of fold (a holdout plan's training rows, rows
        outside the search sample). None when a member kept no out-of-fold predictions.
        float32: 4 bytes per row (per class for multiclass) is what the fitted pipeline carries.
    """
    if not members or any(m.trial.oof is None or m.trial.runner is None for m in members):
        return None
    mask = np.logical_and.reduce([m.trial.runner.valid_mask for m in members])
    total = sum(m.weight * m.trial.oof for m in members)
    if task != "regression":
        # A truncated trial leaves its unscored rows at zero probability.
        mask &= np.logical_and.reduce([m.trial.oof.sum(axis=1) > 0 for m in members])
        total = total[:, 1] if task == "binary" else total
    total = np.asarray(total, dtype=np.float32)
    total[~mask] = np.nan
    if search_rows is None:
        return total
    out = np.full((n_rows,) + total.shape[1:], np.nan, dtype=np.float32)
    out[search_rows] = total
    return out


def rows_key(y_enc) -> str:
    """A fingerprint of a fit's target (its length and values): ``distill`` uses the stored
    out-of-fold predictions only for the very rows the pipeline was fitted on."""
    y = np.ascontiguousarray(y_enc, dtype=np.float64)
    return f"{len(y)}:{hashlib.blake2b(y.tobytes(), digest_size=16).hexdigest()}"
