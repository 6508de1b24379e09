"""Stage 8, refit: every ensemble member on all rows while the budget allows, or its
averaged fold models when a refit would overrun."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from featsmith.pipelines._stages.base import StageResult, stage
from featsmith.pipelines._stages.ensemble import ensemble_scorer
from featsmith.pipelines._trials import WeightedModel

logger = logging.getLogger("featsmith")


@dataclass(frozen=True)
class RefitMember:
    """A member of the final model: its trial, weight, and how it was refitted (``"all rows"``
    or ``"fold average"``)."""

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
            cost *= len(tr.models)
            if kept and limit is not None and spent + cost > limit:
                logger.info("Dropped %s from the ensemble: no time to refit it, and its fold models "
                            "would break the prediction-cost limit.", tr.family)
                continue
            logger.info("Refit of %s would overrun the budget; using its averaged fold models.", tr.family)
            model, how = family.fold_average(tr.models), "fold average"
        spent += cost
        fitted.append(family.member(model))
        kept.append(RefitMember(tr, member.weight, how))
    total = sum(m.weight for m in kept)
    kept = [RefitMember(m.trial, m.weight / total, m.refit) for m in kept]
    value = ensemble.value
    if 1 < len(kept) < len(ensemble.members):  # the dropped members' share moved to the others
        value = ensemble_scorer(ctx, runner)(sum(m.weight * m.trial.oof[runner.valid_mask] for m in kept))
    n_average = sum(m.refit == "fold average" for m in kept)
    summary = f"{len(kept)} member(s) on all rows" if not n_average else (
        f"{len(kept) - n_average} member(s) on all rows, {n_average} fold average(s)")
    model = WeightedModel([(m.weight, out) for m, out in zip(kept, fitted)], ctx.task)
    return Refit(model=model, members=kept, value=value, summary=summary)
