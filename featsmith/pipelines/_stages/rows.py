"""Stage 2, rows: on large data, the rows the search runs on, and the rows held out to check
the final model against LightGBM's defaults trained on every row.

Below :data:`SAMPLE_MIN_ROWS` rows every later stage uses every row. Above it a short probe
(LightGBM's defaults for a few rounds on a random 100,000 rows) measures what binning a row
and boosting a row for one round cost here. From those the planner reserves the final stage's
time (binning every row, LightGBM's defaults on every row, and the chosen LightGBM members on
every row) and sizes the search sample so that one trial of the defaults takes about
1/:data:`TRIALS_PER_SEARCH` of what is left: validation, the baseline, the features, the
search and the ensemble then run on the sample exactly as on a smaller table, and the final
stage (:func:`~featsmith.pipelines._stages.final.refit_on_all_rows`) refits on every row.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import lightgbm as lgb
import numpy as np

from featsmith._threads import fit_threads
from featsmith.pipelines._context import FitContext
from featsmith.pipelines._stages.base import StageResult, stage

# Up to this many rows the search uses every row (the dev suite's tasks, 1.4k-40k rows).
SAMPLE_MIN_ROWS = 200_000
# The smallest search sample: below it LightGBM's trials stop telling configurations apart.
MIN_SAMPLE_ROWS = 100_000
# The probe: LightGBM's defaults for a few rounds on this many random rows.
PROBE_ROWS, PROBE_ROUNDS = 100_000, 20
# The sample is sized so that a trial of LightGBM's defaults (about 200 rounds with early
# stopping, on 80% of the sample) takes this fraction of the search's time: about as many
# trials as a 60 s search runs on a 40k-row table.
TRIALS_PER_SEARCH = 25
TRIAL_ROUNDS = 200
# LightGBM's defaults on every row: the floor the final model is checked against.
FLOOR_ROUNDS = 100
# Boosting rounds (of LightGBM's defaults) reserved for the chosen members' refit on every row,
# and the margin on the final stage's estimate (generated features for every row, scoring).
MEMBER_ROUNDS, FINAL_MARGIN = 400, 1.25
# The final stage never takes more than this share of the time left: the search needs the rest.
MAX_FINAL_SHARE = 0.6
# Rows held out of the final fit: half stop the members' boosting early, half check the final
# model against the floor. This share of the rows, at most MAX_CHECK_ROWS.
CHECK_SHARE, MAX_CHECK_ROWS = 0.04, 200_000


@dataclass(frozen=True)
class RowCost:
    """What binning one row and boosting one row for one round cost (seconds), from the probe."""

    bin_seconds: float
    round_seconds: float

    def fit_seconds(self, n_rows: float, n_rounds: float) -> float:
        return n_rows * (self.bin_seconds + n_rounds * self.round_seconds)


@dataclass(frozen=True, kw_only=True)
class Rows(StageResult):
    """Attributes
    ----------
    context : FitContext
        The context the search stages use: of the sample, or the whole one.
    search_rows : ndarray or None
        Positions of the sample's rows (sorted), or None when the search uses every row.
    stop_rows, check_rows : ndarray or None
        Rows held out of the sample and of the final fit: they stop the members' boosting
        early, and score the final model against the floor.
    fit_rows : ndarray or None
        The rows the final models train on: every row but the held-out ones.
    cost : RowCost or None
        The probe's measurement.
    final_seconds : float
        Seconds reserved for the final stage.
    """

    context: FitContext
    search_rows: np.ndarray | None = None
    fit_rows: np.ndarray | None = None
    stop_rows: np.ndarray | None = None
    check_rows: np.ndarray | None = None
    cost: RowCost | None = None
    final_seconds: float = 0.0

    @property
    def sampled(self) -> bool:
        return self.search_rows is not None


def probe_cost(ctx: FitContext, rng) -> RowCost:
    """Time LightGBM's binning and a few rounds of its defaults on a random sample of rows."""
    n = min(ctx.n_rows, PROBE_ROWS)
    rows = np.sort(rng.choice(ctx.n_rows, n, replace=False))
    params = {"objective": {"binary": "binary", "multiclass": "multiclass"}.get(ctx.task, "regression"),
              "verbosity": -1, "seed": ctx.seed, "force_col_wise": True,
              # The threads of a fit this size (featsmith/_threads.py), as the trials on the
              # (sampled) rows it plans mostly get: timed on more threads than they use, the
              # sample's waking threads would make the rows look dearer than they are.
              "num_threads": fit_threads(ctx.n_threads, n, ctx.X.shape[1])}
    if ctx.task == "multiclass":
        params["num_class"] = ctx.n_classes
    start = time.perf_counter()
    data = lgb.Dataset(ctx.X[rows], ctx.y_enc[rows], categorical_feature=ctx.encoder.categorical_features_,
                       params={"verbosity": -1}).construct()
    binned = time.perf_counter()
    lgb.train(params, data, num_boost_round=PROBE_ROUNDS)
    done = time.perf_counter()
    return RowCost((binned - start) / n, (done - binned) / (n * PROBE_ROUNDS))


def _held_out(ctx: FitContext, rng) -> np.ndarray:
    """Rows held out of the search and the final fit, in the order they are split in half
    (stopping rows first): the latest rows when the rows have a time order, whole groups when
    groups are given, else random rows."""
    n_hold = int(min(CHECK_SHARE * ctx.n_rows, MAX_CHECK_ROWS))
    if ctx.time_values is not None:
        order = np.argsort(ctx.time_values, kind="stable")
        return order[-n_hold:]
    if ctx.groups is not None:
        _, codes = np.unique(ctx.groups, return_inverse=True)
        sizes = np.bincount(codes)
        groups = rng.permutation(len(sizes))
        # Whole groups, in random order, until they hold about n_hold rows.
        n_groups = max(int(np.searchsorted(np.cumsum(sizes[groups]), n_hold, side="right")), 1)
        rank = np.full(len(sizes), len(sizes))
        rank[groups[:n_groups]] = np.arange(n_groups)
        held = np.flatnonzero(rank[codes] < n_groups)
        return held[np.argsort(rank[codes[held]], kind="stable")]
    return rng.choice(ctx.n_rows, n_hold, replace=False)


def _stratified(ctx: FitContext, candidates: np.ndarray, size: int, rng) -> np.ndarray:
    """``size`` random rows of ``candidates``, each class in its share for classification."""
    if ctx.task == "regression":
        return np.sort(rng.choice(candidates, size, replace=False))
    # A random key per row; within each class the rows with the smallest keys, as many as
    # the class's share of the sample.
    y = ctx.y_enc[candidates]
    keys = rng.random(len(candidates))
    counts = np.bincount(y, minlength=ctx.n_classes)
    quota = np.maximum(np.round(counts * size / len(candidates)).astype(np.int64), np.minimum(counts, 2))
    order = np.lexsort((keys, y))  # by class, then key
    rank = np.empty(len(order), dtype=np.int64)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    rank[order] = np.arange(len(order)) - np.repeat(starts, counts)
    return np.sort(candidates[rank < quota[y]])


@stage("rows")
def choose_rows(ctx: FitContext, budget) -> Rows:
    """Use every row up to :data:`SAMPLE_MIN_ROWS`; above, probe the cost of a row, reserve the
    final stage's time, and size a stratified search sample to what is left."""
    if ctx.n_rows <= SAMPLE_MIN_ROWS:
        return Rows(context=ctx, summary=f"all {ctx.n_rows:,} rows")
    rng = np.random.default_rng(ctx.seed)
    cost = probe_cost(ctx, rng)
    n = ctx.n_rows
    left = budget.remaining()
    final = FINAL_MARGIN * cost.fit_seconds(n, FLOOR_ROUNDS + MEMBER_ROUNDS)
    final = min(final, max(MAX_FINAL_SHARE * left, FINAL_MARGIN * cost.fit_seconds(n, FLOOR_ROUNDS)))
    search = max(left - final, 0.0)
    per_trial = search / TRIALS_PER_SEARCH
    size = int(per_trial / (cost.bin_seconds + 0.8 * TRIAL_ROUNDS * cost.round_seconds))
    held = _held_out(ctx, rng)
    rest = np.setdiff1d(np.arange(n), held, assume_unique=True)
    # A power-of-two multiple of the smallest sample: the timings that size it vary run to
    # run, the sample (and so the fit, with max_trials) should not, except near a step.
    size = MIN_SAMPLE_ROWS * 2 ** max(int(np.floor(np.log2(max(size, 1) / MIN_SAMPLE_ROWS))), 0)
    if size >= len(rest):
        return Rows(context=ctx, cost=cost,
                    summary=f"all {n:,} rows: a trial on them fits the budget")
    rows = _stratified(ctx, rest, size, rng)
    half = len(held) // 2
    return Rows(
        context=ctx.rows(rows), search_rows=rows, fit_rows=rest, stop_rows=np.sort(held[:half]), check_rows=np.sort(held[half:]),
        cost=cost, final_seconds=final,
        summary=f"search on {len(rows):,} of {n:,} rows; {final:.0f}s kept to refit on every row and check "
                f"against LightGBM's defaults on {len(held) - half:,} held-out rows",
    )
