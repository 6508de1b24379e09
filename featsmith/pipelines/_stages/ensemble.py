"""Stage 6, ensemble: greedy ensemble selection (Caruana) over the best trials' out-of-fold
predictions, within a limit on the prediction cost."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from featsmith.pipelines._ensemble import greedy_ensemble
from featsmith.pipelines._stages.base import StageResult, stage
from featsmith.pipelines._stages.search import TOP_TRIALS_KEPT
from featsmith.pipelines._trials import TrialResult, best_trial, usable


@dataclass(frozen=True)
class Member:
    """One trial of the final model and its weight."""

    trial: TrialResult
    weight: float


@dataclass(frozen=True, kw_only=True)
class Ensemble(StageResult):
    """Attributes
    ----------
    members : list of Member
        The single best trial, or the ensemble's members (weights sum to 1).
    value : float
        Out-of-fold value of the weighted members (the best trial's when it stands alone).
    cost_limit : float or None
        The most prediction cost the members may have together.
    """

    members: list
    value: float
    cost_limit: float | None


def cost_limit(trials, max_predict_cost):
    """The most prediction cost the ensemble may have: ``max_predict_cost`` times the best
    LightGBM trial's (None: no limit, or no LightGBM trial to measure by)."""
    if max_predict_cost is None:
        return None
    boosters = [tr for tr in trials if usable(tr) and tr.family == "lightgbm" and tr.runner is not None]
    if not boosters:
        return None
    best = max(boosters, key=lambda tr: tr.value)
    return max_predict_cost * best.runner.predict_cost(best.params, best.n_rounds)


def ensemble_scorer(ctx, runner):
    """``score(predictions on the validation rows) -> value`` (``-inf`` when unscorable)."""
    y_valid = runner.y[runner.valid_mask]
    classes = None if ctx.task == "regression" else np.arange(ctx.n_classes)

    def score(pred):
        try:
            return ctx.metric.score_predictions(y_valid, pred, classes=classes)
        except ValueError:
            return -np.inf

    return score


@stage("ensemble")
def select_ensemble(ctx, trials, runner, *, enabled, max_predict_cost) -> Ensemble:
    """Weights for the best trials on ``runner``'s columns; the single best trial when
    ensembling is off, there is only one candidate, or no mix validates better."""
    ctx.progress.stage("ensemble")
    limit = cost_limit(trials, max_predict_cost)
    best = best_trial(trials)
    single = Ensemble(members=[Member(best, 1.0)], value=best.value, cost_limit=limit,
                      summary=f"the best single trial ({best.family})")
    candidates = [tr for tr in trials if usable(tr) and tr.oof is not None and tr.models]
    if len(candidates) < 2 or not enabled:
        return single
    candidates = sorted(candidates, key=lambda tr: tr.value, reverse=True)[:TOP_TRIALS_KEPT]
    costs = [tr.runner.predict_cost(tr.params, tr.n_rounds) for tr in candidates]
    weights, value = greedy_ensemble([tr.oof[runner.valid_mask] for tr in candidates], ensemble_scorer(ctx, runner),
                                     costs=costs, max_cost=limit)
    members = [Member(tr, float(w)) for tr, w in zip(candidates, weights) if w > 0]
    if len(members) == 1:
        return single
    m = ctx.metric
    return Ensemble(
        members=members, value=value, cost_limit=limit,
        summary=f"{len(members)} trials, {m.name} {m.natural(value):.5g} "
                f"(best single {m.natural(candidates[0].value):.5g})",
    )
