"""Stage 3, baseline: LightGBM's defaults under the validation plan. It is the floor every
later trial is compared with, and the first measurement of what a trial costs here."""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from featsmith.pipelines._budget import TrialCost
from featsmith.pipelines._context import ValidationPlan
from featsmith.pipelines._lgbm import LGBMTrialRunner
from featsmith.pipelines._stages.base import StageResult, stage
from featsmith.pipelines._stages.validation import time_holdout
from featsmith.pipelines._trials import TrialResult

# Rounds of the unvalidated model when there are too few rows to validate (LightGBM's default).
UNVALIDATED_ROUNDS = 100


@dataclass(frozen=True, kw_only=True)
class Baseline(StageResult):
    """Attributes
    ----------
    trial : TrialResult
        LightGBM's defaults on the encoded raw columns.
    runner : LGBMTrialRunner
        The fold runner of the raw columns (its binned folds are reused by later trials).
    plan : ValidationPlan
        The plan later stages use: the input plan, or its first folds when k-fold was too slow
        for the budget.
    cost : TrialCost or None
        What the trial cost (None when nothing was validated).
    """

    trial: TrialResult
    runner: LGBMTrialRunner
    plan: ValidationPlan
    cost: TrialCost | None


def _raw_runner(ctx):
    """LightGBM's fold runner of the encoded raw columns under ``ctx``'s plan."""
    return LGBMTrialRunner(ctx.X, ctx.y_enc, categorical=ctx.encoder.categorical_features_, **ctx.runner_args())


@stage("baseline")
def run_baseline(ctx, budget) -> Baseline:
    """Validate LightGBM's defaults; cut k-fold to the folds that finished when the whole of it
    would take more than the budget's baseline share (forward-chaining folds to a holdout of
    the latest period instead); tell the planner what a trial costs."""
    ctx.progress.stage("baseline")
    runner = _raw_runner(ctx)
    if not ctx.splits:
        trial = TrialResult({}, float("nan"), UNVALIDATED_ROUNDS, 0.0, "unvalidated")
        return Baseline(trial=trial, runner=runner, plan=ctx.plan, cost=None,
                        summary="LightGBM defaults, unvalidated (too few rows)")
    trial = ctx.run_trial(runner, {}, budget.baseline_deadline(), budget.start,
                          folds_budget=budget.baseline_folds_budget())
    plan = ctx.plan
    holdout = None
    if trial.status == "truncated" and plan.order == "time" and len(plan.splits) > 1:
        holdout = time_holdout(plan, f"{plan.reason}; a holdout of the latest period, as {plan.n_folds} folds "
                                     f"would not fit the budget")
    if holdout is not None and holdout.splits:
        # Forward-chaining folds run earliest first: the folds that finished trained on the
        # first periods alone. The latest period is the one to validate on.
        plan, ctx = holdout, ctx.with_plan(holdout)
        runner = _raw_runner(ctx)
        trial = ctx.run_trial(runner, {}, budget.baseline_deadline(), budget.start)
    elif trial.status == "truncated" and trial.models:
        # k-fold is too slow for this budget: validate on the folds that finished (a holdout
        # when it is one) from here on, and score the baseline on them alone.
        done = len(trial.models)
        plan = plan.first(done, f"{plan.reason}; cut to {done} of {plan.n_folds} folds to fit the budget")
        runner.restrict_folds(done)
        value, status = runner.score_oof(trial.oof, runner.valid_mask)
        trial = replace(trial, value=value, status=status)
    done = plan.splits[:max(len(trial.models), 1)]
    cost = TrialCost(trial.seconds, max(len(trial.models), 1), ctx.n_rows, plan.n_train, trial.n_rounds,
                     trees_per_round=ctx.trees_per_round,
                     mean_train=float(np.mean([len(tr) for tr, _ in done])))
    budget.measured(cost)
    natural = ctx.metric.natural(trial.value)
    return Baseline(trial=trial, runner=runner, plan=plan, cost=cost,
                    summary=f"{ctx.metric.name} {natural:.5g} ({trial.status}) in {trial.seconds:.2f}s")
