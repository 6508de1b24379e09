import math

import numpy as np
import pytest

from featsmith.tuners import BOHBTuner, HyperbandTuner, MedianStopAssessor, hp

SPACE = {"x": hp.uniform(0, 1), "y": hp.uniform(0, 1)}


def curve(p, budget):
    # converges to the true loss as the budget grows; the ranking is mostly kept
    return (p["x"] - 0.3) ** 2 + (p["y"] - 0.6) ** 2 + 1.0 / budget


def test_hyperband_bracket_schedule_sequential():
    tuner = HyperbandTuner(SPACE, max_budget=9, min_budget=1, eta=3, random_state=0)
    assert tuner.s_max == 2
    seen = []
    for _ in range(9 + 3 + 1 + 5 + 1 + 3):
        t = tuner.ask()
        seen.append((t.info["bracket"], t.budget))
        tuner.tell(t, curve(t.params, t.budget))
    expected = [(0, 1)] * 9 + [(0, 3)] * 3 + [(0, 9)] + [(1, 3)] * 5 + [(1, 9)] + [(2, 9)] * 3
    assert seen == expected


def test_hyperband_promotes_the_best_of_a_rung():
    tuner = HyperbandTuner(SPACE, max_budget=9, random_state=1)
    rung0 = [tuner.ask() for _ in range(9)]
    losses = {t.id: curve(t.params, t.budget) for t in rung0}
    for t in rung0:
        tuner.tell(t, losses[t.id])
    promoted = [tuner.ask() for _ in range(3)]
    best3 = sorted(rung0, key=lambda t: losses[t.id])[:3]
    assert sorted(str(t.params) for t in promoted) == sorted(str(t.params) for t in best3)
    assert all(t.budget == 3 for t in promoted)


def test_hyperband_opens_brackets_instead_of_waiting():
    tuner = HyperbandTuner(SPACE, max_budget=9, random_state=0)
    asked = [tuner.ask() for _ in range(12)]  # nothing told: rung 0 of bracket 0 is 9 trials
    assert [t.info["bracket"] for t in asked] == [0] * 9 + [1] * 3
    assert len({t.id for t in asked}) == 12


def test_failed_trials_are_not_promoted():
    tuner = HyperbandTuner(SPACE, max_budget=9, random_state=0)
    rung0 = [tuner.ask() for _ in range(9)]
    for i, t in enumerate(rung0):
        tuner.tell(t, None if i < 6 else float(i))
    promoted = {str(tuner.ask().params) for _ in range(3)}
    assert promoted == {str(t.params) for t in rung0[6:]}


def test_float_budgets_and_validation():
    tuner = HyperbandTuner(SPACE, max_budget=1.0, min_budget=0.1, eta=3, random_state=0)
    assert tuner.ask().budget == pytest.approx(1 / 9)
    with pytest.raises(ValueError, match="min_budget < max_budget"):
        HyperbandTuner(SPACE, max_budget=1, min_budget=2)
    with pytest.raises(ValueError, match="eta"):
        HyperbandTuner(SPACE, eta=1)


def test_bohb_models_the_largest_ready_budget_and_improves_on_hyperband():
    def run(cls, seed):
        tuner = cls(SPACE, max_budget=9, random_state=seed)
        best = math.inf
        for _ in range(120):
            t = tuner.ask()
            value = curve(t.params, t.budget)
            tuner.tell(t, value)
            if t.budget == 9:
                best = min(best, value)
        return best, tuner

    bohb = [run(BOHBTuner, s)[0] for s in range(4)]
    hb = [run(HyperbandTuner, s)[0] for s in range(4)]
    assert np.median(bohb) < np.median(hb)
    tuner = run(BOHBTuner, 0)[1]
    assert set(tuner.observations_) == {1, 3, 9}


def test_median_stop_rule():
    a = MedianStopAssessor(start_step=2, min_completed=3, mode="min")
    assert not a.should_stop([9.0, 9.0, 9.0])  # nothing completed yet
    for offset in (0.0, 0.1, 0.2):
        a.trial_completed([1.0 + offset, 0.8 + offset, 0.6 + offset])
    assert not a.should_stop([5.0])  # before start_step
    assert a.should_stop([5.0, 4.0])  # worse than the median running average (0.95)
    assert not a.should_stop([1.0, 0.7])
    assert not a.should_stop([5.0, 5.0, 5.0, 5.0])  # no completed trial reported 4 times
    amax = MedianStopAssessor(start_step=1, min_completed=1, mode="max")
    amax.trial_completed([0.5, 0.6])
    assert amax.should_stop([0.1]) and not amax.should_stop([0.7])
