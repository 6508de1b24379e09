"""The budget planner: how the seconds of one ``fit`` are shared between its stages.

A fit has one wall-clock budget. The planner does not cut it into fixed slices: it measures
what a trial costs on this data (the baseline is the first measurement) and sizes each later
stage from that cost and the row count. Every deadline it hands out is computed from the time
left *now*, so seconds a stage did not use pass on to the next stage by themselves.
"""

from __future__ import annotations

import math
import time
from collections import defaultdict
from dataclasses import dataclass, field

import numpy as np

from featsmith.pipelines._lgbm import EARLY_STOPPING_ROUNDS, MAX_ROUNDS
from featsmith.pipelines._catboost import CATBOOST_PATIENCE
from featsmith.pipelines._portfolio import FAMILY_SPACES, HIST_GB_PATIENCE, family_config
from featsmith.pipelines._trials import TrialResult

# Named shares, the only fractions the planner uses: the most a stage may take.
SHARES = {
    # Of the whole budget: the baseline is the first measurement, so nothing smaller is known
    # yet; past this share k-fold validation is cut to the folds that finished.
    "baseline": 0.3,
    # Of the time left after preparing the data: the leak check that chooses between random and
    # time-ordered or grouped validation (two LightGBM fits).
    "validation": 0.15,
    # Of the time left for the features and the search together: generating, screening and
    # checking candidates never takes more than this, so the search keeps the larger part.
    "features": 0.4,
    # Of the whole budget: the neural head's own architecture search, over all folds.
    "nas": 0.2,
    # Beyond the budget: the refit may run over by this share (2 s at least) before a member
    # falls back to its averaged fold models.
    "overrun": 0.05,
}
# A scikit-learn fit cannot be stopped midway, so a family that has not run yet is estimated
# in LightGBM trees of the baseline (``TrialCost.tree_seconds``), with margin: on six dev tasks
# an extra tree cost 0.3-1.0 LightGBM trees, and the linear model 3-32 LightGBM rounds.
TREES_PER_EXTRA_TREE = 1.5
# A HistGradientBoosting iteration is about a LightGBM tree (the same histogram algorithm),
# with margin for its binning and Python overhead; it usually stops early well before max_iter.
TREES_PER_HIST_GB_ITERATION = 1.0
ROUNDS_PER_LINEAR_FIT = 50
# A CatBoost iteration against a LightGBM tree (on the dev tasks: 1.1-1.4 on numeric columns,
# about 5 with categorical ones; a multiclass iteration holds every class, ~2 trees each), and
# the rounds it takes to stop early against LightGBM's at the same learning rate.
TREES_PER_CATBOOST_ITERATION = 3.0
CATBOOST_ROUNDS_PER_LGBM_ROUND = 2.0

# LightGBM's own default, for configurations that do not set it.
DEFAULT_LEARNING_RATE = 0.1

# How far a refit's estimate may exceed the time left for a stoppable refit to be tried.
REFIT_ESTIMATE_SLACK = 1.3
# Screening throughput (candidate cells per second, one thread of a laptop-class core); it
# sizes how many candidates fit the features stage's time.
SCREEN_CELLS_PER_SECOND = 1.5e6
# Candidate features the stage asks for, at least and at most.
MIN_CANDIDATES, MAX_CANDIDATES = 50, 2000


@dataclass(frozen=True)
class TrialCost:
    """What a LightGBM trial costs on this data, measured on the baseline.

    Attributes
    ----------
    trial_seconds : float
        Seconds of one trial over every fold (LightGBM defaults, early stopping).
    n_folds : int
    n_rows : int
        Rows of the training data.
    n_train : float
        Training rows of a fold (:attr:`ValidationPlan.n_train`: for time order, the latest
        fold's), which the refit scales the boosting rounds by.
    n_rounds : int
        Boosting rounds the baseline kept (its folds' mean best iteration).
    trees_per_round : int
        The number of classes for a multiclass task, else 1.
    mean_train : float, optional
        Mean training rows of the folds the seconds were measured on (``n_train`` when not
        given). Forward-chaining folds grow with each period, so their mean time is that of
        a fold of fewer rows than the latest: 2.5 of 6 periods against 5 at five folds.
    """

    trial_seconds: float
    n_folds: int
    n_rows: int
    n_train: float
    n_rounds: int = 100
    trees_per_round: int = 1
    mean_train: float | None = None

    @property
    def fold_seconds(self) -> float:
        return self.trial_seconds / max(self.n_folds, 1)

    def all_rows_seconds(self, fold_seconds: float) -> float:
        """A fit of ``fold_seconds`` on a mean fold, on every row instead (time grows with the
        rows)."""
        return fold_seconds * self.n_rows / max(self.mean_train or self.n_train, 1.0)

    def selection_seconds(self, n_rows: int) -> float:
        """A feature selection on ``n_rows`` rows: about three LightGBM fits on all of them."""
        return 3 * self.all_rows_seconds(self.fold_seconds) * n_rows / max(self.n_rows, 1)

    def refit_seconds(self, trial) -> float:
        """Seconds to refit ``trial`` (a :class:`TrialResult`) on every row.

        A fold trained on ``n_train`` rows until ``EARLY_STOPPING_ROUNDS`` past its best
        round; the refit trains on all rows for the best round count scaled by the same ratio
        (see the refit stage). Other families grow with the rows alone.
        """
        all_rows = self.all_rows_seconds(trial.seconds / max(len(trial.models), 1))
        if trial.family != "lightgbm":
            return all_rows
        rounds_run = trial.n_rounds + EARLY_STOPPING_ROUNDS
        return all_rows * (trial.n_rounds * self.n_rows / max(self.n_train, 1.0)) / max(rounds_run, 1)

    @property
    def tree_seconds(self) -> float:
        """Seconds per tree of the baseline's fold fits: the unit the cost of a model family
        that has not run yet is estimated in."""
        return self.fold_seconds / max((self.n_rounds + EARLY_STOPPING_ROUNDS) * self.trees_per_round, 1)

    def as_trial(self):
        """The baseline as a :class:`TrialResult` (its cost only)."""
        return TrialResult({}, float("nan"), self.n_rounds, self.trial_seconds, "ok",
                           models=[None] * self.n_folds)


@dataclass
class Budget:
    """Wall-clock plan of one ``fit``.

    Parameters
    ----------
    seconds : float
        The whole budget.
    start : float, optional
        ``time.perf_counter()`` at the start of the fit (now by default).
    shares : dict, optional
        Overrides of :data:`SHARES`.
    refits : bool, default=True
        Whether the chosen models are refitted on the rows the trials ran on. False for the
        search sample of a large table, whose models are refitted on every row by a later
        stage with time of its own: nothing is then reserved for a refit.

    Examples
    --------
    >>> budget = Budget(60.0)
    >>> budget.remaining() <= 60.0
    True
    >>> budget.baseline_deadline() - budget.start
    18.0
    """

    seconds: float
    start: float = field(default_factory=time.perf_counter)
    shares: dict = field(default_factory=dict)
    refits: bool = True

    def __post_init__(self):
        self.shares = {**SHARES, **self.shares}
        self.cost: TrialCost | None = None

    # -- the clock ---------------------------------------------------------------------------
    @property
    def end(self) -> float:
        return self.start + self.seconds

    @property
    def hard_end(self) -> float:
        """The latest a refit may run to."""
        return self.end + max(self.shares["overrun"] * self.seconds, 2.0)

    def now(self) -> float:
        return time.perf_counter()

    def elapsed(self) -> float:
        return self.now() - self.start

    def remaining(self) -> float:
        return self.end - self.now()

    # -- the plan ----------------------------------------------------------------------------
    def validation_deadline(self) -> float:
        return self.now() + self.shares["validation"] * self.remaining()

    def baseline_deadline(self) -> float:
        return self.start + self.shares["baseline"] * self.seconds

    def baseline_folds_budget(self) -> float:
        """Seconds the baseline's folds may take before k-fold is cut to the folds done: two
        thirds of its share, so that the cut leaves it room to finish the fold it is in."""
        return 2.0 / 3.0 * self.shares["baseline"] * self.seconds

    def measured(self, cost: TrialCost) -> None:
        """Record the baseline's cost: every later estimate starts from it."""
        self.cost = cost

    def refit_reserve(self, best=None) -> float:
        """Seconds kept free for the ensemble and the refit: the refit of ``best`` (the best
        trial so far; the baseline's cost before there is one) and a small margin for the
        ensemble selection.

        A member whose refit would not fit uses its averaged fold models instead, so only the
        likely first member is reserved for, and only while its refit may still fit (see
        :meth:`refit_may_fit`): once it cannot, keeping time for it would leave that time
        unused, and the margin alone is kept.
        """
        margin = 0.01 * self.seconds + 0.2
        if not self.refits:
            return margin
        if self.cost is None:
            return 2 * margin
        if best is None or not best.models:
            best = self.cost.as_trial()
        refit = self.cost.refit_seconds(best)
        return refit + margin if self.refit_may_fit(refit) else margin

    def refit_may_fit(self, estimate: float, stoppable: bool = True) -> bool:
        """Whether a refit estimated at ``estimate`` seconds may finish by :attr:`hard_end`.
        The estimate runs high (a fold's time includes its validation), so a refit that can
        be stopped at the hard end (LightGBM's) is tried up to :data:`REFIT_ESTIMATE_SLACK`
        times the time left."""
        left = self.hard_end - self.now()
        return estimate <= (REFIT_ESTIMATE_SLACK if stoppable else 1.0) * left

    def features_seconds(self) -> float:
        """Seconds the features stage may take: its share of what is left before the refit
        reserve, less nothing else (its own trial is part of it)."""
        return max(self.shares["features"] * (self.remaining() - self.refit_reserve()), 0.0)

    def features_plan(self, n_rows: int, n_train_rows: int) -> tuple[int, str]:
        """How many candidate features to generate, or 0 and the reason to skip.

        The stage costs: generating and screening the candidates (``n_train_rows`` rows
        each, at :data:`SCREEN_CELLS_PER_SECOND` for one output: on a multiclass task the
        screen scores every class and the top-by-gain fits grow a tree per class), a selection
        of the screened ones (about three LightGBM fits on every row) and LightGBM's defaults
        on the first view (about a baseline trial; the other views' trials and the top-by-gain
        fits run only while the stage's share allows). Whatever its share leaves for screening
        sizes the candidates.
        """
        allowance = self.features_seconds()
        cost = self.cost
        fixed = cost.trial_seconds * 1.3 + cost.selection_seconds(n_rows)
        screening = allowance - fixed
        # Per output: sized for one, the stage took 27% of a 300 s fit on leaf_species (32
        # classes) and kept no view, and 40% on police_force_type (7 classes), where the
        # top-by-gain fits alone took 79 s (BENCHMARKS.md, issue 17).
        n = int(screening * SCREEN_CELLS_PER_SECOND / (max(n_train_rows, 1) * max(cost.trees_per_round, 1)))
        if n < MIN_CANDIDATES:
            classes = f" for {cost.trees_per_round} classes" if cost.trees_per_round > 1 else ""
            return 0, (
                f"feature generation skipped: a trial takes {cost.trial_seconds:.1f}s and the "
                f"stage's share is {allowance:.1f}s, too little to screen {MIN_CANDIDATES} candidates{classes}"
            )
        return min(n, MAX_CANDIDATES), f"{min(n, MAX_CANDIDATES)} candidates in {allowance:.1f}s"

    def search_deadline(self, best=None) -> float:
        """When the search must stop so that the ensemble and the refit still fit."""
        return self.end - self.refit_reserve(best)

    def holdout_trial_deadline(self, deadline: float) -> float:
        """When a LightGBM trial validated on one holdout split must stop: by ``deadline``,
        and early enough that its own refit on every row still fits should it be the best.

        On a holdout the refit sees a quarter more rows than the trial's model, which is worth
        more than a longer trial; with k folds the averaged fold models stand in for a refit
        nearly as well, so only the holdout caps its trials.
        """
        if not self.refits:
            return deadline
        now = self.now()
        scale = self.cost.n_rows / max(self.cost.n_train, 1.0)
        left = self.end - 0.01 * self.seconds - now
        return min(deadline, now + left / (1.0 + scale**2))

    def nas_seconds(self, n_folds: int) -> float:
        """Seconds of the neural head's own search in each fold."""
        return self.shares["nas"] * self.seconds / max(n_folds, 1)


def _leaf_factor(params: dict) -> float:
    """Relative cost of one boosting round: a leaf-wise tree's histogram work grows with its
    depth, about ``log2(num_leaves)``."""
    return float(np.log2(max(params.get("num_leaves", 31), 2)))


class TrialPlanner:
    """Decides whether the next trial can finish.

    A LightGBM configuration is expected to take the measured seconds per round (per unit of
    :func:`_leaf_factor`) times the rounds its learning rate needs: rounds times learning rate
    is about constant across configurations, so it is read off the trials so far. Another
    family that has run is expected to take what its recent trials took; one that has not,
    what the baseline's cost per tree predicts for it.
    """

    def __init__(self, prior, cost, n_folds, widths=None):
        self.cost = cost
        self.n_folds = n_folds
        # Columns of each feature view: a round's histogram work grows with them, so costs are
        # recorded per column of the raw view.
        self.widths = widths or {}
        # Measured where it can be: LightGBM's defaults ran on each view (most generated
        # columns are cheap to bin and split, so the width alone overestimates).
        defaults = {tr.view: tr.seconds for tr in prior if not tr.params and tr.family == "lightgbm"
                    and tr.seconds > 0}
        raw = defaults.get("raw")
        self.measured = {v: seconds / raw for v, seconds in defaults.items()} if raw else {}
        self.durations = defaultdict(list)
        self.boosting = []  # (seconds per round, leaf factor and view factor, rounds x learning rate)
        for tr in prior:
            self.record(tr)

    def _width_factor(self, view, family="lightgbm") -> float:
        """A trial's cost on ``view`` over its cost on the raw columns: for LightGBM, as its
        defaults measured it (binned columns are cheap); for the other families, the ratio of
        columns, which their cost grows with (extra trees on 410 columns against 20 took 20x)."""
        raw = self.widths.get("raw")
        columns = self.widths.get(view, raw) / raw if raw else 1.0
        if family != "lightgbm":
            return max(columns, 1.0)
        return max(self.measured[view], 1.0) if view in self.measured else columns

    def record(self, result):
        width = self._width_factor(getattr(result, "view", "raw"), result.family)
        self.durations[result.family].append(result.seconds / width / self._relative_cost(result.family, result.params))
        # A trial stopped at its deadline says nothing of the rounds a configuration needs:
        # counted, each holdout trial cut short would shorten the next one's estimate, and
        # the search would run ever-shorter trials of a few rounds to the end of the budget.
        if result.family == "lightgbm" and result.n_rounds > 0 and not result.stopped:
            p = result.params
            rounds_run = max(len(result.models), 1) * (result.n_rounds + EARLY_STOPPING_ROUNDS)
            self.boosting.append((result.seconds / rounds_run / _leaf_factor(p) / width,
                                  result.n_rounds * p.get("learning_rate", DEFAULT_LEARNING_RATE)))

    def estimate(self, params: dict, nas_seconds: float) -> float:
        """Seconds the trial of ``params`` (with its ``"view"``, the raw view by default) is
        expected to take."""
        family = params.get("model", "lightgbm")
        width = self._width_factor(params.get("view", "raw"), family)
        if family == "nas_head":  # its own search takes the seconds it is given in each fold
            return nas_seconds * self.n_folds
        if family == "lightgbm":
            if not self.boosting:
                return self.cost.trial_seconds * width
            recent = np.asarray(self.boosting[-5:])
            rounds = np.median(recent[:, 1]) / params.get("learning_rate", DEFAULT_LEARNING_RATE)
            rounds = min(max(rounds, 1.0), MAX_ROUNDS) + EARLY_STOPPING_ROUNDS
            return float(np.median(recent[:, 0]) * _leaf_factor(params) * rounds * self.n_folds * width)
        relative = self._relative_cost(family, params)
        default = self._per_fold(family, family_config(family) if family in FAMILY_SPACES else params)
        return width * relative * predicted_seconds(self.durations.get(family, []), default * self.n_folds)

    def _relative_cost(self, family: str, params: dict) -> float:
        """A configuration's cost over its family's known-good one (1 outside
        :data:`FAMILY_SPACES`): a family's measured seconds are recorded per known-good
        configuration, so a trial of its own search is estimated from them."""
        if family not in FAMILY_SPACES:
            return 1.0
        known_good = self._per_fold(family, family_config(family))
        return self._per_fold(family, params) / known_good if known_good > 0 else 1.0

    def _per_fold(self, family: str, params: dict) -> float:
        """A fold's seconds for a configuration of a family other than LightGBM, from the
        baseline's cost per tree."""
        if family == "extra_trees":
            # Each split tries max_features of the columns.
            per_fold = self.cost.tree_seconds * TREES_PER_EXTRA_TREE * params.get("n_estimators", 300) * (
                params.get("max_features", 0.5) / 0.5)
        elif family == "hist_gb":
            # It stops early about where LightGBM's defaults did, at the same learning rate.
            iterations = min(params.get("max_iter", 500), self.cost.n_rounds * DEFAULT_LEARNING_RATE
                             / params.get("learning_rate", DEFAULT_LEARNING_RATE) + HIST_GB_PATIENCE)
            per_fold = self.cost.tree_seconds * TREES_PER_HIST_GB_ITERATION * iterations * self.cost.trees_per_round
        elif family == "catboost":
            iterations = min(params.get("iterations", 1000), CATBOOST_ROUNDS_PER_LGBM_ROUND * self.cost.n_rounds
                             * DEFAULT_LEARNING_RATE / params.get("learning_rate", DEFAULT_LEARNING_RATE)
                             + CATBOOST_PATIENCE)
            # A symmetric tree's levels each take a pass over the rows.
            per_fold = (self.cost.tree_seconds * TREES_PER_CATBOOST_ITERATION * iterations
                        * self.cost.trees_per_round * params.get("depth", 6) / 6)
        else:
            per_fold = self.cost.tree_seconds * ROUNDS_PER_LINEAR_FIT * self.cost.trees_per_round
        return per_fold


def predicted_seconds(durations, default: float) -> float:
    """The next trial's duration from the last few of its family (their median), or
    ``default`` when the family has not run yet."""
    recent = [d for d in list(durations)[-5:] if math.isfinite(d)]
    return float(np.median(recent)) if recent else float(default)
