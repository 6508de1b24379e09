import json

import numpy as np
import pytest

from featsmith.tuners import SearchSpace, hp, parse_space

NESTED = {
    "lr": hp.loguniform(1e-3, 1.0),
    "model": hp.choice(
        hp.nested("linear", l2=hp.uniform(0, 1)),
        hp.nested("mlp", width=hp.randint(8, 65), act=hp.choice("relu", "tanh"),
                  drop=hp.choice(hp.nested("no"), hp.nested("yes", p=hp.quniform(0.1, 0.5, 0.1)))),
        "tree",
    ),
}

ALL_TYPES = {
    "c": hp.choice("a", 2, True, None),
    "ri": hp.randint(-3, 4),
    "u": hp.uniform(-2, 3),
    "qu": hp.quniform(1, 10, 2),
    "lu": hp.loguniform(1e-4, 10),
    "qlu": hp.qloguniform(1, 1000, 5),
    "n": hp.normal(3, 2),
    "qn": hp.qnormal(0, 4, 0.5),
    "ln": hp.lognormal(0, 1),
    "qln": hp.qlognormal(2, 0.5, 1),
}


def test_builder_matches_nni_dicts():
    assert hp.loguniform(1e-3, 1) == {"_type": "loguniform", "_value": [1e-3, 1]}
    assert hp.choice([1, 2]) == hp.choice(1, 2) == {"_type": "choice", "_value": [1, 2]}
    assert parse_space(NESTED) == SearchSpace(json.dumps(NESTED))


def test_flat_names_groups_and_nested_params():
    space = SearchSpace(NESTED)
    assert space.names == ["lr", "model", "model/linear/l2", "model/mlp/width", "model/mlp/act",
                           "model/mlp/drop", "model/mlp/drop/yes/p"]
    rng = np.random.default_rng(0)
    seen = set()
    for _ in range(200):
        params = space.decode(space.sample_vectors(1, rng)[0])
        model = params["model"]
        if model == "tree":
            seen.add("tree")
        else:
            assert isinstance(model, dict)
            seen.add(model["_name"])
            if model["_name"] == "mlp":
                assert set(model) == {"_name", "width", "act", "drop"}
                assert 8 <= model["width"] < 65 and isinstance(model["width"], int)
                if isinstance(model["drop"], dict):
                    assert model["drop"]["_name"] == "yes"
                    assert model["drop"]["p"] in {0.1, 0.2, 0.3, 0.4, 0.5} or np.isclose(
                        model["drop"]["p"] * 10, round(model["drop"]["p"] * 10))
                else:
                    assert model["drop"] == "no"
            else:
                assert set(model) == {"_name", "l2"}
        v = space.encode(params)
        assert np.array_equal(np.isnan(v), np.isnan(space.snap(v)[0]))
    assert seen == {"linear", "mlp", "tree"}


def test_sampling_semantics_of_every_type():
    space = SearchSpace(ALL_TYPES)
    rng = np.random.default_rng(1)
    samples = [space.decode(v) for v in space.sample_vectors(2000, rng)]
    col = {k: np.array([s[k] for s in samples if not isinstance(s[k], (str, bool, type(None)))],
                       dtype=float) for k in ALL_TYPES}
    assert {type(s["c"]) for s in samples} == {str, int, bool, type(None)}
    assert set(col["ri"]) == set(range(-3, 4))  # upper bound exclusive, as NNI
    assert all(isinstance(s["ri"], int) and isinstance(s["qu"], int) for s in samples)
    assert col["u"].min() >= -2 and col["u"].max() <= 3
    assert set(col["qu"]) == {2, 4, 6, 8, 10}  # round(U(1, 10) / 2) * 2 never gives 0 -> 1
    assert SearchSpace({"qu": ALL_TYPES["qu"]}).params[0].grid(None).size == 5
    assert np.all((col["qlu"] >= 1) & (col["qlu"] <= 1000))
    # log-uniform: the median is the geometric mean of the bounds
    assert abs(np.log10(np.median(col["lu"])) - np.log10(np.sqrt(1e-4 * 10))) < 0.15
    assert abs(col["n"].mean() - 3) < 0.15 and abs(col["n"].std() - 2) < 0.15
    assert np.allclose(col["qn"] / 0.5, np.round(col["qn"] / 0.5))
    assert abs(np.median(np.log(col["ln"]))) < 0.1
    assert np.all(col["qln"] == np.round(col["qln"]))


def test_encode_decode_round_trip_for_every_type():
    space = SearchSpace(ALL_TYPES)
    for seed in range(50):
        params = space.sample(seed)
        again = space.decode(space.encode(params))
        for key, value in params.items():
            if isinstance(value, float):
                assert again[key] == pytest.approx(value, rel=1e-9, abs=1e-9)
            else:
                assert again[key] == value and type(again[key]) is type(value)
    vec = space.encode(space.sample(0))
    assert np.all((vec[~space.categorical_mask] >= 0) & (vec[~space.categorical_mask] <= 1))


def test_encode_rejects_params_outside_the_space():
    space = SearchSpace(NESTED)
    with pytest.raises(ValueError, match="not one of the options"):
        space.encode({"lr": 0.1, "model": "svm"})
    with pytest.raises(ValueError, match="outside the space"):
        space.encode({"lr": 5.0, "model": "tree"})
    with pytest.raises(ValueError, match="missing 'model/mlp/width'"):
        space.encode({"lr": 0.1, "model": {"_name": "mlp", "act": "relu", "drop": "no"}})
    with pytest.raises(ValueError, match="not in the search space"):
        space.encode({"lr": 0.1, "model": "tree", "extra": 1})
    with pytest.raises(ValueError, match="outside"):
        SearchSpace({"k": hp.randint(0, 3)}).encode({"k": 3})


@pytest.mark.parametrize(
    "spec, err, match",
    [
        ({"x": {"_type": "gaussian", "_value": [0, 1]}}, ValueError, "unknown _type 'gaussian'"),
        ({"x": hp.uniform(2, 1)}, ValueError, "low < high"),
        ({"x": hp.uniform(1, 1)}, ValueError, "low < high"),
        ({"x": hp.loguniform(0, 1)}, ValueError, "positive bounds"),
        ({"x": hp.qloguniform(-1, 1, 0.1)}, ValueError, "positive bounds"),
        ({"x": {"_type": "choice", "_value": []}}, ValueError, "at least one option"),
        ({"x": hp.normal(0, 0)}, ValueError, "sigma > 0"),
        ({"x": hp.quniform(0, 1, 0)}, ValueError, "q > 0"),
        ({"x": {"_type": "uniform", "_value": [0]}}, ValueError, r"\[low, high\]"),
        ({"x": {"_type": "uniform", "_value": [0, "1"]}}, TypeError, "must be a number"),
        ({"x": {"_type": "uniform", "_value": [0, float("inf")]}}, ValueError, "finite"),
        ({"x": hp.randint(0, 2.5)}, ValueError, "integers"),
        ({"x": 3}, ValueError, "_type"),
        ({"x": hp.choice({"a": 1})}, ValueError, "without '_name'"),
        ({"x": hp.choice(hp.nested("a"), hp.nested("a"))}, ValueError, "distinct"),
        ({"x": hp.choice(hp.nested("a", y={"_type": "bad", "_value": [1]}))}, ValueError, "'x/a/y'"),
        ({}, ValueError, "empty"),
        ([1, 2], TypeError, "dict"),
        ("{not json", ValueError, "JSON"),
    ],
)
def test_malformed_space_gives_clear_error(spec, err, match):
    with pytest.raises(err, match=match):
        SearchSpace(spec)


@pytest.mark.parametrize("spec", [hp.randint(-2, 5), hp.quniform(1, 10, 2), hp.qloguniform(1, 100, 5),
                                  hp.quniform(0, 1, 0.3)])
def test_cell_edges_hold_each_value_in_its_cell(spec):
    p = SearchSpace({"v": spec}).params[0]
    edges = p.cell_edges()
    centres = p.grid(None)
    assert edges[0] == 0 and edges[-1] == 1 and np.all(np.diff(edges) > 0)
    assert len(edges) == len(centres) + 1
    assert np.all((edges[:-1] <= centres) & (centres <= edges[1:]))
    # any unit-cube point decodes to the value of the cell it lies in
    u = np.random.default_rng(0).random(500)
    cell = np.clip(np.searchsorted(edges, u, side="right") - 1, 0, len(centres) - 1)
    np.testing.assert_allclose(p.decode(u), p.decode(centres[cell]))
