"""Model-space primitives: recording, fixing, canonical architectures, NNI export."""

import copy
import pickle

import numpy as np
import pytest
import torch
from torch import nn

from featsmith.tuners import parse_space
from featsmith.tuners.nas import (
    Architecture,
    InputChoice,
    LayerChoice,
    ModelSpace,
    Repeat,
    TabularHeadSpace,
    ValueChoice,
)


class _Net(ModelSpace):
    def __init__(self, n_in=3):
        super().__init__()
        self.act = LayerChoice({"relu": nn.ReLU, "tanh": nn.Tanh}, label="act")
        widths = [n_in]

        def block(i):
            w = ValueChoice([4, 8], label=f"w{i}", default=8)
            widths.append(w)
            return nn.Sequential(nn.Linear(widths[i], w), LayerChoice({"relu": nn.ReLU, "tanh": nn.Tanh}, label="act"))

        self.blocks = Repeat(block, depth=(1, 3), label="depth")
        self.skip = InputChoice(2, label="skip")


def test_search_space_records_every_decision_with_repeat_conditions():
    space = _Net.search_space()
    assert set(space.labels) == {"act", "w0", "w1", "w2", "depth", "skip"}
    assert space.decisions["w2"].conditions == (("depth", 2),)
    assert space.default() == {"act": "relu", "depth": 1, "w0": 8, "skip": -1}


def test_fixed_builds_the_chosen_modules_and_records_the_used_decisions():
    arch = {"act": "tanh", "depth": 2, "w0": 4, "w1": 8, "w2": 4, "skip": 1}
    net = _Net.fixed(arch)
    assert len(net.blocks) == 2
    assert [b[0].out_features for b in net.blocks] == [4, 8]
    assert isinstance(net.act, nn.Tanh) and isinstance(net.blocks[1][1], nn.Tanh)
    assert net.skip.index == 1
    # w2 belongs to a third block this architecture does not have.
    assert "w2" not in net.architecture_


def test_fixed_errors_name_the_label():
    with pytest.raises(ValueError, match="'w0'"):
        _Net.fixed({"act": "relu", "depth": 1, "skip": -1})
    with pytest.raises(ValueError, match="'act'.*not one of"):
        _Net.fixed({"act": "gelu", "depth": 1, "w0": 4, "skip": -1})


def test_shared_label_with_different_candidates_is_rejected():
    class Bad(ModelSpace):
        def __init__(self):
            super().__init__()
            self.a = ValueChoice([1, 2], label="x")
            self.b = ValueChoice([1, 3], label="x")

    with pytest.raises(ValueError, match="label 'x' is used twice"):
        Bad.search_space()


def test_missing_label_is_a_type_error():
    with pytest.raises(TypeError, match="label"):
        ValueChoice([1, 2], label="")


def test_canonicalize_drops_inactive_decisions_so_duplicates_collapse():
    space = _Net.search_space()
    a = space.canonicalize({"act": "relu", "depth": 1, "w0": 4, "w1": 4, "w2": 8, "skip": 0})
    b = space.canonicalize({"act": "relu", "depth": 1, "w0": 4, "w1": 8, "skip": 0})
    assert a == b and hash(a) == hash(b) and len({a, b}) == 1
    with pytest.raises(ValueError, match="unknown labels"):
        space.canonicalize({"nope": 1})


def test_sample_is_reproducible_and_mutate_changes_one_active_decision():
    space = TabularHeadSpace.search_space(4, [3], 2)
    s1 = [space.sample(np.random.default_rng(5)) for _ in range(3)]
    s2 = [space.sample(np.random.default_rng(5)) for _ in range(3)]
    assert s1 == s2
    rng = np.random.default_rng(0)
    for _ in range(30):
        parent = space.sample(rng)
        child = space.mutate(parent, rng)
        assert child != parent
        shared = set(parent) & set(child)
        changed = [k for k in shared if parent[k] != child[k]]
        # One decision changes (a depth change also adds or drops its blocks' decisions).
        assert len(changed) == 1


def test_architecture_is_immutable_hashable_and_pickles():
    a = Architecture({"depth": 2, "lr": 0.001})
    with pytest.raises(TypeError, match="immutable"):
        a["depth"] = 3
    assert pickle.loads(pickle.dumps(a)) == a
    assert isinstance(pickle.loads(pickle.dumps(a)), Architecture)
    assert copy.deepcopy(a) is a
    assert a.to_json() == '{"depth": 2, "lr": 0.001}'


def test_nni_export_is_parsed_by_the_tuners_and_round_trips():
    space = TabularHeadSpace.search_space(4, [3, 5], 1)
    nni = space.to_nni()
    assert nni["activation"] == {"_type": "choice", "_value": ["relu", "gelu", "silu"]}
    parsed = parse_space(nni)
    rng = np.random.default_rng(0)
    for _ in range(5):
        arch = space.sample(rng)
        full = {label: arch.get(label, d.default) for label, d in space.decisions.items()}
        assert space.canonicalize(parsed.decode(parsed.encode(full))) == arch


def test_recording_does_not_consume_the_global_torch_rng():
    torch.manual_seed(0)
    expected = torch.rand(1)
    torch.manual_seed(0)
    TabularHeadSpace.search_space(4, [3], 1)
    assert torch.equal(torch.rand(1), expected)
