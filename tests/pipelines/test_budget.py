"""The budget planner: named shares, costs measured on the baseline, time handed on."""

import time

import numpy as np
import pytest

from featsmith.pipelines._budget import MAX_CANDIDATES, MIN_CANDIDATES, Budget, TrialCost, predicted_seconds
from featsmith.pipelines._trials import TrialResult


def _trial(seconds, n_models, family="lightgbm"):
    return TrialResult({}, 0.8, 100, seconds, "ok", models=[object()] * n_models, family=family)


def test_clock_and_named_shares():
    budget = Budget(60.0, start=100.0)
    assert budget.end == 160.0
    assert budget.baseline_deadline() == pytest.approx(100.0 + 0.3 * 60)
    assert budget.baseline_folds_budget() == pytest.approx(12.0)
    assert budget.hard_end == pytest.approx(160.0 + 3.0)
    assert Budget(10.0, start=0.0).hard_end == pytest.approx(12.0)  # 2 s at least
    assert Budget(60.0, start=0.0, shares={"baseline": 0.5}).baseline_deadline() == pytest.approx(30.0)
    assert budget.nas_seconds(5) == pytest.approx(0.2 * 60 / 5)


def test_refit_cost_grows_with_the_rows_a_refit_sees():
    cost = TrialCost(trial_seconds=5.0, n_folds=5, n_rows=1000, n_train=800.0, n_rounds=100)
    assert cost.fold_seconds == pytest.approx(1.0)
    # A fold ran its 100 best rounds and 50 more for early stopping; the refit runs 125 rounds
    # on 1.25x the rows. Other families grow with the rows only.
    assert cost.refit_seconds(_trial(5.0, 5)) == pytest.approx(1.25 * 125 / 150)
    assert cost.refit_seconds(_trial(5.0, 5, family="extra_trees")) == pytest.approx(1.25)
    assert cost.refit_seconds(cost.as_trial()) == pytest.approx(1.25 * 125 / 150)
    # Forward-chaining folds of 100 .. 500 rows: a mean fold's second saw 300 rows, while the
    # rounds scale from the latest fold's 500.
    forward = TrialCost(trial_seconds=5.0, n_folds=5, n_rows=600, n_train=500.0, n_rounds=100, mean_train=300.0)
    assert forward.refit_seconds(_trial(5.0, 5, family="extra_trees")) == pytest.approx(2.0)
    assert forward.refit_seconds(_trial(5.0, 5)) == pytest.approx(2.0 * 120 / 150)
    assert forward.selection_seconds(600) == pytest.approx(3 * 2.0)


def test_search_deadline_keeps_the_refit_reserve_and_does_not_move_with_earlier_stages():
    budget = Budget(60.0)
    budget.measured(TrialCost(trial_seconds=2.0, n_folds=5, n_rows=1000, n_train=800.0))
    cheap, dear = _trial(1.0, 5), _trial(20.0, 5)
    assert budget.search_deadline(dear) < budget.search_deadline(cheap) < budget.end
    # Deadlines are absolute: a stage that finishes early leaves its time to the next one.
    first = budget.search_deadline(cheap)
    time.sleep(0.05)
    assert budget.search_deadline(cheap) == first


def test_features_plan_follows_the_measured_cost_and_the_rows():
    cheap = Budget(60.0)
    cheap.measured(TrialCost(trial_seconds=0.5, n_folds=5, n_rows=2_000, n_train=1_600.0))
    n_small, why = cheap.features_plan(2_000, 2_000)
    assert n_small == MAX_CANDIDATES and "candidates" in why
    big = Budget(60.0)
    big.measured(TrialCost(trial_seconds=3.0, n_folds=1, n_rows=200_000, n_train=160_000.0))
    n_big, _ = big.features_plan(200_000, 40_000)
    assert MIN_CANDIDATES <= n_big < n_small  # more rows per candidate: fewer candidates
    dear = Budget(60.0)
    dear.measured(TrialCost(trial_seconds=25.0, n_folds=5, n_rows=50_000, n_train=40_000.0))
    n, why = dear.features_plan(50_000, 50_000)
    assert n == 0 and "skipped" in why and "25.0s" in why


def test_features_plan_counts_the_classes_a_multiclass_screen_scores():
    def plan(trees_per_round):
        budget = Budget(300.0)
        budget.measured(TrialCost(trial_seconds=50.0, n_folds=5, n_rows=20_000, n_train=16_000.0,
                                  trees_per_round=trees_per_round))
        return budget.features_plan(20_000, 20_000)

    one, _ = plan(1)
    seven, _ = plan(7)
    assert one < MAX_CANDIDATES and MIN_CANDIDATES <= seven <= one / 6
    thirty, why = plan(30)
    assert thirty == 0 and "30 classes" in why


def test_predicted_seconds_is_the_median_of_recent_trials():
    assert predicted_seconds([1.0, 9.0, 2.0], default=5.0) == 2.0
    assert predicted_seconds([], default=5.0) == 5.0
    assert predicted_seconds([100.0] + [1.0] * 5, default=5.0) == 1.0  # only the last five
    assert np.isfinite(predicted_seconds([np.inf, 1.0], default=5.0))


def test_the_refit_is_reserved_for_only_while_it_may_fit():
    budget = Budget(60.0)
    budget.measured(TrialCost(trial_seconds=2.0, n_folds=1, n_rows=1000, n_train=800.0, n_rounds=100))
    small, huge = _trial(2.0, 1), _trial(500.0, 1)
    assert budget.refit_reserve(small) == pytest.approx(budget.cost.refit_seconds(small) + 0.8)
    # A refit that cannot finish before the hard end is not waited for: the margin alone.
    assert budget.refit_reserve(huge) == pytest.approx(0.8)
    # A LightGBM refit is tried a little past what is left (it stops at the hard end); others not.
    left = budget.hard_end - budget.now()
    assert budget.refit_may_fit(1.2 * left) and not budget.refit_may_fit(1.2 * left, stoppable=False)


def test_a_holdout_trial_stops_early_enough_for_its_own_refit():
    budget = Budget(60.0)
    budget.measured(TrialCost(trial_seconds=10.0, n_folds=1, n_rows=1000, n_train=800.0, n_rounds=100))
    now = budget.now()
    capped = budget.holdout_trial_deadline(budget.end)
    # The trial's time T and its refit's (about 1.25**2 T) share what is left.
    left = budget.end - 0.6 - now
    assert capped == pytest.approx(now + left / (1 + 1.25**2), abs=0.05)
    assert budget.holdout_trial_deadline(now + 1.0) == pytest.approx(now + 1.0)  # never later than asked
