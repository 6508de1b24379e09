"""Stage 4, features: generate candidate features, screen and select them, and keep them only
when LightGBM's defaults validate better with them than the baseline did."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, replace

import numpy as np

from featsmith.pipelines._budget import MIN_CANDIDATES
from featsmith.pipelines._lgbm import LGBMTrialRunner
from featsmith.pipelines._stages.base import StageResult, stage
from featsmith.pipelines._trials import TrialResult

logger = logging.getLogger("featsmith")

# A categorical column with this many levels is where LightGBM's native handling is weakest
# (few rows per level, a split groups at most 32 levels): its out-of-fold target encoding is
# always among the features checked, and is generated alone when the budget allows no more.
# Not lower: at 100 levels (hotel_rates' agent and company, 121 and 154) the forced encodings
# passed the time-ordered check and lost 3.9 RMSE on the later test months.
HIGH_CARDINALITY = 1000


def _high_cardinality(encoder) -> list:
    grouped = getattr(encoder, "grouped_categories_", {})
    return [c for c, cats in encoder.categories_.items() if len(cats) + len(grouped.get(c, {})) >= HIGH_CARDINALITY]


def _target_encodings(names, columns) -> list:
    """The target-encoding features (``te(col)``, one per class for multiclass) of ``columns``."""
    prefixes = tuple(f"te({c})" for c in columns)
    return [n for n in names if prefixes and n.startswith(prefixes)]


@dataclass(frozen=True, kw_only=True)
class Features(StageResult):
    """Attributes
    ----------
    runner : FoldRunner
        The fold runner of the columns later trials use: the encoded raw columns, plus the
        generated features when they were accepted.
    view_trials : list of TrialResult
        The trials so far on those columns (the baseline, or the check of the generated
        features), for the search and the ensemble.
    trial : TrialResult or None
        LightGBM's defaults with the generated features (the check), when it ran.
    accepted : bool
        Whether the generated features are part of the model.
    plan : FeaturePlan or None
        The accepted features.
    screen : HalvingScreen or None
    selector : GBDTSelector or None
    """

    runner: object
    view_trials: list
    trial: TrialResult | None = None
    accepted: bool = False
    plan: object = None
    screen: object = None
    selector: object = None


class _RowSubset:
    """A :class:`featsmith._types.CandidateSource` restricted to some rows (the validation
    rows of a holdout, the only ones with out-of-fold base predictions)."""

    def __init__(self, source, rows):
        self.source = source
        self.rows = np.asarray(rows)
        self.names = source.names
        self.n_rows = len(self.rows)

    def evaluate(self, names, rows=None):
        return self.source.evaluate(names, self.rows if rows is None else self.rows[np.asarray(rows)])


def _raw_scores(oof, task, rows):
    """Out-of-fold probabilities/values -> the raw scores a booster would start from."""
    pred = oof[rows]
    if task == "regression":
        return pred
    p = np.clip(pred, 1e-7, 1 - 1e-7)
    if task == "binary":
        return np.log(p[:, 1] / p[:, 0])
    return np.log(p)


def _selector_task(task):
    return "regression" if task == "regression" else "classification"


def _select(ctx, Xnew, names):
    """Keep the screened features whose LightGBM gain, next to every raw column, beats
    shuffled copies of the columns (:class:`featsmith.selectors.GBDTSelector`'s automatic
    cut); fitted on the training rows only."""
    from featsmith.selectors import GBDTSelector

    selector = GBDTSelector(n_null_runs=2, task=_selector_task(ctx.task), random_state=ctx.sub_seed,
                            n_jobs=ctx.n_threads)
    selector.fit(np.hstack([ctx.X, Xnew]), ctx.y_enc)
    keep = selector.get_support()[ctx.X.shape[1]:]
    logger.info("GBDTSelector kept %d of %d screened features.", int(keep.sum()), len(names))
    return selector, [n for n, k in zip(names, keep) if k]


def _latest_period_holds(ctx, trial, baseline_trial, runner):
    """Under time-ordered folds, whether the features validate at least as well as the raw
    columns on the latest period too, ``(holds, note)``.

    The pooled score across forward folds can be carried by one old, volatile period while
    the features lose on the latest one, the period most like the rows the model will
    predict (hotel rates split in time: target encodings won the year-old peak season by 32
    RMSE and lost the latest two periods, then the later months by 8; see BENCHMARKS.md).
    """
    plan = ctx.plan
    if plan.order != "time" or len(runner.splits) < 2:
        return True, ""
    _, latest = runner.splits[-1]
    rows = np.zeros(ctx.n_rows, dtype=bool)
    rows[latest] = True
    with_features, _ = runner.score_oof(trial.oof, rows)
    without, _ = baseline_trial.runner.score_oof(baseline_trial.oof, rows)
    m = ctx.metric
    note = f"latest period {m.name} {m.natural(with_features):.5g} vs {m.natural(without):.5g} without"
    return bool(with_features >= without), note


@stage("features")
def build_features(ctx, baseline, budget, *, enabled, max_candidates, max_new_features) -> Features:
    """Generate, screen, select and check candidate features (always with related tables)."""
    from featsmith.featurize import FeatureGenerator
    from featsmith.selectors import HalvingScreen

    skip = Features(runner=baseline.runner, view_trials=[baseline.trial])
    if not ctx.splits or not (enabled or ctx.relational.given):
        return skip
    ctx.progress.stage("features")
    start = time.perf_counter()
    rows = np.flatnonzero(baseline.runner.valid_mask)
    planned, why = budget.features_plan(ctx.n_rows, len(rows))
    high = _high_cardinality(ctx.encoder)
    # Too little time to screen candidates: only the target encodings of high-cardinality
    # columns, when one more trial (the check) still fits the stage's share.
    te_only = not planned and not ctx.relational.given
    if te_only and (not high or budget.features_seconds() < 1.3 * budget.cost.trial_seconds):
        # Checking generated features costs a trial and more: the search pays better here.
        return replace(skip, summary=why)
    n_candidates = max_candidates if max_candidates is not None else max(planned, MIN_CANDIDATES)
    deadline = start + budget.features_seconds()
    rel = ctx.relational
    plan = ctx.plan
    # The out-of-fold target encodings follow the validation plan: whole groups, or earlier
    # periods only, the plan's own periods, so that a row a fold validates is encoded from
    # that fold's training rows alone, as a later row is at predict time.
    n_folds = {"n_folds": plan.periods} if plan.order == "time" else {}
    gen = FeatureGenerator(max_candidates=n_candidates, random_state=ctx.sub_seed, task=ctx.task,
                           operators=["te"] if te_only else None, **n_folds)
    gen.fit(ctx.frame, ctx.y, tables=rel.tables, relationships=rel.relationships, cutoff_time=rel.cutoff_time,
            time_index=rel.time_index, groups=plan.key if plan.order == "group" else None,
            time_order=plan.key if plan.order == "time" else None)
    source = gen.candidate_source()
    if not source.names or not np.isfinite(baseline.trial.value):
        return replace(skip, summary="no candidate features")
    screen = selector = None
    if te_only:
        names = []
    else:
        # Next to the encoded columns, the screen drops monotone copies of them before they can
        # fill its finalists.
        with_base = ctx.X.shape[1] > 0
        screen = HalvingScreen(n_keep=max_new_features, random_state=ctx.sub_seed, n_jobs=ctx.n_threads,
                               task=_selector_task(ctx.task))
        screened = source if len(rows) == ctx.n_rows else _RowSubset(source, rows)
        screen.fit(screened, ctx.y_enc[rows], init_score=_raw_scores(baseline.trial.oof, ctx.task, rows),
                   base=ctx.X[rows] if with_base else None,
                   categorical_features=ctx.encoder.categorical_features_ if with_base else None)
        names = list(screen.selected_names_)
        if names and time.perf_counter() + budget.cost.selection_seconds(ctx.n_rows) < deadline:
            selector, names = _select(ctx, source.evaluate(names).astype(np.float64), names)
    names += [n for n in _target_encodings(source.names, high) if n not in names]
    if gen.relational_ is not None:
        # Relational aggregates are what related tables are given for (featuretools' DFS
        # output): keep them all, numeric ones, and let the screen add derived features.
        relational = [n for n in gen.relational_.output_names if n in source.names and n not in names]
        names = relational + names
    if not names:
        return replace(skip, screen=screen, selector=selector,
                       summary=f"{len(source.names)} candidates, none selected")
    X_aug = np.hstack([ctx.X, source.evaluate(names).astype(np.float64)])
    runner = LGBMTrialRunner(X_aug, ctx.y_enc, categorical=ctx.encoder.categorical_features_, **ctx.runner_args())
    trial = ctx.run_trial(runner, {}, budget.search_deadline(), budget.start)
    base_value = baseline.trial.value
    holds, latest_note = (False, "") if trial.status != "ok" else _latest_period_holds(ctx, trial, baseline.trial, runner)
    if trial.status == "ok" and trial.value > base_value and holds:
        # The raw columns' binned folds are not used again: free them.
        baseline.runner.free()
        m = ctx.metric
        return Features(
            runner=runner, view_trials=[trial], trial=trial, accepted=True, plan=gen.plan(names), screen=screen,
            selector=selector,
            summary=f"kept {len(names)} of {len(source.names)} candidates: {m.name} "
                    f"{m.natural(trial.value):.5g} vs {m.natural(base_value):.5g} without"
                    f"{'; ' + latest_note if latest_note else ''}",
        )
    runner.free()
    return replace(
        skip, trial=trial, screen=screen, selector=selector,
        summary=f"{len(names)} generated features did not validate better "
                f"({ctx.metric.name} {ctx.metric.natural(trial.value):.5g} vs "
                f"{ctx.metric.natural(base_value):.5g} without, {trial.status}"
                f"{'; ' + latest_note if latest_note else ''}); dropped",
    )
