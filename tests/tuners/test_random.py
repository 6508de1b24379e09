import numpy as np
import pytest

from featsmith.tuners import GridTuner, RandomTuner, SpaceExhausted, hp

NESTED = {
    "a": hp.choice(hp.nested("x", k=hp.randint(0, 3)), hp.nested("y", m=hp.choice("p", "q")), "z"),
    "b": hp.quniform(0, 1, 0.5),
}


def test_random_tuner_reproducible_and_in_space():
    a = RandomTuner(NESTED, random_state=5)
    b = RandomTuner(NESTED, random_state=np.random.default_rng(5))
    pa = [a.ask().params for _ in range(20)]
    assert pa == [b.ask().params for _ in range(20)]
    assert all(p["b"] in (0.0, 0.5, 1.0) for p in pa)
    assert len({str(p) for p in pa}) > 5


def test_grid_enumerates_conditional_space_once():
    tuner = GridTuner(NESTED, random_state=0)
    # a: x with k in 3 values, y with m in 2, z -> 6 options; b: 3 values
    assert tuner.n_grid == 18
    seen = []
    while True:
        try:
            trial = tuner.ask()
        except SpaceExhausted:
            break
        seen.append(str(trial.params))
        tuner.tell(trial, 0.0)
    assert len(seen) == 18 == len(set(seen))


def test_grid_continuous_needs_n_points():
    with pytest.raises(ValueError, match="'u' is continuous"):
        GridTuner({"u": hp.uniform(0, 1)})
    tuner = GridTuner({"u": hp.uniform(0, 1), "l": hp.loguniform(1, 100)}, n_points=3, shuffle=False)
    params = [tuner.ask().params for _ in range(9)]
    assert sorted({p["u"] for p in params}) == pytest.approx([1 / 6, 0.5, 5 / 6])
    assert sorted({p["l"] for p in params})[1] == pytest.approx(10.0)


def test_grid_skips_points_told_before():
    from featsmith.tuners import Trial

    tuner = GridTuner(NESTED, random_state=0)
    tuner.tell(Trial(id=0, params={"a": "z", "b": 0.5}), 1.0)
    tuner.tell(Trial(id=1, params={"a": {"_name": "x", "k": 2}, "b": 0.0}), 1.0)
    rest = []
    while True:
        try:
            rest.append(tuner.ask().params)
        except SpaceExhausted:
            break
    assert len(rest) == 16
    assert {"a": "z", "b": 0.5} not in rest and {"a": {"_name": "x", "k": 2}, "b": 0.0} not in rest
