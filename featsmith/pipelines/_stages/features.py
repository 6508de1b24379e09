"""Stage 4, features: generate candidate features once, and build views of them (the screen's
selections at two sizes, the top candidates by gain, the relational aggregates) that the
search chooses among like any other parameter (:mod:`featsmith.pipelines._views`)."""

from __future__ import annotations

import logging
import time
import warnings
from dataclasses import dataclass, field, replace

import numpy as np

from featsmith._threads import fit_threads
from featsmith.pipelines._budget import MIN_CANDIDATES
from featsmith.pipelines._lgbm import _Deadline
from featsmith.pipelines._stages.base import StageResult, stage
from featsmith.pipelines._views import RAW, FeatureViews

logger = logging.getLogger("featsmith")

# A categorical column with this many levels is where LightGBM's native handling is weakest
# (few rows per level, a split groups at most 32 levels): its out-of-fold target encoding is
# always among the features checked, and is generated alone when the budget allows no more.
# Not lower: at 100 levels (hotel_rates' agent and company, 121 and 154) the forced encodings
# passed the time-ordered check and lost 3.9 RMSE on the later test months.
HIGH_CARDINALITY = 1000
# The top-by-gain view: this many times ``max_new_features`` candidates, ranked by one
# LightGBM of this many rounds on at most this many values (raw columns and candidates) per
# tree of a round: a multiclass fit grows a tree per class, so it reads fewer rows.
TOP_GAIN_FACTOR = 2
TOP_GAIN_ROUNDS = 60
TOP_GAIN_CELLS = 20_000_000
# ... and a multiclass fit bins each column this coarsely: the split search over every
# column's bins grows with the trees a round grows, the rows it reads do not (a fold shaped
# like police_force_type's, 1,235 rows, 1,171 columns, 7 classes: 13.1 s at LightGBM's 255
# bins, 6.2 s at 63, the same top columns; benchmarks/top_gain_bins.py).
TOP_GAIN_MULTICLASS_BINS = 63


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
    views : FeatureViews
        The feature views the search chooses from (``"raw"`` always; the others when their
        LightGBM defaults trial validated).
    view_trials : list of TrialResult
        LightGBM's defaults on each view (the baseline for ``"raw"``), for the search and the
        ensemble.
    rejected : list of TrialResult
        Defaults trials of views left out of the search (failed, or worse on a time-ordered
        plan's latest period).
    screen : HalvingScreen or None
    selector : GBDTSelector or None
    """

    views: FeatureViews
    view_trials: list
    rejected: list = field(default_factory=list)
    screen: object = None
    selector: object = None

    @property
    def runner(self):
        """The raw view's LightGBM runner (every view shares its splits)."""
        return self.views.runner(RAW)


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


class _EvaluatedOnce:
    """A :class:`featsmith._types.CandidateSource` whose every candidate is evaluated on every
    row once, then read by rows (a candidate's value on a row does not depend on the others)."""

    def __init__(self, source):
        self.names = source.names
        self.n_rows = source.n_rows
        self.values = source.evaluate(source.names)
        self.column = {n: i for i, n in enumerate(self.names)}

    def evaluate(self, names, rows=None):
        values = self.values if rows is None else self.values[np.asarray(rows)]
        return values if list(names) == self.names else values[:, [self.column[n] for n in names]]


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


def _selection_pays(budget, n_rows, views_before, deadline) -> bool:
    """Whether a selection on ``n_rows`` rows, then the defaults trials of the
    ``views_before`` it and of its own view (each about a baseline trial), end by ``deadline``.

    A selection is worth its seconds only with time left to validate its view: on
    police_force_type at 300 s one took 16 s and its view then had no time for its trial."""
    cost = budget.cost
    return time.perf_counter() + cost.selection_seconds(n_rows) + (views_before + 1) * cost.trial_seconds < deadline


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


def _top_gain_rows(ctx, source, n):
    """How many of ``n`` rows one top-by-gain fit reads: at most :data:`TOP_GAIN_CELLS` values
    per tree of a round (a row sample of them on a large table, or with many classes).

    Counting the classes: on police_force_type (9,687 rows, 1,171 columns, 7 classes) the six
    fits on every row took 79 s of a 300 s fit; on a row sample, the stage took 95 s instead of
    126 s (BENCHMARKS.md, issue 17)."""
    cells = (ctx.X.shape[1] + len(source.names)) * ctx.trees_per_round
    return n if n * cells <= TOP_GAIN_CELLS else min(n, max(TOP_GAIN_CELLS // cells, 1000))


def _top_by_gain(ctx, source, base_params, n_keep, deadline, train):
    """The ``n_keep`` candidates with the most gain in one LightGBM on the raw columns and
    every candidate, fitted on the rows ``train`` (at most :data:`TOP_GAIN_CELLS` values: a
    row sample of them on a large table, or with many classes)."""
    import lightgbm as lgb

    train = np.sort(train)
    n_rows = _top_gain_rows(ctx, source, len(train))
    if n_rows < len(train):
        rng = np.random.default_rng(ctx.sub_seed)
        train = np.sort(rng.choice(train, n_rows, replace=False))
    binning = {"verbosity": -1, "feature_pre_filter": False}
    if ctx.trees_per_round > 1:
        binning["max_bin"] = TOP_GAIN_MULTICLASS_BINS
    X = np.hstack([ctx.X[train], source.evaluate(source.names, train).astype(np.float64)])
    params = {**base_params, "colsample_bytree": 0.5, "num_leaves": 31, "learning_rate": 0.1,
              "num_threads": fit_threads(ctx.n_threads, *X.shape)}
    params.pop("metric", None)
    data = lgb.Dataset(X, ctx.y_enc[train], categorical_feature=ctx.encoder.categorical_features_, params=binning)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        booster = lgb.train(params, data, num_boost_round=TOP_GAIN_ROUNDS, callbacks=[_Deadline(deadline)])
    gain = booster.feature_importance("gain")[ctx.X.shape[1]:]
    order = np.argsort(-gain, kind="stable")[:n_keep]
    return [source.names[i] for i in order if gain[i] > 0]


def _top_by_gain_per_fold(ctx, source, base_params, n_keep, deadline):
    """``(per split, every row)``: the top candidates by gain on each split's training rows,
    and on every row for the refit; None when they would not all finish by ``deadline``.

    One holdout split: its training rows choose for the refit too (no extra fit).
    """
    splits = ctx.splits
    started = time.perf_counter()
    per_fold = [_top_by_gain(ctx, source, base_params, n_keep, deadline, splits[0][0])]
    if len(splits) == 1:
        return per_fold, per_fold[0]
    one = time.perf_counter() - started
    # The rest costs the first fit times the rows they read over its rows: forward-chaining
    # folds grow with each period, and the first trains on one (hotel_rates: the estimate by
    # fits was a fifth of the 15 s the stage then spent here).
    rest = sum(_top_gain_rows(ctx, source, n) for n in [len(tr) for tr, _ in splits[1:]] + [ctx.n_rows])
    if time.perf_counter() + 1.2 * one * rest / _top_gain_rows(ctx, source, len(splits[0][0])) > deadline:
        return None
    # The other folds and the refit read overlapping rows: evaluate the candidates once
    # (float32) when every row of them fits twice the cells one fit may read.
    if ctx.n_rows * len(source.names) <= 2 * TOP_GAIN_CELLS:
        source = _EvaluatedOnce(source)
    per_fold += [_top_by_gain(ctx, source, base_params, n_keep, deadline, tr) for tr, _ in splits[1:]]
    return per_fold, _top_by_gain(ctx, source, base_params, n_keep, deadline, np.arange(ctx.n_rows))


def _with_fixed(chosen, view, chosen_union):
    """``chosen`` (per split, refit) with the features every fold of ``view`` shares (the
    relational aggregates and high-cardinality encodings :func:`_views_of` added) in each."""
    fixed = [n for n in view if n not in chosen_union]
    kept = set(view)
    per_fold, refit = chosen
    return [fixed + [n for n in names if n in kept] for names in per_fold], fixed + [n for n in refit if n in kept]


def _views_of(candidates: dict, high_te: list, relational: list, encoded: list) -> dict:
    """Named views from the candidate lists, each with the relational aggregates and the
    high-cardinality target encodings, duplicates (the same set of features) dropped, and
    no candidate named like an ``encoded`` raw column (a datetime part the encoder made too)."""
    views, seen = {}, set()
    encoded = set(encoded)
    for name, names in candidates.items():
        names = relational + [n for n in names if n not in relational and n not in encoded]
        names += [n for n in high_te if n not in names]
        key = frozenset(names)
        if names and key not in seen:
            seen.add(key)
            views[name] = names
    return views


@stage("features")
def build_features(ctx, baseline, budget, *, enabled, max_candidates, max_new_features, max_trials=None) -> Features:
    """Generate and screen candidate features (always with related tables), build the views,
    and validate LightGBM's defaults on each (``max_trials`` counts the baseline and them)."""
    from featsmith.featurize import FeatureGenerator
    from featsmith.selectors import HalvingScreen

    skip = Features(views=FeatureViews.raw_only(baseline.runner), view_trials=[baseline.trial])
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
    candidates, fold_views = {}, {}
    if not te_only:
        # Next to the encoded columns, the screen drops monotone copies of them before they can
        # fill its finalists.
        with_base = ctx.X.shape[1] > 0
        screen = HalvingScreen(n_keep=max_new_features, random_state=ctx.sub_seed, n_jobs=ctx.n_threads,
                               task=_selector_task(ctx.task))
        screened = source if len(rows) == ctx.n_rows else _RowSubset(source, rows)
        screen.fit(screened, ctx.y_enc[rows], init_score=_raw_scores(baseline.trial.oof, ctx.task, rows),
                   base=ctx.X[rows] if with_base else None,
                   categorical_features=ctx.encoder.categorical_features_ if with_base else None)
        # Gain next to every candidate sees what a screen of one feature at a time misses
        # (features that pay together); first, as the view that validated best most often on
        # the dev tasks (and worth it only with time for its trial after it).
        if time.perf_counter() + 3 * budget.cost.trial_seconds < deadline:
            chosen = _top_by_gain_per_fold(ctx, source, baseline.runner.base_params(),
                                           TOP_GAIN_FACTOR * max_new_features, deadline)
            if chosen is not None:
                per_fold, refit = chosen
                # The view's matrix holds every fold's choice; each fold's model reads its own.
                candidates["top_gain"] = list(dict.fromkeys(refit + [n for names in per_fold for n in names]))
                fold_views["top_gain"] = chosen
        names = list(screen.selected_names_)
        if names and _selection_pays(budget, ctx.n_rows, len(candidates) + (gen.relational_ is not None), deadline):
            selector, selected = _select(ctx, source.evaluate(names).astype(np.float64), names)
            candidates["selected"] = selected
        candidates["screened"] = names
    relational = []
    if gen.relational_ is not None:
        # Relational aggregates are what related tables are given for (featuretools' DFS
        # output): every view keeps them all, numeric ones; the relational view alone.
        relational = [n for n in gen.relational_.output_names if n in source.names]
        candidates = {"relational": [], **candidates}
    named = _views_of(candidates or {"te": []}, _target_encodings(source.names, high), relational,
                      ctx.encoder.feature_names_out_)
    if not named:
        return replace(skip, screen=screen, selector=selector,
                       summary=f"{len(source.names)} candidates, none selected")
    union = [n for n in source.names if any(n in v for v in named.values())]
    X = np.hstack([ctx.X, source.evaluate(union).astype(np.float64)])
    views = FeatureViews(X, ctx.y_enc, ctx.X.shape[1], union, {RAW: [], **named}, ctx.runner_args(),
                         list(ctx.encoder.categorical_features_), make_plan=gen.plan, raw_runner=baseline.runner,
                         fold_views={v: _with_fixed(chosen, named[v], candidates[v]) for v, chosen in fold_views.items()
                                     if v in named})
    kept, rejected, notes = {RAW: []}, [], []
    trials = [baseline.trial]
    m = ctx.metric
    for name, names in named.items():
        # One defaults trial per view, while one more fits the stage's time (the first always).
        if max_trials is not None and len(trials) + len(rejected) >= max_trials:
            notes.append(f"{name}: max_trials reached")
            continue
        if len(trials) > 1 and time.perf_counter() + max(tr.seconds for tr in trials) > deadline:
            notes.append(f"{name}: no time to validate")
            continue
        runner = views.runner(name)
        trial = ctx.run_trial(runner, {}, budget.search_deadline(), budget.start)
        holds, latest_note = (False, "") if trial.status != "ok" else _latest_period_holds(
            ctx, trial, baseline.trial, runner)
        note = f"{name} ({len(names)}): {m.name} {m.natural(trial.value):.5g}" + (
            f"; {latest_note}" if latest_note else "")
        if trial.status == "ok" and holds:
            kept[name] = names
            trials.append(trial)
        else:
            runner.free()
            rejected.append(trial)
            note += f" ({trial.status if trial.status != 'ok' else 'worse on the latest period'}: left out)"
        notes.append(note)
    views.views = kept
    summary = (f"{len(source.names)} candidates; views {', '.join(notes)}; raw {m.name} "
               f"{m.natural(baseline.trial.value):.5g}")
    return Features(views=views, view_trials=trials, rejected=rejected, screen=screen, selector=selector,
                    summary=summary)
