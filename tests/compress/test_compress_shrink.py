"""Pruning and shrink: the config list's errors, and shrink on sampled architectures of the
head's space (no architecture may fail, and the shrunken head computes the same function)."""

import copy
import io
import pickle

import joblib
import numpy as np
import pytest
import torch
from torch import nn

from featsmith.compress import AGPPruner, CompactHead, L1NormPruner, L2NormPruner, LevelPruner, shrink
from featsmith.tuners.nas import TabularHeadSpace


def _random_head(rng, arch=None):
    n_numeric = int(rng.integers(1, 6))
    cards = [int(c) for c in rng.integers(2, 9, size=rng.integers(0, 3))]
    n_out = int(rng.choice([1, 3]))
    space = TabularHeadSpace.search_space(n_numeric, cards, n_out)
    arch = space.sample(rng) if arch is None else space.canonicalize(arch)
    torch.manual_seed(int(rng.integers(2**31)))
    model = TabularHeadSpace.fixed(arch, n_numeric, cards, n_out).double()
    with torch.no_grad():
        for m in model.modules():  # non-trivial normalisation state, so its slicing is tested
            if isinstance(m, (nn.BatchNorm1d, nn.LayerNorm)):
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.5, 0.5)
            if isinstance(m, nn.BatchNorm1d):
                m.running_mean.uniform_(-0.3, 0.3)
                m.running_var.uniform_(0.5, 2.0)
    n = 64
    x = torch.randn(n, n_numeric, dtype=torch.float64)
    c = torch.as_tensor(np.column_stack([rng.integers(0, k + 1, n) for k in cards]) if cards
                        else np.zeros((n, 0)), dtype=torch.long)
    return model.eval(), x, c


def _pruner(rng):
    ratio = float(rng.choice([0.25, 0.5, 0.75]))
    kind = int(rng.integers(3))
    if kind == 2:
        return LevelPruner([{"op_types": ["Linear", "Embedding"], "sparse_ratio": ratio}])
    cls = L1NormPruner if kind == 0 else L2NormPruner
    return cls([{"op_types": ["Linear", "Embedding"], "sparse_ratio": ratio}])


@pytest.mark.parametrize("seed", range(40))
def test_shrink_keeps_the_function_of_sampled_architectures(seed):
    rng = np.random.default_rng(seed)
    model, x, c = _random_head(rng)
    pruner = _pruner(rng)
    pruner.compress(model)
    small = shrink(model)
    assert isinstance(small, CompactHead)
    torch.testing.assert_close(small(x, c), model(x, c), atol=1e-9, rtol=1e-7)
    with torch.no_grad():  # inference adds residuals and normalises in place: the same function
        torch.testing.assert_close(small(x, c), model(x, c), atol=1e-9, rtol=1e-7)  # few rows
        many_x, many_c = x.repeat(5, 1), c.repeat(5, 1)
        torch.testing.assert_close(small(many_x, many_c), model(many_x, many_c), atol=1e-9, rtol=1e-7)
    trained = copy.deepcopy(small).train()  # and with autograd (fine-tuning a shrunken head) it trains
    trained(x, c).square().sum().backward()
    assert all(p.grad is not None for p in trained.parameters() if p.requires_grad and p.dim() > 1)
    if not isinstance(pruner, LevelPruner):
        for block, orig in zip(small.blocks, model.blocks):
            assert block.linear.out_features < orig.linear.out_features
        assert small.n_parameters() < sum(p.numel() for p in model.parameters())
    # Shrinking a shrunken head is a no-op on its function, and joblib keeps its shapes.
    again = shrink(small)
    torch.testing.assert_close(again(x, c), model(x, c), atol=1e-9, rtol=1e-7)
    # A shrunken head can be pruned and shrunk again (residual maps, partial layer norm).
    L1NormPruner([{"op_types": ["Linear", "Embedding"], "sparse_ratio": 0.5}]).compress(again)
    smaller = shrink(again)
    torch.testing.assert_close(smaller(x, c), again(x, c), atol=1e-9, rtol=1e-7)
    assert all(b.linear.out_features < max(2, a.linear.out_features) for a, b in zip(again.blocks, smaller.blocks))
    buf = io.BytesIO()
    joblib.dump(small, buf)
    buf.seek(0)
    loaded = joblib.load(buf)
    assert [b.linear.weight.shape for b in loaded.blocks] == [b.linear.weight.shape for b in small.blocks]
    torch.testing.assert_close(loaded(x, c), small(x, c))


def test_shrink_residual_layer_norm_and_embeddings_together():
    rng = np.random.default_rng(0)
    arch = {"depth": 4, "norm": "layer", "embedding_dim": 16, "width_0": 256, "width_1": 32, "width_2": 128,
            "width_3": 64, "skip_1": 0, "skip_2": 1, "skip_3": 0}
    for _ in range(20):  # until the random head has categorical columns
        model, x, c = _random_head(rng, None)
        if c.shape[1]:
            break
    n_numeric, cards, n_out = x.shape[1], [m.num_embeddings - 1 for m in model.embeddings], model.head.out_features
    model = TabularHeadSpace.fixed(TabularHeadSpace.search_space(n_numeric, cards, n_out).canonicalize(arch),
                                   n_numeric, cards, n_out).double().eval()
    L1NormPruner([{"op_types": ["Linear", "Embedding"], "sparse_ratio": 0.5}]).compress(model)
    small = shrink(model)
    assert [e.embedding_dim for e in small.embeddings] == [8] * len(cards)
    torch.testing.assert_close(small(x, c), model(x, c), atol=1e-9, rtol=1e-7)
    # The skip from the 256-wide block 0 into 32-wide block 1 adds only the channels both keep.
    assert small.blocks[1].linear.out_features == 16


def test_shrink_output_is_picklable_and_smaller_on_disk():
    rng = np.random.default_rng(1)
    model, x, c = _random_head(rng, {"depth": 2, "width_0": 256, "width_1": 256})
    before = len(pickle.dumps(model))
    L1NormPruner([{"op_types": ["Linear"], "sparse_ratio": 0.5}]).compress(model)
    small = shrink(model)
    assert len(pickle.dumps(small)) < 0.5 * before


def test_agp_schedule_reaches_the_final_sparsity_gradually():
    model = nn.Sequential(nn.Linear(4, 16), nn.ReLU(), nn.Linear(16, 1))
    agp = AGPPruner(L1NormPruner([{"op_names": ["0"], "sparse_ratio": 0.5}]), total_steps=10)
    pruned = [int((agp.step(model, t)["0.bias"] == 0).sum()) for t in range(12)]
    assert pruned[0] == 0 and pruned[-1] == 8
    assert pruned == sorted(pruned) and len(set(pruned)) > 3


@pytest.mark.parametrize("config, message", [
    ({"op_types": ["Linear"], "sparse_ratio": 0.5}, "wrap it"),
    ([{"op_types": ["Linear"], "sparse_ratio": 1.0}], r"sparse_ratio.*\[0, 1\)"),
    ([{"op_types": ["Linear"]}], "sparse_ratio"),
    ([{"sparse_ratio": 0.5}], "op_types"),
    ([{"op_types": ["Conv2d"], "sparse_ratio": 0.5}], "supported"),
    ([{"op_names": ["blocks.9.linear"], "sparse_ratio": 0.5}], "prunable layers"),
    ([{"op_types": ["Linear"], "sparse_ratio": 0.5, "granularity": "element"}], "LevelPruner"),
    ([{"op_types": ["Linear"], "sparse_ratio": 0.5, "ratio": 1}], "unknown key"),
    ([{"op_names": ["head"], "sparse_ratio": 0.5}], "output layer"),
    ([{"op_types": "Linear", "sparse_ratio": 0.5}], "list of strings"),
])
def test_config_list_errors_name_the_fix(config, message):
    model, _, _ = _random_head(np.random.default_rng(0))
    with pytest.raises(ValueError, match=message):
        L1NormPruner(config).compress(model)


def test_output_layer_is_skipped_by_op_types_and_exclusions_apply():
    model, _, _ = _random_head(np.random.default_rng(2), {"depth": 1})
    masks = L1NormPruner([{"op_types": ["Linear"], "sparse_ratio": 0.5, "exclude_op_names": []}]).compress(model)
    assert "head.weight" not in masks and "blocks.0.linear.weight" in masks
    masks = L1NormPruner([{"op_types": ["Linear"], "sparse_ratio": 0.5,
                           "exclude_op_names": ["blocks.0.linear"]}]).compress(model)
    assert not masks
