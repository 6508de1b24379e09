"""Cross-model batched training computes exactly what the concrete modules compute."""

import numpy as np
import pytest
import torch

from featsmith.tuners.nas import BatchedAdamW, BatchedHead, TabularHeadSpace, TrainingData, train_candidates
from featsmith.tuners.nas._space import SCALERS

torch.set_num_threads(1)
CARDS = [3, 6]


def _inputs(n=40, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(len(SCALERS), n, 4, generator=g)
    c = torch.stack([torch.randint(0, k + 1, (n,), generator=g) for k in CARDS], dim=1)
    return x, c


def _varied_archs(space):
    rng = np.random.default_rng(1)
    archs = [space.default()]
    archs += [space.sample(rng) for _ in range(6)]
    archs.append(space.canonicalize({"depth": 4, "norm": "batch", "skip_3": 0, "skip_2": 1, "embedding_dim": 16}))
    archs.append(space.canonicalize({"depth": 3, "norm": "layer", "width_0": 32, "width_1": 256, "skip_2": 0,
                                     "scaler": "standard", "activation": "gelu"}))
    return archs


def test_export_reproduces_each_batched_candidate():
    space = TabularHeadSpace.search_space(4, CARDS, 3)
    archs = _varied_archs(space)
    head = BatchedHead(archs, 4, CARDS, 3, seeds=list(range(len(archs))))
    x, c = _inputs()
    head.train()
    with torch.no_grad():
        for _ in range(3):  # move batch-norm running statistics away from their init
            head(x, c)
    head.eval()
    with torch.no_grad():
        out = head(x, c)
        for k, arch in enumerate(archs):
            model = head.export(k)
            assert type(model) is TabularHeadSpace
            expected = model(x[SCALERS.index(arch["scaler"])], c)
            torch.testing.assert_close(out[k], expected, rtol=1e-5, atol=1e-5)


def test_batched_adamw_matches_torch_adamw_per_candidate():
    g = torch.Generator().manual_seed(0)
    p = torch.randn(3, 5, 2, generator=g, requires_grad=True)
    lrs, wds = [1e-3, 1e-2, 3e-3], [0.0, 1e-2, 1e-4]
    refs = [p[k].detach().clone().requires_grad_(True) for k in range(3)]
    opts = [torch.optim.AdamW([r], lr=lr, weight_decay=wd) for r, lr, wd in zip(refs, lrs, wds)]
    ours = BatchedAdamW([p], lr=lrs, weight_decay=wds)
    for step in range(5):
        grad = torch.randn(3, 5, 2, generator=g)
        p.grad = grad.clone()
        ours.step()
        for k in range(3):
            refs[k].grad = grad[k].clone()
            opts[k].step()
    for k in range(3):
        torch.testing.assert_close(p[k].detach(), refs[k].detach(), rtol=1e-5, atol=1e-6)


def _data(n=120, seed=0):
    g = torch.Generator().manual_seed(seed)
    x0 = torch.randn(n, 4, generator=g)
    x = torch.stack([x0, x0 * 0.5])
    c = torch.stack([torch.randint(0, k + 1, (n,), generator=g) for k in CARDS], dim=1)
    y = (x0[:, 0] + (c[:, 0] == 1).float() > 0.3).float()
    tr, va = slice(0, 90), slice(90, n)
    return TrainingData("binary", 1, CARDS, x[:, tr], c[tr], y[tr], x[:, va], c[va], y[va])


def test_candidates_trained_together_do_not_interact():
    data = _data()
    space = TabularHeadSpace.search_space(4, CARDS, 1)
    # Not batch norm for the compared candidate: a bias before batch norm has a gradient that
    # is pure rounding noise, which Adam amplifies, so it cannot be compared tightly.
    a = space.canonicalize({"dropout": 0.0, "width_0": 64, "norm": "layer", "skip_1": 0})
    b = space.canonicalize({"dropout": 0.0, "depth": 3, "width_1": 256, "lr": 1e-2, "norm": "batch"})
    alone = train_candidates(data, [a], [7], max_epochs=4, patience=10, shuffle_seed=3)[0]
    together = train_candidates(data, [b, a], [8, 7], max_epochs=4, patience=10, shuffle_seed=3)[1]
    assert together.val_loss == pytest.approx(alone.val_loss, rel=1e-4)
    for p, q in zip(alone.model.parameters(), together.model.parameters()):
        torch.testing.assert_close(p, q, rtol=1e-4, atol=1e-5)


def test_padding_stays_zero_through_training():
    data = _data()
    space = TabularHeadSpace.search_space(4, CARDS, 1)
    archs = [space.canonicalize({"width_0": 32, "embedding_dim": 4, "weight_decay": 1e-2}),
             space.canonicalize({"width_0": 256, "embedding_dim": 16})]
    from featsmith.tuners.nas._train import _BatchedEngine, _fit

    engine = _BatchedEngine(data, archs, [0, 1])
    _fit(engine, data, 32, max_epochs=2, patience=5, deadline=None, seed=0, min_epochs=1)
    head = engine.model
    assert torch.count_nonzero(head.weights[0][0][:, 32:]) == 0
    assert torch.count_nonzero(head.weights[1][0][32:, :]) == 0
    assert torch.count_nonzero(head.emb[0][:, 4:]) == 0
    assert torch.count_nonzero(head.weights[0][1][:, 32:]) > 0


def test_batched_and_one_by_one_training_reach_similar_quality():
    data = _data(n=200)
    space = TabularHeadSpace.search_space(4, CARDS, 1)
    archs = [space.canonicalize({"lr": 3e-3}), space.canonicalize({"lr": 3e-3, "norm": "layer"})]
    together = train_candidates(data, archs, [0, 1], max_epochs=20, patience=20)
    single = train_candidates(data, archs, [0, 1], max_epochs=20, patience=20, batched=False)
    baseline = float(torch.nn.functional.binary_cross_entropy(
        torch.full_like(data.y_val, float(data.y_train.mean())), data.y_val))
    for t, s in zip(together, single):
        assert t.val_loss < 0.7 * baseline and s.val_loss < 0.7 * baseline
        assert abs(t.val_loss - s.val_loss) < 0.15 * baseline


def test_deadline_stops_after_the_first_epoch():
    import time

    data = _data()
    space = TabularHeadSpace.search_space(4, CARDS, 1)
    res = train_candidates(data, [space.default()], [0], max_epochs=50, patience=50, deadline=time.perf_counter())
    assert res[0].epochs == 1 and np.isfinite(res[0].val_loss)


def test_early_stopping_restores_the_best_epoch():
    data = _data()
    space = TabularHeadSpace.search_space(4, CARDS, 1)
    arch = space.canonicalize({"lr": 1e-2, "dropout": 0.0, "weight_decay": 0.0})
    res = train_candidates(data, [arch], [0], max_epochs=30, patience=3)[0]
    model = res.model.eval()
    with torch.no_grad():
        logits = model(data.x_val[SCALERS.index(arch["scaler"])], data.c_val)[:, 0]
        loss = torch.nn.functional.binary_cross_entropy_with_logits(logits, data.y_val)
    assert float(loss) == pytest.approx(res.val_loss, rel=1e-4)


def test_no_epoch_starts_after_the_deadline_without_min_epochs():
    import time

    data = _data()
    space = TabularHeadSpace.search_space(4, CARDS, 1)
    res = train_candidates(data, [space.default()], [0], max_epochs=5, deadline=time.perf_counter(), min_epochs=0)
    assert res[0].epochs == 0 and res[0].val_loss == float("inf")
