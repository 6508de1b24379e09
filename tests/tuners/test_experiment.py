import math
import time

import numpy as np
import pytest

from featsmith.tuners import (
    Experiment, HyperbandTuner, MedianStopAssessor, RandomTuner, TPETuner, TrialPruned, hp,
)

SPACE = {"x": hp.uniform(-5, 5), "n": hp.randint(1, 10)}


def quad(p):
    return (p["x"] - 1.0) ** 2 + 0.1 * p["n"]


def test_inline_run_dataframe_best_and_reproducible():
    big = np.arange(1_000_000.0)  # closures over large data: nothing is pickled inline
    calls = []

    def objective(p):
        calls.append(p)
        return quad(p) + big[0]

    exp = Experiment(objective, SPACE, max_trials=25, random_state=0)
    df = exp.run()
    assert len(df) == 25 == len(calls)
    assert list(df["trial_id"]) == list(range(25))
    assert set(df["status"]) == {"complete"}
    assert {"value", "budget", "start", "end", "duration", "error", "params.x", "params.n"} <= set(df.columns)
    assert exp.best_value == pytest.approx(df["value"].min())
    assert exp.best_params == df.loc[df["value"].idxmin(), "params"]
    assert exp.best_trial.status == "complete"
    again = Experiment(quad, SPACE, max_trials=25, random_state=0).run()
    assert list(again["params.x"]) == list(df["params.x"])
    assert isinstance(exp.tuner_, TPETuner)


def test_failures_are_recorded_and_the_experiment_goes_on():
    def objective(p):
        if p["n"] == 1:
            raise RuntimeError("boom")
        if p["n"] == 2:
            return float("nan")
        if p["n"] == 3:
            return None
        if p["n"] == 4:
            return float("inf")
        return quad(p)

    exp = Experiment(objective, SPACE, tuner="random", max_trials=40, random_state=1)
    df = exp.run()
    assert len(df) == 40
    failed = df[df["status"] == "failed"]
    assert set(failed["params.n"]) == {1, 2, 3, 4}
    assert failed["error"].str.contains("RuntimeError: boom").any()
    assert failed["error"].str.contains("non-finite").any()
    assert failed["error"].str.contains("returned None").any()
    assert failed["value"].isna().all()
    assert exp.best_params["n"] >= 5


def test_inline_trial_timeout_and_time_budget():
    def objective(p):
        if p["n"] < 5:
            time.sleep(5)  # a hang, interrupted by the in-process alarm
        return quad(p)

    exp = Experiment(objective, SPACE, tuner="random", max_trials=6, trial_timeout=0.3, random_state=2)
    t0 = time.monotonic()
    df = exp.run()
    assert time.monotonic() - t0 < 6 * 0.3 + 2
    slow = df[df["params.n"] < 5]
    assert len(slow) and (slow["status"] == "failed").all()
    assert slow["error"].str.contains("timed out").all()

    def sleepy(p):
        time.sleep(0.05)
        return quad(p)

    exp = Experiment(sleepy, SPACE, time_budget=0.6, random_state=0)
    t0 = time.monotonic()
    df = exp.run()
    elapsed = time.monotonic() - t0
    assert 0.55 <= elapsed < 1.5 and 3 <= len(df) <= 13


def test_initial_configs_and_enqueue_run_first():
    first = [{"x": 1.0, "n": 1}, {"x": -2.0, "n": 9}]
    exp = Experiment(quad, SPACE, max_trials=5, initial_configs=first[:1], random_state=0)
    exp.enqueue(first[1])
    df = exp.run()
    assert df["params"].iloc[0] == first[0] and df["params"].iloc[1] == first[1]
    assert exp.tuner_.n_told == 5


def test_enqueue_first_goes_before_the_queued_configs():
    queued = [{"x": 1.0, "n": 1}, {"x": -2.0, "n": 9}, {"x": 0.5, "n": 2}]
    exp = Experiment(quad, SPACE, initial_configs=queued[:2], random_state=0)
    asked = exp.ask()
    assert asked.params == queued[0]
    exp.enqueue(queued[2], first=True)  # after the setup: before the second initial config
    exp.tell(asked, quad(asked.params))
    order = []
    for _ in range(2):
        trial = exp.ask()
        order.append(trial.params)
        exp.tell(trial, quad(trial.params))
    assert order == [queued[2], queued[1]]
    exp.close()


def test_partial_and_outside_configs_run_as_given_without_modelling():
    seen = []

    def objective(p):
        seen.append(dict(p))
        return quad({"x": p.get("x", 0.0), "n": p.get("n", 3)})

    exp = Experiment(objective, SPACE, max_trials=6, random_state=0,
                     initial_configs=[{}, {"x": 100.0, "n": 1}, {"x": 0.5, "n": 2}])
    df = exp.run()
    assert seen[:3] == [{}, {"x": 100.0, "n": 1}, {"x": 0.5, "n": 2}]
    assert (df["status"] == "complete").all() and list(df["trial_id"]) == list(range(6))
    assert exp.tuner_.n_told == 4  # the two hand-made configs outside the space are not modelled
    with pytest.raises(TypeError, match="dict"):
        exp.enqueue([1, 2])


def test_reporter_feeds_the_median_stop_assessor():
    def objective(p, reporter):
        final = quad(p)
        for step in range(1, 6):
            reporter.report(step, final + 5.0 / step)
        return final

    exp = Experiment(objective, SPACE, tuner="random", max_trials=30, random_state=0,
                     assessor=MedianStopAssessor(start_step=2, min_completed=3))
    df = exp.run()
    pruned = df[df["status"] == "pruned"]
    assert len(pruned) >= 5
    assert (pruned["n_intermediate"] < 5).all() and pruned["value"].notna().all()
    # the pruned ones are the bad ones
    assert pruned["value"].median() > df[df["status"] == "complete"]["value"].median()


def test_objective_may_raise_trial_pruned_itself():
    def objective(p, reporter):
        reporter.report(0, 3.0)
        raise TrialPruned("not worth it")

    df = Experiment(objective, SPACE, max_trials=2, random_state=0).run()
    assert list(df["status"]) == ["pruned", "pruned"] and list(df["value"]) == [3.0, 3.0]


def test_multi_fidelity_budget_reaches_the_objective():
    budgets = []

    def with_reporter(p, reporter):
        budgets.append(reporter.budget)
        return quad(p) + 1.0 / reporter.budget

    tuner = HyperbandTuner(SPACE, max_budget=9, random_state=0)
    exp = Experiment(with_reporter, SPACE, tuner=tuner, max_trials=20)
    df = exp.run()
    assert set(budgets) == {1, 3, 9} and list(df["budget"]) == budgets
    assert exp.best_trial.budget == 9

    def one_arg(p):
        return quad(p) + 1.0 / p["TRIAL_BUDGET"]

    df = Experiment(one_arg, SPACE, tuner="bohb", tuner_options={"max_budget": 9}, max_trials=10,
                    random_state=0).run()
    assert (df["status"] == "complete").all() and "params.TRIAL_BUDGET" not in df


@pytest.mark.parametrize(
    "kwargs, err, match",
    [
        ({}, ValueError, "max_trials and/or time_budget"),
        ({"max_trials": 0}, ValueError, "max_trials"),
        ({"max_trials": 3, "n_jobs": 0}, ValueError, "n_jobs"),
        ({"max_trials": 3, "trial_timeout": -1}, ValueError, "trial_timeout"),
        ({"max_trials": 3, "mode": "down"}, ValueError, "mode"),
        ({"max_trials": 3, "tuner": "smac"}, ValueError, "tuner must be"),
        ({"max_trials": 3, "tuner": RandomTuner(SPACE, mode="max")}, ValueError, "mode"),
        ({"max_trials": 3, "resume": True}, ValueError, "storage"),
    ],
)
def test_bad_arguments(kwargs, err, match):
    with pytest.raises(err, match=match):
        Experiment(quad, SPACE, **kwargs).run()


def test_grid_tuner_ends_the_experiment_when_exhausted():
    exp = Experiment(lambda p: p["a"], {"a": hp.choice(1, 2, 3)}, tuner="grid")
    df = exp.run()
    assert sorted(df["params.a"]) == [1, 2, 3] and exp.best_value == 1


def test_max_mode_best():
    exp = Experiment(lambda p: -quad(p), SPACE, mode="max", max_trials=20, random_state=0)
    exp.run()
    assert exp.best_value == max(t.value for t in exp.trials_)
    assert math.isfinite(exp.best_value)
