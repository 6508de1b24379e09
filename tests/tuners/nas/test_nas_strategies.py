"""Search strategies and the search loop."""

import numpy as np
import pytest
import torch

from featsmith.tuners.nas import (
    OneShotStrategy,
    RandomStrategy,
    RegularizedEvolution,
    TabularHeadSpace,
    TPEStrategy,
    TrainingData,
    run_multi_trial,
)

torch.set_num_threads(1)


def _data(n=160, seed=0):
    g = torch.Generator().manual_seed(seed)
    x0 = torch.randn(n, 3, generator=g)
    x = torch.stack([x0, x0])
    c = torch.zeros(n, 0, dtype=torch.long)
    y = x0[:, 0] * 2 - x0[:, 1] ** 2
    y = (y - y.mean()) / y.std()
    tr, va = slice(0, 120), slice(120, n)
    return TrainingData("regression", 1, [], x[:, tr], c[tr], y[tr], x[:, va], c[va], y[va])


def _space():
    return TabularHeadSpace.search_space(3, [], 1)


def test_regularized_evolution_mutates_the_tournament_winner_and_ages_out():
    space = _space()
    s = RegularizedEvolution(population_size=4, sample_size=4)
    s.setup(space, np.random.default_rng(0))
    first = s.ask(4)
    for i, a in enumerate(first):
        s.tell(a, float(i))
    children = s.ask(6)
    # With the whole population in the tournament the parent is always the best (value 0).
    for child in children:
        diff = [k for k in set(child) & set(first[0]) if child[k] != first[0][k]]
        assert len(diff) == 1
    for child in children:
        s.tell(child, 10.0)
    assert len(s.population_) == 4
    assert all(v == 10.0 for _, v in s.population_)


def test_regularized_evolution_rejects_bad_parameters():
    with pytest.raises(ValueError, match="population_size"):
        RegularizedEvolution(population_size=0)


def test_search_bounded_by_max_candidates_never_trains_a_duplicate():
    data = _data()
    res = run_multi_trial(data, _space(), RandomStrategy(), rng=np.random.default_rng(0), deadline=None,
                          max_candidates=5, max_epochs=2, patience=2, round_size=3)
    archs = [h["architecture"] for h in res.history]
    assert len(archs) == 5 and len(set(archs)) == 5
    assert archs[0] == _space().default()
    assert res.best.val_loss == min(h["val_loss"] for h in res.history)


def test_search_stops_when_the_strategy_only_repeats_itself():
    space = _space()
    default = space.default()

    class TwoArchitectures(RandomStrategy):
        def ask(self, n):
            return [space.canonicalize({**default, "lr": [1e-3, 3e-3][self.rng_.integers(2)]}) for _ in range(n)]

    res = run_multi_trial(_data(), space, TwoArchitectures(), rng=np.random.default_rng(0), deadline=None,
                          max_candidates=50, max_epochs=1, patience=1, round_size=4, siblings=0)
    assert len(res.history) == 2


def test_siblings_share_their_proposals_shape_and_count_towards_the_limit():
    space = _space()
    res = run_multi_trial(_data(), space, RandomStrategy(), rng=np.random.default_rng(1), deadline=None,
                          max_candidates=9, max_epochs=1, patience=1, round_size=3, siblings=2)
    assert len(res.history) == 9
    shape_only = {"lr", "weight_decay", "dropout", "scaler"}
    proposals = [h["architecture"] for h in res.history if h["status"] == "trained"]
    for h in res.history:
        if h["status"] == "sibling":
            a = h["architecture"]
            assert any({k: v for k, v in a.items() if k not in shape_only}
                       == {k: v for k, v in p.items() if k not in shape_only} for p in proposals)
    assert sum(h["status"] == "sibling" for h in res.history) == 6


def test_same_seed_same_search():
    data = _data()
    runs = [
        run_multi_trial(data, _space(), RegularizedEvolution(population_size=2), rng=np.random.default_rng(3),
                        deadline=None, max_candidates=4, max_epochs=2, patience=2, round_size=2)
        for _ in range(2)
    ]
    assert [h["architecture"] for h in runs[0].history] == [h["architecture"] for h in runs[1].history]
    assert [h["val_loss"] for h in runs[0].history] == [h["val_loss"] for h in runs[1].history]


def test_tpe_strategy_drives_the_search_through_featsmith_tuners():
    pytest.importorskip("featsmith.tuners", reason="TPETuner lives in featsmith.tuners")
    data = _data()
    res = run_multi_trial(data, _space(), TPEStrategy(n_startup_trials=2), rng=np.random.default_rng(0),
                          deadline=None, max_candidates=6, max_epochs=2, patience=2, round_size=3)
    assert len(res.history) == 6
    assert len({h["architecture"] for h in res.history}) == 6


def test_one_shot_ranks_with_shared_weights_then_retrains_the_best():
    data = _data()
    s = OneShotStrategy(n_retrain=2)
    res = s.search(data, _space(), rng=np.random.default_rng(0), deadline=None, max_candidates=10,
                   max_epochs=3, patience=3)
    ranked = [h for h in res.history if h["status"] == "ranked"]
    retrained = [h for h in res.history if h["status"] == "retrained"]
    assert len(ranked) == 10 and len(retrained) == 2
    best_ranked = sorted(ranked, key=lambda h: h["val_loss"])[:2]
    assert [h["architecture"] for h in best_ranked] == [h["architecture"] for h in retrained]
    # Shared weights give a real signal: the ranked losses are not all the same.
    assert np.ptp([h["val_loss"] for h in ranked]) > 0
    assert res.best.val_loss == min(h["val_loss"] for h in retrained)
    assert res.best.model is not None


def test_one_shot_is_reproducible_for_a_seed():
    runs = [
        OneShotStrategy(n_retrain=1).search(_data(), _space(), rng=np.random.default_rng(4), deadline=None,
                                            max_candidates=8, max_epochs=2, patience=2)
        for _ in range(2)
    ]
    assert [h["val_loss"] for h in runs[0].history] == [h["val_loss"] for h in runs[1].history]
    assert any(h["architecture"]["norm"] == "batch" for h in runs[0].history)
