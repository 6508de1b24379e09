import numpy as np
import pytest

from featsmith.tuners import AnnealTuner, EvolutionTuner, RandomTuner, hp

SPACE = {
    "x": hp.uniform(-5, 5),
    "k": hp.randint(0, 20),
    "opt": hp.choice(hp.nested("sgd", m=hp.uniform(0, 1)), "adam"),
}


def objective(p):
    penalty = 0.0 if p["opt"] == "adam" else 1.0 + abs(p["opt"]["m"] - 0.9)
    return (p["x"] - 2.0) ** 2 + abs(p["k"] - 7) / 5 + penalty


def best_of(tuner, n=120):
    best = np.inf
    for _ in range(n):
        trial = tuner.ask()
        value = objective(trial.params)
        tuner.tell(trial, value)
        best = min(best, value)
    return best


@pytest.mark.parametrize("cls, kwargs", [(AnnealTuner, {}), (EvolutionTuner, {"population_size": 10, "sample_size": 3})])
def test_local_search_beats_random(cls, kwargs):
    ours = [best_of(cls(SPACE, random_state=s, **kwargs)) for s in range(4)]
    rnd = [best_of(RandomTuner(SPACE, random_state=s)) for s in range(4)]
    assert np.median(ours) < 0.5 * np.median(rnd)


def test_evolution_population_ages_out_the_oldest():
    tuner = EvolutionTuner({"x": hp.uniform(0, 1)}, random_state=0, population_size=4, sample_size=2)
    told = []
    for i in range(10):
        trial = tuner.ask()
        tuner.tell(trial, -1000.0 if i == 0 else trial.params["x"])  # trial 0 is the best ever
        told.append(trial.vector)
    assert len(tuner.population_) == 4
    assert all(v[1] > -1000 for v in tuner.population_)  # the best one aged out anyway
    np.testing.assert_array_equal(tuner.population_[-1][0], told[-1])


def test_evolution_children_differ_from_parents_in_one_parameter():
    space = {"a": hp.choice("p", "q", "r"), "b": hp.randint(0, 100), "c": hp.uniform(0, 1)}
    tuner = EvolutionTuner(space, random_state=1, population_size=5, sample_size=5)
    for _ in range(5):
        trial = tuner.ask()
        tuner.tell(trial, trial.params["c"])
    parent = min(tuner.population_, key=lambda m: m[1])[0]
    for _ in range(10):
        child = tuner.space.snap(tuner.ask().vector)[0]
        assert (tuner.space.snap(parent)[0] != child).sum() == 1


def test_mode_max_and_bad_options():
    tuner = AnnealTuner({"x": hp.uniform(0, 1)}, mode="max", random_state=0)
    for _ in range(30):
        t = tuner.ask()
        tuner.tell(t, t.params["x"])
    assert tuner.best_value > 0.95
    with pytest.raises(ValueError, match="sample_size"):
        EvolutionTuner({"x": hp.uniform(0, 1)}, population_size=3, sample_size=4)
    with pytest.raises(ValueError, match="mutation_scale"):
        EvolutionTuner({"x": hp.uniform(0, 1)}, mutation_scale=0)
    with pytest.raises(ValueError, match="avg_best_idx"):
        AnnealTuner({"x": hp.uniform(0, 1)}, avg_best_idx=0)
