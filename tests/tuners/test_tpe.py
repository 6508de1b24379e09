import math

import numpy as np
import pytest

from featsmith.tuners import RandomTuner, SearchSpace, TPETuner, Trial, hp

QUAD = {"x": hp.uniform(-5, 5), "y": hp.loguniform(1e-3, 10.0)}


def quad(p):
    return (p["x"] - 1.3) ** 2 + (math.log10(p["y"]) - 0.0) ** 2


COND = {
    "model": hp.choice(
        hp.nested("linear", c=hp.loguniform(1e-3, 1e3)),
        hp.nested("mlp", width=hp.randint(1, 129), act=hp.choice("relu", "tanh", "sigmoid")),
    ),
    "lr": hp.qloguniform(1e-3, 1.0, 1e-3),
}


def cond_objective(p):
    m = p["model"]
    base = abs(math.log10(p["lr"]) + 2)
    if m["_name"] == "linear":
        return 3.0 + base + abs(math.log10(m["c"]))
    return base + abs(m["width"] - 40) / 20 + {"relu": 0.0, "tanh": 0.5, "sigmoid": 1.0}[m["act"]]


def optimise(tuner, objective, n):
    values = []
    for _ in range(n):
        trial = tuner.ask()
        value = objective(trial.params)
        tuner.tell(trial, value)
        values.append(value)
    return np.array(values)


def test_tpe_beats_random_on_a_smooth_function():
    tpe = [optimise(TPETuner(QUAD, random_state=s), quad, 60).min() for s in range(5)]
    rnd = [optimise(RandomTuner(QUAD, random_state=s), quad, 60).min() for s in range(5)]
    assert np.median(tpe) < 0.3 * np.median(rnd)
    assert np.median(tpe) < 0.02


@pytest.mark.parametrize("multivariate", [True, False])
def test_tpe_learns_conditional_and_categorical_structure(multivariate):
    tuner = TPETuner(COND, random_state=0, multivariate=multivariate)
    values = optimise(tuner, cond_objective, 80)
    late = [tuner.space.decode(v) for v in tuner._history.X[-30:]]
    share_mlp = np.mean([p["model"]["_name"] == "mlp" for p in late])
    assert share_mlp > 0.7
    assert values.min() < 0.6
    assert tuner.best_params["model"]["_name"] == "mlp"


def test_max_mode_and_failed_values():
    tuner = TPETuner(QUAD, mode="max", random_state=1, n_startup_trials=5)
    best = -np.inf
    for i in range(40):
        trial = tuner.ask()
        if i % 7 == 3:
            tuner.tell(trial, [None, float("nan"), float("inf")][i % 3])
            continue
        value = -quad(trial.params)
        best = max(best, value)
        tuner.tell(trial, value)
    assert best > -0.3
    assert tuner.n_told == 40 and tuner._history.n == 40
    assert np.isinf(tuner._history.y).sum() == 6  # failures kept as the worst observations


def test_same_seed_same_sequence_and_increasing_ids():
    a = TPETuner(COND, random_state=3, n_startup_trials=3)
    b = TPETuner(COND, random_state=3, n_startup_trials=3)
    ids = []
    for _ in range(15):
        ta, tb = a.ask(), b.ask()
        assert ta.params == tb.params and ta.budget is None
        ids.append(ta.id)
        a.tell(ta, cond_objective(ta.params))
        b.tell(tb, cond_objective(tb.params))
    assert ids == list(range(15))


def test_constant_liar_spreads_parallel_asks():
    space = {"x": hp.uniform(0, 1)}
    tuner = TPETuner(space, random_state=0, n_startup_trials=5)
    optimise(tuner, lambda p: (p["x"] - 0.5) ** 2, 20)
    batch = [tuner.ask() for _ in range(8)]
    xs = np.sort([t.params["x"] for t in batch])
    assert len(np.unique(np.round(xs, 6))) == 8
    liar_free = TPETuner(space, random_state=0, n_startup_trials=5, constant_liar=False)
    optimise(liar_free, lambda p: (p["x"] - 0.5) ** 2, 20)
    # without the liar every pending ask sees the same model; with it they are pushed apart
    spread_liar = np.ptp(xs)
    spread_plain = np.ptp([liar_free.ask().params["x"] for _ in range(8)])
    assert spread_liar >= spread_plain * 0.5
    for t in batch:
        tuner.tell(t, (t.params["x"] - 0.5) ** 2)
    assert not tuner._pending


def test_tell_foreign_trial_and_enqueue():
    tuner = TPETuner(COND, random_state=0)
    foreign = Trial(id=41, params={"model": {"_name": "mlp", "width": 40, "act": "relu"}, "lr": 0.01})
    tuner.tell(foreign, 0.0)
    assert tuner.ask().id == 42
    tuner.enqueue({"model": {"_name": "linear", "c": 1.0}, "lr": 0.1})
    trial = tuner.ask()
    assert trial.params["model"] == {"_name": "linear", "c": pytest.approx(1.0)}
    with pytest.raises(ValueError, match="not one of the options"):
        tuner.enqueue({"model": "svm", "lr": 0.1})


def test_history_grows_in_place():
    tuner = TPETuner({"x": hp.uniform(0, 1)}, random_state=0)
    optimise(tuner, lambda p: p["x"], 70)
    assert tuner._history.n == 70 and tuner._history._X.shape[0] == 128


@pytest.mark.parametrize(
    "kwargs, match",
    [({"mode": "minimize"}, "mode"), ({"n_startup_trials": -1}, "n_startup_trials"),
     ({"n_ei_candidates": 0}, "n_ei_candidates"), ({"bandwidth": "silverman"}, "bandwidth"),
     ({"prior_weight": 0}, "prior_weight"), ({"bandwidth_floor": "x"}, "bandwidth_floor")],
)
def test_bad_options(kwargs, match):
    with pytest.raises(ValueError, match=match):
        TPETuner(QUAD, **kwargs)


def test_tell_rejects_non_numbers():
    tuner = TPETuner(QUAD)
    with pytest.raises(TypeError, match="value must be a number"):
        tuner.tell(tuner.ask(), "good")


def test_all_quantised_space():
    space = SearchSpace({"a": hp.randint(0, 5), "b": hp.quniform(0, 10, 5), "c": hp.qnormal(0, 3, 1)})
    tuner = TPETuner(space, random_state=0, n_startup_trials=4)
    values = optimise(tuner, lambda p: abs(p["a"] - 3) + abs(p["b"] - 5) + abs(p["c"] - 1), 40)
    assert values.min() == 0


def test_kernel_cache_gives_the_same_proposals_as_a_fresh_fit():
    from featsmith.tuners._tpe import sample_tpe

    space = SearchSpace({**COND, "k": hp.randint(0, 7), "q": hp.quniform(0, 1, 0.25)})
    rng = np.random.default_rng(0)
    X = space.sample_vectors(60, rng)
    y = rng.random(60)
    caches = {}
    for n in (30, 45, 60):  # growing history, as between asks
        cached = sample_tpe(space, X[:n], y[:n], np.random.default_rng(n), caches=caches)
        fresh = sample_tpe(space, X[:n], y[:n], np.random.default_rng(n))
        np.testing.assert_allclose(cached, fresh)
    assert caches


@pytest.mark.parametrize("floor", ["trials", "kernels"])
def test_bandwidth_floor_options_both_optimise(floor):
    values = optimise(TPETuner(QUAD, random_state=0, bandwidth_floor=floor), quad, 50)
    assert values.min() < 0.1
