"""Stage 9 on large data, refit on every row: the members the search chose on its sample are
trained on every row, and the result is checked against LightGBM's defaults on every row.

The search sample's models saw a fraction of the rows. Here each LightGBM member is boosted
on every row but the held-out ones (:class:`~featsmith.pipelines._stages.rows.Rows`), its
rounds found by early stopping on the stopping rows (the sample's round count does not carry
over: more rows support more rounds). The other families keep their averaged fold models
from the sample. LightGBM's defaults are trained on the same rows first: the floor. The
ensemble and, when it has members from the sample, its members refitted on every row alone
are scored on the check rows, which no model saw; the better is kept unless the floor scores
better than both, when the floor is the model: the final model is never below LightGBM's
defaults on every row, within the check rows' noise.
"""

from __future__ import annotations

import logging
import time
import warnings

import lightgbm as lgb
import numpy as np

from featsmith._threads import fit_threads
from featsmith.pipelines._budget import DEFAULT_LEARNING_RATE, _leaf_factor
from featsmith.pipelines._lgbm import EARLY_STOPPING_ROUNDS, MAX_ROUNDS, _Deadline
from featsmith.pipelines._stages.base import stage
from featsmith.pipelines._stages.refit import Refit, RefitMember, stand_in_models
from featsmith.pipelines._stages.rows import FLOOR_ROUNDS
from featsmith.pipelines._stages.threshold import hard_labels, needs_labels
from featsmith.pipelines._trials import WeightedModel
from featsmith.pipelines._views import RAW

logger = logging.getLogger("featsmith")

# The most a member's learning rate is raised to so that its rounds fit the time left.
MAX_LEARNING_RATE = 0.3


def fitted_config(config: dict, n_rounds: float, round_seconds: float, seconds: float) -> dict:
    """``config`` for a refit that needs about ``n_rounds`` rounds in ``seconds``, when
    LightGBM's defaults take ``round_seconds`` per round there.

    When those rounds would not fit, the learning rate is raised in proportion (rounds times
    learning rate is about constant; at most :data:`MAX_LEARNING_RATE`), so that the member
    finishes boosting rather than stopping early at the deadline, undertrained.
    """
    per_round = round_seconds * _leaf_factor(config) / _leaf_factor({})
    affordable = seconds / max(per_round, 1e-9)
    needed = n_rounds + EARLY_STOPPING_ROUNDS
    if needed <= affordable:
        return dict(config)
    rate = config.get("learning_rate", DEFAULT_LEARNING_RATE)
    return {**config, "learning_rate": float(min(MAX_LEARNING_RATE, rate * needed / max(affordable, 1.0)))}


def all_row_matrix(ctx, rows, views, used_views):
    """The columns the models of ``used_views`` read, for every row, and each view's columns
    of it: the encoded columns, then the generated features of those views, whose values on
    the sample's rows are the out-of-fold ones the search used (a target encoding fitted on
    the sample encodes only the other rows)."""
    plan, names, columns = views.final(set(used_views) | {RAW})
    if plan is None:
        return ctx.X, {view: None for view in columns}
    n_raw = ctx.X.shape[1]
    X = np.empty((ctx.n_rows, n_raw + len(names)), dtype=np.float64)
    X[:, :n_raw] = ctx.X
    X[rows.search_rows, n_raw:] = views.values(names)
    others = np.setdiff1d(np.arange(ctx.n_rows), rows.search_rows, assume_unique=True)
    X[others, n_raw:] = plan.transform(ctx.frame[others]).to_numpy()
    return X, columns


def _boost(params, train, n_rounds, deadline, stopping=None):
    """``lgb.train`` up to ``n_rounds``, early-stopped on ``stopping`` when given, and stopped
    at ``deadline`` (the rounds done so far are kept)."""
    callbacks = [_Deadline(deadline)]
    if stopping is not None:
        callbacks.append(lgb.early_stopping(EARLY_STOPPING_ROUNDS, verbose=False))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return lgb.train(params, train, num_boost_round=n_rounds, valid_sets=[stopping] if stopping else None,
                         callbacks=callbacks)


def _score(ctx, threshold, pred, rows) -> float:
    y = ctx.y_enc[rows]
    if ctx.task == "regression":
        return ctx.metric.score_predictions(y, pred)
    if ctx.task == "binary" and needs_labels(ctx.metric):
        pred = hard_labels(pred, threshold)
    return ctx.metric.score_predictions(y, pred, classes=np.arange(ctx.n_classes))


class _LocalBooster:
    """Boosts on this machine: one binned dataset of every row, the training and stopping rows
    subsets of it."""

    where = "all rows"

    def __init__(self, ctx, rows, X):
        full = lgb.Dataset(X, ctx.y_enc, categorical_feature=ctx.encoder.categorical_features_,
                           params={"verbosity": -1, "feature_pre_filter": False}, free_raw_data=False).construct()
        self.train, self.stopping = full.subset(rows.fit_rows), full.subset(rows.stop_rows)
        # The threads of a fit on these rows, not the search sample's (featsmith/_threads.py).
        self.n_threads = fit_threads(ctx.n_threads, len(rows.fit_rows), X.shape[1])

    def fit(self, params, n_rounds, deadline, early_stopping):
        params = {**params, "num_threads": self.n_threads}
        if early_stopping:  # the rounds are found on the stopping rows
            return _boost(params, self.train, MAX_ROUNDS, deadline, self.stopping)
        return _boost(params, self.train, n_rounds, deadline)


class _ClusterBooster:
    """Boosts on a Dask cluster through LightGBM's Dask estimators (see
    :func:`featsmith.pipelines._dask.train_on_cluster`): no early stopping and no deadline
    there, so a member trains for its rounds on the sample, scaled to the rows."""

    where = "all rows on the cluster"

    def __init__(self, ctx, rows, X, client):
        from featsmith.pipelines._dask import train_on_cluster

        self.train_on_cluster = train_on_cluster
        self.client, self.task, self.categorical = client, ctx.task, ctx.encoder.categorical_features_
        self.X, self.y = X[rows.fit_rows], ctx.y_enc[rows.fit_rows]

    def fit(self, params, n_rounds, deadline, early_stopping):
        return self.train_on_cluster(self.client, self.task, params, self.X, self.y, self.categorical, n_rounds)


class _ViewBoosters:
    """``boosters(view)``: a booster on ``view``'s columns of ``X``, made by ``make``. One
    binned dataset at a time: the members are boosted view by view (the raw view's first,
    the floor's), so each view's dataset is built once and freed before the next."""

    def __init__(self, make, X, columns):
        self.make, self.X, self.columns = make, X, columns
        self.view = self.booster = None

    def __call__(self, view):
        if view != self.view:
            self.booster = None  # free the last view's bins before binning the next
            columns = self.columns[view]
            self.booster = self.make(self.X if columns is None else self.X[:, columns])
            self.view = view
        return self.booster


def _rounds(booster) -> int:
    return booster.best_iteration or booster.current_iteration()


@stage("refit")
def refit_on_all_rows(ctx, rows, features, ensemble, threshold, floor_trial, budget, plan, client=None) -> Refit:
    """Train LightGBM's defaults and the ensemble's LightGBM members on every row but the
    held-out ones (on the Dask cluster of ``client`` when given), and keep whichever scores
    better on the check rows. ``ctx`` holds every row and no validation plan; ``plan`` is the
    search's, on the sample, whose fold models stand in for the other families' members."""
    ctx.progress.stage(f"refit on {len(rows.fit_rows):,} rows")
    runner = features.runner
    members = sorted(ensemble.members, key=lambda m: -m.weight)
    X, columns = all_row_matrix(ctx, rows, features.views, [m.trial.view for m in members])

    booster_of = _ViewBoosters(
        lambda X_view: _LocalBooster(ctx, rows, X_view) if client is None else _ClusterBooster(ctx, rows, X_view, client),
        X, columns)
    booster = booster_of(RAW)
    started = time.perf_counter()
    floor_model = runner.member(booster.fit(runner._params({}), FLOOR_ROUNDS, budget.hard_end, False), columns[RAW])
    floor_seconds = time.perf_counter() - started
    round_seconds = floor_seconds / FLOOR_ROUNDS
    floor_how = f"{booster.where} ({FLOOR_ROUNDS} rounds, LightGBM's defaults)"
    fitted, kept, boosted = [], [], []  # boosted: positions of the members trained on every row
    # The raw view's members first (its dataset is built), then view by view, by weight within.
    members = sorted(members, key=lambda m: (m.trial.view != RAW, m.trial.view, -m.weight))
    n_boosted = sum(m.trial.family == "lightgbm" for m in members)
    # More rows support more rounds: a trial's rounds on the sample grow about with the square
    # root of the rows here.
    growth = np.sqrt(len(rows.fit_rows) / rows.context.n_rows)
    for member in members:
        tr = member.trial
        if tr.family == "lightgbm":
            share = budget.remaining() * 0.95 / max(n_boosted, 1)
            n_boosted -= 1
            boosted.append(len(kept))
            if (not tr.params and tr.view == RAW) or share < floor_seconds:
                # LightGBM's defaults on the raw columns are the floor itself; and a member with
                # less time than the floor took would stop undertrained: the floor stands in
                # for either (on the raw view).
                fitted.append(floor_model)
                kept.append(RefitMember(tr if tr.view == RAW else floor_trial, member.weight, floor_how))
                continue
            n_rounds = tr.n_rounds * growth
            config = fitted_config(tr.params, n_rounds, round_seconds, share)
            booster = booster_of(tr.view)
            model = booster.fit(runner._params(config), int(np.ceil(n_rounds)), budget.now() + share, True)
            fitted.append(runner.member(model, columns[tr.view]))
            kept.append(RefitMember(tr, member.weight, f"{booster.where} ({_rounds(model)} rounds)"))
        else:
            family = tr.runner
            models = stand_in_models(plan, tr.models)
            fitted.append(family.member(family.fold_average(models), columns[tr.view]))
            how = "fold average" if len(models) > 1 else "latest fold"
            kept.append(RefitMember(tr, member.weight, f"{how} (search rows)"))
    del booster, booster_of  # the binned datasets are not needed to score the check rows
    check = rows.check_rows
    X_check = X[check]
    outputs = [out.output(X_check) for out in fitted]
    # The candidates: the ensemble as chosen on the sample; its members trained on every row
    # alone (the others saw only the sample), reweighted; LightGBM's defaults on every row.
    everything = list(range(len(kept)))
    candidates = [("ensemble", everything)] + ([("members on every row", boosted)] if 0 < len(boosted) < len(kept) else [])
    scored = []
    for name, idx in candidates:
        total = sum(kept[i].weight for i in idx)
        pred = sum(kept[i].weight / total * outputs[i] for i in idx)
        scored.append((_score(ctx, threshold.threshold, pred, check), name, idx, total))
    floor_value = _score(ctx, threshold.threshold, floor_model.output(X_check), check)
    ours, name, idx, total = max(scored, key=lambda c: c[0])
    m = ctx.metric
    versus = f"{m.name} {m.natural(ours):.5g} vs {m.natural(floor_value):.5g} for LightGBM's defaults on every row"
    if ours >= floor_value or not np.isfinite(floor_value):
        kept = [RefitMember(kept[i].trial, kept[i].weight / total, kept[i].refit) for i in idx]
        model = WeightedModel([(m_.weight, fitted[i]) for m_, i in zip(kept, idx)], ctx.task)
        dropped = "" if name == "ensemble" else " (the sample's fold models dropped: they checked worse)"
        return Refit(model=model, members=kept, value=ours, checked=True,
                     summary=f"{len(kept)} member(s) on {len(rows.fit_rows):,} rows{dropped}; {len(check):,} "
                             f"held-out rows: {versus}")
    logger.info("The search's models scored below LightGBM's defaults on every row on the held-out rows; "
                "keeping the defaults.")
    floor = RefitMember(floor_trial, 1.0, floor_how)
    return Refit(model=WeightedModel([(1.0, floor_model)], ctx.task), members=[floor], value=floor_value,
                 checked=True, summary=f"LightGBM's defaults kept: {versus}")
